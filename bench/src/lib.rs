//! The one HTTP app every contender serves, so that only the shutdown wiring differs.
//!
//! - `GET /work?held=1` waits until `GET /release?at=<unix ms>` names an instant, then answers
//!   200 at that instant: the drain scenario gets every request in flight first, then releases
//!   them all to end together; `GET /work?ms=N` answers after N ms.
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

type Query_ = std::collections::HashMap<String, String>;

/// The app's shared state: requests in flight, and the release instant of held requests.
#[derive(Clone)]
struct Shared {
    inflight: Arc<AtomicUsize>,
    release: tokio::sync::watch::Sender<Option<u64>>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn work(State(shared): State<Shared>, Query(query): Query<Query_>) -> &'static str {
    shared.inflight.fetch_add(1, Ordering::SeqCst);
    let wait = if query.contains_key("held") {
        let mut release = shared.release.subscribe();
        let at = match release.wait_for(Option::is_some).await {
            Ok(at) => at.unwrap_or(0),
            Err(_) => 0,
        };
        Duration::from_millis(at.saturating_sub(unix_ms()))
    } else {
        Duration::from_millis(query.get("ms").and_then(|v| v.parse().ok()).unwrap_or(0))
    };
    tokio::time::sleep(wait).await;
    shared.inflight.fetch_sub(1, Ordering::SeqCst);
    "done\n"
}

async fn release(State(shared): State<Shared>, Query(query): Query<Query_>) -> &'static str {
    let at = query.get("at").and_then(|v| v.parse().ok());
    shared.release.send_replace(at);
    "released\n"
}

/// The app.
pub fn router() -> Router {
    let shared = Shared {
        inflight: Arc::new(AtomicUsize::new(0)),
        release: tokio::sync::watch::Sender::new(None),
    };
    Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route("/work", get(work))
        .route("/release", get(release))
        .route(
            "/inflight",
            get(|State(shared): State<Shared>| async move {
                shared.inflight.load(Ordering::SeqCst).to_string()
            }),
        )
        .with_state(shared)
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
