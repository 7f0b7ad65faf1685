//! TLS on a service's listener (rustls, ring provider): PEM certificate chain and key
//! read from files, ALPN `h2` and `http/1.1`, and the files re-read when they change so
//! a renewed certificate is served to new connections without a restart. Open
//! connections keep the certificate they were made with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A listener's certificate and key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate or key could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    pub path: PathBuf,
    pub message: String,
}

/// How often the files' modification times are looked at, at most: often enough that
/// a renewal is picked up at once, rarely enough that a connection burst costs no I/O.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies one version of the files: modification time and length of each.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(files: &TlsFiles) -> Stamp {
    let one = |p: &Path| std::fs::metadata(p).map_or((None, 0), |m| (m.modified().ok(), m.len()));
    [one(&files.cert), one(&files.key)]
}

fn fail(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads and checks the files: a chain with at least one certificate and a key that
/// matches it.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| fail(&files.cert, format!("cannot read the certificate: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(&files.cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(fail(&files.cert, "no CERTIFICATE block in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| fail(&files.key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&files.cert, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(&files.key, format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

struct Current {
    stamp: Stamp,
    config: Arc<ServerConfig>,
    checked: Instant,
}

/// The acceptor of a listener, following its files.
pub(crate) struct TlsReloader {
    files: TlsFiles,
    current: Mutex<Current>,
}

impl TlsReloader {
    pub(crate) fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let stamp = stamp(&files);
        let config = load(&files)?;
        Ok(TlsReloader {
            files,
            current: Mutex::new(Current {
                stamp,
                config,
                checked: Instant::now(),
            }),
        })
    }

    /// The acceptor for a new connection: the files as they are now, if they changed and
    /// still load; otherwise the last good ones (a half-written renewal is not served).
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= CHECK_EVERY {
            current.checked = Instant::now();
            let now = stamp(&self.files);
            if now != current.stamp {
                match load(&self.files) {
                    Ok(config) => {
                        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                        current.stamp = now;
                        current.config = config;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS files changed but do not load; keeping the previous certificate");
                    }
                }
            }
        }
        TlsAcceptor::from(Arc::clone(&current.config))
    }
}
