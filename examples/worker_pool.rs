//! A worker pool that grows and shrinks on SIGHUP, and drains after the HTTP server.
//!
//! What it shows:
//!
//! - one [`Scope`] per worker, inside a `pool` scope: `pool/w1`, `pool/w2`, ... Each worker
//!   takes jobs from a shared queue until its scope's token is cancelled, and always finishes the
//!   job it is on;
//! - a resize on SIGHUP, in an `#[on_reload]` hook of the pool: growing adds worker scopes;
//!   shrinking shuts the removed workers' scopes down (`shutdown()`) and waits for them
//!   (`join()`), so a removed worker finishes its current job before the resize is done. Each
//!   SIGHUP toggles the size between `WORKERS` and `WORKERS / 2`;
//! - "the pool stops after the HTTP server" in one line: the pool scope is made in stop stage 1
//!   (`lc.stage(1).scope("pool")`), the server is unstaged. At SIGTERM the server stops first
//!   and waits for its requests in flight, which may still wait for jobs: the pool keeps working
//!   for them. Only then is the pool told to stop, and each worker finishes its current job.
//!
//! Run it, then poke it from another terminal:
//!
//! ```text
//! PORT=3000 cargo run -p lifecycle-examples --bin worker_pool
//! curl localhost:3000/progress              # started, done, workers
//! kill -HUP $(pgrep worker_pool)            # "resized to 2": w3 and w4 finish their job and stop
//! curl 'localhost:3000/wait?done=60' &      # answered once 60 jobs are done in all
//! kill -TERM $(pgrep worker_pool)           # the request above is still answered, then the pool stops
//! ```
//!
//! Environment: `WORKERS` (4), `JOB_MS` (how long a job takes, 200), `PORT` (3000; `0` picks a
//! free port), and the runtime's `LIFECYCLE_*` variables.
//!
//! Output (stdout), one line each: `listening on ADDRESS`, `job N started by pool/wK`,
//! `job N done by pool/wK`, `pool/wK stopped`, `resizing from M to N`, `resized to N`, `waiting for N jobs done` (a
//! `/wait` request arrived), `http stopped accepting` (the listener closed), `http stopped`
//! (its last request answered), and at the end `pool stopped: N jobs done`.
//!
//! Endpoints: `GET /progress` (jobs started and done, workers running); `GET /wait?done=N`
//! answers once N jobs are done in all.
//!
//! Its expansion, the code the attributes generate, is in `expanded/worker_pool.rs`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use lifecycle::tasks::JoinError;
use lifecycle::{CancellationToken, Lifecycle, Scope};
use tokio::sync::{watch, Mutex};

/// The shared queue: an endless generator of jobs numbered 1, 2, ...
struct Jobs {
    /// The last job handed out.
    started: AtomicU64,
    /// How many jobs are done; `/wait` watches it.
    done: watch::Sender<u64>,
    /// How long a job takes.
    job_time: Duration,
}

impl Jobs {
    /// Takes the next job.
    fn take(&self) -> u64 {
        self.started.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Marks one job done.
    fn finish(&self) {
        self.done.send_modify(|done| *done += 1);
    }
}

/// Takes jobs until the worker's scope is stopped; a job once started is always finished.
async fn worker(jobs: Arc<Jobs>, path: String, token: CancellationToken) {
    while !token.is_cancelled() {
        let job = jobs.take();
        println!("job {job} started by {path}");
        // Not raced against the token: a removed worker finishes its job, it never drops it.
        tokio::time::sleep(jobs.job_time).await;
        jobs.finish();
        println!("job {job} done by {path}");
    }
    println!("{path} stopped");
}

/// The workers: one scope each, inside the pool's scope.
struct Pool {
    jobs: Arc<Jobs>,
    /// `pool`, in stop stage 1.
    scope: Scope,
    /// The running workers' scopes, by number (`w1` first). A Tokio mutex: a resize holds it
    /// while it waits for the removed workers, so two resizes never interleave.
    workers: Mutex<Vec<Scope>>,
    /// The two sizes a SIGHUP toggles between: `WORKERS`, and half of it.
    full: usize,
    half: usize,
}

impl Pool {
    /// Starts workers until there are `target`.
    fn grow(&self, workers: &mut Vec<Scope>, target: usize) {
        while workers.len() < target {
            let scope = self.scope.scope(&format!("w{}", workers.len() + 1));
            let work = worker(self.jobs.clone(), scope.path().to_owned(), scope.token());
            scope.task("worker").spawn(work);
            workers.push(scope);
        }
    }

    /// Stops the workers above `target`, and waits until each has finished its current job.
    async fn shrink(&self, workers: &mut Vec<Scope>, target: usize) -> Result<(), JoinError> {
        let removed = workers.split_off(target.min(workers.len()));
        for scope in &removed {
            scope.shutdown(); // cancels its token: the worker leaves after its current job
        }
        for scope in &removed {
            scope.join().await?;
        }
        Ok(())
    }
}

#[lifecycle::component]
impl Pool {
    /// SIGHUP: from `WORKERS` to half of it, or back. Waits for the removed workers' jobs, so
    /// the timeout must be above `JOB_MS`.
    #[on_reload(timeout = "30s")]
    async fn resize(&self) -> Result<(), JoinError> {
        let mut workers = self.workers.lock().await;
        let target = if workers.len() == self.full {
            self.half
        } else {
            self.full
        };
        println!("resizing from {} to {target}", workers.len());
        self.grow(&mut workers, target);
        self.shrink(&mut workers, target).await?;
        println!("resized to {target}");
        Ok(())
    }

    /// After the drain, when every worker has stopped: the pool stopped after the server.
    #[on_shutdown]
    fn stopped(&self) {
        println!("pool stopped: {} jobs done", *self.jobs.done.borrow());
    }
}

/// What the handlers reach.
#[derive(Clone)]
struct App {
    jobs: Arc<Jobs>,
    pool: Scope,
}

/// `GET /progress`.
async fn progress(State(app): State<App>) -> String {
    format!(
        "started {}\ndone {}\ntasks {}\n",
        app.jobs.started.load(Ordering::SeqCst),
        *app.jobs.done.borrow(),
        app.pool.running()
    )
}

/// `GET /wait?done=N`: answers once N jobs are done in all. A request the server's drain waits
/// for, which needs the pool: it is answered because the pool stops after the server.
async fn wait(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, String)> {
    let target: u64 = params
        .get("done")
        .and_then(|done| done.parse().ok())
        .ok_or_else(|| {
            let message = "`done` must be a whole number of jobs: /wait?done=N\n";
            (StatusCode::BAD_REQUEST, message.to_owned())
        })?;
    println!("waiting for {target} jobs done");
    let mut done = app.jobs.done.subscribe();
    let reached = done.wait_for(|done| *done >= target).await.is_ok();
    match reached {
        true => Ok(format!("{target} jobs done\n")),
        false => Err((StatusCode::SERVICE_UNAVAILABLE, "the pool is gone\n".into())),
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
    let full = env_number("WORKERS", 4)?.max(1) as usize;
    let job_time = Duration::from_millis(env_number("JOB_MS", 200)?);
    let port = u16::try_from(env_number("PORT", 3000)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PORT must be a port number"))?;

    let jobs = Arc::new(Jobs {
        started: AtomicU64::new(0),
        done: watch::Sender::new(0),
        job_time,
    });
    let pool = Arc::new(Pool {
        jobs: jobs.clone(),
        // Stop stage 1: drained after the unstaged work, the HTTP server included.
        scope: lc.stage(1).scope("pool"),
        workers: Mutex::new(Vec::new()),
        full,
        half: (full / 2).max(1),
    });
    lc.manage(pool.clone());
    if !lc.started().await {
        return Ok(());
    }
    pool.grow(&mut *pool.workers.lock().await, full);
    println!("{full} workers started");

    let app = App {
        jobs,
        pool: pool.scope.clone(),
    };
    let router = Router::new()
        .route("/progress", get(progress))
        .route("/wait", get(wait))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    // Stage 0 comes after the unstaged work (the server's connections included) and before
    // the pool's stage 1: its token says "the HTTP server is done, every request answered".
    let http_done = lc.stage(0).token();
    lc.stage(0).task("http-stopped").spawn(async move {
        http_done.cancelled().await;
        println!("http stopped");
    });
    // Unstaged: stops first at SIGTERM. It returns once the listener is closed; the drain then
    // waits for the connections still open, and their requests in flight.
    lifecycle::axum::serve(&lc, listener, router).await?;
    println!("http stopped accepting");
    Ok(())
}
