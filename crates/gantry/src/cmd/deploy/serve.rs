//! `gantry serve [--detach]`: the control plane in the foreground, or started in the
//! background with a pid file.

use std::fs;
use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use gantry_driver_local::{LocalDriver, LocalOptions};
use gantry_server::{CoreOptions, PipelineOptions, ServeLock, ServeOptions, ServerError, Token};
use serde_json::{Value, json};

use super::ServeArgs;
use super::client::SERVE_FILE;
use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, args: &ServeArgs, json: bool) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        return Err(exit::usage(format!(
            "--listen {} is not a loopback address; the API is for this machine only",
            args.listen
        )));
    }
    if args.stop {
        return stop(project, json);
    }
    if args.detach {
        return detach(project, args, json);
    }
    let config = project.config()?;
    project.existing_ledger()?;
    let gantry_dir = project.gantry_dir();
    // Before the ledger is opened: a second control plane must not run recovery, which
    // would kill the live one's instances and record false adoptions.
    let lock = ServeLock::acquire(&gantry_dir).map_err(lock_error)?;
    super::token::ensure(&gantry_dir)?;
    let (token, source) = super::token::read_admin(&gantry_dir).map_err(exit::usage)?;
    let token = Token::new(&token, &source.to_string())
        .map_err(|e| exit::usage(format!("{e}; {}", source.remedy())))?;
    let ledger = project.open_ledger(&config)?;
    let state = project.state()?;
    let system = project.system_signer()?;
    // Operator requests are signed by the operator agent when this project has its key.
    let operator = project
        .signer_for(&state, "operator")
        .map(|(s, _)| s)
        .unwrap_or_else(|_| system.clone());
    // Runs started over the API are this binary's own `gantry run`; checkpoint decisions
    // made over the API are signed with the role keys loaded here (registered and active).
    let pipelines = PipelineOptions {
        program: std::env::current_exe()?,
        signers: config
            .agents
            .keys()
            .filter_map(|role| project.signer_for(&state, role).ok().map(|(s, _)| s))
            .collect(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // `serve --detach` logs to a file: no colour codes there.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let serve_file = gantry_dir.join(SERVE_FILE);
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        // The local driver: instances as process groups behind gantry's router.
        let (driver, events) =
            LocalDriver::with_router(LocalOptions::for_config_in(&config, &project.root));
        let opts = ServeOptions {
            core: CoreOptions {
                config,
                ledger,
                system,
                operator,
                gantry_dir: gantry_dir.clone(),
                driver: std::sync::Arc::new(driver),
                events,
            },
            listen: args.listen,
            token,
            lock,
            config_path: project.config_path(),
            pipelines,
        };
        gantry_server::run(opts, |addr| {
            let info = json!({"url": format!("http://{addr}"), "pid": std::process::id()});
            if let Err(e) = fs::write(&serve_file, format!("{info}\n")) {
                tracing::error!(error = %e, "cannot write {}", serve_file.display());
            }
            if json {
                let _ = output::json(&info);
            } else {
                println!(
                    "gantry control plane on http://{addr} (pid {})",
                    std::process::id()
                );
            }
        })
        .await
    });
    // Remove the discovery file only if it is still ours.
    if let Ok(text) = fs::read_to_string(&serve_file)
        && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["pid"] == json!(std::process::id()))
    {
        let _ = fs::remove_file(&serve_file);
    }
    result.map_err(|e| exit::failed(e.to_string()))
}

/// Another control plane holds the lock: a conflict naming it (a lock that cannot be
/// taken for another reason is a plain failure).
fn lock_error(e: ServerError) -> anyhow::Error {
    match e {
        ServerError::AlreadyServing { .. } => exit::with_code(exit::CONFLICT, e),
        e => exit::failed(e),
    }
}

/// The last line `gantry serve` wrote to its log (its error, when it exited early).
fn last_line(path: &std::path::Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

fn detach(project: &Project, args: &ServeArgs, json: bool) -> anyhow::Result<()> {
    project.existing_ledger()?;
    let gantry_dir = project.gantry_dir();
    // Refused here, before the running one's serve.json and serve.pid are touched. The
    // child takes the lock for real; losing a race to another start shows as its exit.
    ServeLock::check(&gantry_dir).map_err(lock_error)?;
    let log_path = gantry_dir.join("serve.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let exe = std::env::current_exe().context("cannot find the gantry executable")?;
    let serve_file = gantry_dir.join(SERVE_FILE);
    let _ = fs::remove_file(&serve_file);
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .arg("-C")
        .arg(&project.root)
        .arg("serve")
        .arg("--listen")
        .arg(args.listen.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .context("cannot start gantry serve")?;
    let pid = child.id();
    fs::write(gantry_dir.join("serve.pid"), format!("{pid}\n"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = fs::read_to_string(&serve_file)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v["pid"] == json!(pid)
        {
            if json {
                return output::json(&v);
            }
            println!(
                "gantry control plane on {} (pid {pid}); logs in {}",
                v["url"].as_str().unwrap_or_default(),
                log_path.display()
            );
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(exit::failed(format!(
                "gantry serve exited ({status}) before it was ready{}; see {}",
                last_line(&log_path).map_or_else(String::new, |l| format!(": {l}")),
                log_path.display()
            )));
        }
        if Instant::now() > deadline {
            return Err(exit::failed(format!(
                "gantry serve did not come up within 30s; see {}",
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `gantry serve --stop`: asks the control plane to shut down and waits until it exited.
fn stop(project: &Project, json: bool) -> anyhow::Result<()> {
    let client = super::client::Client::connect(project)?;
    let answer = client.post("/v1/control/shutdown", json!({}))?;
    let pid = answer["pid"].as_u64().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Gone, or a zombie waiting for its parent: either way it has stopped its instances.
    let running = |pid: u64| {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
    };
    while pid > 0 && running(pid) {
        if Instant::now() > deadline {
            return Err(exit::failed(format!(
                "the control plane (pid {pid}) is still stopping after 60s"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if json {
        return output::json(&json!({"stopped": true, "pid": pid}));
    }
    println!("control plane (pid {pid}) stopped; its instances drained and stopped");
    Ok(())
}
