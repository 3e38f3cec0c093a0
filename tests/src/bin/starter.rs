//! A service whose start-up is declared with the attributes, for the real-process tests in
//! `tests/start_process.rs`. Three components start in order: a cache (order 0), the upstream
//! connection (order 10: a TCP connection to `UPSTREAM`, which the test binds or leaves closed),
//! and a consumer (order 20). Once started it serves on a TCP port: each connection gets one
//! line, `reloads N`, the number of reloads so far. SIGHUP re-reads its settings (a reload hook).
//!
//! Environment: `UPSTREAM` (address to connect to at start-up), `SLOW_START=1` (the consumer's
//! start hook takes a minute), `SLOW_STOP=1` (the cache's shutdown hook takes a minute),
//! `FAIL_RELOAD=1` (the reload hook fails). Every line printed is one the tests wait for or
//! assert on.
//!
//! `MANAGE_DB=before` or `MANAGE_DB=after` runs another main: it binds its listener by name
//! first (`localhost:0`, resolved on the blocking pool: an `.await` that waits), then manages a
//! database with a start hook before or after `lc.started().await`, and serves. No `tracing`
//! subscriber is installed, so whatever the lifecycle says goes to standard error.
//! `MANAGE_DB=after_shutdown_future` makes its shutdown future (`lc.cancelled()`, a start
//! boundary when main calls it) before it manages the database: a late manage too.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn env_on(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| value == "1")
}

struct Cache;

#[lifecycle::component]
impl Cache {
    #[on_start]
    async fn warm(&self) {
        say("start cache");
    }

    #[on_shutdown(order = 30, timeout = "90s")]
    async fn drop_cache(&self) {
        say("stop cache");
        if env_on("SLOW_STOP") {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

struct Upstream {
    address: String,
}

#[lifecycle::component]
impl Upstream {
    #[on_start(order = 10, timeout = "2s")]
    async fn connect(&self) -> std::io::Result<()> {
        let stream = tokio::net::TcpStream::connect(&self.address).await?;
        drop(stream);
        say("start upstream");
        Ok(())
    }

    #[on_shutdown(order = 20)]
    async fn disconnect(&self) {
        say("stop upstream");
    }
}

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[on_start(order = 20, timeout = "2m")]
    async fn subscribe(&self) {
        if env_on("SLOW_START") {
            say("start consumer began");
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        say("start consumer");
    }

    #[on_shutdown(order = 10)]
    async fn unsubscribe(&self) {
        say("stop consumer");
    }
}

struct Db;

#[lifecycle::component]
impl Db {
    #[on_start]
    async fn connect(&self) {
        say("start db");
    }

    #[on_shutdown]
    async fn close(&self) {
        say("stop db");
    }
}

/// The settings a reload re-reads: here, how many times they were.
static RELOADS: AtomicU64 = AtomicU64::new(0);

#[lifecycle::on_reload(timeout = "2s")]
async fn reread_settings() -> Result<(), String> {
    if env_on("FAIL_RELOAD") {
        say("reload failed");
        return Err("settings file is not valid TOML".into());
    }
    let count = RELOADS.fetch_add(1, Ordering::SeqCst) + 1;
    say(&format!("reload {count}"));
    Ok(())
}

#[lifecycle::main(grace = "5s", drain_delay = "2s", startup_timeout = "3m")]
async fn main(lc: lifecycle::Lifecycle) -> std::io::Result<()> {
    if let Ok(when) = std::env::var("MANAGE_DB") {
        if when == "after_shutdown_future" {
            let shutdown = lc.cancelled(); // the boundary: main called it
            lc.manage(Arc::new(Db)); // too late
            shutdown.await;
            return Ok(());
        }
        return bind_then_manage(&lc, when == "after").await;
    }
    let address = std::env::var("UPSTREAM").unwrap_or_else(|_| "127.0.0.1:1".into());
    lc.manage(Arc::new(Cache));
    lc.manage(Arc::new(Upstream { address }));
    lc.manage(Arc::new(Consumer));
    if !lc.started().await {
        say("main: start-up failed");
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    serve(&lc, listener).await
}

/// The main of `MANAGE_DB`: the database managed before or after the start boundary.
async fn bind_then_manage(lc: &lifecycle::Lifecycle, after: bool) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("localhost:0").await?;
    if !after {
        lc.manage(Arc::new(Db));
    }
    if !lc.started().await {
        say("main: start-up failed");
        return Ok(());
    }
    if after {
        lc.manage(Arc::new(Db)); // too late: a start-up failure
    }
    serve(lc, listener).await
}

/// Answers each connection with `reloads N` until the drain.
async fn serve(
    lc: &lifecycle::Lifecycle,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    say(&format!("listening on {}", listener.local_addr()?));
    loop {
        tokio::select! {
            () = lc.cancelled() => break,
            accepted = listener.accept() => {
                let (mut stream, _) = accepted?;
                let line = format!("reloads {}\n", RELOADS.load(Ordering::SeqCst));
                let _ = stream.write_all(line.as_bytes()).await;
            }
        }
    }
    say("main done");
    Ok(())
}
