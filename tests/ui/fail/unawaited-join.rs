// A scope's join does nothing unless awaited: dropping it unawaited is a compile error under
// `deny(unused_must_use)` (a warning by default).
#![deny(unused_must_use)]

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    let workers = lc.scope("workers");
    workers.shutdown();
    workers.join();
}
