//! A server on `lifecycle::axum::serve` for `tests/e2e_connections.rs`: slow requests, stuck
//! ones, a big body, a WebSocket that ignores the cancel, and `/stats` from `lc.stats()`. It prints `listening on ADDRESS`; the shutdown
//! report goes to stderr (no log subscriber). `HEADER_READ_TIMEOUT_MS` sets the serve loop's
//! header-read timeout; `LIFECYCLE_GRACE` and `LIFECYCLE_DRAIN_DELAY` the runtime's.
//!
//! `SERVE=axum` serves the same routes on `axum::serve` instead, a server the lifecycle does not
//! run, with `lifecycle::http::InFlightLayer` counting its requests and axum's own graceful
//! shutdown at the cancel (the pattern for tonic and any other server).

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lifecycle::Lifecycle;

/// `GET /slow?ms=N`: answers `done` after N ms (the cancel does not hurry it).
async fn slow(Query(params): Query<HashMap<String, String>>) -> &'static str {
    let ms = params.get("ms").and_then(|ms| ms.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

/// `GET /after_trigger?ms=N`: answers `done` N ms after the shutdown was triggered, so however
/// long the client takes to open all its connections, every request is still in flight at the
/// signal (the cancel does not hurry it).
async fn after_trigger(
    State(lc): State<Lifecycle>,
    Query(params): Query<HashMap<String, String>>,
) -> &'static str {
    let ms = params.get("ms").and_then(|ms| ms.parse().ok()).unwrap_or(0);
    lc.triggered().await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

/// `GET /stuck`: never answers; only the grace deadline ends it.
async fn stuck() -> &'static str {
    std::future::pending().await
}

/// `GET /ws`: a WebSocket that reads until the client goes, ignoring the cancel: only the grace
/// deadline ends it.
async fn ws_ignoring_the_cancel(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move { while let Some(Ok(_)) = socket.recv().await {} })
}

/// `GET /big?mib=N`: a body of N MiB in one piece (hyper takes it whole, and writes it as the
/// client reads). Prints `big body handed over` as it returns it.
async fn big(Query(params): Query<HashMap<String, String>>) -> Vec<u8> {
    let mib: usize = params.get("mib").and_then(|n| n.parse().ok()).unwrap_or(1);
    println!("big body handed over");
    vec![b'x'; mib << 20]
}

/// `GET /stats`: the lifecycle's counts, this request included.
async fn stats(State(lc): State<Lifecycle>) -> String {
    let stats = lc.stats();
    format!(
        "connections {}\nin_flight {}\n",
        stats.connections, stats.in_flight
    )
}

#[lifecycle::main(grace = "30s", drain_delay = "0s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let header_read_timeout = std::env::var("HEADER_READ_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis);
    let router = Router::new()
        .route("/slow", get(slow))
        .route("/after_trigger", get(after_trigger))
        .route("/stuck", get(stuck))
        .route("/big", get(big))
        .route("/ws", get(ws_ignoring_the_cancel))
        .route("/stats", get(stats))
        .with_state(lc.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    if std::env::var("SERVE").as_deref() == Ok("axum") {
        let counted = router.layer(lifecycle::http::InFlightLayer::new(&lc));
        axum::serve(listener, counted)
            .with_graceful_shutdown(lc.cancelled())
            .await?;
        println!("stopped accepting");
        return Ok(());
    }
    if std::env::var("SERVE").as_deref() == Ok("axum_spawned") {
        let counted = router.layer(lifecycle::http::InFlightLayer::new(&lc));
        let server = axum::serve(listener, counted).with_graceful_shutdown(lc.cancelled());
        tokio::spawn(std::future::IntoFuture::into_future(server));
        lc.cancelled().await;
        return Ok(());
    }
    lifecycle::axum::serve(&lc, listener, router)
        .header_read_timeout(header_read_timeout)
        .await?;
    println!("stopped accepting");
    Ok(())
}
