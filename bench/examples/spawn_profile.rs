//! Profiling aid for the spawn-overhead scenario: `SPAWNER=tokio|tracker|lifecycle`, 1M tasks
//! returning `()`, 5 times (`RUNS=n` to change), each on a fresh 2-worker runtime.
//!
//! `SPAWNER=lifecycle perf record -g target/release/examples/spawn_profile`, then the same with
//! `SPAWNER=tracker`: the difference is what `lifecycle` adds to a bare `TaskTracker::spawn`.
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;

const TASKS: usize = 1_000_000;

async fn spawn_all(which: &str) -> Duration {
    let started = Instant::now();
    match which {
        "lifecycle" => {
            let lc = lifecycle::Sequence::new(lifecycle::Config::new()).handle();
            let handles: Vec<_> = (0..TASKS)
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
        "tracker" => {
            let tracker = TaskTracker::new();
            let handles: Vec<_> = (0..TASKS)
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
        _ => {
            let handles: Vec<_> = (0..TASKS)
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
    }
    started.elapsed()
}

fn main() {
    let which = std::env::var("SPAWNER").unwrap_or_else(|_| "tokio".to_owned());
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    for _ in 0..runs {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mode = which.clone();
        let took = rt
            .block_on(async move { tokio::spawn(async move { spawn_all(&mode).await }).await })
            .expect("bench task");
        println!("{which}: {took:?}");
    }
}
