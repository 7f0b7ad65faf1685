//! Issue 9, gRPC through `gantry serve`: grpc-app (examples/grpc-app, the standard health
//! service) deployed with `router: { upstream: h2c }`, called by tonic clients on the
//! service's listener. A canary answering UNAVAILABLE is rolled back by analysis, with the
//! gRPC errors named in the reason; a good one is promoted; over TLS (`router.tls`, an
//! rcgen certificate) unary and server-streaming calls work end to end.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{free_port, grpc_app};
use gantry_test_support::serve::Serve;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::{BIN, Env};

/// A project whose service `web` runs grpc-app releases v1, v2 (good) and bad
/// (UNAVAILABLE to every call) behind the router with `router_extra` added to
/// `upstream: h2c`; a canary of one 50% step.
fn grpc_project(router_extra: &str) -> (TestProject, u16) {
    let p = TestProject::init(BIN);
    let port = free_port();
    let app = grpc_app(Path::new(BIN));
    let g = app.display();
    let yaml = format!(
        r#"project: test
agents:
  planner: {{ id: PlanAgent }}
  operator: {{ id: OperationsBoardAgent }}
  verifier: {{ id: ReviewAgent }}
services:
  web:
    listen: 127.0.0.1:{port}
    instances: 1
    router: {{ upstream: h2c{router_extra} }}
    releases:
      v1: {{ run: "{g} --port {{port}} --version v1 --tick 200ms" }}
      v2: {{ run: "{g} --port {{port}} --version v2 --tick 200ms" }}
      bad: {{ run: "{g} --port {{port}} --version bad --unavailable" }}
    health:
      readiness: {{ tcp: true, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
    strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 3s}} ], progress_deadline: 20s }} }}
    analysis: {{ error_rate: "< 5%", min_requests: 10, window: 1s }}
# A test fixture, not a production service: the policy gate is tested in tests/policy.
policy: {{ default: warning }}
"#
    );
    std::fs::write(p.path().join("gantry.yaml"), yaml).unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

/// What the gRPC load saw: calls by (status code, `x-version` of the answer or "-").
#[derive(Debug, Clone, Default)]
struct GrpcStats {
    calls: u64,
    answers: HashMap<(tonic::Code, String), u64>,
    first_errors: Vec<String>,
}

impl GrpcStats {
    /// Calls that did not succeed, except those answered by one of `bad_versions`.
    fn failures(&self, bad_versions: &[&str]) -> u64 {
        self.answers
            .iter()
            .filter(|((code, v), _)| {
                *code != tonic::Code::Ok && !bad_versions.contains(&v.as_str())
            })
            .map(|(_, n)| n)
            .sum()
    }

    fn count(&self, code: tonic::Code, version: &str) -> u64 {
        self.answers
            .get(&(code, version.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// Unary `Check` calls from `clients` connections (so the router's per-request weights
/// see several), each one call every 100 ms, until stopped.
struct GrpcLoad {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<GrpcStats>>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcLoad {
    fn start(url: String, clients: usize) -> GrpcLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(GrpcStats::default()));
        let thread = {
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..clients {
                        let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
                        let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
                        tasks.spawn(client_loop(HealthClient::new(channel), stop, stats));
                    }
                    while tasks.join_next().await.is_some() {}
                });
            })
        };
        GrpcLoad {
            stop,
            stats,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> GrpcStats {
        self.stats.lock().unwrap().clone()
    }

    /// Waits until `n` more calls than now have been answered, or panics after 30 s.
    fn until_more_calls(&self, n: u64) {
        let want = self.snapshot().calls + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.snapshot().calls < want {
            assert!(
                Instant::now() < deadline,
                "the gRPC load did not make {n} more calls in 30 s: {:?}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> GrpcStats {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.snapshot()
    }
}

impl Drop for GrpcLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn version_of(meta: &tonic::metadata::MetadataMap) -> String {
    meta.get("x-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

async fn client_loop(
    mut client: HealthClient<Channel>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<GrpcStats>>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::Acquire) {
        tick.tick().await;
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        req.set_timeout(Duration::from_secs(10));
        let (code, version, error) = match client.check(req).await {
            Ok(resp) => {
                let serving = resp.get_ref().status == ServingStatus::Serving as i32;
                let code = if serving {
                    tonic::Code::Ok
                } else {
                    tonic::Code::Internal
                };
                (code, version_of(resp.metadata()), None)
            }
            Err(status) => (
                status.code(),
                version_of(status.metadata()),
                Some(format!("{status:?}")),
            ),
        };
        let mut s = stats.lock().unwrap();
        s.calls += 1;
        *s.answers.entry((code, version)).or_default() += 1;
        if let Some(e) = error
            && s.first_errors.len() < 5
        {
            s.first_errors.push(e);
        }
    }
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

/// A `Watch` of gantry.Tick (flipping every 200 ms) yields `n` messages, each the
/// opposite of the one before: a server-streaming call that keeps sending.
async fn watch_ticks(client: &mut HealthClient<Channel>, n: usize) {
    let mut stream = client
        .watch(check("gantry.Tick"))
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    for i in 0..n {
        let msg = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .unwrap_or_else(|_| panic!("message {i} of the stream did not come"))
            .unwrap()
            .expect("the stream stays open");
        assert!(
            msg.status == ServingStatus::Serving as i32
                || msg.status == ServingStatus::NotServing as i32,
            "{msg:?}"
        );
        assert_ne!(Some(msg.status), last, "message {i} repeats the status");
        last = Some(msg.status);
    }
}

#[test]
fn issue9_a_grpc_canary_answering_unavailable_is_rolled_back_and_a_good_one_promoted() {
    let (p, port) = grpc_project("");
    let serve = Serve::start(&p);
    let env = Env { p, serve, port };
    env.deploy_v1();

    let load = GrpcLoad::start(format!("http://127.0.0.1:{port}"), 4);
    load.until_more_calls(20);
    let run = env
        .p
        .gantry(&["deploy", "web", "--version", "bad", "--wait"])
        .fails_with(3)
        .says("rolled back")
        .says("gRPC errors");
    assert!(
        run.stdout().contains("rollback to v1 triggered"),
        "{}",
        run.stdout()
    );
    assert_eq!(env.web()["stable"], "v1");
    let entries = env.entries();
    let trigger = entries
        .iter()
        .find(|e| e["kind"] == "rollback.triggered")
        .expect("rollback.triggered");
    let body = &trigger["body"];
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("error rate 100.00%") && reason.contains("gRPC errors"),
        "{body}"
    );
    assert!(body["grpc_errors"].as_u64().unwrap() >= 10, "{body}");
    assert_eq!(body["grpc_errors"], body["errors_5xx"], "{body}");

    load.until_more_calls(20);
    let run = env
        .p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    assert!(run.stdout().contains("traffic v2=100"), "{}", run.stdout());
    assert_eq!(env.web()["stable"], "v2");
    load.until_more_calls(20);
    let stats = load.stop();
    assert_eq!(stats.failures(&["bad"]), 0, "{stats:?}");
    assert!(
        stats.count(tonic::Code::Unavailable, "bad") >= 10,
        "the bad canary got calls and refused them: {stats:?}"
    );
    assert_eq!(
        stats
            .answers
            .iter()
            .filter(|((_, v), _)| v == "bad")
            .count(),
        1,
        "bad answered nothing but UNAVAILABLE: {stats:?}"
    );
    assert!(stats.count(tonic::Code::Ok, "v2") > 0, "{stats:?}");
    let rollbacks = env
        .kinds()
        .iter()
        .filter(|k| *k == "rollback.triggered")
        .count();
    assert_eq!(rollbacks, 1, "only the bad version was rolled back");

    // Server streaming over h2c, on the promoted version.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .expect("tonic connects to the service over h2c");
        watch_ticks(&mut HealthClient::new(channel), 4).await;
    });
}

#[test]
fn issue9_grpc_over_tls_through_serve_unary_and_server_streaming() {
    let (p, port) = grpc_project(", tls: { cert: tls/web.pem, key: tls/web.key }");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = made.cert.pem();
    std::fs::create_dir_all(p.path().join("tls")).unwrap();
    std::fs::write(
        p.path().join("tls/web.key"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    std::fs::write(p.path().join("tls/web.pem"), &ca).unwrap();
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    let env = Env { p, serve, port };
    env.deploy_v1();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("tonic connects to the service over TLS");
        let mut client = HealthClient::new(channel);
        for _ in 0..5 {
            let resp = client
                .check(check(""))
                .await
                .expect("a unary call over TLS");
            assert_eq!(version_of(resp.metadata()), "v1");
            assert_eq!(resp.into_inner().status, ServingStatus::Serving as i32);
        }
        watch_ticks(&mut client, 4).await;
        // An unknown service is the caller's NOT_FOUND, passed through as it came.
        let err = client.check(check("no.such.Service")).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");

        // A plaintext client is not served on the TLS listener.
        let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        assert!(HealthClient::new(plain).check(check("")).await.is_err());
    });
}
