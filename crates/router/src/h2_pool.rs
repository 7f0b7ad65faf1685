//! HTTP/2 (h2c, prior knowledge) connections to backends of services with
//! `upstream: h2c`: one multiplexed connection per backend and runtime, opened on first
//! use and replaced when it closes. Streams are limited by the backend's slots
//! ([`crate::limits`]) like HTTP/1.1 requests, so `backend_connections` bounds the calls
//! in progress at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::UpstreamBody;
use crate::pool::SendError;

#[derive(Clone, Default)]
pub(crate) struct H2Pool {
    conns: Arc<Mutex<HashMap<SocketAddr, SendRequest<UpstreamBody>>>>,
}

fn connect_failed(error: String) -> SendError {
    SendError {
        connect: true,
        error,
    }
}

impl H2Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, SendRequest<UpstreamBody>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, addr: SocketAddr) -> Option<SendRequest<UpstreamBody>> {
        let mut conns = self.lock();
        match conns.get(&addr) {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                conns.remove(&addr);
                None
            }
            None => None,
        }
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<SendRequest<UpstreamBody>, SendError> {
        let stream = crate::pool::dial(addr, connect_timeout)
            .await
            .map_err(connect_failed)?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect_failed(format!("HTTP/2 handshake: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(backend = %addr, error = %e, "upstream HTTP/2 connection ended with an error");
            }
        });
        // Two requests racing to connect both succeed; the later connection is kept and
        // the other closes when its streams are done.
        self.lock().insert(addr, sender.clone());
        Ok(sender)
    }

    /// Sends `req` (absolute URI, HTTP/2) to `addr` on its connection, opened if needed.
    /// A request the connection refused before sending it (closed, GOAWAY) is tried once
    /// more on a new connection.
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        mut req: Request<UpstreamBody>,
        connect_timeout: Duration,
    ) -> Result<Response<Incoming>, SendError> {
        let mut pooled = true;
        loop {
            let mut sender = match self.open(addr) {
                Some(s) => s,
                None => {
                    pooled = false;
                    Box::pin(self.connect(addr, connect_timeout)).await?
                }
            };
            if sender.ready().await.is_err() {
                self.lock().remove(&addr);
                if pooled {
                    pooled = false;
                    continue;
                }
                return Err(connect_failed("HTTP/2 connection closed".into()));
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(r) if pooled => {
                        self.lock().remove(&addr);
                        pooled = false;
                        req = r;
                    }
                    Some(_) => return Err(connect_failed(format!("{:?}", e.error()))),
                    None => {
                        return Err(SendError {
                            connect: false,
                            error: format!("{:?}", e.error()),
                        });
                    }
                },
            }
        }
    }
}
