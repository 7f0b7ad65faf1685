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
/// The control plane refused the caller: its token, or its role's permission.
pub const REFUSED: u8 = 7;
/// `gantry status --check|--refresh`: the status is DEGRADED.
pub const STATUS_DEGRADED: u8 = 8;
/// `gantry status --check|--refresh`: the status is CRITICAL.
pub const STATUS_CRITICAL: u8 = 9;

/// An error with its own exit code.
pub fn with_code(code: u8, message: impl fmt::Display) -> anyhow::Error {
    Exit {
        code,
        message: message.to_string(),
    }
    .into()
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    Exit {
        code: USAGE,
        message: message.to_string(),
    }
    .into()
}

/// A run-time failure (exit 1), e.g. a ledger that does not verify.
pub fn failed(message: impl fmt::Display) -> anyhow::Error {
    Exit {
        code: FAILED,
        message: message.to_string(),
    }
    .into()
}

/// Evidence that does not verify (exit 6).
pub fn verify_failed(message: impl fmt::Display) -> anyhow::Error {
    Exit {
        code: VERIFY_FAILED,
        message: message.to_string(),
    }
    .into()
}

/// An error whose message was already printed (e.g. a JSON verdict): exit quietly.
pub fn silent(code: u8) -> anyhow::Error {
    Exit {
        code,
        message: String::new(),
    }
    .into()
}

pub fn report(err: &anyhow::Error) -> std::process::ExitCode {
    let (code, text) = match err.downcast_ref::<Exit>() {
        Some(exit) => (exit.code, exit.message.clone()),
        None => (FAILED, format!("{err:#}")),
    };
    if !text.is_empty() {
        eprintln!("error: {text}");
    }
    std::process::ExitCode::from(code)
}
