//! The shutdown sequence as a chain of typed steps: each consumes the state before it and
//! returns the next, so the steps can only run in their order, each once.
//!
//! ```text
//! Sequence::new(config)          the handle exists; nothing runs yet
//!   .start()?                    free hooks, signals and the watchdog                   -> Running
//!   .run_start_hooks(main)       main to its start boundary, start hooks, then Ready    -> Started
//!   .run_until_trigger()         serve until a signal, main's end, a request, a failure -> Triggered
//!   .drain()                     drain delay, cancel, wait for main and tasks (grace)   -> Drained
//!   .persist()                   persist hooks, while resources are still open          -> Persisted
//!   .shut_down()                 shutdown hooks by order, then the report               -> ShutdownReport
//! ```
//!
//! The start boundary is a call `main` makes (see [`Running::run_start_hooks`]): whether an
//! `.await` waits is a run-time detail, so it cannot be where the start hooks begin.
//!
//! `#[lifecycle::main]` writes exactly this chain (see `examples/expanded/`), and
//! [`run`](fn@crate::run) calls it. A step out of order does not compile:
//!
//! ```compile_fail
//! # async fn f() {
//! let running = lifecycle::Sequence::new(lifecycle::Config::new()).start_without_signals();
//! running.drain().await; // no `drain` before the trigger: `Running` has no such step
//! # }
//! ```

// Folder `sequence/`: the life of a service step by step (this file), its phases (`start.rs`,
// `drain.rs`), the entry points (`entry.rs`: `lifecycle::run` and the macros' `block_on`;
// `startup.rs`: start-up errors; `print_budget.rs`; `app.rs`: a main function with its settings,
// run as the process or by the test harness). Every other folder is below this one: the
// sequence decides when, the others how.

pub(crate) mod app;
pub(crate) mod drain;
pub(crate) mod entry;
pub(crate) mod print_budget;
pub(crate) mod start;
pub(crate) mod startup;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::failure::Outcome;
use crate::handle::Lifecycle;
use crate::hooks::HookReport;
use crate::hooks::{run_phase, HookKind};
use crate::report::builder::ReportBuilder;
use crate::report::ShutdownReport;
use crate::sequence::drain::{cut_late_tasks, drain, MainTask};
use crate::sequence::start::{
    finish, late_reports, run_start_hooks, Interruption, Parts, Progress,
};
pub use crate::sequence::startup::StartupError;
use crate::triggers::readiness::State;
use crate::triggers::reloads::Ignored;
use crate::triggers::watchdog::Phase;
use crate::triggers::Trigger;

/// The first state: a lifecycle built, nothing started. Make the app's [handle](Self::handle)
/// here, then [`start`](Self::start).
///
/// # Examples
///
/// The whole chain, inside a runtime you already have:
///
/// ```
/// use std::time::Duration;
/// use lifecycle::Trigger;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(5)));
/// let lc = sequence.handle();
/// lc.manage(Hook::new(HookKind::Persist, "save", || async {}));
///
/// let running = sequence.start_without_signals(); // `start()?` in a real service
/// let handle = lc.clone();
/// let main = async move {
///     handle.request_shutdown(); // here from main itself; usually a signal
///     handle.cancelled().await; // serve until the drain starts
/// };
/// let triggered = running.run_until_trigger(main).await;
/// assert!(matches!(triggered.trigger(), Trigger::Requested { .. }));
/// let report = triggered.drain().await.persist().await.shut_down().await;
/// assert_eq!(report.hooks[0].name, "save");
/// # }
/// ```
#[must_use = "a sequence does nothing until it is started"]
pub struct Sequence {
    lc: Lifecycle,
    /// Set once the binary's free hooks are registered: registering them again would run each
    /// twice.
    free_hooks: AtomicBool,
}

impl Sequence {
    /// A new lifecycle for `config`, in state Starting.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// let sequence = Sequence::new(Config::new());
    /// assert_eq!(sequence.handle().state(), State::Starting);
    /// ```
    pub fn new(config: Config) -> Self {
        Self {
            lc: Lifecycle::create(config),
            free_hooks: AtomicBool::new(false),
        }
    }

    /// The handle the app holds: tokens, tasks, hooks, readiness.
    ///
    /// # Examples
    ///
    /// ```
    /// let sequence = lifecycle::Sequence::new(lifecycle::Config::new());
    /// let lc = sequence.handle();
    /// assert_eq!(lc.budget().hooks(), 0);
    /// ```
    pub fn handle(&self) -> Lifecycle {
        self.lc.clone()
    }

    /// Start-up, first part: checks the configuration, registers the free-function hooks
    /// (`#[lifecycle::on_start]`, `#[lifecycle::on_shutdown]`, ... on functions), starts the
    /// watchdog thread that hears signals and enforces the hard deadline (once per process),
    /// and reaches systemd when `NOTIFY_SOCKET` is set (see the crate docs). The service stays
    /// Starting: [`Running::run_start_hooks`] makes it Ready (and tells systemd `READY=1`).
    ///
    /// # Errors
    ///
    /// [`StartupError::Config`] for a setting [`Config::validate`] refuses;
    /// [`StartupError::Signals`] when the listeners cannot be installed (a second sequence in
    /// the same process, no Tokio runtime, the operating system refusing).
    pub fn start(self) -> Result<Running, StartupError> {
        self.lc.config().validate()?;
        self.register_free_hooks();
        let inner = &self.lc.inner();
        crate::triggers::hearing::listen(inner.config(), inner.triggers(), inner.reloads())?;
        // Held since `main` began (see `hold_signals`): heard from now on, a signal that came
        // meanwhile included.
        crate::triggers::held::release();
        crate::triggers::hearing::notify_systemd(inner.triggers());
        // The PID file and the readiness pipe of an upgrade at Ready; SIGUSR2 and the upgrades.
        crate::upgrade::start(&self.lc);
        Ok(Running { lc: self.lc })
    }

    /// Start-up without signals, the watchdog or the free-function hooks: for tests, and for a
    /// service whose signals something else handles (it calls
    /// [`Lifecycle::request_shutdown`]). Call
    /// [`register_free_hooks`](Self::register_free_hooks) first if the binary's free hooks
    /// should run.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let running = sequence.start_without_signals();
    /// assert_eq!(lc.state(), State::Starting); // Ready after the start boundary and hooks
    /// let handle = lc.clone();
    /// let _started = running.run_start_hooks(async move { handle.cancelled().await }).await;
    /// assert!(lc.state().is_ready());
    /// # }
    /// ```
    pub fn start_without_signals(self) -> Running {
        Running { lc: self.lc }
    }

    /// Registers every free function of the binary marked `#[lifecycle::on_start]`,
    /// `#[lifecycle::on_reload]`, `#[lifecycle::on_shutdown]` or `#[lifecycle::persist]`
    /// (collected at link time). [`start`](Self::start) and
    /// [`run_without_signals`](Self::run_without_signals) do this. Once per sequence: a second
    /// call does nothing, so that no hook runs twice.
    ///
    /// # Examples
    ///
    /// ```
    /// let sequence = lifecycle::Sequence::new(lifecycle::Config::new());
    /// sequence.register_free_hooks(); // none in this example binary
    /// assert_eq!(sequence.handle().budget().hooks(), 0);
    /// ```
    pub fn register_free_hooks(&self) {
        if self.free_hooks.swap(true, Ordering::SeqCst) {
            return;
        }
        for make in crate::hooks::bind::FREE_HOOKS {
            self.lc.manage(make());
        }
    }

    /// The whole chain in one call, without signals: registers the binary's free hooks (as
    /// [`start`](Self::start) does), then, from
    /// [`start_without_signals`](Self::start_without_signals), runs `main` until the trigger,
    /// drains, persists and shuts down. No signal is listened to and no watchdog thread starts:
    /// for tests, and for a service whose signals something else handles (it calls
    /// [`Lifecycle::request_shutdown`]). [`run`](fn@crate::run) is the same with the signals.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Trigger;
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let report = sequence.run_without_signals(async { Err::<(), _>("bind failed") }).await;
    /// assert!(matches!(report.trigger, Trigger::MainFailed(_)));
    /// assert_eq!(report.code(), 1);
    /// assert_eq!(lc.state(), State::Stopped);
    /// # }
    /// ```
    pub async fn run_without_signals<F>(self, main: F) -> ShutdownReport
    where
        F: Future,
        F::Output: Outcome,
    {
        self.register_free_hooks();
        self.start_without_signals().through_to_report(main).await
    }
}

/// Signals heard, free hooks registered: the start hooks are next.
#[must_use = "a running sequence must be driven to its report"]
pub struct Running {
    lc: Lifecycle,
}

impl Running {
    /// The app's handle (the same lifecycle as [`Sequence::handle`]).
    pub fn handle(&self) -> Lifecycle {
        self.lc.clone()
    }

    /// Every step after the signals, in order: for [`run`](crate::run) and
    /// [`Sequence::run_without_signals`] (the expansion of `#[lifecycle::main]` spells them out
    /// instead).
    pub(crate) async fn through_to_report<F>(self, main: F) -> ShutdownReport
    where
        F: Future,
        F::Output: Outcome,
    {
        self.run_start_hooks(main)
            .await
            .run_until_trigger()
            .await
            .drain()
            .await
            .persist()
            .await
            .shut_down()
            .await
    }

    /// The start phase. `main` runs alone up to its **start boundary**: the first of these
    /// calls made by `main` itself (while this sequence polls it):
    /// [`started`](Lifecycle::started), [`set_ready`](Lifecycle::set_ready),
    /// [`cancelled`](Lifecycle::cancelled),
    /// [`triggered`](Lifecycle::triggered), or a lifecycle serve loop (`lifecycle::http::serve`,
    /// `lifecycle::axum::serve`); or `main` returning, or the trigger. The same calls from a
    /// task `main` spawned do not move it: where start-up begins must not depend on which task
    /// runs first, any more than on which `.await` happens to wait (a name lookup does, an IP
    /// address does not). Every value [`manage`](Lifecycle::manage)d before the boundary is
    /// known; at it, the registry closes to start hooks and they run by ascending order (equal
    /// orders concurrently, each under its timeout) while `main` goes on (it may serve and
    /// answer probes: readiness is still Starting). The service becomes Ready when every start
    /// hook succeeded (none at all is fine, the boundary is still needed), and, with
    /// [`ReadyWhen::Manual`](crate::config::ReadyWhen::Manual), the app called
    /// [`set_ready`](Lifecycle::set_ready).
    ///
    /// A start hook added after the boundary fails start-up as a failed hook does (after Ready
    /// it triggers the shutdown as [`Trigger::StartFailed`]); `main` never reaching the boundary
    /// fails it at the [start-up timeout](crate::Config::startup_timeout), which says so.
    ///
    /// Start-up fails when a start hook fails, panics or times out, when the
    /// [start-up timeout](crate::Config::startup_timeout) runs out, or when the shutdown is
    /// triggered first (a signal, `main` returning) with start hooks still to run: no later
    /// start hook runs, the one running is stopped, and the shutdown goes on without the drain
    /// delay (the service was never Ready). What started is stopped: a managed value any of
    /// whose start hooks succeeded gets its shutdown hooks, its persist hooks only if all did;
    /// one none of whose start hooks succeeded gets neither. The report lists every start hook;
    /// the exit code is [`EXIT_START_FAILED`](crate::exit::EXIT_START_FAILED).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let connect = || tokio::time::sleep(Duration::from_millis(300));
    /// lc.manage(Hook::new(HookKind::Start, "connect", connect));
    /// let handle = lc.clone();
    /// let main = async move {
    ///     handle.cancelled().await // main's own call: the start boundary; serve until the drain
    /// };
    /// let started = sequence.start_without_signals().run_start_hooks(main).await;
    /// assert!(lc.state().is_ready());
    /// lc.request_shutdown();
    /// let report = started.run_until_trigger().await.drain().await.persist().await.shut_down().await;
    /// assert_eq!(report.timings.start, Duration::from_millis(300));
    /// # }
    /// ```
    pub async fn run_start_hooks<F>(self, main: F) -> Started<F>
    where
        F: Future,
        F::Output: Outcome,
    {
        let lc = self.lc;
        let inner = &lc.inner();
        // The report begins with start-up; each step after this one adds what it learned.
        let mut report = ReportBuilder::begin();
        let mut main = MainTask::new(main, std::sync::Arc::clone(inner.triggers()));
        inner.start_gate().begin();
        let began = tokio::time::Instant::now();
        let progress = std::sync::Mutex::new(Progress::default());
        let limit = inner.config().startup_timeout();
        // The same limit on the watchdog's clock (plus the margin), for a start that blocks the
        // thread the timeout below would run on.
        let watch = inner.triggers().watch();
        watch.starting(
            std::time::Instant::now(),
            limit,
            inner.config().deadline_margin(),
        );
        let parts = Parts {
            config: inner.config(),
            hooks: inner.hooks(),
            triggers: inner.triggers(),
            gate: inner.start_gate(),
        };
        let (failure, interrupted) = {
            let hooks = tokio::time::timeout(limit, run_start_hooks(&parts, &progress));
            tokio::pin!(hooks);
            loop {
                tokio::select! {
                    biased;
                    () = &mut main, if !main.is_finished() => {}
                    done = &mut hooks => break match done {
                        Ok(failure) => (failure, None),
                        Err(_) => (None, Some(Interruption::TimedOut(limit))),
                    },
                    () = inner.triggers().fired_yet() => {
                        let trigger = inner.triggers().current().map(|t| t.to_string());
                        break (None, Some(Interruption::Triggered(trigger.unwrap_or_default())));
                    }
                }
            }
        };
        let start = finish(&parts, &progress, failure, interrupted, began, || {
            lc.mark_ready();
        });
        watch.started();
        if let Some(failure) = &start.failure {
            inner.triggers().fire(Trigger::StartFailed(failure.clone()));
            inner.reloads().drop_pending(Ignored::StartFailed);
        }
        report.started(start.reports, start.failure, start.took);
        Started { lc, main, report }
    }

    /// [`run_start_hooks`](Self::run_start_hooks) then
    /// [`Started::run_until_trigger`], in one step.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Trigger;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// tokio::spawn(async move { lc.request_shutdown_with(0, "admin") });
    /// let running = sequence.start_without_signals();
    /// let triggered = running.run_until_trigger(std::future::pending::<()>()).await;
    /// assert!(matches!(triggered.trigger(), Trigger::Requested { code: Some(0), .. }));
    /// # }
    /// ```
    pub async fn run_until_trigger<F>(self, main: F) -> Triggered<F>
    where
        F: Future,
        F::Output: Outcome,
    {
        self.run_start_hooks(main).await.run_until_trigger().await
    }
}

/// Start-up over (Ready, or failed and rolling back): serving until the trigger.
#[must_use = "a started sequence must be driven to its report"]
pub struct Started<F> {
    lc: Lifecycle,
    main: MainTask<F>,
    report: ReportBuilder,
}

impl<F> Started<F>
where
    F: Future,
    F::Output: Outcome,
{
    /// Whether start-up succeeded (every start hook, and the app's `set_ready` when asked for).
    pub fn succeeded(&self) -> bool {
        !self.report.start_failed()
    }

    /// Runs `main` until the shutdown is triggered: by `main` returning (its outcome is
    /// recorded, a panic included), or by anything else, in which case `main` keeps running
    /// into the drain. After a failed start-up the trigger has fired already: this returns at
    /// once.
    pub async fn run_until_trigger(mut self) -> Triggered<F> {
        let triggers = std::sync::Arc::clone(self.lc.inner().triggers());
        // `main`'s first turn since start-up ended: the code after its `started().await` runs up
        // to its next waiting `.await`. Only then may a reload asked for during start-up begin,
        // so that it cannot race that code (on any runtime: `main` is polled here, not in a task).
        let reloads = std::sync::Arc::clone(self.lc.inner().reloads());
        let mut first_turn = Some(reloads);
        let main = std::future::poll_fn(|cx| {
            let polled = std::pin::Pin::new(&mut self.main).poll(cx);
            if let Some(reloads) = first_turn.take() {
                reloads.main_had_its_turn();
            }
            polled
        });
        tokio::select! {
            biased;
            () = main => {}
            () = triggers.fired_yet() => {}
        }
        let trigger = triggers.current().unwrap_or(Trigger::MainReturned);
        Triggered {
            lc: self.lc,
            main: self.main,
            trigger,
            report: self.report,
        }
    }
}

/// Triggered: readiness is Draining; the drain is next.
#[must_use = "a triggered sequence must be drained"]
pub struct Triggered<F> {
    lc: Lifecycle,
    main: MainTask<F>,
    trigger: Trigger,
    report: ReportBuilder,
}

impl<F> Triggered<F>
where
    F: Future,
    F::Output: Outcome,
{
    /// What started the shutdown.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// The drain: the drain delay, then the root token is cancelled and `main` and every tracked
    /// task get the grace period. Returns the moment all are done; at the deadline `main` is
    /// dropped and the tasks left are aborted and named.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::report::MainOutcome;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(3)));
    /// sequence.handle().request_shutdown();
    /// let running = sequence.start_without_signals();
    /// let triggered = running.run_until_trigger(std::future::pending::<()>()).await;
    /// let report = triggered.drain().await.persist().await.shut_down().await;
    /// assert_eq!(report.main, Some(MainOutcome::Aborted)); // it ignored the cancel
    /// assert_eq!(report.timings.drain, Duration::from_secs(3));
    /// assert_eq!(report.code(), 2);
    /// # }
    /// ```
    pub async fn drain(mut self) -> Drained {
        let drained = drain(self.lc.inner(), &mut self.main).await;
        let mut report = self.report;
        report.main_ended(self.main.take_outcome());
        report.drained(
            drained.delay,
            drained.took,
            drained.aborted,
            drained.connections,
            drained.stages,
        );
        Drained {
            lc: self.lc,
            report,
        }
    }
}

/// Runs the hooks of `kind` that are due (persist or shutdown), each under its timeout: their
/// reports, and how long the phase took.
async fn run_hooks(lc: &Lifecycle, kind: HookKind) -> (Vec<HookReport>, Duration) {
    let inner = &lc.inner();
    inner.triggers().rearm();
    inner.triggers().watch().enter(match kind {
        HookKind::Persist => Phase::Persist,
        HookKind::Shutdown | HookKind::Start | HookKind::Reload => Phase::Hooks,
    });
    let started = tokio::time::Instant::now();
    let mut hooks = inner.hooks().of_kind(kind);
    // A managed value is stopped if any of its start hooks succeeded, persisted only if all
    // did; one managed too late is neither.
    hooks.retain(|hook| inner.start_gate().runs(kind, hook.owner));
    let reports = run_phase(hooks, inner.config().hook_timeout()).await;
    (reports, started.elapsed())
}

/// Drained: every task has finished or was cut; the persist hooks are next.
#[must_use = "a drained sequence must persist and shut down"]
pub struct Drained {
    lc: Lifecycle,
    report: ReportBuilder,
}

impl Drained {
    /// Runs the persist hooks (resources are still open), each under its timeout. A hook never
    /// runs concurrently with itself: a periodic run still going is waited for.
    ///
    /// What a persist hook sees: every tracked task has finished, or was aborted at the grace
    /// deadline and stopped, except the ones the report lists as *left running* (stuck in
    /// synchronous code, or blocking): those may still change shared state while the hook takes
    /// its snapshot. Work `lifecycle` does not track is not waited for either: tasks started
    /// with `tokio::spawn`, and the per-connection tasks of a server such as `axum::serve`, which
    /// can still answer a request after the main future was dropped (the connections of
    /// `lifecycle::http::serve` and `lifecycle::axum::serve` are tracked). Track what feeds the state you
    /// persist (`lc.spawn`), or make the snapshot safe against late writers.
    pub async fn persist(mut self) -> Persisted {
        let (hooks, took) = run_hooks(&self.lc, HookKind::Persist).await;
        self.report.persisted(hooks, took);
        Persisted {
            lc: self.lc,
            report: self.report,
        }
    }
}

/// Persisted: the shutdown hooks and the report are next.
#[must_use = "a persisted sequence must shut down to make its report"]
pub struct Persisted {
    lc: Lifecycle,
    report: ReportBuilder,
}

impl Persisted {
    /// Runs the shutdown hooks by ascending order (equal orders concurrently, every hook even
    /// when another fails), aborts the tasks spawned after the drain that are still running,
    /// marks the service Stopped and returns the report.
    pub async fn shut_down(self) -> ShutdownReport {
        let (hooks, took) = run_hooks(&self.lc, HookKind::Shutdown).await;
        let mut report = self.report;
        report.shutdown_hooks_ran(hooks, took);
        let inner = &self.lc.inner();
        report.late_tasks(cut_late_tasks(inner).await);
        let (trigger, at) = inner
            .triggers()
            .fired()
            .unwrap_or((Trigger::MainReturned, tokio::time::Instant::now()));
        inner.triggers().readiness().advance(State::Stopped);
        let total = at.elapsed();
        report.task_failures(inner.tasks().failures());
        let hurried_by = inner.triggers().hurried_by();
        report.added_late(late_reports(inner.hooks()), || {
            inner.start_gate().late_failure()
        });
        let reloads = inner.hooks().reload_record();
        report.reloads(reloads.count, reloads.failures);
        report.restarts(inner.tasks().restarts());
        // The managed values go with their hooks' functions now, not wherever the last handle
        // is dropped: a `Drop` that panics is in the report, not a lost report and exit 101.
        report.drop_panics(inner.hooks().release());
        let mut report = report.finish(trigger, total, hurried_by);
        report.set_format(inner.config().report_format());
        // The process is done: its PID file goes (unless a new process took it over).
        crate::upgrade::remove_pid_file_at_exit();
        inner.triggers().watch().finished(report.code());
        crate::sequence::entry::reported(report.code());
        report
    }
}
