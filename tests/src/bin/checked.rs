//! A service whose readiness depends on a TCP dependency: one readiness check,
//! `dependency`, connects to `DEPENDENCY` (an address the test listens on, closes and opens
//! again) every 100 ms with a 500 ms timeout. `/ready` and `/health` are the crate's handlers.
//!
//! Environment: `DEPENDENCY` (the address, required). Prints `listening on ADDR` once bound,
//! and `readiness: <readiness>` on each change of `lc.watch_readiness()`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use lifecycle::Lifecycle;

#[lifecycle::main(grace = "5s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let dependency: SocketAddr = std::env::var("DEPENDENCY")
        .ok()
        .and_then(|address| address.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "set DEPENDENCY=IP:PORT"))?;
    lc.check("dependency")
        .every(Duration::from_millis(100))
        .timeout(Duration::from_millis(500))
        .run(move || async move { tokio::net::TcpStream::connect(dependency).await.map(drop) });

    // The watch never closes while the lifecycle lives: a follower stops with its token.
    let (mut readiness, token) = (lc.watch_readiness(), lc.token());
    lc.task("print readiness").spawn(async move {
        while let Some(Ok(())) = token.run_until_cancelled(readiness.changed()).await {
            let now = readiness.borrow_and_update().to_string();
            println!("readiness: {now}");
        }
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new()
        .route("/health", get(lifecycle::axum::live))
        .route("/ready", get(lifecycle::axum::ready))
        .with_state(lc.clone());
    lifecycle::axum::serve(&lc, listener, app).await
}
