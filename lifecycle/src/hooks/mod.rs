//! Hooks: the code that runs around the service's work, each with a name, an order and a timeout.
//! Four kinds ([`HookKind`]): start hooks (before Ready, with rollback), reload hooks (on SIGHUP
//! or a request), persist hooks (after the drain, while resources are open; optionally also
//! periodic) and shutdown hooks (last, by ascending order). Also what a [`Component`] hands over
//! besides its hooks: its long-running parts ([`Run`], restarted as
//! [`Restart`](crate::tasks::Restart) says), each in a stop [`Stage`](crate::tasks::Stage).

// Folder `hooks/`: the `Hook` type and its one constructor pair, the registry (`HookRegistry`),
// running one phase by order groups (`run_phase`), the start gate (`gate.rs`: where start-up is,
// which calls are main's own), the reload loop (`reload.rs`) and the macro glue (`bind.rs`). Not
// here: when each phase runs (the sequence decides) and spawning (the handle spawns the periodic
// persist and the reload loop).

pub(crate) mod bind;
pub(crate) mod gate;
pub(crate) mod reload;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::checks::Checks;
use crate::failure::{into_result, panic_message, Failure, Outcome};
use crate::lock::lock;
use crate::log::{quietly, whole_ms, Millis};
use crate::triggers::readiness::{Readiness, State};
use crate::triggers::HookTally;

use crate::tasks::run::Run;

/// The order a hook gets when it does not set one.
///
/// # Examples
///
/// ```
/// use lifecycle::hooks::DEFAULT_ORDER;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Hook, Sequence};
///
/// let hook = Hook::new(HookKind::Shutdown, "close pool", || async {});
/// assert_eq!(DEFAULT_ORDER, 0);
/// assert_eq!(hook.order(), DEFAULT_ORDER);
/// ```
pub const DEFAULT_ORDER: i32 = 0;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;

#[derive(Clone)]
enum HookFn {
    Async(Arc<dyn Fn() -> HookFuture + Send + Sync>),
    Blocking(Arc<dyn Fn() -> Result<(), Failure> + Send + Sync>),
    /// Let go of once the shutdown hooks ran (see [`HookRegistry::release`]).
    Released,
}

/// Which phase a hook runs in.
///
/// # Examples
///
/// ```
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(Hook::new(HookKind::Shutdown, "close db", || async {}).with_order(-10));
/// lc.manage(Hook::new(HookKind::Persist, "save cache", || async {}).with_order(50));
/// let report = sequence.run_without_signals(async {}).await;
/// // The persist phase runs first, whatever the orders say.
/// let kinds: Vec<HookKind> = report.hooks.iter().map(|hook| hook.kind).collect();
/// assert_eq!(kinds, [HookKind::Persist, HookKind::Shutdown]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HookKind {
    /// Saves state. Persist hooks run first, right after the drain, while every resource is
    /// still open; they may also run periodically while the service runs (every
    /// [`with_every`](Hook::with_every) period). What a persist hook can and cannot see at
    /// shutdown is described on [`Drained::persist`](crate::sequence::Drained::persist).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let save = || async { Ok::<(), std::io::Error>(()) };
    /// lc.manage(Hook::new(HookKind::Persist, "save sessions", save));
    /// lc.manage(Hook::new(HookKind::Shutdown, "close db", || async {}));
    /// let hooks = sequence.run_without_signals(async {}).await.hooks;
    /// // Persist hooks run first, before any shutdown hook.
    /// assert_eq!((hooks[0].name.as_str(), hooks[0].kind), ("save sessions", HookKind::Persist));
    /// assert_eq!(hooks[1].kind, HookKind::Shutdown);
    /// # }
    /// ```
    Persist,
    /// Releases resources (close pools, flush buffers), after every persist hook.
    ///
    /// After a failed start-up, the shutdown hooks of a managed value run if any of its start
    /// hooks succeeded: they must cope with a partial start (see [`HookKind::Start`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let flag = Arc::clone(&flushed);
    /// let flush = move || flag.store(true, Ordering::SeqCst);
    /// lc.manage(Hook::blocking(HookKind::Shutdown, "flush", flush));
    /// let reports = sequence.run_without_signals(async {}).await.hooks;
    /// assert!(reports[0].outcome.is_ok());
    /// assert!(flushed.load(Ordering::SeqCst));
    /// # }
    /// ```
    Shutdown,
    /// Starts a part of the service (connect, migrate, warm up) before it becomes Ready: it
    /// runs once, under its timeout (default
    /// [`Config::hook_timeout`](crate::Config::hook_timeout)).
    ///
    /// Start hooks run from `main`'s start boundary (see
    /// [`Lifecycle::started`](crate::Lifecycle::started)) in ascending
    /// [`order`](Hook::with_order), equal orders concurrently. One added after the boundary
    /// never runs and fails start-up. When one fails, panics or times out, or start-up is
    /// interrupted (a signal, the [start-up timeout](crate::Config::startup_timeout)), no later
    /// start hook runs, and only what started is stopped: a managed value any of whose start
    /// hooks succeeded gets its shutdown hooks, which must therefore cope with a partial start
    /// (a pool opened whose migration never ran); its persist hooks run only if all its start
    /// hooks succeeded (a half-loaded state must not be saved over a good one); a value none
    /// of whose start hooks succeeded gets neither. The exit code is then
    /// [`EXIT_START_FAILED`](crate::exit::EXIT_START_FAILED).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::exit::EXIT_START_FAILED;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let connect = || async { Err::<(), _>("connection refused") };
    /// lc.manage(Hook::new(HookKind::Start, "connect", connect));
    /// lc.manage(Hook::new(HookKind::Start, "warm cache", || async {}).with_order(10));
    /// let handle = lc.clone();
    /// let report = sequence.run_without_signals(async move { handle.started().await; }).await;
    /// assert_eq!(report.start[0].outcome.to_string(), "failed: connection refused");
    /// assert_eq!(report.start[1].outcome.to_string(), "not run: start-up had stopped");
    /// assert_eq!(report.code(), EXIT_START_FAILED);
    /// # }
    /// ```
    ///
    /// A blocking one, and start-up that succeeds:
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let read_config = || std::fs::metadata(".").map(drop);
    /// lc.manage(Hook::blocking(HookKind::Start, "read config", read_config));
    /// let handle = lc.clone();
    /// let main = async move {
    ///     handle.started().await;
    ///     assert!(handle.state().is_ready());
    /// };
    /// let report = sequence.run_without_signals(main).await;
    /// assert!(report.start[0].outcome.is_ok());
    /// assert_eq!(report.code(), 0);
    /// # }
    /// ```
    Start,
    /// Reloads configuration: runs each time a reload is asked for (SIGHUP when it is not one
    /// of the shutdown [`signals`](crate::Config::signals), or
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
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let loads = Arc::new(AtomicUsize::new(0));
    /// let count = Arc::clone(&loads);
    /// lc.manage(Hook::new(HookKind::Reload, "reread config", move || {
    ///     let count = Arc::clone(&count);
    ///     async move { count.fetch_add(1, SeqCst); }
    /// }));
    /// let handle = lc.clone();
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         handle.started().await;
    ///         handle.request_reload();
    ///         tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    ///     })
    ///     .await;
    /// assert_eq!(loads.load(SeqCst), 1);
    /// assert_eq!(report.reloads, 1);
    /// # }
    /// ```
    Reload,
}

impl HookKind {
    /// `"start"`, `"reload"`, `"persist"` or `"shutdown"`, as logged and reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    ///
    /// assert_eq!(HookKind::Start.as_str(), "start");
    /// assert_eq!(HookKind::Persist.as_str(), "persist");
    /// assert_eq!(HookKind::Shutdown.to_string(), HookKind::Shutdown.as_str());
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            HookKind::Persist => "persist",
            HookKind::Shutdown => "shutdown",
            HookKind::Start => "start",
            HookKind::Reload => "reload",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of cleanup: a name, a phase ([`HookKind`]), an order, a timeout, and the function
/// to run.
///
/// After the drain, persist hooks run, then shutdown hooks. Within a phase hooks run in
/// ascending [`order`](Hook::order) (default [`DEFAULT_ORDER`], 0); hooks with equal order run
/// concurrently. Every hook runs even when another one fails, panics or times out; each outcome
/// is recorded in the [`ShutdownReport`](crate::ShutdownReport).
///
/// `#[lifecycle::on_shutdown]` and `#[lifecycle::persist]` build hooks for you; build one by hand
/// to register a closure with [`Lifecycle::manage`](crate::Lifecycle::manage).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::hooks::HookOutcome;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(
///     Hook::new(HookKind::Shutdown, "close pool", || async { Ok::<(), std::io::Error>(()) })
///         .with_order(100)
///         .with_timeout(Duration::from_secs(2)),
/// );
/// lc.manage(Hook::blocking(HookKind::Shutdown, "flush metrics", || ()).with_order(10));
///
/// lc.request_shutdown();
/// let report = sequence.run_without_signals(async {}).await.hooks;
/// // Ascending order: the flush (10) ran before the pool closed (100).
/// assert_eq!(report[0].name, "flush metrics");
/// assert_eq!(report[1].name, "close pool");
/// assert!(report.iter().all(|hook| hook.outcome == HookOutcome::Ok));
/// # }
/// ```
#[derive(Clone)]
pub struct Hook {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: HookKind,
    pub(crate) order: i32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) every: Option<Duration>,
    /// The managed value this hook belongs to (set by [`Lifecycle::manage`]): a value whose
    /// start hooks did not all succeed is not stopped or persisted.
    ///
    /// [`Lifecycle::manage`]: crate::Lifecycle::manage
    pub(crate) owner: Option<u64>,
    /// A start hook added after the start boundary: it never runs (set by the registry).
    pub(crate) late: bool,
    run: HookFn,
    /// Held while the hook's body runs: a hook never runs concurrently with itself.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("order", &self.order)
            .field("timeout", &self.timeout)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Hook {
    fn with(kind: HookKind, name: Cow<'static, str>, run: HookFn) -> Self {
        Self {
            name,
            kind,
            order: DEFAULT_ORDER,
            timeout: None,
            every: None,
            owner: None,
            late: false,
            run,
            running: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// A hook of `kind` from an async function: `f` is called each time the hook runs, and its
    /// output says whether the run succeeded (`()`, `Result<(), E>`, see [`Outcome`]). What each
    /// kind does, and when it runs, is on its [`HookKind`] variant. The timeout is
    /// [`Config::hook_timeout`](crate::Config::hook_timeout) unless
    /// [`with_timeout`](Hook::with_timeout) sets one.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let close = || async { Err::<(), _>("pool busy") };
    /// lc.manage(Hook::new(HookKind::Shutdown, "close pool", close));
    /// let reports = sequence.run_without_signals(async {}).await.hooks;
    /// assert_eq!((reports[0].name.as_str(), reports[0].kind), ("close pool", HookKind::Shutdown));
    /// assert_eq!(reports[0].outcome.to_string(), "failed: pool busy");
    /// # }
    /// ```
    pub fn new<F, Fut>(kind: HookKind, name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let run: Arc<dyn Fn() -> HookFuture + Send + Sync> = Arc::new(move || {
            let fut = f();
            Box::pin(async move { into_result(fut.await) })
        });
        Self::with(kind, name.into(), HookFn::Async(run))
    }

    /// A hook of `kind` from a blocking function, run on Tokio's blocking pool (see
    /// [`Hook::new`]). Its timeout still holds: the sequence moves on without it (a blocking
    /// thread cannot be interrupted).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let disk = Arc::new(Mutex::new(Vec::new()));
    /// let file = Arc::clone(&disk);
    /// let save = move || file.lock().unwrap().push("state");
    /// lc.manage(Hook::blocking(HookKind::Persist, "save", save));
    /// let flush = || std::fs::metadata(".").map(drop); // any `Outcome`: here an io::Result
    /// lc.manage(Hook::blocking(HookKind::Shutdown, "flush", flush));
    /// let reports = sequence.run_without_signals(async {}).await.hooks;
    /// assert!(reports.iter().all(|hook| hook.outcome.is_ok()));
    /// assert_eq!(*disk.lock().unwrap(), ["state"]);
    /// # }
    /// ```
    pub fn blocking<F, R>(kind: HookKind, name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: Outcome,
    {
        let run: Arc<dyn Fn() -> Result<(), Failure> + Send + Sync> =
            Arc::new(move || into_result(f()));
        Self::with(kind, name.into(), HookFn::Blocking(run))
    }

    /// Sets the order: lower runs first, equal orders run concurrently. Default
    /// [`DEFAULT_ORDER`] (0); negative values run before the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.manage(Hook::new(HookKind::Shutdown, "close pool", || async {}).with_order(100));
    /// lc.manage(Hook::new(HookKind::Shutdown, "default", || async {}));
    /// lc.manage(Hook::new(HookKind::Shutdown, "stop intake", || async {}).with_order(-1));
    /// let reports = sequence.run_without_signals(async {}).await.hooks;
    /// let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    /// assert_eq!(names, ["stop intake", "default", "close pool"]);
    /// # }
    /// ```
    #[must_use]
    pub fn with_order(mut self, order: i32) -> Self {
        self.order = order;
        self
    }

    /// Sets this hook's timeout, instead of [`Config::hook_timeout`](crate::Config::hook_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::hooks::HookOutcome;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let stuck = Hook::new(HookKind::Shutdown, "stuck", std::future::pending::<()>);
    /// lc.manage(stuck.with_timeout(Duration::from_secs(1)));
    /// let reports = sequence.run_without_signals(async {}).await.hooks;
    /// assert_eq!(reports[0].outcome, HookOutcome::TimedOut(Duration::from_secs(1)));
    /// # }
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Also runs this persist hook every `period` while the service runs (in a tracked task that
    /// stops when the root token is cancelled), so a crash or SIGKILL loses at most one period.
    /// Ignored on shutdown hooks (a warning is logged when such a hook is added).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let saves = Arc::new(AtomicUsize::new(0));
    /// let count = Arc::clone(&saves);
    /// let save = move || {
    ///     let count = Arc::clone(&count);
    ///     async move { count.fetch_add(1, SeqCst); }
    /// };
    /// lc.manage(Hook::new(HookKind::Persist, "checkpoint", save).with_every(Duration::from_secs(60)));
    /// lc.set_ready(); // the periodic runs start here
    /// tokio::time::sleep(Duration::from_secs(150)).await; // paused clock: instant
    /// assert_eq!(saves.load(SeqCst), 2); // at 60 s and 120 s
    /// sequence.run_without_signals(async {}).await;
    /// assert_eq!(saves.load(SeqCst), 3); // and once more at shutdown
    /// # }
    /// ```
    #[must_use]
    pub fn with_every(mut self, period: Duration) -> Self {
        self.every = Some(period);
        self
    }

    /// The hook's name, as reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Hook;
    /// use lifecycle::hooks::HookKind;
    ///
    /// let hook = Hook::new(HookKind::Shutdown, "close pool", || async {});
    /// assert_eq!(hook.name(), "close pool");
    /// let shard = 3;
    /// let hook = Hook::new(HookKind::Persist, format!("save shard {shard}"), || async {});
    /// assert_eq!(hook.name(), "save shard 3");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hook's phase.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::Hook;
    ///
    /// assert_eq!(Hook::blocking(HookKind::Persist, "save", || ()).kind(), HookKind::Persist);
    /// assert_eq!(Hook::new(HookKind::Shutdown, "close", || async {}).kind(), HookKind::Shutdown);
    /// ```
    pub fn kind(&self) -> HookKind {
        self.kind
    }

    /// The hook's order.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Hook;
    /// use lifecycle::hooks::HookKind;
    ///
    /// let hook = Hook::new(HookKind::Shutdown, "close pool", || async {});
    /// assert_eq!(hook.order(), 0);
    /// assert_eq!(hook.with_order(100).order(), 100);
    /// ```
    pub fn order(&self) -> i32 {
        self.order
    }

    /// The hook's own timeout, if it set one (otherwise [`Config::hook_timeout`] applies).
    ///
    /// [`Config::hook_timeout`]: crate::Config::hook_timeout
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::Hook;
    /// use lifecycle::hooks::HookKind;
    ///
    /// let hook = Hook::new(HookKind::Shutdown, "close pool", || async {});
    /// assert_eq!(hook.timeout(), None);
    /// let hook = hook.with_timeout(Duration::from_secs(2));
    /// assert_eq!(hook.timeout(), Some(Duration::from_secs(2)));
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// How often this persist hook also runs while the service runs, if it does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::Hook;
    /// use lifecycle::hooks::HookKind;
    ///
    /// let hook = Hook::new(HookKind::Persist, "save", || async {}).with_every(Duration::from_secs(10));
    /// assert_eq!(hook.every(), Some(Duration::from_secs(10)));
    /// ```
    pub fn every(&self) -> Option<Duration> {
        self.every
    }

    pub(crate) fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }

    /// Runs the hook once under its timeout and records the outcome. The hook runs in a task of
    /// its own, so a panic is caught and a timeout can abort it.
    ///
    /// A hook never runs concurrently with itself: a run first takes the hook's own lock (every
    /// clone of a hook shares it), and holds it until the body has ended. Dropping this future
    /// (a periodic persist aborted at the grace deadline) aborts an async body; a blocking body
    /// cannot be interrupted and keeps the lock until it returns, so the final persist waits for
    /// it, within its own timeout, instead of racing it.
    pub(crate) async fn run_once(&self, default_timeout: Duration) -> HookReport {
        let timeout = self.timeout_or(default_timeout);
        let started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, self.run_alone()).await {
            Ok(outcome) => outcome,
            Err(_) => HookOutcome::TimedOut(timeout),
        };
        self.report(outcome, started)
    }

    /// The report of one run that began at `started`, logged.
    pub(crate) fn report(&self, outcome: HookOutcome, started: Instant) -> HookReport {
        let report = HookReport {
            name: self.name.to_string(),
            kind: self.kind,
            order: self.order,
            outcome,
            duration: started.elapsed(),
        };
        report.log();
        report.record();
        report
    }

    async fn run_alone(&self) -> HookOutcome {
        let alone = Arc::clone(&self.running).lock_owned().await;
        let handle = match &self.run {
            HookFn::Async(f) => {
                let f = Arc::clone(f);
                tokio::spawn(async move {
                    let _alone = alone;
                    f().await
                })
            }
            HookFn::Blocking(f) => {
                let f = Arc::clone(f);
                tokio::task::spawn_blocking(move || {
                    let _alone = alone;
                    f()
                })
            }
            HookFn::Released => {
                return HookOutcome::Lost("the lifecycle had shut down and let go of it".to_owned())
            }
        };
        match AbortOnDrop(handle).await {
            Ok(Ok(())) => HookOutcome::Ok,
            Ok(Err(failure)) => HookOutcome::Failed(failure),
            Err(err) if err.is_panic() => HookOutcome::Panicked(panic_message(&*err.into_panic())),
            Err(_) => HookOutcome::Lost("the hook's task was cancelled".to_owned()),
        }
    }
}

/// A task handle that aborts its task when dropped: whoever stops waiting for a hook's body
/// stops the body too (an async one; a blocking one runs to its end).
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// How one hook ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::hooks::HookOutcome;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_hook_timeout(Duration::from_secs(1)));
/// let lc = sequence.handle();
/// lc.manage(Hook::new(HookKind::Shutdown, "stuck", std::future::pending::<()>));
/// let outcome = &sequence.run_without_signals(async {}).await.hooks[0].outcome;
/// assert_eq!(*outcome, HookOutcome::TimedOut(Duration::from_secs(1)));
/// assert_eq!(outcome.to_string(), "timed out after 1.000s");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookOutcome {
    /// It returned `Ok` or `()`.
    Ok,
    /// It returned `Err`.
    Failed(Failure),
    /// It panicked; the text is the panic message.
    Panicked(String),
    /// It ran past its timeout (shown) and was aborted.
    TimedOut(Duration),
    /// What became of it is unknown: the task that ran it ended without a report (the text says
    /// how). Counted as a failure: a persist hook that cannot be shown to have written its state
    /// did not.
    Lost(String),
    /// A start hook that never ran: start-up had stopped before its order came.
    NotRun,
    /// A start hook that never ran because it was added after start-up began (its value
    /// managed after `main` reached `lc.started().await`, or another start boundary): a
    /// start-up failure. See [`Lifecycle::manage`](crate::Lifecycle::manage).
    AddedLate,
    /// A start hook stopped while it ran: a signal or another trigger, or the start-up
    /// timeout, ended start-up.
    Interrupted,
}

impl HookOutcome {
    /// Whether the hook succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookOutcome;
    /// use lifecycle::Sequence;
    ///
    /// assert!(HookOutcome::Ok.is_ok());
    /// assert!(!HookOutcome::Failed(lifecycle::Failure::new("disk full")).is_ok());
    /// assert!(!HookOutcome::Panicked("oops".into()).is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, HookOutcome::Ok)
    }

    /// The outcome's name, without its details: the JSON report's `outcome` and the metrics'
    /// `outcome` label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            HookOutcome::Ok => "ok",
            HookOutcome::Failed(_) => "failed",
            HookOutcome::Panicked(_) => "panicked",
            HookOutcome::TimedOut(_) => "timed_out",
            HookOutcome::Lost(_) => "lost",
            HookOutcome::NotRun => "not_run",
            HookOutcome::AddedLate => "added_late",
            HookOutcome::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::Ok => f.write_str("ok"),
            HookOutcome::Failed(error) => write!(f, "failed: {error:#}"),
            HookOutcome::Panicked(message) => write!(f, "panicked: {message}"),
            HookOutcome::TimedOut(limit) => write!(f, "timed out after {}", Millis(*limit)),
            HookOutcome::Lost(how) => write!(f, "report lost: {how}"),
            HookOutcome::NotRun => f.write_str("not run: start-up had stopped"),
            HookOutcome::AddedLate => f.write_str(
                "not run: managed after start-up began; manage it before `lc.started().await`",
            ),
            HookOutcome::Interrupted => f.write_str("interrupted: start-up stopped"),
        }
    }
}

/// One hook's run.
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
/// let save = || tokio::time::sleep(Duration::from_millis(200));
/// lc.manage(Hook::new(HookKind::Persist, "save", save).with_order(7));
/// let hook = &sequence.run_without_signals(async {}).await.hooks[0];
/// assert_eq!((hook.name.as_str(), hook.kind, hook.order), ("save", HookKind::Persist, 7));
/// assert!(hook.outcome.is_ok());
/// assert_eq!(hook.duration, Duration::from_millis(200)); // paused clock: exact
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookReport {
    /// The hook's name.
    pub name: String,
    /// Its phase.
    pub kind: HookKind,
    /// Its order.
    pub order: i32,
    /// How it ended.
    pub outcome: HookOutcome,
    /// How long it ran (up to its timeout).
    pub duration: Duration,
}

/// A value held by a hook (a managed value: the hook's `Arc<C>`) whose `Drop` panicked when the
/// lifecycle let go of it, after the shutdown hooks ran. Part of the report; counts as a failed
/// hook ([`EXIT_HOOK_FAILED`](crate::exit::EXIT_HOOK_FAILED)): the hooks ran, but releasing
/// what they held did not go cleanly.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Component, Config, Hook, Sequence};
///
/// struct Pool;
/// impl Component for Pool {
///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
///         vec![Hook::new(HookKind::Shutdown, "Pool::close", move || {
///             let _pool = Arc::clone(&self);
///             async {}
///         })]
///     }
/// }
/// impl Drop for Pool {
///     fn drop(&mut self) {
///         panic!("pool poisoned");
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// sequence.handle().manage(Arc::new(Pool));
/// let report = sequence.run_without_signals(async {}).await;
/// assert_eq!(report.drop_panics[0].hook, "Pool::close");
/// assert_eq!(report.drop_panics[0].message, "pool poisoned");
/// assert_eq!(report.code(), lifecycle::exit::EXIT_HOOK_FAILED);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropPanic {
    /// The hook that held the value (for a managed value, one of its hooks: `Db::close`).
    pub hook: String,
    /// The panic's message.
    pub message: String,
}

impl fmt::Display for DropPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a value held by `{}` panicked when dropped: {}",
            self.hook, self.message
        )
    }
}

impl HookReport {
    /// Counts the outcome, and the duration of a hook that ran (feature `metrics`).
    pub(crate) fn record(&self) {
        let ran = !matches!(self.outcome, HookOutcome::NotRun | HookOutcome::AddedLate);
        let kind = self.kind.as_str();
        crate::metrics::hook_ended(kind, self.outcome.label(), ran.then_some(self.duration));
    }

    pub(crate) fn log(&self) {
        let elapsed_ms = whole_ms(self.duration);
        quietly(|| {
            if self.outcome.is_ok() {
                tracing::debug!(hook = %self.name, kind = %self.kind, order = self.order, elapsed_ms, "hook ok");
            } else {
                tracing::warn!(hook = %self.name, kind = %self.kind, order = self.order, elapsed_ms, outcome = %self.outcome, "hook did not succeed");
            }
        });
    }
}

/// A value whose hooks [`Lifecycle::manage`](crate::Lifecycle::manage) registers.
///
/// `#[lifecycle::component]` on an `impl` block implements this from the block's
/// `#[on_shutdown]` and `#[persist]` methods. Implement it by hand to build hooks at run time.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Component, Config, Hook, Sequence};
///
/// struct Cache;
///
/// impl Cache {
///     async fn flush(&self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// impl Component for Cache {
///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
///         vec![Hook::new(HookKind::Shutdown, "Cache::flush", move || {
///             let cache = Arc::clone(&self);
///             async move { cache.flush().await }
///         })]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(Arc::new(Cache));
/// assert_eq!(lc.budget().hooks(), 1);
/// # }
/// ```
pub trait Component: Send + Sync + 'static {
    /// The hooks of this value; each holds its own `Arc` to it.
    fn hooks(self: Arc<Self>) -> Vec<Hook>;

    /// The long-running parts of this value (`#[run]` methods), spawned by
    /// [`Lifecycle::manage`](crate::Lifecycle::manage) when the service is Ready. None unless
    /// implemented.
    fn runs(self: Arc<Self>) -> Vec<Run> {
        Vec::new()
    }

    /// Adds the readiness checks of this value (`#[check]` methods) with
    /// [`checks.check(name)`](Checks::check), the same [`Check`](crate::checks::Check) as
    /// [`Lifecycle::check`](crate::Lifecycle::check); called by
    /// [`Lifecycle::manage`](crate::Lifecycle::manage) once the value's hooks are registered.
    /// The checks run once the service is Ready. None unless implemented (see [`Checks`] for
    /// one written by hand).
    fn checks(self: Arc<Self>, checks: Checks<'_>) {
        let _ = checks;
    }

    /// Adds the hooks of this component to `this`: what `#[lifecycle::component]` generates,
    /// once for both uses. Bound to the managed value, they are its
    /// [`hooks`](Component::hooks) (`__private::bound`); bound to none, what the budget printed
    /// before start-up counts (`__private::declared`). Adds none unless implemented: the budget
    /// does not count a hand-written `hooks`.
    #[doc(hidden)]
    fn add_hooks(this: &mut crate::hooks::bind::Bind<Self>)
    where
        Self: Sized,
    {
        let _ = this;
    }
}

/// The hooks registered with one lifecycle, and what follows from them: the budget of each
/// phase, and which periodic persist hooks to start.
pub(crate) struct HookRegistry {
    hooks: Mutex<Vec<Hook>>,
    /// Set (under the `hooks` lock) once the start phase takes no more start hooks: one added
    /// after that never runs, and [`add`](Self::add) says so.
    start_closed: AtomicBool,
    default_timeout: Duration,
    /// Told the budget and whether a reload hook exists after each registration.
    tally: Arc<HookTally>,
    /// What the reloads did, for the report.
    reloads: Mutex<reload::ReloadRecord>,
}

/// What [`HookRegistry::add_all`] found.
pub(crate) struct Added {
    /// Periodic persist hooks to start now: the service is Ready already.
    pub(crate) start_periodic: Vec<Hook>,
    /// The start hooks added after the start phase stopped taking them: they never run, nor
    /// does any other hook of the batch (the batch's persist hooks are not started either).
    pub(crate) too_late_to_start: Vec<Hook>,
}

impl HookRegistry {
    pub(crate) fn new(default_timeout: Duration, tally: Arc<HookTally>) -> Self {
        Self {
            hooks: Mutex::new(Vec::new()),
            start_closed: AtomicBool::new(false),
            default_timeout,
            tally,
            reloads: Mutex::default(),
        }
    }

    /// Registers `batch` (one managed value's hooks, or one hook) at once. The state is read
    /// under the lock [`on_ready`](Self::on_ready) moves it under, so a periodic persist hook
    /// added at the same moment is started exactly once; and under the lock
    /// [`close_start`](Self::close_start) closes the start phase under, so a start hook is
    /// either run or known never to run. A batch with a start hook added too late is marked
    /// late whole: none of it runs.
    pub(crate) fn add_all(&self, batch: Vec<Hook>, readiness: &Readiness) -> Added {
        let mut hooks = lock(&self.hooks);
        let late = self.start_closed.load(Ordering::Relaxed)
            && batch.iter().any(|hook| hook.kind == HookKind::Start);
        let ready = readiness.get() == State::Ready;
        let mut added = Added {
            start_periodic: Vec::new(),
            too_late_to_start: Vec::new(),
        };
        for mut hook in batch {
            if late && hook.kind == HookKind::Start {
                hook.late = true;
                added.too_late_to_start.push(hook.clone());
            }
            if !late && ready && hook.kind == HookKind::Persist && hook.every.is_some() {
                added.start_periodic.push(hook.clone());
            }
            hooks.push(hook);
        }
        let reload = hooks.iter().any(|hook| hook.kind == HookKind::Reload);
        self.tally.set(budget(&hooks, self.default_timeout), reload);
        added
    }

    /// Closes the start phase to new start hooks: one registered from now on never runs.
    pub(crate) fn close_start(&self) {
        let _hooks = lock(&self.hooks);
        self.start_closed.store(true, Ordering::Relaxed);
    }

    /// Moves readiness to Ready and returns the periodic persist hooks to start; `None` if it
    /// was Ready (or past it) already.
    pub(crate) fn on_ready(&self, readiness: &Readiness) -> Option<Vec<Hook>> {
        let hooks = lock(&self.hooks);
        if !readiness.advance(State::Ready) {
            return None;
        }
        let periodic = hooks
            .iter()
            .filter(|hook| hook.kind == HookKind::Persist && hook.every.is_some())
            .cloned()
            .collect();
        Some(periodic)
    }

    pub(crate) fn all(&self) -> Vec<Hook> {
        lock(&self.hooks).clone()
    }

    /// Lets go of every hook's function once the shutdown hooks ran, and with them of what they
    /// hold: the managed values (`Arc<C>`), whose `Drop` runs here when nothing else holds them,
    /// before the report is made, rather than wherever the last handle happens to be dropped. A
    /// `Drop` that panics is caught and returned, named by the hook that held the value; the
    /// others are still let go of. The hooks keep their names (the report still lists them);
    /// one run after this is
    /// [`HookOutcome::Lost`].
    pub(crate) fn release(&self) -> Vec<DropPanic> {
        let released: Vec<(String, HookFn)> = lock(&self.hooks)
            .iter_mut()
            .map(|hook| {
                let run = std::mem::replace(&mut hook.run, HookFn::Released);
                (hook.name.to_string(), run)
            })
            .collect();
        // Outside the lock, one at a time: a `Drop` may do anything, even add a hook.
        released
            .into_iter()
            .filter_map(|(hook, run)| {
                let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
                let message = panic_message(&*dropped.err()?);
                quietly(|| tracing::error!(hook = %hook, panic = %message, "a value held by a hook panicked when dropped"));
                Some(DropPanic { hook, message })
            })
            .collect()
    }

    pub(crate) fn of_kind(&self, kind: HookKind) -> Vec<Hook> {
        lock(&self.hooks)
            .iter()
            .filter(|hook| hook.kind == kind)
            .cloned()
            .collect()
    }

    /// The persist and shutdown hooks' budget (see [`phase_budget`]), and how many of them
    /// there are.
    pub(crate) fn budget_and_count(&self) -> (Duration, usize) {
        let hooks = lock(&self.hooks);
        let counted = hooks
            .iter()
            .filter(|hook| matches!(hook.kind, HookKind::Persist | HookKind::Shutdown))
            .count();
        (budget(&hooks, self.default_timeout), counted)
    }
}

/// What `hooks` may take at shutdown: the persist phase's budget plus the shutdown phase's (see
/// [`phase_budget`]).
pub(crate) fn budget(hooks: &[Hook], default_timeout: Duration) -> Duration {
    let of = |kind| phase_budget(hooks.iter().filter(|h| h.kind == kind), default_timeout);
    of(HookKind::Persist).saturating_add(of(HookKind::Shutdown))
}

/// Runs the hooks of one phase: groups by ascending order, each group concurrently, every hook
/// to its end or its timeout. Reports come back in run order (registration order within a group).
pub(crate) async fn run_phase(hooks: Vec<Hook>, default_timeout: Duration) -> Vec<HookReport> {
    let mut reports = Vec::new();
    for group in by_order(hooks) {
        reports.extend(run_group(group, default_timeout).await);
    }
    reports
}

/// `hooks` in groups of equal order, ascending; registration order within a group.
pub(crate) fn by_order(hooks: Vec<Hook>) -> Vec<Vec<Hook>> {
    let mut groups: BTreeMap<i32, Vec<Hook>> = BTreeMap::new();
    for hook in hooks {
        groups.entry(hook.order).or_default().push(hook);
    }
    groups.into_values().collect()
}

/// Runs one group of hooks concurrently, every hook to its end or its timeout. Reports come
/// back in registration order.
pub(crate) async fn run_group(group: Vec<Hook>, default_timeout: Duration) -> Vec<HookReport> {
    let runs: Vec<_> = group
        .into_iter()
        .map(|hook| {
            let started = Instant::now();
            let runner = hook.clone();
            let run = tokio::spawn(async move { runner.run_once(default_timeout).await });
            (AbortOnDrop(run), hook, started)
        })
        .collect();
    let mut reports = Vec::with_capacity(runs.len());
    for (run, hook, started) in runs {
        // `run_once` catches the hook's own panic; this join fails only when the runner
        // itself died (a panic in code around the hook) or the runtime is going away. The
        // hook's outcome is then unknown, and unknown is not success.
        let report = match run.await {
            Ok(report) => report,
            Err(err) => {
                let how = if err.is_panic() {
                    format!("its runner panicked: {}", panic_message(&*err.into_panic()))
                } else {
                    "its runner was cancelled".to_owned()
                };
                hook.report(HookOutcome::Lost(how), started)
            }
        };
        reports.push(report);
    }
    reports
}

/// The longest the hooks of one phase can take: the largest timeout of each order group, added up.
pub(crate) fn phase_budget<'a>(
    hooks: impl Iterator<Item = &'a Hook>,
    default: Duration,
) -> Duration {
    let mut groups: BTreeMap<i32, Duration> = BTreeMap::new();
    for hook in hooks {
        let longest = groups.entry(hook.order).or_default();
        *longest = (*longest).max(hook.timeout_or(default));
    }
    groups
        .values()
        .fold(Duration::ZERO, |sum, d| sum.saturating_add(*d))
}
