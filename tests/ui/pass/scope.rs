// A scope's tasks spawned through the builder, shut down and joined from main; an abort need not
// be awaited (it aborts at the call), so dropping it compiles under `deny(unused_must_use)`.
#![deny(unused_must_use)]

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) -> Result<(), lifecycle::tasks::JoinError> {
    lc.started().await;
    let workers = lc.scope("workers");
    let token = workers.token();
    workers.task("w1").spawn(async move { token.cancelled().await });
    workers.shutdown();
    workers.join().await?;
    let stuck = lc.scope("stuck");
    stuck.spawn(std::future::pending::<()>());
    stuck.abort();
    Ok(())
}
