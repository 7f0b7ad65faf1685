//! One place that decides exit codes: 2 for usage and config errors, 1 for everything that
//! failed at run time (a verification failure above all), and distinct codes for what a
//! script driving deployments must tell apart: rolled back (3), conflict (4), control
//! plane unavailable (5), verify failed (6), refused (7). README lists them.

use std::fmt;

/// An error that carries its exit code. Anything else that reaches `main` exits 1.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
    /// The stable name `--json` errors carry (`usage`, `conflict`, …); by default the
    /// exit code's own ([`code_name`]). The API's own code is passed through here.
    pub name: Option<String>,
    /// What to do about it, when there is something to say beyond the message.
    pub hint: Option<String>,
    /// What a script may want besides the message (e.g. the deployment that rolled back),
    /// as `error.detail` with `--json`.
    pub detail: Option<serde_json::Value>,
}

impl Exit {
    pub fn new(code: u8, message: impl fmt::Display) -> Exit {
        Exit {
            code,
            message: message.to_string(),
            name: None,
            hint: None,
            detail: None,
        }
    }

    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| code_name(self.code).to_string())
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub const USAGE: u8 = 2;
pub const FAILED: u8 = 1;
/// A deployment that did not succeed: failed and rolled back, or aborted.
pub const ROLLED_BACK: u8 = 3;
/// The control plane refused because of its state: another operation in progress (a
/// running deployment, a rollback, another `gantry serve`), an emergency stop in force,
/// or an operation the deployment's phase does not allow.
pub const CONFLICT: u8 = 4;
/// No control plane to talk to: not running, unreachable, or not taking changes now
/// (restoring after a restart, or unable to write its ledger).
pub const UNAVAILABLE: u8 = 5;
/// Evidence that does not verify: `ledger verify` (also `--against`) on a ledger that
/// fails, `check-proof`, `consistency` or `check-consistency` whose proof does not check,
/// and commands that hand out evidence (`export`, `checkpoint`) refusing a ledger that
/// does not verify. Distinct from 1 so a script can tell tampering from a broken run.
pub const VERIFY_FAILED: u8 = 6;
/// The control plane refused the caller: its token, or its role's permission; also a
/// rollback to a version that failed, without `--force` (`rollback_target_failed`).
pub const REFUSED: u8 = 7;
/// `gantry status --check|--refresh`: the status is DEGRADED.
pub const STATUS_DEGRADED: u8 = 8;
/// `gantry status --check|--refresh`: the status is CRITICAL.
pub const STATUS_CRITICAL: u8 = 9;
/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED: u8 = 130;

/// The stable name of an exit code, as `--json` errors carry it in `error.code`.
pub fn code_name(code: u8) -> &'static str {
    match code {
        USAGE => "usage",
        ROLLED_BACK => "rolled_back",
        CONFLICT => "conflict",
        UNAVAILABLE => "unavailable",
        VERIFY_FAILED => "verify_failed",
        REFUSED => "refused",
        STATUS_DEGRADED => "degraded",
        STATUS_CRITICAL => "critical",
        INTERRUPTED => "interrupted",
        _ => "failed",
    }
}

/// An error with its own exit code.
pub fn with_code(code: u8, message: impl fmt::Display) -> anyhow::Error {
    Exit::new(code, message).into()
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    Exit::new(USAGE, message).into()
}

/// gantry.yaml does not load or validate (exit 2, `config_invalid`).
pub fn config_invalid(message: impl fmt::Display) -> anyhow::Error {
    Exit {
        name: Some("config_invalid".into()),
        hint: Some(
            "fix gantry.yaml at the places named; `gantry check` lists every problem".into(),
        ),
        ..Exit::new(USAGE, message)
    }
    .into()
}

/// `err` with a hint for `--json` errors (and, after the message, for people); an error
/// without its own exit code becomes a failure (exit 1).
pub fn hint(err: anyhow::Error, hint: impl fmt::Display) -> anyhow::Error {
    let mut exit = match err.downcast::<Exit>() {
        Ok(exit) => exit,
        Err(other) => Exit::new(FAILED, format!("{other:#}")),
    };
    exit.hint = Some(hint.to_string());
    exit.into()
}

/// `err` carrying the control plane's own error code and hint from an API error body
/// (`{"error": {"code", "message", "hint"}}`), so `--json` passes them through.
pub fn with_api_error(err: anyhow::Error, body: &serde_json::Value) -> anyhow::Error {
    let mut exit = match err.downcast::<Exit>() {
        Ok(exit) => exit,
        Err(other) => Exit::new(FAILED, format!("{other:#}")),
    };
    if let Some(code) = body["error"]["code"].as_str() {
        exit.name = Some(code.to_string());
    }
    if let Some(hint) = body["error"]["hint"].as_str() {
        exit.hint = Some(hint.to_string());
    }
    exit.into()
}

/// A run-time failure (exit 1), e.g. a ledger that does not verify.
pub fn failed(message: impl fmt::Display) -> anyhow::Error {
    Exit::new(FAILED, message).into()
}

/// An error with `detail` for `--json` (see [`Exit::detail`]).
pub fn with_detail(
    code: u8,
    message: impl fmt::Display,
    detail: serde_json::Value,
) -> anyhow::Error {
    Exit {
        detail: Some(detail),
        ..Exit::new(code, message)
    }
    .into()
}

/// Evidence that does not verify (exit 6).
pub fn verify_failed(message: impl fmt::Display) -> anyhow::Error {
    Exit::new(VERIFY_FAILED, message).into()
}

/// An error whose message was already printed (e.g. a JSON verdict): exit quietly.
pub fn silent(code: u8) -> anyhow::Error {
    Exit::new(code, "").into()
}

/// Prints `err` (with `--json`: as `{"error": {"code", "message", "hint"}}` on stdout,
/// nothing else) and gives its exit code.
pub fn report(err: anyhow::Error, json: bool) -> std::process::ExitCode {
    if reader_gone(&err) {
        crate::output::reader_gone();
    }
    let exit = match err.downcast::<Exit>() {
        Ok(exit) => exit,
        Err(other) => Exit::new(FAILED, format!("{other:#}")),
    };
    if exit.message.is_empty() {
        // Already said (e.g. a JSON verdict on stdout).
    } else if json {
        crate::output::print(&format!("{}\n", error_json(&exit)));
    } else {
        eprintln!("error: {}", exit.message);
        if let Some(hint) = &exit.hint {
            eprintln!("hint: {hint}");
        }
    }
    std::process::ExitCode::from(exit.code)
}

/// The one shape of every `--json` error, as the API answers them too.
pub fn error_json(exit: &Exit) -> serde_json::Value {
    let mut error = serde_json::json!({
        "code": exit.name(),
        "message": exit.message,
        "hint": exit.hint.clone().or_else(|| default_hint(exit.code).map(str::to_string)),
    });
    if let Some(detail) = &exit.detail {
        error["detail"] = detail.clone();
    }
    serde_json::json!({ "error": error })
}

/// The next step for a kind of error, when the error itself names none.
fn default_hint(code: u8) -> Option<&'static str> {
    Some(match code {
        USAGE => "add `--help` to the command line to see what it takes",
        ROLLED_BACK => "`gantry ps` and `gantry ledger show --kind deployment.` show what happened",
        CONFLICT => "`gantry ps` shows what is in progress; wait for it or `gantry abort SERVICE`",
        UNAVAILABLE => {
            "start the control plane with `gantry serve --detach`, or retry: it may be restoring"
        }
        REFUSED => "check the token (GANTRY_TOKEN or .gantry/admin.token) and what its role may do",
        _ => return None,
    })
}

/// A command line clap refused. `--help` and `--version` print as clap does; with
/// `--json` a usage error is the JSON error object, its hint the usage line.
pub fn clap(err: clap::Error, json: bool) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if !json
        || matches!(
            err.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        )
    {
        err.exit()
    }
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let exit = Exit {
            hint: Some("add `--help` to the command line to see what it takes".into()),
            ..Exit::new(USAGE, "a subcommand or argument is missing")
        };
        crate::output::print(&format!("{}\n", error_json(&exit)));
        return std::process::ExitCode::from(USAGE);
    }
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let rest: Vec<&str> = lines.collect();
    let exit = Exit {
        hint: (!rest.is_empty()).then(|| rest.join("; ")),
        ..Exit::new(USAGE, message)
    };
    crate::output::print(&format!("{}\n", error_json(&exit)));
    std::process::ExitCode::from(USAGE)
}

/// A command that writes stdout through a writer of its own (an export, a proof) fails with
/// EPIPE when the reader went away: that is the quiet end, not an error.
fn reader_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) && crate::output::stdout_reader_is_gone()
}
