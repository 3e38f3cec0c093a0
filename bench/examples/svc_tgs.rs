//! Contender 4: tokio-graceful-shutdown 0.20: a Toplevel with one subsystem serving the app,
//! signals caught by the crate, the drain bounded by `handle_shutdown_requests`.
use std::io::Write;
use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = lifecycle_bench::listen().await;
    let addr = listener.local_addr()?;
    let toplevel = Toplevel::new(async move |root: &mut SubsystemHandle| {
        root.start(SubsystemBuilder::new(
            "http",
            async move |subsys: &mut SubsystemHandle| -> std::io::Result<()> {
                let token = subsys.create_cancellation_token();
                axum::serve(listener, lifecycle_bench::router())
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await
            },
        ));
    })
    .catch_signals();
    // Signal handlers are registered by `catch_signals`; only now is it safe to be signalled.
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {addr}")?;
        out.flush()?;
    }
    toplevel
        .handle_shutdown_requests(lifecycle_bench::grace())
        .await
        .map_err(Into::into)
}
