//! Issue 9, upgrades: WebSocket through the router against tokio-tungstenite's own server
//! and client, counted as connections, and drained on a switch like requests.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use gantry_router::{Backend, Router, RouterConfig};
use support::route;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket server echoing every message, prefixed with its `name`.
async fn ws_echo(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg
                        && ws.send(Message::text(format!("{name}:{t}"))).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn backend(version: &str, addr: SocketAddr, weight: u32) -> Backend {
    Backend {
        version: version.into(),
        instance: format!("{version}-1"),
        addr,
        weight,
        ready: true,
    }
}

fn router() -> Router {
    Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn echo(ws: &mut Ws, text: &str) -> String {
    ws.send(Message::text(text)).await.unwrap();
    loop {
        match ws.next().await.expect("socket open").unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The closing handshake, then the socket closed, as a browser does.
async fn close(mut ws: Ws) {
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_websocket_echoes_1000_messages_through_the_router() {
    let router = router();
    let addr = router
        .serve("web", ([127, 0, 0, 1], 0).into())
        .unwrap()
        .local_addr();
    router.update(
        "web",
        route(addr, vec![backend("v1", ws_echo("v1").await, 100)]),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..1000 {
        assert_eq!(echo(&mut ws, &format!("m{i}")).await, format!("v1:m{i}"));
    }
    let v1 = &router.totals()[0].versions[0];
    assert_eq!((v1.counts.upgrades, v1.open_upgrades), (1, 1), "{v1:?}");
    assert_eq!(
        v1.counts.requests, 0,
        "a tunnel is no request with a latency"
    );
    close(ws).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.totals()[0].versions[0].open_upgrades > 0 {
        assert!(Instant::now() < deadline, "the tunnel was never closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_an_open_websocket_keeps_working_across_a_switch_and_drains() {
    let router = router();
    let addr = router
        .serve("web", ([127, 0, 0, 1], 0).into())
        .unwrap()
        .local_addr();
    let (v1, v2) = (ws_echo("v1").await, ws_echo("v2").await);
    router.update("web", route(addr, vec![backend("v1", v1, 100)]));
    let (mut old, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    assert_eq!(echo(&mut old, "a").await, "v1:a");

    // The canary switch: all new traffic to v2, v1 out of the table.
    router.update("web", route(addr, vec![backend("v2", v2, 100)]));
    let (mut new, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    assert_eq!(echo(&mut new, "b").await, "v2:b");
    for i in 0..50 {
        assert_eq!(echo(&mut old, &format!("{i}")).await, format!("v1:{i}"));
    }
    // v1's socket is what the driver waits for before it stops v1.
    assert_eq!(router.in_flight("web", v1), 1);
    close(old).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.in_flight("web", v1) > 0 {
        assert!(Instant::now() < deadline, "v1 never drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(echo(&mut new, "c").await, "v2:c");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_an_upgrade_the_backend_refuses_is_answered_as_it_was() {
    let router = router();
    let addr = router
        .serve("web", ([127, 0, 0, 1], 0).into())
        .unwrap()
        .local_addr();
    // A plain HTTP backend answers the handshake like any GET.
    let plain = support::Upstream::start("v1").await;
    router.update("web", route(addr, vec![plain.backend(100, true)]));
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/status/426"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 426),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    router.shutdown().await;
}
