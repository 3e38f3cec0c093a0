//! Stop stages and supervised runs on paused Tokio time: stages cancelled and drained in
//! ascending order within one grace, an overrunning stage eating only the later stages' time,
//! unstaged work first; restarts with exponential backoff, escalation to exit code 1, and no
//! restart after the trigger.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::exit::{EXIT_APP_FAILED, EXIT_OK};
use lifecycle::hooks::HookKind;
use lifecycle::tasks::StageEnd;
use lifecycle::tasks::{Restart, Run};
use lifecycle::Trigger;
use lifecycle::{Config, Sequence};
use tokio::time::{sleep, Instant};

/// Spawns `run` the way an app does: as what a component's `runs` returns, through `manage`.
fn spawn_run(lc: &lifecycle::Lifecycle, run: Run) {
    struct Part(Mutex<Option<Run>>);
    impl lifecycle::Component for Part {
        fn hooks(self: Arc<Self>) -> Vec<lifecycle::Hook> {
            Vec::new()
        }
        fn runs(self: Arc<Self>) -> Vec<Run> {
            self.0.lock().unwrap().take().into_iter().collect()
        }
    }
    lc.manage(Arc::new(Part(Mutex::new(Some(run)))));
}

const MS: Duration = Duration::from_millis(1);

/// What happened when, on the paused clock, relative to the test's start.
#[derive(Clone)]
struct Timeline(Arc<Mutex<Vec<(String, Duration)>>>, Instant);

impl Timeline {
    fn new() -> Self {
        Self(Arc::default(), Instant::now())
    }
    fn mark(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push((what.into(), self.1.elapsed()));
    }
    fn entries(&self) -> Vec<(String, Duration)> {
        self.0.lock().unwrap().clone()
    }
}

/// A task in `stage` that notes its cancel, takes `takes` to wind down, then notes its end.
fn staged(lc: &lifecycle::Lifecycle, stage: u8, takes: Duration, timeline: &Timeline) {
    let token = lc.stage(stage).token();
    let timeline = timeline.clone();
    lc.stage(stage)
        .task(format!("stage-{stage}"))
        .spawn(async move {
            token.cancelled().await;
            timeline.mark(format!("{stage} cancelled"));
            sleep(takes).await;
            timeline.mark(format!("{stage} done"));
        });
}

#[tokio::test(start_paused = true)]
async fn stages_drain_in_ascending_order_each_before_the_next_is_cancelled() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
    let lc = sequence.handle();
    let timeline = Timeline::new();
    // Registered out of order on purpose: the order is the stage number, not registration.
    staged(&lc, 2, 300 * MS, &timeline);
    staged(&lc, 0, 100 * MS, &timeline);
    staged(&lc, 1, 200 * MS, &timeline);
    let (token, t) = (lc.token(), timeline.clone());
    lc.task("unstaged").spawn(async move {
        token.cancelled().await;
        t.mark("unstaged cancelled");
        sleep(50 * MS).await;
        t.mark("unstaged done");
    });

    let report = sequence.run_without_signals(async {}).await;

    let at = |what: &str| Duration::from_millis(what.parse().unwrap());
    let expected = [
        ("unstaged cancelled", "0"),
        ("unstaged done", "50"),
        ("0 cancelled", "50"),
        ("0 done", "150"),
        ("1 cancelled", "150"),
        ("1 done", "350"),
        ("2 cancelled", "350"),
        ("2 done", "650"),
    ]
    .map(|(what, ms)| (what.to_string(), at(ms)));
    assert_eq!(timeline.entries(), expected);
    let stages: Vec<_> = report
        .stages
        .iter()
        .map(|s| (s.stage, s.took, s.end))
        .collect();
    assert_eq!(
        stages,
        [
            (None, 50 * MS, StageEnd::Drained),
            (Some(0), 100 * MS, StageEnd::Drained),
            (Some(1), 200 * MS, StageEnd::Drained),
            (Some(2), 300 * MS, StageEnd::Drained),
        ]
    );
    assert_eq!(report.timings.drain, 650 * MS);
    assert_eq!(report.code(), EXIT_OK);
    let text = report.to_string();
    assert!(
        text.contains("    stage 1        200ms  drained\n"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_stage_eats_the_later_stages_time_and_not_more() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    let timeline = Timeline::new();
    staged(&lc, 0, 700 * MS, &timeline); // within the grace, but slow
    staged(&lc, 1, 500 * MS, &timeline); // would need 500 ms: only 300 ms are left
    staged(&lc, 2, MS, &timeline); // never reached

    let report = sequence.run_without_signals(async {}).await;

    // One deadline for the whole drain: 1 s after the cancel, whatever the stages did.
    assert_eq!(report.timings.drain, Duration::from_secs(1));
    let stages: Vec<_> = report
        .stages
        .iter()
        .map(|s| (s.stage, s.took, s.end))
        .collect();
    assert_eq!(
        stages,
        [
            (None, Duration::ZERO, StageEnd::Drained),
            (Some(0), 700 * MS, StageEnd::Drained),
            (Some(1), 300 * MS, StageEnd::Deadline),
            (Some(2), Duration::ZERO, StageEnd::NotReached),
        ]
    );
    let mut aborted: Vec<_> = report
        .tasks_aborted
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    aborted.sort_unstable();
    assert_eq!(aborted, ["stage-1", "stage-2"]);
    let seen: Vec<String> = timeline.entries().into_iter().map(|(w, _)| w).collect();
    assert_eq!(seen, ["0 cancelled", "0 done", "1 cancelled"]);
    assert_eq!(report.code(), lifecycle::exit::EXIT_ABORTED);
}

#[tokio::test(start_paused = true)]
async fn unstaged_work_and_main_are_cancelled_and_drained_before_stage_zero() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
    let lc = sequence.handle();
    let timeline = Timeline::new();
    staged(&lc, 0, MS, &timeline);
    let stage_token = lc.stage(0).token();
    let handle = lc.clone();
    let t = timeline.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.request_shutdown();
            handle.cancelled().await;
            t.mark("main cancelled");
            // Like an HTTP server finishing its in-flight requests.
            sleep(400 * MS).await;
            assert!(
                !stage_token.is_cancelled(),
                "stage 0 cancelled before main ended"
            );
            t.mark("main done");
        })
        .await;
    let seen: Vec<_> = timeline.entries();
    assert_eq!(seen[0], ("main cancelled".to_string(), Duration::ZERO));
    assert_eq!(seen[1], ("main done".to_string(), 400 * MS));
    assert_eq!(seen[2], ("0 cancelled".to_string(), 400 * MS));
    assert_eq!(report.stages[0].took, 400 * MS);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_stage_used_after_its_turn_starts_cancelled() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let _first = lc.stage(3).token();
    let handle = lc.clone();
    let late = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&late);
    lc.stage(3).task("asks late").spawn(async move {
        handle.stage(3).token().cancelled().await;
        // Stage 1 is created only now, after stage 3's turn came: it must not wait forever.
        *seen.lock().unwrap() = Some(handle.stage(1).token().is_cancelled());
    });
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(*late.lock().unwrap(), Some(true));
    assert_eq!(report.code(), EXIT_OK);
    // After the drain, a stage never used before (here 200, above every stage the drain saw)
    // starts cancelled too: nothing would ever cancel it.
    assert!(lc.stage(200).token().is_cancelled());
}

/// A run that fails every time, noting when each attempt started.
fn failing_run(name: &'static str, attempts: &Arc<Mutex<Vec<Duration>>>, start: Instant) -> Run {
    let attempts = Arc::clone(attempts);
    Run::new(name, move |_token| {
        attempts.lock().unwrap().push(start.elapsed());
        async { Err::<(), _>("connection refused") }
    })
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_restarts_with_exponential_backoff_then_escalates_to_exit_one() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let restart = Restart::on_failure(3).with_backoff(100 * MS, Duration::from_secs(1));
    spawn_run(
        &lc,
        failing_run("consumer", &attempts, Instant::now())
            .in_stage(1)
            .with_restart(restart),
    );

    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await; // the start boundary: Ready, the runs start
            std::future::pending::<()>().await
        })
        .await;

    // The first attempt, then restarts after 100, 200 and 400 ms; the fourth failure escalates.
    assert_eq!(
        *attempts.lock().unwrap(),
        [Duration::ZERO, 100 * MS, 300 * MS, 700 * MS]
    );
    let backoffs: Vec<_> = report
        .restarts
        .iter()
        .map(|r| (r.restart, r.backoff))
        .collect();
    assert_eq!(backoffs, [(1, 100 * MS), (2, 200 * MS), (3, 400 * MS)]);
    assert_eq!(report.restarts[0].error.to_string(), "connection refused");
    assert!(
        matches!(&report.trigger, Trigger::TaskFailed { task, .. } if task == "consumer"),
        "{:?}",
        report.trigger
    );
    assert_eq!(report.code(), EXIT_APP_FAILED);
    assert!(report
        .to_string()
        .contains("`consumer` restart 3 after 400ms"));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_run_is_restarted_too() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    spawn_run(
        &lc,
        Run::new("parser", move |token| {
            let call = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if call == 0 {
                    panic!("bad frame");
                }
                token.cancelled().await; // the second attempt serves until its stage's turn
            }
        })
        .in_stage(0)
        .with_restart(Restart::on_failure(1)),
    );
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            sleep(Duration::from_secs(1)).await;
            handle.request_shutdown();
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(report.restarts.len(), 1);
    assert_eq!(report.restarts[0].error.to_string(), "panicked: bad frame");
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn restarts_of_an_unstaged_run_stop_when_the_drain_cancels_it() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let restart =
        Restart::on_failure(10).with_backoff(Duration::from_secs(1), Duration::from_secs(60));
    spawn_run(
        &lc,
        failing_run("poller", &attempts, Instant::now()).with_restart(restart),
    );
    let handle = lc.clone();
    // Attempts at 0 s and 1 s; the second restart's 2 s backoff is under way at 1.5 s.
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            sleep(1500 * MS).await;
            handle.request_shutdown();
        })
        .await;
    assert_eq!(
        *attempts.lock().unwrap(),
        [Duration::ZERO, Duration::from_secs(1)]
    );
    assert_eq!(report.restarts.len(), 2); // both failures were handled as restarts...
    assert!(matches!(report.trigger, Trigger::Requested { .. }));
    assert_eq!(report.code(), EXIT_OK); // ...so nothing escalated
    assert!(report.timings.drain < 10 * MS, "{:?}", report.timings);
}

#[tokio::test(start_paused = true)]
async fn a_staged_run_in_backoff_at_the_trigger_is_back_for_the_work_drained_before_it() {
    // A writer in stage 0 that fails at once the first time and then serves until its cancel;
    // the unstaged work (a server) takes 2 s to drain after the trigger and needs the writer.
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let start = Instant::now();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let restart =
        Restart::on_failure(3).with_backoff(Duration::from_secs(1), Duration::from_secs(1));
    spawn_run(
        &lc,
        Run::new("writer", move |token| {
            let first = {
                let mut seen = seen.lock().unwrap();
                seen.push(start.elapsed());
                seen.len() == 1
            };
            async move {
                if first {
                    return Err::<(), _>("disk busy");
                }
                token.cancelled().await;
                Ok(())
            }
        })
        .in_stage(0)
        .with_restart(restart),
    );
    let server = lc.token();
    let handle = lc.clone();
    lc.task("server").spawn(async move {
        server.cancelled().await;
        sleep(Duration::from_secs(2)).await; // its last requests, which need the writer
    });
    // The writer failed at 0 s; its 1 s backoff is under way when the trigger comes at 0.5 s.
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            sleep(500 * MS).await;
            handle.request_shutdown();
        })
        .await;
    assert_eq!(
        *attempts.lock().unwrap(),
        [Duration::ZERO, Duration::from_secs(1)],
        "restarted at 1 s, while the server drained in front of it"
    );
    assert_eq!(report.restarts.len(), 1);
    assert_eq!(report.stages[1].took, Duration::ZERO); // it stopped at its cancel
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_run_failing_after_the_trigger_is_not_restarted_and_fails_the_exit_code() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    spawn_run(
        &lc,
        Run::new("writer", move |token| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                token.cancelled().await;
                Err::<(), _>("final flush failed")
            }
        })
        .in_stage(0)
        .with_restart(Restart::on_failure(5)),
    );
    let handle = lc.clone();
    // Runs start when the service is Ready: main returns once start-up is over.
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(report.restarts.is_empty());
    assert_eq!(report.task_failures[0].task, "writer");
    assert!(report.task_failures[0].critical);
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

/// A run that counts its calls in `calls` and runs until its token is cancelled.
fn counted_run(name: &'static str, calls: &Arc<AtomicU32>) -> Run {
    let calls = Arc::clone(calls);
    Run::new(name, move |token| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { token.cancelled().await }
    })
}

#[tokio::test(start_paused = true)]
async fn runs_spawned_before_ready_start_when_the_service_becomes_ready() {
    use lifecycle::Hook;
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let calls = Arc::new(AtomicU32::new(0));
    spawn_run(&lc, counted_run("consumer", &calls));
    // A start hook that takes a second: the service is Ready only after it.
    lc.manage(Hook::new(HookKind::Start, "connect", || {
        sleep(Duration::from_secs(1))
    }));
    let (handle, counted) = (lc.clone(), Arc::clone(&calls));
    let report = sequence
        .run_without_signals(async move {
            sleep(500 * MS).await;
            assert_eq!(counted.load(Ordering::SeqCst), 0, "started before Ready");
            assert!(handle.started().await);
            tokio::task::yield_now().await;
            assert_eq!(counted.load(Ordering::SeqCst), 1, "not started at Ready");
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.code(), EXIT_OK);
    assert!(report.tasks_aborted.is_empty());
}

#[tokio::test(start_paused = true)]
async fn runs_of_a_service_whose_start_up_failed_never_start() {
    use lifecycle::Hook;
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let calls = Arc::new(AtomicU32::new(0));
    spawn_run(&lc, counted_run("consumer", &calls));
    lc.manage(Hook::new(HookKind::Start, "connect", || async {
        Err::<(), _>("refused")
    }));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(report.code(), lifecycle::exit::EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn a_staged_run_of_a_service_whose_start_up_failed_makes_no_stage() {
    use lifecycle::Hook;
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let calls = Arc::new(AtomicU32::new(0));
    spawn_run(&lc, counted_run("writer", &calls).in_stage(3));
    lc.manage(Hook::new(HookKind::Start, "connect", || async {
        Err::<(), _>("refused")
    }));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The run never started, so its stage was never made: the drain has no stage to report.
    let stages: Vec<_> = report.stages.iter().map(|drain| drain.stage).collect();
    assert_eq!(stages, Vec::<Option<u8>>::new());
    assert_eq!(report.code(), lifecycle::exit::EXIT_START_FAILED);
}

#[tokio::test(start_paused = true)]
async fn a_task_spawned_into_a_stage_that_has_drained_is_late_and_aborted_at_the_report() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let _used = lc.stage(0).token();
    let (token, handle) = (lc.stage(1).token(), lc.clone());
    // Stage 1, draining, spawns into stage 0, which has drained: nothing will wait for it.
    lc.stage(1).task("flusher").spawn(async move {
        token.cancelled().await;
        handle
            .stage(0)
            .task("late flush")
            .spawn(std::future::pending::<()>());
        sleep(100 * MS).await;
    });
    let report = sequence.run_without_signals(async {}).await;
    let late: Vec<_> = report
        .tasks_aborted
        .iter()
        .map(|t| (t.name.as_str(), t.late))
        .collect();
    assert_eq!(late, [("late flush", true)]);
    assert_eq!(report.timings.drain, 100 * MS); // not waited for
    assert_eq!(report.code(), lifecycle::exit::EXIT_ABORTED);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn requests_of_a_server_stopped_by_its_stage_are_waited_for_after_the_stages() {
    use lifecycle::http::InFlightLayer;
    use tower::{service_fn, Layer, ServiceExt};

    const HTTP: u8 = 0;
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
    let lc = sequence.handle();
    // A server the lifecycle does not run, stopped by its stage's token, its requests counted by
    // the layer: the request in flight is answered when the stage is cancelled.
    let stop = lc.stage(HTTP).token();
    let service = InFlightLayer::new(&lc).layer(service_fn(move |_: http::Request<()>| {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }
    }));
    lc.stage(HTTP).task("server").spawn(async move {
        let response = service.oneshot(http::Request::new(())).await;
        drop(response); // sent
    });
    sleep(MS).await; // the request is in flight
    assert_eq!(lc.stats().in_flight, 1);

    lc.request_shutdown();
    let report = sequence.run_without_signals(async {}).await;

    // Not held with the unstaged work (the stage would never be cancelled, the deadline would
    // cut it): answered in the stage's turn.
    assert_eq!(report.timings.drain, Duration::ZERO, "{report}");
    let requests = report.connections.as_ref().expect("the layer's requests");
    assert_eq!((requests.requests_finished, requests.requests_cut), (1, 0));
    assert_eq!(report.code(), EXIT_OK, "{report}");
}
