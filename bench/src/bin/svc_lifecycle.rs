//! Contender 1: `lifecycle` through its attributes. Grace comes from `LIFECYCLE_GRACE`.
#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) -> std::io::Result<()> {
    let listener = lifecycle_bench::listen().await;
    lifecycle_bench::announce(&listener);
    axum::serve(listener, lifecycle_bench::router())
        .with_graceful_shutdown(lc.cancelled())
        .await
}
