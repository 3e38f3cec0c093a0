//! A small service written from the README and the rustdoc alone, as a new user would: an axum
//! app with a database component (connect on start, close on shutdown, a counter persisted with
//! `write_atomic`, a reload hook), a worker that needs the database, `/ready` and `/health`.
//!
//! Environment: `PORT` (0 picks one; the bound address is printed as `listening on ADDR`),
//! `STATE_DIR` (where `count` is kept), `CONNECT_MS` (how long the connect takes, 300), or
//! `DB_UP_FILE` (the connect waits until that file exists: the test decides when the database is
//! up), `FAIL_CONNECT=1` (the connect fails). Each hook prints one line on stdout.
//!
//! Its `main` follows the README's start-up snippet: it manages the database, binds `localhost`
//! (an `.await` that waits), spawns a worker that awaits `lc.started()`, and makes the serve loop
//! its start boundary, so `/ready` answers 503 while the connect runs.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use lifecycle::Lifecycle;

struct Db {
    connected: AtomicBool,
    count: AtomicU64,
    path: PathBuf,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[lifecycle::component]
impl Db {
    #[on_start(order = 10, timeout = "5s")]
    async fn connect(&self) -> Result<(), String> {
        let ms: u64 = env_or("CONNECT_MS", "300")
            .parse()
            .map_err(|_| "CONNECT_MS must be a number of milliseconds".to_owned())?;
        match std::env::var_os("DB_UP_FILE") {
            Some(file) => {
                while !std::path::Path::new(&file).exists() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            None => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        if std::env::var_os("FAIL_CONNECT").is_some() {
            return Err("connection refused (FAIL_CONNECT is set)".to_owned());
        }
        self.connected.store(true, Ordering::SeqCst);
        println!("hook connect");
        Ok(())
    }

    #[on_reload]
    async fn reload(&self) -> io::Result<()> {
        println!("hook reload");
        Ok(())
    }

    #[persist(every = "1s")]
    fn save(&self) -> io::Result<()> {
        let count = self.count.load(Ordering::SeqCst);
        lifecycle::state_file::write_atomic(&self.path, format!("{count}\n"))?;
        println!("hook save {count}");
        Ok(())
    }

    #[on_shutdown(order = 100)]
    async fn close(&self) {
        self.connected.store(false, Ordering::SeqCst);
        println!("hook close");
    }
}

#[lifecycle::main(grace = "5s", startup_timeout = "10s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let dir = PathBuf::from(env_or("STATE_DIR", "."));
    let db = Arc::new(Db {
        connected: AtomicBool::new(false),
        count: AtomicU64::new(0),
        path: dir.join("count"),
    });
    lc.manage(db.clone());
    let port: u16 = env_or("PORT", "0")
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PORT must be a port number"))?;
    // `localhost` resolves on the blocking pool: this await waits, and is no boundary.
    let listener = tokio::net::TcpListener::bind(("localhost", port)).await?;
    println!("listening on {}", listener.local_addr()?);

    let (worker, pool) = (lc.clone(), db.clone());
    lc.task("worker").spawn(async move {
        if !worker.started().await {
            return;
        }
        let connected = pool.connected.load(Ordering::SeqCst);
        println!("worker started (connected: {connected})");
        let token = worker.token();
        while tokio::time::timeout(Duration::from_millis(20), token.cancelled())
            .await
            .is_err()
        {
            pool.count.fetch_add(1, Ordering::SeqCst);
        }
        println!("worker stopped");
    });

    let app = Router::new()
        .route("/health", get(lifecycle::axum::live))
        .route("/ready", get(lifecycle::axum::ready))
        .route(
            "/state",
            get(|State(lc): State<Lifecycle>| async move { lc.state().to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "slow done\n"
            }),
        )
        .with_state(lc.clone());
    lifecycle::axum::serve(&lc, listener, app).await
}
