//! A readiness check on a real process (the `checked` fixture) whose dependency is a TCP
//! listener the test opens and closes: `/ready` follows the dependency, naming the check in its
//! body while it is down; `/health` answers 200 throughout; SIGTERM still exits 0 with the
//! check neither cut nor reported.
#![cfg(unix)]

use lifecycle_tests::{poll_until, try_get, Dependency, Service};

const CHECKED: &str = env!("CARGO_BIN_EXE_checked");

#[test]
fn ready_follows_a_tcp_dependency_going_away_and_coming_back_and_sigterm_exits_0() {
    let mut dependency = Dependency::open();
    let address = dependency.address().to_string();
    let mut service = Service::start(CHECKED, &[], &[("DEPENDENCY", &address)]);
    let http = service.wait_for_address();
    let get = |path: &str| try_get(http, path).unwrap_or_else(|err| panic!("{err}"));

    // Up: ready once the first run passed.
    let body = poll_until("/ready 200 while the dependency listens", || {
        let (status, body) = get("/ready");
        (status == 200).then_some(body)
    });
    assert_eq!(
        body,
        r#"{"ready":true,"state":"ready","reason":null,"checks":[{"name":"dependency","state":"passing","failures":0,"last_error":null}]}"#
    );
    assert_eq!(get("/health").0, 200);

    // Down: 503, the body naming the check and why; alive all the same.
    dependency.close();
    let body = poll_until("/ready 503 once the dependency is closed", || {
        let (status, body) = get("/ready");
        assert_eq!(
            get("/health").0,
            200,
            "/health while the dependency goes away"
        );
        (status == 503).then_some(body)
    });
    assert!(
        body.starts_with(r#"{"ready":false,"state":"ready","reason":"check dependency failed: Connection refused"#),
        "{body}"
    );
    assert!(
        body.contains(r#"{"name":"dependency","state":"failing","failures":"#)
            && body.contains(r#","last_error":"Connection refused"#),
        "{body}"
    );
    assert_eq!(get("/health").0, 200);
    // `lc.watch_readiness()` saw it too (the gRPC example's health follows the same watch).
    service.wait_for_line(|line| {
        line.starts_with("readiness: not ready: check dependency failed: Connection refused")
    });

    // Back: ready again, the last error kept in the body.
    dependency.reopen();
    let body = poll_until("/ready 200 once the dependency listens again", || {
        let (status, body) = get("/ready");
        assert_eq!(
            get("/health").0,
            200,
            "/health while the dependency comes back"
        );
        (status == 200).then_some(body)
    });
    assert!(
        body.starts_with(r#"{"ready":true,"state":"ready","reason":null,"#),
        "{body}"
    );
    assert!(
        body.contains(r#""state":"passing","failures":0,"last_error":"Connection refused"#),
        "{body}"
    );
    service.wait_for_line(|line| line == "readiness: ready");

    // The checks stop at the trigger: SIGTERM exits 0, nothing cut, nothing failed.
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        !exited.stderr.contains("check dependency"),
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("trigger: SIGTERM"),
        "stderr:\n{}",
        exited.stderr
    );
}
