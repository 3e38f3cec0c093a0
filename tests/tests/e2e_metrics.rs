//! The `metrics` example as a real process, scraped as Prometheus would scrape it: `/metrics`
//! over loopback, real signals, the exposition text read as a dashboard reads it.
#![cfg(unix)]

use lifecycle_tests::{poll_until, try_get, Service};

const SERVER: &str = env!("CARGO_BIN_EXE_example-metrics");

/// One scrape of `/metrics`.
fn scrape(address: std::net::SocketAddr) -> String {
    let (status, body) = try_get(address, "/metrics").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of `series` (as rendered: `name{label="value",...}`) in a scrape, if it is there.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// `value`, failing the test with the scrape when the series is missing.
fn must(scrape: &str, series: &str) -> f64 {
    value(scrape, series).unwrap_or_else(|| panic!("no `{series}` in the scrape:\n{scrape}"))
}

/// Scrapes until `series` reads `expected`; returns that scrape.
fn until(address: std::net::SocketAddr, series: &str, expected: f64) -> String {
    poll_until(&format!("{series} {expected}"), || {
        let body = scrape(address);
        (value(&body, series) == Some(expected)).then_some(body)
    })
}

#[test]
fn the_example_serves_its_metrics_ready_then_draining_with_reloads_restarts_and_signals() {
    let env = [
        ("PORT", "0"),
        ("FAIL_REFRESH", "1"),
        // Long enough to scrape the draining service.
        ("LIFECYCLE_DRAIN_DELAY", "5s"),
    ];
    let mut server = Service::start(SERVER, &[], &env);
    let address = server.wait_for_address();
    server.wait_for("ready: the cache is warm");

    let body = scrape(address);
    assert!(
        body.contains("# TYPE lifecycle_state gauge"),
        "described and typed:\n{body}"
    );
    assert_eq!(must(&body, r#"lifecycle_state{state="ready"}"#), 1.0);
    for state in ["starting", "draining", "stopped"] {
        let series = format!(r#"lifecycle_state{{state="{state}"}}"#);
        assert_eq!(must(&body, &series), 0.0, "{series}");
    }
    let start = r#"lifecycle_hook_outcomes_total{kind="start",outcome="ok"}"#;
    assert_eq!(must(&body, start), 1.0);
    // A true Prometheus histogram (buckets given to `_seconds`), the 200 ms warm-up in it.
    let count = r#"lifecycle_hook_duration_seconds_count{kind="start"}"#;
    assert_eq!(must(&body, count), 1.0);
    let sum = must(
        &body,
        r#"lifecycle_hook_duration_seconds_sum{kind="start"}"#,
    );
    assert!(sum >= 0.2, "the warm-up took 200 ms: {sum}");
    let below = r#"lifecycle_hook_duration_seconds_bucket{kind="start",le="0.1"}"#;
    assert_eq!(must(&body, below), 0.0);
    let phase = r#"lifecycle_phase_duration_seconds_count{phase="start"}"#;
    assert_eq!(must(&body, phase), 1.0);
    // The scrape itself is the request in flight, on the one connection open.
    assert_eq!(must(&body, "lifecycle_requests_in_flight"), 1.0);
    assert_eq!(must(&body, "lifecycle_connections_open"), 1.0);
    // The refresher fails once, and is restarted: named by its path (the binary's module
    // path: `example_metrics::Cache::refresh` here).
    let body = poll_until("the refresher's restart", || {
        let body = scrape(address);
        let restarted = body.lines().any(|line| {
            line.starts_with(r#"lifecycle_restarts_total{task=""#)
                && line.ends_with(r#"::Cache::refresh"} 1"#)
        });
        restarted.then_some(body)
    });
    assert!(must(&body, "lifecycle_tasks_running") >= 1.0);

    server.signal("HUP");
    let body = until(address, r#"lifecycle_reloads_total{outcome="ok"}"#, 1.0);
    let hup = r#"lifecycle_signals_received_total{signal="SIGHUP"}"#;
    assert_eq!(must(&body, hup), 1.0);
    let reload = r#"lifecycle_hook_outcomes_total{kind="reload",outcome="ok"}"#;
    assert_eq!(must(&body, reload), 1.0);

    // During the drain delay the service still serves: a scrape sees it draining, and why.
    // (Both recorded from the app's runtime as it relays what the signal thread heard: the
    // signal first, then the state.)
    server.signal("TERM");
    let body = until(address, r#"lifecycle_state{state="draining"}"#, 1.0);
    assert_eq!(must(&body, r#"lifecycle_state{state="ready"}"#), 0.0);
    let term = r#"lifecycle_signals_received_total{signal="SIGTERM"}"#;
    assert_eq!(must(&body, term), 1.0);

    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}
