//! `GET /v1/events` (permission `read`): ledger entries as server-sent events, as they are
//! committed, by any writer (this control plane, a pipeline run, a CLI call): the stream
//! follows the ledger file itself. `?kind=deployment.` keeps kinds with that prefix;
//! `?since=SEQ` (or a `Last-Event-ID` header) first replays the entries after SEQ. Each
//! event has `id` = seq, `event` = kind and the entry's line as `data`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use gantry_ledger::Follower;
use serde::Deserialize;
use serde_json::Value;

use super::Api;
use crate::ServerError;

/// How often the file is checked for new entries: appends are group-committed, so a
/// follower sees each commit within this.
const POLL: Duration = Duration::from_millis(25);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only kinds starting with this prefix (e.g. `deployment.`).
    #[serde(default)]
    kind: Option<String>,
    /// First send the entries after this seq (default: only new ones).
    #[serde(default)]
    since: Option<u64>,
}

/// The entries appended since the last call (complete lines only).
struct Tail {
    follow: Follower,
    /// The highest seq returned so far: a file read again from the start (cut back to its
    /// last whole entry) does not send what was sent before.
    last: u64,
}

impl Tail {
    fn read(&mut self) -> Vec<Value> {
        let Ok(lines) = self.follow.read_lines(|_| true) else {
            return Vec::new();
        };
        let seen = if self.follow.rewound { self.last } else { 0 };
        let mut out = Vec::new();
        for line in &lines {
            if let Ok(v) = serde_json::from_slice::<Value>(line) {
                let seq = v["seq"].as_u64().unwrap_or_default();
                if seen > 0 && seq <= seen {
                    continue;
                }
                self.last = self.last.max(seq);
                out.push(v);
            }
        }
        out
    }
}

#[utoipa::path(get, path = "/v1/events", tag = "status",
    description = "Ledger entries as server-sent events, as they are committed (permission `read`).",
    params(EventsQuery),
    responses((status = 200, description = "text/event-stream: id = seq, event = kind, data = the entry", content_type = "text/event-stream", body = String),
        super::openapi::Errors))]
pub(crate) async fn events(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ServerError> {
    let since = q.since.or_else(|| {
        headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    });
    let path = api.ledger.to_path_buf();
    // Without `since`, start at the end: only what is committed from now on.
    let offset = match since {
        Some(_) => 0,
        None => std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
    };
    let tail = Tail {
        follow: Follower::from_offset(&path, offset),
        last: 0,
    };
    let prefix = q.kind.unwrap_or_default();
    let after = since.unwrap_or(0);
    let stream = futures_util::stream::unfold(
        (tail, std::collections::VecDeque::<Value>::new()),
        move |(mut tail, mut queue)| {
            let prefix = prefix.clone();
            async move {
                loop {
                    if let Some(v) = queue.pop_front() {
                        let event = Event::default()
                            .id(v["seq"].as_u64().unwrap_or_default().to_string())
                            .event(v["kind"].as_str().unwrap_or_default())
                            .data(v.to_string());
                        return Some((Ok(event), (tail, queue)));
                    }
                    let new = tail.read();
                    queue.extend(new.into_iter().filter(|v| {
                        v["seq"].as_u64().unwrap_or_default() > after
                            && v["kind"].as_str().is_some_and(|k| k.starts_with(&prefix))
                    }));
                    if queue.is_empty() {
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
