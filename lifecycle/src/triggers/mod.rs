//! What the lifecycle hears, and the state every part shares about it: the [`Trigger`] (what
//! started the shutdown, when, and the tokens it cancels), readiness, the process-wide signal
//! listener and the signals held before it listens, the watchdog thread with its hard deadline,
//! systemd's notify socket, and reload and upgrade requests.
//!
//! Lives here: deciding *that* something happened. Not here: what to do about it. The hooks
//! (`hooks/`) and the drain (`sequence/`) read these parts; nothing here imports them. The
//! registry tells the triggers what they need of the hooks through [`HookTally`].

pub(crate) mod hearing;
pub(crate) mod held;
pub(crate) mod listen;
pub(crate) mod probe;
pub(crate) mod readiness;
pub(crate) mod reloads;
pub(crate) mod systemd;
pub(crate) mod upgrades;
pub(crate) mod watchdog;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::signals::Signal;
use crate::config::Config;
use crate::failure::Failure;
use crate::lock::lock;
use crate::log::{quietly, whole_ms};
use crate::triggers::probe::Probe;
use crate::triggers::readiness::{Readiness, State};
use crate::triggers::watchdog::Watch;

/// What started the shutdown.
///
/// # Examples
///
/// ```
/// use lifecycle::Trigger;
/// use lifecycle::{Config, Sequence, Signal};
///
/// assert_eq!(Trigger::Signal(Signal::Terminate).to_string(), "SIGTERM");
/// let lc = Sequence::new(Config::new()).handle();
/// lc.request_shutdown_with(4, "license expired");
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let trigger = lc.triggered().await;
/// assert_eq!(trigger.to_string(), "shutdown requested: license expired (exit code 4)");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// A signal from the operating system (or Kubernetes, systemd, a terminal).
    Signal(Signal),
    /// The main future returned `Ok` (or `()`).
    MainReturned,
    /// The main future returned `Err` or panicked (the panic reads `panicked: <message>`).
    MainFailed(Failure),
    /// [`Lifecycle::request_shutdown`](crate::Lifecycle::request_shutdown) or
    /// [`request_shutdown_with`](crate::Lifecycle::request_shutdown_with) was called.
    Requested {
        /// The exit code asked for, if any.
        code: Option<u8>,
        /// Why, if given.
        reason: Option<String>,
    },
    /// A task spawned with [`critical`](crate::tasks::TaskBuilder::critical) returned `Err` or
    /// panicked.
    TaskFailed {
        /// The task's name.
        task: String,
        /// The error, or the panic as `panicked: <message>`.
        error: Failure,
    },
    /// A start hook failed, panicked or timed out, or the start-up timeout ran out (see
    /// [`Running::run_start_hooks`](crate::sequence::Running::run_start_hooks)).
    StartFailed(Failure),
    /// An in-place upgrade succeeded: a new process of the same executable, started with this
    /// one's listening sockets on SIGUSR2 or [`Lifecycle::request_upgrade`], is Ready and
    /// accepts on them. This one stopped accepting (handing the sockets over, nothing reset)
    /// and drains as on SIGTERM, without the drain delay. Exit code 0 when all went well.
    ///
    /// [`Lifecycle::request_upgrade`]: crate::Lifecycle::request_upgrade
    Upgraded {
        /// The new process's id.
        pid: u32,
    },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Signal(signal) => write!(f, "{signal}"),
            Trigger::MainReturned => f.write_str("main returned"),
            Trigger::MainFailed(error) => write!(f, "main failed: {error:#}"),
            Trigger::Requested { code, reason } => {
                f.write_str("shutdown requested")?;
                if let Some(reason) = reason {
                    write!(f, ": {reason}")?;
                }
                if let Some(code) = code {
                    write!(f, " (exit code {code})")?;
                }
                Ok(())
            }
            Trigger::TaskFailed { task, error } => {
                write!(f, "critical task `{task}` failed: {error:#}")
            }
            Trigger::StartFailed(error) => write!(f, "start-up failed: {error:#}"),
            Trigger::Upgraded { pid } => write!(f, "upgraded: process {pid} took over"),
        }
    }
}

/// A trigger that fired: what, when on Tokio's clock (which tests pause), and when on the wall
/// clock (which the watchdog thread's deadline counts from).
struct Fired {
    trigger: Trigger,
    at: Instant,
    wall: std::time::Instant,
}

/// The trigger state of one lifecycle, shared by its handle, its tasks (a critical one fires
/// it) and the watchdog thread (a signal fires it). Every method here takes only locks that are
/// never held across a wait, so the watchdog thread may call them.
pub(crate) struct Triggers {
    fired: Mutex<Option<Fired>>,
    /// Cancelled at the trigger, before the drain delay.
    triggered: CancellationToken,
    /// Cancelled by a signal that must not force the exit (the first one after another trigger,
    /// or any later one when forcing is off): cuts the drain delay short.
    hurry: CancellationToken,
    /// The first signal that hurried the shutdown instead of starting it.
    hurried_by: Mutex<Option<Signal>>,
    readiness: Readiness,
    /// The state with the readiness checks' results, what probes answer from.
    probe: Arc<Probe>,
    /// Shared with the watchdog thread: the hard deadline, the phase, the final code.
    watch: Arc<Watch>,
    config: Arc<Config>,
    hooks: Arc<HookTally>,
}

impl Triggers {
    pub(crate) fn new(config: Arc<Config>) -> Self {
        let probe = Arc::new(Probe::new());
        let follows = Arc::clone(&probe);
        Self {
            fired: Mutex::new(None),
            triggered: CancellationToken::new(),
            hurry: CancellationToken::new(),
            hurried_by: Mutex::new(None),
            readiness: Readiness::new(Box::new(move |state| follows.set_state(state))),
            probe,
            watch: Arc::new(Watch::new()),
            config,
            hooks: Arc::new(HookTally::default()),
        }
    }

    /// Readiness: Starting, Ready, Draining, Stopped.
    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The state with the readiness checks' results.
    pub(crate) fn probe(&self) -> &Probe {
        &self.probe
    }

    /// What the watchdog thread watches: the hard deadline, the phase, the final code.
    pub(crate) fn watch(&self) -> &Arc<Watch> {
        &self.watch
    }

    /// Resolves once the shutdown is triggered (at once if it was).
    pub(crate) async fn fired_yet(&self) {
        self.triggered.cancelled().await;
    }

    /// Resolves once a signal hurried the shutdown (cut the drain delay short).
    pub(crate) async fn hurried(&self) {
        self.hurry.cancelled().await;
    }

    /// Hurries the shutdown: the drain delay ends now.
    pub(crate) fn hurry(&self) {
        self.hurry.cancel();
    }

    /// A token cancelled at the trigger, for a thread outside the runtime.
    pub(crate) fn fired_token(&self) -> CancellationToken {
        self.triggered.clone()
    }

    /// What the hook registry keeps up to date for the triggers.
    pub(crate) fn hook_tally(&self) -> Arc<HookTally> {
        Arc::clone(&self.hooks)
    }

    /// Starts the shutdown unless it has started already, then logs it. Returns whether this
    /// call started it.
    pub(crate) fn fire(&self, trigger: Trigger) -> bool {
        let started = self.fire_quietly(trigger.clone());
        if started {
            self.log_fired(&trigger);
        }
        started
    }

    /// Starts the shutdown unless it has started already, without a word: everything that must
    /// happen (readiness, the `triggered` token, the hard deadline) happens before anything is
    /// written, so a logger that blocks or panics cannot stop the shutdown.
    pub(crate) fn fire_quietly(&self, trigger: Trigger) -> bool {
        let wall = std::time::Instant::now();
        {
            let mut fired = lock(&self.fired);
            if fired.is_some() {
                return false;
            }
            *fired = Some(Fired {
                trigger: trigger.clone(),
                at: Instant::now(),
                wall,
            });
        }
        // The deadline and systemd's STOPPING=1 first: the cancel wakes the drain, whose phases
        // systemd must hear after it.
        self.watch
            .arm(wall, self.config.hard_deadline(self.hooks.budget()));
        self.watch.stopping(&trigger);
        self.readiness.advance(State::Draining);
        self.triggered.cancel();
        true
    }

    pub(crate) fn log_fired(&self, trigger: &Trigger) {
        let worst_case_ms = whole_ms(self.worst_case());
        quietly(|| {
            tracing::info!(
                trigger = %trigger,
                worst_case_ms,
                "shutdown triggered; readiness is now draining"
            );
        });
    }

    /// A first signal: starts the shutdown, or, when something else started it, hurries it.
    /// Returns whether it started it.
    pub(crate) fn first_signal(&self, signal: Signal) -> bool {
        if self.fire_quietly(Trigger::Signal(signal)) {
            return true;
        }
        lock(&self.hurried_by).get_or_insert(signal);
        self.hurry.cancel();
        false
    }

    /// Sets the hard deadline again from the hooks registered now (hooks added while draining
    /// lengthen the worst case).
    pub(crate) fn rearm(&self) {
        let wall = lock(&self.fired).as_ref().map(|fired| fired.wall);
        if let Some(wall) = wall {
            self.watch
                .arm(wall, self.config.hard_deadline(self.hooks.budget()));
        }
    }

    /// Waits for the trigger and returns it (at once when it has fired).
    pub(crate) async fn wait(&self) -> Trigger {
        loop {
            if let Some(trigger) = self.current() {
                return trigger;
            }
            self.triggered.cancelled().await;
        }
    }

    pub(crate) fn current(&self) -> Option<Trigger> {
        lock(&self.fired)
            .as_ref()
            .map(|fired| fired.trigger.clone())
    }

    /// The trigger and when it fired (Tokio's clock).
    pub(crate) fn fired(&self) -> Option<(Trigger, Instant)> {
        lock(&self.fired)
            .as_ref()
            .map(|fired| (fired.trigger.clone(), fired.at))
    }

    pub(crate) fn hurried_by(&self) -> Option<Signal> {
        *lock(&self.hurried_by)
    }

    /// Whether any reload hook is registered (SIGHUP is ignored when none is).
    pub(crate) fn has_reload_hooks(&self) -> bool {
        self.hooks.reload.load(Ordering::Relaxed)
    }

    pub(crate) fn worst_case(&self) -> Duration {
        self.config.worst_case_shutdown(self.hooks.budget())
    }
}

/// What the triggers need to know of the registered hooks, kept up to date by the hook registry
/// at each registration: the hooks' part of the shutdown budget (to arm the hard deadline) and
/// whether any reload hook exists (SIGHUP is ignored when none does).
#[derive(Default)]
pub(crate) struct HookTally {
    budget_nanos: AtomicU64,
    reload: AtomicBool,
}

impl HookTally {
    /// Called by the registry, under its lock, after each registration.
    pub(crate) fn set(&self, budget: Duration, reload: bool) {
        let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        self.budget_nanos.store(nanos, Ordering::Relaxed);
        self.reload.store(reload, Ordering::Relaxed);
    }

    /// The persist and shutdown hooks' budget.
    pub(crate) fn budget(&self) -> Duration {
        Duration::from_nanos(self.budget_nanos.load(Ordering::Relaxed))
    }
}
