//! The `batch` example as a real process: a job whose main body returns by itself. The hooks run
//! in order all the same, and a failing hook is the documented exit code, not a silent success.
#![cfg(unix)]

use std::fs;

use lifecycle_tests::{ScratchDir, Service};

const BATCH: &str = env!("CARGO_BIN_EXE_example-batch");

/// The hooks that ran, by the name before the colon.
fn hooks(stdout: &[String]) -> Vec<&str> {
    stdout
        .iter()
        .filter(|line| line.starts_with("hook "))
        .map(|line| line.split(':').next().unwrap_or(line))
        .collect()
}

#[test]
fn a_batch_that_returns_runs_its_hooks_in_order_and_exits_0() {
    let state = ScratchDir::new("batch-ok");
    let exited = Service::start(BATCH, &[], &[("STATE_DIR", state.as_str())]).wait_exit();

    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(exited
        .stdout
        .contains(&"main: computed 1000 rows".to_owned()));
    assert_eq!(
        hooks(&exited.stdout),
        ["hook save-export", "hook notify", "hook release-lock"],
        "persist first, then the shutdown hooks by ascending order"
    );
    let export = fs::read_to_string(state.path().join("export.csv")).unwrap();
    assert_eq!(export.lines().count(), 1 + 1000, "a header and every row");
    assert_eq!(export.lines().last(), Some("1000,1000000"));
    assert!(
        !state.path().join("batch.lock").exists(),
        "the lock is released"
    );
    assert!(
        exited.stderr.contains("trigger: main returned"),
        "{}",
        exited.stderr
    );
}

#[test]
fn a_failing_hook_exits_3_and_the_hooks_after_it_still_run() {
    let state = ScratchDir::new("batch-fail");
    let exited = Service::start(
        BATCH,
        &[],
        &[("STATE_DIR", state.as_str()), ("FAIL_HOOK", "1")],
    )
    .wait_exit();

    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_HOOK_FAILED),
        "stderr:\n{}",
        exited.stderr
    );
    assert_eq!(
        hooks(&exited.stdout),
        ["hook save-export", "hook notify", "hook release-lock"]
    );
    assert!(
        !state.path().join("batch.lock").exists(),
        "a hook of a later order still ran after the failure"
    );
    // The report on stderr names the hook and its error.
    let failed = exited
        .stderr
        .lines()
        .find(|line| line.contains("batch::notify"))
        .unwrap_or_else(|| panic!("the report does not name the hook:\n{}", exited.stderr));
    assert!(
        failed.contains("failed: notification endpoint refused the request"),
        "{failed}"
    );
}

#[test]
fn a_batch_interrupted_by_sigterm_exits_1_and_publishes_no_partial_export() {
    let state = ScratchDir::new("batch-interrupted");
    // 100 chunks of 100 ms: far longer than the test.
    let batch = Service::start(
        BATCH,
        &[],
        &[
            ("STATE_DIR", state.as_str()),
            ("ROWS", "10000"),
            ("CHUNK_MS", "100"),
        ],
    );
    // The lock file exists once the job has started.
    lifecycle_tests::poll_until("the job to start", || {
        state.path().join("batch.lock").exists().then_some(())
    });
    batch.signal("TERM");
    let exited = batch.wait_exit();

    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_APP_FAILED),
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("stopped by the shutdown after"),
        "{}",
        exited.stderr
    );
    assert!(!state.path().join("export.csv").exists());
    assert!(!state.path().join("batch.lock").exists());
    assert_eq!(
        hooks(&exited.stdout),
        ["hook save-export", "hook notify", "hook release-lock"]
    );
}
