//! Issue 9, draining: a server-sent event stream opened on the stable version survives a
//! rollback when `router.drain_timeout` outlasts it, and is cut once a short one passes
//! (then the instance gets SIGTERM and `stop_grace`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gantry_test_support::serve::Serve;

use crate::{Env, Opts, http_get, project};

const EVENTS: u32 = 45;

/// A project whose `web` has `router_line` under it, serving, with v1 then v2 deployed.
fn serving_v2(router_line: &str) -> Env {
    let opts = Opts {
        strategy: "{ blue_green: { auto_promote: true, scale_down_delay: 0s } }",
        ..Opts::default()
    };
    let (p, port) = project(&opts);
    let path = p.path().join("gantry.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let yaml = yaml.replacen(
        "    instances: 1\n",
        &format!("    instances: 1\n    router: {router_line}\n"),
        1,
    );
    std::fs::write(&path, yaml).unwrap();
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    let env = Env { p, serve, port };
    env.deploy_v1();
    env.p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    env
}

/// An SSE stream as it arrives: the raw bytes so far.
struct Sse {
    s: TcpStream,
    raw: Vec<u8>,
    ended: bool,
}

impl Sse {
    fn open(addr: SocketAddr) -> Sse {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let req = format!(
            "GET /events?count={EVENTS}&interval_ms=1000 HTTP/1.1\r\nHost: t\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        Sse {
            s,
            raw: Vec::new(),
            ended: false,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// The `data:` lines received so far.
    fn events(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }

    /// Whether the chunked body ended with its terminator (a clean end).
    fn clean_end(&self) -> bool {
        self.raw.ends_with(b"\r\n0\r\n\r\n")
    }

    /// Reads what has come (up to 200 ms of waiting); false once the connection closed.
    fn pump(&mut self) -> bool {
        if self.ended {
            return false;
        }
        let mut buf = [0u8; 4096];
        match self.s.read(&mut buf) {
            Ok(0) => self.ended = true,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                // A clean end leaves the keep-alive connection open: stop there.
                self.ended = self.clean_end();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => self.ended = true,
        }
        !self.ended
    }

    /// Pumps until `f` holds or the stream ends; panics after `secs`.
    fn until(&mut self, secs: u64, what: &str, f: impl Fn(&Sse) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) && self.pump() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.text()
            );
        }
    }
}

/// Starts `gantry rollback web` on a thread and waits (pumping the stream meanwhile) until
/// new requests go to v1. Returns how many events had arrived at the switch.
fn roll_back_while_streaming(env: &Env, sse: &mut Sse) -> (usize, std::thread::JoinHandle<()>) {
    let rollback = {
        let p = env.p.path().to_path_buf();
        std::thread::spawn(move || {
            let out = std::process::Command::new(crate::BIN)
                .args(["rollback", "web"])
                .current_dir(&p)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = http_get(env.addr(), "/", None);
        if status == 200 && text.to_ascii_lowercase().contains("x-version: v1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "traffic never went back to v1; ps: {:#}",
            env.ps()
        );
        sse.pump();
    }
    (sse.events().len(), rollback)
}

#[test]
fn issue9_an_sse_stream_survives_a_rollback_within_the_drain_timeout() {
    let env = serving_v2("{ drain_timeout: 60s }");
    let mut sse = Sse::open(env.addr());
    sse.until(30, "the first event", |s| !s.events().is_empty());
    assert!(
        sse.text().to_ascii_lowercase().contains("x-version: v2"),
        "{}",
        sse.text()
    );
    let (at_switch, rollback) = roll_back_while_streaming(&env, &mut sse);
    assert!(
        at_switch < EVENTS as usize,
        "the stream was still going at the switch"
    );
    sse.until(120, "the end of the stream", |_| false);
    let want: Vec<String> = (1..=EVENTS).map(|i| format!("v2 {i}")).collect();
    assert_eq!(sse.events(), want, "every event, in order");
    assert!(sse.clean_end(), "ended cleanly: {}", sse.text());
    rollback.join().unwrap();
    env.wait_for(30, "v2's instance stopped", |e| {
        e.web()["instances"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["version"] == "v1"))
    });
}

#[test]
fn issue9_a_stream_past_a_short_drain_timeout_is_cut() {
    let env = serving_v2("{ drain_timeout: 2s, stop_grace: 1s }");
    let mut sse = Sse::open(env.addr());
    sse.until(30, "the first event", |s| !s.events().is_empty());
    let (at_switch, rollback) = roll_back_while_streaming(&env, &mut sse);
    sse.until(120, "the stream to be cut", |_| false);
    rollback.join().unwrap();
    let got = sse.events().len();
    assert!(!sse.clean_end(), "cut, not ended: {}", sse.text());
    assert!(got < EVENTS as usize, "{got} events");
    // 2s drain + 1s grace; the default drain (30s) would have let at least 30 more through.
    assert!(
        got - at_switch < 20,
        "cut soon after the drain timeout: {} events after the switch",
        got - at_switch
    );
}
