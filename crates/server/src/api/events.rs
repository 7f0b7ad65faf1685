//! `GET /v1/events` (permission `read`): ledger entries as server-sent events, as they are
//! committed, by any writer (this control plane, a pipeline run, a CLI call): the stream
//! follows the ledger file itself. `?kind=deployment.` keeps kinds with that prefix;
//! `?since=SEQ` (or a `Last-Event-ID` header) first replays the entries after SEQ. Each
//! event has `id` = seq, `event` = kind and the entry's line as `data`.

use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
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

/// Reads the lines appended since the last call; keeps a partial last line for later.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn read(&mut self) -> Vec<Value> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let n = f.read_to_end(&mut buf).unwrap_or(0);
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
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
        path,
        offset,
        partial: Vec::new(),
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
