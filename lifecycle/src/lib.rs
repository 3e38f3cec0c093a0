//! Declarative graceful shutdown for Tokio services.
//!
//! A service that dies on SIGTERM cuts its in-flight requests, loses what it held in memory and
//! leaves its connections to time out. Doing it right takes five pieces: catch the signal, tell
//! every task, wait for them with a deadline, release resources in order, and persist state.
//! `lifecycle` is those five pieces as one runtime, driven by attributes:
//!
//! ```no_run,standalone_crate
//! use std::sync::Arc;
//!
//! struct Db;
//!
//! #[lifecycle::component]
//! impl Db {
//!     #[on_shutdown(order = 100, timeout = "5s")]
//!     async fn close(&self) -> std::io::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! #[lifecycle::on_shutdown(order = 10)]
//! async fn flush_metrics() {}
//!
//! #[lifecycle::main(grace = "30s", drain_delay = "5s")]
//! async fn main(lc: lifecycle::Lifecycle) -> std::io::Result<()> {
//!     lc.manage(Arc::new(Db));
//!     let token = lc.token();
//!     lc.task("worker").spawn(async move { token.cancelled().await });
//!     lc.cancelled().await; // serve until SIGTERM
//!     Ok(())
//! }
//! ```
//!
//! # Guides and attribute pages
//!
//! The [`guide`] module has a page for each task: [start-up and readiness](guide::start_up),
//! [stopping](guide::stopping) (the drain, stop stages, deadlines, exit codes),
//! [Kubernetes](guide::kubernetes), [systemd](guide::systemd), [gRPC](guide::grpc),
//! [testing](guide::testing) (a whole HTTP service with a readiness check, started in-process
//! from a test), and porting
//! a service [from a hand-written `CancellationToken` + `TaskTracker`](guide::from_token_and_tracker)
//! or [from tokio-graceful-shutdown](guide::from_tokio_graceful_shutdown). Each attribute has
//! its own page with a complete example: [`#[lifecycle::main]`](macro@main),
//! [`#[lifecycle::component]`](macro@component), [`#[run]`](macro@run) (not the function
//! [`run`](fn@run)), [`#[on_start]`](macro@on_start), [`#[on_reload]`](macro@on_reload),
//! [`#[persist]`](macro@persist), [`#[on_shutdown]`](macro@on_shutdown); a component's
//! `#[check]` (a readiness check) is described on the [`#[lifecycle::component]`](macro@component)
//! page, under "Readiness checks".
//!
//! # Cargo features
//!
//! ```toml
//! [dependencies]
//! lifecycle = { version = "0.1", features = ["axum"] }
//! axum = "0.8" # the axum `lifecycle::axum` is built for
//!
//! [dev-dependencies]
//! lifecycle = { version = "0.1", features = ["axum", "testing"] }
//! tokio = { version = "1", features = ["macros", "test-util"] } # `#[tokio::test(start_paused = true)]`
//! ```
//!
//! | feature | what it adds |
//! |---|---|
//! | (none) | the attributes, [`Lifecycle`] (tasks, scopes, stages, readiness checks), [`listener`](fn@listener) (socket activation, in-place upgrade, the PID file), [`state_file`], systemd notification, the report |
//! | `http` | `lifecycle::http::serve` for any hyper service, `lifecycle::http::InFlightLayer` |
//! | `axum` | `http`, and `lifecycle::axum`: `serve` for an axum 0.8 `Router`, the `ready` and `live` probes, `close_when_draining` |
//! | `testing` | `lifecycle::testing`: the service started in-process from a `#[tokio::test]` (for `[dev-dependencies]`) |
//! | `serde` | `report = "json"`, `ShutdownReport::to_json` |
//! | `metrics` | `lifecycle::metrics`: recording through the `metrics` facade |
//! | `console` | tracked tasks named in tokio-console (with `RUSTFLAGS="--cfg tokio_unstable"`) |
//!
//! `#[lifecycle::main]` builds its Tokio runtime through this crate: the app needs a `tokio`
//! dependency of its own only for what it calls itself (`tokio::time::sleep`, `#[tokio::test]`).
//!
//! # The sequence
//!
//! The one description of the sequence; everything else links here.
//!
//! 0. **Start** ([`Sequence::start`]): the configuration is checked, the free-function hooks
//!    registered, the watchdog thread started (it hears the signals and enforces the hard
//!    deadline, outside the app's runtime). Readiness is [`Starting`](State::Starting).
//! 1. **Start hooks** ([`Running::run_start_hooks`](sequence::Running::run_start_hooks)): the
//!    main future runs alone up to its **start boundary**, a call it makes itself: the first of
//!    [`lc.started().await`](Lifecycle::started), [`set_ready`](Lifecycle::set_ready),
//!    [`cancelled`](Lifecycle::cancelled) (or `triggered`) or a lifecycle
//!    serve loop (or main returning, or the trigger). Every value it
//!    [`manage`](Lifecycle::manage)d before is known; the
//!    [start hooks](hooks::HookKind::Start) (`#[on_start]`) run by ascending order, while the
//!    main future goes on. Readiness becomes [`Ready`](State::Ready) once they all succeeded
//!    (and, with [`ReadyWhen::Manual`](config::ReadyWhen::Manual), the app called
//!    [`Lifecycle::set_ready`]). The boundary is a call, not the first `.await` that happens to
//!    wait, so that it does not depend on run-time details; a start hook managed after it is a
//!    start-up failure. A failure, the [start-up timeout](Config::startup_timeout) or a trigger
//!    first rolls back: only what started is stopped, exit code 5.
//! 2. **Run and trigger** ([`Started::run_until_trigger`](sequence::Started::run_until_trigger)):
//!    [reloads](hooks::HookKind::Reload) on SIGHUP or [`Lifecycle::request_reload`], until the
//!    first of a signal, the main future returning, [`Lifecycle::request_shutdown`], or a
//!    [critical task](tasks::TaskBuilder::critical) failing.
//! 3. Readiness becomes [`Draining`](State::Draining) at once; during
//!    [`drain_delay`](Config::drain_delay) the service still serves (skipped when the main
//!    future has already ended, since what served has finished, and when the service was
//!    never Ready).
//! 4. The root token is cancelled: servers stop accepting, workers leave their loops.
//! 5. **Drain** ([`Triggered::drain`](sequence::Triggered::drain)): the main future and every
//!    tracked task get [`grace`](Config::grace); the drain ends the moment they are done, and
//!    aborts (and names) what is left at the deadline, saying which really stopped. Work given
//!    a [stop stage](tasks::Stage) drains after that, one stage after the other in ascending
//!    order, within the same grace.
//! 6. **Persist hooks** ([`Drained::persist`](sequence::Drained::persist)) run, each with its
//!    timeout, while resources are still open.
//! 7. **Shutdown hooks** ([`Persisted::shut_down`](sequence::Persisted::shut_down)) run by
//!    ascending order; equal orders run concurrently; every hook runs even when another fails,
//!    panics or times out.
//! 8. **Report**: one [`ShutdownReport`], logged, mapped to the exit code (see its table).
//!
//! Each step consumes the state before it ([`sequence`]), so the steps run in this order, each
//! once, or the code does not compile. Signals are counted, not triggers: the first starts (or,
//! after another trigger, hurries) the shutdown; a second one exits at once with 128 + the
//! signal number; a repeat within [`repeat_window`](Config::repeat_window) is one delivery. The
//! process is gone by the worst case plus [`deadline_margin`](Config::deadline_margin) whatever
//! the app's code does to its threads (exit code 4).
//!
//! # Without the attributes
//!
//! [`run`](fn@run) does the same as `#[lifecycle::main]`; inside a runtime you already have, drive a
//! [`Sequence`] yourself (its docs show the chain), or call
//! [`Sequence::run_without_signals`] (the free hooks are registered, no signal is listened to).
//!
//! # Serving HTTP
//!
//! With feature `axum`, `lifecycle::axum::serve(&lc, listener, router)` runs the serve loop
//! (feature `http`: `lifecycle::http::serve` for any hyper service): each connection a tracked
//! task named by its client, drained gracefully at the cancel, a half-sent request closed after
//! the header-read timeout, and the connections cut at the deadline named in the report with
//! their requests ([`tasks::ConnectionReport`]). Its listener closes without resetting a
//! connection the kernel had queued. [`listener`](fn@listener) returns the socket systemd passed
//! (socket activation: the port stays open across restarts), or binds one. On SIGUSR2 (or
//! [`Lifecycle::request_upgrade`]) the process upgrades in place: a new process of the same
//! executable takes those listeners, and this one hands them over once it is Ready
//! ([`Trigger::Upgraded`]), or goes on serving if it fails.
//!
//! # Platforms
//!
//! The worst case is known before the service starts: run the binary with
//! `LIFECYCLE_PRINT_BUDGET=1` and it prints its [budget](config::Budget) (and the Kubernetes
//! `terminationGracePeriodSeconds` and systemd `TimeoutStopSec` it implies) instead of starting.
//!
//! Under systemd (`Type=notify`, `NOTIFY_SOCKET` set), [`Sequence::start`] reaches the
//! notification socket (a path or an abstract `@name`) and the sequence reports to it: `READY=1`
//! when readiness becomes Ready, `WATCHDOG=1` at half of `WATCHDOG_USEC` while running (from a
//! task on the app's runtime, so that a hung runtime stops the pings), `STOPPING=1` at the
//! trigger, one `STATUS=` per phase, and with each shutdown phase `EXTEND_TIMEOUT_USEC=` up to the
//! hard deadline plus a second. The socket is never waited on; an unusable `NOTIFY_SOCKET` is a
//! warning at start-up. Without the variable nothing is sent.
//!
//! # Logging
//!
//! Events go through `tracing` with stable field names (`trigger`, `exit_code`, `hook`, `kind`,
//! `order`, `elapsed_ms`, `task`, `signal`). When no subscriber is installed, the shutdown report
//! and start-up errors are written to standard error instead, so they are never lost.
//!
//! # Metrics
//!
//! With feature `metrics`, the state, the tasks running, the serve loop's connections and
//! requests in flight, the hooks' outcomes and durations, each phase's duration, restarts,
//! reloads and signals are recorded through the `metrics` facade, for whichever exporter the app
//! installs: the names are in one table in `lifecycle::metrics`. Without it nothing is recorded
//! and nothing is compiled in.

#![warn(missing_docs)]
#![deny(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

// In dependency order: each module imports only the ones above it (see "Architecture" in the
// README; `tests/tests/layout.rs` holds the line).
pub mod exit;
pub mod failure;
mod lock;
mod log;
// Public with the feature (its docs hold the table of metrics); without it, empty calls.
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
pub mod config;
mod triggers;
pub mod tasks;
pub mod checks;
pub mod hooks;
mod handle;
mod listeners;
#[cfg(feature = "http")]
pub mod http;
pub mod report;
// Imports nothing of the rest; above `upgrade`, which writes the PID file with it.
pub mod state_file;
mod upgrade;
pub mod sequence;
#[cfg(feature = "testing")]
pub mod testing;
// Documentation only: imports nothing, so it comes last.
pub mod guide;

#[cfg(feature = "axum")]
pub use crate::http::axum;

pub use crate::config::signals::Signal;
pub use crate::config::Config;
pub use crate::failure::{Failure, Outcome};
pub use crate::handle::{Lifecycle, Managed, Stats};
pub use crate::hooks::{Component, Hook};
pub use crate::listeners::listener;
pub use crate::report::ShutdownReport;
pub use crate::sequence::app::App;
pub use crate::sequence::entry::run;
pub use crate::sequence::Sequence;
pub use crate::tasks::scope::Scope;
pub use crate::triggers::readiness::State;
pub use crate::triggers::Trigger;

pub use tokio_util::sync::CancellationToken;

pub use lifecycle_macros::{component, main, on_reload, on_shutdown, on_start, persist, run};

/// What the attributes' generated code calls. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::checks::Checks;
    pub use crate::hooks::bind::{
        bind_run, bound, declared, Added, AsyncMethod, Bind, Hooks, Runs, COMPONENT_HOOKS,
        FREE_HOOKS,
    };

    pub use crate::config::settings::{settings, Setting, Zero};
    pub use crate::config::{report_json, ReportFormat};
    pub use crate::config::{Flavor, ReadyWhen};
    pub use crate::handle::NoLifecycleNew;
    pub use crate::hooks::HookKind;
    pub use crate::sequence::entry::{block_on, MainFuture};
    pub use crate::sequence::startup::startup_failed;
    pub use crate::sequence::startup::StartupError;
    pub use crate::tasks::run::{Restart, Run};
    pub use crate::triggers::held::{hold_signals, HeldSignals};
    pub use crate::{Component, Config, Hook, Lifecycle, Outcome, Sequence, Signal};
    pub use linkme;
    pub use linkme::distributed_slice;
    pub use tokio;
}
