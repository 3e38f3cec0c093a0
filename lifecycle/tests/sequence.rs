//! The shutdown sequence on paused Tokio time: deadlines, early return, aborts, hook order,
//! concurrency, timeouts, isolation of failures, the report and its exit code.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::exit::{EXIT_ABORTED, EXIT_APP_FAILED, EXIT_HOOK_FAILED, EXIT_OK};
use lifecycle::hooks::HookKind;
use lifecycle::hooks::HookOutcome;
use lifecycle::report::MainOutcome;
use lifecycle::tasks::TaskKind;
use lifecycle::Trigger;
use lifecycle::{Config, Failure, Hook, Sequence, State};
use tokio::time::{sleep, Instant};

const MS: Duration = Duration::from_millis(1);

/// Panics, typed as returning `()` so the futures around it have a concrete output.
fn explode(message: &'static str) {
    panic!("{message}")
}

fn config() -> Config {
    Config::new().with_grace(Duration::from_secs(10))
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
        HookKind::Persist => Hook::new(HookKind::Persist, name, run),
        HookKind::Shutdown => Hook::new(HookKind::Shutdown, name, run),
        HookKind::Start => Hook::new(HookKind::Start, name, run),
        HookKind::Reload => Hook::new(HookKind::Reload, name, run),
        _ => unreachable!("no other kind of hook"),
    }
}

#[tokio::test(start_paused = true)]
async fn drain_returns_when_the_last_task_finishes_not_at_the_deadline() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    for i in 1..=3u32 {
        let token = lc.token();
        lc.task(format!("worker-{i}")).spawn(async move {
            token.cancelled().await;
            sleep(MS * 100 * i).await;
        });
    }
    let started = Instant::now();
    lc.request_shutdown();
    let main_lc = lc.clone();
    let report = sequence
        .run_without_signals(async move { main_lc.cancelled().await })
        .await;

    assert_eq!(report.timings.drain, 300 * MS);
    assert_eq!(started.elapsed(), 300 * MS);
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.main, Some(MainOutcome::Returned));
}

#[tokio::test(start_paused = true)]
async fn drain_ends_early_when_main_and_tasks_finish() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let token = lc.token();
    lc.task("worker").spawn(async move {
        token.cancelled().await;
        sleep(250 * MS).await;
    });
    let main_lc = lc.clone();
    let started = Instant::now();
    let report = sequence
        .run_without_signals(async move {
            main_lc.request_shutdown();
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
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(2)));
    let lc = sequence.handle();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = CountDrop(dropped.clone());
    lc.task("stuck").spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let token = lc.token();
    lc.task("polite")
        .spawn(async move { token.cancelled().await });
    let stuck = lc.spawn(std::future::pending::<()>());

    lc.request_shutdown();
    let started = Instant::now();
    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(report.tasks_aborted.len(), 2, "{:?}", report.tasks_aborted);
    assert_eq!(report.tasks_aborted_total, 2);
    assert_eq!(report.tasks_aborted[0].name, "stuck");
    assert!(report.tasks_aborted.iter().all(|task| task.stopped));
    assert!(
        report.tasks_aborted[1].name.starts_with("task spawned at ")
            && report.tasks_aborted[1].name.contains("sequence.rs"),
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
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    lc.request_shutdown();
    let report = sequence
        .run_without_signals(std::future::pending::<()>())
        .await;
    assert_eq!(report.main, Some(MainOutcome::Aborted));
    // The main future is not a task: its fate is in `main` alone.
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.timings.drain, Duration::from_secs(1));
    assert_eq!(report.code(), EXIT_ABORTED);
}

// Real time: Tokio stops auto-advancing paused time while a blocking task runs, so a stuck one
// would freeze the clock. Nothing here asserts a duration.
#[tokio::test]
async fn stuck_blocking_task_is_named_as_left_running_and_does_not_hold_the_drain() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_millis(50)));
    let lc = sequence.handle();
    let release = Arc::new(std::sync::Barrier::new(2));
    let held = release.clone();
    lc.task("fsck").spawn_blocking(move || {
        held.wait();
    });
    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.tasks_aborted.len(), 1);
    let fsck = &report.tasks_aborted[0];
    assert_eq!(
        (fsck.name.as_str(), fsck.kind),
        ("fsck", TaskKind::Blocking)
    );
    assert!(
        !fsck.stopped,
        "a blocking task cannot be stopped: it is left running"
    );
    assert!(report.to_string().contains("left running  fsck (blocking)"));
    assert_eq!(report.code(), EXIT_ABORTED);
    release.wait();
}

#[tokio::test(start_paused = true)]
async fn hooks_run_persist_first_then_by_ascending_order() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let log = Log::default();
    // Registered out of order on purpose.
    lc.manage(logging_hook(HookKind::Shutdown, "close-db", &log, 10 * MS).with_order(100));
    lc.manage(logging_hook(HookKind::Shutdown, "flush", &log, 10 * MS).with_order(10));
    lc.manage(logging_hook(HookKind::Shutdown, "first", &log, 10 * MS).with_order(-5));
    lc.manage(logging_hook(HookKind::Persist, "save", &log, 10 * MS));
    let report = sequence.run_without_signals(async {}).await;

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
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let log = Log::default();
    lc.manage(logging_hook(HookKind::Shutdown, "a", &log, 300 * MS).with_order(1));
    lc.manage(logging_hook(HookKind::Shutdown, "b", &log, 200 * MS).with_order(1));
    lc.manage(logging_hook(HookKind::Shutdown, "c", &log, 100 * MS).with_order(2));
    let report = sequence.run_without_signals(async {}).await;

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
    let sequence = Sequence::new(config().with_hook_timeout(Duration::from_secs(1)));
    let lc = sequence.handle();
    let ran_last = Arc::new(AtomicUsize::new(0));
    lc.manage(
        Hook::new(HookKind::Shutdown, "errs", || async {
            Err::<(), _>("disk full")
        })
        .with_order(1),
    );
    lc.manage(
        Hook::new(HookKind::Shutdown, "panics", || async {
            explode("bug in hook")
        })
        .with_order(1),
    );
    lc.manage(Hook::new(HookKind::Shutdown, "hangs", std::future::pending::<()>).with_order(2));
    lc.manage(
        Hook::new(HookKind::Shutdown, "slow", || sleep(Duration::from_secs(5)))
            .with_order(2)
            .with_timeout(Duration::from_secs(3)),
    );
    lc.manage(
        Hook::blocking(
            HookKind::Shutdown,
            "blocking-panics",
            || -> Result<(), String> { panic!("sync bug") },
        )
        .with_order(3),
    );
    let counter = ran_last.clone();
    lc.manage(
        Hook::new(HookKind::Shutdown, "last", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .with_order(4),
    );
    let report = sequence.run_without_signals(async {}).await;

    let outcomes: Vec<_> = report
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), h.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("errs", HookOutcome::Failed(Failure::new("disk full"))),
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
    let sequence = Sequence::new(config());
    let report = sequence
        .run_without_signals(async { Err::<(), _>("bind: address in use") })
        .await;
    assert_eq!(
        report.trigger,
        Trigger::MainFailed(Failure::new("bind: address in use"))
    );
    assert_eq!(
        report.main,
        Some(MainOutcome::Failed(Failure::new("bind: address in use")))
    );
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn main_panicking_is_caught_hooks_still_run_and_exit_is_1() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Shutdown, "cleanup", || async {}));
    let report = sequence
        .run_without_signals(async { explode("main blew up") })
        .await;
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
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.task("consumer").critical().spawn(async {
        sleep(Duration::from_secs(3)).await;
        Err::<(), _>("broker gone")
    });
    let main_lc = lc.clone();
    let started = Instant::now();
    let report = sequence
        .run_without_signals(async move { main_lc.cancelled().await })
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(
        report.trigger,
        Trigger::TaskFailed {
            task: "consumer".into(),
            error: Failure::new("broker gone")
        }
    );
    assert_eq!(report.task_failures.len(), 1);
    assert!(report.task_failures[0].critical);
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn critical_task_panic_triggers_too() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let handle = lc
        .task("indexer")
        .critical()
        .spawn(async { explode("index corrupt") });
    let main_lc = lc.clone();
    let report = sequence
        .run_without_signals(async move { main_lc.cancelled().await })
        .await;
    assert!(
        handle.await.unwrap_err().is_panic(),
        "the JoinHandle still sees the panic"
    );
    assert_eq!(
        report.trigger,
        Trigger::TaskFailed {
            task: "indexer".into(),
            error: Failure::new("panicked: index corrupt")
        }
    );
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn ordinary_task_panic_is_reported_but_does_not_trigger() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let handle = lc.task("flaky").spawn(async { explode("oops") });
    assert!(handle.await.unwrap_err().is_panic());
    assert_eq!(lc.state(), State::Starting); // not triggered
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.trigger, Trigger::MainReturned);
    assert_eq!(report.task_failures.len(), 1);
    assert_eq!(report.task_failures[0].task, "flaky");
    assert_eq!(report.task_failures[0].first.to_string(), "panicked: oops");
    assert!(!report.task_failures[0].critical);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn drain_delay_keeps_serving_while_readiness_is_draining() {
    let sequence = Sequence::new(config().with_drain_delay(Duration::from_secs(5)));
    let lc = sequence.handle();
    let mut states = lc.watch_state();
    let observer = lc.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_task = seen.clone();
    let main_lc = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            // Trigger from inside once Ready (before Ready there is no delay), then look at
            // the world during the delay.
            assert!(main_lc.started().await);
            main_lc.request_shutdown();
            let at_trigger = (observer.state(), observer.token().is_cancelled());
            sleep(Duration::from_millis(4900)).await;
            let near_end = (observer.state(), observer.token().is_cancelled());
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
    let sequence = Sequence::new(config().with_drain_delay(Duration::from_secs(5)));
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.timings.drain_delay, Duration::ZERO);
    assert_eq!(report.timings.total, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn periodic_persist_runs_every_period_and_stops_on_cancel() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    lc.manage(
        Hook::new(HookKind::Persist, "checkpoint", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .with_every(Duration::from_secs(10)),
    );
    let main_lc = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            main_lc.started().await; // Ready at once (no start hooks): the periodic runs start
            sleep(Duration::from_secs(35)).await;
            main_lc.request_shutdown();
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
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    assert!(lc.request_shutdown_with(9, "maintenance"));
    assert!(!lc.request_shutdown());
    let report = sequence
        .run_without_signals(async { Err::<(), _>("ignored for the code") })
        .await;
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
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    for i in 0..50 {
        lc.task(format!("conn-{i}"))
            .spawn(std::future::pending::<()>());
    }
    for i in 0..5 {
        lc.manage(Hook::new(HookKind::Shutdown, format!("hook-{i}"), || async {}).with_order(i));
    }
    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;
    let text = report.to_string();
    assert!(text.contains("trigger: shutdown requested"), "{text}");
    assert!(text.contains("50 tasks cut short"), "{text}");
    assert!(text.contains("aborted       conn-0, conn-1"), "{text}");
    assert!(text.contains("and 40 more"), "{text}");
    assert!(text.lines().count() <= 24, "{text}");
}

#[tokio::test(start_paused = true)]
async fn state_moves_forward_only() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    assert_eq!(lc.state(), State::Starting);
    lc.set_ready();
    assert_eq!(lc.state(), State::Ready);
    lc.request_shutdown();
    lc.set_ready();
    assert_eq!(
        lc.state(),
        State::Draining,
        "set_ready after the trigger changes nothing"
    );
    sequence.run_without_signals(async {}).await;
    assert_eq!(lc.state(), State::Stopped);
}

// ===== faults found by probing (issue 8): each of these failed before its fix =====

/// How many bodies of one hook run at once, and the most that ever did.
#[derive(Clone, Default)]
struct Overlap(Arc<(AtomicUsize, AtomicUsize)>);

impl Overlap {
    /// Counts a body in until the guard is dropped (at its end, or when it is aborted).
    fn enter(&self) -> impl Drop + use<> {
        struct Leave(Overlap);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0 .0 .0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let now = self.0 .0.fetch_add(1, Ordering::SeqCst) + 1;
        self.0 .1.fetch_max(now, Ordering::SeqCst);
        Leave(self.clone())
    }
    fn most(&self) -> usize {
        self.0 .1.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn a_periodic_persist_aborted_at_the_deadline_never_overlaps_the_final_one() {
    // Each save takes 5 s; a periodic one is under way when the 1 s grace runs out. Before the
    // fix its body kept running while the final persist started, and the older snapshot could
    // land last.
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    let overlap = Overlap::default();
    let log = Log::default();
    let (o, l) = (overlap.clone(), log.clone());
    let save = move || {
        let (o, l) = (o.clone(), l.clone());
        async move {
            let _in = o.enter();
            l.push("save start");
            sleep(Duration::from_secs(5)).await;
            l.push("save end");
        }
    };
    lc.manage(
        Hook::new(HookKind::Persist, "save", save)
            .with_every(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(20)),
    );
    lc.set_ready();
    sleep(Duration::from_secs(12)).await; // the periodic save started at 10 s
    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(overlap.most(), 1, "{:?}", log.entries());
    // The periodic body was aborted (no end), the final one ran to its end.
    assert_eq!(log.entries(), ["save start", "save start", "save end"]);
    assert!(report.hooks[0].outcome.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_final_persist_waits_for_a_periodic_run_that_is_still_going() {
    // The periodic run outlives the drain (a long grace): the final persist waits for it, then
    // runs; they never overlap.
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(30)));
    let lc = sequence.handle();
    let overlap = Overlap::default();
    let o = overlap.clone();
    let save = move || {
        let o = o.clone();
        async move {
            let _in = o.enter();
            sleep(Duration::from_secs(5)).await;
        }
    };
    lc.manage(
        Hook::new(HookKind::Persist, "save", save)
            .with_every(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(20)),
    );
    lc.set_ready();
    sleep(Duration::from_secs(11)).await;
    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(overlap.most(), 1);
    assert!(report.hooks[0].outcome.is_ok());
}

#[test]
fn a_periodic_persist_starts_exactly_once_when_added_while_becoming_ready() {
    // `set_ready` and `manage(hook)` on two threads at once: before the fix, 1 in ~20,000 runs
    // started the periodic task twice (or never).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    for _ in 0..20_000 {
        let sequence = Sequence::new(config());
        let lc = sequence.handle();
        let adder = lc.clone();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let b = barrier.clone();
        let handle = runtime.handle().clone();
        let thread = std::thread::spawn(move || {
            let _guard = handle.enter();
            b.wait();
            adder.manage(
                Hook::new(HookKind::Persist, "save", || async {})
                    .with_every(Duration::from_secs(3600)),
            );
        });
        barrier.wait();
        lc.set_ready();
        thread.join().unwrap();
        assert_eq!(
            lc.stats().tasks,
            1,
            "the periodic task must start exactly once"
        );
        lc.token(); // keep `lc` alive to here
    }
}

#[tokio::test(start_paused = true)]
async fn an_ordinary_task_error_is_recorded_with_its_chain_and_grouped() {
    #[derive(Debug)]
    struct LoadConfig(std::io::Error);
    impl std::fmt::Display for LoadConfig {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("loading the config")
        }
    }
    impl std::error::Error for LoadConfig {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
    let handle = lc
        .task("loader")
        .spawn(async move { Err::<(), _>(LoadConfig(missing())) });
    let joined = handle.await.unwrap().unwrap_err();
    assert!(joined.downcast_ref::<LoadConfig>().is_some());
    for i in 0..20_000u32 {
        lc.task("flapper")
            .spawn(async move { Err::<(), _>(format!("attempt {i}")) });
    }
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(
        report.code(),
        EXIT_OK,
        "tasks that are not critical keep the code"
    );
    let loader = &report.task_failures[0];
    assert_eq!(loader.first.to_string(), "loading the config");
    assert_eq!(
        format!("{:#}", loader.first),
        "loading the config: No such file"
    );
    // The report reads the failure with its cause, once.
    let text = report.to_string();
    assert!(
        text.contains("task `loader` failed: loading the config: No such file\n"),
        "{text}"
    );
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
    let flapper = &report.task_failures[1];
    assert_eq!(report.task_failures.len(), 2, "one entry per task name");
    assert_eq!(flapper.count, 20_000);
    assert_eq!(flapper.first.to_string(), "attempt 0");
    assert_eq!(flapper.last.to_string(), "attempt 19999");
    let text = report.to_string();
    assert!(text.contains("`flapper` failed 20000 times"), "{text}");
    assert!(text.lines().count() < 15, "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_task_spawned_after_the_drain_is_aborted_and_named() {
    // Before the fix a task spawned from a hook was accepted, never awaited, never reported.
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let spawner = lc.clone();
    lc.manage(Hook::new(HookKind::Shutdown, "spawns", move || {
        let lc = spawner.clone();
        async move {
            lc.task("late upload").spawn(std::future::pending::<()>());
        }
    }));
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.tasks_aborted_total, 1);
    let late = &report.tasks_aborted[0];
    assert_eq!(late.name, "late upload");
    assert!(late.late && late.stopped);
    assert_eq!(report.code(), EXIT_ABORTED);
    assert!(report
        .to_string()
        .contains("late upload (spawned after the drain)"));
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_dropping_main_at_the_deadline_is_caught_and_the_hooks_run() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("guard exploded");
        }
    }
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    let log = Log::default();
    lc.manage(logging_hook(HookKind::Shutdown, "cleanup", &log, MS));
    lc.request_shutdown();
    let report = sequence
        .run_without_signals(async {
            let _bomb = Bomb;
            std::future::pending::<()>().await
        })
        .await;
    assert_eq!(
        report.main,
        Some(MainOutcome::AbortedDropPanicked("guard exploded".into()))
    );
    assert_eq!(log.entries(), ["cleanup start", "cleanup end"]);
    assert_eq!(report.code(), EXIT_ABORTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_stuck_in_synchronous_code_is_reported_left_running_not_aborted() {
    // Real time: the task blocks its worker for 2 s after the cancel; the grace is 50 ms. Abort
    // cannot reach it, and the report must not claim it stopped.
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_millis(50)));
    let lc = sequence.handle();
    let token = lc.token();
    lc.task("checksum").spawn(async move {
        token.cancelled().await;
        std::thread::sleep(Duration::from_secs(2));
    });
    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;
    let task = &report.tasks_aborted[0];
    assert_eq!(
        (task.name.as_str(), task.kind),
        ("checksum", TaskKind::Async)
    );
    assert!(!task.stopped, "{report}");
    assert!(report.to_string().contains("left running  checksum"));
}

#[tokio::test(start_paused = true)]
async fn absurd_durations_saturate_instead_of_panicking() {
    // Before the fix a grace of u64::MAX seconds panicked at the trigger ("overflow when adding
    // duration to instant") and the worst case wrapped in the logs.
    let sequence = Sequence::new(
        Config::new()
            .with_grace(Duration::MAX)
            .with_hook_timeout(Duration::MAX)
            .with_deadline_margin(Duration::MAX),
    );
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Persist, "save", || async {}).with_every(Duration::MAX));
    lc.manage(Hook::new(HookKind::Shutdown, "close", || async {}).with_timeout(Duration::MAX));
    lc.set_ready();
    assert_eq!(lc.budget().worst_case(), Duration::MAX);
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.code(), EXIT_OK);
    assert!(report.hooks.iter().all(|hook| hook.outcome.is_ok()));
}

#[tokio::test(start_paused = true)]
async fn a_logger_that_panics_loses_no_hook_report() {
    // A subscriber that panics on every event, as tracing-subscriber's writer does when standard
    // error is closed. Before the fix the failing persist hook's warning panicked its runner, its
    // report was dropped, and the shutdown exited 0.
    struct Explodes;
    impl tracing::Subscriber for Explodes {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {
            panic!("write to stderr failed: Broken pipe");
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    let _guard = tracing::subscriber::set_default(Explodes);
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Persist, "save", || async {
        Err::<(), _>("disk full")
    }));
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.hooks.len(), 1);
    assert_eq!(report.hooks[0].outcome.to_string(), "failed: disk full");
    assert_eq!(report.code(), EXIT_HOOK_FAILED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_task_that_stopped_is_never_reported_left_running() {
    // Real time, 100 runs: a timer loop that ignores its token, and a task of a stop stage the
    // drain never reaches (the unstaged one overran the 20 ms grace). Both stop at the abort,
    // on some worker; the report must say so every time. Before the fix the drain read "stopped"
    // as soon as the tasks' count reached zero, which comes a moment before Tokio marks an
    // aborted task finished: some runs said `left running` of a task that had stopped.
    let mut wrong = Vec::new();
    for run in 0..100 {
        let sequence = Sequence::new(Config::new().with_grace(Duration::from_millis(20)));
        let lc = sequence.handle();
        lc.task("ticker").spawn(tick_forever());
        lc.stage(1).task("writer").spawn(tick_forever());
        lc.request_shutdown();
        let report = sequence.run_without_signals(async {}).await;
        let mut names: Vec<&str> = report
            .tasks_aborted
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["ticker", "writer"], "run {run}: {report}");
        if report.tasks_aborted.iter().any(|task| !task.stopped) {
            wrong.push(format!("run {run}:\n{report}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 100 runs said `left running` of a task that stopped; the first:\n{}",
        wrong.len(),
        wrong[0]
    );
}

/// A timer loop that never looks at a token (an `async fn`: its output is `()`, not `!`).
async fn tick_forever() {
    loop {
        sleep(MS).await;
    }
}

/// A value whose `Drop` panics (a pool handle asserting it was closed, say).
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_whose_drop_panics_as_the_deadline_aborts_its_task_is_reported() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    let held = PanicsOnDrop("pool dropped unclosed");
    let handle = lc.task("holder").spawn(async move {
        let _held = held;
        std::future::pending::<()>().await
    });

    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(report.tasks_aborted.len(), 1, "{report}");
    assert_eq!(report.tasks_aborted[0].name, "holder");
    assert!(report.tasks_aborted[0].stopped);
    assert_eq!(report.task_failures.len(), 1, "{report}");
    assert_eq!(report.task_failures[0].task, "holder");
    assert_eq!(
        report.task_failures[0].first.to_string(),
        "panicked: pool dropped unclosed (dropping the task's future)"
    );
    assert!(
        report
            .to_string()
            .contains("  task `holder` failed: panicked: pool dropped unclosed"),
        "{report}"
    );
    assert_eq!(report.code(), EXIT_ABORTED);
    // Its `JoinHandle` still sees the panic, as Tokio's own would.
    assert!(handle.await.unwrap_err().is_panic());
}

// Real time, on worker threads: the abort lands, and the `Drop` runs, on another thread than
// the drain's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_whose_drop_panics_on_a_worker_as_the_deadline_aborts_its_task_is_reported() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_millis(100)));
    let lc = sequence.handle();
    for n in 0..8 {
        let held = PanicsOnDrop("pool dropped unclosed");
        lc.task(format!("holder {n}")).spawn(async move {
            let _held = held;
            loop {
                sleep(MS).await; // ignores the cancel, wakes often: its abort lands on a worker
            }
        });
    }

    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(report.tasks_aborted_total, 8, "{report}");
    assert!(
        report.tasks_aborted.iter().all(|task| task.stopped),
        "{report}"
    );
    assert_eq!(report.task_failures.len(), 8, "{report}");
    for failure in &report.task_failures {
        assert_eq!(
            failure.first.to_string(),
            "panicked: pool dropped unclosed (dropping the task's future)"
        );
    }
    assert_eq!(report.code(), EXIT_ABORTED);
}

/// A future owning a value it never drops itself (a hand-written future, or a combinator holding
/// its parts): the value goes with the future, after the task returned.
struct Holding {
    _held: PanicsOnDrop,
    until: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl std::future::Future for Holding {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.until.as_mut().poll(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_whose_drop_panics_after_its_task_returned_is_reported() {
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    // An async block drops what it captured as it returns, inside its last poll.
    let held = PanicsOnDrop("cache dropped dirty");
    let token = lc.token();
    let block = lc.task("block").spawn(async move {
        let _held = &held;
        token.cancelled().await;
    });
    // A hand-written future keeps it until Tokio drops the finished future.
    let holding = Holding {
        _held: PanicsOnDrop("socket dropped open"),
        until: Box::pin(lc.token().cancelled_owned()),
    };
    let hand_written = lc.task("hand-written").spawn(holding);

    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;

    assert!(report.tasks_aborted.is_empty(), "{report}");
    let failure = |task: &str| {
        let failure = report.task_failures.iter().find(|f| f.task == task);
        failure.map(|failure| failure.first.to_string())
    };
    assert_eq!(
        failure("block").as_deref(),
        Some("panicked: cache dropped dirty"),
        "{report}"
    );
    assert_eq!(
        failure("hand-written").as_deref(),
        Some("panicked: socket dropped open (dropping the task's future)"),
        "{report}"
    );
    // Not critical: reported, and the code stays 0, as for any failure of such a task.
    assert_eq!(report.code(), EXIT_OK);
    assert!(block.await.unwrap_err().is_panic());
    assert!(hand_written.await.unwrap_err().is_panic());
}
