//! Hand-parsed command line of the demo app (a handful of flags, so no clap).

use std::time::Duration;

pub const USAGE: &str = "\
usage: demo-app [--port N] [--version V] [--error-rate F] [--latency D]
                [--fail-readiness] [--ready-after D] [--crash-after D]

  --port N          port on 127.0.0.1 to listen on (default $PORT, else 0 = any free port)
  --version V       version named in the body of GET / (default $VERSION, else v1)
  --error-rate F    share of GET / requests answered 500, 0.0..=1.0 (default 0)
  --latency D       delay added to each GET / request, e.g. 800ms, 2s (default 0)
  --fail-readiness  answer GET /health with 503
  --ready-after D   answer GET /health with 503 until D after start (a slow start), e.g. 2s
  --crash-after D   exit(1) after D, e.g. 5s

endpoints: GET / (the version), GET /health, POST /upload (reads the body, says how
many bytes), GET /slow/MS (answers after MS milliseconds), GET /alloc/MB (keeps MB
more MiB), GET /burn/MS (keeps one core busy for MS milliseconds), GET /events?count=N&interval_ms=M
(N server-sent events, M ms apart; default 10 and 1000), GET /ws (WebSocket echo)
";

/// What the demo app was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub port: u16,
    pub version: String,
    pub error_rate: f64,
    pub latency: Duration,
    pub fail_readiness: bool,
    /// Readiness only this long after the start (`/health` answers 503 until then).
    pub ready_after: Duration,
    pub crash_after: Option<Duration>,
}

/// Outcome of parsing: run, or print usage and exit 0.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Parses `argv` (without the program name); `env` looks up `PORT` and `VERSION`.
pub fn parse(
    argv: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let mut port = match env("PORT") {
        Some(p) => Some(parse_port(&p).map_err(|e| format!("$PORT: {e}"))?),
        None => None,
    };
    let mut version = env("VERSION").filter(|v| !v.is_empty());
    let mut error_rate = 0.0;
    let mut latency = Duration::ZERO;
    let mut fail_readiness = false;
    let mut ready_after = Duration::ZERO;
    let mut crash_after = None;

    let mut argv = argv.into_iter();
    while let Some(arg) = argv.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--port" => {
                port = Some(parse_port(&value("--port")?).map_err(|e| format!("--port: {e}"))?)
            }
            "--version" => version = Some(value("--version")?),
            "--error-rate" => {
                let v = value("--error-rate")?;
                error_rate = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        format!("--error-rate: expected a number in 0.0..=1.0, got {v:?}")
                    })?;
            }
            "--latency" => {
                latency =
                    parse_duration(&value("--latency")?).map_err(|e| format!("--latency: {e}"))?
            }
            "--fail-readiness" => fail_readiness = true,
            "--ready-after" => {
                ready_after = parse_duration(&value("--ready-after")?)
                    .map_err(|e| format!("--ready-after: {e}"))?
            }
            "--crash-after" => {
                crash_after = Some(
                    parse_duration(&value("--crash-after")?)
                        .map_err(|e| format!("--crash-after: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(Args {
        port: port.unwrap_or(0),
        version: version.unwrap_or_else(|| "v1".to_string()),
        error_rate,
        latency,
        fail_readiness,
        ready_after,
        crash_after,
    }))
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected a port number 0..=65535, got {s:?}"))
}

/// Parses `800ms`, `5s`, `1.5s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("expected a duration like 800ms, 5s or 2m, got {s:?}");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()), |_| None)
    }

    #[test]
    fn defaults() {
        let Parsed::Run(a) = run(&[]).unwrap() else {
            panic!()
        };
        assert_eq!((a.port, a.version.as_str(), a.error_rate), (0, "v1", 0.0));
        assert_eq!(
            (a.latency, a.fail_readiness, a.ready_after, a.crash_after),
            (Duration::ZERO, false, Duration::ZERO, None)
        );
    }

    #[test]
    fn all_flags() {
        let parsed = run(&[
            "--port",
            "8081",
            "--version=v3",
            "--error-rate",
            "0.3",
            "--latency",
            "800ms",
            "--fail-readiness",
            "--ready-after",
            "2s",
            "--crash-after",
            "5s",
        ])
        .unwrap();
        assert_eq!(
            parsed,
            Parsed::Run(Args {
                port: 8081,
                version: "v3".into(),
                error_rate: 0.3,
                latency: Duration::from_millis(800),
                fail_readiness: true,
                ready_after: Duration::from_secs(2),
                crash_after: Some(Duration::from_secs(5)),
            })
        );
    }

    #[test]
    fn env_then_flags() {
        let env = |k: &str| match k {
            "PORT" => Some("9000".to_string()),
            "VERSION" => Some("v9".to_string()),
            _ => None,
        };
        let Parsed::Run(a) = parse(Vec::new(), env).unwrap() else {
            panic!()
        };
        assert_eq!((a.port, a.version.as_str()), (9000, "v9"));
        let Parsed::Run(a) = parse(vec!["--port".into(), "1".into()], env).unwrap() else {
            panic!()
        };
        assert_eq!(a.port, 1);
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(
            run(&["--error-rate", "1.5"])
                .unwrap_err()
                .contains("--error-rate")
        );
        assert!(
            run(&["--latency", "800"])
                .unwrap_err()
                .contains("--latency")
        );
        assert!(
            run(&["--port"])
                .unwrap_err()
                .contains("--port needs a value")
        );
        assert!(
            run(&["--ready-after", "soon"])
                .unwrap_err()
                .contains("--ready-after")
        );
        assert!(run(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert_eq!(run(&["--help"]).unwrap(), Parsed::Help);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("0ms").unwrap(), Duration::ZERO);
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
