//! A service's accept loop: each client connection is served on the accepting runtime, or
//! handed to one of the router's worker threads, until the listener is stopped; then the
//! open connections are drained. Past `max_connections` a new connection gets 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::answers;
use crate::config::{ServiceConfig, UpstreamProtocol};
use crate::conn::{Activity, CountingIo, Expired, Guarded, IdleClock, tick_period};
use crate::h1;
use crate::headers::Client;
use crate::metrics::ServiceCounters;
use crate::proxy::{Proxy, handle};
use crate::service::ServiceState;
use crate::tls::TlsReloader;
use crate::workers::Workers;

/// Where accepted connections are served.
pub(crate) enum Dispatch {
    /// On the runtime that runs the accept loop, with the router's shared client.
    Local(Arc<Proxy>),
    /// On the least-loaded worker thread, with that worker's client.
    Workers(Arc<Workers>),
}

/// One listener's settings and its count of open client connections.
pub(crate) struct Listening {
    pub(crate) state: Arc<ServiceState>,
    pub(crate) settings: Arc<ServiceConfig>,
    open: Arc<AtomicUsize>,
    /// Set when the listener terminates TLS.
    tls: Option<Arc<TlsReloader>>,
}

impl Listening {
    pub(crate) fn new(state: Arc<ServiceState>, settings: ServiceConfig) -> Self {
        Listening {
            state,
            settings: Arc::new(settings),
            open: Arc::new(AtomicUsize::new(0)),
            tls: None,
        }
    }

    pub(crate) fn with_tls(mut self, tls: Option<TlsReloader>) -> Self {
        self.tls = tls.map(Arc::new);
        self
    }
}

/// Keeps a client connection counted against the listener's cap until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn builder(settings: &ServiceConfig) -> auto::Builder<TokioExecutor> {
    // hyper-util's builder because its upgradeable connection can be shut down
    // gracefully (hyper's own http1 one cannot be watched for draining), and because it
    // tells HTTP/2 (h2c with prior knowledge) from HTTP/1.1 by the connection preface,
    // so one port serves both.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Header and idle limits are kept by `conn` (hyper's header timer also runs while a
    // keep-alive connection waits, so it would be the keep-alive limit too).
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(None)
        // The read buffer bounds the request head; hyper answers 431 past it.
        .max_buf_size(settings.max_request_header_bytes.max(8192));
    if settings.max_request_headers != crate::headers::HYPER_MAX_HEADERS {
        builder.http1().max_headers(settings.max_request_headers);
    }
    crate::h2::configure(builder.http2());
    builder
}

/// Serves one accepted connection, after its TLS handshake when the listener has TLS
/// (on the connection's own task, so a slow handshake holds up nobody else).
#[allow(clippy::too_many_arguments)]
async fn serve_stream(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<TlsReloader>>,
    state: Arc<ServiceState>,
    settings: Arc<ServiceConfig>,
    proxy: Arc<Proxy>,
    watcher: Watcher,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // HTTP/1.1 to HTTP/1.1 backends starts on the fast path (which hands over anything
    // else); h2c backends are reached through hyper's HTTP/2 client only.
    let fast = settings.upstream == UpstreamProtocol::Http1;
    let Some(tls) = tls else {
        if fast {
            return h1::serve(stream, peer, state, settings, proxy, watcher, stop).await;
        }
        return serve_connection(stream, peer, state, settings, proxy, watcher).await;
    };
    // A handshake is part of the request's head: it gets the header timeout.
    let handshake = tls.acceptor().accept(stream);
    match tokio::time::timeout(settings.client_header_timeout, handshake).await {
        Ok(Ok(stream)) if fast && stream.get_ref().1.alpn_protocol() != Some(b"h2") => {
            h1::serve(stream, peer, state, settings, proxy, watcher, stop).await;
        }
        Ok(Ok(stream)) => serve_connection(stream, peer, state, settings, proxy, watcher).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake not finished in time"),
    }
}

/// Serves one client connection on the hyper path until it closes, drains (via
/// `watcher`), or sits idle past its limits.
pub(crate) async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    state: Arc<ServiceState>,
    settings: Arc<ServiceConfig>,
    proxy: Arc<Proxy>,
    watcher: Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client = Client::new(
        peer,
        &settings.trusted_proxies,
        settings.forwarded,
        settings.tls.is_some(),
    );
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(CountingIo::new(stream, Arc::clone(&activity)));
    let service = {
        let (settings, activity) = (Arc::clone(&settings), Arc::clone(&activity));
        service_fn(move |req| {
            let busy = activity.busy();
            let answer = handle(
                Arc::clone(&proxy),
                Arc::clone(&state),
                Arc::clone(&settings),
                client.clone(),
                req,
            );
            async move {
                let resp = answer.await?;
                Ok::<_, std::convert::Infallible>(resp.map(|b| Guarded::new(b, busy)))
            }
        })
    };
    let builder = builder(&settings);
    let conn = watcher.watch(builder.serve_connection_with_upgrades(io, service));
    tokio::pin!(conn);
    let mut clock = IdleClock::new(tokio::time::Instant::now());
    let mut ticks = tokio::time::interval(tick_period(&settings));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ended = &mut conn => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "client connection ended with an error");
                }
                return;
            }
            _ = ticks.tick() => {
                match activity.check(&mut clock, tokio::time::Instant::now(), &settings) {
                    None => {}
                    // Dropping the connection closes it; nothing is in progress on it.
                    Some(Expired::KeepAlive) => return,
                    Some(Expired::Header) => {
                        tracing::debug!(%peer, timeout = ?settings.client_header_timeout, "request headers not received in time");
                        return;
                    }
                }
            }
        }
    }
}

/// Answers a connection past the cap with 503 and closes it (on its own task, so the
/// accept loop never waits on a client).
fn refuse(mut stream: TcpStream, service: &str) {
    let text = h1::answer_bytes(&answers::at_capacity(service), false, true);
    tokio::spawn(async move {
        let write = async {
            stream.write_all(&text).await?;
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
    });
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    listening: Listening,
    dispatch: Dispatch,
    drain_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let Listening {
        state,
        settings,
        open,
        tls,
    } = listening;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(service = %state.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                if open.fetch_add(1, Ordering::AcqRel) >= settings.max_connections {
                    open.fetch_sub(1, Ordering::AcqRel);
                    ServiceCounters::bump(&state.counters.over_capacity);
                    refuse(stream, &state.name);
                    continue;
                }
                let slot = Open(Arc::clone(&open));
                let (state, settings, watcher) = (Arc::clone(&state), Arc::clone(&settings), graceful.watcher());
                let (tls, stop) = (tls.clone(), stop.clone());
                match &dispatch {
                    Dispatch::Local(proxy) => {
                        let proxy = Arc::clone(proxy);
                        tokio::spawn(async move {
                            let _slot = slot;
                            serve_stream(stream, peer, tls, state, settings, proxy, watcher, stop).await;
                        });
                    }
                    Dispatch::Workers(workers) => {
                        // Moved off this runtime's reactor; registered again on the worker's.
                        let stream = match stream.into_std() {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::debug!(error = %e, "cannot hand a connection to a worker");
                                continue;
                            }
                        };
                        let (worker, worker_slot) = workers.pick();
                        let proxy = Arc::clone(&worker.proxy);
                        worker.handle.spawn(async move {
                            let _slots = (slot, worker_slot);
                            match TcpStream::from_std(stream) {
                                Ok(stream) => serve_stream(stream, peer, tls, state, settings, proxy, watcher, stop).await,
                                Err(e) => tracing::debug!(error = %e, "cannot register a connection on a worker"),
                            }
                        });
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(service = %state.name, timeout = ?drain_timeout, "in-flight requests still running after the drain timeout");
    }
}
