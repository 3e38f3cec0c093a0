//! Contender 3: the seed article's final orchestration (its "Step 5"), rewritten: a broadcast
//! channel fed by the signal task, a cancellation token, then a sleep for the whole grace period
//! whether or not the tasks have finished. Kept faithful to measure that defect.
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

struct Orchestrator {
    signal_tx: broadcast::Sender<()>,
    token: CancellationToken,
    grace: Duration,
}

impl Orchestrator {
    async fn run(self) {
        let mut rx = self.signal_tx.subscribe();
        let _ = rx.recv().await;
        self.token.cancel();
        // The defect: waits out the whole grace period instead of waiting for the tasks.
        tokio::time::sleep(self.grace).await;
    }
}

#[tokio::main]
async fn main() {
    let (signal_tx, _) = broadcast::channel(1);
    let orchestrator = Orchestrator {
        signal_tx: signal_tx.clone(),
        token: CancellationToken::new(),
        grace: lifecycle_bench::grace(),
    };
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = signal_tx.send(());
    });

    let listener = lifecycle_bench::listen().await;
    lifecycle_bench::announce(&listener);
    let server_token = orchestrator.token.clone();
    tokio::spawn(async move {
        axum::serve(listener, lifecycle_bench::router())
            .with_graceful_shutdown(server_token.cancelled_owned())
            .await
    });
    orchestrator.run().await;
}
