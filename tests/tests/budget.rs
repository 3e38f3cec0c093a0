//! `LIFECYCLE_PRINT_BUDGET=1`: the binary prints its shutdown budget and the platform settings it
//! implies, and exits 0 without starting. Checked on the `batch` example (generated `main`) and
//! the `fixture` (`lifecycle::run`).
#![cfg(unix)]

use std::time::Duration;

use lifecycle_tests::{ScratchDir, Service};

const BATCH: &str = env!("CARGO_BIN_EXE_example-batch");
const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");

#[test]
fn the_budget_follows_the_code_and_the_overrides_and_nothing_starts() {
    let state = ScratchDir::new("budget");
    let never_made = state.path().join("never-made");
    let state_dir = never_made.to_str().unwrap();
    // `batch` says `grace = "30s"`. Its hooks: `Export::publish` (persist, 10 s), the free
    // `notify` (order 10, 2 s) and `RunLock::release` (order 100, no timeout of its own, so the
    // hook timeout). The overrides change the grace and the hook timeout and add a drain delay:
    // hooks 10 + 2 + 3 s; worst case 2.5 + 7 + 15 s; hard deadline + 1 s; 25.5 s rounded up + 1.
    let service = Service::start(
        BATCH,
        &[],
        &[
            ("LIFECYCLE_PRINT_BUDGET", "1"),
            ("LIFECYCLE_GRACE", "7s"),
            ("LIFECYCLE_DRAIN_DELAY", "2500ms"),
            ("LIFECYCLE_HOOK_TIMEOUT", "3s"),
            ("STATE_DIR", state_dir),
        ],
    );
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        exited.stdout,
        [
            "grace_ms=7000",
            "drain_delay_ms=2500",
            "hook_budget_ms=15000",
            "hooks=3",
            "worst_case_ms=24500",
            "deadline_margin_ms=1000",
            "hard_deadline_ms=25500",
            "min_termination_grace_period_seconds=27",
            "min_timeout_stop_sec=27",
        ]
    );
    assert_eq!(exited.stderr, "", "no report: nothing ran");
    assert!(
        !never_made.exists(),
        "main did not run (it creates STATE_DIR)"
    );
}

#[test]
fn run_prints_the_same_budget() {
    let service = Service::start(FIXTURE, &["serve"], &[("LIFECYCLE_PRINT_BUDGET", "yes")]);
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    // grace 10 s, no free hooks and no components (its hooks are added by main, which did not
    // run, through `lc.add_hook`: only the attributes' hooks are known before start)
    assert!(
        exited
            .stdout
            .starts_with(&["grace_ms=10000".to_owned(), "drain_delay_ms=0".to_owned()]),
        "{:?}",
        exited.stdout
    );
    assert!(exited.stdout.contains(&"worst_case_ms=10000".to_owned()));
    assert!(!exited.stdout.contains(&"ready".to_owned()));
}

#[test]
fn a_bad_override_still_exits_78_naming_the_variable() {
    for (variable, value) in [
        ("LIFECYCLE_GRACE", "30x"),
        ("LIFECYCLE_PRINT_BUDGET", "please"),
    ] {
        // Were main to run, it would write into STATE_DIR: a scratch directory, not the tree.
        let state = ScratchDir::new("budget-bad");
        let state_dir = state.path().to_str().unwrap();
        let env = [
            ("LIFECYCLE_PRINT_BUDGET", "1"),
            ("STATE_DIR", state_dir),
            (variable, value),
        ];
        let service = Service::start(BATCH, &[], &env);
        let exited = service.wait_exit_within(Duration::from_secs(10));
        assert_eq!(exited.code(), 78, "{variable}: stderr:\n{}", exited.stderr);
        assert!(
            exited.stderr.contains(&format!("{variable}=\"{value}\"")),
            "{}",
            exited.stderr
        );
        assert!(exited.stdout.is_empty(), "{:?}", exited.stdout);
    }
}

#[test]
fn off_means_start_as_usual() {
    let mut service = Service::start(FIXTURE, &["serve"], &[("LIFECYCLE_PRINT_BUDGET", "0")]);
    service.wait_for("ready");
    service.signal("TERM");
    assert_eq!(service.wait_exit().code(), 0);
}
