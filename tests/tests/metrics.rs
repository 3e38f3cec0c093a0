//! The runtime's `metrics` feature, read back through a recorder of its own: the names, labels
//! and values a dashboard relies on (`lifecycle::metrics` has the table), recorded by a service
//! run through its whole sequence: its state, a start hook, a persist hook, a failing shutdown
//! hook, a supervised restart, a reload, tracked tasks, and the serve loop and the in-flight
//! layer with requests in flight. Hooks and phases on paused time, so their durations are exact;
//! the serve loop on real time and real sockets (a paused clock would run the header-read
//! timeout out while the client's bytes are on their way).
//!
//! The recorder is the process's global one, so the tests take turns (`SERIAL`) and each starts
//! from an empty store. The signals are counted by the example's process (`e2e_metrics.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use lifecycle::hooks::HookKind;
use lifecycle::http::InFlightLayer;
use lifecycle::tasks::Restart;
use lifecycle::{Config, Hook, Sequence};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tokio::sync::Notify;
use tower::{Layer, ServiceExt};

// ----- a recorder that keeps every value by name and labels --------------------------------------

/// What one series holds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

type Store = Arc<Mutex<BTreeMap<String, Value>>>;

/// Every series recorded, keyed `name{label=value,...}` (labels sorted by name), and the
/// metrics described.
#[derive(Default)]
struct Kept {
    series: Store,
    described: Mutex<Vec<(String, Option<Unit>)>>,
    /// Every call panics: a broken recorder.
    broken: Arc<AtomicBool>,
    /// The names of the threads that called it.
    threads: Mutex<BTreeSet<String>>,
}

/// One series' handle: writes into the store under its key (or panics, when broken).
struct Series(Store, String, Arc<AtomicBool>);

impl Series {
    fn with(&self, f: impl FnOnce(&mut Value)) {
        assert!(!self.2.load(Ordering::SeqCst), "the recorder is broken");
        let mut series = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = series.get_mut(&self.1) {
            f(value);
        }
    }
}

impl CounterFn for Series {
    fn increment(&self, by: u64) {
        self.with(|value| {
            if let Value::Counter(count) = value {
                *count += by;
            }
        });
    }

    fn absolute(&self, to: u64) {
        self.with(|value| *value = Value::Counter(to));
    }
}

impl GaugeFn for Series {
    fn increment(&self, by: f64) {
        self.with(|value| {
            if let Value::Gauge(gauge) = value {
                *gauge += by;
            }
        });
    }

    fn decrement(&self, by: f64) {
        GaugeFn::increment(self, -by);
    }

    fn set(&self, to: f64) {
        self.with(|value| *value = Value::Gauge(to));
    }
}

impl HistogramFn for Series {
    fn record(&self, sample: f64) {
        self.with(|value| {
            if let Value::Histogram(samples) = value {
                samples.push(sample);
            }
        });
    }
}

impl Kept {
    /// The handle of the series `key`, made with `empty` the first time.
    fn series(&self, key: &Key, empty: Value) -> Arc<Series> {
        self.called();
        assert!(
            !self.broken.load(Ordering::SeqCst),
            "the recorder is broken"
        );
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.entry(name.clone()).or_insert(empty);
        Arc::new(Series(
            Arc::clone(&self.series),
            name,
            Arc::clone(&self.broken),
        ))
    }

    /// Notes the calling thread.
    fn called(&self) {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("(unnamed)").to_owned();
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.insert(name);
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        self.called();
        assert!(
            !self.broken.load(Ordering::SeqCst),
            "the recorder is broken"
        );
        let mut described = self
            .described
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        described.push((key.as_str().to_owned(), unit));
    }

    fn get(&self, key: &str) -> Option<Value> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.get(key).cloned()
    }

    /// A counter's count; 0 if it was never recorded.
    fn counter(&self, key: &str) -> u64 {
        match self.get(key) {
            Some(Value::Counter(count)) => count,
            None => 0,
            Some(other) => panic!("{key} is not a counter: {other:?}"),
        }
    }

    /// A gauge's value; fails the test if it was never recorded (a dashboard would show none).
    fn gauge(&self, key: &str) -> f64 {
        match self.get(key) {
            Some(Value::Gauge(value)) => value,
            other => panic!("{key} is no gauge: {other:?}; recorded: {:#?}", self.all()),
        }
    }

    /// A histogram's samples, in seconds.
    fn samples(&self, key: &str) -> Vec<f64> {
        match self.get(key) {
            Some(Value::Histogram(samples)) => samples,
            None => Vec::new(),
            Some(other) => panic!("{key} is not a histogram: {other:?}"),
        }
    }

    /// The `lifecycle_state` series that is 1, and how many there are: ("ready", 4).
    fn state(&self) -> (String, usize) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let states: Vec<(&String, &Value)> = series
            .iter()
            .filter(|(key, _)| key.starts_with("lifecycle_state{"))
            .collect();
        let current: Vec<String> = states
            .iter()
            .filter(|(_, value)| **value == Value::Gauge(1.0))
            .map(|(key, _)| key["lifecycle_state{state=".len()..key.len() - 1].to_owned())
            .collect();
        assert_eq!(current.len(), 1, "one state at 1: {states:?}");
        (current[0].clone(), states.len())
    }

    fn all(&self) -> BTreeMap<String, Value> {
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn clear(&self) {
        self.broken.store(false, Ordering::SeqCst);
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Recorder for &'static Kept {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key, Value::Counter(0)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key, Value::Gauge(0.0)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key, Value::Histogram(Vec::new())))
    }
}

/// Every metric, as the table in `lifecycle::metrics` (and the README) lists them.
const NAMES: [&str; 10] = [
    "lifecycle_state",
    "lifecycle_tasks_running",
    "lifecycle_connections_open",
    "lifecycle_requests_in_flight",
    "lifecycle_hook_outcomes_total",
    "lifecycle_hook_duration_seconds",
    "lifecycle_phase_duration_seconds",
    "lifecycle_restarts_total",
    "lifecycle_reloads_total",
    "lifecycle_signals_received_total",
];

/// The tests take turns: the recorder is the process's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's recorder, installed once, emptied for the calling test.
fn recorder() -> &'static Kept {
    static KEPT: OnceLock<&'static Kept> = OnceLock::new();
    let kept = *KEPT.get_or_init(|| {
        let kept: &'static Kept = Box::leak(Box::default());
        metrics::set_global_recorder(kept).expect("the only recorder of this test binary");
        kept
    });
    kept.clear();
    kept
}

/// Waits (on the test's clock: paused, it costs no real time) until `done`; fails after 60 s.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 60 s");
}

fn secs(ms: u64) -> f64 {
    Duration::from_millis(ms).as_secs_f64()
}

// ----- the sequence ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_service_run_through_its_sequence_records_state_hooks_phases_restarts_and_reloads() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    let sequence = Sequence::new(
        Config::new()
            .with_drain_delay(Duration::from_secs(2))
            .with_grace(Duration::from_secs(5)),
    );
    // Made, not started: every state has its series, `starting` at 1; every metric described.
    assert_eq!(m.state(), ("starting".to_owned(), 4));
    let described = m
        .described
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for name in NAMES {
        let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
        assert!(
            described.contains(&(name.to_owned(), unit)),
            "{name} ({unit:?}) described: {described:?}"
        );
    }

    let lc = sequence.handle();
    let connect = || tokio::time::sleep(Duration::from_millis(300));
    lc.manage(Hook::new(HookKind::Start, "connect", connect));
    let save = || tokio::time::sleep(Duration::from_millis(40));
    lc.manage(Hook::new(HookKind::Persist, "save", save));
    let close = || async { Err::<(), _>("pool busy") };
    lc.manage(Hook::new(HookKind::Shutdown, "close", close));
    let reread = || tokio::time::sleep(Duration::from_millis(25));
    lc.manage(Hook::new(HookKind::Reload, "reread", reread));
    // Fails once, then works until its stage is cancelled.
    let attempts = Arc::new(AtomicU32::new(0));
    let writer = move |token: lifecycle::CancellationToken| {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt == 0 {
                return Err("disk full");
            }
            token.cancelled().await;
            Ok(())
        }
    };
    lc.stage(1)
        .task("writer")
        .supervise(Restart::on_failure(3), writer);

    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            // Ready after the start hook's 300 ms: the state, the hook, the start phase.
            assert_eq!(m.state(), ("ready".to_owned(), 4));
            let start = "lifecycle_hook_outcomes_total{kind=start,outcome=ok}";
            assert_eq!(m.counter(start), 1);
            let took = m.samples("lifecycle_hook_duration_seconds{kind=start}");
            assert_eq!(took, [secs(300)]);
            let phase = m.samples("lifecycle_phase_duration_seconds{phase=start}");
            assert_eq!(phase, [secs(300)]);

            // The supervised writer failed once: one restart, named by its path.
            until("the writer's restart", || {
                m.counter("lifecycle_restarts_total{task=writer}") == 1
            })
            .await;

            // A reload: counted once its hooks ran, with its hook's outcome and duration.
            assert!(handle.request_reload());
            until("the reload", || {
                m.counter("lifecycle_reloads_total{outcome=ok}") == 1
            })
            .await;
            let reload = "lifecycle_hook_outcomes_total{kind=reload,outcome=ok}";
            assert_eq!(m.counter(reload), 1);
            let took = m.samples("lifecycle_hook_duration_seconds{kind=reload}");
            assert_eq!(took, [secs(25)]);

            // Tracked tasks: the writer's supervisor, the reload loop and two workers.
            let before = m.gauge("lifecycle_tasks_running");
            for name in ["worker-1", "worker-2"] {
                let token = handle.token();
                handle
                    .task(name)
                    .spawn(async move { token.cancelled().await });
            }
            assert_eq!(m.gauge("lifecycle_tasks_running"), before + 2.0);
            assert_eq!(before, 2.0, "the supervisor and the reload loop");

            handle.request_shutdown();
            // Draining at once, before the drain delay.
            assert_eq!(m.state(), ("draining".to_owned(), 4));
            handle.cancelled().await;
        })
        .await;
    assert_eq!(report.code(), 3, "the failed shutdown hook: {report}");

    assert_eq!(m.state(), ("stopped".to_owned(), 4));
    assert_eq!(m.gauge("lifecycle_tasks_running"), 0.0, "every task ended");
    let outcomes: Vec<(String, u64)> = m
        .all()
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::Counter(count) if key.starts_with("lifecycle_hook_outcomes_total") => {
                Some((key, count))
            }
            _ => None,
        })
        .collect();
    let outcome = |kind: &str, outcome: &str, count: u64| {
        (
            format!("lifecycle_hook_outcomes_total{{kind={kind},outcome={outcome}}}"),
            count,
        )
    };
    assert_eq!(
        outcomes,
        [
            outcome("persist", "ok", 1),
            outcome("reload", "ok", 1),
            outcome("shutdown", "failed", 1),
            outcome("start", "ok", 1),
        ]
    );
    let took = m.samples("lifecycle_hook_duration_seconds{kind=persist}");
    assert_eq!(took, [secs(40)]);
    assert_eq!(
        m.samples("lifecycle_hook_duration_seconds{kind=shutdown}"),
        [0.0]
    );

    // Each phase once, as the report's timings say.
    let t = report.timings;
    for (phase, took) in [
        ("start", t.start),
        ("drain_delay", t.drain_delay),
        ("drain", t.drain),
        ("persist", t.persist),
        ("hooks", t.hooks),
    ] {
        let key = format!("lifecycle_phase_duration_seconds{{phase={phase}}}");
        assert_eq!(m.samples(&key), [took.as_secs_f64()], "{key}");
    }
    assert_eq!(t.drain_delay, Duration::from_secs(2));
    assert_eq!(t.persist, Duration::from_millis(40));

    assert_eq!(m.counter("lifecycle_restarts_total{task=writer}"), 1);
    assert_eq!(report.restarts_total, 1);
    assert_eq!(m.counter("lifecycle_reloads_total{outcome=ok}"), 1);
    assert_eq!(m.counter("lifecycle_reloads_total{outcome=failed}"), 0);
    // Nothing served: the serve loop's gauges were never recorded.
    assert_eq!(m.get("lifecycle_connections_open"), None);
}

#[tokio::test(start_paused = true)]
async fn a_failed_reload_and_a_start_hook_that_never_ran_are_counted_by_outcome() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let broken = || async { Err::<(), _>("bad config") };
    lc.manage(Hook::new(HookKind::Reload, "reread", broken));
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            handle.started().await;
            handle.request_reload();
            until("the reload", || {
                m.counter("lifecycle_reloads_total{outcome=failed}") == 1
            })
            .await;
            // Managed after the start boundary: never runs, a start-up failure.
            let late = Hook::new(HookKind::Start, "late", || async {});
            handle.manage(late);
            handle.cancelled().await;
        })
        .await;
    assert_eq!(report.code(), 5, "{report}");
    assert_eq!(
        m.counter("lifecycle_hook_outcomes_total{kind=reload,outcome=failed}"),
        1
    );
    let late = "lifecycle_hook_outcomes_total{kind=start,outcome=added_late}";
    assert_eq!(m.counter(late), 1);
    // It never ran: no duration.
    assert!(m
        .samples("lifecycle_hook_duration_seconds{kind=start}")
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_recorder_that_panics_loses_its_values_never_the_shutdown() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    m.broken.store(true, Ordering::SeqCst);
    // Mended however the test ends: the next test needs it.
    struct Mend(&'static Kept);
    impl Drop for Mend {
        fn drop(&mut self) {
            self.0.broken.store(false, Ordering::SeqCst);
        }
    }
    let _mend = Mend(m);

    let sequence = Sequence::new(Config::new().with_drain_delay(Duration::from_secs(1)));
    let lc = sequence.handle();
    let connect = || tokio::time::sleep(Duration::from_millis(100));
    lc.manage(Hook::new(HookKind::Start, "connect", connect));
    lc.manage(Hook::new(HookKind::Persist, "save", || async {}));
    lc.manage(Hook::new(HookKind::Shutdown, "close", || async {}));
    let reloaded = Arc::new(Notify::new());
    let told = Arc::clone(&reloaded);
    let reread = move || {
        told.notify_one();
        async {}
    };
    lc.manage(Hook::new(HookKind::Reload, "reread", reread));
    let attempts = Arc::new(AtomicU32::new(0));
    let writer = move |token: lifecycle::CancellationToken| {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt == 0 {
                return Err("disk full");
            }
            token.cancelled().await;
            Ok(())
        }
    };
    lc.task("writer").supervise(Restart::on_failure(3), writer);
    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            assert!(handle.started().await, "started");
            handle.request_reload();
            reloaded.notified().await;
            let token = handle.token();
            handle
                .task("worker")
                .spawn(async move { token.cancelled().await });
            // The writer's first failure and its restart, 100 ms later.
            tokio::time::sleep(Duration::from_millis(500)).await;
            handle.request_shutdown();
            handle.cancelled().await;
        })
        .await;
    assert_eq!(report.code(), 0, "{report}");
    assert_eq!(lc.state(), lifecycle::State::Stopped);
    assert!(
        report.hooks.iter().all(|hook| hook.outcome.is_ok()),
        "{report}"
    );
    assert_eq!((report.reloads, report.restarts_total), (1, 1), "{report}");
    assert_eq!(report.timings.drain_delay, Duration::from_secs(1));
    assert!(m.all().is_empty(), "a broken recorder kept nothing");
}

// ----- a real signal -----------------------------------------------------------------------------

/// The only test of this binary that starts the signal listeners (once per process): a real
/// SIGTERM sent to this process. The watchdog thread that hears it moves the state to Draining,
/// and must not call the recorder (the app's code) to say so: a recorder that blocks there would
/// stop the hard deadline. The app's runtime records both the signal and the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_and_the_state_it_moved_are_recorded_from_the_apps_runtime_not_the_watchdog() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    // A grace of an hour: the watchdog, still there after this test, ends a process alive past
    // the hard deadline.
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(3600)));
    let running = sequence.start().expect("the signal listeners");
    let lc = running.handle();
    let handle = lc.clone();
    let main = async move {
        handle.started().await;
        // SAFETY: `kill` with this process's id and a signal number; no memory is involved.
        let sent = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
        handle.cancelled().await;
    };
    let triggered = running.run_until_trigger(main).await;
    assert_eq!(triggered.trigger().to_string(), "SIGTERM");
    // The relay of what the watchdog heard runs on this runtime: the signal, then the state.
    until("the state recorded", || {
        m.gauge("lifecycle_state{state=draining}") == 1.0
    })
    .await;
    let watchdog_free = || {
        let threads = m.threads.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            !threads.contains("lifecycle-watchdog"),
            "the recorder was called from {threads:?}"
        );
    };
    watchdog_free();
    assert_eq!(m.state(), ("draining".to_owned(), 4));
    let term = "lifecycle_signals_received_total{signal=SIGTERM}";
    assert_eq!(m.counter(term), 1);
    let report = triggered.drain().await.persist().await.shut_down().await;
    assert_eq!(report.code(), 0, "{report}");
    assert_eq!(m.state(), ("stopped".to_owned(), 4));
    watchdog_free();
}

// ----- the serve loop and the in-flight layer ----------------------------------------------------

#[tokio::test]
async fn the_serve_loop_counts_its_connections_and_requests_in_flight() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
    let lc = sequence.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("an address");
    let release = Arc::new(Notify::new());
    let answer = Arc::clone(&release);
    let router = Router::new().route(
        "/slow",
        get(move || {
            let answer = Arc::clone(&answer);
            async move {
                answer.notified().await;
                "done"
            }
        }),
    );

    let handle = lc.clone();
    let report = sequence
        .run_without_signals(async move {
            let serving = lifecycle::axum::serve(&handle, listener, router);
            let serving = tokio::spawn(std::future::IntoFuture::into_future(serving));
            let client = tokio::task::spawn_blocking(move || {
                let mut stream = std::net::TcpStream::connect(address).expect("connect");
                let request = "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                stream.write_all(request.as_bytes()).expect("send");
                let mut response = String::new();
                stream.read_to_string(&mut response).expect("the response");
                response
            });
            until("the request in flight", || handle.stats().in_flight == 1).await;
            assert_eq!(m.gauge("lifecycle_connections_open"), 1.0);
            assert_eq!(m.gauge("lifecycle_requests_in_flight"), 1.0);

            // Still in flight while draining: the drain waits for it.
            handle.request_shutdown();
            assert_eq!(m.state(), ("draining".to_owned(), 4));
            assert_eq!(m.gauge("lifecycle_requests_in_flight"), 1.0);
            release.notify_one();
            let response = client.await.expect("the client");
            assert!(response.ends_with("done"), "{response}");
            serving.await.expect("the serve loop").expect("served");
        })
        .await;
    assert_eq!(report.code(), 0, "{report}");
    let connections = report.connections.as_ref().expect("a connections section");
    assert_eq!(connections.at_trigger.in_flight, 1);
    assert_eq!(m.gauge("lifecycle_requests_in_flight"), 0.0);
    assert_eq!(m.gauge("lifecycle_connections_open"), 0.0);
    assert_eq!(m.state(), ("stopped".to_owned(), 4));
}

#[tokio::test]
async fn the_in_flight_layer_counts_its_requests_until_their_response_is_dropped() {
    let _turn = SERIAL.lock().await;
    let m = recorder();
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let service =
        InFlightLayer::new(&lc).layer(tower::service_fn(|_: axum::http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(axum::http::Response::new(String::new()))
        }));
    let response = service
        .oneshot(axum::http::Request::new(()))
        .await
        .expect("a response");
    assert_eq!(m.gauge("lifecycle_requests_in_flight"), 1.0);
    drop(response); // its body is sent
    assert_eq!(m.gauge("lifecycle_requests_in_flight"), 0.0);
    // The layer sees requests, not connections.
    assert_eq!(m.get("lifecycle_connections_open"), None);
    drop(sequence);
}

// ----- the one table -----------------------------------------------------------------------------

/// The rows of the first markdown table after the line starting with `start` in `text` (each
/// line with `prefix` stripped).
fn table<'a>(text: &'a str, prefix: &str, start: &str) -> Vec<&'a str> {
    text.lines()
        .map(|line| line.strip_prefix(prefix).unwrap_or(line))
        .skip_while(|line| !line.starts_with(start))
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .collect()
}

#[test]
fn the_readme_repeats_the_table_of_metrics_and_it_names_every_metric_recorded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
    };
    let module = read("lifecycle/src/metrics.rs");
    let readme = read("README.md");
    let rows = table(&module, "//! ", "Metrics (feature `metrics`)");
    assert_eq!(rows.len(), 2 + NAMES.len(), "{rows:#?}");
    assert_eq!(table(&readme, "", "## Metrics"), rows, "README.md's table");
    let named: Vec<&str> = rows
        .iter()
        .skip(2)
        .filter_map(|row| row.strip_prefix("| `")?.split('`').next())
        .collect();
    assert_eq!(named, NAMES);
}
