//! cgroup v2: one cgroup per instance under `gantry/` in a subtree gantry may write, holding
//! `memory.max` (with `memory.swap.max` 0, so the limit is not dodged by swapping) and
//! `cpu.max`, and counting OOM kills in `memory.events`.
//!
//! The subtree is the root of a cgroup2 mount when it is writable (gantry runs as root) and
//! has the controllers the limits need enabled in its `cgroup.subtree_control`. A subtree of
//! our own cgroup is not used: cgroup v2 forbids controllers on a cgroup that holds processes
//! (gantry's own), and a systemd delegation would need gantry started in a scope of its own.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use gantry_deploy::Limits;

/// `cpu.max`'s period: 100 ms, the kernel's default and what Kubernetes writes.
const CPU_PERIOD_US: u64 = 100_000;

/// A directory under which instance cgroups can be created.
#[derive(Debug, Clone)]
pub(crate) struct CgroupRoot {
    /// `<mount>/gantry`.
    dir: PathBuf,
}

/// One instance's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    pub(crate) dir: PathBuf,
}

/// The cgroup2 mount points in `/proc/self/mountinfo` text (field 5 is the mount point; the
/// filesystem type follows the ` - ` separator).
fn cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .collect()
}

fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The controllers `limits` needs.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut out = Vec::new();
    if limits.memory_bytes.is_some() {
        out.push("memory");
    }
    if limits.cpu_millis.is_some() {
        out.push("cpu");
    }
    out
}

impl CgroupRoot {
    /// The first cgroup2 mount on this machine where gantry can hold `limits`, with
    /// `gantry/` created under it; `None` (and why) where there is none.
    pub(crate) fn discover(limits: &Limits) -> Result<CgroupRoot, String> {
        let info = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let mounts = cgroup2_mounts(&info);
        if mounts.is_empty() {
            return Err("no cgroup2 filesystem is mounted".into());
        }
        let mut why = Vec::new();
        for mount in mounts {
            match CgroupRoot::at(&mount, limits) {
                Ok(root) => return Ok(root),
                Err(e) => why.push(format!("{}: {e}", mount.display())),
            }
        }
        Err(why.join("; "))
    }

    /// `gantry/` under the cgroup `parent`, if `parent` delegates the controllers `limits`
    /// needs and can be written.
    pub(crate) fn at(parent: &Path, limits: &Limits) -> Result<CgroupRoot, String> {
        let enabled = words(&parent.join("cgroup.subtree_control"));
        let missing: Vec<&str> = needed(limits)
            .into_iter()
            .filter(|c| !enabled.iter().any(|e| e == c))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "controller(s) {} not enabled in cgroup.subtree_control",
                missing.join(", ")
            ));
        }
        let dir = parent.join("gantry");
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
        // Children of gantry/ get the controllers only if gantry/ hands them down.
        let want: Vec<String> = needed(limits).iter().map(|c| format!("+{c}")).collect();
        if !want.is_empty() {
            let have = words(&dir.join("cgroup.subtree_control"));
            if !needed(limits).iter().all(|c| have.iter().any(|h| h == c)) {
                fs::write(dir.join("cgroup.subtree_control"), want.join(" ")).map_err(|e| {
                    format!(
                        "cannot enable {} in {}: {e}",
                        want.join(" "),
                        dir.join("cgroup.subtree_control").display()
                    )
                })?;
            }
        }
        Ok(CgroupRoot { dir })
    }

    /// Creates (or reuses) the cgroup `name` and writes `limits` into it.
    pub(crate) fn create(&self, name: &str, limits: &Limits) -> io::Result<Cgroup> {
        let dir = self.dir.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let cg = Cgroup { dir };
        if let Some(bytes) = limits.memory_bytes {
            fs::write(cg.dir.join("memory.max"), bytes.to_string())?;
            // Absent where the kernel has no swap accounting: then there is nothing to dodge to.
            let swap = cg.dir.join("memory.swap.max");
            if swap.exists() {
                fs::write(swap, "0")?;
            }
        }
        if let Some(millis) = limits.cpu_millis {
            fs::write(cg.dir.join("cpu.max"), cpu_max(millis))?;
        }
        Ok(cg)
    }
}

/// `cpu.max` for `millis` millicores: the quota per 100 ms period, in microseconds.
pub(crate) fn cpu_max(millis: u64) -> String {
    format!(
        "{} {CPU_PERIOD_US}",
        millis.saturating_mul(CPU_PERIOD_US) / 1000
    )
}

impl Cgroup {
    /// The file a process writes its pid to, to move itself in.
    pub(crate) fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How many processes of this cgroup the kernel's OOM killer has killed.
    pub(crate) fn oom_kills(&self) -> u64 {
        fs::read_to_string(self.dir.join("memory.events"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }
}

impl Drop for Cgroup {
    /// Removes the cgroup when its instance is done with it (after its processes are gone:
    /// a cgroup with processes cannot be removed).
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.dir) {
            tracing::warn!(cgroup = %self.dir.display(), error = %e, "cannot remove the instance's cgroup");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
24 1 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
30 24 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 24 0:31 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_cgroup2_mounts_only() {
        assert_eq!(
            cgroup2_mounts(MOUNTINFO),
            vec![PathBuf::from("/sys/fs/cgroup/unified")]
        );
    }

    #[test]
    fn cpu_quota_per_period() {
        assert_eq!(cpu_max(100), "10000 100000");
        assert_eq!(cpu_max(1500), "150000 100000");
    }

    fn limits() -> Limits {
        Limits {
            cpu_millis: Some(250),
            memory_bytes: Some(64 << 20),
        }
    }

    /// A directory laid out as a cgroup2 parent (the kernel's files are plain files here).
    fn parent(controllers: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.subtree_control"), controllers).unwrap();
        dir
    }

    #[test]
    fn refuses_a_parent_without_the_controllers() {
        let p = parent("hugetlb");
        let err = CgroupRoot::at(p.path(), &limits()).unwrap_err();
        assert!(err.contains("memory, cpu"), "{err}");
        assert!(!p.path().join("gantry").exists());
        // Only memory asked for: only memory needed.
        let p = parent("memory");
        let only_memory = Limits {
            cpu_millis: None,
            ..limits()
        };
        assert!(CgroupRoot::at(p.path(), &only_memory).is_ok());
    }

    #[test]
    fn writes_the_limits_and_reads_the_counters() {
        let p = parent("cpu memory pids");
        let root = CgroupRoot::at(p.path(), &limits()).unwrap();
        let gantry = p.path().join("gantry");
        assert_eq!(
            fs::read_to_string(gantry.join("cgroup.subtree_control")).unwrap(),
            "+memory +cpu"
        );
        // The kernel creates memory.swap.max with the cgroup; here the test does.
        fs::create_dir(gantry.join("web-v1-1")).unwrap();
        fs::write(gantry.join("web-v1-1/memory.swap.max"), "max").unwrap();
        let cg = root.create("web-v1-1", &limits()).unwrap();
        let read = |f: &str| fs::read_to_string(cg.dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("cpu.max"), "25000 100000");
        assert_eq!(cg.procs(), gantry.join("web-v1-1/cgroup.procs"));
        assert_eq!(cg.oom_kills(), 0);
        fs::write(
            cg.dir.join("memory.events"),
            "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 1);
    }
}
