//! Contender 2: the hand-written combination the seed documents recommend: a CancellationToken,
//! a TaskTracker, a signal listener and a timeout on the drain.
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[tokio::main]
async fn main() {
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");

    let listener = lifecycle_bench::listen().await;
    lifecycle_bench::announce(&listener);
    let server_token = token.clone();
    tracker.spawn(async move {
        axum::serve(listener, lifecycle_bench::router())
            .with_graceful_shutdown(server_token.cancelled_owned())
            .await
    });

    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    token.cancel();
    tracker.close();
    if tokio::time::timeout(lifecycle_bench::grace(), tracker.wait())
        .await
        .is_err()
    {
        eprintln!("grace period over");
    }
}
