//! Real processes, real signals: the runtime driven by hand through `lifecycle::run` (the
//! `fixture` binary), checked from the outside as an operator or Kubernetes sees it.
#![cfg(unix)]

use std::time::Duration;

use lifecycle_tests::Service;

const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");

fn start(scenario: &str) -> Service {
    start_with(scenario, &[])
}

fn start_with(scenario: &str, env: &[(&str, &str)]) -> Service {
    let mut service = Service::start(FIXTURE, &[scenario], env);
    service.wait_for("ready");
    service
}

#[test]
fn sigterm_runs_persist_then_hooks_in_order_and_exits_0() {
    let service = start("serve");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        exited.lines_starting_with("hook "),
        [
            "hook save-state",
            "hook flush-metrics",
            "hook stop-consumers",
            "hook close-db"
        ]
    );
    assert!(exited.stdout.contains(&"main done".to_owned()));
    assert!(
        exited.stderr.contains("trigger: SIGTERM"),
        "the report goes to stderr:\n{}",
        exited.stderr
    );
}

#[test]
fn sigint_and_sigquit_also_start_a_clean_shutdown() {
    for (signal, name) in [("INT", "SIGINT"), ("QUIT", "SIGQUIT")] {
        let service = start("serve");
        service.signal(signal);
        let exited = service.wait_exit();
        assert_eq!(exited.code(), 0, "{signal}: stderr:\n{}", exited.stderr);
        assert!(
            exited.stderr.contains(&format!("trigger: {name}")),
            "{}",
            exited.stderr
        );
    }
}

#[test]
fn sighup_starts_the_shutdown_only_when_chosen() {
    let service = start_with("serve", &[("LIFECYCLE_SIGNALS", "SIGTERM,SIGHUP")]);
    service.signal("HUP");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stderr.contains("trigger: SIGHUP"),
        "{}",
        exited.stderr
    );
}

#[test]
fn exit_follows_the_last_task_not_the_grace_period() {
    // grace is 10 s; the task needs 300 ms after cancellation.
    let mut service = start("slow-task");
    service.signal("TERM");
    service.wait_for("job finished");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited.exited_after < Duration::from_secs(5),
        "exited {:?} after the task finished: the drain waited for the deadline",
        exited.exited_after
    );
}

#[test]
fn second_sigint_during_shutdown_forces_exit_130() {
    let mut service = start("slow-hook");
    service.signal("TERM");
    service.wait_for("hook slow started");
    past_the_repeat_window();
    service.signal("INT");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 130, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stderr.contains("SIGINT during shutdown"),
        "one log line first:\n{}",
        exited.stderr
    );
}

#[test]
fn second_sigterm_forces_exit_143() {
    let mut service = start("slow-hook");
    service.signal("TERM");
    service.wait_for("hook slow started");
    past_the_repeat_window();
    service.signal("TERM");
    assert_eq!(service.wait_exit().code(), 143);
}

#[test]
fn with_forcing_off_a_second_signal_skips_the_drain_delay() {
    // drain delay 60 s: without the second signal this would outlast PATIENCE.
    let mut service = start_with(
        "drain-delay",
        &[("LIFECYCLE_FORCE_ON_SECOND_SIGNAL", "false")],
    );
    service.signal("TERM");
    service.wait_for("draining");
    past_the_repeat_window();
    service.signal("TERM");
    service.wait_for("cancelled");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}

#[test]
fn stuck_blocking_task_does_not_outlive_the_deadline() {
    let service = start("stuck-blocking");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(
        exited.code(),
        lifecycle::exit::EXIT_ABORTED as i32,
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("left running  stuck-io (blocking)"),
        "the report names it:\n{}",
        exited.stderr
    );
    // grace is 500 ms and the thread sleeps for an hour.
    assert!(
        exited.exited_after < Duration::from_secs(10),
        "{:?}",
        exited.exited_after
    );
}

#[test]
fn failing_hook_gives_exit_3_and_later_hooks_still_run() {
    let service = start("failing-hook");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(
        exited.code(),
        lifecycle::exit::EXIT_HOOK_FAILED as i32,
        "stderr:\n{}",
        exited.stderr
    );
    assert_eq!(exited.lines_starting_with("hook "), ["hook after"]);
    assert!(
        exited.stderr.contains("failed: connection reset"),
        "{}",
        exited.stderr
    );
}

#[test]
fn main_returning_runs_the_hooks_without_any_signal() {
    let service = start("batch");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        exited.lines_starting_with("hook "),
        [
            "hook save-state",
            "hook flush-metrics",
            "hook stop-consumers",
            "hook close-db"
        ]
    );
}

#[test]
fn bad_environment_override_stops_start_up_naming_the_variable() {
    let exited = Service::start(FIXTURE, &["serve"], &[("LIFECYCLE_GRACE", "30x")]).wait_exit();
    assert_eq!(exited.code(), lifecycle::exit::EXIT_CONFIG as i32);
    assert!(
        exited.stdout.is_empty(),
        "main never ran: {:?}",
        exited.stdout
    );
    assert!(
        exited.stderr.contains("LIFECYCLE_GRACE") && exited.stderr.contains("30x"),
        "{}",
        exited.stderr
    );
}

/// Waits out the repeat window (50 ms by default): the same signal again within it is one
/// delivery, not a second signal. A person's second Ctrl-C comes later than that.
fn past_the_repeat_window() {
    std::thread::sleep(std::time::Duration::from_millis(200));
}
