//! Issue 9, TLS: a listener with `tls` terminates TLS with rustls, offers h2 and
//! http/1.1 by ALPN, serves tonic over TLS end to end, and serves a renewed certificate
//! to new connections while open ones keep working. Certificates are made with rcgen.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gantry_router::{
    Backend, Router, RouterConfig, RouterError, ServiceConfig, TlsFiles, UpstreamProtocol,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{Upstream, route};
use tokio_rustls::TlsConnector;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Server, server::TcpIncoming};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A fresh self-signed certificate for `localhost`, written to `dir` as cert.pem and
/// key.pem; returns the certificate's PEM and DER.
fn write_cert(dir: &Path) -> (String, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = made.cert.pem();
    // Key first, then the certificate: a reader between the two writes sees a pair that
    // does not match, which the router must not serve.
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), &pem).unwrap();
    (pem, made.cert.der().to_vec())
}

fn files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

fn serve(router: &Router, settings: ServiceConfig, backend: Backend) -> SocketAddr {
    let addr = router
        .serve_with("web", "127.0.0.1:0".parse().unwrap(), settings)
        .unwrap()
        .local_addr();
    router.update("web", route(addr, vec![backend]));
    addr
}

fn router() -> Router {
    Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    })
}

/// A rustls client trusting the certificates in `roots`, offering `alpn`.
fn connector(roots: &[Vec<u8>], alpn: &[&[u8]]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for der in roots {
        store.add(CertificateDer::from(der.clone())).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn handshake(c: &TlsConnector, addr: SocketAddr) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    c.connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn served_cert(tls: &Tls) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_offers_h2_and_http1_and_both_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_, der) = write_cert(dir.path());
    let v1 = Upstream::start("v1").await;
    let router = router();
    let settings = ServiceConfig {
        tls: Some(files(dir.path())),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, v1.backend(100, true));

    // HTTP/1.1 over TLS.
    let tls = handshake(&connector(std::slice::from_ref(&der), &[b"http/1.1"]), addr)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = h1.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-version"], "v1");
    assert_eq!(
        resp.headers()["x-echo-xfp"],
        "https",
        "the upstream learns the scheme"
    );

    // HTTP/2 over TLS, chosen by ALPN.
    let tls = handshake(&connector(&[der], &[b"h2", b"http/1.1"]), addr)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("https://localhost/status/201")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (hyper::Version::HTTP_2, 201)
    );
    let _ = resp.into_body().collect().await.unwrap();
    router.shutdown().await;
}

async fn tonic_over_tls(addr: SocketAddr, ca_pem: &str) -> HealthClient<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("tonic connects to the router over TLS");
    HealthClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_calls_over_tls_and_a_renewed_certificate_reaches_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (old_pem, old_der) = write_cert(dir.path());
    // A gRPC upstream (tonic's health service) reached over h2c.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let (_reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let router = router();
    let settings = ServiceConfig {
        tls: Some(files(dir.path())),
        upstream: UpstreamProtocol::H2c,
        ..ServiceConfig::default()
    };
    let backend = Backend {
        version: "v1".into(),
        instance: "v1-1".into(),
        addr: upstream,
        weight: 100,
        ready: true,
    };
    let addr = serve(&router, settings, backend);

    let mut old = tonic_over_tls(addr, &old_pem).await;
    let check = || HealthCheckRequest {
        service: String::new(),
    };
    let r = old.check(check()).await.expect("unary call over TLS");
    assert_eq!(r.into_inner().status, ServingStatus::Serving as i32);
    let mut watch = old.watch(check()).await.unwrap().into_inner();
    assert!(
        watch.message().await.unwrap().is_some(),
        "a streamed message over TLS"
    );

    // Renew: new key and certificate in the same files.
    let (new_pem, new_der) = write_cert(dir.path());
    assert_ne!(old_der, new_der);
    let trust_both = connector(&[old_der.clone(), new_der.clone()], &[b"h2"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tls = handshake(&trust_both, addr).await.unwrap();
        if served_cert(&tls) == new_der {
            break;
        }
        assert_eq!(served_cert(&tls), old_der);
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connection made before the renewal still works; new ones use the new chain.
    let r = old
        .check(check())
        .await
        .expect("the open connection survived the renewal");
    assert_eq!(r.into_inner().status, ServingStatus::Serving as i32);
    let mut new = tonic_over_tls(addr, &new_pem).await;
    assert!(new.check(check()).await.is_ok());
    // Trusting only the old certificate now fails the handshake.
    assert!(
        handshake(&connector(&[old_der], &[b"h2"]), addr)
            .await
            .is_err()
    );
    drop(watch);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_files_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate\n").unwrap();
    std::fs::write(dir.path().join("key.pem"), "nor a key\n").unwrap();
    let router = router();
    let settings = ServiceConfig {
        tls: Some(files(dir.path())),
        ..ServiceConfig::default()
    };
    let err = router
        .serve_with("web", "127.0.0.1:0".parse().unwrap(), settings)
        .unwrap_err();
    assert!(matches!(err, RouterError::Tls { .. }), "{err:?}");
    let text = err.to_string() + &std::error::Error::source(&err).unwrap().to_string();
    assert!(text.contains("cert.pem"), "{text}");
    // A missing key is named too.
    let (_, _) = write_cert(dir.path());
    std::fs::remove_file(dir.path().join("key.pem")).unwrap();
    let settings = ServiceConfig {
        tls: Some(files(dir.path())),
        ..ServiceConfig::default()
    };
    let err = router
        .serve_with("web", "127.0.0.1:0".parse().unwrap(), settings)
        .unwrap_err();
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("key.pem"),
        "{err}"
    );
}
