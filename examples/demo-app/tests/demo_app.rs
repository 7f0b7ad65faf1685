//! Runs the real `demo-app` binary on 127.0.0.1 and talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A running demo-app, killed on drop.
struct App {
    child: Child,
    addr: SocketAddr,
}

impl App {
    fn start(args: &[&str]) -> App {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> App {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo-app"));
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        cmd.env_remove("PORT").env_remove("VERSION");
        if !args.contains(&"--port") && !env.iter().any(|(k, _)| *k == "PORT") {
            cmd.args(["--port", "0"]);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn demo-app");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        App { child, addr }
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "demo-app still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> (u16, String, String) {
    let uri = format!("http://{addr}{path}").parse().unwrap();
    let resp = client.get(uri).await.expect("request to demo-app");
    let status = resp.status().as_u16();
    let version = resp
        .headers()
        .get("x-version")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), version)
}

#[tokio::test]
async fn answers_root_with_its_version_and_health_ok() {
    let app = App::start(&["--version", "v7"]);
    let c = client();
    let (status, body, header) = get(&c, app.addr, "/").await;
    assert_eq!(
        (status, body.as_str(), header.as_str()),
        (200, "demo-app v7\n", "v7")
    );
    assert_eq!(get(&c, app.addr, "/health").await.0, 200);
    assert_eq!(get(&c, app.addr, "/health").await.1, "ok\n");
    assert_eq!(get(&c, app.addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn port_and_version_from_env() {
    // Find a free port, release it, and ask the app to take it through $PORT.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = App::start_with_env(&[], &[("PORT", &port.to_string()), ("VERSION", "v2")]);
    assert_eq!(app.addr.port(), port);
    assert_eq!(get(&client(), app.addr, "/").await.1, "demo-app v2\n");
}

#[tokio::test]
async fn error_rate_answers_a_share_with_500() {
    let app = App::start(&["--error-rate", "0.3"]);
    let c = client();
    let mut errors = 0;
    for _ in 0..300 {
        match get(&c, app.addr, "/").await.0 {
            500 => errors += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // 0.3 × 300 = 90; the binomial standard deviation is ~8, allow ±4σ.
    assert!((58..=122).contains(&errors), "{errors} errors out of 300");
    assert_eq!(
        get(&c, app.addr, "/health").await.0,
        200,
        "health is not affected"
    );

    let all = App::start(&["--error-rate", "1"]);
    assert_eq!(get(&c, all.addr, "/").await.0, 500);
}

#[tokio::test]
async fn latency_delays_root_only() {
    let app = App::start(&["--latency", "300ms"]);
    let c = client();
    let t = Instant::now();
    assert_eq!(get(&c, app.addr, "/").await.0, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "took {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(get(&c, app.addr, "/health").await.0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "health took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn fail_readiness_answers_503_on_health() {
    let app = App::start(&["--fail-readiness"]);
    let c = client();
    assert_eq!(get(&c, app.addr, "/health").await.0, 503);
    assert_eq!(get(&c, app.addr, "/").await.0, 200);
}

#[tokio::test]
async fn ready_after_answers_503_on_health_until_then() {
    let started = Instant::now();
    let app = App::start(&["--ready-after", "1500ms"]);
    let c = client();
    // Checked against the clock rather than assumed: a slow machine may already be past it.
    let (status, _, _) = get(&c, app.addr, "/health").await;
    if started.elapsed() < Duration::from_millis(1400) {
        assert_eq!(status, 503, "not ready before --ready-after");
    }
    assert_eq!(get(&c, app.addr, "/").await.0, 200, "/ answers meanwhile");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get(&c, app.addr, "/health").await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ready after {:?}",
        started.elapsed()
    );
}

#[test]
fn crash_after_exits_with_1() {
    let started = Instant::now();
    let mut app = App::start(&["--crash-after", "300ms"]);
    let status = app.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn sigterm_finishes_in_flight_then_exits_0() {
    let mut app = App::start(&["--latency", "500ms"]);
    let addr = app.addr;
    let in_flight = tokio::spawn(async move { get(&client(), addr, "/").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.sigterm();
    let (status, body, _) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "demo-app v1\n"));
    let status = tokio::task::spawn_blocking(move || app.wait_exit(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_arguments_exit_2_naming_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo-app"))
        .args(["--error-rate", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--error-rate"));
}
