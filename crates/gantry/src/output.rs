//! Printing helpers: `--json` output is one JSON document on stdout and nothing else.

use std::io::Write;

use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(value)?));
    Ok(())
}

/// Writes `text` to stdout, flushed. A reader that went away (`gantry ps | head -1`) ends
/// the process quietly: what it wanted it has, as with a shell tool that gets SIGPIPE.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    // Any other failure to write stdout (a full disk behind a redirect) is not worth a
    // panic either; the exit code still says how the command went.
    if written.is_err_and(|err| err.kind() == std::io::ErrorKind::BrokenPipe) {
        reader_gone();
    }
}

/// stdout's reader is gone: nothing more can be said, so stop now, quietly.
pub fn reader_gone() -> ! {
    std::process::exit(0)
}

/// Whether stdout is a pipe whose reader has gone (poll says POLLERR on its write end), so
/// an EPIPE seen elsewhere (an agent's stdin) is never mistaken for it.
pub fn stdout_reader_is_gone() -> bool {
    use std::os::fd::AsFd;

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR))
}

/// Rust ignores SIGPIPE, so `println!` panics when stdout's reader is gone. Commands print
/// with `println!` in many places; this hook turns exactly that panic into a quiet exit
/// (from any thread) and leaves every other panic to the default hook.
pub fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_stdout(payload) {
            reader_gone();
        }
        default(info);
    }));
}

/// std's message for a failed `print!`: "failed printing to stdout: Broken pipe (os error 32)".
fn is_closed_stdout(panic_message: &str) -> bool {
    panic_message.starts_with("failed printing to stdout")
        && panic_message.contains(&format!("(os error {})", nix::errno::Errno::EPIPE as i32))
}

/// `2026-11-25T08:13:26.123456Z` → `2026-11-25 08:13:26`, for tables.
pub fn short_ts(ts: &str) -> String {
    let trimmed = ts.split('.').next().unwrap_or(ts).trim_end_matches('Z');
    trimmed.replacen('T', " ", 1)
}

pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    table
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_closed_stdout_is_quiet() {
        assert!(super::is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!super::is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!super::is_closed_stdout("index out of bounds"));
    }
}
