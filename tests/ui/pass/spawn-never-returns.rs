//! What `tokio::spawn` accepts, `lc.spawn` accepts: an async block that loops forever or only
//! panics (its output is the never type: `!` in edition 2024, `()` by fallback before, which
//! rustc's never-type-fallback lint denies), with `spawn`, and `task(name)` with `.spawn` and `.critical()`,
//! and a closure that loops or panics with `spawn_blocking`. Every handle is a
//! `JoinHandle<()>`. The edition 2024 case is a doctest of `Lifecycle::spawn`.

use lifecycle::Lifecycle;
use tokio::task::JoinHandle;

#[lifecycle::main]
async fn main(lc: Lifecycle) {
    // These run: each loops until the cancel, then panics (a non-critical task's panic is
    // reported and leaves the exit code at 0).
    let token = lc.token();
    let looping: JoinHandle<()> = lc.spawn(async move {
        loop {
            token.cancelled().await;
            panic!("stopped");
        }
    });
    let panicking: JoinHandle<()> = lc.spawn(async { panic!("no config") });
    let token = lc.token();
    let named: JoinHandle<()> = lc.task("poller").spawn(async move {
        loop {
            token.cancelled().await;
            panic!("stopped");
        }
    });
    let blocking: JoinHandle<()> = lc.task("crash").spawn_blocking(|| panic!("corrupt file"));
    assert!(panicking.await.is_err_and(|err| err.is_panic()));
    assert!(blocking.await.is_err_and(|err| err.is_panic()));
    drop((looping, named));
}

/// Compiled, not run (a critical task's panic, or a task that never ends, changes the exit
/// code).
#[allow(dead_code)]
fn never_returning_tasks(lc: &Lifecycle) -> Vec<JoinHandle<()>> {
    vec![
        lc.spawn(async { loop { tokio::task::yield_now().await } }),
        lc.task("spinner").spawn(async { loop { tokio::task::yield_now().await } }),
        lc.task("crasher").spawn(async { panic!("boom") }),
        lc.task("consumer").critical().spawn(async { loop { tokio::task::yield_now().await } }),
        lc.task("loader").critical().spawn(async { panic!("boom") }),
        lc.task("busy").spawn_blocking(|| loop { std::thread::yield_now() }),
        lc.task("crash").spawn_blocking(|| panic!("boom")),
    ]
}
