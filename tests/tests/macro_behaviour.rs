//! The code the attributes generate does what the runtime promises: hooks declared with
//! `#[lifecycle::component]`, `#[lifecycle::on_shutdown]` and `#[lifecycle::persist]` run in the
//! declared order, under the declared timeouts, persist hooks before shutdown hooks, and are
//! reported under their path or declared name. Driven through the runtime API on paused Tokio
//! time, so timeouts are exact and the tests take no real time.
//!
//! Free-function hooks are global to the binary they are in (collected at link time, and
//! registered by every sequence run with `run_without_signals`), so they have a test binary of
//! their own: `free_hooks.rs`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lifecycle::hooks::HookKind;
use lifecycle::hooks::{HookOutcome, HookReport};
use lifecycle::{Component, Config, Sequence, ShutdownReport};

/// Records which hooks ran, in order.
#[derive(Default)]
struct Calls(Mutex<Vec<&'static str>>);

impl Calls {
    fn record(&self, call: &'static str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    fn taken(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn hook<'a>(report: &'a ShutdownReport, name: &str) -> &'a HookReport {
    report
        .hooks
        .iter()
        .find(|hook| hook.name == name)
        .unwrap_or_else(|| panic!("no hook named {name:?} in {:#?}", report.hooks))
}

// ----- a component with every kind of hook ------------------------------------------------------

#[derive(Default)]
struct Store {
    calls: Calls,
}

#[lifecycle::component]
impl Store {
    #[on_shutdown(order = 20)]
    async fn close(&self) {
        self.calls.record("close");
    }

    #[on_shutdown(order = -5, name = "flush first")]
    fn flush(&self) {
        self.calls.record("flush");
    }

    #[lifecycle::on_shutdown(order = 10, timeout = "1s")]
    async fn slow(&self) {
        self.calls.record("slow started");
        tokio::time::sleep(Duration::from_secs(60)).await;
        self.calls.record("slow finished");
    }

    #[persist(order = 1)]
    async fn save(&self) -> Result<(), String> {
        self.calls.record("save");
        Err("disk full".to_owned())
    }

    #[persist(every = "10s", timeout = "2s")]
    fn checkpoint(&self) -> std::io::Result<()> {
        self.calls.record("checkpoint");
        Ok(())
    }

    /// Not a hook: the impl keeps its other methods.
    fn call_count(&self) -> usize {
        self.calls.0.lock().map_or(0, |calls| calls.len())
    }
}

#[test]
fn declared_arguments_reach_the_hooks() {
    let hooks = Arc::new(Store::default()).hooks();
    let declared: Vec<(&str, HookKind, i32)> = hooks
        .iter()
        .map(|hook| (hook.name(), hook.kind(), hook.order()))
        .collect();
    assert_eq!(
        declared,
        [
            ("macro_behaviour::Store::close", HookKind::Shutdown, 20),
            ("flush first", HookKind::Shutdown, -5),
            ("macro_behaviour::Store::slow", HookKind::Shutdown, 10),
            ("macro_behaviour::Store::save", HookKind::Persist, 1),
            ("macro_behaviour::Store::checkpoint", HookKind::Persist, 0),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn component_hooks_run_persist_first_then_by_order_with_their_timeouts() {
    let store = Arc::new(Store::default());
    let sequence = Sequence::new(Config::new().with_hook_timeout(Duration::from_secs(5)));
    let lc = sequence.handle();
    lc.manage(Arc::clone(&store));
    assert_eq!(store.call_count(), 0, "managing runs no hook");

    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(
        store.calls.taken(),
        ["checkpoint", "save", "flush", "slow started", "close"],
        "persist hooks by order, then shutdown hooks by order; the slow hook was cut off"
    );

    let slow = hook(&report, "macro_behaviour::Store::slow");
    assert_eq!(slow.kind, HookKind::Shutdown);
    assert_eq!(slow.order, 10);
    assert_eq!(slow.outcome, HookOutcome::TimedOut(Duration::from_secs(1)));
    assert_eq!(
        slow.duration,
        Duration::from_secs(1),
        "its own timeout, not the default 5s"
    );

    let save = hook(&report, "macro_behaviour::Store::save");
    assert_eq!(save.kind, HookKind::Persist);
    assert_eq!(
        save.outcome,
        HookOutcome::Failed(lifecycle::Failure::new("disk full"))
    );

    for name in [
        "macro_behaviour::Store::checkpoint",
        "flush first",
        "macro_behaviour::Store::close",
    ] {
        assert_eq!(hook(&report, name).outcome, HookOutcome::Ok, "{name}");
    }
    let kinds: Vec<HookKind> = report.hooks.iter().map(|hook| hook.kind).collect();
    assert_eq!(
        kinds,
        [
            HookKind::Persist,
            HookKind::Persist,
            HookKind::Shutdown,
            HookKind::Shutdown,
            HookKind::Shutdown,
        ]
    );
    assert_ne!(
        report.code(),
        0,
        "a failed hook makes the exit code non-zero"
    );
}

#[tokio::test(start_paused = true)]
async fn persist_every_also_runs_periodically_while_the_service_runs() {
    let store = Arc::new(Store::default());
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    lc.manage(Arc::clone(&store));

    // Serves for 25s: the 10s checkpoint runs at 10s and 20s, then once more at shutdown.
    let handle = lc.clone();
    sequence
        .run_without_signals(async move {
            handle.started().await; // the start boundary: Ready, so the checkpoints begin
            tokio::time::sleep(Duration::from_secs(25)).await;
        })
        .await;

    let checkpoints = store
        .calls
        .taken()
        .into_iter()
        .filter(|call| *call == "checkpoint")
        .count();
    assert_eq!(checkpoints, 3);
}

// ----- a generic component -----------------------------------------------------------------------

trait Backend: Send + Sync + 'static {
    const NAME: &'static str;
}

struct Disk;

impl Backend for Disk {
    const NAME: &'static str = "disk";
}

struct Cache<B> {
    calls: Calls,
    backend: std::marker::PhantomData<B>,
}

#[lifecycle::component]
impl<B> Cache<B>
where
    B: Backend,
{
    #[persist]
    async fn save(&self) {
        self.calls.record(B::NAME);
    }
}

#[tokio::test(start_paused = true)]
async fn generic_components_run_their_hooks() {
    let cache = Arc::new(Cache::<Disk> {
        calls: Calls::default(),
        backend: std::marker::PhantomData,
    });
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    lc.manage(Arc::clone(&cache));

    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(cache.calls.taken(), ["disk"]);
    let save = hook(&report, "macro_behaviour::Cache::save");
    assert_eq!(save.kind, HookKind::Persist);
    assert_eq!(save.outcome, HookOutcome::Ok);
}

/// A pool whose readiness check follows a flag the test flips.
struct Pool {
    up: std::sync::atomic::AtomicBool,
}

#[lifecycle::component]
impl Pool {
    #[check(every = "2s", timeout = "500ms")]
    async fn ping(&self) -> std::io::Result<()> {
        if self.up.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(std::io::Error::other("connection refused"))
        }
    }

    #[lifecycle::check(name = "replica lag", every = "1s", timeout = "1s")]
    async fn lag(&self) -> Result<(), String> {
        std::future::pending().await // hangs: bounded by its timeout
    }

    #[on_shutdown]
    async fn close(&self) {}
}

#[tokio::test(start_paused = true)]
async fn check_methods_of_a_managed_component_decide_readiness_with_their_period_and_timeout() {
    use lifecycle::checks::{CheckState, Readiness};
    use std::sync::atomic::Ordering::SeqCst;

    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let pool = Arc::new(Pool {
        up: std::sync::atomic::AtomicBool::new(true),
    });
    lc.manage(Arc::clone(&pool));
    let names: Vec<String> = lc
        .readiness()
        .checks()
        .iter()
        .map(|check| check.name().to_owned())
        .collect();
    assert_eq!(names, ["Pool::ping", "replica lag"]);
    let readiness = lc.watch_readiness();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            let began = tokio::time::Instant::now();
            let until = |what: fn(&Readiness) -> bool| {
                let mut readiness = readiness.clone();
                async move {
                    tokio::time::timeout(Duration::from_secs(60), readiness.wait_for(what))
                        .await
                        .expect("within a minute")
                        .expect("alive")
                        .clone()
                }
            };
            // The hanging check fails at its 1 s timeout.
            let lagging = until(|r| r.checks()[1].state() == CheckState::Failing).await;
            assert_eq!(began.elapsed(), Duration::from_secs(1));
            assert_eq!(
                lagging.reason().as_deref(),
                Some("check replica lag failed: timed out after 1s")
            );
            assert_eq!(lagging.checks()[0].state(), CheckState::Passing);

            pool.up.store(false, SeqCst);
            let down = until(|r| r.checks()[0].state() == CheckState::Failing).await;
            assert_eq!(began.elapsed(), Duration::from_secs(2), "every 2s");
            assert_eq!(down.checks()[0].last_error(), Some("connection refused"));
            handle.request_shutdown();
        })
        .await;
    assert_eq!(report.code(), 0);
    assert!(report.tasks_aborted.is_empty());
    assert!(report.task_failures.is_empty());
}

/// A link whose readiness check follows a flag, with a failure threshold from the attribute.
struct Link {
    up: std::sync::atomic::AtomicBool,
}

#[lifecycle::component]
impl Link {
    #[check(every = "1s", failures = 3, name = "link")]
    async fn probe(&self) -> Result<(), String> {
        if self.up.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err("no carrier".to_owned())
        }
    }
}

/// `#[check(failures = 3)]` is `.failures(3)`: two failed runs in a row leave the service
/// ready, the third takes it out.
#[tokio::test(start_paused = true)]
async fn a_check_methods_failures_key_is_its_failure_threshold() {
    use lifecycle::checks::Readiness;
    use std::sync::atomic::Ordering::SeqCst;

    let lc = Sequence::new(Config::new()).handle();
    let link = Arc::new(Link {
        up: std::sync::atomic::AtomicBool::new(true),
    });
    lc.manage(Arc::clone(&link));
    let readiness = lc.watch_readiness();
    lc.set_ready();
    let until = |what: fn(&Readiness) -> bool| {
        let mut readiness = readiness.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(60), readiness.wait_for(what))
                .await
                .expect("within a minute")
                .expect("alive")
                .clone()
        }
    };
    until(Readiness::is_ready).await;
    let began = tokio::time::Instant::now();
    link.up.store(false, SeqCst);
    let two = until(|r| r.checks()[0].failures() == 2).await;
    assert!(two.is_ready(), "{two}");
    let out = until(|r| !r.is_ready()).await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(3),
        "the third failed run"
    );
    assert_eq!(out.to_string(), "not ready: check link failed: no carrier");
}
