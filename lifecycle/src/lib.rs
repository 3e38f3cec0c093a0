//! Declarative graceful shutdown for Tokio services.
//!
//! A service that dies on SIGTERM cuts its in-flight requests, loses what it held in memory and
//! leaves its connections to time out. Doing it right takes five pieces: catch the signal, tell
//! every task, wait for them with a deadline, release resources in order, and persist state.
//! `lifecycle` is those five pieces as one runtime, driven by attributes:
//!
//! ```no_run
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
//!     lc.spawn_named("worker", async move { token.cancelled().await });
//!     lc.cancelled().await; // serve until SIGTERM
//!     Ok(())
//! }
//! ```
//!
//! # The shutdown sequence
//!
//! 0. **Start**: runtime, [`Lifecycle`], hooks registered, signal listeners installed once,
//!    readiness [`Ready`](State::Ready).
//! 1. **Trigger**: the first of a signal, the main future returning, [`Lifecycle::shutdown`], or a
//!    [critical task](Lifecycle::spawn_critical) failing.
//! 2. Readiness becomes [`Draining`](State::Draining) at once; during
//!    [`drain_delay`](Config::drain_delay) the service still serves.
//! 3. The root token is cancelled: servers stop accepting, workers leave their loops.
//! 4. **Drain**: the main future and every tracked task get [`grace`](Config::grace); the drain
//!    ends the moment they are done, and aborts (and names) what is left at the deadline.
//! 5. **Persist hooks** run, each with its timeout, while resources are still open.
//! 6. **Shutdown hooks** run by ascending order; equal orders run concurrently; every hook runs
//!    even when another fails, panics or times out.
//! 7. **Report**: one [`ShutdownReport`], logged, mapped to the exit code (see its table).
//!
//! A second signal at any point after the trigger exits at once with 128 + the signal number.
//!
//! # Without the attributes
//!
//! [`run`] does the same as `#[lifecycle::main]`; inside a runtime you already have, call the
//! steps on [`Lifecycle`] or [`Lifecycle::run`].
//!
//! # Logging
//!
//! Events go through `tracing` with stable field names (`trigger`, `exit_code`, `hook`, `kind`,
//! `order`, `elapsed_ms`, `task`, `signal`). When no subscriber is installed, the shutdown report
//! and start-up errors are written to standard error instead, so they are never lost.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
pub mod config;
mod drain;
pub mod failure;
mod handle;
pub mod hooks;
mod log;
pub mod persist;
pub mod report;
mod run;
pub mod sequence;
pub mod signal;
mod state;
mod task;
mod trigger;
mod watchdog;

pub use crate::config::Config;
pub use crate::failure::{Failure, Outcome};
pub use crate::handle::Lifecycle;
pub use crate::hooks::{Component, Hook};
pub use crate::persist::{read_state, write_atomic};
pub use crate::report::ShutdownReport;
pub use crate::run::{run, StartupError};
pub use crate::sequence::Sequence;
pub use crate::signal::Signal;
pub use crate::state::State;
pub use crate::trigger::Trigger;

pub use tokio_util::sync::CancellationToken;

pub use lifecycle_macros::{component, main, on_shutdown, persist};

/// What the attributes' generated code calls. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::Flavor;
    pub use crate::run::{runtime, shutdown_runtime, startup_failed};
    pub use crate::{Component, Config, Hook, Lifecycle, Outcome, Sequence, Signal, StartupError};
    pub use linkme;
    pub use tokio;

    /// Every free function marked `#[lifecycle::on_shutdown]` or `#[lifecycle::persist]` in the
    /// binary, collected at link time.
    #[linkme::distributed_slice]
    pub static FREE_HOOKS: [fn() -> Hook];
}
