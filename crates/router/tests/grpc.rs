//! Issue 9, gRPC: tonic clients call tonic servers (the standard health service, whose
//! generated code ships with tonic-health: no protoc) through the router with
//! `upstream: h2c` — unary and server-streaming calls, trailers both ways, and a
//! `grpc-status` among the service's error codes counted against the version.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gantry_router::{GrpcCodes, ServiceConfig, UpstreamProtocol};
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::one_backend;
use tonic::Code;
use tonic::transport::{Channel, Server, server::TcpIncoming};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;

fn h2c_settings() -> ServiceConfig {
    ServiceConfig {
        upstream: UpstreamProtocol::H2c,
        ..ServiceConfig::default()
    }
}

/// tonic's health server on a free port; with `unavailable` every call is refused with
/// UNAVAILABLE by an interceptor, as a broken version would.
async fn health_server(unavailable: bool) -> (SocketAddr, HealthReporter) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    let refuse = move |req: tonic::Request<()>| {
        if unavailable {
            Err(tonic::Status::unavailable("this version is broken"))
        } else {
            Ok(req)
        }
    };
    let service = tonic::service::interceptor::InterceptedService::new(service, refuse);
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (addr, reporter)
}

async fn client(router: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{router}"))
        .unwrap()
        .connect()
        .await
        .expect("tonic connects to the router over h2c");
    HealthClient::new(channel)
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_and_server_streaming_calls_pass_through_h2c() {
    let (upstream, reporter) = health_server(false).await;
    let (router, addr) = one_backend(upstream, "v1", h2c_settings());
    let mut c = client(addr).await;

    // Unary: tonic reads the status from the trailers, so a dropped trailer fails here.
    for _ in 0..5 {
        let r = c
            .check(check(""))
            .await
            .expect("unary call through the router");
        assert_eq!(r.into_inner().status, ServingStatus::Serving as i32);
    }
    // Server streaming: a message now, another when the status changes.
    let mut watch = c.watch(check("")).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().expect("first message");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let second = tokio::time::timeout(Duration::from_secs(20), watch.message())
        .await
        .expect("the streamed update arrived")
        .unwrap()
        .expect("second message");
    assert_eq!(second.status, ServingStatus::NotServing as i32);
    drop(watch);

    // NOT_FOUND (unknown service) is the caller's mistake: not a version error by default.
    let err = c.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let s = router.window_stats("web", "v1", Duration::from_secs(30));
    assert_eq!(s.requests, 7, "{s:?}");
    assert_eq!((s.grpc_errors, s.errors_5xx), (0, 0), "{s:?}");
    assert_eq!(s.error_rate, 0.0);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_the_versions_error_and_codes_are_configurable() {
    let (upstream, _reporter) = health_server(true).await;
    let (router, addr) = one_backend(upstream, "bad", h2c_settings());
    let mut c = client(addr).await;
    for _ in 0..8 {
        let err = c.check(check("")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert_eq!(err.message(), "this version is broken");
    }
    let s = router.window_stats("web", "bad", Duration::from_secs(30));
    assert_eq!(
        (s.requests, s.grpc_errors, s.errors_5xx),
        (8, 8, 0),
        "{s:?}"
    );
    assert!((s.error_rate - 1.0).abs() < 1e-9, "{}", s.error_rate);
    router.shutdown().await;

    // With codes that leave UNAVAILABLE out, the same answers are not errors.
    let settings = ServiceConfig {
        grpc_error_codes: GrpcCodes::from_codes([13]),
        ..h2c_settings()
    };
    let (router, addr) = one_backend(upstream, "bad", settings);
    let mut c = client(addr).await;
    for _ in 0..3 {
        assert_eq!(
            c.check(check("")).await.unwrap_err().code(),
            Code::Unavailable
        );
    }
    let s = router.window_stats("web", "bad", Duration::from_secs(30));
    assert_eq!((s.requests, s.grpc_errors), (3, 0), "{s:?}");
    router.shutdown().await;
}

/// A raw HTTP/2 upstream answering like a gRPC server: a message, then trailers with
/// the request's own trailer echoed and `grpc-status` from the path (`/status/N`).
async fn trailer_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let svc =
                hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let code = req.uri().path().trim_start_matches("/status/").to_string();
                    let collected = req.into_body().collect().await.unwrap();
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", code.parse().unwrap());
                    if let Some(t) = collected.trailers().and_then(|t| t.get("x-client-trailer")) {
                        trailers.insert("x-echo-trailer", t.clone());
                    }
                    let body = Full::new(collected.to_bytes()).with_trailers(async move {
                        Some(Ok::<_, std::convert::Infallible>(trailers))
                    });
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc),
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_pass_both_ways_and_a_status_in_trailers_counts() {
    let upstream = trailer_echo().await;
    let (router, addr) = one_backend(upstream, "v1", h2c_settings());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    // Running totals of counted errors after each call.
    for (code, counted) in [("0", 0), ("14", 1), ("5", 1)] {
        let mut client_trailers = HeaderMap::new();
        client_trailers.insert("x-client-trailer", format!("sent-{code}").parse().unwrap());
        let body = Full::new(Bytes::from_static(b"\0\0\0\0\x02hi")).with_trailers(
            std::future::ready(Some(Ok::<_, std::convert::Infallible>(client_trailers))),
        );
        let req = Request::post(format!("http://{addr}/status/{code}"))
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap();
        h2.ready().await.unwrap();
        let resp = h2.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let collected = resp.into_body().collect().await.unwrap();
        let trailers = collected
            .trailers()
            .cloned()
            .expect("the response trailers arrived");
        assert_eq!(trailers["grpc-status"], code);
        assert_eq!(trailers["x-echo-trailer"], format!("sent-{code}").as_str());
        assert_eq!(collected.to_bytes().as_ref(), b"\0\0\0\0\x02hi");
        let s = router.window_stats("web", "v1", Duration::from_secs(30));
        // 14 (UNAVAILABLE) counts by default; 5 (NOT_FOUND) does not.
        assert_eq!(s.grpc_errors, counted, "after grpc-status {code}: {s:?}");
    }
    router.shutdown().await;
}
