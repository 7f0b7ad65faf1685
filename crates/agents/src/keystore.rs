use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use gantry_ledger::links::{Link, classify};
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
    #[error(
        "{path} has mode {mode:04o}; the keys directory must be 0700, so that no other user can \
         add, swap or list keys (run `chmod 700 {path}`)",
        path = path.display()
    )]
    BadDirMode { path: PathBuf, mode: u32 },
    #[error(
        "{path} is a symlink to {target}, {why}; keys are used only from inside {root}: move \
         them there instead of linking to them",
        path = path.display(),
        target = target.display(),
        root = root.display()
    )]
    Symlink {
        path: PathBuf,
        target: PathBuf,
        why: String,
        root: PathBuf,
    },
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
///
/// The directory must be mode 0700 and each key file 0600. The directory and the key files
/// may be symlinks only to places inside the directory's parent (`.gantry/`): a link out
/// would let whoever controls its target choose the keys gantry signs with.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The key store in `dir` (`.gantry/keys`), confined to `dir`'s parent.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    /// What symlinks in the store may point into: the keys directory's parent.
    fn root(&self) -> &Path {
        self.dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Refuses `path` if it is a symlink that resolves outside [`KeyStore::root`] (or does
    /// not resolve); anything that is not a symlink passes.
    fn confine(&self, path: &Path) -> Result<(), KeyStoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |err| KeyStoreError::Io { path, err }
        };
        let root = self.root();
        // Only a symlink needs the root resolved (which may not exist yet): a missing or
        // plain path passes as it is.
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(io(path)(err)),
        }
        let root_resolved = fs::canonicalize(root).map_err(io(root))?;
        let refuse = |target: PathBuf, why: String| KeyStoreError::Symlink {
            path: path.to_path_buf(),
            target,
            why,
            root: root.to_path_buf(),
        };
        match classify(path, &root_resolved).map_err(io(path))? {
            Link::NotALink | Link::Inside => Ok(()),
            Link::Dangling { target, error } => {
                Err(refuse(target, format!("which does not resolve ({error})")))
            }
            Link::Outside { target, resolved } if resolved == target => {
                Err(refuse(target, format!("outside {}", root.display())))
            }
            Link::Outside { target, resolved } => Err(refuse(
                target,
                format!(
                    "which is {}, outside {}",
                    resolved.display(),
                    root.display()
                ),
            )),
        }
    }

    /// Checks the keys directory, if it exists: not a symlink out of the store's root, a
    /// directory, and no access for group or others. Returns whether it exists.
    fn check_dir(&self) -> Result<bool, KeyStoreError> {
        self.confine(&self.dir)?;
        let meta = match fs::metadata(&self.dir) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => {
                return Err(KeyStoreError::Io {
                    path: self.dir.clone(),
                    err,
                });
            }
        };
        if !meta.is_dir() {
            return Err(KeyStoreError::Io {
                path: self.dir.clone(),
                err: std::io::Error::other("not a directory; it should hold the private keys"),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::BadDirMode {
                path: self.dir.clone(),
                mode,
            });
        }
        Ok(true)
    }

    /// Creates the keys directory with mode 0700 from the start, or checks the one there.
    fn ensure_dir(&self) -> Result<(), KeyStoreError> {
        if self.check_dir()? {
            return Ok(());
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |err| KeyStoreError::Io { path, err }
        };
        let root = self.root();
        fs::create_dir_all(root).map_err(io(root))?;
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {
                // A umask can only remove bits; this makes it exactly 0700.
                fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                    .map_err(io(&self.dir))?;
                // The keys' own fsyncs make their names durable in this directory; this
                // makes the directory's name durable in its parent.
                gantry_ledger::durable::sync_dir(root).map_err(io(root))
            }
            // Made by another process in the meantime: check that one.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                self.check_dir().map(drop)
            }
            Err(err) => Err(io(&self.dir)(err)),
        }
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
        self.ensure_dir()?;
        let path = self.path_for(role);
        // A dangling symlink counts as there: it is never silently replaced by a new key.
        if !replace && fs::symlink_metadata(&path).is_ok() {
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
        // The rename is durable only once the directory is: a key that vanishes after a
        // crash would leave its `agent.registered` entry pointing at nothing.
        gantry_ledger::durable::sync_dir(&self.dir).map_err(io(&self.dir))?;
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
        self.check_dir()?;
        self.confine(&path)?;
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
        let store = KeyStore::new(dir.path().join("keys"));
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
        let store = KeyStore::new(dir.path().join("keys"));
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
