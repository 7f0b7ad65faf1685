//! Monitoring integration tests: `gantry status` against real HTTP, TCP and exec targets on
//! 127.0.0.1, and against the real control plane with demo-app instances.

mod alerts;
mod check;
mod metrics_families;
mod notify;
mod prom;
mod prometheus_analysis;
mod receiver;
mod run_notify;
mod schedule;
mod serve;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A real HTTP/1.1 server on loopback whose answer the test changes as it goes.
pub struct HttpTarget {
    pub addr: SocketAddr,
    pub status: Arc<AtomicU16>,
    pub body: Arc<Mutex<String>>,
    pub hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl HttpTarget {
    pub fn start() -> HttpTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let body = Arc::new(Mutex::new("ok".to_string()));
        let hits = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, b, h, st) = (status.clone(), body.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Acquire) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (s, b, h) = (s.clone(), b.clone(), h.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    // The request head, up to its empty line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    h.fetch_add(1, Ordering::AcqRel);
                    let body = b.lock().unwrap().clone();
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        s.load(Ordering::Acquire),
                        body.len()
                    );
                });
            }
        });
        HttpTarget {
            addr,
            status,
            body,
            hits,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer(&self, status: u16, body: &str) {
        self.status.store(status, Ordering::Release);
        *self.body.lock().unwrap() = body.to_string();
    }
}

impl Drop for HttpTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}
