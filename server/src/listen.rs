//! Accepting connections with bounds: a cap on open connections (below the process's
//! file-handle limit), hyper's header-read timer (which also ends idle keep-alive
//! connections) and, in [`crate::router`], a per-chunk body timeout and a cap on requests
//! that buffer their body. Whatever clients do, file handles and memory stay bounded.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection and request bounds. Every timeout is at most 30 s by default.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time allowed to receive a request's head.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept waiting for its next request.
    pub idle_timeout: Duration,
    /// Longest gap between two chunks of a request body.
    pub body_timeout: Duration,
    /// Open connections at most; `None` is 3/4 of the file-handle limit. Never more than
    /// that, whatever is asked: the rest are for the database and photo files.
    pub max_connections: Option<usize>,
    /// Requests that hold their whole body in memory (push, admin writes) at once; more
    /// are answered 503 `unavailable` with `Retry-After`. Bounds their memory to this many
    /// times the body cap (4 MiB for a push).
    pub max_buffered_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: None,
            max_buffered_requests: 16,
        }
    }
}

/// Largest read buffer of one connection (request heads beyond it get 431). hyper's default
/// is ~400 KiB; this keeps thousands of slow connections to tens of MiB.
const MAX_CONN_BUF: usize = 64 * 1024;

/// The soft `RLIMIT_NOFILE` of this process, if it has one.
pub fn file_handle_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap in force: the requested one, at most 3/4 of the file-handle limit.
pub fn connection_cap(requested: Option<usize>) -> usize {
    let ceiling = file_handle_limit()
        .map(|n| usize::try_from(n / 4 * 3).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    let cap = requested.unwrap_or(ceiling).min(ceiling);
    // A process with a tiny limit still serves one connection at a time.
    cap.max(1)
}

/// Serves `app` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    stop: impl std::future::Future<Output = ()>,
) {
    let cap = connection_cap(limits.max_connections);
    tracing::info!(
        max_connections = cap,
        header_timeout_s = limits.header_timeout.as_secs_f64(),
        idle_timeout_s = limits.idle_timeout.as_secs_f64(),
        body_timeout_s = limits.body_timeout.as_secs_f64(),
        "serving"
    );
    let slots = Arc::new(Semaphore::new(cap));
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper starts the header timer as soon as a connection waits for a request head,
    // including between keep-alive requests: one timer serves both bounds.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout.min(limits.idle_timeout))
        .keep_alive(true)
        .max_buf_size(MAX_CONN_BUF);
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        // Waiting for a free slot before accepting leaves further clients in the kernel's
        // backlog instead of spending a file handle on each.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = &mut stop => return,
        };
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let http = http.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = http.serve_connection(TokioIo::new(tcp), service).await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
}
