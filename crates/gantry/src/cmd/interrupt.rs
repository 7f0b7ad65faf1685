//! Ctrl-C on a command that follows something longer-lived than itself (a pipeline run, a
//! rollout in the control plane): say what goes on and the command that picks it up again,
//! instead of dying silently.

use crate::exit;

/// From now on, Ctrl-C runs `on_interrupt` on a thread of its own, prints the error it
/// returns (as the JSON error object with `--json`) and exits 130.
pub fn on_ctrl_c(
    json: bool,
    on_interrupt: impl FnOnce() -> anyhow::Error + Send + 'static,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered before returning, so a Ctrl-C right after start is not the default kill.
    let mut sigint = {
        let _guard = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            rt.block_on(sigint.recv());
            exit::report(on_interrupt(), json);
            std::process::exit(i32::from(exit::INTERRUPTED));
        })?;
    Ok(())
}

/// The error `deploy --wait` and `rollback` end with on Ctrl-C: the control plane goes on.
pub fn rollout_goes_on(id: &str, service: &str, what: &str) -> anyhow::Error {
    exit::hint(
        exit::with_code(
            exit::INTERRUPTED,
            format!(
                "interrupted: {what} {id} of {service} goes on in the control plane; \
                 follow it with `gantry ps`, abort it with `gantry abort {service}`"
            ),
        ),
        format!("gantry ps   # or: gantry abort {service}"),
    )
}
