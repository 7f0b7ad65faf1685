//! `.gantry/tokens.json`: the role tokens, each kept as the SHA-256 of its value only, so
//! the file never holds a usable token. A token is `gantry_` + 64 hex digits (32 random
//! bytes); it is shown once, when created.
//!
//! Writers (create, revoke, last-used updates) hold `.gantry/tokens.lock` and replace the
//! file atomically and durably; readers never see half a file.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{AccessError, Roles};

pub const TOKEN_FILE: &str = "tokens.json";
const LOCK_FILE: &str = "tokens.lock";
const PREFIX: &str = "gantry_";

/// One token as stored: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the token's value.
    pub sha256: String,
    /// RFC 3339 (UTC).
    pub created: String,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub revoked: Option<String>,
    #[serde(default)]
    pub last_used: Option<String>,
}

impl TokenRecord {
    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.expired(now) {
            "expired"
        } else {
            "active"
        }
    }

    fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .is_some_and(|t| t <= now)
    }
}

/// Why a presented token does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No stored token has this value.
    Unknown,
    Expired {
        name: String,
        role: String,
        at: String,
    },
    Revoked {
        name: String,
        role: String,
        at: String,
    },
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Unknown => f.write_str("wrong bearer token"),
            Denied::Expired { name, at, .. } => write!(f, "token '{name}' expired at {at}"),
            Denied::Revoked { name, at, .. } => write!(f, "token '{name}' was revoked at {at}"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// Hex SHA-256 of a token's value: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn timestamp(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The token file of a project's `.gantry/` directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
    /// The file as last parsed, with the stamp it had: every API call authenticates, and
    /// a stat is much cheaper than reading and parsing the file. Writers replace the file
    /// by rename (a new inode), so a token created or revoked by another process is seen
    /// at the next call.
    cached: Arc<Mutex<Option<(Stamp, File1)>>>,
}

/// What identifies one version of the token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
        }
    }
}

impl TokenStore {
    pub fn new(gantry_dir: &Path) -> TokenStore {
        TokenStore {
            dir: gantry_dir.to_path_buf(),
            cached: Arc::default(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(TOKEN_FILE)
    }

    fn io(&self, path: PathBuf) -> impl FnOnce(std::io::Error) -> AccessError {
        move |source| AccessError::Io { path, source }
    }

    fn read(&self) -> Result<File1, AccessError> {
        let path = self.path();
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => Some(Stamp::of(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(path)(e)),
        };
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(stamp), Some((at, file))) = (stamp, cached.as_ref())
            && *at == stamp
        {
            return Ok(file.clone());
        }
        let file = self.read_file(path)?;
        // Stamped before the read: a write in between makes the next call read again.
        *cached = stamp.map(|s| (s, file.clone()));
        Ok(file)
    }

    fn read_file(&self, path: PathBuf) -> Result<File1, AccessError> {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(File1 {
                    version: 1,
                    tokens: Vec::new(),
                });
            }
            Err(e) => return Err(self.io(path)(e)),
        };
        serde_json::from_str(&text).map_err(|source| AccessError::Corrupt { path, source })
    }

    /// Runs `change` on the file's contents under the writers' lock and writes the result.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut File1) -> Result<T, AccessError>,
    ) -> Result<T, AccessError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(self.io(lock_path.clone()))?;
        lock.lock().map_err(self.io(lock_path))?;
        let mut file = self.read()?;
        let out = change(&mut file)?;
        file.version = 1;
        let mut bytes = serde_json::to_vec_pretty(&file).expect("token records serialise");
        bytes.push(b'\n');
        gantry_ledger::durable::write_atomic(&self.path(), &bytes, 0o600)
            .map_err(self.io(self.path()))?;
        Ok(out)
    }

    pub fn list(&self) -> Result<Vec<TokenRecord>, AccessError> {
        Ok(self.read()?.tokens)
    }

    /// A new token for `role` (which `roles` must know); returns its record and its value,
    /// which is nowhere else. The name defaults to `ROLE-N`.
    pub fn create(
        &self,
        name: Option<&str>,
        role: &str,
        roles: &Roles,
        expires_in: Option<Duration>,
        now: OffsetDateTime,
    ) -> Result<(TokenRecord, String), AccessError> {
        roles.check(role)?;
        if let Some(n) = name
            && !valid_name(n)
        {
            return Err(AccessError::BadName(n.to_string()));
        }
        let value = format!("{PREFIX}{}", hex::encode(random_bytes()?));
        let expires = expires_in.map(|d| timestamp(now + d));
        self.update(|file| {
            let name = match name {
                Some(n) => n.to_string(),
                None => (1..)
                    .map(|i| format!("{role}-{i}"))
                    .find(|n| !file.tokens.iter().any(|t| &t.name == n))
                    .expect("an unused name"),
            };
            if file.tokens.iter().any(|t| t.name == name) {
                return Err(AccessError::NameTaken(name));
            }
            let record = TokenRecord {
                name,
                role: role.to_string(),
                sha256: hash_token(&value),
                created: timestamp(now),
                expires,
                revoked: None,
                last_used: None,
            };
            file.tokens.push(record.clone());
            Ok((record, value.clone()))
        })
    }

    pub fn revoke(&self, name: &str, now: OffsetDateTime) -> Result<TokenRecord, AccessError> {
        self.update(|file| {
            let known = file
                .tokens
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let t = file
                .tokens
                .iter_mut()
                .find(|t| t.name == name)
                .ok_or_else(|| AccessError::NoSuchToken {
                    name: name.to_string(),
                    known,
                })?;
            if t.revoked.is_some() {
                return Err(AccessError::AlreadyRevoked(name.to_string()));
            }
            t.revoked = Some(timestamp(now));
            Ok(t.clone())
        })
    }

    /// Records that `name` was used at `now`.
    pub fn touch(&self, name: &str, now: OffsetDateTime) -> Result<(), AccessError> {
        self.update(|file| {
            if let Some(t) = file.tokens.iter_mut().find(|t| t.name == name) {
                t.last_used = Some(timestamp(now));
            }
            Ok(())
        })
    }

    /// Who `token` is: its record if it is stored, not revoked and not expired. Every
    /// stored hash is compared, each in constant time, so timing tells nothing about how
    /// close a guess came.
    pub fn authenticate(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Result<TokenRecord, Denied>, AccessError> {
        let given = hash_token(token);
        let mut found = None;
        for t in self.read()?.tokens {
            if bool::from(t.sha256.as_bytes().ct_eq(given.as_bytes())) {
                found = Some(t);
            }
        }
        let Some(t) = found else {
            return Ok(Err(Denied::Unknown));
        };
        if let Some(at) = &t.revoked {
            return Ok(Err(Denied::Revoked {
                name: t.name.clone(),
                role: t.role.clone(),
                at: at.clone(),
            }));
        }
        if t.expired(now) {
            return Ok(Err(Denied::Expired {
                name: t.name.clone(),
                role: t.role.clone(),
                at: t.expires.clone().unwrap_or_default(),
            }));
        }
        Ok(Ok(t))
    }
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn random_bytes() -> Result<[u8; 32], AccessError> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(AccessError::Random)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_token_created_or_revoked_by_another_process_counts_at_the_next_call() {
        let dir = tempfile::tempdir().unwrap();
        // The control plane's store, warm, and the CLI's (another process) on the same file.
        let serve = TokenStore::new(dir.path());
        let cli = TokenStore::new(dir.path());
        let roles = Roles::default();
        let (_, first) = cli
            .create(Some("a"), "viewer", &roles, None, now())
            .unwrap();
        assert!(serve.authenticate(&first, now()).unwrap().is_ok());
        let (_, second) = cli
            .create(Some("b"), "viewer", &roles, None, now())
            .unwrap();
        assert!(serve.authenticate(&second, now()).unwrap().is_ok());
        cli.revoke("a", now()).unwrap();
        assert!(matches!(
            serve.authenticate(&first, now()).unwrap(),
            Err(Denied::Revoked { .. })
        ));
        // The file gone: no token is known any more.
        std::fs::remove_file(cli.path()).unwrap();
        assert!(matches!(
            serve.authenticate(&second, now()).unwrap(),
            Err(Denied::Unknown)
        ));
    }

    #[test]
    fn the_file_holds_only_hashes_and_tokens_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let roles = Roles::default();
        let (rec, value) = store
            .create(Some("ci"), "operator", &roles, None, now())
            .unwrap();
        assert!(value.starts_with("gantry_") && value.len() == 71, "{value}");
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&value[7..]), "the token is in the file");
        assert!(text.contains(&rec.sha256));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            store.authenticate(&value, now()).unwrap().unwrap().role,
            "operator"
        );
        assert_eq!(
            store.authenticate("gantry_nope", now()).unwrap(),
            Err(Denied::Unknown)
        );
        // Names default to ROLE-N and never repeat.
        let (a, _) = store.create(None, "viewer", &roles, None, now()).unwrap();
        let (b, _) = store.create(None, "viewer", &roles, None, now()).unwrap();
        assert_eq!((a.name.as_str(), b.name.as_str()), ("viewer-1", "viewer-2"));
        assert!(matches!(
            store.create(Some("ci"), "viewer", &roles, None, now()),
            Err(AccessError::NameTaken(_))
        ));
        assert!(matches!(
            store.create(Some("x"), "root", &roles, None, now()),
            Err(AccessError::UnknownRole { .. })
        ));
        assert!(matches!(
            store.create(Some("a b"), "viewer", &roles, None, now()),
            Err(AccessError::BadName(_))
        ));
    }

    #[test]
    fn expired_and_revoked_tokens_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let roles = Roles::default();
        let (_, short) = store
            .create(
                Some("short"),
                "viewer",
                &roles,
                Some(Duration::from_secs(60)),
                now(),
            )
            .unwrap();
        let (_, gone) = store
            .create(Some("gone"), "viewer", &roles, None, now())
            .unwrap();
        assert!(store.authenticate(&short, now()).unwrap().is_ok());
        let later = now() + Duration::from_secs(61);
        let denied = store.authenticate(&short, later).unwrap().unwrap_err();
        assert_eq!(
            denied.to_string(),
            "token 'short' expired at 2027-01-15T08:01:00Z"
        );
        store.revoke("gone", now()).unwrap();
        let denied = store.authenticate(&gone, now()).unwrap().unwrap_err();
        assert!(
            denied
                .to_string()
                .starts_with("token 'gone' was revoked at"),
            "{denied}"
        );
        assert!(matches!(
            store.revoke("gone", now()),
            Err(AccessError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            store.revoke("nope", now()),
            Err(AccessError::NoSuchToken { .. })
        ));
        store.touch("short", later).unwrap();
        let listed = store.list().unwrap();
        assert_eq!(listed[0].last_used.as_deref(), Some("2027-01-15T08:01:01Z"));
        assert_eq!(listed[0].status(later), "expired");
        assert_eq!(listed[1].status(later), "revoked");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        std::fs::write(store.path(), "{not json").unwrap();
        let err = store.list().unwrap_err().to_string();
        assert!(
            err.contains("tokens.json is not a valid token store"),
            "{err}"
        );
    }
}
