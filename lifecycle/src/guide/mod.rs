//! Guides: how to start, stop, deploy and port a service, one page each.
//!
//! These pages hold no items, only text. Their source is `lifecycle/docs/*.md` in the
//! repository, readable on GitHub too; every Rust example in them is a doctest of this crate,
//! run by `cargo test`.
//!
//! # Running a service
//!
//! - [Start-up and readiness](start_up): the states a probe answers from, start hooks, the
//!   start boundary, `ready = "manual"`, what a failed start-up stops, and the mistakes that fail
//!   one.
//! - [Testing](testing): the service declared once as an `App`, started in-process from a
//!   `#[tokio::test]` (feature `testing`), signals, paused time, the report and the exit code.
//! - [Stopping](stopping): what triggers the shutdown, the steps after it (drain delay, cancel,
//!   drain, persist and shutdown hooks, report), stop stages, the deadlines and the budget,
//!   signals during the shutdown, and the exit codes.
//!
//! # Deploying it
//!
//! - [Kubernetes](kubernetes): probes, drain delay and `preStop`, `terminationGracePeriodSeconds`
//!   worked out and checked against the binary.
//! - [systemd]: `Type=notify`, the watchdog, `TimeoutStopSec`, `KillMode`, reloads.
//! - [gRPC](grpc): tonic's graceful shutdown on the lifecycle, calls counted, a health service
//!   that follows readiness.
//!
//! # Coming from elsewhere
//!
//! - [From a hand-written `CancellationToken` + `TaskTracker`](from_token_and_tracker).
//! - [From tokio-graceful-shutdown](from_tokio_graceful_shutdown).
//!
//! # The attributes
//!
//! Each has its own page, with a complete example and the code it stands for:
//!
//! - [`#[lifecycle::main]`](macro@crate::main): runs `async fn main` inside the sequence; its
//!   settings (`grace`, `drain_delay`, ...) and their `LIFECYCLE_*` variables.
//! - [`#[lifecycle::component]`](macro@crate::component): makes the marked methods of an impl
//!   block the hooks and long-running parts of each value handed to `lc.manage`.
//! - [`#[run]`](macro@crate::run): a component's long-running part, in its stop stage,
//!   optionally restarted. (`lifecycle::run` the *function* is another item, [`run`](fn@crate::run):
//!   the sequence in one call, without the attribute.)
//! - [`#[on_start]`](macro@crate::on_start): before the service is Ready.
//! - [`#[on_reload]`](macro@crate::on_reload): on SIGHUP or `lc.request_reload()`.
//! - [`#[persist]`](macro@crate::persist): saves state at shutdown (and periodically).
//! - [`#[on_shutdown]`](macro@crate::on_shutdown): releases resources at shutdown, by order.
//!
//! # Elsewhere
//!
//! - Readiness checks: a dependency that takes the service out of readiness while it fails is
//!   described in the readiness section (README and crate documentation).
//! - Metrics: the lifecycle's state, requests, tasks and phase durations through the `metrics`
//!   crate are the `metrics` feature.

#[doc = include_str!("../../docs/start-up.md")]
pub mod start_up {}

#[doc = include_str!("../../docs/stopping.md")]
pub mod stopping {}

#[doc = include_str!("../../docs/testing.md")]
pub mod testing {}

#[doc = include_str!("../../docs/kubernetes.md")]
pub mod kubernetes {}

#[doc = include_str!("../../docs/systemd.md")]
pub mod systemd {}

#[doc = include_str!("../../docs/grpc.md")]
pub mod grpc {}

#[doc = include_str!("../../docs/porting-from-token-and-tracker.md")]
pub mod from_token_and_tracker {}

#[doc = include_str!("../../docs/porting-from-tokio-graceful-shutdown.md")]
pub mod from_tokio_graceful_shutdown {}
