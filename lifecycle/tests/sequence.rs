//! The shutdown sequence on paused Tokio time: deadlines, early return, aborts, hook order,
//! concurrency, timeouts, isolation of failures, the report and its exit code.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::{
    Config, Hook, HookKind, HookOutcome, Lifecycle, MainOutcome, State, Trigger, EXIT_ABORTED,
    EXIT_APP_FAILED, EXIT_HOOK_FAILED, EXIT_OK,
};
use tokio::time::{sleep, Instant};

const MS: Duration = Duration::from_millis(1);

/// Panics, typed as returning `()` so the futures around it have a concrete output.
fn explode(message: &'static str) {
    panic!("{message}")
}

fn config() -> Config {
    Config::new().grace(Duration::from_secs(10))
}

/// A log that hooks and tasks write to, to assert on the order things happened in.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn logging_hook(kind: HookKind, name: &'static str, log: &Log, takes: Duration) -> Hook {
    let log = log.clone();
    let run = move || {
        let log = log.clone();
        async move {
            log.push(format!("{name} start"));
            sleep(takes).await;
            log.push(format!("{name} end"));
        }
    };
    match kind {
        HookKind::Persist => Hook::persist(name, run),
        HookKind::Shutdown => Hook::on_shutdown(name, run),
    }
}

#[tokio::test(start_paused = true)]
async fn drain_returns_when_the_last_task_finishes_not_at_the_deadline() {
    let lc = Lifecycle::new(config());
    for i in 1..=3u32 {
        let token = lc.token();
        lc.spawn_named(format!("worker-{i}"), async move {
            token.cancelled().await;
            sleep(MS * 100 * i).await;
        });
    }
    let started = Instant::now();
    lc.shutdown();
    let main_lc = lc.clone();
    let report = lc.run(async move { main_lc.cancelled().await }).await;

    assert_eq!(report.timings.drain, 300 * MS);
    assert_eq!(started.elapsed(), 300 * MS);
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.main, Some(MainOutcome::Returned));
}

#[tokio::test(start_paused = true)]
async fn drain_ends_early_when_main_and_tasks_finish() {
    let lc = Lifecycle::new(config());
    let token = lc.token();
    lc.spawn_named("worker", async move {
        token.cancelled().await;
        sleep(250 * MS).await;
    });
    let main_lc = lc.clone();
    let started = Instant::now();
    let report = lc
        .run(async move {
            main_lc.shutdown();
            main_lc.cancelled().await;
            sleep(100 * MS).await;
        })
        .await;
    assert_eq!(started.elapsed(), 250 * MS);
    assert_eq!(report.timings.drain, 250 * MS);
    assert_eq!(report.main, Some(MainOutcome::Returned));
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn stragglers_are_aborted_and_named_at_the_deadline() {
    let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(2)));
    let dropped = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = CountDrop(dropped.clone());
    lc.spawn_named("stuck", async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let token = lc.token();
    lc.spawn_named("polite", async move { token.cancelled().await });
    let stuck = lc.spawn(std::future::pending::<()>());

    lc.shutdown();
    let started = Instant::now();
    let report = lc.run(async {}).await;

    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(report.tasks_aborted.len(), 2, "{:?}", report.tasks_aborted);
    assert_eq!(report.tasks_aborted[0], "stuck");
    assert!(
        report.tasks_aborted[1].starts_with("task spawned at ")
            && report.tasks_aborted[1].contains("sequence.rs"),
        "unnamed tasks are named by where they were spawned: {:?}",
        report.tasks_aborted
    );
    assert_eq!(report.code(), EXIT_ABORTED);
    assert!(stuck.await.unwrap_err().is_cancelled());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the aborted task's future was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn main_ignoring_cancellation_is_aborted_at_the_deadline() {
    let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(1)));
    lc.shutdown();
    let report = lc.run(std::future::pending::<()>()).await;
    assert_eq!(report.main, Some(MainOutcome::Aborted));
    assert_eq!(report.tasks_aborted, ["main"]);
    assert_eq!(report.timings.drain, Duration::from_secs(1));
    assert_eq!(report.code(), EXIT_ABORTED);
}

// Real time: Tokio stops auto-advancing paused time while a blocking task runs, so a stuck one
// would freeze the clock. Nothing here asserts a duration.
#[tokio::test]
async fn stuck_blocking_task_is_named_as_left_running_and_does_not_hold_the_drain() {
    let lc = Lifecycle::new(Config::new().grace(Duration::from_millis(50)));
    let release = Arc::new(std::sync::Barrier::new(2));
    let held = release.clone();
    lc.spawn_blocking("fsck", move || {
        held.wait();
    });
    lc.shutdown();
    let report = lc.run(async {}).await;
    assert_eq!(report.tasks_aborted, ["fsck (blocking, left running)"]);
    assert_eq!(report.code(), EXIT_ABORTED);
    release.wait();
}

#[tokio::test(start_paused = true)]
async fn hooks_run_persist_first_then_by_ascending_order() {
    let lc = Lifecycle::new(config());
    let log = Log::default();
    // Registered out of order on purpose.
    lc.add_hook(logging_hook(HookKind::Shutdown, "close-db", &log, 10 * MS).order(100));
    lc.add_hook(logging_hook(HookKind::Shutdown, "flush", &log, 10 * MS).order(10));
    lc.add_hook(logging_hook(HookKind::Shutdown, "first", &log, 10 * MS).order(-5));
    lc.add_hook(logging_hook(HookKind::Persist, "save", &log, 10 * MS));
    let report = lc.run(async {}).await;

    assert_eq!(
        log.entries(),
        [
            "save start",
            "save end",
            "first start",
            "first end",
            "flush start",
            "flush end",
            "close-db start",
            "close-db end"
        ]
    );
    let names: Vec<_> = report.hooks.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["save", "first", "flush", "close-db"]);
    assert_eq!(report.hooks[0].kind, HookKind::Persist);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn equal_orders_run_concurrently() {
    let lc = Lifecycle::new(config());
    let log = Log::default();
    lc.add_hook(logging_hook(HookKind::Shutdown, "a", &log, 300 * MS).order(1));
    lc.add_hook(logging_hook(HookKind::Shutdown, "b", &log, 200 * MS).order(1));
    lc.add_hook(logging_hook(HookKind::Shutdown, "c", &log, 100 * MS).order(2));
    let report = lc.run(async {}).await;

    // a and b overlap; c starts only once both are done.
    assert_eq!(
        log.entries(),
        ["a start", "b start", "b end", "a end", "c start", "c end"]
    );
    assert_eq!(report.timings.hooks, 400 * MS, "max(300, 200) + 100");
    assert_eq!(report.hooks[0].duration, 300 * MS);
    assert_eq!(report.hooks[1].duration, 200 * MS);
}

#[tokio::test(start_paused = true)]
async fn every_hook_runs_even_when_others_fail_panic_or_time_out() {
    let lc = Lifecycle::new(config().hook_timeout(Duration::from_secs(1)));
    let ran_last = Arc::new(AtomicUsize::new(0));
    lc.add_hook(Hook::on_shutdown("errs", || async { Err::<(), _>("disk full") }).order(1));
    lc.add_hook(Hook::on_shutdown("panics", || async { explode("bug in hook") }).order(1));
    lc.add_hook(Hook::on_shutdown("hangs", std::future::pending::<()>).order(2));
    lc.add_hook(
        Hook::on_shutdown("slow", || sleep(Duration::from_secs(5)))
            .order(2)
            .timeout(Duration::from_secs(3)),
    );
    lc.add_hook(
        Hook::on_shutdown_blocking("blocking-panics", || -> Result<(), String> {
            panic!("sync bug")
        })
        .order(3),
    );
    let counter = ran_last.clone();
    lc.add_hook(
        Hook::on_shutdown("last", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .order(4),
    );
    let report = lc.run(async {}).await;

    let outcomes: Vec<_> = report
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), h.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("errs", HookOutcome::Failed("disk full".into())),
            ("panics", HookOutcome::Panicked("bug in hook".into())),
            ("hangs", HookOutcome::TimedOut(Duration::from_secs(1))),
            ("slow", HookOutcome::TimedOut(Duration::from_secs(3))),
            ("blocking-panics", HookOutcome::Panicked("sync bug".into())),
            ("last", HookOutcome::Ok),
        ]
    );
    assert_eq!(ran_last.load(Ordering::SeqCst), 1);
    // The order-2 group took as long as its longest timeout, not the sum.
    assert_eq!(report.hooks[3].duration, Duration::from_secs(3));
    assert_eq!(report.code(), EXIT_HOOK_FAILED);
}

#[tokio::test(start_paused = true)]
async fn main_returning_err_triggers_and_exits_1() {
    let lc = Lifecycle::new(config());
    let report = lc.run(async { Err::<(), _>("bind: address in use") }).await;
    assert_eq!(
        report.trigger,
        Trigger::MainFailed("\"bind: address in use\"".into())
    );
    assert_eq!(
        report.main,
        Some(MainOutcome::Failed("\"bind: address in use\"".into()))
    );
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn main_panicking_is_caught_hooks_still_run_and_exit_is_1() {
    let lc = Lifecycle::new(config());
    lc.add_hook(Hook::on_shutdown("cleanup", || async {}));
    let report = lc.run(async { explode("main blew up") }).await;
    assert_eq!(
        report.main,
        Some(MainOutcome::Panicked("main blew up".into()))
    );
    assert_eq!(report.hooks.len(), 1);
    assert!(report.hooks[0].outcome.is_ok());
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn critical_task_failure_triggers_the_shutdown() {
    let lc = Lifecycle::new(config());
    lc.spawn_critical("consumer", async {
        sleep(Duration::from_secs(3)).await;
        Err::<(), _>("broker gone")
    });
    let main_lc = lc.clone();
    let started = Instant::now();
    let report = lc.run(async move { main_lc.cancelled().await }).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(
        report.trigger,
        Trigger::TaskFailed {
            task: "consumer".into(),
            error: "broker gone".into()
        }
    );
    assert_eq!(report.task_failures.len(), 1);
    assert!(report.task_failures[0].critical);
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn critical_task_panic_triggers_too() {
    let lc = Lifecycle::new(config());
    let handle = lc.spawn_critical("indexer", async { explode("index corrupt") });
    let main_lc = lc.clone();
    let report = lc.run(async move { main_lc.cancelled().await }).await;
    assert!(
        handle.await.unwrap_err().is_panic(),
        "the JoinHandle still sees the panic"
    );
    assert_eq!(
        report.trigger,
        Trigger::TaskFailed {
            task: "indexer".into(),
            error: "index corrupt".into()
        }
    );
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn ordinary_task_panic_is_reported_but_does_not_trigger() {
    let lc = Lifecycle::new(config());
    let handle = lc.spawn_named("flaky", async { explode("oops") });
    assert!(handle.await.unwrap_err().is_panic());
    assert_eq!(lc.trigger(), None);
    let report = lc.run(async {}).await;
    assert_eq!(report.trigger, Trigger::MainReturned);
    assert_eq!(report.task_failures.len(), 1);
    assert_eq!(report.task_failures[0].task, "flaky");
    assert_eq!(report.task_failures[0].error, "oops");
    assert!(!report.task_failures[0].critical);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn drain_delay_keeps_serving_while_readiness_is_draining() {
    let lc = Lifecycle::new(config().drain_delay(Duration::from_secs(5)));
    let mut states = lc.watch_state();
    let observer = lc.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_task = seen.clone();
    let main_lc = lc.clone();
    let report = lc
        .run(async move {
            // Trigger from inside, then look at the world during the delay.
            main_lc.shutdown();
            let at_trigger = (observer.state(), observer.is_cancelled());
            sleep(Duration::from_millis(4900)).await;
            let near_end = (observer.state(), observer.is_cancelled());
            observer.cancelled().await;
            seen_in_task.lock().unwrap().extend([at_trigger, near_end]);
        })
        .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [(State::Draining, false), (State::Draining, false)],
        "readiness flips at the trigger; the token waits for the delay"
    );
    assert_eq!(report.timings.drain_delay, Duration::from_secs(5));
    assert_eq!(*states.borrow_and_update(), State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn drain_delay_is_skipped_when_main_has_returned() {
    let lc = Lifecycle::new(config().drain_delay(Duration::from_secs(5)));
    let report = lc.run(async {}).await;
    assert_eq!(report.timings.drain_delay, Duration::ZERO);
    assert_eq!(report.timings.total, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn periodic_persist_runs_every_period_and_stops_on_cancel() {
    let lc = Lifecycle::new(config());
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    lc.add_hook(
        Hook::persist("checkpoint", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .every(Duration::from_secs(10)),
    );
    let main_lc = lc.clone();
    let report = lc
        .run(async move {
            sleep(Duration::from_secs(35)).await;
            main_lc.shutdown();
        })
        .await;
    // At 10, 20 and 30 s while running, then once more at shutdown.
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert_eq!(report.hooks.len(), 1);
    assert!(
        report.tasks_aborted.is_empty(),
        "the periodic task left on cancel"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_sets_the_exit_code_and_first_trigger_wins() {
    let lc = Lifecycle::new(config());
    assert!(lc.shutdown_with(9, "maintenance"));
    assert!(!lc.shutdown());
    let report = lc.run(async { Err::<(), _>("ignored for the code") }).await;
    assert_eq!(
        report.trigger,
        Trigger::Requested {
            code: Some(9),
            reason: Some("maintenance".into())
        }
    );
    assert_eq!(report.code(), 9);
}

#[tokio::test(start_paused = true)]
async fn report_summary_reads_on_one_screen() {
    let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(1)));
    for i in 0..50 {
        lc.spawn_named(format!("conn-{i}"), std::future::pending::<()>());
    }
    for i in 0..5 {
        lc.add_hook(Hook::on_shutdown(format!("hook-{i}"), || async {}).order(i));
    }
    lc.shutdown();
    let report = lc.run(async {}).await;
    let text = report.to_string();
    assert!(text.contains("trigger: shutdown requested"), "{text}");
    assert!(text.contains("aborted 50: conn-0, conn-1"), "{text}");
    assert!(text.contains("and 40 more"), "{text}");
    assert!(text.lines().count() <= 24, "{text}");
}

#[tokio::test(start_paused = true)]
async fn state_moves_forward_only() {
    let lc = Lifecycle::new(config());
    assert_eq!(lc.state(), State::Starting);
    lc.set_ready();
    assert_eq!(lc.state(), State::Ready);
    lc.shutdown();
    lc.set_ready();
    assert_eq!(
        lc.state(),
        State::Draining,
        "set_ready after the trigger changes nothing"
    );
    lc.finish();
    assert_eq!(lc.state(), State::Stopped);
}
