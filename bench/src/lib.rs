//! The one HTTP app every contender serves, so that only the shutdown wiring differs.
//!
//! - `GET /work?until=<unix ms>` answers 200 at that wall-clock instant (the drain scenario sets
//!   every request to end at the same moment); `GET /work?ms=N` answers after N ms.
//! - `GET /inflight` is the number of `/work` requests being served (itself not counted).
//! - `GET /` answers 200 at once (the rolling-restart load).
//!
//! Each contender prints `ready <addr>` once it listens and its signal handling is installed.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;

/// Query of `/work`.
#[derive(Debug, Default)]
pub struct Work {
    until: Option<u64>,
    ms: Option<u64>,
}

impl Work {
    fn parse(pairs: &std::collections::HashMap<String, String>) -> Self {
        Self {
            until: pairs.get("until").and_then(|v| v.parse().ok()),
            ms: pairs.get("ms").and_then(|v| v.parse().ok()),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn work(
    State(inflight): State<Arc<AtomicUsize>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> &'static str {
    inflight.fetch_add(1, Ordering::SeqCst);
    let work = Work::parse(&query);
    let wait = match (work.until, work.ms) {
        (Some(until), _) => Duration::from_millis(until.saturating_sub(unix_ms())),
        (None, Some(ms)) => Duration::from_millis(ms),
        (None, None) => Duration::ZERO,
    };
    tokio::time::sleep(wait).await;
    inflight.fetch_sub(1, Ordering::SeqCst);
    "done\n"
}

/// The app.
pub fn router() -> Router {
    let inflight = Arc::new(AtomicUsize::new(0));
    Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route("/work", get(work))
        .route(
            "/inflight",
            get(|State(n): State<Arc<AtomicUsize>>| async move { n.load(Ordering::SeqCst).to_string() }),
        )
        .with_state(inflight)
}

/// Binds `127.0.0.1:$PORT` (0, a free port, by default).
pub async fn listen() -> tokio::net::TcpListener {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    listener
}

/// Prints `ready <addr>` and flushes, for the runner.
pub fn announce(listener: &tokio::net::TcpListener) {
    let addr = listener.local_addr().expect("local addr");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {addr}");
    let _ = out.flush();
}

/// The grace period every contender uses: `GRACE_MS`, 2000 by default.
pub fn grace() -> Duration {
    Duration::from_millis(
        std::env::var("GRACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    )
}
