//! The floor for a server: bare Tokio serving the same axum app, which stops on SIGTERM through
//! `with_graceful_shutdown` and nothing else. Against `floor`, this is what axum's own graceful
//! shutdown costs; against it, the server contenders show what their wiring adds.
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let listener = lifecycle_bench::listen().await;
    lifecycle_bench::announce(&listener);
    axum::serve(listener, lifecycle_bench::router())
        .with_graceful_shutdown(async move {
            term.recv().await;
        })
        .await
}
