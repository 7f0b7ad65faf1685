//! Runs the router in front of fixed upstreams, for benchmarks and manual tries:
//!
//! ```text
//! cargo run --release -p gantry-router --example proxy -- \
//!     --listen 127.0.0.1:18080 --upstream 127.0.0.1:18081 [--upstream ADDR ...] [--workers N]
//! ```
//!
//! `--workers N` sets [`RouterConfig::workers`] (default: one per CPU; 0: a multi-threaded
//! tokio runtime serves everything).
//!
//! Stops gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use gantry_router::{Backend, Router, RouterConfig, ServiceRoute};

struct Args {
    listen: SocketAddr,
    upstreams: Vec<SocketAddr>,
    workers: usize,
}

fn parse() -> Result<Args, String> {
    let mut listen = None;
    let mut upstreams = Vec::new();
    let mut workers = RouterConfig::default().workers;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut addr = |name: &str| -> Result<SocketAddr, String> {
            let v = args
                .next()
                .ok_or_else(|| format!("{name} needs an address"))?;
            v.parse()
                .map_err(|_| format!("{name}: expected IP:PORT, got {v:?}"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(addr("--listen")?),
            "--upstream" => upstreams.push(addr("--upstream")?),
            "--workers" => {
                let v = args.next().ok_or("--workers needs a number")?;
                workers = v
                    .parse()
                    .map_err(|_| format!("--workers: expected a number, got {v:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    if upstreams.is_empty() {
        return Err("at least one --upstream is required".into());
    }
    Ok(Args {
        listen,
        upstreams,
        workers,
    })
}

// As the `gantry` binary, so the benchmark measures the allocator gantry runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "proxy: {e}\nusage: proxy --listen IP:PORT --upstream IP:PORT [--upstream IP:PORT ...] [--workers N]"
            );
            return ExitCode::from(2);
        }
    };
    // With workers the main runtime only accepts connections: one thread is plenty.
    let runtime = if args.workers > 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("proxy: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> ExitCode {
    let Args {
        listen,
        upstreams,
        workers,
    } = args;
    let router = Router::with_config(RouterConfig {
        workers,
        ..RouterConfig::default()
    });
    let handle = match router.serve("bench", listen) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backends = upstreams
        .iter()
        .enumerate()
        .map(|(i, addr)| Backend {
            version: "v1".into(),
            instance: format!("v1-{i}"),
            addr: *addr,
            weight: 100,
            ready: true,
        })
        .collect();
    router.update(
        "bench",
        ServiceRoute {
            listen: handle.local_addr(),
            backends,
            emergency_stop: false,
        },
    );
    println!("listening on {}", handle.local_addr());

    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("proxy: cannot watch SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    router.shutdown().await;
    ExitCode::SUCCESS
}
