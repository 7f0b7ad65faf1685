//! The answers the router makes itself when a request cannot be forwarded, and what each
//! one records: shared by the hyper path ([`crate::proxy`]) and the fast HTTP/1.1 path
//! ([`crate::h1`]), so both say and count the same.

use std::time::{Duration, Instant};

use hyper::StatusCode;

use crate::client_body::ClientFault;
use crate::config::ServiceConfig;
use crate::metrics::ServiceCounters;
use crate::service::ServiceState;
use crate::table::{Snapshot, Target, VersionTargets};

/// A short plain-text answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) text: String,
    pub(crate) retry_after: Option<&'static str>,
    /// The connection is not kept after it.
    pub(crate) close: bool,
}

impl Answer {
    fn new(status: StatusCode, text: String) -> Self {
        Answer {
            status,
            text,
            retry_after: None,
            close: false,
        }
    }

    fn retry_after(mut self, secs: &'static str) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// The answer before any backend is tried: the service is stopped or has none ready.
pub(crate) fn before_routing(svc: &ServiceState, snapshot: &Snapshot) -> Option<Answer> {
    if snapshot.emergency_stop {
        ServiceCounters::bump(&svc.counters.emergency_rejected);
        let text = format!("service {} is stopped\n", svc.name);
        return Some(Answer::new(StatusCode::SERVICE_UNAVAILABLE, text).retry_after("5"));
    }
    if !snapshot.is_routable() {
        ServiceCounters::bump(&svc.counters.no_backend);
        let text = format!("no ready backend for service {}\n", svc.name);
        return Some(Answer::new(StatusCode::SERVICE_UNAVAILABLE, text));
    }
    None
}

/// A connection past the listener's cap.
pub(crate) fn at_capacity(service: &str) -> Answer {
    let text = format!("service {service} is at its connection limit\n");
    let mut answer = Answer::new(StatusCode::SERVICE_UNAVAILABLE, text).retry_after("1");
    answer.close = true;
    answer
}

/// Every candidate failed (`tried` some) or the table emptied meanwhile.
pub(crate) fn no_reachable_backend(svc: &ServiceState, tried_any: bool) -> Answer {
    ServiceCounters::bump(&svc.counters.no_backend);
    let status = if tried_any {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let text = format!("no reachable backend for service {}\n", svc.name);
    Answer::new(status, text)
}

/// A request that failed on the client's side: counted for the service, never for a
/// version, and the connection is not kept (its state is unknown).
pub(crate) fn client_fault(svc: &ServiceState, fault: &ClientFault) -> Answer {
    ServiceCounters::bump(&svc.counters.client_errors);
    tracing::debug!(service = %svc.name, ?fault, "client error");
    let mut answer = Answer::new(fault.status(), fault.message());
    answer.close = true;
    answer
}

/// Where a failed attempt happened, for what is recorded and logged.
pub(crate) struct Attempt<'a> {
    pub(crate) svc: &'a ServiceState,
    pub(crate) settings: &'a ServiceConfig,
    pub(crate) version: &'a VersionTargets,
    pub(crate) target: &'a Target,
    pub(crate) started: Instant,
    pub(crate) now: u64,
}

impl Attempt<'_> {
    /// No response head within the upstream timeout: the version's error, 504.
    pub(crate) fn timed_out(&self) -> Answer {
        let status = StatusCode::GATEWAY_TIMEOUT;
        let metrics = &self.version.metrics;
        metrics.record_upstream_error(self.now);
        metrics.record_response(self.now, status.as_u16(), self.started.elapsed());
        let waited: Duration = self.settings.response_header_timeout;
        tracing::warn!(service = %self.svc.name, version = %self.version.version, backend = %self.target.addr, ?waited, "upstream did not answer in time");
        let text = format!(
            "version {} of service {} did not answer within {waited:?}\n",
            self.version.version, self.svc.name
        );
        Answer::new(status, text)
    }

    /// No connection slot of the backend came free: overload, not a fault of the
    /// version's answers, so 503 and counted apart.
    pub(crate) fn queue_full(&self) -> Answer {
        ServiceCounters::bump(&self.svc.counters.queue_timeouts);
        tracing::warn!(service = %self.svc.name, version = %self.version.version, backend = %self.target.addr, waited = ?self.settings.queue_timeout, "no connection to the backend came free");
        let text = format!("service {} is busy; try again\n", self.svc.name);
        Answer::new(StatusCode::SERVICE_UNAVAILABLE, text).retry_after("1")
    }

    /// Counts a failed exchange against the version (`connect`: nothing was sent).
    pub(crate) fn record_error(&self, connect: bool) {
        if connect {
            self.version.metrics.record_connect_error(self.now);
        } else {
            self.version.metrics.record_upstream_error(self.now);
        }
    }

    pub(crate) fn log_retry(&self, error: &str) {
        tracing::debug!(service = %self.svc.name, version = %self.version.version, backend = %self.target.addr, %error, "retrying on another backend");
    }

    /// The exchange failed and is not retried: 502, the version's.
    pub(crate) fn failed(&self, error: &str) -> Answer {
        let status = StatusCode::BAD_GATEWAY;
        let metrics = &self.version.metrics;
        metrics.record_response(self.now, status.as_u16(), self.started.elapsed());
        tracing::warn!(service = %self.svc.name, version = %self.version.version, backend = %self.target.addr, %error, "upstream failed");
        let text = format!(
            "version {} of service {} failed to answer\n",
            self.version.version, self.svc.name
        );
        Answer::new(status, text)
    }
}
