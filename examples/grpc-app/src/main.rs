//! grpc-app: the standard gRPC health service (`grpc.health.v1.Health`, generated code from
//! tonic-health, so no protoc), as a release gantry can deploy with `upstream: h2c`.
//!
//! - `Check` of `""` answers SERVING; `Watch` streams status changes, and the service
//!   `gantry.Tick` alternates SERVING / NOT_SERVING every `--tick`, so a watch on it is a
//!   server-streaming call that keeps sending.
//! - Every answer carries `x-version`, so a client can tell which version served it.
//! - `--unavailable` refuses every call with UNAVAILABLE, as a broken release would.

mod args;

use std::process::ExitCode;

use http::HeaderValue;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::args::{Args, Parsed, USAGE};

/// The service whose status flips every tick.
const TICK: &str = "gantry.Tick";

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("grpc-app: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc-app: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let version = HeaderValue::from_str(&args.version)
        .map_err(|_| format!("--version {:?} is not a valid header value", args.version))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let tick = args.tick;
    tokio::spawn(async move {
        let mut serving = true;
        loop {
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(TICK, status).await;
            serving = !serving;
            tokio::time::sleep(tick).await;
        }
    });

    let unavailable = args.unavailable.then(|| args.version.clone());
    let refuse = move |req: tonic::Request<()>| match &unavailable {
        Some(v) => Err(tonic::Status::unavailable(format!(
            "version {v} is unavailable"
        ))),
        None => Ok(req),
    };
    let health = tonic::service::interceptor::InterceptedService::new(health, refuse);
    let stamp =
        tower::util::MapResponseLayer::new(move |mut resp: http::Response<tonic::body::Body>| {
            resp.headers_mut().insert("x-version", version.clone());
            resp
        });
    println!(
        "grpc-app {} listening on {addr}{}",
        args.version,
        if args.unavailable {
            " (answering UNAVAILABLE)"
        } else {
            ""
        }
    );
    Server::builder()
        .layer(stamp)
        .add_service(health)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown(),
        )
        .await
        .map_err(|e| format!("serving: {e}"))
}

/// SIGTERM (what gantry sends when it stops an instance) or Ctrl-C.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
