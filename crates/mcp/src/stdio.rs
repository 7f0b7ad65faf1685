//! `gantry mcp`: one MCP session on stdin/stdout, for the agent that started it.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Gantry, McpError};

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Serves `server` on stdio until the client closes the session.
pub async fn serve_stdio(server: Gantry) -> Result<(), McpError> {
    let running = server
        .serve(transport())
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}

/// stdin and stdout, polled by the runtime's reactor when they are pipes (as an MCP
/// client starts its server). tokio's own `stdin()`/`stdout()` hand every read and write
/// to a blocking thread: two thread hand-offs per message, which is what a tool call's
/// latency on a busy machine was made of (`bench/mcp-latency.sh`). stdout is left to
/// tokio when it shares its pipe with stderr, since a non-blocking stderr could make
/// `eprintln!` fail.
fn transport() -> (Reader, Writer) {
    let reader: Reader = match dup(std::io::stdin().as_fd())
        .and_then(tokio::net::unix::pipe::Receiver::from_owned_fd)
    {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let shared = match (
        file_id(std::io::stdout().as_fd()),
        file_id(std::io::stderr().as_fd()),
    ) {
        (Ok(out), Ok(err)) => out == err,
        _ => true,
    };
    let writer: Writer = match (!shared).then(|| {
        dup(std::io::stdout().as_fd()).and_then(tokio::net::unix::pipe::Sender::from_owned_fd)
    }) {
        Some(Ok(pipe)) => Box::new(pipe),
        _ => Box::new(tokio::io::stdout()),
    };
    (reader, writer)
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<std::os::fd::OwnedFd> {
    fd.try_clone_to_owned()
}

/// Device and inode of the file behind `fd`: equal for two fds of one pipe.
fn file_id(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::File::from(dup(fd)?).metadata()?;
    Ok((meta.dev(), meta.ino()))
}
