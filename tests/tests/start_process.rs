//! Start-up and reload in a real process (the `starter` fixture, written with the attributes):
//! a start hook that needs a real TCP dependency the test controls, rollback order, the exit
//! code of a failed start-up, SIGTERM and a second signal during start-up, SIGHUP reloads.
#![cfg(unix)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use lifecycle_tests::Service;

const STARTER: &str = env!("CARGO_BIN_EXE_starter");
const BLOCKED_START: &str = env!("CARGO_BIN_EXE_blocked_start");

/// The documented exit code of a failed start-up.
const EXIT_START_FAILED: i32 = 5;

/// An address with nothing listening on it: bound, then released.
fn closed_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    address
}

/// The one line the service answers a connection with.
fn ask(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the service");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer.trim().to_owned()
}

fn stops(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.starts_with("start ") || line.starts_with("stop "))
        .map(String::as_str)
        .collect()
}

#[test]
fn with_its_dependency_up_the_service_starts_in_order_and_stops_everything() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let mut service = Service::start(STARTER, &[], &[("UPSTREAM", &address)]);
    let served = service.wait_for_address();
    assert_eq!(ask(served), "reloads 0");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        stops(&exited.stdout),
        [
            "start cache",
            "start upstream",
            "start consumer",
            "stop consumer",
            "stop upstream",
            "stop cache"
        ]
    );
}

#[test]
fn with_its_dependency_down_start_up_fails_rolls_back_what_started_and_exits_5() {
    let service = Service::start(STARTER, &[], &[("UPSTREAM", &closed_address())]);
    let exited = service.wait_exit();
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "stderr:\n{}",
        exited.stderr
    );
    // The cache started and is stopped; the upstream failed and the consumer never started:
    // neither is stopped.
    assert_eq!(stops(&exited.stdout), ["start cache", "stop cache"]);
    assert!(exited.stdout.contains(&"main: start-up failed".to_owned()));
    let report = &exited.stderr;
    assert!(
        report.contains("trigger: start-up failed: start hook `starter::Upstream::connect` failed: Connection refused"),
        "{report}"
    );
    assert!(report.contains("exit code 5"), "{report}");
    // Every start hook is listed with its outcome.
    let line_of = |name: &str| {
        report
            .lines()
            .find(|line| line.trim_start().starts_with("start ") && line.contains(name))
            .unwrap_or_else(|| panic!("no start line for {name}:\n{report}"))
            .to_owned()
    };
    assert!(line_of("starter::Cache::warm").ends_with(" ok"), "{report}");
    assert!(
        line_of("starter::Upstream::connect").contains("failed: Connection refused"),
        "{report}"
    );
    assert!(
        line_of("starter::Consumer::subscribe").ends_with("not run: start-up had stopped"),
        "{report}"
    );
    // Never Ready: no drain delay (it is 2 s in this service).
    assert!(report.contains("drain delay   0ms"), "{report}");
}

#[test]
fn sigterm_during_a_slow_start_hook_rolls_back_and_exits_5() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let env = [("UPSTREAM", address.as_str()), ("SLOW_START", "1")];
    let mut service = Service::start(STARTER, &[], &env);
    service.wait_for("start consumer began");
    service.signal("TERM");
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "stderr:\n{}",
        exited.stderr
    );
    assert_eq!(
        stops(&exited.stdout),
        [
            "start cache",
            "start upstream",
            "start consumer began",
            "stop upstream",
            "stop cache"
        ]
    );
    assert!(
        exited.stderr.contains("failed: interrupted by SIGTERM"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("interrupted: start-up stopped"),
        "{}",
        exited.stderr
    );
    // The minute-long hook was stopped, not waited for, and there was no drain delay.
    assert!(
        exited.exited_after < Duration::from_secs(5),
        "{:?}",
        exited.exited_after
    );
}

#[test]
fn a_second_signal_during_a_failed_start_up_still_forces_the_exit() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let env = [
        ("UPSTREAM", address.as_str()),
        ("SLOW_START", "1"),
        ("SLOW_STOP", "1"),
    ];
    let mut service = Service::start(STARTER, &[], &env);
    service.wait_for("start consumer began");
    service.signal("TERM");
    // The rollback is stuck in the cache's minute-long shutdown hook. Past the repeat window
    // (50 ms: a repeat within it is the same delivery), a second SIGTERM forces the exit.
    service.wait_for("stop cache");
    std::thread::sleep(Duration::from_millis(200));
    service.signal("TERM");
    let exited = service.wait_exit_within(Duration::from_secs(5));
    assert_eq!(exited.code(), 143, "stderr:\n{}", exited.stderr);
}

#[test]
fn sighup_runs_the_reload_hooks_and_the_service_keeps_serving() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let mut service = Service::start(STARTER, &[], &[("UPSTREAM", &address)]);
    let served = service.wait_for_address();
    assert_eq!(ask(served), "reloads 0");
    service.signal("HUP");
    service.wait_for("reload 1");
    assert_eq!(ask(served), "reloads 1");
    service.signal("HUP");
    service.wait_for("reload 2");
    assert_eq!(ask(served), "reloads 2");
    assert!(service.is_running());
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("reloads       2 (0 hook runs failed)"),
        "{}",
        exited.stderr
    );
}

#[test]
fn a_failing_reload_is_reported_and_the_service_keeps_serving() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let env = [("UPSTREAM", address.as_str()), ("FAIL_RELOAD", "1")];
    let mut service = Service::start(STARTER, &[], &env);
    let served = service.wait_for_address();
    service.signal("HUP");
    service.wait_for("reload failed");
    assert_eq!(ask(served), "reloads 0");
    service.signal("TERM");
    let exited = service.wait_exit();
    // A failed reload does not change the exit code: the service kept its old settings.
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("failed: settings file is not valid TOML"),
        "{}",
        exited.stderr
    );
}

#[test]
fn a_start_hook_blocking_its_thread_still_times_out_and_exits_5() {
    // `blocked_start`: `std::thread::sleep(600 s)` in an async start hook on a current-thread
    // runtime, `startup_timeout = "1s"`. Tokio's timer never runs again; the watchdog thread
    // ends the process at the start-up timeout plus the deadline margin (1 s by default).
    let cases = [
        (&[][..], "1.000s", Duration::from_secs(2)),
        (
            &[
                ("LIFECYCLE_STARTUP_TIMEOUT", "2s"),
                ("LIFECYCLE_DEADLINE_MARGIN", "500ms"),
            ][..],
            "2.000s",
            Duration::from_millis(2500),
        ),
    ];
    for (env, timeout, deadline) in cases {
        let mut service = Service::start(BLOCKED_START, &[], env);
        service.wait_for("start began");
        let began = std::time::Instant::now();
        let exited = service.wait_exit_within(Duration::from_secs(10));
        let took = began.elapsed();
        assert_eq!(
            exited.code(),
            EXIT_START_FAILED,
            "{env:?}: stderr:\n{}",
            exited.stderr
        );
        assert!(
            exited.stderr.contains(&format!(
                "lifecycle: start-up overran its startup_timeout of {timeout} and the deadline \
                 margin (a start hook or main is blocking its thread); exiting now with code 5"
            )),
            "{env:?}: {}",
            exited.stderr
        );
        assert_eq!(exited.stdout, ["start began"], "never started, never ready");
        // At the deadline, not before it (less the few ms from start-up's begin to the line).
        assert!(
            took >= deadline - Duration::from_millis(100)
                && took < deadline + Duration::from_secs(2),
            "{env:?}: exited {took:?} after the hook began, deadline {deadline:?}"
        );
    }
}

#[test]
fn a_start_hook_on_tokios_clock_times_out_as_before_with_a_report() {
    // The same hook sleeping on Tokio's clock: the start-up timeout ends start-up at 1 s, the
    // shutdown's deadline replaces the start phase's, and the report says why.
    let mut service = Service::start(BLOCKED_START, &[], &[("START", "sleep")]);
    service.wait_for("start began");
    let began = std::time::Instant::now();
    let exited = service.wait_exit_within(Duration::from_secs(10));
    let took = began.elapsed();
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited
            .stderr
            .contains("the start-up timeout ran out (1.000s)"),
        "{}",
        exited.stderr
    );
    assert!(!exited.stderr.contains("overran"), "{}", exited.stderr);
    assert_eq!(
        exited.stdout,
        ["start began", "main: start-up failed", "stop database"]
    );
    assert!(took < Duration::from_millis(1900), "{took:?}");
}

#[test]
fn a_service_that_started_outlives_its_start_up_deadline() {
    // Started at once: the start phase's deadline (1 s + 1 s) is lifted, and the service serves
    // on past it until SIGTERM.
    let mut service = Service::start(BLOCKED_START, &[], &[("START", "quick")]);
    service.wait_for("ready");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(service.is_running(), "still serving past 2 s");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        exited.stdout,
        ["start began", "start done", "ready", "stop database"]
    );
}

#[test]
fn sigterm_during_a_blocked_start_ends_at_the_shutdowns_deadline_naming_start_up() {
    // The trigger replaces the start phase's deadline with the shutdown's (the rollback gets the
    // shutdown's whole budget): grace 1 s + hooks 1 s + margin 1 s, no drain delay (never
    // Ready). The start hook still blocks the thread, so that deadline ends it: exit 4.
    let env = [
        ("LIFECYCLE_GRACE", "1s"),
        ("LIFECYCLE_HOOK_TIMEOUT", "1s"),
        ("LIFECYCLE_STARTUP_TIMEOUT", "30s"),
    ];
    let mut service = Service::start(BLOCKED_START, &[], &env);
    service.wait_for("start began");
    service.signal("TERM");
    let signalled = std::time::Instant::now();
    let exited = service.wait_exit_within(Duration::from_secs(10));
    let took = signalled.elapsed();
    assert_eq!(exited.code(), 4, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stderr.contains(
            "lifecycle: the shutdown overran its hard deadline of 3.000s in the interrupted \
             start-up; exiting now with code 4"
        ),
        "{}",
        exited.stderr
    );
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

/// Sends 200 SIGHUPs to a service stuck in the cache's minute-long shutdown hook, then forces
/// the exit with `sigterms_to_force` SIGTERMs. The repeat window is off, so that every
/// SIGHUP that is delivered counts as one.
fn sighup_storm_while_stopping(service: &mut Service, sigterms_to_force: usize) {
    service.wait_for("stop cache");
    service.signal_burst("HUP", 200, 50);
    // The relay logs what the watchdog thread heard from the runtime: give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    assert!(service.is_running(), "SIGHUP ended the process");
    // A second signal forces the exit (after a shutdown that was not a signal's, two).
    for _ in 0..sigterms_to_force {
        service.signal("TERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count_lines(stderr: &str, text: &str) -> usize {
    stderr.lines().filter(|line| line.contains(text)).count()
}

#[test]
fn sighups_during_the_shutdown_are_one_line_saying_so() {
    // Before the fix: one `no reload hook to run ... add an #[on_reload] hook` line per SIGHUP,
    // although the service has a reload hook.
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
    let address = upstream.local_addr().unwrap().to_string();
    let env = [
        ("UPSTREAM", address.as_str()),
        ("SLOW_STOP", "1"),
        ("LIFECYCLE_REPEAT_WINDOW", "0s"),
    ];
    let mut service = Service::start(STARTER, &[], &env);
    service.wait_for_address();
    service.signal("TERM");
    sighup_storm_while_stopping(&mut service, 1);
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 143, "stderr:\n{}", exited.stderr);
    let said = count_lines(&exited.stderr, "SIGHUP: reload ignored: shutting down");
    assert_eq!(said, 1, "stderr:\n{}", exited.stderr);
    assert_eq!(
        count_lines(&exited.stderr, "no reload hook"),
        0,
        "{}",
        exited.stderr
    );
}

#[test]
fn sighups_during_a_failed_start_up_are_one_line_saying_so() {
    // The upstream refuses: start-up fails, and the rollback is stuck in the cache's shutdown.
    let closed = closed_address();
    let env = [
        ("UPSTREAM", closed.as_str()),
        ("SLOW_STOP", "1"),
        ("LIFECYCLE_REPEAT_WINDOW", "0s"),
    ];
    let mut service = Service::start(STARTER, &[], &env);
    sighup_storm_while_stopping(&mut service, 2);
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 143, "stderr:\n{}", exited.stderr);
    let said = count_lines(&exited.stderr, "SIGHUP: reload ignored: start-up failed");
    assert_eq!(said, 1, "stderr:\n{}", exited.stderr);
    assert_eq!(
        count_lines(&exited.stderr, "no reload hook"),
        0,
        "{}",
        exited.stderr
    );
}

#[test]
fn a_database_managed_after_a_waiting_bind_but_before_started_is_started() {
    // main awaits `TcpListener::bind("localhost:0")` (an `.await` that waits) before it manages
    // the database; the start boundary is main's `lc.started().await`, so the database's start
    // hook runs, and the exit is 0.
    let mut service = Service::start(STARTER, &[], &[("MANAGE_DB", "before")]);
    service.wait_for_address();
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(stops(&exited.stdout), ["start db", "stop db"]);
}

#[test]
fn a_database_managed_after_started_fails_start_up_and_says_so_without_a_subscriber() {
    // The same main with the manage after `lc.started().await`: never exit 0 with a start hook
    // unrun. The service shuts itself down (exit 5) and standard error names the component,
    // with no `tracing` subscriber installed.
    let service = Service::start(STARTER, &[], &[("MANAGE_DB", "after")]);
    let exited = service.wait_exit();
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "stderr:\n{}",
        exited.stderr
    );
    assert_eq!(
        stops(&exited.stdout),
        [] as [&str; 0],
        "none of its hooks ran"
    );
    let stderr = &exited.stderr;
    assert!(
        stderr.contains(
            "lifecycle: `starter::Db` was managed after start-up began: its start hook \
             `starter::Db::connect` did not run; none of its hooks run and the service shuts down \
             (exit code 5)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "not run: managed after start-up began; manage it before `lc.started().await`"
        ),
        "{stderr}"
    );
}

#[test]
fn a_late_manage_names_the_boundary_main_reached_when_it_was_not_started() {
    // main called `lc.cancelled()` (for a serve loop's shutdown) before it managed the
    // database: that call was the boundary. The fix on standard error must name it, not send
    // the user looking for an `lc.started().await` they never wrote.
    let service = Service::start(STARTER, &[], &[("MANAGE_DB", "after_shutdown_future")]);
    let exited = service.wait_exit();
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains(
            "Manage every value with a start hook in main before its start boundary (here: \
             `lc.cancelled()`, called by main)"
        ),
        "{}",
        exited.stderr
    );
}

#[test]
fn sigterm_during_a_blocked_start_keeps_the_start_up_bound() {
    // `startup_timeout = 2s`: the watchdog ends a blocked start at 2 s + the 1 s margin with
    // exit 5. A SIGTERM during it arms the shutdown's deadline (grace 20 s + hooks 5 s +
    // margin: much later); the earlier bound holds while the start phase has not ended.
    let env = [("LIFECYCLE_STARTUP_TIMEOUT", "2s")];
    let mut service = Service::start(BLOCKED_START, &[], &env);
    service.wait_for("start began");
    let began = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    service.signal("TERM");
    let exited = service.wait_exit_within(Duration::from_secs(20));
    let took = began.elapsed();
    assert_eq!(
        exited.code(),
        EXIT_START_FAILED,
        "after {took:?}: stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains(
            "lifecycle: start-up overran its startup_timeout of 2.000s and the deadline margin"
        ),
        "{}",
        exited.stderr
    );
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_millis(4500),
        "{took:?}"
    );
}
