use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use gantry_ledger::{generate_key, key_from_pem, key_to_pem};

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(
        "no private key for role '{role}': expected {path} or ${env}; create one with `gantry agent keygen {role}`"
    )]
    Missing {
        role: String,
        path: PathBuf,
        env: String,
    },
    #[error(
        "{path} has mode {mode:04o}; private keys must be 0600 (run `chmod 600 {path}`)",
        path = path.display()
    )]
    BadMode { path: PathBuf, mode: u32 },
    #[error("{path} already exists; refusing to overwrite a private key", path = path.display())]
    Exists { path: PathBuf },
    #[error("{source_name}: not a valid Ed25519 PKCS#8 PEM key: {reason}")]
    BadKey { source_name: String, reason: String },
    #[error("role name '{0}' is not valid: use letters, digits, '-' and '_'")]
    BadRole(String),
    #[error("{path}: {err}", path = path.display())]
    Io { path: PathBuf, err: std::io::Error },
}

/// Where a loaded key came from, so `agent list` can say which roles can sign here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(var) => write!(f, "${var}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The environment variable that may carry a role's private key.
pub fn env_var_for(role: &str) -> String {
    let mut name = String::from("GANTRY_KEY_");
    name.extend(role.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    name
}

fn check_role(role: &str) -> Result<(), KeyStoreError> {
    let ok = !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::BadRole(role.to_string()))
    }
}

/// The directory of private keys, one PEM file per role.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_for(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.pem"))
    }

    /// Creates a new key for `role`, written with mode 0600 from the first byte on.
    pub fn generate(&self, role: &str) -> Result<SigningKey, KeyStoreError> {
        check_role(role)?;
        let key = generate_key();
        self.save(role, &key, false)?;
        Ok(key)
    }

    /// Writes `key` as the key of `role`. The file is written beside the old one and renamed
    /// over it, so a crash leaves one complete key file, never a half-written one.
    pub fn save(&self, role: &str, key: &SigningKey, replace: bool) -> Result<(), KeyStoreError> {
        check_role(role)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |err| KeyStoreError::Io { path, err }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io(&self.dir))?;
        let path = self.path_for(role);
        if !replace && path.exists() {
            return Err(KeyStoreError::Exists { path });
        }
        let tmp = self.dir.join(format!(".{role}.pem.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(key_to_pem(key).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Loads the key of `role`: the environment variable first (CI), then the key file.
    pub fn load(&self, role: &str) -> Result<(SigningKey, KeySource), KeyStoreError> {
        self.load_with(role, |name| std::env::var(name).ok())
    }

    /// As [`KeyStore::load`], with the environment passed in (tests, and callers that
    /// resolved it already).
    pub fn load_with(
        &self,
        role: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(SigningKey, KeySource), KeyStoreError> {
        check_role(role)?;
        let var = env_var_for(role);
        if let Some(pem) = env(&var).filter(|v| !v.trim().is_empty()) {
            let key = key_from_pem(&pem).map_err(|e| KeyStoreError::BadKey {
                source_name: format!("${var}"),
                reason: e.to_string(),
            })?;
            return Ok((key, KeySource::Env(var)));
        }
        let path = self.path_for(role);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyStoreError::Missing {
                    role: role.to_string(),
                    path,
                    env: var,
                });
            }
            Err(err) => return Err(KeyStoreError::Io { path, err }),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode != 0o600 {
            return Err(KeyStoreError::BadMode { path, mode });
        }
        let pem = fs::read_to_string(&path).map_err(|err| KeyStoreError::Io {
            path: path.clone(),
            err,
        })?;
        let key = key_from_pem(&pem).map_err(|e| KeyStoreError::BadKey {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok((key, KeySource::File(path)))
    }

    /// Whether a key for `role` is available here, without loading it.
    pub fn source_of(&self, role: &str) -> Option<KeySource> {
        let var = env_var_for(role);
        if std::env::var(&var).is_ok_and(|v| !v.trim().is_empty()) {
            return Some(KeySource::Env(var));
        }
        let path = self.path_for(role);
        path.exists().then_some(KeySource::File(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_are_shell_safe() {
        assert_eq!(env_var_for("planner"), "GANTRY_KEY_PLANNER");
        assert_eq!(env_var_for("release-bot"), "GANTRY_KEY_RELEASE_BOT");
    }

    #[test]
    fn generated_key_is_0600_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys"));
        let key = store.generate("planner").unwrap();
        let mode = fs::metadata(store.path_for("planner"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (loaded, source) = store.load_with("planner", |_| None).unwrap();
        assert_eq!(loaded.to_bytes(), key.to_bytes());
        assert_eq!(source, KeySource::File(store.path_for("planner")));
        assert!(matches!(
            store.generate("planner"),
            Err(KeyStoreError::Exists { .. })
        ));
    }

    #[test]
    fn loose_mode_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        store.generate("operator").unwrap();
        fs::set_permissions(
            store.path_for("operator"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = store.load_with("operator", |_| None).unwrap_err();
        assert!(
            matches!(err, KeyStoreError::BadMode { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn env_key_wins_and_missing_key_names_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let pem = key_to_pem(&generate_key());
        let (_, source) = store
            .load_with("verifier", |v| {
                (v == "GANTRY_KEY_VERIFIER").then(|| pem.clone())
            })
            .unwrap();
        assert_eq!(source, KeySource::Env("GANTRY_KEY_VERIFIER".into()));
        let err = store
            .load_with("verifier", |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("verifier.pem") && err.contains("$GANTRY_KEY_VERIFIER"),
            "{err}"
        );
        let bad = store
            .load_with("verifier", |_| Some("garbage".into()))
            .unwrap_err();
        assert!(bad.to_string().contains("$GANTRY_KEY_VERIFIER"), "{bad}");
    }

    #[test]
    fn role_names_cannot_escape_the_key_directory() {
        let store = KeyStore::new("/nonexistent");
        assert!(matches!(
            store.generate("../x"),
            Err(KeyStoreError::BadRole(_))
        ));
    }
}
