//! Releases from git: a tag that matches `releases_from.git.tags` is resolved to its commit,
//! checked out once in its own worktree under `.gantry/builds/<tag>`, built there, and its
//! artefact hashed. A finished build leaves `built.json` next to the worktree, so later
//! deploys and rollbacks of the tag reuse it; a missing tag is an error before anything
//! changes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_config::GitReleases;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A tag built and ready to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Built {
    pub tag: String,
    pub commit: String,
    /// The worktree the tag was built in.
    pub dir: PathBuf,
    pub artifact: String,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no git tag '{tag}' matching \"{pattern}\" in {repo}; tags: {known}")]
    NoTag {
        tag: String,
        pattern: String,
        repo: String,
        known: String,
    },
    #[error("git {what} failed in {repo}: {detail}")]
    Git {
        what: String,
        repo: String,
        detail: String,
    },
    #[error("building {tag} (`{command}`) failed ({status}); its output is in {log}")]
    Build {
        tag: String,
        command: String,
        status: String,
        log: String,
    },
    #[error("the build of {tag} did not make its artifact {artifact}: {source}")]
    NoArtifact {
        tag: String,
        artifact: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// The builds of one service's tags.
pub struct GitBuilds {
    pub git: GitReleases,
    /// The repository (absolute).
    pub repo: PathBuf,
    /// `.gantry/builds` (absolute).
    pub builds: PathBuf,
}

impl GitBuilds {
    pub fn new(git: &GitReleases, root: &Path, gantry_dir: &Path) -> GitBuilds {
        GitBuilds {
            git: git.clone(),
            repo: root.join(&git.repo),
            builds: gantry_dir.join("builds"),
        }
    }

    fn git(&self, what: &str, args: &[&str]) -> Result<String, BuildError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BuildError::Git {
                what: what.into(),
                repo: self.repo.display().to_string(),
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(BuildError::Git {
                what: what.into(),
                repo: self.repo.display().to_string(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The tags that are versions, as git lists them.
    pub fn tags(&self) -> Result<Vec<String>, BuildError> {
        let out = self.git("tag --list", &["tag", "--list", &self.git.tags])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The commit of `tag`, when it is one of the versions.
    pub fn resolve(&self, tag: &str) -> Result<String, BuildError> {
        let tags = self.tags()?;
        if !tags.iter().any(|t| t == tag) {
            return Err(BuildError::NoTag {
                tag: tag.into(),
                pattern: self.git.tags.clone(),
                repo: self.repo.display().to_string(),
                known: if tags.is_empty() {
                    "none".into()
                } else {
                    tags.join(", ")
                },
            });
        }
        self.git(
            "rev-parse",
            &[
                "rev-parse",
                "--verify",
                &format!("refs/tags/{tag}^{{commit}}"),
            ],
        )
    }

    fn dir(&self, tag: &str) -> PathBuf {
        self.builds.join(tag)
    }

    fn marker(&self, tag: &str) -> PathBuf {
        self.builds.join(format!("{tag}.built.json"))
    }

    /// A finished build of `tag`, if there is one.
    pub fn cached(&self, tag: &str) -> Option<Built> {
        let text = std::fs::read_to_string(self.marker(tag)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// `tag` built (reusing a finished build of the same commit); `true` when it was built now.
    pub fn build(&self, tag: &str) -> Result<(Built, bool), BuildError> {
        let commit = self.resolve(tag)?;
        if let Some(b) = self.cached(tag).filter(|b| b.commit == commit) {
            return Ok((b, false));
        }
        let dir = self.dir(tag);
        let io = |what: String| move |source| BuildError::Io { what, source };
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        // A worktree left by an unfinished build (or a moved tag) is made anew.
        if dir.exists() {
            let _ = self.git(
                "worktree remove",
                &["worktree", "remove", "--force", &dir.to_string_lossy()],
            );
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.git("worktree prune", &["worktree", "prune"]);
        }
        self.git(
            "worktree add",
            &[
                "worktree",
                "add",
                "--detach",
                &dir.to_string_lossy(),
                &commit,
            ],
        )?;
        let log = self.builds.join(format!("{tag}.build.log"));
        let out = std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("opening {}", log.display())))?;
        let status = Command::new("sh")
            .arg("-c")
            .arg(&self.git.build)
            .current_dir(&dir)
            .env("GANTRY_TAG", tag)
            .env("GANTRY_COMMIT", &commit)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(io(format!("running the build of {tag}")))?;
        if !status.success() {
            return Err(BuildError::Build {
                tag: tag.into(),
                command: self.git.build.clone(),
                status: status.to_string(),
                log: log.display().to_string(),
            });
        }
        let bytes = std::fs::read(dir.join(&self.git.artifact)).map_err(|source| {
            BuildError::NoArtifact {
                tag: tag.into(),
                artifact: self.git.artifact.clone(),
                source,
            }
        })?;
        let built = Built {
            tag: tag.into(),
            commit,
            dir,
            artifact: self.git.artifact.clone(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        let marker = self.marker(tag);
        let text = serde_json::to_string_pretty(&built).unwrap_or_default();
        std::fs::write(&marker, text).map_err(io(format!("writing {}", marker.display())))?;
        Ok((built, true))
    }
}

/// The command line of an instance of a built tag.
pub fn run_command(git: &GitReleases, built: &Built) -> String {
    git.run.replace("{dir}", &built.dir.to_string_lossy())
}

impl crate::core::Core {
    /// The git builds of `service`, when its versions also come from git tags.
    pub(crate) fn git_builds(&self, service: &str) -> Option<GitBuilds> {
        let config = self.config();
        let (service, _) = gantry_config::split_target(service);
        let git = &config.services.get(service)?.releases_from.as_ref()?.git;
        // Instance logs are `<project>/.gantry/logs`: builds are next to them.
        let gantry_dir = self.log_dir.parent()?;
        let root = gantry_dir.parent()?;
        Some(GitBuilds::new(git, root, gantry_dir))
    }

    /// A finished build of `version` of `service`.
    pub(crate) fn built(&self, service: &str, version: &str) -> Option<(GitBuilds, Built)> {
        let b = self.git_builds(service)?;
        let built = b.cached(version)?;
        Some((b, built))
    }

    /// Whether `version` is deployable now: a release of gantry.yaml or a built tag.
    pub(crate) fn has_release(&self, service: &str, version: &str) -> bool {
        self.config()
            .services
            .get(gantry_config::split_target(service).0)
            .is_some_and(|s| s.releases.contains_key(version))
            || self.built(service, version).is_some()
    }

    /// Makes `version` of `service` deployable when it is a git tag: builds it (once) and
    /// records `release.built` with its commit and artefact hash. With `check_only`, only
    /// that the tag exists (a dry run changes nothing). A static release, or a service
    /// without `releases_from`, is left to the caller's own check.
    pub(crate) async fn prepare_release(
        &self,
        service: &str,
        version: &str,
        check_only: bool,
    ) -> Result<(), crate::ServerError> {
        let static_release = self
            .config()
            .services
            .get(gantry_config::split_target(service).0)
            .is_some_and(|s| s.releases.contains_key(version));
        let Some(b) = self.git_builds(service).filter(|_| !static_release) else {
            return Ok(());
        };
        let ver = version.to_string();
        let done = tokio::task::spawn_blocking(move || {
            if check_only {
                b.resolve(&ver).map(|_| None)
            } else {
                b.build(&ver).map(Some)
            }
        })
        .await
        .map_err(|e| {
            crate::ServerError::BadRequest(format!("the build of {version} panicked: {e}"))
        })?;
        match done {
            Err(e @ BuildError::NoTag { .. }) => Err(crate::ServerError::BadRequest(format!(
                "service '{service}' has no release '{version}': {e}"
            ))),
            Err(e) => Err(crate::ServerError::Conflict(e.to_string())),
            Ok(Some((built, true))) => {
                tracing::info!(%service, %version, commit = %built.commit, "built from git");
                self.record(
                    crate::core::By::System,
                    "release.built",
                    serde_json::json!({
                        "service": service, "version": version, "commit": built.commit,
                        "artifact": built.artifact, "sha256": built.sha256,
                        "dir": built.dir.display().to_string(),
                    }),
                )
                .await;
                Ok(())
            }
            Ok(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, line: &str) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{line}");
    }

    #[test]
    fn a_tag_is_built_once_and_a_missing_one_is_named() {
        if Command::new("git").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set: git must be installed"
            );
            eprintln!("skipped: git is not installed");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        sh(
            root.path(),
            "git init -q && echo one > VERSION && git add VERSION && git commit -qm one && git tag v1.0.0 && git tag other",
        );
        let git = GitReleases {
            repo: ".".into(),
            tags: "v*".into(),
            build: "cp VERSION out.txt && echo built >> ../count".into(),
            artifact: "out.txt".into(),
            run: "cat {dir}/out.txt".into(),
        };
        let gantry = root.path().join(".gantry");
        let b = GitBuilds::new(&git, root.path(), &gantry);
        let (built, fresh) = b.build("v1.0.0").unwrap();
        assert!(fresh);
        assert_eq!(built.sha256, hex::encode(Sha256::digest(b"one\n")));
        assert_eq!(built.commit.len(), 40);
        let (again, fresh) = b.build("v1.0.0").unwrap();
        assert!(!fresh);
        assert_eq!(again, built);
        assert_eq!(
            std::fs::read_to_string(gantry.join("builds/count")).unwrap(),
            "built\n"
        );
        assert!(run_command(&git, &built).ends_with("builds/v1.0.0/out.txt"));
        let err = b.build("v9").unwrap_err().to_string();
        assert!(
            err.contains("no git tag 'v9' matching \"v*\"") && err.contains("tags: v1.0.0"),
            "{err}"
        );
        assert!(
            b.build("other").is_err(),
            "a tag outside the pattern is no version"
        );
    }
}
