//! The run's artefact manifest, `sha256_manifest.txt`, in the format `sha256sum -c`
//! accepts: one `<hex>  <path>` line per file, paths relative to the project root.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{PipelineError, io_err};

/// File name of the manifest inside a run directory.
pub const MANIFEST_FILE: &str = "sha256_manifest.txt";

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, PipelineError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[must_use]
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Artefact path → hex digest, kept sorted so the manifest's bytes (and hash) are stable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads an existing manifest (for resumed runs); a missing file is an empty manifest.
    pub fn load(path: &Path) -> Result<Manifest, PipelineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(io_err(path)(e)),
        };
        let mut files = BTreeMap::new();
        for line in text.lines() {
            if let Some((hash, file)) = line.split_once("  ") {
                files.insert(file.to_string(), hash.to_string());
            }
        }
        Ok(Manifest { files })
    }

    /// The manifest text.
    #[must_use]
    pub fn render(&self) -> String {
        self.files
            .iter()
            .map(|(path, hash)| format!("{hash}  {path}\n"))
            .collect()
    }

    /// Writes the manifest and returns its own hash.
    pub fn write(&self, path: &Path) -> Result<String, PipelineError> {
        let text = self.render();
        // Its hash goes into the ledger: the file must be whole and on disk before that
        // entry is. Renamed into place, so a symlink there is replaced, not written through.
        gantry_ledger::durable::write_atomic(path, text.as_bytes(), 0o644).map_err(io_err(path))?;
        Ok(sha256_bytes(text.as_bytes()))
    }
}

/// Whether an artefact path is safe to record: relative, no `..`, and nothing `sha256sum`
/// would read differently (newlines, backslashes).
#[must_use]
pub fn valid_artefact_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\n')
        && !path.contains('\\')
        && !path.split('/').any(|seg| seg == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_sorted_sha256sum_format() {
        let mut m = Manifest::default();
        m.files.insert("b".into(), "22".into());
        m.files.insert("a b".into(), "11".into());
        assert_eq!(m.render(), "11  a b\n22  b\n");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(MANIFEST_FILE);
        m.write(&p).unwrap();
        assert_eq!(Manifest::load(&p).unwrap(), m);
    }

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!valid_artefact_path("../x"));
        assert!(!valid_artefact_path("/etc/passwd"));
        assert!(valid_artefact_path("dist/web.txt"));
    }
}
