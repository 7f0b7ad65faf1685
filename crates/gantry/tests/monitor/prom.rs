//! A real Prometheus (Debian `prometheus`) on loopback, scraping gantry's `/metrics` every
//! second with the admin token, for the tests that need one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

/// The `prometheus` binary; `None` (with the reason printed) when it is missing outside
/// CI. Under `CI` a missing peer fails the test.
pub fn binary() -> Option<PathBuf> {
    let found = which("prometheus");
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus is not installed (apt-get install -y prometheus; scripts/test.sh does)"
        );
        eprintln!("skipped: prometheus is not installed (apt-get install -y prometheus)");
    }
    found
}

impl Prometheus {
    /// Starts `bin` on `port`, scraping `api` (HOST:PORT of `gantry serve`) with the token
    /// in `token_file`; its files go under `dir`.
    pub fn start(bin: &Path, dir: &Path, port: u16, api: &str, token_file: &Path) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nscrape_configs:\n  - job_name: gantry\n    authorization: {{ credentials_file: {} }}\n    static_configs: [ {{ targets: [\"{api}\"] }} ]\n",
                token_file.display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// The first sample's value of an instant query, as Prometheus writes it.
    pub fn query(&self, q: &str) -> Option<Value> {
        let out = Command::new("curl")
            .args(["-sf", "--get", "--data-urlencode", &format!("query={q}")])
            .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["data"]["result"]
            .as_array()
            .filter(|r| !r.is_empty())
            .map(|r| r[0]["value"][1].clone())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f`; on a panic prints Prometheus' log first.
pub fn with_log<T>(prom: &Prometheus, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("prometheus log:\n{}", prom.log());
            std::panic::resume_unwind(e)
        }
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
