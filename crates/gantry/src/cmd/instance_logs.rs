//! `gantry logs --service web [--instance I] [--follow]`: what a service's instances wrote
//! to stdout and stderr, from the files the local driver keeps under `.gantry/logs/`
//! (one per instance, rotated when an instance starts over a large one).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::project::Project;
use crate::{exit, output};

/// One instance's log file.
struct Log {
    instance: String,
    path: PathBuf,
    modified: SystemTime,
}

pub fn run(
    project: &Project,
    service: &str,
    instance: Option<&str>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let dir = project.gantry_dir().join("logs").join(service);
    let known = project
        .config()
        .map(|c| c.services.contains_key(service))
        .unwrap_or(false);
    let logs = list(&dir);
    if logs.is_empty() {
        return Err(if known {
            exit::usage(format!(
                "no instance of {service} has written a log yet ({} is empty); instances log once `gantry deploy {service}` starts them",
                dir.display()
            ))
        } else {
            exit::usage(format!(
                "no service '{service}' in gantry.yaml and no instance logs of it"
            ))
        });
    }
    let logs = select(logs, service, instance)?;
    let many = logs.len() > 1;
    let mut offsets = vec![0u64; logs.len()];
    let mut docs = Vec::new();
    loop {
        for (log, offset) in logs.iter().zip(offsets.iter_mut()) {
            let text = read_from(&log.path, offset);
            if text.is_empty() {
                continue;
            }
            if json && !follow {
                docs.push(json!({"instance": log.instance, "text": text}));
            } else if json {
                output::print(&format!(
                    "{}\n",
                    json!({"instance": log.instance, "text": text})
                ));
            } else if many {
                // Several instances at once: each line says whose it is, as `kubectl logs
                // --prefix` does.
                let mut out = String::new();
                for line in text.lines() {
                    out.push_str(&format!("[{}] {line}\n", log.instance));
                }
                output::print(&out);
            } else {
                output::print(&text);
            }
        }
        if !follow {
            break;
        }
        // Instances run until stopped: following ends with Ctrl-C, like `tail -f`.
        std::thread::sleep(Duration::from_millis(200));
    }
    if json {
        return output::json(&json!({"service": service, "instances": docs}));
    }
    Ok(())
}

/// The instances' current logs (not the rotated `.log.1`), oldest first.
fn list(dir: &Path) -> Vec<Log> {
    let mut logs: Vec<Log> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let instance = name.strip_suffix(".log")?.to_string();
            let modified = e.metadata().ok()?.modified().ok()?;
            Some(Log {
                instance,
                path: e.path(),
                modified,
            })
        })
        .collect();
    logs.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then(a.instance.cmp(&b.instance))
    });
    logs
}

/// All logs, or the instance named exactly or by a unique prefix.
fn select(logs: Vec<Log>, service: &str, want: Option<&str>) -> anyhow::Result<Vec<Log>> {
    let Some(want) = want else {
        return Ok(logs);
    };
    let names = || {
        logs.iter()
            .map(|l| l.instance.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if logs.iter().any(|l| l.instance == want) {
        return Ok(logs.into_iter().filter(|l| l.instance == want).collect());
    }
    let matching = logs.iter().filter(|l| l.instance.starts_with(want)).count();
    match matching {
        1 => Ok(logs
            .into_iter()
            .filter(|l| l.instance.starts_with(want))
            .collect()),
        0 => Err(exit::usage(format!(
            "no instance '{want}' of {service} has a log; instances: {}",
            names()
        ))),
        n => Err(exit::usage(format!(
            "'{want}' names {n} instances of {service}: {}; give more of the name",
            names()
        ))),
    }
}

/// What the file holds past `offset` (whole lines only, so a line being written is not
/// split), and the offset moved past it. A file that shrank was rotated: read it anew.
fn read_from(path: &Path, offset: &mut u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    if (bytes.len() as u64) < *offset {
        *offset = 0;
    }
    let rest = &bytes[*offset as usize..];
    let end = rest.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    *offset += end as u64;
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_lines_and_starts_over_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web-v1-1.log");
        std::fs::write(&path, "one\ntw").unwrap();
        let mut off = 0;
        assert_eq!(read_from(&path, &mut off), "one\n");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        assert_eq!(read_from(&path, &mut off), "two\n");
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(read_from(&path, &mut off), "new\n");
    }

    #[test]
    fn an_instance_is_named_exactly_or_by_a_unique_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["web-v1-1", "web-v2-1", "web-v2-10"] {
            std::fs::write(dir.path().join(format!("{n}.log")), "x\n").unwrap();
        }
        std::fs::write(dir.path().join("web-v1-1.log.1"), "old\n").unwrap();
        assert_eq!(list(dir.path()).len(), 3);
        let one = select(list(dir.path()), "web", Some("web-v1")).unwrap();
        assert_eq!(one[0].instance, "web-v1-1");
        let exact = select(list(dir.path()), "web", Some("web-v2-1")).unwrap();
        assert_eq!(exact.len(), 1);
        let err = select(list(dir.path()), "web", Some("web-v2"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("names 2 instances"), "{err}");
        assert!(select(list(dir.path()), "web", Some("db")).is_err());
    }
}
