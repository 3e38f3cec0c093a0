//! The `Lifecycle` handle and the steps of the shutdown sequence.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
use tokio_util::task::TaskTracker;

use crate::failure::{panic_message, Failure, IntoFailure};
use crate::hooks::{phase_budget, run_phase};
use crate::log::{log_or_stderr, quietly, whole_ms, Millis};
use crate::report::{AbortedTask, PhaseTimings, MAX_TASKS_NAMED};
use crate::task::{Cut, Failures, LiveTasks};
use crate::watchdog::{self, Ears, Phase, Rules, Watch};
use crate::{
    Component, Config, Hook, HookKind, HookReport, MainOutcome, ShutdownReport, Signal,
    SignalError, State, Trigger,
};

/// How long the sequence gives aborted tasks to stop before it says which did not.
const ABORT_SETTLE: Duration = Duration::from_millis(100);

/// Locks a mutex, carrying on through poisoning: every critical section here leaves its data
/// consistent, and a shutdown must not fail because some other thread panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every live lifecycle by id, so that a task can reach its lifecycle in the rare event of a
/// panic without holding a reference count on it (see `task::Recorder`).
static REGISTRY: Mutex<Vec<(u64, Weak<Inner>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The lifecycle with this id, if it is still alive.
pub(crate) fn find(id: u64) -> Option<Arc<Inner>> {
    lock(&REGISTRY)
        .iter()
        .find(|(entry, _)| *entry == id)
        .and_then(|(_, inner)| inner.upgrade())
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    config: Config,
    /// Cancelled when the drain starts (after the drain delay); every token handed out is its child.
    root: CancellationToken,
    /// Cancelled at the trigger, before the drain delay.
    triggered: CancellationToken,
    /// Cancelled by a signal that must not force the exit (the first one after another
    /// trigger, or any later one when forcing is off): cuts the drain delay short.
    hurry: CancellationToken,
    /// The first signal that hurried the shutdown instead of starting it.
    hurried_by: Mutex<Option<Signal>>,
    /// The trigger, when it fired (on Tokio's clock, which tests pause) and when it fired on the
    /// wall clock (which the watchdog thread's deadline counts from).
    trigger: Mutex<Option<(Trigger, Instant, std::time::Instant)>>,
    state: watch::Sender<State>,
    pub(crate) tracker: TaskTracker,
    pub(crate) live: LiveTasks,
    pub(crate) failures: Mutex<Failures>,
    /// Set when the drain is over: tasks spawned after it are late (nothing waits for them).
    pub(crate) drained: AtomicBool,
    hooks: Mutex<Vec<Hook>>,
    draft: Mutex<Draft>,
    /// Shared with the watchdog thread: the hard deadline, the phase, the final code.
    watch: Arc<Watch>,
}

/// The parts of the report filled in step by step.
#[derive(Default)]
struct Draft {
    main: Option<MainOutcome>,
    timings: PhaseTimings,
    tasks_aborted: Vec<AbortedTask>,
    tasks_aborted_total: usize,
    hooks: Vec<HookReport>,
}

impl Draft {
    fn record_aborted(&mut self, aborted: Vec<AbortedTask>) {
        self.tasks_aborted_total = self.tasks_aborted_total.saturating_add(aborted.len());
        let room = MAX_TASKS_NAMED.saturating_sub(self.tasks_aborted.len());
        self.tasks_aborted.extend(aborted.into_iter().take(room));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&REGISTRY).retain(|(id, _)| *id != self.id);
    }
}

impl Inner {
    /// Moves the state forward to `to`; never back. Returns whether it moved.
    fn advance(&self, to: State) -> bool {
        self.state.send_if_modified(|state| {
            let moved = *state < to;
            if moved {
                *state = to;
            }
            moved
        })
    }

    fn hook_budget(&self) -> Duration {
        let hooks = lock(&self.hooks);
        let default = self.config.hook_timeout;
        let persist = phase_budget(
            hooks.iter().filter(|h| h.kind == HookKind::Persist),
            default,
        );
        let shutdown = phase_budget(
            hooks.iter().filter(|h| h.kind == HookKind::Shutdown),
            default,
        );
        persist.saturating_add(shutdown)
    }

    fn worst_case_shutdown(&self) -> Duration {
        self.config.worst_case_shutdown(self.hook_budget())
    }

    /// Starts the shutdown unless it has started already, then logs it. Returns whether this
    /// call started it.
    pub(crate) fn trigger(&self, trigger: Trigger) -> bool {
        let started = self.trigger_quietly(trigger.clone());
        if started {
            self.log_trigger(&trigger);
        }
        started
    }

    /// Starts the shutdown unless it has started already, without a word: everything that must
    /// happen (readiness, the cancelled `triggered` token, the hard deadline) happens before
    /// anything is written, so a logger that blocks or panics cannot stop the shutdown. Safe on
    /// the watchdog thread: takes only locks that are never held across a wait.
    fn trigger_quietly(&self, trigger: Trigger) -> bool {
        let at = std::time::Instant::now();
        {
            let mut slot = lock(&self.trigger);
            if slot.is_some() {
                return false;
            }
            *slot = Some((trigger, Instant::now(), at));
        }
        self.advance(State::Draining);
        self.triggered.cancel();
        self.watch
            .arm(at, self.config.hard_deadline(self.hook_budget()));
        true
    }

    fn log_trigger(&self, trigger: &Trigger) {
        let worst_case_ms = whole_ms(self.worst_case_shutdown());
        quietly(|| {
            tracing::info!(
                trigger = %trigger,
                worst_case_ms,
                "shutdown triggered; readiness is now draining"
            );
        });
    }

    /// Sets the hard deadline again from the hooks registered now (hooks added while draining
    /// lengthen the worst case).
    fn rearm(&self) {
        let at = lock(&self.trigger).as_ref().map(|(_, _, at)| *at);
        if let Some(at) = at {
            self.watch
                .arm(at, self.config.hard_deadline(self.hook_budget()));
        }
    }

    /// A signal heard on the watchdog thread that is the first one: it starts the shutdown, or,
    /// when something else started it, hurries it.
    fn first_signal(&self, signal: Signal) -> Note {
        if self.trigger_quietly(Trigger::Signal(signal)) {
            return Note::Triggered(signal);
        }
        lock(&self.hurried_by).get_or_insert(signal);
        self.hurry.cancel();
        Note::Hurried(signal)
    }
}

/// What the watchdog thread heard, logged from the app's runtime (the watchdog never writes).
enum Note {
    Triggered(Signal),
    Hurried(Signal),
    Again(Signal),
    Ignored(Signal),
    Repeated(Signal),
}

impl Note {
    fn log(&self, inner: &Inner) {
        match *self {
            Note::Triggered(signal) => inner.log_trigger(&Trigger::Signal(signal)),
            Note::Hurried(signal) => tracing::info!(
                signal = %signal,
                "{signal} after the shutdown had started: cutting the drain delay short; a second signal forces the exit"
            ),
            Note::Again(signal) => tracing::info!(
                signal = %signal,
                "signal during shutdown: skipping the rest of the drain delay"
            ),
            // Written even without a subscriber: a signal that would have killed the process
            // before is now ignored, and the operator who sent it must learn why.
            Note::Ignored(signal) => log_or_stderr(
                tracing::Level::WARN,
                &format!(
                    "lifecycle: {signal} ignored: not a shutdown signal (add it to `signals` to stop on it)"
                ),
            ),
            Note::Repeated(signal) => tracing::debug!(
                signal = %signal,
                "{signal} repeated within the repeat window: the same request, delivered twice"
            ),
        }
    }
}

/// The lifecycle's side of the watchdog: turns what it hears into triggers and notes. Holds the
/// lifecycle weakly; sends notes without waiting.
struct Hearing {
    inner: Weak<Inner>,
    notes: mpsc::UnboundedSender<Note>,
}

impl Ears for Hearing {
    fn first(&self, signal: Signal) {
        if let Some(inner) = self.inner.upgrade() {
            let _ = self.notes.send(inner.first_signal(signal));
        }
    }

    fn again(&self, signal: Signal) {
        if let Some(inner) = self.inner.upgrade() {
            inner.hurry.cancel();
            let _ = self.notes.send(Note::Again(signal));
        }
    }

    fn ignored(&self, signal: Signal, repeat: bool) {
        let note = if repeat {
            Note::Repeated(signal)
        } else {
            Note::Ignored(signal)
        };
        let _ = self.notes.send(note);
    }
}

/// A handle to one service's lifecycle: its cancellation tree, tracked tasks, hooks, readiness
/// and shutdown sequence. Cheap to clone; every clone is the same lifecycle.
///
/// # Concepts
///
/// - **Trigger.** The shutdown starts at the first of: a signal (once
///   [`listen_for_signals`](Lifecycle::listen_for_signals) was called), the main future returning,
///   [`shutdown`](Lifecycle::shutdown) called from anywhere, or a
///   [critical task](Lifecycle::spawn_critical) failing.
/// - **Readiness.** [`state`](Lifecycle::state) moves Starting → Ready → Draining → Stopped and
///   becomes Draining at the trigger itself.
/// - **Cancellation.** One root token, cancelled after the drain delay; [`token`](Lifecycle::token)
///   hands out children, [`cancelled_owned`](Lifecycle::cancelled_owned) plugs into
///   `axum::serve(..).with_graceful_shutdown(..)`.
/// - **Drain.** The main future and every tracked task get the grace period to finish; the drain
///   ends the moment they have, and aborts whatever is left at the deadline.
/// - **Hooks.** Then persist hooks, then shutdown hooks, by ascending order (see [`Hook`]).
/// - **Report.** [`finish`](Lifecycle::finish) returns a [`ShutdownReport`] with the exit code.
///
/// [`run`](crate::run) and `#[lifecycle::main]` do all of this for you; the steps are public so
/// the generated code can show them one call each, and so you can drive them yourself.
///
/// # Examples
///
/// The whole sequence inside a runtime you already have:
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Lifecycle, Trigger};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(10)));
/// let worker = lc.token();
/// lc.spawn_named("worker", async move {
///     worker.cancelled().await;
///     tokio::time::sleep(Duration::from_millis(200)).await; // finish the current job
/// });
///
/// let handle = lc.clone();
/// let report = lc
///     .run(async move {
///         handle.shutdown(); // e.g. from an admin endpoint
///         handle.cancelled().await;
///     })
///     .await;
///
/// assert!(matches!(report.trigger, Trigger::Requested { .. }));
/// assert!(report.tasks_aborted.is_empty());
/// // The drain returned when the worker finished, not at the 10 s deadline.
/// assert!(report.timings.drain < Duration::from_secs(1));
/// assert_eq!(report.code(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("state", &self.state())
            .field("trigger", &self.trigger())
            .field("tasks_running", &self.tasks_running())
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// A new lifecycle in state [`Starting`](State::Starting). Nothing is installed or spawned
    /// until the steps are called.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, State};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// assert_eq!(lc.state(), State::Starting);
    /// assert_eq!(lc.trigger(), None);
    /// assert!(!lc.is_cancelled());
    /// assert!(lc.hooks().is_empty());
    /// ```
    pub fn new(config: Config) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(Inner {
            id,
            config,
            root: CancellationToken::new(),
            triggered: CancellationToken::new(),
            hurry: CancellationToken::new(),
            hurried_by: Mutex::new(None),
            trigger: Mutex::new(None),
            state: watch::Sender::new(State::Starting),
            tracker: TaskTracker::new(),
            live: LiveTasks::default(),
            failures: Mutex::new(Failures::default()),
            drained: AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
            draft: Mutex::new(Draft::default()),
            watch: Arc::new(Watch::new()),
        });
        lock(&REGISTRY).push((id, Arc::downgrade(&inner)));
        Self { inner }
    }

    /// The settings this lifecycle runs with.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(10)));
    /// assert_eq!(lc.config().grace, Duration::from_secs(10));
    /// assert_eq!(lc.config().hook_timeout, Duration::from_secs(5)); // the default
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    // ----- cancellation -----------------------------------------------------------------------

    /// A child of the root token: cancelled when the drain starts. Cancelling the child itself
    /// affects nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Lifecycle};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let token = lc.token();
    /// token.cancel();
    /// assert!(!lc.is_cancelled());
    /// # }
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.root.child_token()
    }

    /// Waits until the drain starts (the root token is cancelled). Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let handle = lc.clone();
    /// let worker = lc.spawn(async move {
    ///     handle.cancelled().await; // the drain has started: wrap up
    ///     Ok::<_, std::io::Error>("flushed")
    /// });
    /// lc.run(async {}).await; // main returns at once: trigger, then drain
    /// assert_eq!(worker.await.unwrap().unwrap(), "flushed");
    /// # }
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.inner.root.cancelled()
    }

    /// Like [`cancelled`](Lifecycle::cancelled) but `'static`, for
    /// `axum::serve(..).with_graceful_shutdown(lc.cancelled_owned())` and `tokio::spawn`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// // `'static`: it can move into a spawned task without borrowing `lc`.
    /// let server = tokio::spawn(lc.cancelled_owned());
    /// lc.run(async {}).await;
    /// assert!(lc.is_cancelled());
    /// server.await.unwrap();
    /// # }
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub fn cancelled_owned(&self) -> WaitForCancellationFutureOwned {
        self.inner.root.clone().cancelled_owned()
    }

    /// Whether the drain has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.shutdown();
    /// assert!(!lc.is_cancelled()); // triggered, but the drain has not started
    /// let mut main = lc.watch_main(async {});
    /// lc.drain(&mut main).await;
    /// assert!(lc.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.root.is_cancelled()
    }

    // ----- triggers ---------------------------------------------------------------------------

    /// Starts the shutdown from anywhere. Returns `false` if it had started already (the first
    /// trigger wins).
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Lifecycle, Trigger};
    /// let lc = Lifecycle::new(Config::new());
    /// assert!(lc.shutdown());
    /// assert!(!lc.shutdown());
    /// assert_eq!(lc.trigger(), Some(Trigger::Requested { code: None, reason: None }));
    /// ```
    pub fn shutdown(&self) -> bool {
        self.inner.trigger(Trigger::Requested {
            code: None,
            reason: None,
        })
    }

    /// Starts the shutdown and asks for `code` as the exit code (it overrides the report's own
    /// mapping). Returns `false` if the shutdown had started already.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Lifecycle};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.shutdown_with(4, "license expired");
    /// assert_eq!(lc.run(async {}).await.code(), 4);
    /// # }
    /// ```
    pub fn shutdown_with(&self, code: u8, reason: impl Into<String>) -> bool {
        self.inner.trigger(Trigger::Requested {
            code: Some(code),
            reason: Some(reason.into()),
        })
    }

    /// What started the shutdown, or `None` while the service runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, Trigger};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// assert_eq!(lc.trigger(), None);
    /// lc.shutdown_with(3, "maintenance");
    /// lc.shutdown(); // too late: the first trigger wins
    /// let reason = Some("maintenance".to_owned());
    /// assert_eq!(lc.trigger(), Some(Trigger::Requested { code: Some(3), reason }));
    /// ```
    pub fn trigger(&self) -> Option<Trigger> {
        lock(&self.inner.trigger)
            .as_ref()
            .map(|(trigger, _, _)| trigger.clone())
    }

    /// Waits until the shutdown is triggered (before the drain delay, unlike
    /// [`cancelled`](Lifecycle::cancelled)). Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Lifecycle, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new().drain_delay(Duration::from_secs(5)));
    /// let handle = lc.clone();
    /// let waiter = tokio::spawn(async move { handle.triggered().await });
    /// lc.shutdown();
    /// waiter.await.unwrap();
    /// // Woken at the trigger: readiness is Draining, the root token not yet cancelled.
    /// assert_eq!(lc.state(), State::Draining);
    /// assert!(!lc.is_cancelled());
    /// # }
    /// ```
    pub async fn triggered(&self) {
        self.inner.triggered.cancelled().await;
    }

    // ----- readiness --------------------------------------------------------------------------

    /// The current state.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, State};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// lc.shutdown();
    /// assert_eq!(lc.state(), State::Draining);
    /// lc.set_ready(); // too late: the state never moves back
    /// assert_eq!(lc.state(), State::Draining);
    /// lc.finish();
    /// assert_eq!(lc.state(), State::Stopped);
    /// ```
    pub fn state(&self) -> State {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every state change, for readiness endpoints and tests.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Lifecycle, State};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let mut states = lc.watch_state();
    /// lc.set_ready();
    /// states.changed().await.unwrap();
    /// assert_eq!(*states.borrow_and_update(), State::Ready);
    /// # }
    /// ```
    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.inner.state.subscribe()
    }

    /// Whether readiness probes should succeed (state [`Ready`](State::Ready)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// assert!(!lc.is_ready()); // Starting
    /// lc.set_ready();
    /// assert!(lc.is_ready());
    /// lc.shutdown();
    /// assert!(!lc.is_ready()); // Draining: probes fail at once
    /// ```
    pub fn is_ready(&self) -> bool {
        self.state().is_ready()
    }

    /// Step: marks the service Ready (from Starting; later states are kept) and starts the
    /// periodic persist hooks registered so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Hook, Lifecycle, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::persist("checkpoint", || async {}).every(Duration::from_secs(60)));
    /// assert_eq!(lc.tasks_running(), 0);
    /// lc.set_ready();
    /// assert_eq!(lc.state(), State::Ready);
    /// assert_eq!(lc.tasks_running(), 1); // the periodic persist
    /// # }
    /// ```
    pub fn set_ready(&self) {
        // Readiness moves and the periodic hooks are picked under the hooks' lock, the one
        // `add_hook` takes to read the state: a hook added at the same moment is started
        // exactly once, by one side or the other.
        let periodic: Vec<Hook> = {
            let hooks = lock(&self.inner.hooks);
            if !self.inner.advance(State::Ready) {
                return;
            }
            hooks
                .iter()
                .filter(|hook| hook.kind == HookKind::Persist && hook.every.is_some())
                .cloned()
                .collect()
        };
        for hook in periodic {
            self.start_periodic(hook);
        }
        let config = self.config();
        // The worst case here counts the hooks registered so far; the trigger logs it again
        // with every hook the app registered while running.
        let (grace_ms, drain_delay_ms) = (whole_ms(config.grace), whole_ms(config.drain_delay));
        let worst_case_ms = whole_ms(self.worst_case_shutdown());
        quietly(|| tracing::info!(grace_ms, drain_delay_ms, worst_case_ms, "ready"));
    }

    // ----- hooks ------------------------------------------------------------------------------

    /// Registers every hook of `component` (see [`Component`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lifecycle::{Component, Config, Hook, Lifecycle};
    ///
    /// struct Pool;
    /// impl Component for Pool {
    ///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
    ///         let save = Hook::persist("Pool::save", || async {});
    ///         vec![save, Hook::on_shutdown("Pool::close", || async {})]
    ///     }
    /// }
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// lc.manage(Arc::new(Pool));
    /// let names: Vec<String> = lc.hooks().iter().map(|hook| hook.name().to_owned()).collect();
    /// assert_eq!(names, ["Pool::save", "Pool::close"]);
    /// ```
    pub fn manage<C: Component>(&self, component: Arc<C>) {
        for hook in component.hooks() {
            self.add_hook(hook);
        }
    }

    /// Registers one hook. A persist hook with [`every`](Hook::every) starts running
    /// periodically once the service is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Hook, HookOutcome, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::on_shutdown("close pool", || async {}));
    /// let report = lc.run(async {}).await;
    /// assert_eq!(report.hooks[0].name, "close pool");
    /// assert_eq!(report.hooks[0].outcome, HookOutcome::Ok);
    /// # }
    /// ```
    pub fn add_hook(&self, hook: Hook) {
        if hook.every.is_some() && hook.kind == HookKind::Shutdown {
            quietly(|| tracing::warn!(hook = %hook.name, "`every` is ignored on a shutdown hook"));
        }
        let start_now = {
            // The state is read under the lock `set_ready` moves it under (see there).
            let mut hooks = lock(&self.inner.hooks);
            hooks.push(hook.clone());
            hook.kind == HookKind::Persist && hook.every.is_some() && self.state() == State::Ready
        };
        if start_now {
            self.start_periodic(hook);
        }
    }

    /// Step: registers every free function marked `#[lifecycle::on_shutdown]` or
    /// `#[lifecycle::persist]` anywhere in the binary.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// #[lifecycle::on_shutdown(order = 10)]
    /// async fn flush_metrics() {}
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// assert!(lc.hooks().is_empty());
    /// lc.register_free_hooks();
    /// let hooks = lc.hooks();
    /// let hook = hooks.iter().find(|h| h.name().ends_with("flush_metrics")).unwrap();
    /// assert_eq!(hook.order_value(), 10);
    /// # }
    /// ```
    pub fn register_free_hooks(&self) {
        for make in crate::__private::FREE_HOOKS {
            self.add_hook(make());
        }
    }

    /// The hooks registered so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Hook, HookKind, Lifecycle};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::on_shutdown("close", || async {}).order(5));
    /// lc.add_hook(Hook::persist("save", || async {}));
    /// let hooks = lc.hooks(); // in registration order
    /// assert_eq!((hooks[0].name(), hooks[0].order_value()), ("close", 5));
    /// assert_eq!(hooks[1].kind(), HookKind::Persist);
    /// ```
    pub fn hooks(&self) -> Vec<Hook> {
        lock(&self.inner.hooks).clone()
    }

    fn start_periodic(&self, hook: Hook) {
        let Some(period) = hook.every else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            quietly(|| {
                tracing::warn!(hook = %hook.name, "no Tokio runtime: periodic persist not started");
            });
            return;
        }
        let timeout = self.config().hook_timeout;
        let token = self.token();
        let name = format!("persist every {}: {}", Millis(period), hook.name);
        self.spawn_named(name, async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
                // Not raced against the token: a checkpoint under way finishes before the drain
                // ends, so it never overlaps the final persist.
                hook.run_once(timeout).await;
            }
        });
    }

    /// The longest the hooks can take: for each phase, the largest timeout of each order group,
    /// added up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Hook, Lifecycle};
    ///
    /// let secs = Duration::from_secs;
    /// let lc = Lifecycle::new(Config::new()); // hook timeout 5 s
    /// lc.add_hook(Hook::persist("save", || async {}).timeout(secs(2)));
    /// lc.add_hook(Hook::on_shutdown("a", || async {})); // order 0: 5 s
    /// lc.add_hook(Hook::on_shutdown("b", || async {}).timeout(secs(8))); // concurrent with a
    /// lc.add_hook(Hook::on_shutdown("c", || async {}).order(1)); // after them: 5 s
    /// assert_eq!(lc.hook_budget(), secs(2 + 8 + 5));
    /// ```
    pub fn hook_budget(&self) -> Duration {
        self.inner.hook_budget()
    }

    /// The longest a shutdown can take with the hooks registered now: drain delay + grace + hook
    /// budget. Kubernetes' `terminationGracePeriodSeconds` must be above it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Hook, Lifecycle};
    ///
    /// let lc = Lifecycle::new(Config::new().drain_delay(Duration::from_secs(5)));
    /// lc.add_hook(Hook::persist("save", || async {}).timeout(Duration::from_secs(2)));
    /// lc.add_hook(Hook::on_shutdown("a", || async {}).order(1)); // default timeout 5s
    /// lc.add_hook(Hook::on_shutdown("b", || async {}).order(1).timeout(Duration::from_secs(8)));
    /// lc.add_hook(Hook::on_shutdown("c", || async {}).order(2)); // 5s
    /// // 5 (delay) + 30 (grace) + 2 (persist) + max(5, 8) + 5
    /// assert_eq!(lc.worst_case_shutdown(), Duration::from_secs(50));
    /// ```
    pub fn worst_case_shutdown(&self) -> Duration {
        self.inner.worst_case_shutdown()
    }

    // ----- the sequence -----------------------------------------------------------------------

    /// Step: starts the watchdog thread, which hears [`Config::signals`] and enforces the hard
    /// deadline outside the app's runtime, so neither depends on the app's worker threads.
    ///
    /// Signals are counted, not triggers:
    ///
    /// - The **first** signal starts the shutdown. If something else started it already (main
    ///   returned, [`shutdown`](Lifecycle::shutdown), a critical task failed), it only cuts the
    ///   drain delay short, and the report says it was hurried.
    /// - A **second** signal ends the process at once with 128 + its number, unless
    ///   [`force_on_second_signal`](Config::force_on_second_signal) is off; then it only cuts the
    ///   drain delay short. The line it writes on the way out never delays the exit.
    /// - The same signal again within [`repeat_window`](Config::repeat_window) of the last one
    ///   counted is the same request delivered twice (a process group signalled while a wrapping
    ///   shell forwards the signal), not a second one.
    /// - On Unix, SIGHUP is heard and ignored (with a warning) unless it is a shutdown signal:
    ///   a closed terminal no longer kills the service on the spot.
    ///
    /// From the trigger on, the watchdog ends the process with
    /// [`EXIT_DEADLINE`](crate::EXIT_DEADLINE) once the shutdown has run for the worst case
    /// plus [`deadline_margin`](Config::deadline_margin), whatever the app's tasks and hooks are
    /// doing (blocked threads, deadlocks, full pipes). A warning is logged when SIGTERM is not
    /// among the shutdown signals.
    ///
    /// # Errors
    ///
    /// [`SignalError::AlreadyInstalled`] on a second call in the same process,
    /// [`SignalError::NoRuntime`] outside a Tokio runtime, [`SignalError::Install`] if the
    /// operating system refuses, [`SignalError::Thread`] if the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, SignalError};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.listen_for_signals().expect("first call installs the listeners");
    /// // The listeners are process-wide: a second call, from any lifecycle, is refused.
    /// let again = Lifecycle::new(Config::new()).listen_for_signals();
    /// assert!(matches!(again, Err(SignalError::AlreadyInstalled)));
    /// # }
    /// ```
    pub fn listen_for_signals(&self) -> Result<(), SignalError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SignalError::NoRuntime);
        }
        let config = self.config();
        // SIGHUP is what a closed terminal sends; left alone it kills the process on the spot
        // with nothing persisted. Heard and ignored unless it is a shutdown signal.
        let ignore = if cfg!(unix) && !config.signals.contains(&Signal::Hangup) {
            vec![Signal::Hangup]
        } else {
            Vec::new()
        };
        let rules = Rules {
            shutdown: config.signals.clone(),
            ignore,
            force_on_second_signal: config.force_on_second_signal,
            repeat_window: config.repeat_window,
        };
        let (notes, mut heard) = mpsc::unbounded_channel();
        let hearing = Hearing {
            inner: Arc::downgrade(&self.inner),
            notes,
        };
        watchdog::start(rules, hearing, Arc::clone(&self.inner.watch))?;
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(note) = heard.recv().await {
                let Some(inner) = inner.upgrade() else { break };
                quietly(|| note.log(&inner));
            }
        });
        if !config.signals.contains(&Signal::Terminate) {
            log_or_stderr(
                tracing::Level::WARN,
                "lifecycle: SIGTERM is not one of the shutdown signals: Kubernetes, systemd and \
                 docker stop services with SIGTERM, which now ends this process at once, with no \
                 drain and nothing persisted",
            );
        }
        Ok(())
    }

    /// Step: wraps the app's main future so that its end triggers the shutdown and its outcome
    /// (including a panic) is recorded. The wrapper is polled by
    /// [`wait_for_trigger`](Lifecycle::wait_for_trigger) and [`drain`](Lifecycle::drain).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Failure, Lifecycle, MainOutcome};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let mut main = lc.watch_main(async { Err::<(), _>("bind failed") });
    /// let trigger = lc.wait_for_trigger(&mut main).await;
    /// // The error with `Display` and its `source()` chain, as hooks and tasks print theirs.
    /// assert_eq!(trigger.to_string(), "main failed: bind failed");
    /// assert_eq!(lc.finish().main, Some(MainOutcome::Failed(Failure::new("bind failed"))));
    /// # }
    /// ```
    pub fn watch_main<F>(&self, main: F) -> MainTask<F>
    where
        F: Future,
        F::Output: MainResult,
    {
        MainTask {
            future: Some(Box::pin(main)),
            lc: self.clone(),
        }
    }

    /// Step: runs the main future until the shutdown is triggered (by it returning or by anything
    /// else) and returns the trigger.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let mut main = lc.watch_main(std::future::pending::<()>());
    /// let handle = lc.clone();
    /// tokio::spawn(async move { handle.shutdown_with(0, "admin") });
    /// let trigger = lc.wait_for_trigger(&mut main).await;
    /// assert!(matches!(trigger, Trigger::Requested { code: Some(0), .. }));
    /// assert!(!main.is_finished()); // main keeps running into the drain
    /// # }
    /// ```
    pub async fn wait_for_trigger<F>(&self, main: &mut MainTask<F>) -> Trigger
    where
        F: Future,
        F::Output: MainResult,
    {
        tokio::select! {
            biased;
            () = &mut *main => {}
            () = self.inner.triggered.cancelled() => {}
        }
        self.trigger().unwrap_or(Trigger::MainReturned)
    }

    /// Step: the drain. Waits out the drain delay (still serving; cut short by the main future
    /// ending or a second signal), cancels the root token, then waits for the main future and
    /// every tracked task until the grace deadline. Returns the moment all are done; at the
    /// deadline, drops the main future, aborts the tasks left and records their names.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Lifecycle, MainOutcome};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(3)));
    /// let mut main = lc.watch_main(std::future::pending::<()>()); // ignores cancellation
    /// lc.shutdown();
    /// lc.drain(&mut main).await; // paused clock: the 3 s deadline passes at once
    /// let report = lc.finish();
    /// assert!(report.tasks_aborted.is_empty()); // main is not a task: see `report.main`
    /// assert_eq!(report.main, Some(MainOutcome::Aborted));
    /// assert_eq!(report.code(), lifecycle::EXIT_ABORTED);
    /// # }
    /// ```
    pub async fn drain<F>(&self, main: &mut MainTask<F>)
    where
        F: Future,
        F::Output: MainResult,
    {
        let config = self.config();
        self.inner.watch.enter(Phase::DrainDelay);
        let delay_started = Instant::now();
        if !config.drain_delay.is_zero() && !main.is_finished() {
            let drain_delay_ms = whole_ms(config.drain_delay);
            quietly(|| {
                tracing::info!(
                    drain_delay_ms,
                    "drain delay: still serving while the load balancer catches up"
                );
            });
            tokio::select! {
                () = tokio::time::sleep(config.drain_delay) => {}
                () = self.inner.hurry.cancelled() => {}
                () = &mut *main => {}
            }
        }
        let drain_delay = delay_started.elapsed();

        self.inner.watch.enter(Phase::Drain);
        self.inner.root.cancel();
        self.inner.tracker.close();
        let drain_started = Instant::now();
        let tracker = &self.inner.tracker;
        // `timeout`, not `timeout_at`: a grace of any size saturates instead of overflowing.
        let all_done = tokio::time::timeout(config.grace, async {
            tokio::join!(&mut *main, tracker.wait());
        })
        .await
        .is_ok();

        let mut aborted = Vec::new();
        if !all_done {
            main.abort();
            let cuts = self.inner.live.abort_all(false);
            // An aborted task stops at its next `.await`; give the aborts a moment to land, then
            // report what really stopped and what is still running (stuck in synchronous code,
            // or blocking) while the hooks run.
            let _ = tokio::time::timeout(ABORT_SETTLE, tracker.wait()).await;
            aborted = cuts.into_iter().map(Cut::settle).collect::<Vec<_>>();
            let grace_ms = whole_ms(config.grace);
            let left_running = aborted.iter().filter(|task| !task.stopped).count();
            let count = aborted.len();
            quietly(|| {
                tracing::warn!(
                    grace_ms,
                    aborted = count,
                    left_running,
                    "grace period over: aborted what was left"
                );
            });
        }
        self.inner.drained.store(true, Ordering::SeqCst);
        let mut draft = lock(&self.inner.draft);
        draft.timings.drain_delay = drain_delay;
        draft.timings.drain = drain_started.elapsed();
        draft.record_aborted(aborted);
    }

    async fn run_hooks(&self, kind: HookKind) -> Vec<HookReport> {
        self.inner.watch.enter(match kind {
            HookKind::Persist => Phase::Persist,
            HookKind::Shutdown => Phase::Hooks,
        });
        self.inner.rearm();
        let hooks: Vec<Hook> = lock(&self.inner.hooks)
            .iter()
            .filter(|hook| hook.kind == kind)
            .cloned()
            .collect();
        let started = Instant::now();
        let reports = run_phase(hooks, self.config().hook_timeout).await;
        let mut draft = lock(&self.inner.draft);
        match kind {
            HookKind::Persist => draft.timings.persist = started.elapsed(),
            HookKind::Shutdown => draft.timings.hooks = started.elapsed(),
        }
        draft.hooks.extend(reports.iter().cloned());
        reports
    }

    /// Aborts the tasks spawned after the drain that are still running, and records them.
    async fn cut_late_tasks(&self) {
        if !self.inner.drained.load(Ordering::SeqCst) {
            return;
        }
        let cuts = self.inner.live.abort_all(true);
        if cuts.is_empty() {
            return;
        }
        let _ = tokio::time::timeout(ABORT_SETTLE, self.inner.tracker.wait()).await;
        let late: Vec<AbortedTask> = cuts.into_iter().map(Cut::settle).collect();
        let count = late.len();
        quietly(|| {
            tracing::warn!(
                late = count,
                "tasks spawned after the drain were still running: aborted"
            );
        });
        lock(&self.inner.draft).record_aborted(late);
    }

    /// Step: runs the persist hooks (see [`Hook`] for order, concurrency and timeouts) and
    /// records their outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Hook, HookKind, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::on_shutdown("close db", || async {}));
    /// lc.add_hook(Hook::persist("save", || async {}));
    /// let reports = lc.run_persist_hooks().await;
    /// assert_eq!(reports.len(), 1); // shutdown hooks wait for their own step
    /// assert_eq!(reports[0].kind, HookKind::Persist);
    /// # }
    /// ```
    pub async fn run_persist_hooks(&self) -> Vec<HookReport> {
        self.run_hooks(HookKind::Persist).await
    }

    /// Step: runs the shutdown hooks by ascending order and records their outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Hook, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::on_shutdown("flush", || async { Err::<(), _>("broker gone") }));
    /// lc.add_hook(Hook::on_shutdown("close pool", || async {}).order(1));
    /// let reports = lc.run_shutdown_hooks().await;
    /// // A failed hook does not stop the ones after it.
    /// assert!(!reports[0].outcome.is_ok());
    /// assert!(reports[1].outcome.is_ok());
    /// # }
    /// ```
    pub async fn run_shutdown_hooks(&self) -> Vec<HookReport> {
        let reports = self.run_hooks(HookKind::Shutdown).await;
        self.cut_late_tasks().await;
        reports
    }

    /// Step: marks the service Stopped and returns the report. Triggers the shutdown (as
    /// requested) if nothing did.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, State, Trigger};
    ///
    /// let lc = Lifecycle::new(Config::new());
    /// let report = lc.finish(); // nothing triggered: it counts as requested
    /// assert_eq!(report.trigger, Trigger::Requested { code: None, reason: None });
    /// assert_eq!(report.main, None);
    /// assert_eq!(lc.state(), State::Stopped);
    /// assert_eq!(report.code(), 0);
    /// ```
    pub fn finish(&self) -> ShutdownReport {
        self.shutdown();
        let (trigger, at) = lock(&self.inner.trigger)
            .as_ref()
            .map(|(trigger, at, _)| (trigger.clone(), *at))
            .unwrap_or((Trigger::MainReturned, Instant::now()));
        self.inner.advance(State::Stopped);
        if self.inner.drained.load(Ordering::SeqCst) {
            // Spawned after the last step that could wait for them: whether they stop is only
            // known later, so they are reported as left running unless already done.
            let late = self.inner.live.abort_all(true);
            let late: Vec<AbortedTask> = late.into_iter().map(Cut::settle).collect();
            lock(&self.inner.draft).record_aborted(late);
        }
        let draft = std::mem::take(&mut *lock(&self.inner.draft));
        let mut timings = draft.timings;
        timings.total = at.elapsed();
        let (task_failures, task_failures_other) = {
            let failures = lock(&self.inner.failures);
            (failures.entries.clone(), failures.other)
        };
        let report = ShutdownReport {
            trigger,
            main: draft.main,
            timings,
            tasks_aborted: draft.tasks_aborted,
            tasks_aborted_total: draft.tasks_aborted_total,
            task_failures,
            task_failures_other,
            hooks: draft.hooks,
            hurried_by: *lock(&self.inner.hurried_by),
        };
        self.inner.watch.finished(report.code());
        report
    }

    /// The whole sequence after start-up, inside a runtime you already have: ready, run `main`
    /// until the trigger, drain, persist hooks, shutdown hooks, report. Signals are only heard if
    /// [`listen_for_signals`](Lifecycle::listen_for_signals) was called first.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, State, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let report = lc.run(async { Err::<(), _>("bind failed") }).await;
    /// assert!(matches!(report.trigger, Trigger::MainFailed(_)));
    /// assert_eq!(report.code(), lifecycle::EXIT_APP_FAILED);
    /// assert_eq!(lc.state(), State::Stopped);
    /// # }
    /// ```
    pub async fn run<F>(&self, main: F) -> ShutdownReport
    where
        F: Future,
        F::Output: MainResult,
    {
        self.set_ready();
        let mut main = self.watch_main(main);
        self.wait_for_trigger(&mut main).await;
        self.drain(&mut main).await;
        self.run_persist_hooks().await;
        self.run_shutdown_hooks().await;
        self.finish()
    }

    fn record_main(&self, outcome: MainOutcome) {
        let trigger = match &outcome {
            MainOutcome::Returned => Some(Trigger::MainReturned),
            MainOutcome::Failed(error) => Some(Trigger::MainFailed(error.clone())),
            MainOutcome::Panicked(message) => Some(Trigger::MainFailed(Failure::new(format!(
                "panicked: {message}"
            )))),
            MainOutcome::Aborted | MainOutcome::AbortedDropPanicked(_) => None,
        };
        lock(&self.inner.draft).main = Some(outcome.clone());
        if let Some(trigger) = trigger {
            self.inner.trigger(trigger);
        }
        if !matches!(outcome, MainOutcome::Returned) {
            quietly(|| tracing::error!(outcome = %outcome, "main did not return cleanly"));
        }
    }
}

/// What the app's main future may return: `()`, or `Result<(), E>` where `E` converts into a
/// [`Failure`] (any `Error + Send + Sync` type, `String`, `&str`, `anyhow::Error`, ...). The
/// report prints the error with `Display` and its whole `source()` chain, as it does for hooks
/// and tasks.
///
/// # Examples
///
/// ```
/// use lifecycle::MainResult;
///
/// assert!(().into_main_result().is_ok());
/// let failure = Err::<(), _>("bind failed").into_main_result().unwrap_err();
/// assert_eq!(failure.to_string(), "bind failed");
/// ```
#[diagnostic::on_unimplemented(
    message = "the main function must return `()` or `Result<(), E>` with an error type `E` that converts into `Box<dyn std::error::Error + Send + Sync>`, not `{Self}`",
    label = "this return type",
    note = "every `Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `anyhow::Error` and `eyre::Report`; for a boxed error use `Box<dyn std::error::Error + Send + Sync>`"
)]
pub trait MainResult {
    /// `Ok`, or the error kept whole.
    fn into_main_result(self) -> Result<(), Failure>;
}

impl MainResult for () {
    fn into_main_result(self) -> Result<(), Failure> {
        Ok(())
    }
}

impl<E: IntoFailure> MainResult for Result<(), E> {
    fn into_main_result(self) -> Result<(), Failure> {
        self.map_err(IntoFailure::into_failure)
    }
}

/// The app's main future, watched: made by [`Lifecycle::watch_main`].
///
/// Polling it to the end records how main ended and triggers the shutdown. Polling it again after
/// that is ready at once, so every step can await it.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Lifecycle, Trigger};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new());
/// let mut main = lc.watch_main(async {});
/// (&mut main).await; // main returned: that is the trigger
/// assert_eq!(lc.trigger(), Some(Trigger::MainReturned));
/// (&mut main).await; // ready at once from now on
/// # }
/// ```
#[must_use = "the main future does nothing unless the sequence polls it"]
pub struct MainTask<F> {
    future: Option<Pin<Box<F>>>,
    lc: Lifecycle,
}

impl<F> MainTask<F> {
    /// Whether the main future has ended (or was dropped at the deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let mut main = lc.watch_main(async { if true { panic!("lost the database") } });
    /// assert!(!main.is_finished());
    /// lc.wait_for_trigger(&mut main).await; // the panic is caught and recorded
    /// assert!(main.is_finished());
    /// assert_eq!(lc.trigger().unwrap().to_string(), "main failed: panicked: lost the database");
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.future.is_none()
    }

    /// Drops the main future if it is still running. Returns whether it was. A panic while
    /// dropping it (in a guard's `Drop`) is caught and recorded: the hooks must still run.
    fn abort(&mut self) -> bool {
        let Some(future) = self.future.take() else {
            return false;
        };
        let outcome = match panic::catch_unwind(AssertUnwindSafe(move || drop(future))) {
            Ok(()) => MainOutcome::Aborted,
            Err(payload) => MainOutcome::AbortedDropPanicked(panic_message(&*payload)),
        };
        self.lc.record_main(outcome);
        true
    }
}

impl<F> Future for MainTask<F>
where
    F: Future,
    F::Output: MainResult,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => match output.into_main_result() {
                Ok(()) => MainOutcome::Returned,
                Err(error) => MainOutcome::Failed(error),
            },
            Err(payload) => MainOutcome::Panicked(panic_message(&*payload)),
        };
        self.future = None;
        self.lc.record_main(outcome);
        Poll::Ready(())
    }
}
