//! A webhook receiver on loopback that checks each POST against the payload shape the
//! service documents (Slack incoming webhooks, Discord webhooks) and answers as the
//! service does: Slack 200 `ok`, Discord 204, a malformed body 400. It can also hang:
//! read the request and never answer, as a stuck receiver does; and listen behind TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Slack,
    Discord,
    Webhook,
}

pub struct Receiver {
    pub addr: SocketAddr,
    secure: bool,
    /// Every well-formed body, in arrival order.
    pub got: Arc<Mutex<Vec<Value>>>,
    /// What was wrong with bodies that were not.
    pub bad: Arc<Mutex<Vec<String>>>,
    hang: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
}

/// Slack: `text` (the notification fallback) and `blocks` of known types, within limits
/// (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks,
/// https://docs.slack.dev/reference/block-kit/blocks).
fn check_slack(v: &Value) -> Result<(), String> {
    let text = v["text"].as_str().ok_or("no `text`")?;
    if text.is_empty() {
        return Err("empty `text`".into());
    }
    let blocks = v["blocks"].as_array().ok_or("no `blocks` array")?;
    if blocks.len() > 50 {
        return Err("more than 50 blocks".into());
    }
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" {
                    return Err("header text must be plain_text".into());
                }
                let t = b["text"]["text"].as_str().ok_or("header without text")?;
                if t.chars().count() > 150 {
                    return Err("header text over 150 characters".into());
                }
            }
            Some("section") => {
                let has_text = b["text"].is_object();
                let fields = b["fields"].as_array();
                if !has_text && fields.is_none() {
                    return Err("section needs text or fields".into());
                }
                if has_text {
                    let t = b["text"]["text"]
                        .as_str()
                        .ok_or("section text without text")?;
                    if t.chars().count() > 3000
                        || !matches!(b["text"]["type"].as_str(), Some("mrkdwn" | "plain_text"))
                    {
                        return Err("bad section text".into());
                    }
                }
                if let Some(f) = fields
                    && (f.len() > 10
                        || f.iter()
                            .any(|x| x["text"].as_str().is_none_or(|t| t.chars().count() > 2000)))
                {
                    return Err("bad section fields".into());
                }
            }
            Some("context") => {
                let e = b["elements"].as_array().ok_or("context without elements")?;
                if e.is_empty() || e.len() > 10 {
                    return Err("context needs 1..10 elements".into());
                }
            }
            Some("divider") => {}
            other => return Err(format!("unexpected block type {other:?}")),
        }
    }
    Ok(())
}

/// Discord: `content` and/or `embeds` (at most 10), within the embed limits
/// (https://discord.com/developers/docs/resources/webhook#execute-webhook,
/// https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
fn check_discord(v: &Value) -> Result<(), String> {
    let content = v["content"].as_str();
    let embeds = v["embeds"].as_array();
    if content.is_none_or(str::is_empty) && embeds.is_none_or(Vec::is_empty) {
        return Err("neither content nor embeds".into());
    }
    if content.is_some_and(|c| c.chars().count() > 2000) {
        return Err("content over 2000 characters".into());
    }
    let embeds = embeds.cloned().unwrap_or_default();
    if embeds.len() > 10 {
        return Err("more than 10 embeds".into());
    }
    let len = |x: &Value| x.as_str().map_or(0, |s| s.chars().count());
    let mut total = 0;
    for e in &embeds {
        if len(&e["title"]) > 256 || len(&e["description"]) > 4096 {
            return Err("embed title or description too long".into());
        }
        if !e["color"].is_null() && !e["color"].is_u64() {
            return Err("embed color must be an integer".into());
        }
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return Err("more than 25 fields".into());
        }
        for f in &fields {
            if len(&f["name"]) == 0
                || len(&f["name"]) > 256
                || len(&f["value"]) == 0
                || len(&f["value"]) > 1024
            {
                return Err("bad field".into());
            }
            total += len(&f["name"]) + len(&f["value"]);
        }
        total += len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
    }
    if total > 6000 {
        return Err("embeds over 6000 characters".into());
    }
    Ok(())
}

fn check_webhook(v: &Value) -> Result<(), String> {
    for key in ["status", "severity", "group", "title", "project", "at"] {
        if !v[key].is_string() {
            return Err(format!("no `{key}`"));
        }
    }
    Ok(())
}

/// What a receiver thread shares with the test.
#[derive(Clone)]
struct Seen {
    got: Arc<Mutex<Vec<Value>>>,
    bad: Arc<Mutex<Vec<String>>>,
    hang: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
}

/// Reads one request from `conn`, checks its body against `shape` and answers.
fn handle<S: Read + Write>(mut conn: S, shape: Shape, s: &Seen) {
    let mut reader = BufReader::new(&mut conn);
    let mut line = String::new();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    drop(reader);
    if s.hang.load(Ordering::Acquire) {
        // A stuck receiver: the request is read, no answer comes for 60 s.
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    if s.fail.load(Ordering::Acquire) {
        let _ = conn.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
        let _ = conn.flush();
        return;
    }
    let checked = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            match shape {
                Shape::Slack => check_slack(&v),
                Shape::Discord => check_discord(&v),
                Shape::Webhook => check_webhook(&v),
            }
            .map(|()| v)
        });
    let answer = match checked {
        Ok(v) => {
            s.got.lock().unwrap().push(v);
            match shape {
                Shape::Discord => "HTTP/1.1 204 No Content\r\n\r\n".to_string(),
                _ => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string(),
            }
        }
        Err(why) => {
            s.bad.lock().unwrap().push(why.clone());
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\n\r\n{why}",
                why.len()
            )
        }
    };
    let _ = conn.write_all(answer.as_bytes());
    let _ = conn.flush();
}

impl Receiver {
    pub fn start(shape: Shape) -> Receiver {
        Receiver::listen(shape, None)
    }

    /// The same receiver behind TLS with `tls` (its `url` is then https).
    pub fn start_tls(shape: Shape, tls: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::listen(shape, Some(tls))
    }

    fn listen(shape: Shape, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Seen {
            got: Arc::new(Mutex::new(Vec::new())),
            bad: Arc::new(Mutex::new(Vec::new())),
            hang: Arc::new(AtomicBool::new(false)),
            fail: Arc::new(AtomicBool::new(false)),
        };
        let s = seen.clone();
        let secure = tls.is_some();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, tls) = (s.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => handle(conn, shape, &s),
                    Some(config) => {
                        let Ok(server) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        // A handshake the client refuses (an untrusted certificate) ends here.
                        handle(rustls::StreamOwned::new(server, conn), shape, &s);
                    }
                });
            }
        });
        Receiver {
            addr,
            secure,
            got: seen.got,
            bad: seen.bad,
            hang: seen.hang,
            fail: seen.fail,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}/hook", self.addr)
    }

    /// From now on, read requests and never answer them.
    pub fn hang(&self) {
        self.hang.store(true, Ordering::Release);
    }

    /// From now on, answer every request 500.
    pub fn fail(&self) {
        self.fail.store(true, Ordering::Release);
    }

    pub fn messages(&self) -> Vec<Value> {
        let bad = self.bad.lock().unwrap().clone();
        assert!(
            bad.is_empty(),
            "bodies not in the documented shape: {bad:?}"
        );
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages came, or panics after `secs`.
    pub fn wait_for(&self, n: usize, secs: u64, what: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; got {got:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
