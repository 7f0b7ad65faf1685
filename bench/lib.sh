# Shared by the benchmark scripts (sourced, not run): messages, Debian packages, the
# Cargo target directory, loopback ports, and the nginx settings that match the router.
# The sourcing script sets BENCH (its name, for messages) first.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${BENCH:-bench}" "$*" >&2; exit 1; }

# Installs the given Debian packages; nothing to do without arguments. RUNLEVEL=1 keeps
# packages with a service (prometheus, nginx) from starting it on its default port.
apt_install() {
    [ $# -gt 0 ] || return 0
    log "installing $* from Debian"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq "$@" >/dev/null
}

# Where cargo puts the workspace's binaries ($1: the workspace).
target_dir() {
    echo "${CARGO_TARGET_DIR:-$(cd "$1" && cargo metadata --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits for a listener on 127.0.0.1:$1, for up to $2 seconds (default 5).
wait_port() {
    local tries=$(( ${2:-5} * 20 ))
    for _ in $(seq 1 "$tries"); do port_busy "$1" && return 0; sleep 0.05; done
    die "nothing listening on 127.0.0.1:$1 after ${2:-5}s${TMP:+ (see $TMP)}"
}

# A `location`'s lines proxying to upstream `demo` over keep-alive HTTP/1.1 and doing to
# every request and response what gantry's router does, so the application parses the same
# request behind either proxy: X-Forwarded-For appended, the client's Host passed on,
# X-Forwarded-Proto and -Host set, Via added both ways (nginx by default sends only its
# upstream's name as Host). Each location adds its own `Connection` line.
# shellcheck disable=SC2034  # used in the scripts' nginx configurations
NGINX_PROXY_LIKE_GANTRY='            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header Via "1.1 nginx";
            add_header Via "1.1 nginx" always;
'

# Makes $1 an nginx prefix directory (logs, temporary files) any worker user can write.
nginx_prefix() {
    mkdir -p "$1/logs" "$1/tmp"
    chmod -R a+rwx "$1"
    chmod a+rx "$(dirname "$1")"
}

# The lines of an nginx `http { }` block that keep everything under the prefix $1 and
# turn the access log off (a benchmark measures the proxy, not its disk).
nginx_http_paths() {
    printf '    access_log off;\n'
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        printf '    %s_temp_path %s/tmp/%s;\n' "$t" "$1" "$t"
    done
}
