//! Endpoints that load the machine, for resource limits and scaling: `GET /alloc/MB` keeps
//! MB more mebibytes (touched, so they are resident) for the rest of the process's life,
//! `GET /burn/MS` keeps one core busy for MS milliseconds.

use std::time::{Duration, Instant};

use hyper::StatusCode;

/// Allocates and keeps `mb` MiB. Over a memory limit the allocation fails and the process
/// aborts, as any Rust program does ("memory allocation of N bytes failed").
pub fn alloc(mb: &str) -> (StatusCode, String) {
    let Ok(mb) = mb.parse::<usize>() else {
        return (
            StatusCode::BAD_REQUEST,
            "use /alloc/MEBIBYTES\n".to_string(),
        );
    };
    let mut block = vec![0u8; mb << 20];
    // Written, not only reserved: the pages count against resident memory too.
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    block.leak();
    (StatusCode::OK, format!("holding {mb} more MiB\n"))
}

/// Spins one core for `ms` milliseconds (on a blocking thread, so other requests go on).
pub async fn burn(ms: &str) -> (StatusCode, String) {
    let Ok(ms) = ms.parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            "use /burn/MILLISECONDS\n".to_string(),
        );
    };
    let spun = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut x: u64 = 0;
        while Instant::now() < until {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        x
    })
    .await;
    match spun {
        Ok(_) => (StatusCode::OK, format!("burned {ms}ms of CPU\n")),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("burn failed: {e}\n"),
        ),
    }
}
