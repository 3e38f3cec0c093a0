//! A pool of background workers fed by a job queue, that loses no job across a restart.
//!
//! What it shows:
//!
//! - workers spawned with `lc.task(name).spawn(..)`, each watching its own child token (`lc.token()`):
//!   on SIGTERM every worker finishes the job it is on, takes no new one, and returns; the process
//!   exits as soon as the last job is done, not at the end of the grace period;
//! - a `#[persist]` hook on the queue component: after the drain it saves the jobs that were not
//!   finished, with `lifecycle::state_file::write_atomic`, and the next start picks them up
//!   again. A job still running when the grace period ran out (its worker aborted) is saved too,
//!   so it is redone rather than lost;
//! - the main body returning (the queue is empty) is a shutdown trigger like a signal.
//!
//! Run it, stop it half way, run it again:
//!
//! ```text
//! STATE_DIR=/tmp JOBS=40 cargo run -p lifecycle-examples --bin workers
//! # Ctrl-C after a few jobs: "hook save-queue: 31 jobs left for the next start"
//! STATE_DIR=/tmp cargo run -p lifecycle-examples --bin workers
//! # "restored 31 jobs": it does those and exits by itself. Delete /tmp/workers.queue to start over.
//! ```
//!
//! Environment: `JOBS` (jobs to seed when there is no saved queue, 20), `JOB_MS` (how long a job
//! takes, 200), `WORKERS` (4), `STATE_DIR` (where the queue is kept, `.`), and the runtime's
//! `LIFECYCLE_*` variables. Each finished job prints `job N done by worker W`.
//!
//! State: `STATE_DIR` is created at start-up if missing; if it cannot be, the service does not
//! start (exit code 1, the path named). The queue file `STATE_DIR/workers.queue` holds one job id
//! a line. A missing file seeds `JOBS` jobs; an empty one is a queue with no job left (the run
//! ends at once); one with a line that is not a job id, or over 16 MiB, or that is not a regular
//! file, stops the start with exit code 1 and a message naming it: fix it or delete it, jobs
//! are never dropped silently.
//!
//! Its expansion, the code the attributes generate, is in `expanded/workers.rs`.

use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use lifecycle::{CancellationToken, Lifecycle};

/// The jobs waiting, and those a worker has taken but not finished.
struct Queue {
    pending: Mutex<VecDeque<u64>>,
    running: Mutex<BTreeSet<u64>>,
    path: PathBuf,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    /// Restores the jobs the last run left, or seeds jobs `1..=seed` on the first start.
    fn open(path: PathBuf, seed: u64) -> io::Result<Self> {
        let pending: VecDeque<u64> = match lifecycle::state_file::read_state(&path)? {
            None => {
                println!("no saved queue: seeding {seed} jobs");
                (1..=seed).collect()
            }
            Some(bytes) => {
                let jobs = parse_queue(&bytes).map_err(|problem| {
                    let path = path.display();
                    let message =
                        format!("{path} is not a queue file ({problem}): fix or delete it");
                    io::Error::new(io::ErrorKind::InvalidData, message)
                })?;
                println!("restored {} jobs from {}", jobs.len(), path.display());
                jobs
            }
        };
        Ok(Self {
            pending: Mutex::new(pending),
            running: Mutex::new(BTreeSet::new()),
            path,
        })
    }

    /// Takes the next job, or `None` when the queue is empty.
    fn take(&self) -> Option<u64> {
        let job = lock(&self.pending).pop_front()?;
        lock(&self.running).insert(job);
        Some(job)
    }

    /// Marks a taken job finished.
    fn done(&self, job: u64) {
        lock(&self.running).remove(&job);
    }
}

/// The queue file: one job id a line. Says what is wrong with it otherwise.
fn parse_queue(bytes: &[u8]) -> Result<VecDeque<u64>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            line.parse()
                .map_err(|_| format!("line {} is `{line}`, not a job id", index + 1))
        })
        .collect()
}

/// `STATE_DIR` (default `.`), created now if it is missing: a path that cannot hold the queue
/// stops the start, rather than the save at shutdown.
fn state_dir() -> io::Result<PathBuf> {
    let dir = PathBuf::from(std::env::var("STATE_DIR").unwrap_or_else(|_| ".".into()));
    std::fs::create_dir_all(&dir).map_err(|err| {
        let message = format!("cannot create STATE_DIR `{}`: {err}", dir.display());
        io::Error::new(err.kind(), message)
    })?;
    Ok(dir)
}

#[lifecycle::component]
impl Queue {
    /// Runs after the drain: no worker takes a job any more. What is left (jobs never started,
    /// and jobs whose worker was aborted at the grace deadline) is saved for the next start.
    #[persist(timeout = "2s")]
    fn save(&self) -> io::Result<()> {
        let left: Vec<u64> = {
            let running = lock(&self.running);
            let pending = lock(&self.pending);
            running.iter().chain(pending.iter()).copied().collect()
        };
        let contents: String = left.iter().map(|job| format!("{job}\n")).collect();
        lifecycle::state_file::write_atomic(&self.path, contents)?;
        println!(
            "hook save-queue: {} jobs left for the next start",
            left.len()
        );
        Ok(())
    }
}

/// Takes jobs until the queue is empty or the shutdown starts; a job under way is always finished.
async fn worker(id: usize, queue: Arc<Queue>, job_time: Duration, token: CancellationToken) {
    while !token.is_cancelled() {
        let Some(job) = queue.take() else { break };
        println!("job {job} started by worker {id}");
        // The job itself is not raced against the token: once started, it is finished (the
        // grace period bounds how long that may take).
        tokio::time::sleep(job_time).await;
        queue.done(job);
        println!("job {job} done by worker {id}");
    }
}

fn env_number(name: &str, default: u64) -> io::Result<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} must be a whole number, not `{value}`"),
            )
        }),
    }
}

#[lifecycle::main(grace = "10s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let seed = env_number("JOBS", 20)?;
    let job_time = Duration::from_millis(env_number("JOB_MS", 200)?);
    let workers = env_number("WORKERS", 4)?.max(1) as usize;
    let state_dir = state_dir()?;

    let queue = Arc::new(Queue::open(state_dir.join("workers.queue"), seed)?);
    lc.manage(queue.clone());
    // The start boundary: every value managed above has its start hooks run now, and this
    // returns once they did (false if one failed: the report says which).
    if !lc.started().await {
        return Ok(());
    }

    let handles: Vec<_> = (1..=workers)
        .map(|id| {
            let work = worker(id, queue.clone(), job_time, lc.token());
            lc.task(format!("worker {id}")).spawn(work)
        })
        .collect();
    println!("{workers} workers started");
    for handle in handles {
        // A panicking worker is recorded in the shutdown report; the others carry on.
        let _ = handle.await;
    }
    if lc.token().is_cancelled() {
        println!("main: workers stopped after their current job");
    } else {
        println!("main: queue empty, every job done");
    }
    Ok(())
}
