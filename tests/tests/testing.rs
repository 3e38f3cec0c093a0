//! `lifecycle::testing`: a service declared once with `#[lifecycle::main]` on a function not
//! named `main`, started in-process as its binary would start it. Each test asserts what a user
//! testing their own service relies on: the attribute's settings, the free hooks, the order hooks
//! ran in, the exit code, and signals that behave as a process's do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::testing::Ending;
use lifecycle::{App, Config, Lifecycle, Signal, Trigger};

/// What the hooks of this binary saw, in order (tests filter by their own names: the free hooks
/// are the binary's, and run in every app the tests start).
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen(prefix: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with(prefix))
        .cloned()
        .collect()
}

struct Pool {
    tag: &'static str,
}

#[lifecycle::component]
impl Pool {
    #[on_start]
    async fn connect(&self) {
        SEEN.lock().unwrap().push(format!("{} connect", self.tag));
    }

    #[on_shutdown(order = 100)]
    async fn close(&self) {
        SEEN.lock().unwrap().push(format!("{} close", self.tag));
    }
}

/// A free hook: registered by the harness as by the binary.
#[lifecycle::on_shutdown(order = 50)]
async fn flush() {}

/// Reloads: each SIGHUP the harness delivers runs it.
#[lifecycle::on_reload]
fn reread() {
    SEEN.lock().unwrap().push("reload".to_owned());
}

/// The service under test: the attribute's drain delay and grace, a pool, a tag to find its
/// hooks among the other tests'.
#[lifecycle::main(drain_delay = "5s", grace = "30s")]
pub async fn service(lc: Lifecycle, tag: &'static str) {
    lc.manage(Arc::new(Pool { tag }));
    lc.cancelled().await;
}

/// A service whose start-up fails after its pool connected.
#[lifecycle::main(grace = "30s")]
pub async fn failing_start(lc: Lifecycle) {
    lc.manage(Arc::new(Pool { tag: "failing" }));
    lc.manage(lifecycle::Hook::new(
        lifecycle::hooks::HookKind::Start,
        "load config",
        || async { Err::<(), _>("config.toml: no such file") },
    ));
    lc.cancelled().await;
}

/// A cache that warms up: its readiness check fails its first two runs (one a second).
struct Cache {
    runs: std::sync::atomic::AtomicU32,
}

#[lifecycle::component]
impl Cache {
    #[check(every = "1s", failures = 2)]
    async fn warmed(&self) -> Result<(), String> {
        let run = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if run < 2 {
            return Err(format!("cold (run {run})"));
        }
        Ok(())
    }
}

/// A service Ready at once, whose readiness check passes at its third run, 2 s later.
#[lifecycle::main(grace = "30s")]
pub async fn warming(lc: Lifecycle) {
    lc.manage(Arc::new(Cache {
        runs: std::sync::atomic::AtomicU32::new(0),
    }));
    lc.cancelled().await;
}

const CONNECT: &str = "testing::Pool::connect";
const CLOSE: &str = "testing::Pool::close";
const FLUSH: &str = "testing::flush";

#[tokio::test(start_paused = true)]
async fn the_attributes_settings_and_the_free_hooks_apply_and_hooks_run_in_order() {
    let mut app = lifecycle::testing::start(service("ordered"));
    app.ready().await;
    let began = tokio::time::Instant::now();
    app.signal(Signal::Terminate);
    let finished = app.finished().await;
    assert_eq!(finished.code(), 0, "{finished}");
    assert_eq!(finished.ending(), &Ending::Reported);
    let report = finished.report().expect("a report");
    assert_eq!(report.trigger, Trigger::Signal(Signal::Terminate));
    // `drain_delay = "5s"` from the attribute, on paused time: five seconds in no time.
    assert_eq!(report.timings.drain_delay, Duration::from_secs(5));
    assert!(began.elapsed() >= Duration::from_secs(5));
    // The free hook (order 50) between nothing and the pool's close (order 100).
    assert_eq!(finished.hooks_run(), [CONNECT, FLUSH, CLOSE], "{finished}");
    assert_eq!(seen("ordered"), ["ordered connect", "ordered close"]);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_forces_the_exit_with_its_code_and_no_report() {
    // A main that ignores the shutdown: without the second signal the drain would wait for it
    // to the grace deadline.
    let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Arc::clone(&ticks);
    let app = App::new(
        Config::new().with_grace(Duration::from_secs(30)),
        move |lc: Lifecycle| async move {
            // A task that ignores the cancel, as `main` does.
            lc.task("ticker").spawn(async move {
                loop {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            lc.started().await;
            std::future::pending::<()>().await
        },
    );
    let mut app = lifecycle::testing::start(app);
    app.ready().await;
    app.signal(Signal::Terminate);
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.signal(Signal::Terminate);
    let finished = app.finished().await;
    assert_eq!(finished.ending(), &Ending::Forced(Signal::Terminate));
    assert_eq!(finished.code(), 143);
    assert!(finished.report().is_none());
    // The process would be gone: so is what it ran.
    let after = ticks.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), after);
}

#[tokio::test(start_paused = true)]
async fn a_repeat_within_the_repeat_window_counts_once_and_forcing_can_be_turned_off() {
    // The same signal twice at once (a `kill` sent twice): one request, no forced exit.
    let app = App::new(Config::new(), |lc: Lifecycle| async move {
        lc.cancelled().await
    });
    let mut app = lifecycle::testing::start(app);
    app.ready().await;
    app.signal(Signal::Terminate);
    app.signal(Signal::Terminate);
    let finished = app.finished().await;
    assert_eq!(finished.ending(), &Ending::Reported, "{finished}");
    assert_eq!(finished.code(), 0);

    // With forcing off, a second signal only hurries the shutdown.
    let config = Config::new()
        .with_force_on_second_signal(false)
        .with_drain_delay(Duration::from_secs(20));
    let app = App::new(config, |lc: Lifecycle| async move { lc.cancelled().await });
    let mut app = lifecycle::testing::start(app);
    app.ready().await;
    app.signal(Signal::Terminate);
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.signal(Signal::Interrupt);
    let finished = app.finished().await;
    assert_eq!(finished.ending(), &Ending::Reported);
    let report = finished.report().expect("a report");
    assert!(
        report.timings.drain_delay < Duration::from_secs(2),
        "{finished}"
    );
}

#[tokio::test(start_paused = true)]
async fn sighup_asks_for_a_reload_as_it_does_of_a_process() {
    let mut app = lifecycle::testing::start(service("reloading"));
    app.ready().await;
    let before = seen("reload").len();
    app.signal(Signal::Hangup);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen("reload").len(), before + 1);
    let finished = app.stop().await;
    assert_eq!(finished.report().expect("a report").reloads, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_ends_with_exit_5_and_rolls_back_what_started() {
    let app = lifecycle::testing::start(failing_start());
    let finished = app.finished().await;
    assert_eq!(finished.code(), 5, "{finished}");
    let report = finished.report().expect("a report");
    assert!(
        matches!(report.trigger, Trigger::StartFailed(_)),
        "{finished}"
    );
    assert!(
        report
            .start_failed
            .as_ref()
            .is_some_and(|failure| format!("{failure:#}").contains("config.toml")),
        "{finished}"
    );
    // The pool connected, so it is closed; the free hook runs as in any shutdown.
    assert_eq!(
        finished.hooks_run(),
        [CONNECT, "load config", FLUSH, CLOSE],
        "{finished}"
    );
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "the service ended before it was Ready: exit code 5")]
async fn ready_says_so_when_the_start_up_fails() {
    let mut app = lifecycle::testing::start(failing_start());
    app.ready().await;
}

/// `ready()` is the state alone: a check may not have passed yet. `ready_and_checked()` waits
/// for what `/ready` answers 200 on: Ready and every check passing.
#[tokio::test(start_paused = true)]
async fn ready_and_checked_waits_for_every_readiness_check_to_pass() {
    let mut app = lifecycle::testing::start(warming());
    app.ready().await;
    let readiness = app.lifecycle().readiness();
    assert!(readiness.state().is_ready());
    assert!(!readiness.is_ready(), "{readiness}");
    let began = tokio::time::Instant::now();
    app.ready_and_checked().await;
    assert_eq!(began.elapsed(), Duration::from_secs(2), "the third run");
    let readiness = app.lifecycle().readiness();
    assert!(readiness.is_ready(), "{readiness}");
    assert_eq!(readiness.checks()[0].last_error(), Some("cold (run 1)"));
    let finished = app.stop().await;
    assert_eq!(finished.code(), 0, "{finished}");
}

#[tokio::test(start_paused = true)]
#[should_panic(
    expected = "before every readiness check passed (not ready: check db failed: connection refused)"
)]
async fn ready_and_checked_says_why_when_a_check_never_passed() {
    let app = App::new(Config::new(), |lc: Lifecycle| async move {
        lc.check("db")
            .every(Duration::from_secs(1))
            .run(|| async { Err::<(), _>("connection refused") });
        lc.started().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        lc.request_shutdown();
        lc.cancelled().await;
    });
    let mut app = lifecycle::testing::start(app);
    app.ready_and_checked().await;
}

#[tokio::test(start_paused = true)]
async fn a_setting_the_config_refuses_ends_the_app_with_exit_78() {
    let app = service("refused").with_config(|config| config.with_grace(Duration::ZERO));
    let finished = lifecycle::testing::start(app).finished().await;
    assert_eq!(finished.code(), 78);
    assert!(
        matches!(finished.ending(), Ending::StartupFailed(error) if error.contains("grace")),
        "{finished}"
    );
    assert!(seen("refused").is_empty(), "nothing started");
}

#[tokio::test(start_paused = true)]
async fn tasks_cut_at_the_grace_deadline_are_named() {
    let app = App::new(
        Config::new().with_grace(Duration::from_secs(3)),
        |lc: Lifecycle| async move {
            lc.task("stuck reader").spawn(std::future::pending::<()>());
            lc.task("polite").spawn({
                let token = lc.token();
                async move { token.cancelled().await }
            });
            lc.cancelled().await;
        },
    );
    let finished = lifecycle::testing::start(app).stop().await;
    assert_eq!(finished.tasks_cut(), ["stuck reader"]);
    assert_eq!(finished.code(), 2);
}

/// The hard deadline holds under the harness as in a process, on a multi-thread runtime even
/// when main blocks the thread that drives the app (so the start-up timeout cannot fire): the
/// test's wait ends there with the code the process would have exited with. Real time: a
/// blocked thread does not see paused time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hard_deadline_ends_the_wait_when_main_blocks_its_thread() {
    let config = Config::new()
        .with_startup_timeout(Duration::from_millis(200))
        .with_deadline_margin(Duration::from_millis(200));
    let app = App::new(config, |lc: Lifecycle| async move {
        std::thread::sleep(Duration::from_millis(1500));
        lc.cancelled().await;
    });
    let began = std::time::Instant::now();
    let finished = lifecycle::testing::start(app).finished().await;
    assert!(
        matches!(finished.ending(), Ending::HardDeadline(line) if line.contains("start-up overran")),
        "{finished}"
    );
    assert_eq!(finished.code(), 5);
    assert!(
        began.elapsed() < Duration::from_millis(1400),
        "{:?}",
        began.elapsed()
    );
}

/// A `TestApp` dropped (mid-start, or Ready) is the process killed: what the app runs stops
/// with it (its tracked tasks aborted, its connections cut), not on until the test's runtime
/// ends, ticking beside the next app the test starts.
#[tokio::test(start_paused = true)]
async fn a_dropped_test_app_stops_what_the_app_runs() {
    for ready in [false, true] {
        let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&ticks);
        let app = App::new(Config::new(), move |lc: Lifecycle| async move {
            lc.task("ticker").spawn(async move {
                loop {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            lc.cancelled().await;
        });
        let mut app = lifecycle::testing::start(app);
        if ready {
            app.ready().await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        drop(app);
        tokio::task::yield_now().await;
        let after = ticks.load(std::sync::atomic::Ordering::SeqCst);
        assert!(after > 0, "the ticker ran");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            ticks.load(std::sync::atomic::Ordering::SeqCst),
            after,
            "ready: {ready}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_asked_for_under_the_harness_is_refused_not_lost() {
    // Before: `request_upgrade()` said `true` (taken up) and nothing ever ran it.
    let app = App::new(Config::new(), |lc: Lifecycle| async move {
        lc.cancelled().await;
    });
    let mut app = lifecycle::testing::start(app);
    app.ready().await;
    assert!(
        !app.lifecycle().request_upgrade(),
        "an upgrade under the harness must be refused: no process to replace"
    );
    app.signal(Signal::Terminate);
    let finished = app.finished().await;
    assert_eq!(finished.code(), 0);
    let report = finished.report().expect("a report");
    assert_eq!(report.trigger, Trigger::Signal(Signal::Terminate));
}
