//! A bounded load generator on 127.0.0.1: a few keep-alive connections sending `GET /` at a
//! steady rate, counting every answer by status and by the `x-version` that served it, and
//! every request that got no answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the load saw.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    pub requests: u64,
    /// (status, x-version or "-") → count.
    pub answers: BTreeMap<(u16, String), u64>,
    /// Requests that got no HTTP answer (connect error, reset, early close, timeout).
    pub no_answer: u64,
    pub first_errors: Vec<String>,
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u64>,
}

impl LoadStats {
    /// Failed requests: no answer, or a 5xx not served by one of `bad_versions` (the
    /// deliberately bad releases).
    pub fn failures(&self, bad_versions: &[&str]) -> u64 {
        self.no_answer
            + self
                .answers
                .iter()
                .filter(|((status, version), _)| {
                    *status >= 500 && !bad_versions.contains(&version.as_str())
                })
                .map(|(_, n)| n)
                .sum::<u64>()
    }

    /// Answers served by `version`.
    pub fn served_by(&self, version: &str) -> u64 {
        self.answers
            .iter()
            .filter(|((_, v), _)| v == version)
            .map(|(_, n)| n)
            .sum()
    }

    /// The `q` quantile (0..=1) of answered requests' latency, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        v[i] as f64 / 1000.0
    }

    pub fn with_status(&self, status: u16) -> u64 {
        self.answers
            .iter()
            .filter(|((s, _), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Running load; stop it with [`Load::stop`] (or drop it).
pub struct Load {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<LoadStats>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    /// `connections` workers together sending about `rate` requests per second to `addr`.
    pub fn start(addr: SocketAddr, rate: u32, connections: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(LoadStats::default()));
        let per = Duration::from_secs_f64(f64::from(connections.max(1)) / f64::from(rate.max(1)));
        let workers = (0..connections.max(1))
            .map(|_| {
                let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
                std::thread::spawn(move || worker(addr, per, &stop, &stats))
            })
            .collect();
        Load {
            stop,
            stats,
            workers,
        }
    }

    /// What was seen so far.
    pub fn snapshot(&self) -> LoadStats {
        self.stats.lock().unwrap().clone()
    }

    /// Stops and returns the totals.
    pub fn stop(mut self) -> LoadStats {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.halt();
    }
}

enum Outcome {
    Answer(u16, String),
    /// The server closed an idle keep-alive connection before we sent: not a failure
    /// (every HTTP client retries this), reconnect and send again.
    Stale,
    Failed(String),
}

fn worker(addr: SocketAddr, per: Duration, stop: &AtomicBool, stats: &Mutex<LoadStats>) {
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut next = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += per;
        let mut outcome = Outcome::Stale;
        let sent = Instant::now();
        for _ in 0..2 {
            let fresh = conn.is_none();
            if conn.is_none() {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    Ok(s) => {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = s.set_nodelay(true);
                        conn = Some(BufReader::new(s));
                    }
                    Err(e) => {
                        outcome = Outcome::Failed(format!("connect: {e}"));
                        break;
                    }
                }
            }
            let c = conn.as_mut().expect("connected");
            outcome = request(c, fresh);
            match outcome {
                Outcome::Answer(..) => break,
                Outcome::Stale if !fresh => conn = None,
                _ => {
                    conn = None;
                    break;
                }
            }
        }
        let mut s = stats.lock().unwrap();
        s.requests += 1;
        match outcome {
            Outcome::Answer(status, version) => {
                *s.answers.entry((status, version)).or_default() += 1;
                s.latencies_us
                    .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Outcome::Stale => {
                s.no_answer += 1;
                if s.first_errors.len() < 10 {
                    s.first_errors.push("connection closed twice".into());
                }
            }
            Outcome::Failed(e) => {
                s.no_answer += 1;
                if s.first_errors.len() < 10 {
                    s.first_errors.push(e);
                }
            }
        }
    }
}

fn request(conn: &mut BufReader<TcpStream>, fresh: bool) -> Outcome {
    let req = "GET / HTTP/1.1\r\nHost: load\r\nUser-Agent: gantry-test-load\r\n\r\n";
    if let Err(e) = conn.get_mut().write_all(req.as_bytes()) {
        return if fresh {
            Outcome::Failed(format!("write: {e}"))
        } else {
            Outcome::Stale
        };
    }
    let mut line = String::new();
    match conn.read_line(&mut line) {
        Ok(0) if !fresh => return Outcome::Stale,
        Ok(0) => return Outcome::Failed("closed before an answer".into()),
        Err(e) if !fresh && e.kind() == std::io::ErrorKind::ConnectionReset => {
            return Outcome::Stale;
        }
        Err(e) => return Outcome::Failed(format!("read: {e}")),
        Ok(_) => {}
    }
    let Some(status) = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Outcome::Failed(format!("bad status line {line:?}"));
    };
    let (mut length, mut chunked, mut version, mut close) = (None, false, "-".to_string(), false);
    loop {
        let mut h = String::new();
        match conn.read_line(&mut h) {
            Ok(0) | Err(_) => return Outcome::Failed("closed in headers".into()),
            Ok(_) => {}
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse::<u64>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "x-version" => version = value.to_string(),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body_ok = if chunked {
        read_chunked(conn)
    } else if let Some(n) = length {
        std::io::copy(&mut conn.by_ref().take(n), &mut std::io::sink()).is_ok_and(|got| got == n)
    } else {
        close = true;
        std::io::copy(conn, &mut std::io::sink()).is_ok()
    };
    if !body_ok {
        return Outcome::Failed("body cut short".into());
    }
    if close {
        let _ = conn.get_mut().shutdown(std::net::Shutdown::Both);
    }
    Outcome::Answer(status, version)
}

fn read_chunked(conn: &mut BufReader<TcpStream>) -> bool {
    loop {
        let mut size = String::new();
        if conn.read_line(&mut size).unwrap_or(0) == 0 {
            return false;
        }
        let Ok(n) = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16) else {
            return false;
        };
        let want = n + 2;
        if std::io::copy(&mut conn.by_ref().take(want), &mut std::io::sink())
            .map_or(true, |g| g != want)
        {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}
