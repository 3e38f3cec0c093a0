//! In-process scenarios: the cost of a tracked spawn, and cancellation fan-out.

use std::time::{Duration, Instant};

use lifecycle::{Config, Sequence};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::stats::{self, Row};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[derive(Clone, Copy)]
enum Spawner {
    Tokio,
    Tracker,
    Lifecycle,
    Scope,
}

/// Spawns `n` trivial tasks from inside a worker and awaits every handle. Each run gets a fresh
/// runtime so no run inherits another's warmed-up queues or allocations.
fn spawn_run(spawner: Spawner, n: usize) -> Duration {
    let rt = runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            let started = Instant::now();
            match spawner {
                Spawner::Tokio => {
                    let handles: Vec<_> = (0..n)
                        .map(|i| {
                            tokio::spawn(async move {
                                std::hint::black_box(i);
                            })
                        })
                        .collect();
                    for handle in handles {
                        let _ = handle.await;
                    }
                }
                Spawner::Tracker => {
                    let tracker = TaskTracker::new();
                    let handles: Vec<_> = (0..n)
                        .map(|i| {
                            tracker.spawn(async move {
                                std::hint::black_box(i);
                            })
                        })
                        .collect();
                    for handle in handles {
                        let _ = handle.await;
                    }
                }
                Spawner::Lifecycle => {
                    let sequence = Sequence::new(Config::new());
                    let lc = sequence.handle();
                    let handles: Vec<_> = (0..n)
                        .map(|i| {
                            lc.spawn(async move {
                                std::hint::black_box(i);
                            })
                        })
                        .collect();
                    for handle in handles {
                        let _ = handle.await;
                    }
                }
                Spawner::Scope => {
                    // Made inside the clock, as the `lc.spawn` row makes its sequence.
                    let sequence = Sequence::new(Config::new());
                    let scope = sequence.handle().scope("bench");
                    let handles: Vec<_> = (0..n)
                        .map(|i| {
                            scope.spawn(async move {
                                std::hint::black_box(i);
                            })
                        })
                        .collect();
                    for handle in handles {
                        let _ = handle.await;
                    }
                }
            }
            started.elapsed()
        })
        .await
        .expect("bench task")
    })
}

pub fn spawn_overhead(runs: usize, n: usize) -> Vec<Row> {
    let spawners = [
        ("tokio::spawn", Spawner::Tokio),
        ("TaskTracker::spawn (hand-written)", Spawner::Tracker),
        ("lifecycle: lc.spawn", Spawner::Lifecycle),
        ("lifecycle: scope.spawn", Spawner::Scope),
    ];
    spawn_run(Spawner::Tokio, n / 10); // warm the allocator
    stats::interleaved(&spawners, runs, |spawner| spawn_run(spawner, n))
}

#[derive(Clone, Copy)]
enum Fanout {
    Hand,
    Lifecycle,
}

/// `n` tasks parked on child tokens; time from the cancel until every task has exited.
fn fanout_run(kind: Fanout, n: usize) -> Duration {
    let rt = runtime();
    rt.block_on(async move {
        tokio::spawn(async move {
            match kind {
                Fanout::Hand => {
                    let root = CancellationToken::new();
                    let tracker = TaskTracker::new();
                    for _ in 0..n {
                        let token = root.child_token();
                        tracker.spawn(async move { token.cancelled().await });
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await; // every task parked
                    let started = Instant::now();
                    root.cancel();
                    tracker.close();
                    tracker.wait().await;
                    started.elapsed()
                }
                Fanout::Lifecycle => {
                    let sequence = Sequence::new(Config::new());
                    let lc = sequence.handle();
                    for _ in 0..n {
                        let token = lc.token();
                        lc.spawn(async move { token.cancelled().await });
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let started = Instant::now();
                    lc.request_shutdown();
                    let report = sequence.run_without_signals(async {}).await;
                    assert!(report.tasks_aborted.is_empty());
                    started.elapsed()
                }
            }
        })
        .await
        .expect("bench task")
    })
}

pub fn fanout(runs: usize, n: usize) -> Vec<Row> {
    let kinds = [
        (
            "CancellationToken + TaskTracker (hand-written)",
            Fanout::Hand,
        ),
        (
            "lifecycle: lc.token + lc.spawn, shutdown",
            Fanout::Lifecycle,
        ),
    ];
    stats::interleaved(&kinds, runs, |kind| fanout_run(kind, n))
}
