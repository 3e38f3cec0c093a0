//! Readiness checks on paused Tokio time: a failing check makes the service not ready with its
//! reason, and ready again when it passes; a hanging check is bounded by its timeout; a
//! panicking one is a failure, not a dead checker; checks stop at the trigger without being cut
//! or reported; the state (and with it the drain delay) is never moved back.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use lifecycle::checks::{CheckState, Readiness};
use lifecycle::{Config, Lifecycle, Sequence, State};
use tokio::sync::watch;
use tokio::time::Instant;

/// What the fake dependency does on the next runs.
const UP: u8 = 0;
const DOWN: u8 = 1;
const HANGS: u8 = 2;
const PANICS: u8 = 3;
const PANICS_ON_CALL: u8 = 4;

/// A check of a dependency whose behaviour the test sets, counting its runs.
fn dependency(
    lc: &Lifecycle,
    every: Duration,
    timeout: Duration,
) -> (Arc<AtomicU8>, Arc<AtomicUsize>) {
    dependency_with_threshold(lc, every, timeout, 1)
}

/// [`dependency`], failing only after `failures` failed runs in a row.
fn dependency_with_threshold(
    lc: &Lifecycle,
    every: Duration,
    timeout: Duration,
    failures: u32,
) -> (Arc<AtomicU8>, Arc<AtomicUsize>) {
    let mode = Arc::new(AtomicU8::new(UP));
    let runs = Arc::new(AtomicUsize::new(0));
    let (m, r) = (Arc::clone(&mode), Arc::clone(&runs));
    lc.check("postgres")
        .every(every)
        .timeout(timeout)
        .failures(failures)
        .run(move || {
            r.fetch_add(1, SeqCst);
            let mode = m.load(SeqCst);
            if mode == PANICS_ON_CALL {
                panic!("no pool configured");
            }
            async move {
                match mode {
                    UP => Ok(()),
                    DOWN => Err(std::io::Error::other("connection refused")),
                    HANGS => std::future::pending().await,
                    _ => panic!("pool poisoned"),
                }
            }
        });
    (mode, runs)
}

async fn until(
    readiness: &mut watch::Receiver<Readiness>,
    what: impl FnMut(&Readiness) -> bool,
) -> Readiness {
    // Bounded (on the paused clock, so at once): a checker that died fails the test, not hangs it.
    tokio::time::timeout(Duration::from_secs(600), readiness.wait_for(what))
        .await
        .expect("the readiness within 600 s")
        .expect("the lifecycle lives")
        .clone()
}

fn failing(readiness: &Readiness) -> bool {
    readiness.checks()[0].state() == CheckState::Failing
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_makes_the_service_not_ready_with_its_reason_and_ready_again_when_it_passes(
) {
    let lc = Sequence::new(Config::new()).handle();
    let (mode, _) = dependency(&lc, Duration::from_secs(5), Duration::from_secs(1));
    let mut readiness = lc.watch_readiness();

    // Pending until the first run, which comes once Ready.
    lc.set_ready();
    assert_eq!(
        lc.readiness().reason().as_deref(),
        Some("check postgres has not run yet")
    );
    let began = Instant::now();
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(began.elapsed(), Duration::ZERO, "the first run is at once");

    mode.store(DOWN, SeqCst);
    let down = until(&mut readiness, failing).await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(5),
        "the next run is a period later"
    );
    assert!(!down.is_ready());
    assert_eq!(down.state(), State::Ready, "the state is never moved back");
    assert!(lc.state().is_ready());
    assert_eq!(
        down.to_string(),
        "not ready: check postgres failed: connection refused"
    );
    assert_eq!(
        down.to_json(),
        r#"{"ready":false,"state":"ready","reason":"check postgres failed: connection refused","checks":[{"name":"postgres","state":"failing","failures":1,"last_error":"connection refused"}]}"#
    );

    mode.store(UP, SeqCst);
    let up = until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(began.elapsed(), Duration::from_secs(10));
    assert_eq!(up.checks()[0].state(), CheckState::Passing);
    assert_eq!(
        up.checks()[0].last_error(),
        Some("connection refused"),
        "the last error is kept"
    );
    assert_eq!(up.reason(), None);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_fails_at_its_timeout_and_the_next_run_still_comes() {
    let lc = Sequence::new(Config::new()).handle();
    let (mode, runs) = dependency(&lc, Duration::from_secs(5), Duration::from_secs(1));
    mode.store(HANGS, SeqCst);
    let mut readiness = lc.watch_readiness();
    let began = Instant::now();
    lc.set_ready();

    let hung = until(&mut readiness, failing).await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(1),
        "bounded by its timeout"
    );
    assert_eq!(
        hung.reason().as_deref(),
        Some("check postgres failed: timed out after 1s")
    );

    mode.store(UP, SeqCst);
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(5),
        "the period counts from the run's start"
    );
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_a_failure_and_the_checker_lives_on() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let (mode, runs) = dependency(&lc, Duration::from_secs(1), Duration::from_secs(1));
    let mut readiness = lc.watch_readiness();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            until(&mut readiness, Readiness::is_ready).await;

            mode.store(PANICS, SeqCst);
            let panicked = until(&mut readiness, failing).await;
            assert_eq!(
                panicked.reason().as_deref(),
                Some("check postgres failed: panicked: pool poisoned")
            );
            mode.store(UP, SeqCst);
            until(&mut readiness, Readiness::is_ready).await;

            // The function itself panicking, before it made a future: the same.
            mode.store(PANICS_ON_CALL, SeqCst);
            let panicked = until(&mut readiness, failing).await;
            assert_eq!(
                panicked.checks()[0].last_error(),
                Some("panicked: no pool configured")
            );
            mode.store(UP, SeqCst);
            until(&mut readiness, Readiness::is_ready).await;
            handle.request_shutdown();
        })
        .await;
    assert_eq!(runs.load(SeqCst), 5);
    assert_eq!(report.code(), 0);
    assert!(
        report.task_failures.is_empty(),
        "{:?}",
        report.task_failures
    );
}

#[tokio::test(start_paused = true)]
async fn checks_stop_at_the_trigger_and_are_neither_cut_nor_reported() {
    let sequence = Sequence::new(
        Config::new()
            .with_grace(Duration::from_secs(30))
            .with_drain_delay(Duration::from_secs(2)),
    );
    let lc = sequence.handle();
    // One check hangs in a run at the trigger, one fails, one passes.
    let (hangs, hung_runs) = dependency(&lc, Duration::from_secs(5), Duration::from_secs(60));
    hangs.store(HANGS, SeqCst);
    lc.check("cache")
        .every(Duration::from_secs(1))
        .run(|| async { Err::<(), _>("cache down") });
    let passed = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&passed);
    lc.check("disk").every(Duration::from_secs(1)).run(move || {
        count.fetch_add(1, SeqCst);
        async {}
    });
    let mut readiness = lc.watch_readiness();
    let handle = lc.clone();
    let began = Instant::now();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            until(&mut readiness, |r| {
                r.checks()[1].state() == CheckState::Failing
            })
            .await;
            tokio::time::sleep(Duration::from_millis(3500)).await;
            handle.request_shutdown();
            handle.cancelled().await;
        })
        .await;
    // The drain delay ran although a check failed (the service had been Ready), and the drain
    // did not wait for the hanging run: the checks ended at the trigger.
    assert_eq!(report.timings.drain_delay, Duration::from_secs(2));
    assert!(
        report.timings.drain < Duration::from_millis(10),
        "{:?}",
        report.timings
    );
    assert_eq!(began.elapsed(), Duration::from_millis(5500));
    assert!(
        report.tasks_aborted.is_empty(),
        "{:?}",
        report.tasks_aborted
    );
    assert!(
        report.task_failures.is_empty(),
        "{:?}",
        report.task_failures
    );
    assert_eq!(report.code(), 0);
    assert_eq!(hung_runs.load(SeqCst), 1);
    let disk_runs = passed.load(SeqCst);
    assert_eq!(
        disk_runs, 4,
        "runs at 0, 1, 2 and 3 s, none after the trigger"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(passed.load(SeqCst), disk_runs, "no run after the shutdown");
    assert_eq!(lc.readiness().state(), State::Stopped);
    assert!(!lc.readiness().is_ready());
}

#[tokio::test(start_paused = true)]
async fn checks_wait_for_ready_and_never_run_when_start_up_fails() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let (_, runs) = dependency(&lc, Duration::from_secs(1), Duration::from_secs(1));
    lc.manage(lifecycle::Hook::new(
        lifecycle::hooks::HookKind::Start,
        "connect",
        || async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Err::<(), _>("refused")
        },
    ));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
        })
        .await;
    assert_eq!(report.code(), lifecycle::exit::EXIT_START_FAILED);
    assert_eq!(runs.load(SeqCst), 0, "a check runs only once Ready");
    assert!(report.tasks_aborted.is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_checks_readiness_is_the_state() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let mut readiness = lc.watch_readiness();
    assert_eq!(lc.readiness().state(), State::Starting);
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            assert!(handle.readiness().is_ready());
            assert_eq!(handle.readiness().to_string(), "ready");
            handle.request_shutdown();
        })
        .await;
    assert_eq!(report.code(), 0);
    // Every move of the state was seen by the readiness watch, in order.
    assert!(readiness.has_changed().unwrap());
    assert_eq!(readiness.borrow_and_update().state(), State::Stopped);
}

/// A value the check's future holds panics when the future is dropped at the timeout: the
/// check fails saying so, and keeps running.
#[tokio::test(start_paused = true)]
async fn a_check_whose_future_panics_when_dropped_is_a_failure() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("dropped mid-query");
            }
        }
    }
    let lc = Sequence::new(Config::new()).handle();
    let first = Arc::new(AtomicUsize::new(0));
    let runs = Arc::clone(&first);
    lc.check("db")
        .every(Duration::from_secs(2))
        .timeout(Duration::from_millis(500))
        .run(move || {
            let run = runs.fetch_add(1, SeqCst);
            async move {
                if run == 0 {
                    let _bomb = Bomb;
                    std::future::pending::<()>().await;
                }
            }
        });
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    let failed = until(&mut readiness, |r| {
        r.checks()[0].state() == CheckState::Failing
    })
    .await;
    assert_eq!(
        failed.checks()[0].last_error(),
        Some("timed out after 500ms")
    );
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(first.load(SeqCst), 2);
}

#[cfg(feature = "axum")]
#[tokio::test(start_paused = true)]
async fn the_ready_handler_answers_503_naming_the_check_and_200_when_it_passes() {
    use axum::extract::State as Extract;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let lc = Sequence::new(Config::new()).handle();
    let (mode, _) = dependency(&lc, Duration::from_secs(1), Duration::from_secs(1));
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(
        lifecycle::axum::ready(Extract(lc.clone())).await,
        StatusCode::OK
    );

    mode.store(DOWN, SeqCst);
    until(&mut readiness, failing).await;
    let answer = lifecycle::axum::ready(Extract(lc.clone())).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer
            .body()
            .contains(r#""reason":"check postgres failed: connection refused""#),
        "{}",
        answer.body()
    );
    let response = answer.into_response();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(lifecycle::axum::live().await, StatusCode::OK);

    mode.store(UP, SeqCst);
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(lifecycle::axum::ready(Extract(lc)).await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_huge_error_is_cut_so_the_probe_body_stays_small() {
    let lc = Sequence::new(Config::new()).handle();
    lc.check("dump")
        .run(|| async { Err::<(), _>(format!("bad row:\n{}", "x".repeat(1 << 20))) });
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    let failed = until(&mut readiness, failing).await;
    let body = failed.to_json();
    // The cut error twice (the reason and the last error), and the rest of the body.
    assert!(body.len() < 2 * 1024 + 300, "{} bytes", body.len());
    assert!(
        body.contains(r#""last_error":"bad row:\nxxxx"#) && body.contains("... (1048585 bytes)"),
        "{body}"
    );
}

/// A period or timeout too long for the clock to add (`Duration::MAX`) is "once" and "no
/// timeout": the check runs, passes and is never a failed task (the checker used to panic
/// adding the period to the run's start, a task failure in the report).
#[tokio::test(start_paused = true)]
async fn a_period_beyond_the_clock_runs_the_check_once_and_is_no_failure() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let (_, runs) = dependency(&lc, Duration::MAX, Duration::MAX);
    let mut readiness = lc.watch_readiness();
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            until(&mut readiness, Readiness::is_ready).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            handle.request_shutdown();
            handle.cancelled().await;
        })
        .await;
    assert!(
        report.task_failures.is_empty(),
        "{:?}",
        report.task_failures
    );
    assert_eq!(report.code(), 0);
    assert_eq!(runs.load(SeqCst), 1);
}

/// `failures(3)`, every 5 s: a check that passed keeps the service ready through two failed runs
/// in a row (a blip), and takes it out at the third; a pass resets the count, so failures that
/// are not in a row never add up. The readiness shows the count all along.
#[tokio::test(start_paused = true)]
async fn a_check_with_a_threshold_fails_only_after_that_many_failed_runs_in_a_row() {
    let lc = Sequence::new(Config::new()).handle();
    let every = Duration::from_secs(5);
    let (mode, runs) = dependency_with_threshold(&lc, every, Duration::from_secs(1), 3);
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    let began = Instant::now();
    until(&mut readiness, Readiness::is_ready).await;

    // A blip: two failed runs, then a pass. Ready throughout.
    mode.store(DOWN, SeqCst);
    for failures in 1..=2 {
        let now = until(&mut readiness, |r| r.checks()[0].failures() == failures).await;
        assert_eq!(began.elapsed(), every * failures, "a run each period");
        assert!(now.is_ready(), "{failures} failed run(s) in a row: {now}");
        assert_eq!(now.checks()[0].state(), CheckState::Passing);
        assert_eq!(now.checks()[0].last_error(), Some("connection refused"));
        assert_eq!(now.reason(), None);
    }
    mode.store(UP, SeqCst);
    let reset = until(&mut readiness, |r| r.checks()[0].failures() == 0).await;
    assert_eq!(began.elapsed(), every * 3);
    assert!(reset.is_ready());

    // Gone for good: not ready at the third failed run in a row, 15 s after the last pass.
    mode.store(DOWN, SeqCst);
    let out = until(&mut readiness, |r| !r.is_ready()).await;
    assert_eq!(
        began.elapsed(),
        every * 6,
        "the third failed run, not the first"
    );
    assert_eq!(out.checks()[0].failures(), 3);
    assert_eq!(out.checks()[0].state(), CheckState::Failing);
    assert_eq!(
        out.to_string(),
        "not ready: check postgres failed: connection refused"
    );
    assert!(out.to_json().contains(
        r#"{"name":"postgres","state":"failing","failures":3,"last_error":"connection refused"}"#
    ));
    let more = until(&mut readiness, |r| r.checks()[0].failures() == 4).await;
    assert!(!more.is_ready(), "failing until a pass");

    mode.store(UP, SeqCst);
    let back = until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(began.elapsed(), every * 8, "back at the first pass");
    assert_eq!(back.checks()[0].failures(), 0);
    assert_eq!(runs.load(SeqCst), 9);
}

/// The threshold keeps a replica that was serving; it lets none in that never reached its
/// dependency: before the first pass, the first failed run is failing, with its reason.
#[tokio::test(start_paused = true)]
async fn before_its_first_pass_a_check_with_a_threshold_fails_at_its_first_failed_run() {
    let lc = Sequence::new(Config::new()).handle();
    let (mode, _) =
        dependency_with_threshold(&lc, Duration::from_secs(5), Duration::from_secs(1), 3);
    mode.store(DOWN, SeqCst);
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    let began = Instant::now();
    let first = until(&mut readiness, failing).await;
    assert_eq!(began.elapsed(), Duration::ZERO, "the first run");
    assert_eq!(first.checks()[0].failures(), 1);
    assert_eq!(
        first.reason().as_deref(),
        Some("check postgres failed: connection refused")
    );
    mode.store(UP, SeqCst);
    until(&mut readiness, Readiness::is_ready).await;
    assert_eq!(began.elapsed(), Duration::from_secs(5));
}

/// `failures(0)` is taken as 1 (documented): the first failed run after a pass fails the check;
/// nothing panics.
#[tokio::test(start_paused = true)]
async fn a_threshold_of_zero_is_taken_as_one() {
    let lc = Sequence::new(Config::new()).handle();
    let (mode, _) =
        dependency_with_threshold(&lc, Duration::from_secs(5), Duration::from_secs(1), 0);
    let mut readiness = lc.watch_readiness();
    lc.set_ready();
    until(&mut readiness, Readiness::is_ready).await;
    let began = Instant::now();
    mode.store(DOWN, SeqCst);
    let down = until(&mut readiness, failing).await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(5),
        "the first failed run"
    );
    assert_eq!(down.checks()[0].failures(), 1);
}
