//! The handle apps hold: [`Lifecycle`], a cheap clone over the parts one lifecycle shares
//! (settings, triggers, tasks, hooks, the start gate).
//!
//! Lives here: the public methods and `manage`, each delegating to the folder that owns the
//! concept. Not here: the logic itself (spawning is `tasks/`, running hooks `hooks/`, the
//! shutdown's steps `sequence/`).

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::checks::{Check, Checks, Readiness};
use crate::config::{Budget, Config};
use crate::exit::EXIT_START_FAILED;
use crate::failure::{Failure, Outcome};
use crate::hooks::gate::{LateAt, StartGate};
use crate::hooks::{Component, Hook, HookKind, HookRegistry};
use crate::lock::lock;
use crate::log::{log_or_stderr, quietly, whole_ms, Millis};
use crate::tasks::builder::TaskBuilder;
use crate::tasks::connections::Registry;
use crate::tasks::node::Node;
use crate::tasks::scope::Scope;
use crate::tasks::Stage;
use crate::tasks::{TaskName, Tasks};
use crate::triggers::readiness::State;
use crate::triggers::reloads::Reloads;
use crate::triggers::upgrades::{Asked, Upgrades};
use crate::triggers::{Trigger, Triggers};

/// Everything one lifecycle shares between its handle's clones and its sequence.
pub(crate) struct Inner {
    config: Arc<Config>,
    /// Cancelled when the drain starts (after the drain delay); every token handed out is its
    /// child.
    root: CancellationToken,
    triggers: Arc<Triggers>,
    hooks: Arc<HookRegistry>,
    tasks: Tasks,
    /// The connections of the serve loops and the requests of the in-flight layer.
    connections: Arc<Registry>,
    /// Where start-up is; what the app said about readiness; what never started.
    start: StartGate,
    reloads: Arc<Reloads>,
    /// Upgrade requests not yet taken up by the upgrade loop (`upgrade/`).
    upgrades: Arc<Upgrades>,
    /// The next [`manage`](Lifecycle::manage)d value's id, which its hooks carry.
    next_owner: AtomicU64,
    /// Every value managed so far, by address: the same `Arc` managed twice registers once.
    managed: Mutex<HashMap<usize, Weak<dyn Any + Send + Sync>>>,
}

impl Inner {
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Cancelled when the drain starts; every token handed out is its child.
    pub(crate) fn root(&self) -> &CancellationToken {
        &self.root
    }

    pub(crate) fn triggers(&self) -> &Arc<Triggers> {
        &self.triggers
    }

    pub(crate) fn hooks(&self) -> &Arc<HookRegistry> {
        &self.hooks
    }

    pub(crate) fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The connections of the serve loops and the requests of the in-flight layer.
    pub(crate) fn connections(&self) -> &Arc<Registry> {
        &self.connections
    }

    /// Where start-up is; what the app said about readiness; what never started.
    pub(crate) fn start_gate(&self) -> &StartGate {
        &self.start
    }

    pub(crate) fn reloads(&self) -> &Arc<Reloads> {
        &self.reloads
    }

    pub(crate) fn upgrades(&self) -> &Arc<Upgrades> {
        &self.upgrades
    }
}

/// A handle to one service's lifecycle: its cancellation tree, tracked tasks, hooks and
/// readiness. Cheap to clone; every clone is the same lifecycle.
///
/// The handle is what the app holds; the steps of the shutdown belong to the
/// [`Sequence`](crate::Sequence) that made it (see the crate docs for the whole sequence).
///
/// - **Cancellation**: [`token`](Lifecycle::token) hands out children of the root token, which
///   is cancelled when the drain starts; [`cancelled`](Lifecycle::cancelled) plugs into
///   `axum::serve(..).with_graceful_shutdown(..)` (or let the lifecycle serve:
///   `lifecycle::axum::serve`, feature `axum`); [`triggered`](Lifecycle::triggered) says what
///   started the shutdown.
/// - **Tasks**: [`spawn`](Lifecycle::spawn) and [`task`](Lifecycle::task) (a named one, made
///   critical, blocking or supervised by its builder) track a task: the drain waits for it, the
///   deadline aborts and names it, its failure goes in the report. [`scope`](Lifecycle::scope)
///   groups tasks that stop, join and abort together; [`stage`](Lifecycle::stage) orders them.
/// - **Hooks**: [`manage`](Lifecycle::manage) a component or a single [`Hook`](crate::Hook).
/// - **Readiness**: [`state`](Lifecycle::state) moves Starting → Ready → Draining → Stopped;
///   [`started`](Lifecycle::started) waits for the start hooks, [`set_ready`](Lifecycle::set_ready)
///   says the app is ready; [`check`](Lifecycle::check) adds a readiness check, and
///   [`readiness`](Lifecycle::readiness) is what a probe answers from (the state and the checks).
/// - **Shutdown**: [`request_shutdown`](Lifecycle::request_shutdown) from anywhere;
///   [`budget`](Lifecycle::budget) says how long it can take.
/// - **Figures**: [`stats`](Lifecycle::stats) counts tasks, connections and requests in flight.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::Trigger;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
/// let lc = sequence.handle();
/// let worker = lc.token();
/// lc.task("worker").spawn(async move {
///     worker.cancelled().await;
///     tokio::time::sleep(Duration::from_millis(200)).await; // finish the current job
/// });
///
/// let report = sequence
///     .run_without_signals(async move {
///         lc.request_shutdown(); // e.g. from an admin endpoint
///         lc.cancelled().await;
///     })
///     .await;
///
/// assert!(matches!(report.trigger, Trigger::Requested { .. }));
/// // The drain returned when the worker finished, not at the 10 s deadline.
/// assert!(report.timings.drain < Duration::from_secs(1));
/// assert_eq!(report.code(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("state", &self.state())
            .field("trigger", &self.inner.triggers.current())
            .field("tasks", &self.inner.tasks.running())
            .finish_non_exhaustive()
    }
}

/// The bound of the hidden `Lifecycle::new`, which no type meets: the porting diagnostic for
/// the constructor that is not there. Not a public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "there is no `Lifecycle::new`: a `Lifecycle` is the handle of the sequence that runs it",
    label = "a `Lifecycle` is not made from a `{Self}`",
    note = "with a `Config`: `let sequence = lifecycle::Sequence::new(config); let lc = sequence.handle();`, then drive the sequence (`sequence.run_without_signals(main).await` inside a runtime you have)",
    note = "or let `lifecycle::run(config, |lc| async move {{ .. }})` build the runtime and run the whole sequence (what `#[lifecycle::main]` on `async fn main(lc: Lifecycle)` does)"
)]
pub trait NoLifecycleNew {
    /// Never called: no type implements this trait.
    fn refuse(self) -> Lifecycle;
}

impl Lifecycle {
    /// The parts this lifecycle shares with its sequence.
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The handle of a new sequence: [`Sequence::new`](crate::Sequence::new) makes it.
    pub(crate) fn create(config: Config) -> Self {
        let config = Arc::new(config);
        let triggers = Arc::new(Triggers::new(Arc::clone(&config)));
        let hooks = Arc::new(HookRegistry::new(
            config.hook_timeout(),
            triggers.hook_tally(),
        ));
        let root = CancellationToken::new();
        let tasks = Tasks::new(Arc::clone(&triggers), root.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                root,
                triggers,
                hooks,
                tasks,
                connections: Arc::default(),
                start: StartGate::new(),
                reloads: Arc::new(Reloads::new()),
                upgrades: Arc::new(Upgrades::new()),
                next_owner: AtomicU64::new(0),
                managed: Mutex::default(),
            }),
        }
    }

    /// There is no `Lifecycle::new`: a `Lifecycle` is the handle of the [`Sequence`] that runs
    /// it, made by [`Sequence::new`] (then [`Sequence::handle`]), [`run`](fn@crate::run) or
    /// `#[lifecycle::main]`. This function only exists so that porting code calling
    /// `Lifecycle::new(config)` gets a compile error saying that, instead of "private
    /// associated function"; no type implements its bound.
    ///
    /// [`Sequence`]: crate::Sequence
    /// [`Sequence::new`]: crate::Sequence::new
    /// [`Sequence::handle`]: crate::Sequence::handle
    #[doc(hidden)]
    pub fn new<C: NoLifecycleNew>(config: C) -> Self {
        config.refuse()
    }

    /// The settings this lifecycle runs with.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new().with_grace(Duration::from_secs(10))).handle();
    /// assert_eq!(lc.config().grace(), Duration::from_secs(10));
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A child of the root token: cancelled when the drain starts. Cancelling the child itself
    /// affects nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// let lc = Sequence::new(Config::new()).handle();
    /// let token = lc.token();
    /// token.cancel();
    /// assert!(!lc.token().is_cancelled());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.root.child_token()
    }

    /// Waits until the drain starts (the root token is cancelled). Cancel safe. The future owns
    /// what it waits on, so it can outlive the handle and be handed to a server:
    /// `axum::serve(..).with_graceful_shutdown(lc.cancelled())`. Called by `main` itself, it is
    /// also the start boundary (see [`started`](Lifecycle::started)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let handle = lc.clone();
    /// let worker = lc.spawn(async move {
    ///     handle.cancelled().await; // the drain has started: wrap up
    ///     Ok::<_, std::io::Error>("flushed")
    /// });
    /// sequence.run_without_signals(async {}).await; // main returns at once: trigger, then drain
    /// assert_eq!(worker.await.unwrap().unwrap(), "flushed");
    /// # }
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.boundary("`lc.cancelled()`");
        self.inner.root.clone().cancelled_owned()
    }

    /// Asks for a shutdown: the trigger, unless something triggered it already. Returns whether
    /// this call did. The sequence then runs as for a signal.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Trigger;
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert!(lc.request_shutdown());
    /// assert!(!lc.request_shutdown()); // the first trigger wins
    /// assert_eq!(lc.state(), State::Draining);
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(lc.triggered().await, Trigger::Requested { code: None, reason: None });
    /// # });
    /// ```
    pub fn request_shutdown(&self) -> bool {
        self.inner.triggers.fire(Trigger::Requested {
            code: None,
            reason: None,
        })
    }

    /// Like [`request_shutdown`](Lifecycle::request_shutdown), with the exit code to end with
    /// and why. The code never hides a failure: see [`ShutdownReport`](crate::ShutdownReport).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.request_shutdown_with(75, "maintenance window");
    /// let report = sequence.run_without_signals(async move { lc.cancelled().await }).await;
    /// assert_eq!(report.code(), 75);
    /// # }
    /// ```
    pub fn request_shutdown_with(&self, code: u8, reason: impl Into<String>) -> bool {
        self.inner.triggers.fire(Trigger::Requested {
            code: Some(code),
            reason: Some(reason.into()),
        })
    }

    /// Waits until the shutdown is triggered (before the drain delay, unlike
    /// [`cancelled`](Lifecycle::cancelled)) and says what triggered it; at once if it has
    /// already been triggered. Cancel safe. Awaited by `main` itself, it is also the start
    /// boundary (see [`started`](Lifecycle::started)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.request_shutdown_with(3, "disk full");
    /// let trigger = lc.triggered().await; // at once: stop taking new work, keep serving
    /// assert!(matches!(trigger, Trigger::Requested { code: Some(3), .. }));
    /// assert_eq!(lc.state(), State::Draining); // the drain has not cancelled anything yet
    /// # }
    /// ```
    pub async fn triggered(&self) -> Trigger {
        self.boundary("`lc.triggered()`");
        self.inner.triggers.wait().await
    }

    /// Where the service is in its life.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert_eq!(lc.state(), State::Starting);
    /// ```
    pub fn state(&self) -> State {
        self.inner.triggers.readiness().get()
    }

    /// A receiver that sees every change of [`state`](Lifecycle::state).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let mut states = lc.watch_state();
    /// lc.request_shutdown();
    /// states.changed().await.unwrap();
    /// assert_eq!(*states.borrow(), State::Draining);
    /// # }
    /// ```
    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.inner.triggers.readiness().subscribe()
    }

    /// What a readiness probe answers from: the [`state`](Lifecycle::state) and each
    /// [readiness check](Lifecycle::check)'s last result. Its
    /// [`is_ready`](crate::checks::Readiness::is_ready) is the state being Ready and every check
    /// passing; with no checks, it is `state().is_ready()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert!(!lc.readiness().is_ready());
    /// lc.set_ready();
    /// assert!(lc.readiness().is_ready());
    /// assert_eq!(lc.readiness().to_json(), r#"{"ready":true,"state":"ready","reason":null,"checks":[]}"#);
    /// ```
    pub fn readiness(&self) -> Readiness {
        self.inner.triggers.probe().get()
    }

    /// A receiver that sees every change of [`readiness`](Lifecycle::readiness): a move of the
    /// state, a check failing or passing again, each failed run (one more in a row, or a new
    /// error). What a health
    /// service that is not an HTTP probe follows (the gRPC example's does).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only file system") });
    /// let mut readiness = lc.watch_readiness();
    /// lc.set_ready();
    /// let why = readiness.wait_for(|r| r.checks()[0].last_error().is_some()).await.unwrap().to_string();
    /// assert_eq!(why, "not ready: check disk failed: read-only file system");
    /// # }
    /// ```
    pub fn watch_readiness(&self) -> watch::Receiver<Readiness> {
        self.inner.triggers.probe().subscribe()
    }

    /// Says the app is ready to serve (its listener bound, its cache warm). The service becomes
    /// Ready now if start-up has succeeded (or no start-up runs, as in a test), otherwise as
    /// soon as it does. With [`ReadyWhen::Manual`](crate::config::ReadyWhen::Manual)
    /// (`#[lifecycle::main(ready = "manual")]`), start-up waits for this call; with the default
    /// the service is Ready once the start hooks succeeded, and this call changes nothing. Once
    /// only: later calls, and calls after the trigger, do nothing.
    ///
    /// Called by `main` itself, it is also a start boundary (see [`started`](Lifecycle::started)):
    /// the start hooks of every value managed before it run from here on, so manage them first.
    /// Called from another task, it only says the app is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::config::ReadyWhen;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new().with_ready_when(ReadyWhen::Manual));
    /// let lc = sequence.handle();
    /// lc.manage(Hook::new(HookKind::Start, "connect", || async {}));
    /// let handle = lc.clone();
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         assert_eq!(handle.state(), State::Starting); // the start hook has not run yet
    ///         handle.set_ready(); // e.g. the listener is bound
    ///         handle.started().await;
    ///         assert!(handle.state().is_ready()); // start hooks done and the app said so
    ///         handle.request_shutdown();
    ///     })
    ///     .await;
    /// assert_eq!(report.code(), 0);
    /// lc.set_ready(); // too late: the state never moves back
    /// assert!(!lc.state().is_ready());
    /// # }
    /// ```
    pub fn set_ready(&self) {
        self.boundary("`lc.set_ready()`");
        if self.inner.start.app_says_ready() {
            self.mark_ready();
        }
    }

    /// Moves readiness to Ready (once), starts the periodic persist hooks and the reloads.
    pub(crate) fn mark_ready(&self) {
        let Some(periodic) = self.inner.hooks.on_ready(self.inner.triggers.readiness()) else {
            return;
        };
        self.inner.triggers.watch().ready();
        for hook in periodic {
            self.start_periodic(hook);
        }
        self.start_reloads();
        self.inner.tasks.start_pending_runs();
        let config = self.config();
        let (grace_ms, drain_delay_ms) = (whole_ms(config.grace()), whole_ms(config.drain_delay()));
        let worst_case_ms = whole_ms(self.budget().worst_case());
        quietly(|| tracing::info!(grace_ms, drain_delay_ms, worst_case_ms, "ready"));
    }

    /// Spawns the task that runs the reloads, once, if there are reload hooks (and a runtime).
    /// With none, a request made during start-up is dropped, saying so.
    fn start_reloads(&self) {
        let inner = &self.inner;
        if inner.hooks.of_kind(HookKind::Reload).is_empty() {
            inner
                .reloads
                .drop_pending(crate::triggers::reloads::Ignored::NoHook);
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() || !inner.reloads.claim() {
            return;
        }
        let run = crate::hooks::reload::run(
            Arc::clone(&inner.reloads),
            Arc::clone(&inner.hooks),
            Arc::clone(&inner.triggers),
            inner.config.hook_timeout(),
        );
        self.task("reload").spawn(run);
    }

    /// The start boundary, and the wait for start-up: `true` once every start hook succeeded
    /// (and the service is Ready), `false` when start-up failed or was interrupted (the shutdown
    /// is then under way).
    ///
    /// # The start boundary
    ///
    /// `main` runs alone until it reaches the start boundary: the first of these calls made by
    /// `main` itself: `lc.started().await` (the one to write), [`set_ready`](Lifecycle::set_ready),
    /// [`cancelled`](Lifecycle::cancelled),
    /// [`triggered`](Lifecycle::triggered) (main is going to wait for the end: its set-up is
    /// over), or a lifecycle serve loop (`lifecycle::axum::serve`, `lifecycle::http::serve`). Or
    /// `main` returning, or the shutdown being triggered. At the boundary the start hooks of every
    /// value [`manage`](Lifecycle::manage)d so far run, while `main` goes on; a start hook added
    /// later is a start-up failure. Without a boundary the service never becomes Ready, and
    /// start-up fails at the [start-up timeout](crate::Config::startup_timeout), naming the cause.
    ///
    /// Why a call: before, the start hooks began at `main`'s first `.await` that waited, and
    /// whether one waits is a run-time detail (`TcpListener::bind("localhost:0")` resolves the
    /// name on the blocking pool and waits; `bind("127.0.0.1:0")` does not), so a value managed
    /// after such an `.await` was silently never started. A call you write is where you see it.
    /// For the same reason only `main`'s own calls count: a task spawned before the last
    /// `manage` that awaits `started()` waits for the boundary, it does not move it. Nor does
    /// `lc.cancelled()` in the future given to plain axum's `with_graceful_shutdown` (axum
    /// polls it in a task of its own): write `with_graceful_shutdown(lc.cancelled())`,
    /// called by `main`. A start-up that times out names such a call.
    ///
    /// Code that needs what the start hooks opened awaits this first; to answer probes while the
    /// start hooks run, start the serve loop (itself a boundary) and let the code that needs the
    /// database await `started()` (`/ready` is 503 until the service is Ready). Never await it
    /// in a start hook: it waits for every start hook, that one included, which then times out.
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
    /// lc.manage(Hook::new(HookKind::Start, "connect", || async { Err::<(), _>("refused") }));
    /// let handle = lc.clone();
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         if !handle.started().await {
    ///             return; // start-up failed: nothing to serve
    ///         }
    ///         unreachable!("the start hook failed");
    ///     })
    ///     .await;
    /// assert_eq!(report.code(), lifecycle::exit::EXIT_START_FAILED);
    /// # }
    /// ```
    pub async fn started(&self) -> bool {
        self.boundary("`lc.started()`");
        self.inner.start.ended().await
    }

    /// The start boundary, when the caller is `main` itself (polled by its sequence, before the
    /// boundary): the registry closes to start hooks, and the start hooks run. A call from any
    /// other task, or outside the sequence, does nothing here but be remembered (`call`, as the
    /// user wrote it), for the start-up timeout to name.
    pub(crate) fn boundary(&self, call: &'static str) {
        if !crate::hooks::gate::in_main_of(&self.inner.triggers) {
            self.inner.start.called_elsewhere(call);
        } else if self.inner.start.reach_boundary(call) {
            self.inner.hooks.close_start();
        }
    }

    /// Asks for a reload: the [reload hooks](crate::hooks::HookKind::Reload) (`#[on_reload]`) run
    /// once more, after any reload under way, in a tracked task. SIGHUP does the same when it is
    /// not a shutdown signal. Returns `false`, and does nothing, once the shutdown has been
    /// triggered.
    ///
    /// A request made before the service is Ready (during the start hooks, say) is kept, and
    /// runs once it is Ready (with [`ReadyWhen::Manual`](crate::config::ReadyWhen::Manual),
    /// after [`set_ready`](Lifecycle::set_ready)) and `main`'s code after
    /// [`started`](Lifecycle::started)`().await` has run up to its next waiting `.await`: what
    /// `main` sets up there cannot overwrite what the reload hook changes. If start-up fails,
    /// it is dropped, saying so once (`reload ignored: start-up failed`).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert!(lc.request_reload());
    /// lc.request_shutdown();
    /// assert!(!lc.request_reload()); // too late
    /// ```
    pub fn request_reload(&self) -> bool {
        if self.inner.triggers.current().is_some() {
            return false;
        }
        self.inner.reloads.request();
        true
    }

    /// Asks for an in-place upgrade (what SIGUSR2 does once the app has a listener from
    /// [`lifecycle::listener`](crate::listener)): this process starts a new copy of its
    /// executable (same arguments, same environment) with its listening sockets, the ones
    /// `lifecycle::listener` returned, by name. The new process takes them as it would take
    /// systemd's (its own `lifecycle::listener("http", ..)` returns the same socket), runs its
    /// start hooks and becomes Ready; only then does this one stop accepting (handing the
    /// sockets over: nothing queued is reset, the new process accepts it) and drain as on
    /// SIGTERM, with the trigger [`Trigger::Upgraded`] (exit code 0). If the new process exits
    /// or is not Ready within [`upgrade_timeout`](crate::Config::upgrade_timeout), it is killed
    /// and reaped, and this one goes on serving, saying why (the upgrade is rolled back), and
    /// writes its own id to the PID file again.
    ///
    /// One upgrade runs at a time, and at most one waits to run after it: two requests made at
    /// once (none running) are two attempts, one after the other, but any number made while an
    /// attempt runs (this call in a loop, SIGUSR2 sent again) join one follow-up attempt, with a
    /// line saying so, rather than starting one new process each. A request made before the
    /// service is Ready waits for it. Returns `true` when the request is taken up (by an attempt
    /// of its own or one it joined); `false`, doing nothing and logging why, once the shutdown
    /// has been triggered, or when the service runs under `lifecycle::testing` (there is no
    /// process to replace: the harness would start the test binary). Only a sequence started
    /// with signals ([`Sequence::start`](crate::Sequence::start), `#[lifecycle::main]`)
    /// upgrades; Unix only. See the README, "Restart without downtime", for systemd (`MAINPID=`) and the PID file
    /// ([`ENV_PIDFILE`](crate::config::ENV_PIDFILE)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert!(lc.request_upgrade()); // runs once the sequence is started and Ready
    /// lc.request_shutdown();
    /// assert!(!lc.request_upgrade()); // refused: shutting down
    /// ```
    pub fn request_upgrade(&self) -> bool {
        if let Some(trigger) = self.inner.triggers.current() {
            quietly(|| {
                tracing::warn!(
                    trigger = %trigger,
                    "upgrade refused: the shutdown has started (an upgrade replaces a running \
                     service, not a stopping one)"
                )
            });
            return false;
        }
        if let Some(why) = self.inner.upgrades.refused() {
            quietly(|| tracing::warn!("upgrade refused: {why}"));
            return false;
        }
        if self.inner.upgrades.request() == Asked::Joined {
            quietly(|| {
                tracing::info!(
                    "upgrade requested while one already waits to run: this request joins it"
                )
            });
        }
        true
    }

    /// Registers the hooks of `component` (see [`Component`]) and spawns its long-running parts
    /// (`#[run]` methods; see [`Run`](crate::tasks::Run)).
    ///
    /// Manage values in `main` before its start boundary (`lc.started().await`, see
    /// [`started`](Lifecycle::started)): their start hooks then run in the start phase, whatever
    /// `main` awaited before. A value with a start hook managed after the boundary is a start-up
    /// failure, never a silent one: none of its hooks run (its persist hook would save state it
    /// never loaded), a line on standard error names it (also without a `tracing` subscriber),
    /// the report lists its start hook as not run and why, and the exit code is
    /// [`EXIT_START_FAILED`](crate::exit::EXIT_START_FAILED): start-up fails if it is still
    /// running, a Ready service shuts down ([`Trigger::StartFailed`]), and after the trigger the
    /// report records it. Its `#[run]` parts are not spawned either. A value without start hooks
    /// may be managed at any time.
    ///
    /// The same `Arc` managed twice registers its hooks once; the second call writes a warning
    /// naming the type (another `Arc` of the same type is another value).
    ///
    /// The lifecycle holds the value (through its hooks) until the shutdown hooks have run, then
    /// lets go of it before making the report: when nothing else holds it, its `Drop` runs
    /// there, and one that panics is named in the report ([`ShutdownReport::drop_panics`], exit
    /// code 3) instead of ending the process. When a tracked task holds the last clone, its
    /// `Drop` runs with the task's future (as the task ends, or as the deadline aborts it): a
    /// panic there is that task's failure (`panicked: ... (dropping the task's future)`), in the
    /// report like any other. A clone the app keeps elsewhere drops where the app lets it go.
    ///
    /// [`ShutdownReport::drop_panics`]: crate::ShutdownReport::drop_panics
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
    ///         vec![Hook::new(HookKind::Shutdown, "Pool::close", || async {})]
    ///     }
    /// }
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.manage(Arc::new(Pool));
    /// assert_eq!(lc.budget().hooks(), 1); // Pool::close
    /// ```
    pub fn manage(&self, managed: impl Managed) {
        managed.register_with(self);
    }

    fn manage_component<C: Component>(&self, component: Arc<C>) {
        let what = std::any::type_name::<C>();
        if !self.first_managed(&component) {
            log_or_stderr(
                tracing::Level::WARN,
                &format!(
                    "lifecycle: the same `{what}` (one Arc) was managed twice: its hooks are \
                     registered once; the second `lc.manage` did nothing"
                ),
            );
            return;
        }
        let owner = self.inner.next_owner.fetch_add(1, Ordering::Relaxed);
        let mut hooks = Arc::clone(&component).hooks();
        for hook in &mut hooks {
            hook.owner = Some(owner);
        }
        if self.register(hooks, Some(owner), Some(what)) {
            for run in Arc::clone(&component).runs() {
                self.inner.tasks.spawn_component_run(run);
            }
            component.checks(Checks::new(self.inner.tasks.root(), &self.inner.triggers));
        }
    }

    /// Whether `component` (this very `Arc`) is managed for the first time; remembers it. Kept
    /// as a `Weak`, which holds the allocation (so no other value can take its address) but not
    /// the value.
    fn first_managed<C: Component>(&self, component: &Arc<C>) -> bool {
        let address = Arc::as_ptr(component).cast::<()>() as usize;
        let weak: Weak<C> = Arc::downgrade(component);
        let weak: Weak<dyn Any + Send + Sync> = weak;
        lock(&self.inner.managed).insert(address, weak).is_none()
    }

    /// Registers one hook (see [`Managed`] for `Hook`).
    pub(crate) fn add_hook(&self, hook: Hook) {
        if hook.every().is_some() && hook.kind() == HookKind::Shutdown {
            quietly(
                || tracing::warn!(hook = %hook.name(), "`every` is ignored on a shutdown hook"),
            );
        }
        let owner = hook.owner;
        self.register(vec![hook], owner, None);
    }

    /// Registers `hooks`, those of the managed value `what` (its type) or one hook. Returns
    /// `false` when they came too late: a start hook among them after the start boundary. None
    /// of them then runs, and start-up fails loudly (see [`manage`](Lifecycle::manage)).
    fn register(&self, hooks: Vec<Hook>, owner: Option<u64>, what: Option<&str>) -> bool {
        let added = self
            .inner
            .hooks
            .add_all(hooks, self.inner.triggers.readiness());
        for hook in added.start_periodic {
            self.start_periodic(hook);
        }
        let Some(late) = added.too_late_to_start.first() else {
            return true;
        };
        self.started_late(late, owner, what);
        false
    }

    /// A start hook (`hook`, of the managed value `what`) came after the start boundary: a
    /// start-up failure, said on standard error even without a `tracing` subscriber.
    fn started_late(&self, hook: &Hook, owner: Option<u64>, what: Option<&str>) {
        let name = hook.name();
        let failure = Failure::new(match what {
            Some(what) => format!(
                "`{what}` was managed after start-up began: its start hook `{name}` did not run"
            ),
            None => format!("start hook `{name}` was added after start-up began and did not run"),
        });
        let at = self.inner.start.late(owner, failure.clone());
        if at == LateAt::Started {
            self.inner
                .triggers
                .fire(Trigger::StartFailed(failure.clone()));
        }
        let then = match at {
            LateAt::StartingUp => "start-up fails",
            LateAt::Started => "the service shuts down",
            LateAt::Over => "the report records a failed start-up",
        };
        let none_run = if what.is_some() {
            "none of its hooks run"
        } else {
            "it does not run"
        };
        // The fix names the boundary main reached, when it was a call other than the one the
        // docs lead with (the user may never have written `lc.started().await`).
        let before = match self.inner.start.boundary_call() {
            Some(call) if call != "`lc.started()`" => {
                format!("its start boundary (here: {call}, called by main)")
            }
            _ => "`lc.started().await`".to_owned(),
        };
        log_or_stderr(
            tracing::Level::ERROR,
            &format!(
                "lifecycle: {failure:#}; {none_run} and {then} (exit code {EXIT_START_FAILED}). \
                 Manage every value with a start hook in main before {before}"
            ),
        );
    }

    fn start_periodic(&self, hook: Hook) {
        let Some(period) = hook.every() else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            quietly(|| {
                tracing::warn!(hook = %hook.name(), "no Tokio runtime: periodic persist not started");
            });
            return;
        }
        let timeout = self.config().hook_timeout();
        let token = self.token();
        let name = format!("persist every {}: {}", Millis(period), hook.name());
        self.task(name).spawn(async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
                // Not raced against the token: a checkpoint under way finishes (or is aborted at
                // the deadline); the hook's own lock keeps it from overlapping the final persist.
                hook.run_once(timeout).await;
            }
        });
    }

    /// How long the shutdown can take, from the settings and the hooks registered now: the
    /// worst case (drain delay + grace + the hooks' budget), the hard deadline, and the hooks'
    /// budget (per phase, the largest timeout of each order group, added up: equal orders run
    /// concurrently). Logged at start-up and at the trigger; `LIFECYCLE_PRINT_BUDGET=1` prints
    /// the same figures for the hooks the attributes declare, before anything starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// let config = Config::new().with_drain_delay(Duration::from_secs(5)); // grace 30 s
    /// let lc = Sequence::new(config).handle(); // default hook timeout 5 s
    /// let save = Hook::new(HookKind::Persist, "save", || async {});
    /// lc.manage(save.with_timeout(Duration::from_secs(2)));
    /// lc.manage(Hook::new(HookKind::Shutdown, "a", || async {}).with_order(1));
    /// lc.manage(Hook::new(HookKind::Shutdown, "b", || async {}).with_order(1));
    /// let budget = lc.budget();
    /// assert_eq!(budget.hooks(), 3);
    /// assert_eq!(budget.hook_budget(), Duration::from_secs(2 + 5)); // a and b run together
    /// assert_eq!(budget.worst_case(), Duration::from_secs(5 + 30 + 7));
    /// ```
    pub fn budget(&self) -> Budget {
        let (hook_budget, hooks) = self.inner.hooks.budget_and_count();
        Budget::new(self.config(), hook_budget, hooks)
    }

    /// How much the service holds right now: tracked tasks, and the connections and requests
    /// of its serve loops and in-flight layer (zero when it serves through neither): for a
    /// `/stats` endpoint or a metric.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let token = lc.token();
    /// lc.spawn(async move { token.cancelled().await });
    /// assert_eq!(lc.stats().tasks, 1);
    /// assert_eq!((lc.stats().connections, lc.stats().in_flight), (0, 0));
    /// sequence.run_without_signals(async {}).await; // cancels the token, waits for the task
    /// assert_eq!(lc.stats().tasks, 0);
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let connections = self.inner.connections.stats();
        Stats {
            tasks: self.inner.tasks.running(),
            connections: connections.connections,
            in_flight: connections.in_flight,
        }
    }

    /// Spawns a tracked task: the drain waits for it, and if it is still running at the grace
    /// deadline it is aborted and named in the report (by where it was spawned). A panic or an
    /// `Err` is recorded in the report; a panic still reaches the returned `JoinHandle`, an
    /// `Err` reaches it as a [`Failure`](crate::Failure) (see [`Outcome`]). So is a panic in the
    /// `Drop` of what the task's future holds, when Tokio drops the future after it returned or
    /// as the deadline aborts it (`panicked: ... (dropping the task's future)`).
    ///
    /// The task should watch a token from [`token`](Lifecycle::token) and return when it is
    /// cancelled. A task spawned after the drain (from a hook, say) is aborted and named when
    /// the report is made if it is still running then: nothing waits for it.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let token = lc.token();
    /// lc.spawn(async move { token.cancelled().await }); // work until cancelled
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert!(report.tasks_aborted.is_empty());
    /// # }
    /// ```
    ///
    /// What `tokio::spawn` accepts, this accepts: a task that loops forever or only panics (its
    /// output is the never type) compiles in every edition, edition 2024 included, and its
    /// handle is a `JoinHandle<()>`. So does a [`task`](Lifecycle::task) spawned with a name,
    /// as critical, or on the blocking pool with a closure that loops or panics:
    ///
    /// ```edition2024
    /// use lifecycle::{Config, Lifecycle, Sequence};
    /// use tokio::task::JoinHandle;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let token = lc.token();
    /// let poller: JoinHandle<()> = lc.spawn(async move {
    ///     loop {
    ///         token.cancelled().await; // a real task polls something here
    ///         panic!("stopped");
    ///     }
    /// });
    /// let loader: JoinHandle<()> = lc.task("loader").spawn(async { panic!("no config") });
    /// let reader: JoinHandle<()> = lc.task("reader").spawn_blocking(|| panic!("corrupt file"));
    /// // Compiled, not run here: a critical task's panic would start the shutdown.
    /// let _critical = |lc: &Lifecycle| -> JoinHandle<()> {
    ///     lc.task("consumer").critical().spawn(async { loop { tokio::task::yield_now().await } })
    /// };
    /// let _spinning =
    ///     |lc: &Lifecycle| -> JoinHandle<()> { lc.task("spin").spawn_blocking(|| loop {}) };
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert_eq!(report.task_failures.len(), 3); // the three panics, each recorded
    /// assert!(loader.await.is_err_and(|err| err.is_panic()));
    /// # drop((poller, reader));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        let name = TaskName::SpawnedAt(Location::caller());
        self.inner.tasks.spawn(name, false, future)
    }

    /// A task named `name`, unstaged (stopped with the root token, first in the drain): set its
    /// options and spawn it with the [`TaskBuilder`]. `lc.stage(n).task(name)` puts it in stop
    /// stage `n`; `scope.task(name)` in a [`Scope`].
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let token = lc.token();
    /// lc.task("poller").spawn(async move { token.cancelled().await });
    /// lc.task("parser").spawn(async { Err::<(), _>("bad input") }); // recorded, not critical
    /// lc.task("stubborn").spawn(std::future::pending::<()>()); // ignores the cancel
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert_eq!(report.task_failures[0].task, "parser");
    /// assert_eq!(report.tasks_aborted[0].name, "stubborn"); // cut at the grace deadline
    /// # }
    /// ```
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        TaskBuilder::new(self.inner.tasks.root(), name.into())
    }

    /// A readiness check named `name`: set how often it runs, its timeout and how many failed
    /// runs in a row count (see [`Check`]), then give it its function with [`Check::run`]. A
    /// component's `#[check]` methods are the same [`Check`]. While it fails,
    /// [`readiness`](Lifecycle::readiness)
    /// is not ready (`lifecycle::axum::ready` answers 503 naming it), though the
    /// [`state`](Lifecycle::state) stays Ready. None by default; see [`checks`](crate::checks)
    /// for when a dependency belongs in readiness, and when it does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.check("postgres")
    ///     .every(Duration::from_secs(5))
    ///     .timeout(Duration::from_secs(1))
    ///     .run(|| async { Ok::<_, std::io::Error>(()) }); // `pool.execute("SELECT 1").await`
    /// let handle = lc.clone();
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         handle.started().await;
    ///         let mut readiness = handle.watch_readiness();
    ///         readiness.wait_for(|r| r.is_ready()).await.unwrap(); // the first run passed
    ///         handle.request_shutdown();
    ///     })
    ///     .await;
    /// assert_eq!(report.code(), 0);
    /// assert!(report.tasks_aborted.is_empty()); // the check stopped at the trigger
    /// # }
    /// ```
    pub fn check(&self, name: impl Into<Cow<'static, str>>) -> Check<'_> {
        Checks::new(self.inner.tasks.root(), &self.inner.triggers).check(name)
    }

    /// A new top-level [`Scope`] named `name`: a group of tasks that can be stopped, joined and
    /// aborted on its own, stopped with the unstaged work at the drain (its token is a child of
    /// the root token). See [`Scope`] for scopes and stages.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let workers = lc.scope("workers");
    /// let token = workers.token();
    /// workers.task("w1").spawn(async move { token.cancelled().await });
    /// sequence.run_without_signals(async {}).await; // the drain cancels the scope and waits for w1
    /// assert_eq!(workers.running(), 0);
    /// # }
    /// ```
    pub fn scope(&self, name: &str) -> Scope {
        Scope::new(Node::child(self.inner.tasks.root(), name))
    }

    /// Stop stage `stage`'s own node, as a [`Scope`] with an empty path: its token is cancelled
    /// in the stage's turn (after the unstaged work and every lower stage), and the drain waits
    /// for its tasks and scopes then. `lc.stage(1).scope("writers")` is a scope drained in stage
    /// 1's turn. Every call for the same number is the same node; see
    /// [`Stage`](crate::tasks::Stage). Joining a stage from main during the drain waits until
    /// the grace deadline (the stage is cancelled only once main has ended).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let stopped = Arc::new(Mutex::new(Vec::new()));
    /// let writers = lc.stage(1).scope("writers");
    /// for (scope, name) in [(writers.clone(), "flush"), (lc.scope("http"), "serve")] {
    ///     let (token, stopped) = (scope.token(), Arc::clone(&stopped));
    ///     scope.task(name).spawn(async move {
    ///         token.cancelled().await;
    ///         stopped.lock().unwrap().push(name);
    ///     });
    /// }
    /// sequence.run_without_signals(async {}).await;
    /// assert_eq!(*stopped.lock().unwrap(), ["serve", "flush"]); // the writers after the server
    /// # }
    /// ```
    pub fn stage(&self, stage: Stage) -> Scope {
        Scope::new(self.inner.tasks.stage(stage))
    }
}

/// What [`Lifecycle::manage`] takes: an `Arc` of a [`Component`] (a `#[lifecycle::component]`
/// type, or one implementing the trait by hand), or a single [`Hook`].
///
/// A hook managed alone belongs to no value: a periodic persist hook managed while the service
/// is Ready starts at once, one managed before starts when it becomes Ready (exactly once either
/// way), and a start hook managed after start-up began fails start-up, as a value managed too
/// late does. `every` on a shutdown hook is ignored, with a warning.
///
/// Sealed: nothing else can be managed.
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
/// lc.manage(Hook::new(HookKind::Shutdown, "flush", || async { Err::<(), _>("broker gone") }));
/// lc.manage(Hook::new(HookKind::Shutdown, "close pool", || async {}).with_order(1));
/// let report = sequence.run_without_signals(async {}).await;
/// // A failed hook does not stop the ones after it.
/// assert!(!report.hooks[0].outcome.is_ok());
/// assert!(report.hooks[1].outcome.is_ok());
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be managed by a lifecycle",
    label = "`lc.manage` takes an `Arc` of a component, or a `Hook`",
    note = "mark the type's impl block `#[lifecycle::component]` and pass `Arc::new(value)`; a bare value or a `Box` is not enough, the lifecycle shares the value with its hooks"
)]
pub trait Managed: sealed::Sealed {
    /// Registers what it is with `lc`.
    #[doc(hidden)]
    fn register_with(self, lc: &Lifecycle);
}

mod sealed {
    pub trait Sealed {}
    impl<C: crate::hooks::Component> Sealed for std::sync::Arc<C> {}
    impl Sealed for crate::hooks::Hook {}
}

impl<C: Component> Managed for Arc<C> {
    fn register_with(self, lc: &Lifecycle) {
        lc.manage_component(self);
    }
}

impl Managed for Hook {
    fn register_with(self, lc: &Lifecycle) {
        lc.add_hook(self);
    }
}

/// What a service holds at one moment: [`Lifecycle::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tracked tasks running (serve-loop connections included).
    pub tasks: usize,
    /// Open connections of the serve loops (HTTP/1 and HTTP/2, upgraded ones until they close).
    pub connections: usize,
    /// Requests received and not yet answered in full, on the serve loops and through the
    /// in-flight layer: a streamed response counts until its body ends.
    pub in_flight: usize,
}
