//! What each part of `lifecycle`'s tracked spawn costs on top of a bare `TaskTracker::spawn`,
//! rebuilt piece by piece outside the crate: the spawn-overhead scenario (1M tasks returning `()`,
//! spawned from a worker of a fresh 2-worker runtime, then awaited), interleaved, medians.
//!
//! `cargo run --release --example spawn_ablate` (`RUNS=9` by default; `ONLY=tokio,tracker,...`).
//!
//! - `tracker+pad40`: the task's future 40 bytes larger, as `lifecycle`'s `Tracked` wrapper makes
//!   it (lifecycle id, name, critical flag). Tokio aligns a task's cell to 128 bytes on x86_64, so
//!   a few bytes more can cost a whole 128-byte step.
//! - `tracker+list40`: each task's `AbortHandle` and name pushed to a mutex-guarded list of
//!   40-byte entries, compacted at twice the live count, as `LiveTasks` does.
//! - `tracker+list16`: the same list with 16-byte entries (abort handle and a static location).
//! - `arc+list16`: tracking by one `Arc` clone per task (one atomic on spawn and one at the end,
//!   against `TaskTracker`'s two each), with the 16-byte list: the floor of a lifecycle-owned set.
//! - `arc+lock+list16`: the same, the `Arc` cloned under a mutex first, as `lifecycle`'s `Count`
//!   hands out its sink (the shape `lifecycle` has now).
//! - `arc`: one `Arc` clone per task and nothing else: what counting alone costs.
//! - `tracker+ids`: the tracker, and each task's id pushed to a mutex-guarded list (no abort
//!   handle): the lock and the push without the cross-core traffic of an `AbortHandle`.
//! - `tracker+list16+drop`: `tracker+list16` with a second abort handle taken and dropped at once.
use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::task::TaskTracker;

const TASKS: usize = 1_000_000;
const COMPACT_AT: usize = 64;

/// An append-only list compacted at twice the live count, like `lifecycle`'s `LiveTasks`.
struct List<T> {
    entries: Vec<(AbortHandle, T)>,
    compact_at: usize,
}

impl<T> List<T> {
    fn new() -> Mutex<Self> {
        Mutex::new(List {
            entries: Vec::new(),
            compact_at: 0,
        })
    }
}

fn push<T>(list: &Mutex<List<T>>, abort: AbortHandle, name: T) {
    let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
    if list.entries.len() >= list.compact_at.max(COMPACT_AT) {
        list.entries.retain(|(abort, _)| !abort.is_finished());
        list.compact_at = list.entries.len().saturating_mul(2);
    }
    list.entries.push((abort, name));
}

/// A 40-byte entry's name and flags: a `Cow<'static, str>`-sized name, kind, late, cut.
type Name40 = ([usize; 3], [u8; 3]);
type Name16 = &'static Location<'static>;

fn spawn_one(
    variant: &str,
    i: usize,
    tracker: &TaskTracker,
    set: &Arc<()>,
    list40: &Mutex<List<Name40>>,
    list16: &Mutex<List<Name16>>,
) -> JoinHandle<()> {
    let trivial = async move {
        std::hint::black_box(i);
    };
    match variant {
        "tokio" => tokio::spawn(trivial),
        "tracker" => tracker.spawn(trivial),
        "tracker+pad40" => {
            let pad = [0u64; 5];
            tracker.spawn(async move {
                std::hint::black_box(&pad);
                std::hint::black_box(i);
            })
        }
        "tracker+pad8" => {
            let pad = [0u64; 1];
            tracker.spawn(async move {
                std::hint::black_box(&pad);
                std::hint::black_box(i);
            })
        }
        "tracker+pad8+list40" => {
            let pad = [0u64; 1];
            let handle = tracker.spawn(async move {
                std::hint::black_box(&pad);
                std::hint::black_box(i);
            });
            push(list40, handle.abort_handle(), ([0; 3], [0; 3]));
            handle
        }
        "tracker+list40" => {
            let handle = tracker.spawn(trivial);
            push(list40, handle.abort_handle(), ([0; 3], [0; 3]));
            handle
        }
        "tracker+list16" => {
            let handle = tracker.spawn(trivial);
            push(list16, handle.abort_handle(), Location::caller());
            handle
        }
        "arc+list16" => {
            let guard = set.clone();
            let handle = tokio::spawn(async move {
                std::hint::black_box(i);
                drop(guard);
            });
            push(list16, handle.abort_handle(), Location::caller());
            handle
        }
        "arc+lock+list16" => {
            let guard = SLOT.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let handle = tokio::spawn(async move {
                std::hint::black_box(i);
                drop(guard);
            });
            push(list16, handle.abort_handle(), Location::caller());
            handle
        }
        "arc" => {
            let guard = set.clone();
            tokio::spawn(async move {
                std::hint::black_box(i);
                drop(guard);
            })
        }
        "tracker+ids" => {
            let handle = tracker.spawn(trivial);
            let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
            ids.push(handle.id());
            if ids.len() >= COMPACT_AT {
                ids.clear();
            }
            handle
        }
        "tracker+list16+drop" => {
            let handle = tracker.spawn(trivial);
            let abort = handle.abort_handle();
            push(list16, abort.clone(), Location::caller());
            drop(abort);
            handle
        }
        "tracker+pad40+list40" => {
            let pad = [0u64; 5];
            let handle = tracker.spawn(async move {
                std::hint::black_box(&pad);
                std::hint::black_box(i);
            });
            push(list40, handle.abort_handle(), ([0; 3], [0; 3]));
            handle
        }
        other => panic!("unknown variant `{other}`"),
    }
}

/// The `Arc` of `arc+lock+list16`, behind the lock it is cloned under.
static SLOT: Mutex<Option<Arc<()>>> = Mutex::new(None);
/// The id list of `tracker+ids`.
static IDS: Mutex<Vec<tokio::task::Id>> = Mutex::new(Vec::new());

async fn run(variant: &str) -> Duration {
    let started = Instant::now();
    if variant == "lifecycle" {
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
        drop(lc);
        return started.elapsed();
    }
    let tracker = TaskTracker::new();
    let set = Arc::new(());
    *SLOT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&set));
    let list40 = List::new();
    let list16 = List::new();
    let handles: Vec<_> = (0..TASKS)
        .map(|i| spawn_one(variant, i, &tracker, &set, &list40, &list16))
        .collect();
    for handle in handles {
        let _ = handle.await;
    }
    // The lists hold the last tasks' cells: free them inside the timed window, as `lifecycle` does.
    drop((list40, list16));
    started.elapsed()
}

fn timed(variant: &'static str) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move { tokio::spawn(run(variant)).await })
        .expect("bench task")
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let all = [
        "tokio",
        "tracker",
        "tracker+pad40",
        "tracker+pad8",
        "tracker+pad8+list40",
        "tracker+list40",
        "tracker+list16",
        "arc+list16",
        "tracker+pad40+list40",
        "arc",
        "arc+lock+list16",
        "tracker+ids",
        "tracker+list16+drop",
        "lifecycle",
    ];
    let only = std::env::var("ONLY").unwrap_or_default();
    let variants: Vec<&'static str> = all
        .into_iter()
        .filter(|v| only.is_empty() || only.split(',').any(|o| o == *v))
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(9);
    timed("tokio"); // warm the allocator
    let mut samples = vec![Vec::new(); variants.len()];
    for _ in 0..runs {
        for (i, variant) in variants.iter().enumerate() {
            samples[i].push(timed(variant).as_secs_f64() * 1e3);
        }
    }
    let base = median(&samples[0]);
    for (variant, samples) in variants.iter().zip(&samples) {
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(0.0, f64::max);
        println!(
            "{variant:22} median {:5.0} ms  min–max {min:4.0}–{max:4.0}  {:.2}× {}",
            median(samples),
            median(samples) / base,
            variants[0],
        );
    }
}
