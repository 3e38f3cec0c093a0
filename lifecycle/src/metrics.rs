//! Metrics (feature `metrics`): the lifecycle's state, the work it holds, how its hooks and
//! phases went, restarts, reloads and signals, recorded through the
//! [`metrics`](https://docs.rs/metrics) facade. The app picks the exporter (Prometheus, StatsD,
//! OpenTelemetry, ...) and installs its recorder; with none installed every call is the facade's
//! no-op.
//!
//! | metric | type | labels | what it says |
//! |---|---|---|---|
//! | `lifecycle_state` | gauge | `state`: `starting`, `ready`, `draining`, `stopped` | 1 for the current state, 0 for the others: one series per state, the usual way to show an enum to Prometheus (`lifecycle_state{state="ready"} == 0` is a service not Ready) |
//! | `lifecycle_tasks_running` | gauge | | tracked tasks running: `lc.spawn`, `lc.task(..)`, scopes, stages, the supervisors of `#[run]` parts, the reload loop, each periodic persist hook's loop (not the serve loop's connections: below) |
//! | `lifecycle_connections_open` | gauge | | connections the serve loop (`lifecycle::http::serve`, `lifecycle::axum::serve`) holds open, upgraded ones (WebSockets) included until they close |
//! | `lifecycle_requests_in_flight` | gauge | | requests received and not yet answered in full (a streamed body counts until it ends), on the serve loop's connections and through `lifecycle::http::InFlightLayer` |
//! | `lifecycle_hook_outcomes_total` | counter | `kind`: `start`, `persist`, `shutdown`, `reload`; `outcome`: `ok`, `failed`, `panicked`, `timed_out`, `lost`, `not_run`, `added_late`, `interrupted` | one per hook run (periodic persist runs included), and one per start hook that never ran (`not_run`, `added_late`); the outcomes are the JSON report's |
//! | `lifecycle_hook_duration_seconds` | histogram | `kind` | how long each hook run took, up to its timeout (start hooks: the start-up's parts); hooks that never ran are not in it |
//! | `lifecycle_phase_duration_seconds` | histogram | `phase`: `start`, `drain_delay`, `drain`, `persist`, `hooks` | each phase of the sequence, as the report's `timings` (`hooks`: the shutdown hooks), recorded as it ends; a phase skipped counts 0 s |
//! | `lifecycle_restarts_total` | counter | `task`: the part's path (`pool/writer`; a component's `#[run]`: `app::Db::write`) | restarts of supervised parts (`#[run(restart = "on-failure")]`, `supervise`) |
//! | `lifecycle_reloads_total` | counter | `outcome`: `ok`, `failed` (a reload hook did not succeed; the service kept running) | reloads run (SIGHUP, `lc.request_reload()`) |
//! | `lifecycle_signals_received_total` | counter | `signal`: `SIGTERM`, `SIGINT`, `SIGQUIT`, `SIGHUP` | signals the listeners heard (a repeat within the repeat window included), counted from the app's runtime; a second signal that forces the exit ends the process before it is counted |
//!
//! (The README's "Metrics" section repeats this table; a test keeps the two the same.)
//!
//! The gauges move when what they count changes (a task spawned or ended, a connection opened
//! or closed), never by polling: they are exact at every scrape, and cost nothing while nothing
//! happens. They move by increments, so several lifecycles in one process (tests) add up.
//!
//! The recorder is the app's code, and cannot hold up or break the sequence: a recorder that
//! panics loses that value (the shutdown goes on), and none of this is recorded from the thread
//! that hears the signals and enforces the hard deadline, so one that blocks cannot stop the
//! process from ending by its deadline.
//!
//! # Setting it up
//!
//! Install the recorder before the [`Sequence`](crate::Sequence) is made, so that it sees the
//! first state and the metrics' descriptions: with `#[lifecycle::main]`, in the function named
//! by `init` (it runs first). Give the `_seconds` histograms buckets that fit seconds (the
//! Prometheus exporter renders a histogram with no buckets as a summary). `examples/metrics.rs`
//! serves them on `/metrics` with `metrics-exporter-prometheus`:
//!
//! ```text
//! cargo run -p lifecycle-examples --features metrics --bin metrics
//! curl -s localhost:3000/metrics | grep '^lifecycle_state'
//! ```
//!
//! A service scraped by Prometheus is seldom scraped again after its trigger: the serve loop
//! stops accepting when the drain delay ends, and the process exits after the shutdown hooks.
//! What a scrape sees of a shutdown is the drain delay (`draining`, the signal counted); the
//! shutdown phases' durations reach an exporter that pushes (OpenTelemetry, a push gateway), up
//! to `persist` when it flushes in a shutdown hook.
//!
//! Without the feature this module is private, every recording call is an empty inline
//! function (nothing is compiled in its place), and the `metrics` crate is no dependency.
//!
// The example reads the metrics back: it compiles only with the feature (without it this module
// is private, and rustdoc would still test its docs).
#![cfg_attr(
    feature = "metrics",
    doc = r##"
# Examples

A recorder that keeps the gauges, installed before the sequence (an app installs its
exporter's instead):

```
# use std::collections::BTreeMap;
# use std::sync::{Arc, Mutex};
# use metrics::{Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, SharedString, Unit};
# type Values = Arc<Mutex<BTreeMap<String, f64>>>;
# /// Gauges by name and labels: `lifecycle_state{state=ready}`.
# #[derive(Default)]
# struct Gauges(Values);
# struct One(Values, String);
# impl GaugeFn for One {
#     fn increment(&self, by: f64) { *self.0.lock().unwrap().entry(self.1.clone()).or_default() += by; }
#     fn decrement(&self, by: f64) { self.increment(-by) }
#     fn set(&self, to: f64) { self.0.lock().unwrap().insert(self.1.clone(), to); }
# }
# impl metrics::Recorder for Gauges {
#     fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
#     fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
#     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
#     fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter { Counter::noop() }
#     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram { Histogram::noop() }
#     fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
#         let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
#         let name = if labels.is_empty() { key.name().to_owned() } else { format!("{}{{{}}}", key.name(), labels.join(",")) };
#         Gauge::from_arc(Arc::new(One(Arc::clone(&self.0), name)))
#     }
# }
# impl Gauges {
#     fn get(&self, name: &str) -> f64 { self.0.lock().unwrap().get(name).copied().unwrap_or(f64::NAN) }
# }
use lifecycle::{Config, Sequence};

# #[tokio::main(flavor = "current_thread")] async fn main() {
let gauges: &'static Gauges = Box::leak(Box::default());
metrics::set_global_recorder(gauges).expect("the first recorder");

let sequence = Sequence::new(Config::new());
let lc = sequence.handle();
assert_eq!(gauges.get("lifecycle_state{state=starting}"), 1.0);
let report = sequence
    .run_without_signals(async move {
        lc.started().await;
        assert_eq!(gauges.get("lifecycle_state{state=ready}"), 1.0);
        assert_eq!(gauges.get("lifecycle_state{state=starting}"), 0.0);
        let token = lc.token();
        lc.task("worker").spawn(async move { token.cancelled().await });
        assert_eq!(gauges.get("lifecycle_tasks_running"), 1.0);
        lc.request_shutdown();
        assert_eq!(gauges.get("lifecycle_state{state=draining}"), 1.0);
    })
    .await;
assert_eq!(report.code(), 0);
assert_eq!(gauges.get("lifecycle_state{state=stopped}"), 1.0);
assert_eq!(gauges.get("lifecycle_tasks_running"), 0.0);
# }
```
"##
)]

// The ground floor, beside `log.rs`: every folder above records here, so this file imports
// nothing of the crate. Callers pass plain names as label values (`State::as_str`,
// `HookKind::as_str`, the report's phase names); the names of the metrics and of their labels
// live here, in the table above and nowhere else. Each function is `#[inline]` and empty without
// the feature: its call compiles to nothing. With it, each recording runs under `quietly`: a
// recorder that panics loses that value, never the shutdown. None runs on the watchdog thread.

use std::time::Duration;

// The recorder is the app's code: one that panics is survived, as a logger that does is.
#[cfg(feature = "metrics")]
use crate::log::quietly;
#[cfg(feature = "metrics")]
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

#[cfg(feature = "metrics")]
const STATE: &str = "lifecycle_state";
#[cfg(feature = "metrics")]
const TASKS_RUNNING: &str = "lifecycle_tasks_running";
#[cfg(feature = "metrics")]
const CONNECTIONS_OPEN: &str = "lifecycle_connections_open";
#[cfg(feature = "metrics")]
const REQUESTS_IN_FLIGHT: &str = "lifecycle_requests_in_flight";
#[cfg(feature = "metrics")]
const HOOK_OUTCOMES: &str = "lifecycle_hook_outcomes_total";
#[cfg(feature = "metrics")]
const HOOK_DURATION: &str = "lifecycle_hook_duration_seconds";
#[cfg(feature = "metrics")]
const PHASE_DURATION: &str = "lifecycle_phase_duration_seconds";
#[cfg(feature = "metrics")]
const RESTARTS: &str = "lifecycle_restarts_total";
#[cfg(feature = "metrics")]
const RELOADS: &str = "lifecycle_reloads_total";
#[cfg(feature = "metrics")]
const SIGNALS: &str = "lifecycle_signals_received_total";

/// A lifecycle was made, in state `first` of `all`: describes the metrics to the recorder (its
/// `# HELP` lines), then records the state.
#[inline]
pub(crate) fn created(first: &'static str, all: [&'static str; 4]) {
    #[cfg(feature = "metrics")]
    quietly(describe);
    state(first, all);
}

/// The state is now `current`: its series 1, the others of `all` 0.
#[inline]
pub(crate) fn state(current: &'static str, all: [&'static str; 4]) {
    #[cfg(feature = "metrics")]
    quietly(|| {
        for name in all {
            gauge!(STATE, "state" => name).set(if name == current { 1.0 } else { 0.0 });
        }
    });
    #[cfg(not(feature = "metrics"))]
    let _ = (current, all);
}

/// A tracked task was spawned.
#[inline]
pub(crate) fn task_started() {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(TASKS_RUNNING).increment(1.0));
}

/// A tracked task ended (returned, panicked, or was aborted and dropped).
#[inline]
pub(crate) fn task_ended() {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(TASKS_RUNNING).decrement(1.0));
}

/// The serve loop accepted a connection.
#[inline]
pub(crate) fn connection_opened() {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(CONNECTIONS_OPEN).increment(1.0));
}

/// A connection of the serve loop closed (or was cut).
#[inline]
pub(crate) fn connection_closed() {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(CONNECTIONS_OPEN).decrement(1.0));
}

/// A request is in flight (serve loop or in-flight layer).
#[inline]
pub(crate) fn request_began() {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(REQUESTS_IN_FLIGHT).increment(1.0));
}

/// `count` requests are over: answered, given up by their client, or cut.
#[inline]
pub(crate) fn requests_over(count: usize) {
    #[cfg(feature = "metrics")]
    quietly(|| gauge!(REQUESTS_IN_FLIGHT).decrement(count as f64));
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// A hook of `kind` ended with `outcome`; `ran` is how long it ran, `None` for a start hook
/// that never ran.
#[inline]
pub(crate) fn hook_ended(kind: &'static str, outcome: &'static str, ran: Option<Duration>) {
    #[cfg(feature = "metrics")]
    quietly(|| {
        counter!(HOOK_OUTCOMES, "kind" => kind, "outcome" => outcome).increment(1);
        if let Some(ran) = ran {
            histogram!(HOOK_DURATION, "kind" => kind).record(ran.as_secs_f64());
        }
    });
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, outcome, ran);
}

/// A phase of the sequence (`start`, `drain_delay`, `drain`, `persist`, `hooks`) took `took`.
#[inline]
pub(crate) fn phase_ended(phase: &'static str, took: Duration) {
    #[cfg(feature = "metrics")]
    quietly(|| histogram!(PHASE_DURATION, "phase" => phase).record(took.as_secs_f64()));
    #[cfg(not(feature = "metrics"))]
    let _ = (phase, took);
}

/// The supervised part at `task` (its path) is restarted.
#[inline]
pub(crate) fn restarted(task: &str) {
    #[cfg(feature = "metrics")]
    quietly(|| counter!(RESTARTS, "task" => task.to_owned()).increment(1));
    #[cfg(not(feature = "metrics"))]
    let _ = task;
}

/// A reload ran; `ok`: every reload hook succeeded.
#[inline]
pub(crate) fn reloaded(ok: bool) {
    #[cfg(feature = "metrics")]
    quietly(|| counter!(RELOADS, "outcome" => if ok { "ok" } else { "failed" }).increment(1));
    #[cfg(not(feature = "metrics"))]
    let _ = ok;
}

/// The listeners heard `signal` (its name: `SIGTERM`).
#[inline]
pub(crate) fn signal_received(signal: &'static str) {
    #[cfg(feature = "metrics")]
    quietly(|| counter!(SIGNALS, "signal" => signal).increment(1));
    #[cfg(not(feature = "metrics"))]
    let _ = signal;
}

/// The `# HELP` line and unit of each metric.
#[cfg(feature = "metrics")]
fn describe() {
    describe_gauge!(
        STATE,
        "The lifecycle's state: 1 for the current one (starting, ready, draining, stopped), 0 for the others."
    );
    describe_gauge!(TASKS_RUNNING, "Tracked tasks running.");
    describe_gauge!(CONNECTIONS_OPEN, "Connections the serve loop holds open.");
    describe_gauge!(
        REQUESTS_IN_FLIGHT,
        "Requests received and not yet answered in full."
    );
    describe_counter!(
        HOOK_OUTCOMES,
        "Hook runs by kind (start, persist, shutdown, reload) and outcome."
    );
    describe_histogram!(
        HOOK_DURATION,
        Unit::Seconds,
        "How long each hook run took, by kind."
    );
    describe_histogram!(
        PHASE_DURATION,
        Unit::Seconds,
        "How long each phase of the sequence took (start, drain_delay, drain, persist, hooks)."
    );
    describe_counter!(RESTARTS, "Restarts of supervised parts, by task path.");
    describe_counter!(
        RELOADS,
        "Reloads run, by outcome (failed: a reload hook did not succeed)."
    );
    describe_counter!(SIGNALS, "Signals heard, by signal.");
}
