//! The lifecycle's metrics on `/metrics`, for Prometheus: the runtime's `metrics` feature records
//! them through the `metrics` facade, and `metrics-exporter-prometheus` renders them in an axum
//! route of the service itself (no listener of the exporter's own, no TLS stack).
//!
//! What it shows:
//!
//! - the recorder installed in `init`, before the lifecycle exists, so it sees the first state
//!   and the metrics' descriptions; the `_seconds` histograms given buckets that fit seconds;
//! - `lifecycle_state{state="ready"} 1` once the cache's start hook warmed it up (its duration in
//!   `lifecycle_hook_duration_seconds{kind="start"}`), `lifecycle_requests_in_flight` and
//!   `lifecycle_connections_open` moving with `/work?ms=N`, the reload counted on SIGHUP, and
//!   the restarts of a supervised refresher that fails (`FAIL_REFRESH=N` times);
//! - on SIGTERM, `draining` and the signal, scraped during the drain delay.
//!
//! ```text
//! cargo run -p lifecycle-examples --features metrics --bin metrics
//! curl -s localhost:3000/metrics | grep '^lifecycle_'
//! curl 'localhost:3000/work?ms=5000' &  curl -s localhost:3000/metrics | grep in_flight
//! kill -HUP $(pgrep -x metrics)         # lifecycle_reloads_total{outcome="ok"} 1
//! ```
//!
//! The table of every metric is in the runtime's docs (`lifecycle::metrics`). The scrape drains
//! the exporter's histogram samples as it renders them, and the lifecycle records a few per hook
//! run, so the exporter needs no upkeep task here; an app that records busy histograms of its own
//! runs `handle.run_upkeep()` every few seconds.
//!
//! Environment: `PORT` (3000; `0` picks a free port), `HOST` (`127.0.0.1`), `WARM_MS` (how long
//! the start hook takes, 200), `FAIL_REFRESH` (how many times the refresher fails before it
//! works, 0), and the runtime's `LIFECYCLE_*` variables (`LIFECYCLE_DRAIN_DELAY`, 2 s here).
//!
//! Its expansion, the code the attributes generate, is in `expanded/metrics.rs`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use lifecycle::{CancellationToken, Lifecycle};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The exporter's handle, installed by `init`; or why it could not be.
static PROMETHEUS: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Bucket bounds for the `_seconds` histograms: a start hook of a few milliseconds to a drain of
/// a minute.
const SECONDS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Runs first (`init`), before the lifecycle exists: the recorder sees everything it records.
fn install_recorder() {
    let installed = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| format!("the Prometheus recorder could not be installed: {err}"));
    if let Err(why) = &installed {
        eprintln!("{why}; /metrics answers 503");
    }
    let _ = PROMETHEUS.set(installed);
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics() -> impl IntoResponse {
    match PROMETHEUS.get() {
        Some(Ok(handle)) => {
            let text = "text/plain; version=0.0.4; charset=utf-8";
            Ok(([(header::CONTENT_TYPE, text)], handle.render()))
        }
        Some(Err(why)) => Err((StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"))),
        None => Err((StatusCode::SERVICE_UNAVAILABLE, "no recorder\n".to_owned())),
    }
}

/// `GET /work?ms=N`: answers after N ms (a request in flight meanwhile).
async fn work(Query(params): Query<HashMap<String, String>>) -> Result<String, StatusCode> {
    let ms = match params.get("ms") {
        None => 0,
        Some(ms) => ms.parse().map_err(|_| StatusCode::BAD_REQUEST)?,
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("done after {ms}ms\n"))
}

/// A stand-in for a cache: warmed up before Ready, re-read on SIGHUP, saved and closed at the
/// end, and refreshed by a supervised part.
struct Cache {
    warm_ms: u64,
    /// How many more times the refresher fails before it works (`FAIL_REFRESH`).
    failures_left: AtomicU32,
    entries: AtomicU64,
}

#[lifecycle::component]
impl Cache {
    /// Its duration is `lifecycle_hook_duration_seconds{kind="start"}`.
    #[on_start(timeout = "10s")]
    async fn warm(&self) {
        tokio::time::sleep(Duration::from_millis(self.warm_ms)).await;
        self.entries.store(100, Ordering::Relaxed);
        println!("on_start: warmed the cache in {}ms", self.warm_ms);
    }

    /// SIGHUP: `lifecycle_reloads_total{outcome="ok"}`.
    #[on_reload]
    fn reread(&self) {
        println!("on_reload: re-read the cache settings");
    }

    /// Supervised: each failure is a restart,
    /// `lifecycle_restarts_total{task="metrics::Cache::refresh"}`.
    #[run(restart = "on-failure", max_restarts = 5, backoff = "100ms")]
    async fn refresh(&self, token: CancellationToken) -> Result<(), String> {
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.failures_left.store(left - 1, Ordering::SeqCst);
            return Err(format!("refresh failed ({left} more to go)"));
        }
        while !token.is_cancelled() {
            self.entries.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                () = token.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        Ok(())
    }

    #[persist(timeout = "2s")]
    fn save(&self) {
        let entries = self.entries.load(Ordering::Relaxed);
        println!("persist: saved {entries} cache entries");
    }

    #[on_shutdown(timeout = "2s")]
    async fn close(&self) {
        println!("on_shutdown: closed the cache");
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn number<T: std::str::FromStr>(name: &str, default: &str) -> io::Result<T> {
    let value = env_or(name, default);
    value.parse().map_err(|_| {
        let message = format!("{name} must be a whole number, not `{value}`");
        io::Error::new(io::ErrorKind::InvalidInput, message)
    })
}

#[lifecycle::main(grace = "10s", drain_delay = "2s", init = install_recorder)]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let port: u16 = number("PORT", "3000")?;
    let host = env_or("HOST", "127.0.0.1");
    lc.manage(Arc::new(Cache {
        warm_ms: number("WARM_MS", "200")?,
        failures_left: AtomicU32::new(number("FAIL_REFRESH", "0")?),
        entries: AtomicU64::new(0),
    }));

    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/work", get(work))
        .route("/health", get(lifecycle::axum::live))
        .route("/ready", get(lifecycle::axum::ready))
        .with_state(lc.clone());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let ready = lc.clone();
    tokio::spawn(async move {
        if ready.started().await {
            println!("ready: the cache is warm");
        }
    });
    // The start boundary; returns once the listener is closed, after the drain delay.
    lifecycle::axum::serve(&lc, listener, router).await
}
