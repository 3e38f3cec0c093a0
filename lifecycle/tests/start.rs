//! Start-up and reload on paused Tokio time: start order and concurrency, timeouts, rollback of
//! exactly what started, readiness only after the last start hook (and `set_ready`), reloads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::config::ReadyWhen;
use lifecycle::exit::{EXIT_OK, EXIT_START_FAILED};
use lifecycle::hooks::HookKind;
use lifecycle::hooks::HookOutcome;
use lifecycle::Trigger;
use lifecycle::{Component, Config, Hook, Lifecycle, Sequence, State};
use tokio::time::{sleep, Instant};

const MS: Duration = Duration::from_millis(1);

fn config() -> Config {
    Config::new().with_grace(Duration::from_secs(10))
}

/// What ran, and when on the paused clock (milliseconds from the test's start).
#[derive(Clone)]
struct Log(Arc<Mutex<Vec<(u64, String)>>>, Instant);

impl Log {
    fn new() -> Self {
        Self(Arc::default(), Instant::now())
    }
    fn push(&self, entry: impl Into<String>) {
        let at = self.1.elapsed().as_millis() as u64;
        self.0.lock().unwrap().push((at, entry.into()));
    }
    fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }
    fn timed(&self) -> Vec<(u64, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A hook body that logs its start and end and takes `takes`, or fails when `fails`.
fn body(
    log: &Log,
    name: &'static str,
    takes: Duration,
    fails: bool,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
       + Send
       + Sync
       + 'static
       + use<> {
    let log = log.clone();
    move || {
        let log = log.clone();
        Box::pin(async move {
            log.push(format!("{name} start"));
            sleep(takes).await;
            if fails {
                log.push(format!("{name} failed"));
                return Err(format!("{name} refused"));
            }
            log.push(format!("{name} end"));
            Ok(())
        })
    }
}

/// A managed value with one start hook and one shutdown hook (and a persist hook), as
/// `#[lifecycle::component]` would build them.
struct Part {
    name: &'static str,
    start_order: i32,
    stop_order: i32,
    fails: bool,
    takes: Duration,
    log: Log,
}

impl Component for Part {
    fn hooks(self: Arc<Self>) -> Vec<Hook> {
        let name = self.name;
        let log = self.log.clone();
        let stop = {
            let log = log.clone();
            move || {
                let log = log.clone();
                async move { log.push(format!("{name} stop")) }
            }
        };
        let persist = {
            let log = log.clone();
            move || {
                let log = log.clone();
                async move { log.push(format!("{name} persist")) }
            }
        };
        vec![
            Hook::new(
                HookKind::Start,
                name,
                body(&log, name, self.takes, self.fails),
            )
            .with_order(self.start_order),
            Hook::new(HookKind::Shutdown, name, stop).with_order(self.stop_order),
            Hook::new(HookKind::Persist, name, persist),
        ]
    }
}

/// A main that reaches the start boundary at once and then never returns (the shutdown drops
/// it at the grace deadline).
async fn started_then_pending(lc: Lifecycle) {
    lc.started().await;
    std::future::pending::<()>().await
}

fn part(log: &Log, name: &'static str, start_order: i32, stop_order: i32) -> Arc<Part> {
    Arc::new(Part {
        name,
        start_order,
        stop_order,
        fails: false,
        takes: 100 * MS,
        log: log.clone(),
    })
}

#[tokio::test(start_paused = true)]
async fn start_hooks_run_by_ascending_order_equal_orders_concurrently() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Start, "c", body(&log, "c", 50 * MS, false)).with_order(10));
    lc.manage(Hook::new(
        HookKind::Start,
        "a",
        body(&log, "a", 100 * MS, false),
    ));
    lc.manage(Hook::new(
        HookKind::Start,
        "b",
        body(&log, "b", 100 * MS, false),
    ));
    lc.manage(
        Hook::new(
            HookKind::Start,
            "first",
            body(&log, "first", 10 * MS, false),
        )
        .with_order(-5),
    );
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            assert!(handle.started().await);
        })
        .await;
    assert_eq!(
        log.timed(),
        [
            (0, "first start".to_owned()),
            (10, "first end".to_owned()),
            (10, "a start".to_owned()),
            (10, "b start".to_owned()),
            (110, "a end".to_owned()),
            (110, "b end".to_owned()),
            (110, "c start".to_owned()),
            (160, "c end".to_owned()),
        ]
    );
    // a and b overlapped: the phase took 10 + 100 + 50 ms, not 10 + 200 + 50.
    assert_eq!(report.timings.start, 160 * MS);
    let names: Vec<&str> = report.start.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["first", "a", "b", "c"]);
    assert!(report.start.iter().all(|h| h.outcome.is_ok()));
    assert_eq!(report.start[3].duration, 50 * MS);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_start_hook_past_its_timeout_fails_start_up() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let stuck = Hook::new(HookKind::Start, "migrate", std::future::pending::<()>);
    lc.manage(stuck.with_timeout(Duration::from_secs(2)));
    lc.manage(Hook::new(HookKind::Start, "warm", body(&log, "warm", MS, false)).with_order(1));
    let report = sequence
        .run_without_signals(started_then_pending(lc.clone()))
        .await;
    assert_eq!(
        report.start[0].outcome,
        HookOutcome::TimedOut(Duration::from_secs(2))
    );
    assert_eq!(report.start[1].name, "warm");
    assert_eq!(report.start[1].outcome, HookOutcome::NotRun);
    assert!(log.entries().is_empty(), "{:?}", log.entries());
    assert_eq!(report.timings.start, Duration::from_secs(2));
    assert!(matches!(report.trigger, Trigger::StartFailed(_)));
    assert_eq!(
        report.trigger.to_string(),
        "start-up failed: start hook `migrate` timed out after 2.000s"
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn rollback_stops_exactly_the_started_components_in_their_order() {
    let log = Log::new();
    let sequence = Sequence::new(config().with_drain_delay(Duration::from_secs(5)));
    let lc = sequence.handle();
    lc.manage(part(&log, "cache", 0, 30));
    lc.manage(part(&log, "db", 10, 20));
    lc.manage(Arc::new(Part {
        fails: true,
        ..Arc::into_inner(part(&log, "queue", 20, 10)).unwrap()
    }));
    lc.manage(part(&log, "search", 30, 0));
    let stop_log = log.clone();
    lc.manage(Hook::new(HookKind::Shutdown, "free flush", move || {
        let log = stop_log.clone();
        async move { log.push("free flush") }
    }));
    let report = sequence
        .run_without_signals(started_then_pending(lc.clone()))
        .await;
    assert_eq!(
        log.entries(),
        [
            "cache start",
            "cache end",
            "db start",
            "db end",
            "queue start",
            "queue failed",
            // Rollback: persist, then stop, only what started, by the usual orders. The queue
            // (failed) and search (never started) are left alone; a free hook always runs.
            "cache persist",
            "db persist",
            "free flush",
            "db stop",
            "cache stop",
        ]
    );
    let outcomes: Vec<String> = report
        .start
        .iter()
        .map(|h| format!("{} {}", h.name, h.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            "cache ok",
            "db ok",
            "queue failed: queue refused",
            "search not run: start-up had stopped"
        ]
    );
    // Never Ready: the drain delay is skipped.
    assert_eq!(report.timings.drain_delay, Duration::ZERO);
    assert_eq!(report.code(), EXIT_START_FAILED);
    let text = report.to_string();
    assert!(
        text.contains(
            "failed: start hook `queue` failed: queue refused; stopped only what had started"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trigger_mid_start_interrupts_the_running_hook_and_rolls_back() {
    let log = Log::new();
    let sequence = Sequence::new(config().with_drain_delay(Duration::from_secs(5)));
    let lc = sequence.handle();
    lc.manage(part(&log, "db", 0, 0));
    lc.manage(Arc::new(Part {
        takes: Duration::from_secs(30),
        ..Arc::into_inner(part(&log, "warm", 1, 1)).unwrap()
    }));
    lc.manage(part(&log, "late", 2, 2));
    let handle = lc.clone();
    tokio::spawn(async move {
        sleep(500 * MS).await;
        handle.request_shutdown(); // as SIGTERM would, from the watchdog thread
    });
    let began = Instant::now();
    let report = sequence
        .run_without_signals(started_then_pending(lc.clone()))
        .await;
    assert_eq!(
        log.entries(),
        ["db start", "db end", "warm start", "db persist", "db stop"]
    );
    let outcomes: Vec<String> = report
        .start
        .iter()
        .map(|h| format!("{} {} {:?}", h.name, h.outcome, h.duration))
        .collect();
    assert_eq!(
        outcomes,
        [
            "db ok 100ms",
            "warm interrupted: start-up stopped 400ms",
            "late not run: start-up had stopped 0ns"
        ]
    );
    assert!(matches!(report.trigger, Trigger::Requested { .. }));
    assert_eq!(
        report
            .start_failed
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("interrupted by shutdown requested")
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
    // No drain delay (never Ready), main aborted at the grace deadline: 0.5 s + 10 s.
    assert_eq!(report.timings.drain_delay, Duration::ZERO);
    assert!(
        began.elapsed() < Duration::from_secs(11),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn ready_only_after_the_last_start_hook() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Hook::new(
        HookKind::Start,
        "connect",
        body(&log, "connect", 100 * MS, false),
    ));
    lc.manage(
        Hook::new(HookKind::Start, "warm", body(&log, "warm", 200 * MS, false)).with_order(1),
    );
    let handle = lc.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let samples = Arc::clone(&seen);
    let report = sequence
        .run_without_signals(async move {
            // The start boundary, as `with_graceful_shutdown(lc.cancelled())` would be.
            let _shutdown = handle.cancelled();
            let began = Instant::now();
            for at in [0, 50, 150, 299, 301, 400] {
                sleep(Duration::from_millis(at).saturating_sub(began.elapsed())).await;
                samples.lock().unwrap().push((at, handle.state()));
            }
        })
        .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (0, State::Starting),
            (50, State::Starting),
            (150, State::Starting),
            (299, State::Starting),
            (301, State::Ready),
            (400, State::Ready),
        ]
    );
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn manual_readiness_waits_for_set_ready_and_the_start_hooks() {
    // set_ready after the start hooks: Ready at the call.
    let sequence = Sequence::new(config().with_ready_when(ReadyWhen::Manual));
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Start, "connect", || sleep(100 * MS)));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            let _shutdown = handle.cancelled(); // the start boundary
            sleep(300 * MS).await;
            assert_eq!(handle.state(), State::Starting); // hooks done, the app not yet
            handle.set_ready();
            assert_eq!(handle.state(), State::Ready);
        })
        .await;
    assert_eq!(report.timings.start, 300 * MS);
    assert_eq!(report.code(), EXIT_OK);

    // set_ready before the start hooks ended: Ready when they end, not before.
    let sequence = Sequence::new(config().with_ready_when(ReadyWhen::Manual));
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Start, "connect", || sleep(100 * MS)));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.set_ready(); // the listener is bound at once
            sleep(99 * MS).await;
            assert_eq!(handle.state(), State::Starting);
            assert!(handle.started().await); // at 100 ms
            assert_eq!(handle.state(), State::Ready);
        })
        .await;
    assert_eq!(report.timings.start, 100 * MS);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn the_startup_timeout_bounds_the_whole_start_phase() {
    // Manual readiness and an app that never says it is ready.
    let sequence = Sequence::new(
        config()
            .with_ready_when(ReadyWhen::Manual)
            .with_startup_timeout(Duration::from_secs(3)),
    );
    let lc = sequence.handle();
    lc.manage(Hook::new(HookKind::Start, "connect", || {
        sleep(Duration::from_secs(1))
    }));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move { handle.cancelled().await })
        .await;
    assert_eq!(report.timings.start, Duration::from_secs(3));
    // It names what start-up waited for, and the fix.
    assert_eq!(
        report.trigger.to_string(),
        "start-up failed: the start-up timeout ran out (3.000s) waiting for `lc.set_ready()`: \
         with ready = \"manual\", main must call it once it is ready to serve"
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
    assert_eq!(lc.state(), State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_value_managed_in_mains_first_lines_has_its_start_hooks_run_before_ready() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let parts = log.clone();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.manage(part(&parts, "db", 0, 0)); // main's first line
            assert_eq!(handle.state(), State::Starting);
            assert!(handle.started().await);
            parts.push(format!("main sees {}", handle.state()));
        })
        .await;
    assert_eq!(
        log.entries(),
        [
            "db start",
            "db end",
            "main sees ready",
            "db persist",
            "db stop"
        ]
    );
    assert_eq!(report.code(), EXIT_OK);
}

/// The start hooks' outcomes in the report, as `name outcome`.
fn start_lines(report: &lifecycle::ShutdownReport) -> Vec<String> {
    report
        .start
        .iter()
        .map(|hook| format!("{} {}", hook.name, hook.outcome))
        .collect()
}

const LATE: &str = "not run: managed after start-up began; manage it before `lc.started().await`";

#[tokio::test(start_paused = true)]
async fn the_start_boundary_is_mains_call_not_its_first_waiting_await() {
    // main waits before it manages the database (as `TcpListener::bind("localhost:0").await`
    // does, on the blocking pool); a task spawned before that awaits `started()`, asks for
    // `cancelled()` and says `set_ready()`. None of those is main's own call: the start hooks
    // wait for main's `started().await`, and the database is started.
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let task_log = Log::new();
    let parts = log.clone();
    let handle = lc.clone();
    let seen = task_log.clone();
    let report = sequence
        .run_without_signals(async move {
            let (other, waiter) = (handle.clone(), handle.clone());
            tokio::spawn(async move {
                let _cancelled = other.cancelled();
                other.set_ready();
                let ok = waiter.started().await;
                seen.push(format!("task sees started {ok}"));
            });
            sleep(100 * MS).await; // a wait that is not a start boundary
            assert_eq!(handle.state(), State::Starting);
            handle.manage(part(&parts, "db", 0, 0));
            assert!(handle.started().await);
            parts.push(format!("main sees {}", handle.state()));
        })
        .await;
    assert_eq!(
        log.timed(),
        [
            (100, "db start".to_owned()),
            (200, "db end".to_owned()),
            (200, "main sees ready".to_owned()),
            (200, "db persist".to_owned()),
            (200, "db stop".to_owned()),
        ]
    );
    assert_eq!(
        task_log.timed(),
        [(200, "task sees started true".to_owned())]
    );
    assert_eq!(start_lines(&report), ["db ok"]);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_value_managed_after_ready_shuts_the_service_down_as_a_failed_start() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let parts = log.clone();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.manage(part(&parts, "db", 0, 0));
            assert!(handle.started().await);
            handle.manage(part(&parts, "search", 0, 0)); // too late
            handle.cancelled().await;
        })
        .await;
    // The search's hooks never run, not even its persist or shutdown hook.
    assert_eq!(
        log.entries(),
        ["db start", "db end", "db persist", "db stop"]
    );
    assert_eq!(
        start_lines(&report),
        ["db ok".to_owned(), format!("search {LATE}")]
    );
    let why = "`start::Part` was managed after start-up began: its start hook `search` did not run";
    assert_eq!(
        report.trigger,
        Trigger::StartFailed(lifecycle::Failure::new(why))
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
    let text = report.to_string();
    assert!(text.contains(LATE), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_value_managed_while_the_start_hooks_run_fails_start_up() {
    // Manual readiness: `set_ready` is main's start boundary; the cache is managed while the
    // db's start hook runs. Start-up fails once that hook's group is done; the db, which
    // started, is persisted and stopped; the cache gets none of its hooks.
    let log = Log::new();
    let sequence = Sequence::new(config().with_ready_when(ReadyWhen::Manual));
    let lc = sequence.handle();
    let parts = log.clone();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.manage(part(&parts, "db", 0, 0));
            handle.set_ready(); // the start boundary
            sleep(50 * MS).await;
            handle.manage(part(&parts, "cache", 0, 0));
            assert!(!handle.started().await);
        })
        .await;
    assert_eq!(
        log.entries(),
        ["db start", "db end", "db persist", "db stop"]
    );
    assert_eq!(
        start_lines(&report),
        ["db ok".to_owned(), format!("cache {LATE}")]
    );
    assert_eq!(
        report
            .start_failed
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("`start::Part` was managed after start-up began: its start hook `cache` did not run")
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn a_value_managed_after_the_trigger_is_recorded_as_a_failed_start() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let parts = log.clone();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            assert!(handle.started().await);
            handle.request_shutdown();
            handle.manage(part(&parts, "late", 0, 0));
        })
        .await;
    assert!(log.entries().is_empty(), "{:?}", log.entries());
    assert_eq!(start_lines(&report), [format!("late {LATE}")]);
    assert!(matches!(report.trigger, Trigger::Requested { .. }));
    assert_eq!(report.code(), EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn a_half_started_value_is_stopped_but_not_persisted() {
    // A has two start hooks: order 10 succeeds, order 30 never runs because B's order-20 hook
    // fails. A opened something: its shutdown hook runs. A did not load all its state: its
    // persist hook does not (it would save a half-loaded state over a good one). B started
    // nothing: none of its hooks run.
    struct Two(Log);
    impl Component for Two {
        fn hooks(self: Arc<Self>) -> Vec<Hook> {
            let log = &self.0;
            let (stop, save) = (log.clone(), log.clone());
            vec![
                Hook::new(
                    HookKind::Start,
                    "A::open",
                    body(log, "A::open", 10 * MS, false),
                )
                .with_order(10),
                Hook::new(
                    HookKind::Start,
                    "A::load",
                    body(log, "A::load", 10 * MS, false),
                )
                .with_order(30),
                Hook::new(HookKind::Shutdown, "A::close", move || {
                    let log = stop.clone();
                    async move { log.push("A::close") }
                }),
                Hook::new(HookKind::Persist, "A::save", move || {
                    let log = save.clone();
                    async move { log.push("A::save") }
                }),
            ]
        }
    }
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Arc::new(Two(log.clone())));
    lc.manage(Arc::new(Part {
        fails: true,
        ..Arc::into_inner(part(&log, "B", 20, 0)).unwrap()
    }));
    let report = sequence
        .run_without_signals(started_then_pending(lc.clone()))
        .await;
    assert_eq!(
        log.entries(),
        [
            "A::open start",
            "A::open end",
            "B start",
            "B failed",
            "A::close"
        ]
    );
    assert_eq!(
        start_lines(&report),
        [
            "A::open ok",
            "B failed: B refused",
            "A::load not run: start-up had stopped"
        ]
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn the_same_arc_managed_twice_registers_its_hooks_once() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let db = part(&log, "db", 0, 0);
    lc.manage(Arc::clone(&db));
    lc.manage(Arc::clone(&db));
    assert_eq!(lc.budget().hooks(), 2); // its persist and shutdown hooks (and a start hook), once
                                        // Another value of the same type is another component.
    lc.manage(part(&log, "db2", 0, 0));
    assert_eq!(lc.budget().hooks(), 4);
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move { assert!(handle.started().await) })
        .await;
    let db_lines: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|line| line.starts_with("db "))
        .collect();
    assert_eq!(db_lines, ["db start", "db end", "db persist", "db stop"]);
    assert_eq!(start_lines(&report), ["db ok", "db2 ok"]);
}

#[tokio::test(start_paused = true)]
async fn without_a_start_boundary_start_up_fails_at_the_startup_timeout_naming_it() {
    // No start hooks at all, and a main that never calls `started`, `set_ready`, `cancelled`
    // or a serve loop: Ready needs the boundary, so start-up fails at the timeout.
    let config = config()
        .with_startup_timeout(Duration::from_secs(5))
        .with_drain_delay(Duration::from_secs(3));
    let sequence = Sequence::new(config);
    let report = sequence
        .run_without_signals(sleep(Duration::from_secs(20)))
        .await;
    assert_eq!(report.timings.start, Duration::from_secs(5));
    assert_eq!(
        report.trigger.to_string(),
        "start-up failed: start-up never began: main did not reach `lc.started().await` (or \
         `set_ready`, `cancelled`, `triggered`, a serve loop) within the startup_timeout of 5.000s"
    );
    assert_eq!(report.code(), EXIT_START_FAILED);
    // Never Ready: no drain delay.
    assert_eq!(report.timings.drain_delay, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_boundary_call_from_another_task_is_named_when_start_up_times_out() {
    // Ported from plain axum: `with_graceful_shutdown(async move { lc.cancelled().await })`
    // runs that future in a task of axum's, so main itself never reaches a boundary. The
    // timeout must say that the call was made, by whom, and what to write instead.
    let config = config().with_startup_timeout(Duration::from_secs(5));
    let sequence = Sequence::new(config);
    let lc = sequence.handle();
    let report = sequence
        .run_without_signals(async move {
            let shutdown = lc.clone();
            tokio::spawn(async move { shutdown.cancelled().await });
            sleep(Duration::from_secs(20)).await;
        })
        .await;
    assert_eq!(report.code(), EXIT_START_FAILED);
    assert_eq!(
        report.trigger.to_string(),
        "start-up failed: start-up never began: main did not reach `lc.started().await` (or \
         `set_ready`, `cancelled`, `triggered`, a serve loop) within the startup_timeout of \
         5.000s; `lc.cancelled()` was called, but by another task (one main spawned, or a \
         library's: axum's `with_graceful_shutdown` polls its future in a task of its own), and \
         only main's own calls count: await `lc.started()` in main, or make the \
         shutdown future in main with `lc.cancelled()`"
    );
}

#[tokio::test(start_paused = true)]
async fn a_boundary_call_made_before_start_up_is_named_when_start_up_times_out() {
    // `lifecycle::run(config, |lc| { let shutdown = lc.cancelled(); .. async move {
    // shutdown.await } })`: the call runs in the closure, before the sequence polls main's
    // future, so it is no boundary. The timeout must say so, and where to move the call.
    let config = config().with_startup_timeout(Duration::from_secs(5));
    let sequence = Sequence::new(config);
    let lc = sequence.handle();
    let shutdown = lc.cancelled();
    let report = sequence.run_without_signals(shutdown).await;
    assert_eq!(report.code(), EXIT_START_FAILED);
    assert_eq!(
        report.trigger.to_string(),
        "start-up failed: start-up never began: main did not reach `lc.started().await` (or \
         `set_ready`, `cancelled`, `triggered`, a serve loop) within the startup_timeout of \
         5.000s; `lc.cancelled()` was called before the sequence ran main's future (in \
         `lifecycle::run`'s closure outside its `async` block, say), and only calls main's \
         future makes count: make it inside that future"
    );
}

#[tokio::test(start_paused = true)]
async fn reloads_run_in_order_never_overlap_and_a_failure_keeps_the_service_up() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (Arc::clone(&running), Arc::clone(&most));
    let slow_log = log.clone();
    lc.manage(Hook::new(HookKind::Reload, "reread", move || {
        let (now, peak, log) = (Arc::clone(&now), Arc::clone(&peak), slow_log.clone());
        async move {
            let at_once = now.fetch_add(1, SeqCst) + 1;
            peak.fetch_max(at_once, SeqCst);
            log.push("reread");
            sleep(100 * MS).await;
            now.fetch_sub(1, SeqCst);
        }
    }));
    lc.manage(
        Hook::new(
            HookKind::Reload,
            "resize pool",
            body(&log, "resize", MS, true),
        )
        .with_order(1),
    );
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            assert!(handle.started().await);
            handle.request_reload();
            sleep(10 * MS).await;
            // Two more during the first: one more reload after it, not two.
            handle.request_reload();
            handle.request_reload();
            sleep(Duration::from_secs(1)).await;
            assert!(
                handle.state().is_ready(),
                "a failed reload keeps the service up"
            );
        })
        .await;
    assert_eq!(
        log.entries(),
        [
            "reread",
            "resize start",
            "resize failed",
            "reread",
            "resize start",
            "resize failed"
        ]
    );
    assert_eq!(most.load(SeqCst), 1, "reloads overlapped");
    assert_eq!(report.reloads, 2);
    assert_eq!(report.reload_failures.len(), 2);
    assert_eq!(
        report.reload_failures[0].outcome.to_string(),
        "failed: resize refused"
    );
    assert_eq!(report.code(), EXIT_OK);
    assert!(report
        .to_string()
        .contains("reloads       2 (2 hook runs failed)"));
}

#[tokio::test(start_paused = true)]
async fn a_reload_under_way_at_the_trigger_is_waited_for_within_the_grace() {
    let log = Log::new();
    let sequence = Sequence::new(config());
    let lc = sequence.handle();
    lc.manage(Hook::new(
        HookKind::Reload,
        "reread",
        body(&log, "reread", 2000 * MS, false),
    ));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            handle.request_reload();
            sleep(500 * MS).await;
            handle.request_shutdown();
            assert!(!handle.request_reload(), "no reload after the trigger");
            handle.cancelled().await;
        })
        .await;
    assert_eq!(log.entries(), ["reread start", "reread end"]);
    assert_eq!(report.reloads, 1);
    assert_eq!(report.timings.drain, 1500 * MS);
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_reload_asked_for_during_start_up_runs_after_main_had_its_turn_once_ready() {
    // A SIGHUP (here `request_reload`) during the start hooks waits for start-up. Once Ready, it
    // must not race `main`'s code after `started()`: before the fix it ran from a task spawned
    // when the service became Ready (here by `set_ready`, from another task, 150 ms in), which
    // the runtime ran before `main` resumed, so `main`'s write overwrote the reloaded value.
    let log = Log::new();
    let value = Arc::new(Mutex::new("from the code"));
    let sequence = Sequence::new(config().with_ready_when(ReadyWhen::Manual));
    let lc = sequence.handle();
    lc.manage(Hook::new(
        HookKind::Start,
        "connect",
        body(&log, "connect", 100 * MS, false),
    ));
    let (reload_log, reloaded) = (log.clone(), Arc::clone(&value));
    lc.manage(Hook::new(HookKind::Reload, "reread", move || {
        let (log, value) = (reload_log.clone(), Arc::clone(&reloaded));
        async move {
            *value.lock().unwrap() = "reloaded";
            log.push("reload");
        }
    }));
    let asker = lc.clone();
    tokio::spawn(async move {
        sleep(50 * MS).await; // during `connect`
        assert!(asker.request_reload());
    });
    let setter = lc.clone();
    tokio::spawn(async move {
        sleep(150 * MS).await; // after the start hooks: Ready now
        setter.set_ready();
    });
    let (handle, main_log, written) = (lc.clone(), log.clone(), Arc::clone(&value));
    let report = sequence
        .run_without_signals(async move {
            assert!(handle.started().await);
            *written.lock().unwrap() = "from main";
            main_log.push("main");
            sleep(Duration::from_secs(1)).await;
        })
        .await;
    assert_eq!(
        log.timed(),
        [
            (0, "connect start".to_owned()),
            (100, "connect end".to_owned()),
            (150, "main".to_owned()),
            (150, "reload".to_owned()),
        ]
    );
    assert_eq!(*value.lock().unwrap(), "reloaded");
    assert_eq!(report.reloads, 1);
    assert_eq!(report.code(), EXIT_OK);
}
