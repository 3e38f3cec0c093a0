//! Reload requests: SIGHUP (when it is not a shutdown signal) and
//! [`Lifecycle::request_reload`] ask; this remembers what is pending and what was ignored. The
//! loop that runs the reload hooks lives in `hooks::reload`.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::failure::Outcome;
use crate::hooks::{Hook, HookKind};
use crate::log::log_or_stderr;

impl Hook {
    /// A reload hook from an async function: it runs each time a reload is asked for (SIGHUP
    /// when it is not one of the shutdown [`signals`](crate::Config::signals), or
    /// [`Lifecycle::request_reload`](crate::Lifecycle::request_reload)), after start-up
    /// succeeded and before the trigger.
    ///
    /// Reload hooks run by ascending order, equal orders concurrently, each under its timeout.
    /// A failing one is logged and counted in the report, and the service keeps running: a bad
    /// new configuration must not take a good service down. Reloads never overlap: requests
    /// that come during a reload make one more reload after it. A reload still running at the
    /// trigger is waited for within the grace period.
    ///
    /// A reload asked for during start-up waits, and cannot race `main`: it begins once the
    /// service is Ready (with [`ReadyWhen::Manual`](crate::config::ReadyWhen::Manual), after
    /// [`set_ready`](crate::Lifecycle::set_ready)) and once `main`'s code after
    /// [`started`](crate::Lifecycle::started)`().await` has run up to its next waiting `.await`.
    /// If start-up fails it never runs; after the trigger none begins. Either is said once on
    /// standard error (or through `tracing`), not once per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let loads = Arc::new(AtomicUsize::new(0));
    /// let count = Arc::clone(&loads);
    /// lc.add_hook(Hook::on_reload("reread config", move || {
    ///     let count = Arc::clone(&count);
    ///     async move { count.fetch_add(1, SeqCst); }
    /// }));
    /// let handle = lc.clone();
    /// let report = sequence
    ///     .run(async move {
    ///         handle.started().await;
    ///         handle.request_reload();
    ///         tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    ///     })
    ///     .await;
    /// assert_eq!(loads.load(SeqCst), 1);
    /// assert_eq!(report.reloads, 1);
    /// # }
    /// ```
    pub fn on_reload<F, Fut>(name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        Self::asynchronous(HookKind::Reload, name.into(), f)
    }

    /// A reload hook from a blocking function, run on Tokio's blocking pool (see
    /// [`on_reload`](Hook::on_reload)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::Hook;
    ///
    /// let hook = Hook::on_reload_blocking("reread config", || std::fs::read(".").map(drop));
    /// assert_eq!(hook.kind(), HookKind::Reload);
    /// ```
    pub fn on_reload_blocking<F, R>(name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: Outcome,
    {
        Self::blocking(HookKind::Reload, name.into(), f)
    }
}

/// The reload requests of one lifecycle and what came of them.
pub(crate) struct Reloads {
    /// One stored permit: requests during a reload make one more reload, not many.
    requested: Notify,
    /// A request not yet taken up by a reload: what a start-up that fails, or a service without
    /// reload hooks, says it dropped.
    pending: AtomicBool,
    /// Whether the task that runs the reloads has been spawned.
    looping: AtomicBool,
    /// Cancelled once `main` had its first turn after start-up ended (see [`Reloads::main_had_its_turn`]):
    /// no reload begins before it.
    main_turn: CancellationToken,
    /// The reasons for ignoring a request said so far (one bit each): each is said once.
    said: AtomicU8,
}

/// Why a reload request was ignored: each is said once in a lifecycle, not once per request (a
/// storm of SIGHUPs during a shutdown is one line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ignored {
    /// The service runs with no reload hook.
    NoHook,
    /// Start-up failed: the service never became Ready, and the reload hooks never run.
    StartFailed,
    /// The shutdown has been triggered: reloads run only before it.
    ShuttingDown,
}

impl Ignored {
    fn bit(self) -> u8 {
        match self {
            Ignored::NoHook => 1,
            Ignored::StartFailed => 2,
            Ignored::ShuttingDown => 4,
        }
    }

    /// The line that says it, for a request that came as `what` (`SIGHUP`, or `a reload
    /// requested during start-up`).
    pub(crate) fn message(self, what: &str) -> String {
        match self {
            Ignored::NoHook => format!(
                "lifecycle: {what} ignored: no reload hook to run (SIGHUP asks for a reload unless it is one of the shutdown `signals`: add an `#[on_reload]` hook, or add SIGHUP to `signals` to stop on it)"
            ),
            Ignored::StartFailed => format!(
                "lifecycle: {what}: reload ignored: start-up failed (reload hooks run only once the service is Ready; later requests are ignored without a word)"
            ),
            Ignored::ShuttingDown => format!(
                "lifecycle: {what}: reload ignored: shutting down (reload hooks run only before the trigger; later requests are ignored without a word)"
            ),
        }
    }
}

impl Reloads {
    pub(crate) fn new() -> Self {
        Self {
            requested: Notify::new(),
            pending: AtomicBool::new(false),
            looping: AtomicBool::new(false),
            main_turn: CancellationToken::new(),
            said: AtomicU8::new(0),
        }
    }

    /// Asks for a reload; any thread may call this (the watchdog thread does, on SIGHUP).
    pub(crate) fn request(&self) {
        self.pending.store(true, Ordering::SeqCst);
        self.requested.notify_one();
    }

    /// Whether a request was waiting, which is dropped now.
    pub(crate) fn take_pending(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }

    /// Whether `why` is to be said now: `true` the first time only.
    pub(crate) fn first_time(&self, why: Ignored) -> bool {
        self.said.fetch_or(why.bit(), Ordering::SeqCst) & why.bit() == 0
    }

    /// Says (once) that a request still waiting is dropped, for `why`. From the app's runtime:
    /// it logs.
    pub(crate) fn drop_pending(&self, why: Ignored) {
        if self.take_pending() && self.first_time(why) {
            log_or_stderr(
                tracing::Level::WARN,
                &why.message(match why {
                    Ignored::ShuttingDown => "a reload requested before the trigger",
                    Ignored::NoHook | Ignored::StartFailed => "a reload requested during start-up",
                }),
            );
        }
    }

    /// `main` had its first turn after start-up ended: the code after its `started().await` ran
    /// up to its next waiting `.await`. A reload asked for before (during start-up) may begin
    /// from now on, so it cannot race that code. [`Started::run_until_trigger`] calls this.
    ///
    /// [`Started::run_until_trigger`]: crate::sequence::Started::run_until_trigger
    pub(crate) fn main_had_its_turn(&self) {
        self.main_turn.cancel();
    }

    /// Claims the running of the reloads: `true` once (the caller then spawns [`run`]).
    /// Resolves once `main` had its first turn after start-up ended.
    pub(crate) async fn main_turn(&self) {
        self.main_turn.cancelled().await;
    }

    /// Waits for the next request and takes it: it is no longer pending.
    pub(crate) async fn next_request(&self) {
        self.requested.notified().await;
        self.pending.store(false, Ordering::SeqCst);
    }

    pub(crate) fn claim(&self) -> bool {
        !self.looping.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_said_once_and_a_dropped_request_only_if_there_was_one() {
        let reloads = Reloads::new();
        assert!(!reloads.take_pending());
        reloads.request();
        assert!(reloads.take_pending());
        assert!(!reloads.take_pending(), "taken once");
        assert!(reloads.first_time(Ignored::ShuttingDown));
        assert!(!reloads.first_time(Ignored::ShuttingDown));
        assert!(reloads.first_time(Ignored::StartFailed), "another reason");
        assert_eq!(
            Ignored::NoHook.message("a reload requested during start-up"),
            "lifecycle: a reload requested during start-up ignored: no reload hook to run (SIGHUP \
             asks for a reload unless it is one of the shutdown `signals`: add an `#[on_reload]` \
             hook, or add SIGHUP to `signals` to stop on it)"
        );
    }
}
