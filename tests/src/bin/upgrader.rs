//! A server for `tests/upgrade.rs`: `lifecycle::listener("http", "127.0.0.1:0")` served by
//! `lifecycle::axum::serve`, upgraded in place on SIGUSR2. It prints `listening on ADDRESS`,
//! then `pid N stopped: TRIGGER` when its serve loop returns; logs and the report go to stderr.
//! `GET /health` answers `pid N`; `GET /upgrade?times=N` calls `lc.request_upgrade()` N times;
//! `GET /slow?ms=N` prints `pid N: slow request in` and answers after N ms.
//!
//! Its start hook reads two files, so that a test can make the *next* process (the upgrade's)
//! fail or start slowly while this one runs: `FAIL_START_FILE` (the hook fails while it
//! exists) and `SLOW_START_FILE` (the hook sleeps as many milliseconds as it holds). Each
//! process appends its id to `STARTS_FILE`, when set, as its `main` begins.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use lifecycle::Lifecycle;

struct Gate;

#[lifecycle::component]
impl Gate {
    #[on_start(timeout = "30s")]
    async fn open(&self) -> Result<(), String> {
        if let Some(slow) = std::env::var_os("SLOW_START_FILE") {
            if let Ok(ms) = std::fs::read_to_string(slow) {
                let ms: u64 = ms.trim().parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        match std::env::var_os("FAIL_START_FILE") {
            Some(path) if std::path::Path::new(&path).exists() => {
                Err(format!("pid {}: told to fail", std::process::id()))
            }
            _ => Ok(()),
        }
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(false)
        .init();
}

#[lifecycle::main(grace = "5s", init = init_logging)]
async fn main(lc: Lifecycle) -> io::Result<()> {
    lc.manage(Arc::new(Gate));
    let pid = std::process::id();
    if let Some(starts) = std::env::var_os("STARTS_FILE") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(starts)?;
        writeln!(file, "{pid}")?;
    }
    let listener = lifecycle::listener("http", "127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    let upgrades = lc.clone();
    let router = Router::new()
        .route("/health", get(move || async move { format!("pid {pid}") }))
        .route(
            "/upgrade",
            get(
                move |Query(query): Query<HashMap<String, u32>>| async move {
                    let times = query.get("times").copied().unwrap_or(1);
                    let asked = (0..times).filter(|_| upgrades.request_upgrade()).count();
                    format!("requested {asked}")
                },
            ),
        )
        .route(
            "/slow",
            get(
                move |Query(query): Query<HashMap<String, u64>>| async move {
                    let ms = query.get("ms").copied().unwrap_or(0);
                    println!("pid {pid}: slow request in");
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "done"
                },
            ),
        );
    lifecycle::axum::serve(&lc, listener, router).await?;
    println!("pid {pid} stopped: {}", lc.triggered().await);
    Ok(())
}
