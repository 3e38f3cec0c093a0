//! One sample of the memory scenario, in a fresh process: `rss_probe tokio|hand|lifecycle N`.
//!
//! Builds a 2-worker runtime and what the contender needs before any task exists (a root token;
//! a `TaskTracker`; a `Lifecycle`), reads the resident set size, spawns `N` tasks from a worker,
//! each parked on a child token, waits until every one has been polled and parked, and reads the
//! resident set size again. Prints `rss <before> <after>` in bytes, then cancels every task and
//! waits for them, so a contender whose tasks did not park would hang rather than mislead.
//!
//! - `tokio`: `tokio::spawn` of a task awaiting a child token, untracked: the floor.
//! - `hand`: the same through `TaskTracker::spawn`: the hand-written combination.
//! - `lifecycle`: `lc.spawn` of a task awaiting `lc.token()`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lifecycle::{Config, Sequence};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Resident set size in bytes: the second field of `/proc/self/statm`, in pages.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("statm: resident pages");
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Waits until `parked` reaches `n` (each task counts itself on its first poll, just before it
/// parks), then a little longer so the last ones are parked, not merely polled.
async fn all_parked(parked: &AtomicUsize, n: usize) {
    while parked.load(Ordering::Acquire) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The task every contender spawns: counts itself, then parks on its token until cancelled.
async fn parked_task(token: CancellationToken, parked: Arc<AtomicUsize>) {
    parked.fetch_add(1, Ordering::Release);
    drop(parked);
    token.cancelled().await;
}

async fn probe(kind: &str, n: usize) -> (u64, u64) {
    let parked = Arc::new(AtomicUsize::new(0));
    match kind {
        "tokio" => {
            let root = CancellationToken::new();
            let before = rss_bytes();
            for _ in 0..n {
                tokio::spawn(parked_task(root.child_token(), parked.clone()));
            }
            all_parked(&parked, n).await;
            let after = rss_bytes();
            root.cancel();
            while tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                > 1
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (before, after)
        }
        "hand" => {
            let root = CancellationToken::new();
            let tracker = TaskTracker::new();
            let before = rss_bytes();
            for _ in 0..n {
                tracker.spawn(parked_task(root.child_token(), parked.clone()));
            }
            all_parked(&parked, n).await;
            let after = rss_bytes();
            root.cancel();
            tracker.close();
            tracker.wait().await;
            (before, after)
        }
        "lifecycle" => {
            let sequence = Sequence::new(Config::new());
            let lc = sequence.handle();
            let before = rss_bytes();
            for _ in 0..n {
                lc.spawn(parked_task(lc.token(), parked.clone()));
            }
            all_parked(&parked, n).await;
            let after = rss_bytes();
            lc.request_shutdown();
            let report = sequence.run_without_signals(async {}).await;
            assert!(report.tasks_aborted.is_empty(), "a task did not stop");
            (before, after)
        }
        other => panic!("unknown contender `{other}`: expected tokio, hand or lifecycle"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (before, after) = rt
        .block_on(async move { tokio::spawn(async move { probe(&kind, n).await }).await })
        .expect("probe task");
    println!("rss {before} {after}");
}
