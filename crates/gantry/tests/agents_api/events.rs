//! `GET /v1/events`: ledger entries as server-sent events as they are committed, by this
//! control plane and by other writers (a CLI call), filtered by kind prefix.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Env, call};

/// Opens the stream; returns a reader positioned after the response head.
fn open(env: &Env, query: &str, token: &str) -> BufReader<std::net::TcpStream> {
    let mut s = std::net::TcpStream::connect(env.api()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /v1/events{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            return r;
        }
        if line.to_ascii_lowercase().starts_with("content-type") {
            assert!(line.contains("text/event-stream"), "{line}");
        }
    }
}

/// The next event's (id, event, data), skipping keep-alive comments.
fn next_event(r: &mut BufReader<std::net::TcpStream>, deadline: Instant) -> (u64, String, Value) {
    let (mut id, mut event, mut data) = (0, String::new(), String::new());
    loop {
        assert!(Instant::now() < deadline, "no event in time");
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end_matches(['\r', '\n']);
        // Lines of the chunked framing (chunk sizes) match none of the fields: axum writes
        // each event as one chunk, so an event is never split across them.
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().unwrap();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data = v.trim().to_string();
        } else if line.is_empty() && !data.is_empty() {
            return (id, event, serde_json::from_str(&data).unwrap());
        }
    }
}

#[test]
fn issue10_events_stream_ledger_entries_as_committed_filtered_by_kind() {
    let env = Env::start();
    let viewer = env.token("viewer", "watcher", None);
    let mut stream = open(&env, "?kind=access.", &viewer);
    // A refusal recorded by the control plane, then an entry from another process.
    let reply = call(
        env.api(),
        "POST",
        "/v1/services/web/pause",
        Some(&viewer),
        None,
    );
    assert_eq!(reply.status, 403, "{}", reply.text);
    env.token("operator", "later", None);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (id, kind, entry) = next_event(&mut stream, deadline);
    assert_eq!(kind, "access.denied", "{entry}");
    assert_eq!(entry["seq"], id);
    assert_eq!(entry["body"]["permission"], "pause");
    let (id2, kind, entry) = next_event(&mut stream, deadline);
    assert_eq!(kind, "access.token.created", "{entry}");
    assert!(id2 > id);
    assert_eq!(entry["body"]["name"], "later");

    // `since` replays what came before, with the same filter.
    let mut replay = open(&env, "?since=0&kind=agent.", &viewer);
    let (_, kind, entry) = next_event(&mut replay, Instant::now() + Duration::from_secs(15));
    assert!(kind.starts_with("agent."), "{entry}");

    // Without the read permission, no stream.
    let reply = call(env.api(), "GET", "/v1/events", None, None);
    assert_eq!(reply.status, 401);
}
