//! Contender: `lifecycle` through its attributes, serving the app with its own serve loop
//! (`lifecycle::axum::serve`): every connection a tracked task, drained at the cancel, counted in
//! the report. Grace comes from `LIFECYCLE_GRACE`.
#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) -> std::io::Result<()> {
    let listener = lifecycle_bench::listen().await;
    lifecycle_bench::announce(&listener);
    lifecycle::axum::serve(&lc, listener, lifecycle_bench::router()).await
}
