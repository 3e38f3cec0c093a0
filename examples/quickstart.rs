//! Quickstart: a service with a tracked worker, a component with a start hook, a persist hook
//! and a shutdown hook, a free shutdown hook and a free reload hook. It works for two seconds
//! and then shuts itself down; press Ctrl-C before that to see a signal trigger the same
//! sequence (or send it SIGHUP to see a reload).
//!
//! ```text
//! cargo run -p lifecycle-examples --bin quickstart
//! ```
//!
//! Its expansion, the code the attributes generate, is in `expanded/quickstart.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lifecycle::{CancellationToken, Lifecycle};

/// A stand-in for a database pool.
struct Db {
    queries: AtomicU64,
}

#[lifecycle::component]
impl Db {
    /// Start hooks run before the service is Ready; if one fails, only what started is stopped.
    #[on_start(timeout = "2s")]
    async fn connect(&self) {
        println!("on_start: connected the database pool");
    }

    /// Persist hooks run first, right after the drain, while the pool is still open.
    #[persist(timeout = "2s")]
    async fn save_offsets(&self) -> std::io::Result<()> {
        let queries = self.queries.load(Ordering::Relaxed);
        println!("persist: saved the offsets after {queries} queries");
        Ok(())
    }

    /// Shutdown hooks run by ascending order: this one last.
    #[on_shutdown(order = 100, timeout = "5s")]
    async fn close(&self) {
        println!("on_shutdown(order = 100): closed the database pool");
    }
}

/// A free hook needs no wiring in `main`. Order 10 runs before the pool closes (order 100).
#[lifecycle::on_shutdown(order = 10)]
async fn flush_metrics() {
    println!("on_shutdown(order = 10): flushed the metrics");
}

/// SIGHUP (not a shutdown signal here) runs the reload hooks; the service keeps serving.
#[lifecycle::on_reload]
fn reread_settings() {
    println!("on_reload: re-read the settings");
}

/// A worker that does a job every 100ms and leaves its loop when the shutdown cancels its token.
async fn worker(db: Arc<Db>, token: CancellationToken) {
    let tick = Duration::from_millis(100);
    while tokio::time::timeout(tick, token.cancelled()).await.is_err() {
        db.queries.fetch_add(1, Ordering::Relaxed);
    }
    println!("worker: cancelled, left its loop");
}

#[lifecycle::main(grace = "10s", drain_delay = "1s")]
async fn main(lc: Lifecycle) {
    let db = Arc::new(Db {
        queries: AtomicU64::new(0),
    });
    lc.manage(db.clone()); // first, so its start hook runs before the service is Ready
    if !lc.started().await {
        return; // start-up failed: the shutdown is under way
    }
    lc.spawn(worker(db, lc.token()));

    println!("serving; press Ctrl-C to stop, or wait two seconds");
    match tokio::time::timeout(Duration::from_secs(2), lc.cancelled()).await {
        Ok(()) => println!("main: shutdown requested, leaving"),
        Err(_) => println!("main: work done, returning"),
    }
}
