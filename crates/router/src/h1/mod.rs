//! The fast HTTP/1.1 path: the router's own request loop for the plain requests that are
//! nearly all of a web service's traffic, nginx-style — the head parsed in place, the
//! backend's request written from it in one pass, the response head rewritten the same
//! way and passed back with its body, over plain keep-alive sockets.
//!
//! Why not hyper here: measured with `bench/router-instructions.sh`, hyper's general
//! client and server (header maps built and copied per message, a channel and a task
//! between a request and its upstream connection, room for every header line filled per
//! response) cost about twice nginx's instructions per request, which kept `gantry serve`
//! below nginx's throughput. Every request this path does not take — an upgrade, h2c,
//! a chunked or large upload, `Expect`, HTTP/1.0, anything malformed or past a limit —
//! hands the connection, with the bytes read so far, to the hyper path
//! ([`crate::accept`]), which serves the rest of it as before.

mod chunked;
mod exchange;
mod prefixed;
#[cfg(test)]
mod properties;
pub(crate) mod request;
mod response;
pub(crate) mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::config::ServiceConfig;
use crate::conn::{IdleClock, tick_period};
use crate::headers::Client;
use crate::proxy::Proxy;
use crate::service::ServiceState;

pub(crate) use exchange::answer_bytes;
use exchange::{Ctx, Next};
use prefixed::Prefixed;
use request::{HeadLimits, Parsed};

/// Serves one client connection on the fast path until it closes, sits idle past its
/// limits, or the listener stops (then after the exchange in progress); a request the
/// fast path does not take moves the connection to the hyper path.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<S>(
    mut io: S,
    peer: SocketAddr,
    state: Arc<ServiceState>,
    settings: Arc<ServiceConfig>,
    proxy: Arc<Proxy>,
    watcher: Watcher,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let client = Client::new(
        peer,
        &settings.trusted_proxies,
        settings.forwarded,
        settings.tls.is_some(),
    );
    let limits = HeadLimits {
        headers: settings.max_request_headers,
        bytes: settings.max_request_header_bytes.max(8192),
        body: proxy.config.max_replay_body,
    };
    let ctx = Ctx {
        proxy,
        svc: state,
        settings,
    };
    let period = tick_period(&ctx.settings);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut clock = IdleClock::new(tokio::time::Instant::now());
    // Reads that brought bytes, and whether a request was served since the last tick:
    // what the idle clock needs to tell a keep-alive wait from a slow head.
    let mut reads = 0u64;
    let mut served = false;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        let head = loop {
            if !buf.is_empty() {
                match request::parse(&buf, limits, &client) {
                    Parsed::Fast(head) => break head,
                    Parsed::Fallback => {
                        let Ctx {
                            proxy,
                            svc,
                            settings,
                        } = ctx;
                        let io = Prefixed::new(buf.freeze(), io);
                        return crate::accept::serve_connection(
                            io, peer, svc, settings, proxy, watcher,
                        )
                        .await;
                    }
                    Parsed::Partial => {}
                }
            }
            if buf.is_empty() && *stop.borrow() {
                return close(io).await;
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(8 * 1024);
            }
            tokio::select! {
                biased;
                read = io.read_buf(&mut buf) => match read {
                    Ok(n) if n > 0 => reads += 1,
                    _ => return,
                },
                _ = ticks.tick() => {
                    let now = tokio::time::Instant::now();
                    let busy = std::mem::take(&mut served);
                    let s = &ctx.settings;
                    let expired = clock.tick(now, busy, reads, s.keepalive_timeout, s.client_header_timeout);
                    if expired.is_some() {
                        return;
                    }
                }
                // Draining: an idle connection closes now, a busy one after its exchange.
                _ = stop.changed(), if buf.is_empty() => return close(io).await,
            }
        };
        let next = exchange::run(&mut io, &mut buf, head, &ctx).await;
        served = true;
        if next == Next::Close || *stop.borrow() {
            return close(io).await;
        }
    }
}

/// Ends a connection after what was written to it has gone out (a TLS one with its
/// close_notify), without waiting long on a client that does not read.
async fn close<S: AsyncWrite + Unpin>(mut io: S) {
    let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
}
