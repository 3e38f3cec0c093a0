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
    // run, through `lc.manage(hook)`: only the attributes' hooks are known before start)
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

/// Runs `program` with the budget asked for, standard output as `stdout`, and standard error
/// collected; returns the exit code, standard error and how long it ran.
fn budget_with_stdout(
    program: &str,
    args: &[&str],
    stdout: std::process::Stdio,
) -> (Option<i32>, String, Duration) {
    use std::process::{Command, Stdio};
    let started = std::time::Instant::now();
    let output = Command::new(program)
        .args(args)
        .env("LIFECYCLE_PRINT_BUDGET", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("the child starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, started.elapsed())
}

#[test]
fn with_stdout_closed_the_budget_exits_74_saying_so() {
    // `sh -c 'exec "$0" "$@" >&-'`: the binary starts with file descriptor 1 closed, as a
    // user's `./app >&-` does. The standard library takes that for a sink and reports success.
    for (program, args) in [(BATCH, &[][..]), (FIXTURE, &["serve"][..])] {
        let mut shell_args = vec!["-c", "exec \"$0\" \"$@\" >&-", program];
        shell_args.extend_from_slice(args);
        let (code, stderr, _) =
            budget_with_stdout("sh", &shell_args, std::process::Stdio::inherit());
        assert_eq!(code, Some(74), "{program}: stderr:\n{stderr}");
        assert!(
            stderr.contains(
                "LIFECYCLE_PRINT_BUDGET asked for the budget, but standard output did not take it: \
                 standard output is closed"
            ),
            "{program}: {stderr}"
        );
    }
    // `>/dev/null` (opened write-only, as a shell does) is the user's own choice: 0.
    let (code, stderr, _) = budget_with_stdout(BATCH, &[], std::process::Stdio::null());
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
}

#[test]
fn with_nobody_reading_stdout_the_budget_exits_74_saying_so() {
    let (code, stderr, _) = {
        use std::process::{Command, Stdio};
        let mut child = Command::new(BATCH)
            .env("LIFECYCLE_PRINT_BUDGET", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the child starts");
        drop(child.stdout.take()); // the reader is gone before the first byte is written
        let output = child.wait_with_output().expect("the child ends");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr, ())
    };
    assert_eq!(code, Some(74), "stderr:\n{stderr}");
    assert!(
        stderr.contains("nobody reads standard output any more"),
        "{stderr}"
    );
}

#[test]
fn a_full_stdout_pipe_ends_the_budget_within_its_bound_with_74() {
    use std::os::fd::{FromRawFd, OwnedFd};
    // A pipe filled to the brim and never read: the child's first write blocks.
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-int array for pipe(2) to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: pipe(2) just opened both descriptors and nothing else owns them.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl and write on a descriptor this test owns; the buffer is valid for its length.
    unsafe {
        let flags = libc::fcntl(fds[1], libc::F_GETFL);
        assert_eq!(
            libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK),
            0
        );
        let chunk = [b'x'; 4096];
        let mut filled = 0usize;
        loop {
            let n = libc::write(fds[1], chunk.as_ptr().cast(), chunk.len());
            if n > 0 {
                filled += n as usize;
                continue;
            }
            // A byte at a time for the last partial page, until the pipe refuses even one.
            if libc::write(fds[1], chunk.as_ptr().cast(), 1) != 1 {
                break;
            }
            filled += 1;
        }
        assert!(filled >= 4096, "the pipe took {filled} bytes");
        // Blocking again, as a pipe a shell hands over is: the child's write waits.
        assert_eq!(libc::fcntl(fds[1], libc::F_SETFL, flags), 0);
    }
    let (code, stderr, took) = budget_with_stdout(BATCH, &[], write_end.into());
    drop(read_end);
    assert_eq!(code, Some(74), "stderr:\n{stderr}");
    assert!(
        stderr.contains("did not take the budget within 5 s"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "waited {took:?} for a pipe nobody reads"
    );
}

#[test]
fn a_misspelt_variable_is_named_on_stderr_with_the_one_it_meant() {
    // Before the fix `LIFECYCLE_GRAEC` was ignored without a word: the grace stayed 10 s.
    let service = Service::start(
        FIXTURE,
        &["serve"],
        &[("LIFECYCLE_PRINT_BUDGET", "1"), ("LIFECYCLE_GRAEC", "5s")],
    );
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(
        exited.code(),
        0,
        "a warning, not a refusal:\n{}",
        exited.stderr
    );
    assert_eq!(
        exited.stderr.trim_end(),
        "lifecycle: warning: LIFECYCLE_GRAEC is not a lifecycle variable and is ignored: \
         did you mean LIFECYCLE_GRACE?"
    );
    assert!(exited.stdout.contains(&"grace_ms=10000".to_owned()));

    // Spelt right: no warning, and the grace follows it.
    let service = Service::start(
        FIXTURE,
        &["serve"],
        &[("LIFECYCLE_PRINT_BUDGET", "1"), ("LIFECYCLE_GRACE", "5s")],
    );
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(exited.stderr, "");
    assert!(exited.stdout.contains(&"grace_ms=5000".to_owned()));
}
