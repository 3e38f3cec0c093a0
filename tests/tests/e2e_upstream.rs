//! The `upstream` example as a real process: its connections' heartbeats fail (an error on
//! `eu-1`, a panic on `us-1`), each connection's scope keeps the failure, is joined and
//! reconnected, while the HTTP endpoint keeps answering; SIGTERM then exits 0 with the failures
//! counted as handled in the report, not listed as task failures.
#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lifecycle_tests::{poll_until, try_get, Service};

const UPSTREAM: &str = env!("CARGO_BIN_EXE_example-upstream");

/// From a `/status` body, `(attempt, replies)` of the connection `path`.
fn connection(body: &str, path: &str) -> Option<(u64, u64)> {
    let line = body
        .lines()
        .find(|line| line.starts_with(&format!("{path} ")))?;
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        [_, "attempt", attempt, "replies", replies] => {
            Some((attempt.parse().ok()?, replies.parse().ok()?))
        }
        _ => None,
    }
}

#[test]
fn heartbeat_failures_are_handled_by_reconnecting_while_serving_and_exit_zero() {
    let mut service = Service::start(
        UPSTREAM,
        &[],
        &[
            ("FAIL_HEARTBEAT_AFTER_MS", "400"),
            ("PORT", "0"),
            ("RUST_BACKTRACE", "0"),
        ],
    );
    let address = service.wait_for_address();

    // Asks /status every 20 ms from now until just before the SIGTERM.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let (mut answered, mut errors) = (0, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                match try_get(address, "/status") {
                    Ok((200, _)) => answered += 1,
                    Ok((status, body)) => errors.push(format!("{status}: {body}")),
                    Err(err) => errors.push(err),
                }
                thread::sleep(Duration::from_millis(20));
            }
            (answered, errors)
        })
    };

    // Each connection's heartbeat fails once its peer goes quiet (400 ms), and it reconnects.
    // The two connections' lines come in either order.
    let mut expected = vec![
        "upstream/eu-1/heartbeat failed: no pong for ping ",
        "upstream/us-1/heartbeat panicked: no pong for ping ",
        "upstream/eu-1 connected (attempt 2)",
        "upstream/us-1 connected (attempt 2)",
    ];
    while !expected.is_empty() {
        let line =
            service.wait_for_line(|line| expected.iter().any(|start| line.starts_with(start)));
        expected.retain(|start| !line.starts_with(start));
    }
    // The new connections work: replies are read on them.
    poll_until("both connections reconnected and read replies", || {
        let (_, body) = try_get(address, "/status").ok()?;
        ["upstream/eu-1", "upstream/us-1"]
            .iter()
            .all(|path| {
                connection(&body, path)
                    .is_some_and(|(attempt, replies)| attempt >= 2 && replies > 0)
            })
            .then_some(())
    });

    stop.store(true, Ordering::SeqCst);
    let (answered, errors) = prober.join().expect("the prober thread");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        errors.is_empty() && answered > 0,
        "/status answered {answered} times, and failed: {errors:?}"
    );

    // Every failure printed by a manager is one the report counts as handled.
    let printed = exited
        .stdout
        .iter()
        .filter(|line| {
            line.contains("/heartbeat failed: ") || line.contains("/heartbeat panicked: ")
        })
        .count();
    let handled: usize = exited
        .stderr
        .lines()
        .find_map(|line| {
            let count = line.trim_start().strip_prefix("handled")?.trim_start();
            count
                .strip_suffix(" task failures (kept by scopes, taken by their join)")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `handled N task failures` line in:\n{}", exited.stderr));
    assert!(printed >= 2, "{:?}", exited.stdout);
    assert_eq!(
        handled, printed,
        "stdout: {:?}\nstderr:\n{}",
        exited.stdout, exited.stderr
    );
    // ... and none is listed as a task failure.
    let listed: Vec<&str> = exited
        .stderr
        .lines()
        .filter(|line| line.contains("task `") && line.contains("` failed"))
        .collect();
    assert!(
        listed.is_empty(),
        "listed as failures: {listed:?}\nstderr:\n{}",
        exited.stderr
    );
    for name in ["eu-1", "us-1"] {
        assert!(exited.stdout.contains(&format!("upstream/{name} closed")));
    }
}
