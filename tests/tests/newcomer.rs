//! The README's start-up pattern in a real process (the `newcomer` fixture, written from the
//! README and the rustdoc alone): the serve loop is `main`'s start boundary, so the probes answer
//! while the database's start hook runs; what a user relies on from there to the exit.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lifecycle_tests::{ScratchDir, Service};

const NEWCOMER: &str = env!("CARGO_BIN_EXE_newcomer");

/// The status code of `GET path`, or `None` if the service did not answer within 5 s.
fn status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.get(9..12)?.parse().ok()
}

#[test]
fn probes_answer_during_the_start_hook_and_sigterm_saves_the_count_and_exits_0() {
    let state = ScratchDir::new("newcomer");
    let db_up = state.path().join("db-up");
    let db_up = db_up.to_str().expect("a UTF-8 path");
    let env = [("STATE_DIR", state.as_str()), ("DB_UP_FILE", db_up)];
    let mut service = Service::start(NEWCOMER, &[], &env);
    let address = service.wait_for_address();

    // The database is down: its start hook is still running, and the probes answer (the serve
    // loop is the boundary): not ready, but alive.
    assert_eq!(
        status(address, "/ready"),
        Some(503),
        "/ready while connecting"
    );
    assert_eq!(
        status(address, "/health"),
        Some(200),
        "/health while connecting"
    );

    std::fs::write(db_up, b"").expect("the database comes up");
    // The worker awaits `lc.started()`: it runs only once the connect hook succeeded.
    let started = service.wait_for_line(|line| line.starts_with("worker started"));
    assert_eq!(started, "worker started (connected: true)");
    assert_eq!(status(address, "/ready"), Some(200), "/ready once started");

    // Let the worker count, and a periodic save (every 1 s) happen while serving.
    service.wait_for_line(|line| line.starts_with("hook save "));
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);

    // Every hook ran once, in the documented order: start, (serve), persist, shutdown.
    let hooks: Vec<&str> = exited
        .stdout
        .iter()
        .map(String::as_str)
        .filter(|line| line.starts_with("hook ") || line.starts_with("worker "))
        .collect();
    let last_save = hooks
        .iter()
        .rev()
        .find(|line| line.starts_with("hook save "))
        .expect("the persist hook ran at shutdown");
    assert_eq!(
        hooks[hooks.len() - 3..],
        ["worker stopped", *last_save, "hook close"],
        "the worker drained, then the persist hook, then the shutdown hook: {hooks:?}"
    );
    assert_eq!(hooks[0], "hook connect", "{hooks:?}");

    // The file holds the count the last save reported, and the worker counted something.
    let saved = std::fs::read_to_string(state.path().join("count")).expect("the count file");
    let count: u64 = saved.trim().parse().expect("a number");
    assert_eq!(format!("hook save {count}"), *last_save);
    assert!(count > 0, "the worker counted nothing");

    // The report lists the hooks in the order they ran, each `ok`.
    let report: Vec<&str> = exited
        .stderr
        .lines()
        .filter(|line| line.contains("newcomer::Db::"))
        .collect();
    assert_eq!(report.len(), 3, "{}", exited.stderr);
    for (line, (phase, hook)) in report.iter().zip([
        ("start", "newcomer::Db::connect"),
        ("persist", "newcomer::Db::save"),
        ("shutdown", "newcomer::Db::close"),
    ]) {
        assert!(
            line.trim_start().starts_with(phase) && line.contains(hook) && line.ends_with("ok"),
            "`{line}` should be {phase} {hook} ok:\n{}",
            exited.stderr
        );
    }
}
