//! Contender for the in-place upgrade (scenario 11): `svc_serve` with its listener from
//! `lifecycle::listener("http", ..)`, so that SIGUSR2 starts a new copy of this binary with the
//! socket and hands it over once the new one is Ready (`LIFECYCLE_PIDFILE` names the current
//! process). `svc_serve` binds its own socket and keeps SIGUSR2's default, so the other scenarios
//! measure what they measured before. The new process prints `ready <addr>` too.
#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = lifecycle::listener("http", ("127.0.0.1", port)).await?;
    lifecycle_bench::announce(&listener);
    lifecycle::axum::serve(&lc, listener, lifecycle_bench::router()).await
}
