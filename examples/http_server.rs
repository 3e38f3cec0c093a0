//! An axum service that shuts down without failing a single request.
//!
//! What it shows:
//!
//! - `#[lifecycle::main(grace, drain_delay)]` around `lifecycle::axum::serve(&lc, listener,
//!   router)`: on SIGTERM `/ready` answers 503 at once, the service keeps serving for the drain
//!   delay (so the load balancer can drop it), then stops accepting, closes idle keep-alive
//!   connections, waits for the requests in flight, and exits as soon as the last one is
//!   answered, not at the end of the grace period; a request still running at the deadline is
//!   named in the report with its connection (`127.0.0.1:50412 (GET /work?ms=60000)`);
//! - `lifecycle::axum::{live, ready, close_when_draining}`: liveness stays 200 while draining, and
//!   keep-alive clients are told `Connection: close`;
//! - start-up declared like shutdown: the pool connects in an `#[on_start]` hook, and with
//!   `ready = "manual"` `/ready` answers 503 until that hook succeeded *and* `main` said
//!   `lc.set_ready()` once its listener was bound (if the pool cannot connect, the service exits
//!   with code 5 instead of serving);
//! - a component closed by an ordered `#[on_shutdown]` hook (the pool, last), a free hook (the
//!   metrics, before it), and a request counter `#[persist]`ed every 5 s and at shutdown, restored
//!   at the next start.
//!
//! Run it, then poke it from another terminal:
//!
//! ```text
//! STATE_DIR=/tmp cargo run -p lifecycle-examples --bin http_server
//! curl 'localhost:3000/work?ms=8000' &   # a slow request
//! curl -i localhost:3000/ready           # 200
//! kill -TERM $(pgrep http_server)        # or Ctrl-C in the first terminal
//! curl -i localhost:3000/ready           # 503 for the 5 s drain delay; /health stays 200
//! # ... and the slow request still gets its answer before the process exits.
//! ```
//!
//! Under systemd's socket activation (`systemd/http_server.socket`, or
//! `systemd-socket-activate -l 127.0.0.1:3000 --fdname=http http_server`) it serves on the socket
//! systemd passed (`lifecycle::listener("http", ..)`), so the port stays open across restarts.
//!
//! Environment: `PORT` (3000; `0` picks a free port), `HOST` (`127.0.0.1`; `0.0.0.0` in a
//! container; both unused under socket activation), `STATE_DIR` (where the counter is kept,
//! `.`), `POOL_CONNECT_MS` (how long the pool takes to connect at start-up, 0), and the
//! runtime's own `LIFECYCLE_GRACE`, `LIFECYCLE_DRAIN_DELAY`, `LIFECYCLE_HOOK_TIMEOUT`.
//!
//! State: `STATE_DIR` is created at start-up if missing; if it cannot be, the service does not
//! start (exit code 1, the path named). The counter file `STATE_DIR/http_server.counter` holds one
//! line, `served N`. A missing file starts the count at 0; a file that is anything else (empty,
//! damaged, over 16 MiB, not a regular file) stops the start with exit code 1 and a message
//! naming it: fix it or delete it, the service never overwrites a count it could not read.
//!
//! Endpoints: `GET /work?ms=N` answers after N ms; `GET /stats` shows the `/work` requests in
//! flight, the requests served, and the open connections and requests in flight as the
//! lifecycle counts them (`lc.stats()`); `GET /health` is liveness; `GET /ready` is readiness. `k8s/` deploys it.
//!
//! Its expansion, the code the attributes generate, is in `expanded/http_server.rs`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Router};
use lifecycle::Lifecycle;
use tokio::sync::Semaphore;

/// Requests answered in this run: a metric, kept where a metrics library would keep it.
static SERVED_THIS_RUN: AtomicU64 = AtomicU64::new(0);

/// A stand-in for a database pool: a fixed set of connections, one checked out per query.
struct Pool {
    connections: Semaphore,
    size: usize,
    queries: AtomicU64,
}

impl Pool {
    /// A pool with no connection yet: [`connect`](Pool::connect), a start hook, opens them.
    fn new(size: usize) -> Self {
        Self {
            connections: Semaphore::new(0),
            size,
            queries: AtomicU64::new(0),
        }
    }

    /// Checks out a connection for one query. Fails once the pool is closed.
    async fn query(&self) -> Result<(), (StatusCode, &'static str)> {
        let _connection = self
            .connections
            .acquire()
            .await
            .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "the pool is closed\n"))?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[lifecycle::component]
impl Pool {
    /// Runs before the service is Ready; a failure here stops the start (exit code 5) and only
    /// what had started is stopped.
    #[on_start(timeout = "10s")]
    async fn connect(&self) -> Result<(), String> {
        let ms = env_or("POOL_CONNECT_MS", "0");
        let ms: u64 = ms.parse().map_err(|_| {
            format!("POOL_CONNECT_MS must be a whole number of milliseconds, not `{ms}`")
        })?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.connections.add_permits(self.size);
        println!("hook connect-pool: {} connections open", self.size);
        Ok(())
    }

    /// Runs last (order 100): after the drain no request needs a connection any more, and the
    /// metrics (order 10) are flushed before it.
    #[on_shutdown(order = 100, timeout = "2s")]
    async fn close(&self) {
        let checked_out = self.size - self.connections.available_permits();
        self.connections.close();
        println!(
            "hook close-pool: closed {} connections after {} queries ({checked_out} still checked out)",
            self.size,
            self.queries.load(Ordering::Relaxed)
        );
    }
}

/// Requests served since the service was first started, kept across restarts in a file.
struct Counter {
    served: AtomicU64,
    path: PathBuf,
}

impl Counter {
    /// Restores the count saved by the last run, or starts at 0 when there is none.
    fn restore(path: PathBuf) -> io::Result<Self> {
        // Refuses a FIFO, a device or a file over 16 MiB with an error naming the path.
        let served = match lifecycle::state_file::read_state(&path)? {
            None => 0,
            Some(bytes) => parse_counter(&bytes).ok_or_else(|| {
                let path = path.display();
                let message =
                    format!("{path} is not a counter file (`served N`): fix or delete it");
                io::Error::new(io::ErrorKind::InvalidData, message)
            })?,
        };
        println!("restored {served} served requests from {}", path.display());
        Ok(Self {
            served: AtomicU64::new(served),
            path,
        })
    }

    /// Counts one served request and returns its number.
    fn count(&self) -> u64 {
        self.served.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// The counter file holds one line, `served N`.
fn parse_counter(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .trim_end()
        .strip_prefix("served ")?
        .parse()
        .ok()
}

/// `STATE_DIR` (default `.`), created now if it is missing: a path that cannot hold the counter
/// stops the start, rather than the save at shutdown.
fn state_dir() -> io::Result<PathBuf> {
    let dir = PathBuf::from(env_or("STATE_DIR", "."));
    std::fs::create_dir_all(&dir).map_err(|err| {
        let message = format!("cannot create STATE_DIR `{}`: {err}", dir.display());
        io::Error::new(err.kind(), message)
    })?;
    Ok(dir)
}

#[lifecycle::component]
impl Counter {
    /// Every 5 s while serving, and once more after the drain, when no request can change it.
    /// Not `async`: `write_atomic` blocks (fsync), so lifecycle runs it on the blocking pool.
    #[persist(every = "5s", timeout = "2s")]
    fn save(&self) -> io::Result<()> {
        let served = self.served.load(Ordering::SeqCst);
        lifecycle::state_file::write_atomic(&self.path, format!("served {served}\n"))?;
        println!(
            "hook save-counter: {served} served requests saved to {}",
            self.path.display()
        );
        Ok(())
    }
}

/// A free hook: registered by the attribute alone. Order 10 runs before the pool closes.
#[lifecycle::on_shutdown(order = 10, timeout = "1s")]
async fn flush_metrics() {
    let served = SERVED_THIS_RUN.load(Ordering::Relaxed);
    println!("hook flush-metrics: {served} requests served in this run");
}

/// What every handler can reach.
#[derive(Clone)]
struct App {
    lc: Lifecycle,
    counter: Arc<Counter>,
    pool: Arc<Pool>,
    in_flight: Arc<AtomicUsize>,
}

/// Lets `lifecycle::axum::ready` and `close_when_draining` take their `State<Lifecycle>`.
impl FromRef<App> for Lifecycle {
    fn from_ref(app: &App) -> Lifecycle {
        app.lc.clone()
    }
}

/// Counts a `/work` request as in flight for as long as it lives, however it ends.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `GET /work?ms=N`: a query on the pool, then N ms of (simulated) slow downstream work.
async fn work(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, String)> {
    let ms: u64 = match params.get("ms") {
        None => 0,
        Some(ms) => ms.parse().map_err(|_| {
            let message = format!("`ms` must be a whole number of milliseconds, not `{ms}`\n");
            (StatusCode::BAD_REQUEST, message)
        })?,
    };
    let _in_flight = InFlight::enter(&app.in_flight);
    app.pool
        .query()
        .await
        .map_err(|(status, message)| (status, message.to_owned()))?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let number = app.counter.count();
    SERVED_THIS_RUN.fetch_add(1, Ordering::Relaxed);
    Ok(format!("request {number} done after {ms}ms\n"))
}

/// `GET /stats`: what a dashboard (or a test) wants to see.
async fn stats(State(app): State<App>) -> String {
    format!(
        "in_flight {}\nserved {}\nstate {}\nconnections {}\nrequests {}\n",
        app.in_flight.load(Ordering::SeqCst),
        app.counter.served.load(Ordering::SeqCst),
        app.lc.state(),
        app.lc.stats().connections,
        app.lc.stats().in_flight
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Installs the log subscriber. `init` calls it before anything else in `main`, so every
/// lifecycle event (the "ready" one too) is logged.
fn init_logging() {
    // Logs (and the shutdown report) go to stderr; stdout is for the lines above.
    tracing_subscriber::fmt().with_writer(io::stderr).init();
}

#[lifecycle::main(grace = "20s", drain_delay = "5s", ready = "manual", init = init_logging)]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let port: u16 = env_or("PORT", "3000").parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "PORT must be a port number (0 picks a free one)",
        )
    })?;
    let host = env_or("HOST", "127.0.0.1");
    let state_dir = state_dir()?;

    let counter = Arc::new(Counter::restore(state_dir.join("http_server.counter"))?);
    let pool = Arc::new(Pool::new(32));
    lc.manage(counter.clone());
    lc.manage(pool.clone());
    // Kubernetes' terminationGracePeriodSeconds must be above this (see k8s/README.md).
    let worst_case = lc.budget().worst_case();
    tracing::info!(
        worst_case_ms = worst_case.as_millis() as u64,
        "worst-case shutdown: drain delay + grace + hooks"
    );

    let app = App {
        lc: lc.clone(),
        counter,
        pool,
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new()
        .route("/work", get(work))
        .route("/stats", get(stats))
        .route("/health", get(lifecycle::axum::live))
        .route("/ready", get(lifecycle::axum::ready))
        .layer(middleware::from_fn_with_state(
            lc.clone(),
            lifecycle::axum::close_when_draining,
        ))
        .with_state(app);

    // The socket systemd passed (`systemd/http_server.socket`, or `systemd-socket-activate`),
    // else a new one on HOST:PORT.
    let listener = lifecycle::listener("http", (host.as_str(), port)).await?;
    println!("listening on {}", listener.local_addr()?);
    lc.set_ready(); // Ready once the pool's start hook succeeded too
    let ready = lc.clone();
    tokio::spawn(async move {
        if ready.started().await {
            println!("ready: the pool is connected and the listener bound");
        }
    });
    // Returns once the listener is closed; the drain waits for the open connections.
    lifecycle::axum::serve(&lc, listener, router).await?;
    println!("server stopped accepting");
    Ok(())
}
