//! Issue 9, WebSockets through `gantry serve`: a socket opened on the service's listener
//! echoes 1 000 messages, stays open across a canary switch, and is closed only when its
//! instance has drained (`router.drain_timeout`) and stopped.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use gantry_test_support::load::Load;
use gantry_test_support::serve::Serve;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use crate::{Env, Opts, project};

type Socket = WebSocket<TcpStream>;

fn echo_many(ws: &mut Socket, from: u32, n: u32) {
    for i in from..from + n {
        let text = format!("message {i}");
        ws.send(Message::text(text.clone())).unwrap();
        loop {
            match ws.read().unwrap() {
                Message::Text(t) => {
                    assert_eq!(t.as_str(), text);
                    break;
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn issue9_a_websocket_through_serve_echoes_and_outlives_a_canary_switch_until_drained() {
    let opts = Opts {
        strategy: "{ canary: { steps: [ {weight: 50, pause: 2s} ], progress_deadline: 30s } }",
        ..Opts::default()
    };
    let (p, port) = project(&opts);
    let path = p.path().join("gantry.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap().replacen(
        "    instances: 1\n",
        "    instances: 1\n    router: { drain_timeout: 20s, stop_grace: 1s }\n",
        1,
    );
    std::fs::write(&path, yaml).unwrap();
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    let env = Env { p, serve, port };
    env.deploy_v1();

    let stream = TcpStream::connect(env.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, answer) =
        tungstenite::client(format!("ws://127.0.0.1:{port}/ws"), stream).unwrap();
    assert_eq!(answer.headers()["x-version"], "v1");
    echo_many(&mut ws, 0, 1000);

    // Analysis needs the canary's own requests.
    let load = Load::start(env.addr(), 20, 2);
    let deploy = {
        let dir = env.p.path().to_path_buf();
        std::thread::spawn(move || {
            std::process::Command::new(crate::BIN)
                .args(["deploy", "web", "--version", "v2", "--wait"])
                .current_dir(dir)
                .output()
                .unwrap()
        })
    };
    env.wait_for(90, "all traffic on v2", |e| e.web()["weights"]["v2"] == 100);
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    // The socket on v1 still works after the switch, while v1 drains.
    echo_many(&mut ws, 1000, 1000);
    // Then v1 is stopped (drain 20s, grace 1s) and the socket closes.
    let closed_by = Instant::now() + Duration::from_secs(90);
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
        assert!(Instant::now() < closed_by, "the socket was never closed");
    }
    let out = deploy.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_for(30, "v1 stopped", |e| {
        e.web()["instances"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["version"] == "v2"))
    });
}
