//! Shutdown settings, their `LIFECYCLE_*` environment overrides and their one check; the
//! signals they name, and the [`Budget`] (the worst case) they imply.

// Folder `config/`: what the service is told. Settings and their environment overrides (this
// file), the signal names (`signals.rs`) and the budget they imply (`budget.rs`). Imports nothing
// above it: a setting's rule is written here once.

pub(crate) mod signals;

use std::fmt;
use std::time::Duration;

use crate::config::signals::Signal;

pub(crate) mod budget;
pub(crate) mod settings;

pub use crate::config::signals::{SignalError, UnknownSignal};
pub(crate) use budget::EXIT_SLACK;
pub use budget::{Budget, ENV_PRINT_BUDGET};

/// The environment variable that overrides [`Config::grace`].
///
/// # Examples
///
/// ```
/// use std::ffi::OsString;
/// use std::time::Duration;
/// use lifecycle::config::{ENV_GRACE, ENV_SIGNALS};
/// use lifecycle::{Config, Signal};
///
/// let env = [(ENV_GRACE, "45s"), (ENV_SIGNALS, "SIGTERM, hup")];
/// let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(*v));
/// let config = Config::new().apply_env_from(lookup)?;
/// assert_eq!(config.grace(), Duration::from_secs(45));
/// assert_eq!(config.signals(), [Signal::Terminate, Signal::Hangup]);
/// // Variables that are not set keep the value from the code.
/// assert_eq!(config.hook_timeout(), Config::new().hook_timeout());
/// # Ok::<(), lifecycle::config::ConfigError>(())
/// ```
pub const ENV_GRACE: &str = "LIFECYCLE_GRACE";
/// The environment variable that overrides [`Config::drain_delay`]. See [`ENV_GRACE`].
pub const ENV_DRAIN_DELAY: &str = "LIFECYCLE_DRAIN_DELAY";
/// The environment variable that overrides [`Config::hook_timeout`]. See [`ENV_GRACE`].
pub const ENV_HOOK_TIMEOUT: &str = "LIFECYCLE_HOOK_TIMEOUT";
/// The environment variable that overrides [`Config::signals`] (a comma-separated list such as
/// `SIGTERM,SIGINT`). See [`ENV_GRACE`].
pub const ENV_SIGNALS: &str = "LIFECYCLE_SIGNALS";
/// The environment variable that overrides [`Config::force_on_second_signal`] (`true`/`false`,
/// `1`/`0`, `on`/`off`, `yes`/`no`). See [`ENV_GRACE`].
pub const ENV_FORCE_ON_SECOND_SIGNAL: &str = "LIFECYCLE_FORCE_ON_SECOND_SIGNAL";
/// The environment variable that overrides [`Config::repeat_window`] (`0s` turns it off). See
/// [`ENV_GRACE`].
pub const ENV_REPEAT_WINDOW: &str = "LIFECYCLE_REPEAT_WINDOW";
/// The environment variable that overrides [`Config::deadline_margin`]. See [`ENV_GRACE`].
pub const ENV_DEADLINE_MARGIN: &str = "LIFECYCLE_DEADLINE_MARGIN";
/// The environment variable that overrides [`Config::startup_timeout`]. See [`ENV_GRACE`].
pub const ENV_STARTUP_TIMEOUT: &str = "LIFECYCLE_STARTUP_TIMEOUT";
/// The environment variable naming a file where the process writes its id once Ready (and the
/// new process of an in-place upgrade writes its own; the old one writes its own again when the
/// upgrade is rolled back): `LIFECYCLE_PIDFILE=/run/app.pid`, then
/// `kill -USR2 $(cat /run/app.pid)`. Written atomically
/// ([`write_atomic`](crate::state_file::write_atomic)). Removed when the process exits (a forced
/// exit too) if it still names the process, except by an old process an upgrade replaced: the
/// file is its successor's then.
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::config::ENV_PIDFILE, "LIFECYCLE_PIDFILE");
/// ```
pub const ENV_PIDFILE: &str = "LIFECYCLE_PIDFILE";
/// The environment variable that overrides [`Config::upgrade_timeout`]. See [`ENV_GRACE`].
pub const ENV_UPGRADE_TIMEOUT: &str = "LIFECYCLE_UPGRADE_TIMEOUT";
/// Set by an in-place upgrade for the new process: the old process's id, which the new one
/// checks against its parent's (see `listeners/activation.rs`).
pub(crate) const ENV_UPGRADE_FROM: &str = "LIFECYCLE_UPGRADE_FROM";
/// Set by an in-place upgrade for the new process: the descriptor of the pipe it writes
/// `READY` to once Ready (see `upgrade/`).
pub(crate) const ENV_UPGRADE_READY_FD: &str = "LIFECYCLE_UPGRADE_READY_FD";
/// Overrides [`report_format`](Config::report_format): `text` or `json` (the latter needs the
/// crate's `serde` feature).
pub const ENV_REPORT_FORMAT: &str = "LIFECYCLE_REPORT_FORMAT";

/// When the service becomes Ready.
///
/// # Examples
///
/// ```
/// use lifecycle::config::ReadyWhen;
/// use lifecycle::Config;
///
/// assert_eq!(Config::new().ready_when(), ReadyWhen::Auto);
/// let config = Config::new().with_ready_when(ReadyWhen::Manual);
/// assert_eq!(config.ready_when(), ReadyWhen::Manual);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadyWhen {
    /// Once every start hook succeeded (`ready = "auto"`, the default).
    Auto,
    /// Once every start hook succeeded *and* the app called
    /// [`Lifecycle::set_ready`](crate::Lifecycle::set_ready) (`ready = "manual"`): for a
    /// listener still to bind or a cache still to warm in `main`.
    Manual,
}

/// Which Tokio runtime [`run`](fn@crate::run) and `#[lifecycle::main]` build.
///
/// # Examples
///
/// ```
/// use lifecycle::config::Flavor;
/// use lifecycle::Config;
///
/// let config = Config::new().with_flavor(Flavor::CurrentThread);
/// assert_eq!(config.flavor(), Flavor::CurrentThread);
/// assert_eq!(Config::new().flavor(), Flavor::MultiThread);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavor {
    /// Everything on the calling thread.
    CurrentThread,
    /// A pool of worker threads (Tokio's default: one per core, or `TOKIO_WORKER_THREADS`).
    MultiThread,
}

/// How a service shuts down: deadlines, the signals that start it, what a second signal does,
/// and the runtime it runs on.
///
/// Build one with [`Config::new`] and the `with_*` setters; read it with the getters of the same
/// name. [`validate`](Config::validate) is the one check of a whole configuration: the sequence
/// calls it at start-up, after [`apply_env`](Config::apply_env), so a bad value stops the service
/// before it serves, with a message naming the setting.
///
/// | setting | default | environment override |
/// |---|---|---|
/// | [`grace`](Config::grace) | 30s | `LIFECYCLE_GRACE` |
/// | [`drain_delay`](Config::drain_delay) | 0s | `LIFECYCLE_DRAIN_DELAY` |
/// | [`hook_timeout`](Config::hook_timeout) | 5s | `LIFECYCLE_HOOK_TIMEOUT` |
/// | [`signals`](Config::signals) | SIGTERM, SIGINT, SIGQUIT | `LIFECYCLE_SIGNALS` |
/// | [`force_on_second_signal`](Config::force_on_second_signal) | on | `LIFECYCLE_FORCE_ON_SECOND_SIGNAL` |
/// | [`repeat_window`](Config::repeat_window) | 50ms | `LIFECYCLE_REPEAT_WINDOW` |
/// | [`deadline_margin`](Config::deadline_margin) | 1s | `LIFECYCLE_DEADLINE_MARGIN` |
/// | [`startup_timeout`](Config::startup_timeout) | 60s | `LIFECYCLE_STARTUP_TIMEOUT` |
/// | [`upgrade_timeout`](Config::upgrade_timeout) | startup_timeout + deadline_margin + 5s | `LIFECYCLE_UPGRADE_TIMEOUT` |
/// | [`report_format`](Config::report_format) | text | `LIFECYCLE_REPORT_FORMAT` |
/// | [`ready_when`](Config::ready_when) | after the start hooks | |
/// | [`flavor`](Config::flavor) | multi-thread | (Tokio reads `TOKIO_WORKER_THREADS`) |
/// | [`worker_threads`](Config::worker_threads) | one per core | |
///
/// Durations of any size are accepted: every deadline computed from them saturates (a grace of
/// `u64::MAX` seconds means "no deadline"), it never overflows.
///
/// `LIFECYCLE_PRINT_BUDGET=1` prints the resulting [budget](crate::config::Budget) instead of starting.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Signal};
///
/// let config = Config::new()
///     .with_grace(Duration::from_secs(20))
///     .with_drain_delay(Duration::from_secs(5))
///     .with_signals([Signal::Terminate, Signal::Interrupt, Signal::Hangup]);
///
/// assert_eq!(config.grace(), Duration::from_secs(20));
/// // No hooks yet: the worst case is the drain delay plus the grace period.
/// # use lifecycle::config::Budget;
/// assert_eq!(Budget::new(&config, Duration::ZERO, 0).worst_case(), Duration::from_secs(25));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    grace: Duration,
    drain_delay: Duration,
    hook_timeout: Duration,
    signals: Vec<Signal>,
    force_on_second_signal: bool,
    repeat_window: Duration,
    deadline_margin: Duration,
    flavor: Flavor,
    worker_threads: Option<usize>,
    startup_timeout: Duration,
    /// `None`: derived from the start-up timeout (see [`Config::upgrade_timeout`]).
    upgrade_timeout: Option<Duration>,
    ready_when: ReadyWhen,
    report_format: ReportFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            drain_delay: Duration::ZERO,
            hook_timeout: Duration::from_secs(5),
            signals: vec![Signal::Terminate, Signal::Interrupt, Signal::Quit],
            force_on_second_signal: true,
            repeat_window: Duration::from_millis(50),
            deadline_margin: Duration::from_secs(1),
            flavor: Flavor::MultiThread,
            worker_threads: None,
            startup_timeout: Duration::from_secs(60),
            upgrade_timeout: None,
            ready_when: ReadyWhen::Auto,
            report_format: ReportFormat::Text,
        }
    }
}

impl Config {
    /// The default settings (see the table on [`Config`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Signal};
    ///
    /// let config = Config::new();
    /// assert_eq!(config.grace(), Duration::from_secs(30));
    /// assert_eq!(config.drain_delay(), Duration::ZERO);
    /// assert_eq!(config.hook_timeout(), Duration::from_secs(5));
    /// assert_eq!(config.signals(), [Signal::Terminate, Signal::Interrupt, Signal::Quit]);
    /// assert!(config.force_on_second_signal());
    /// assert_eq!(config, Config::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the drain may take: after the root token is cancelled, the main future and every
    /// tracked task get this long to finish before what is left is aborted.
    ///
    /// A getter: set it with [`with_grace`](Config::with_grace).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// How long readiness reports Draining before the root token is cancelled, so a load
    /// balancer can stop sending traffic while requests are still served.
    ///
    /// The delay is skipped when the main future has already ended as the drain begins (it
    /// returned, `Ok` or `Err`, or panicked: the usual trigger then): the delay is there to keep
    /// serving, and the code that served has finished, so waiting would only hold the exit
    /// back. It is skipped too when the service was never [Ready](crate::State::Ready) (no load
    /// balancer sent it traffic), and cut short when the main future ends during it or a
    /// signal comes after another trigger.
    ///
    /// A getter: set it with [`with_drain_delay`](Config::with_drain_delay).
    pub fn drain_delay(&self) -> Duration {
        self.drain_delay
    }

    /// The timeout of every hook that does not set its own.
    ///
    /// A getter: set it with [`with_hook_timeout`](Config::with_hook_timeout).
    pub fn hook_timeout(&self) -> Duration {
        self.hook_timeout
    }

    /// The signals that start a shutdown.
    ///
    /// A getter: set it with [`with_signals`](Config::with_signals).
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Whether a second signal ends the process at once with 128 + the signal number.
    ///
    /// A getter: set it with [`with_force_on_second_signal`](Config::with_force_on_second_signal).
    pub fn force_on_second_signal(&self) -> bool {
        self.force_on_second_signal
    }

    /// A signal that repeats the previous one within this window is the same request delivered
    /// twice (a container runtime signalling the process group while a wrapping shell forwards
    /// the same signal), not a second signal. Zero counts every delivery.
    ///
    /// A getter: set it with [`with_repeat_window`](Config::with_repeat_window).
    pub fn repeat_window(&self) -> Duration {
        self.repeat_window
    }

    /// How far past the worst case the hard deadline lies: once the shutdown has run that long,
    /// a thread outside the Tokio runtime ends the process with exit code 4, whatever the app's
    /// tasks and hooks are doing to the runtime's workers.
    ///
    /// A getter: set it with [`with_deadline_margin`](Config::with_deadline_margin).
    pub fn deadline_margin(&self) -> Duration {
        self.deadline_margin
    }

    /// The runtime [`run`](fn@crate::run) and `#[lifecycle::main]` build.
    ///
    /// A getter: set it with [`with_flavor`](Config::with_flavor).
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The multi-thread runtime's worker count; `None` for Tokio's default.
    ///
    /// A getter: set it with [`with_worker_threads`](Config::with_worker_threads).
    pub fn worker_threads(&self) -> Option<usize> {
        self.worker_threads
    }

    /// Sets [`grace`](Config::grace).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().with_grace(Duration::from_secs(10));
    /// assert_eq!(config.grace(), Duration::from_secs(10));
    /// # use lifecycle::config::Budget;
    /// assert_eq!(Budget::new(&config, Duration::ZERO, 0).worst_case(), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`drain_delay`](Config::drain_delay): once the shutdown is triggered, readiness
    /// reports Draining for this long, still serving, before the root token is cancelled.
    ///
    /// Not when the trigger is the main future ending (or it ended before the drain began):
    /// the delay keeps a service serving while load balancers drop it, and the code that
    /// served has finished, so the delay is skipped rather than hold the exit back. Nor when
    /// the service was never Ready: no load balancer sent it traffic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let config = Config::new().with_drain_delay(Duration::from_secs(5));
    /// // The delay comes on top of the 30 s grace period.
    /// # use lifecycle::config::Budget;
    /// assert_eq!(Budget::new(&config, Duration::ZERO, 0).worst_case(), Duration::from_secs(35));
    ///
    /// // Triggered by a request (or a signal) while main still serves: the full delay.
    /// let sequence = Sequence::new(config.clone());
    /// let lc = sequence.handle();
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         lc.started().await;
    ///         lc.request_shutdown();
    ///         lc.cancelled().await // serving until the cancel
    ///     })
    ///     .await;
    /// assert_eq!(report.timings.drain_delay, Duration::from_secs(5));
    ///
    /// // Triggered by main returning: nothing serves any more, so no delay.
    /// let sequence = Sequence::new(config);
    /// let lc = sequence.handle();
    /// let report = sequence.run_without_signals(async move { lc.started().await; }).await;
    /// assert_eq!(report.timings.drain_delay, Duration::ZERO);
    /// # }
    /// ```
    #[must_use]
    pub fn with_drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Sets [`hook_timeout`](Config::hook_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// let lc = Sequence::new(Config::new().with_hook_timeout(Duration::from_secs(2))).handle();
    /// lc.manage(Hook::new(HookKind::Shutdown, "uses the default", || async {}));
    /// let own = Hook::new(HookKind::Shutdown, "sets its own", || async {}).with_timeout(Duration::from_secs(7));
    /// lc.manage(own.with_order(1));
    /// assert_eq!(lc.budget().hook_budget(), Duration::from_secs(2 + 7));
    /// ```
    #[must_use]
    pub fn with_hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Sets [`signals`](Config::signals); duplicates are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Signal};
    ///
    /// let config =
    ///     Config::new().with_signals([Signal::Terminate, Signal::Hangup, Signal::Terminate]);
    /// assert_eq!(config.signals(), [Signal::Terminate, Signal::Hangup]);
    /// ```
    #[must_use]
    pub fn with_signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.signals.clear();
        for signal in signals {
            if !self.signals.contains(&signal) {
                self.signals.push(signal);
            }
        }
        self
    }

    /// Sets [`force_on_second_signal`](Config::force_on_second_signal). When off, a second
    /// signal only skips what is left of the drain delay.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = lifecycle::Config::new().with_force_on_second_signal(false);
    /// assert!(!config.force_on_second_signal());
    /// ```
    #[must_use]
    pub fn with_force_on_second_signal(mut self, force: bool) -> Self {
        self.force_on_second_signal = force;
        self
    }

    /// Sets [`repeat_window`](Config::repeat_window).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().with_repeat_window(Duration::ZERO);
    /// assert_eq!(config.repeat_window(), Duration::ZERO); // count every delivery
    /// assert_eq!(lifecycle::Config::new().repeat_window(), Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn with_repeat_window(mut self, window: Duration) -> Self {
        self.repeat_window = window;
        self
    }

    /// Sets [`deadline_margin`](Config::deadline_margin).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().with_deadline_margin(Duration::from_millis(200));
    /// // grace 30 s + hooks 5 s + the margin
    /// # use lifecycle::config::Budget;
    /// assert_eq!(Budget::new(&config, Duration::from_secs(5), 0).hard_deadline(), Duration::from_millis(35_200));
    /// ```
    #[must_use]
    pub fn with_deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Sets [`flavor`](Config::flavor).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::config::Flavor;
    /// let config = lifecycle::Config::new().with_flavor(Flavor::CurrentThread);
    /// assert_eq!(config.flavor(), Flavor::CurrentThread);
    /// ```
    #[must_use]
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Sets [`worker_threads`](Config::worker_threads) (multi-thread runtime only; see
    /// [`validate`](Config::validate)).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = lifecycle::Config::new().with_worker_threads(4);
    /// assert_eq!(config.worker_threads(), Some(4));
    /// ```
    #[must_use]
    pub fn with_worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = Some(threads);
        self
    }

    /// The longest the start phase may take: `main` up to its start boundary (see
    /// [`Lifecycle::started`](crate::Lifecycle::started)), every start hook, and with
    /// [`ReadyWhen::Manual`] the wait for [`set_ready`](crate::Lifecycle::set_ready). Past it
    /// start-up has failed: the started parts are stopped, the report names what start-up was
    /// waiting for (the boundary, a hook, `set_ready`), and the exit code is
    /// [`EXIT_START_FAILED`](crate::exit::EXIT_START_FAILED).
    ///
    /// The timeout runs on Tokio's clock, which stops when a start hook (or main) blocks its
    /// thread. The watchdog thread (started by [`Sequence::start`](crate::Sequence::start))
    /// enforces it too, on its own clock, with [`deadline_margin`](Config::deadline_margin) on
    /// top: past that, it ends the process where it stands with the same exit code and a line
    /// that says why, rolling nothing back.
    ///
    /// A trigger during the start phase (a SIGTERM while a start hook blocks) arms the
    /// shutdown's hard deadline as well. Until the start phase has ended, the earlier of the two
    /// holds: a signal never pushes this bound out (a start-up that would have ended with exit 5
    /// at 3 s does not become an exit 4 at 14.5 s). Once the start phase has ended (interrupted,
    /// failed or succeeded) the start bound is lifted and the rollback has the shutdown's hard
    /// deadline, as any shutdown does: cutting the rollback at the start bound would skip the
    /// shutdown hooks of what did start.
    ///
    /// A getter: set it with [`with_startup_timeout`](Config::with_startup_timeout).
    pub fn startup_timeout(&self) -> Duration {
        self.startup_timeout
    }

    /// When the service becomes Ready (see [`ReadyWhen`]).
    ///
    /// A getter: set it with [`with_ready_when`](Config::with_ready_when).
    pub fn ready_when(&self) -> ReadyWhen {
        self.ready_when
    }

    /// How long an in-place upgrade ([`Lifecycle::request_upgrade`](crate::Lifecycle::request_upgrade),
    /// SIGUSR2) waits for the new process to be Ready before it kills it and rolls back. By
    /// default the [start-up timeout](Config::startup_timeout) plus the
    /// [deadline margin](Config::deadline_margin) plus 5 s (to start a process and its
    /// runtime): the new process's own start phase ends by then, so the default never cuts one
    /// that is still within its limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().with_startup_timeout(Duration::from_secs(10));
    /// assert_eq!(config.upgrade_timeout(), Duration::from_secs(10 + 1 + 5));
    /// let config = config.with_upgrade_timeout(Duration::from_secs(30));
    /// assert_eq!(config.upgrade_timeout(), Duration::from_secs(30));
    /// ```
    pub fn upgrade_timeout(&self) -> Duration {
        self.upgrade_timeout.unwrap_or_else(|| {
            self.startup_timeout
                .saturating_add(self.deadline_margin)
                .saturating_add(Duration::from_secs(5))
        })
    }

    /// Sets [`upgrade_timeout`](Config::upgrade_timeout) (zero is refused by
    /// [`validate`](Config::validate)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = lifecycle::Config::new().with_upgrade_timeout(Duration::from_secs(90));
    /// assert_eq!(config.upgrade_timeout(), Duration::from_secs(90));
    /// ```
    pub fn with_upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = Some(timeout);
        self
    }

    /// Sets [`startup_timeout`](Config::startup_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().with_startup_timeout(Duration::from_secs(120));
    /// assert_eq!(config.startup_timeout(), Duration::from_secs(120));
    /// ```
    #[must_use]
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Sets [`ready_when`](Config::ready_when).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::config::ReadyWhen;
    /// let config = lifecycle::Config::new().with_ready_when(ReadyWhen::Manual);
    /// assert_eq!(config.ready_when(), ReadyWhen::Manual);
    /// ```
    #[must_use]
    pub fn with_ready_when(mut self, when: ReadyWhen) -> Self {
        self.ready_when = when;
        self
    }

    /// How the lifecycle prints the shutdown report at the end (see [`ReportFormat`]).
    ///
    /// A getter: set it with [`with_report_format`](Config::with_report_format).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::config::ReportFormat;
    /// assert_eq!(lifecycle::Config::new().report_format(), ReportFormat::Text);
    /// ```
    pub fn report_format(&self) -> ReportFormat {
        self.report_format
    }

    /// Sets [`report_format`](Config::report_format). [`ReportFormat::Json`] needs the crate's
    /// `serde` feature: without it, [`validate`](Config::validate) refuses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::config::ReportFormat;
    /// let config = lifecycle::Config::new().with_report_format(ReportFormat::Json);
    /// assert_eq!(config.report_format(), ReportFormat::Json);
    /// assert_eq!(config.validate().is_ok(), cfg!(feature = "serde"));
    /// ```
    #[must_use]
    pub fn with_report_format(mut self, format: ReportFormat) -> Self {
        self.report_format = format;
        self
    }

    /// Drain delay + grace + `hook_budget`: what [`Budget::worst_case`] says.
    pub(crate) fn worst_case_shutdown(&self, hook_budget: Duration) -> Duration {
        self.drain_delay
            .saturating_add(self.grace)
            .saturating_add(hook_budget)
    }

    /// The worst case plus the deadline margin, saturating: what [`Budget::hard_deadline`] says.
    pub(crate) fn hard_deadline(&self, hook_budget: Duration) -> Duration {
        self.worst_case_shutdown(hook_budget)
            .saturating_add(self.deadline_margin)
    }

    /// Checks the configuration as a whole: a zero grace or hook timeout would abort everything
    /// at once, and a worker count must be at least one and goes with the multi-thread runtime
    /// (which settings refuse zero is written once, in the crate's table of settings).
    /// The sequence calls this at start-up; `#[lifecycle::main]` checks the same at compile time.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first setting that is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Flavor;
    /// use lifecycle::Config;
    ///
    /// assert!(Config::new().validate().is_ok());
    /// let err = Config::new().with_grace(Duration::ZERO).validate().unwrap_err();
    /// assert_eq!(err.name(), "grace");
    /// let err = Config::new()
    ///     .with_flavor(Flavor::CurrentThread)
    ///     .with_worker_threads(2)
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(err.name(), "worker_threads");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        settings::check_zeros(self)?;
        if self.report_format == ReportFormat::Json && !cfg!(feature = "serde") {
            return Err(ConfigError::new("report", "json", JSON_NEEDS_SERDE));
        }
        match (self.worker_threads, self.flavor) {
            (Some(threads), Flavor::CurrentThread) => Err(ConfigError::new(
                "worker_threads",
                threads.to_string(),
                "the current-thread runtime has no workers: drop the setting or use the multi-thread flavor",
            )),
            _ => Ok(()),
        }
    }

    /// Applies the `LIFECYCLE_*` environment overrides, then [`validate`](Config::validate)s
    /// the result.
    ///
    /// A variable named `LIFECYCLE_*` that is none of the crate's (the overrides in the table on
    /// [`Config`], [`ENV_PRINT_BUDGET`] and [`ENV_PIDFILE`]) is a mistake that would otherwise go unseen:
    /// `LIFECYCLE_GRAEC=5s` leaves the grace at its value from the code. Each one gets a warning
    /// on standard error, written directly (before any `tracing` subscriber could hide it, and
    /// before the budget is printed), naming the variable and the known one it most likely
    /// meant: `lifecycle: warning: LIFECYCLE_GRAEC is not a lifecycle variable and is ignored:
    /// did you mean LIFECYCLE_GRACE?`. It is a warning, not a refusal to start: a variable that
    /// a newer version of the crate reads, or one set for another tool, must not stop a service.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first variable that does not parse, naming it and its value, or
    /// for the first setting [`validate`](Config::validate) refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Config;
    ///
    /// // With `LIFECYCLE_GRAEC=5s` set, this also writes the warning above to stderr.
    /// let config = Config::new().apply_env()?;
    /// # Ok::<(), lifecycle::config::ConfigError>(())
    /// ```
    pub fn apply_env(self) -> Result<Self, ConfigError> {
        for (name, _) in std::env::vars_os() {
            let Some(warning) = name.to_str().and_then(unknown_variable_warning) else {
                continue;
            };
            crate::log::warn_on_stderr(&warning);
        }
        self.apply_env_from(|name| std::env::var_os(name))
    }

    /// Like [`apply_env`](Config::apply_env), reading the variables through `lookup` instead of
    /// the process environment: for tests, or settings kept somewhere else.
    ///
    /// # Errors
    ///
    /// As [`apply_env`](Config::apply_env).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().apply_env_from(|name| match name {
    ///     "LIFECYCLE_GRACE" => Some("1m30s".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.grace(), Duration::from_secs(90));
    ///
    /// let err = Config::new()
    ///     .apply_env_from(|name| (name == "LIFECYCLE_GRACE").then(|| "30x".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.name(), "LIFECYCLE_GRACE");
    /// assert_eq!(err.value(), "30x");
    /// # Ok::<(), lifecycle::config::ConfigError>(())
    /// ```
    pub fn apply_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, ConfigError> {
        let read = |variable: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(variable) {
                None => Ok(None),
                Some(raw) => match raw.into_string() {
                    Ok(value) => Ok(Some(value)),
                    Err(raw) => Err(ConfigError::new(
                        variable,
                        raw.to_string_lossy().into_owned(),
                        "the value is not valid UTF-8",
                    )),
                },
            }
        };
        settings::apply_env(&mut self, read)?;
        self.validate()?;
        Ok(self)
    }
}

/// The variables the crate reads: the settings' overrides (from the table of settings, in its
/// order), then the budget print.
fn known_variables() -> impl Iterator<Item = &'static str> {
    settings::variables().chain([ENV_PRINT_BUDGET, ENV_PIDFILE])
}

/// Whether the crate reads the variable `name`.
fn known_variable(name: &str) -> bool {
    // The upgrade's own two are read too, but never set by hand: not offered as a hint.
    known_variables()
        .chain([ENV_UPGRADE_FROM, ENV_UPGRADE_READY_FD])
        .any(|known| known == name)
}

/// The warning for a variable named like the crate's own (`LIFECYCLE_` in any case) that the
/// crate does not read, with the known name it most likely meant; `None` for any other name.
///
/// A warning, not a refusal: the service starts with the setting at its value from the code,
/// and the line on standard error says which variable was ignored. Refusing (exit 78) would
/// turn a variable that a newer version reads, or one left in a deployment for another tool,
/// into a service that no longer starts.
fn unknown_variable_warning(name: &str) -> Option<String> {
    const PREFIX: &str = "LIFECYCLE_";
    let upper = name.to_ascii_uppercase();
    if !upper.starts_with(PREFIX) || known_variable(name) {
        return None;
    }
    let closest = known_variables()
        .map(|known| {
            (
                edit_distance(&upper[PREFIX.len()..], &known[PREFIX.len()..]),
                known,
            )
        })
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, known)| *distance <= 2.max((known.len() - PREFIX.len()) / 3));
    let hint = match closest {
        Some((_, known)) => format!("did you mean {known}?"),
        None => format!(
            "the variables read are {}",
            known_variables().collect::<Vec<_>>().join(", ")
        ),
    };
    Some(format!(
        "lifecycle: warning: {name} is not a lifecycle variable and is ignored: {hint}"
    ))
}

/// The number of single-character insertions, deletions, substitutions and swaps of two
/// neighbours that turn `a` into `b` (optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // rows[i][j]: the distance between the first i characters of `a` and the first j of `b`.
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

fn parse_duration(
    variable: &'static str,
    value: &str,
    zero_ok: bool,
) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(value.trim()).map_err(|err| {
        ConfigError::new(
            variable,
            value,
            format!("expected a duration such as `30s`, `500ms` or `1m30s` ({err})"),
        )
    })?;
    if duration.is_zero() && !zero_ok {
        return Err(ConfigError::new(
            variable,
            value,
            "the duration must be greater than zero",
        ));
    }
    Ok(duration)
}

fn parse_signals(value: &str) -> Result<Vec<Signal>, ConfigError> {
    let mut signals = Vec::new();
    for name in value.split(',').map(str::trim) {
        let signal: Signal = name.parse().map_err(|_| {
            ConfigError::new(
                ENV_SIGNALS,
                value,
                format!(
                    "unknown signal `{name}`: expected a comma-separated list of {}",
                    Signal::ALL.map(Signal::name).join(", ")
                ),
            )
        })?;
        if !signals.contains(&signal) {
            signals.push(signal);
        }
    }
    Ok(signals)
}

/// How the lifecycle prints the shutdown report at the end ([`ShutdownReport::log`](crate::ShutdownReport::log)): set with
/// [`Config::with_report_format`](crate::Config::with_report_format),
/// `#[lifecycle::main(report = "json")]` or `LIFECYCLE_REPORT_FORMAT=json`.
///
/// # Examples
///
/// ```
/// use lifecycle::config::ReportFormat;
/// use lifecycle::Config;
///
/// let config = Config::new().with_report_format(ReportFormat::Json);
/// // `json` needs the crate's `serde` feature; without it the configuration is refused.
/// assert_eq!(config.validate().is_ok(), cfg!(feature = "serde"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportFormat {
    /// The summary as lines of text (the default).
    #[default]
    Text,
    /// One JSON object on one line: `ShutdownReport::to_json` (needs the `serde` feature).
    Json,
}

/// What `#[lifecycle::main(report = "json")]` expands to, in a `const` block: the JSON format
/// with the `serde` feature; without it, a compile error saying to enable it (the macro crate
/// cannot see the runtime's features, the compiler can).
///
#[cfg_attr(feature = "serde", doc = "```")]
#[cfg_attr(not(feature = "serde"), doc = "```compile_fail,E0080")]
/// // Compiles with the `serde` feature; without it, fails with the message below.
/// let format = const { lifecycle::__private::report_json() };
/// assert_eq!(format, lifecycle::config::ReportFormat::Json);
/// ```
#[doc(hidden)]
pub const fn report_json() -> ReportFormat {
    if cfg!(feature = "serde") {
        ReportFormat::Json
    } else {
        panic!(
            "`report = \"json\"` needs the `serde` feature of lifecycle: \
             `lifecycle = {{ version = \"...\", features = [\"serde\"] }}` in Cargo.toml, or \
             `report = \"text\"`"
        )
    }
}

/// Why `json` is refused without the `serde` feature.
const JSON_NEEDS_SERDE: &str = "the JSON report needs the `serde` feature of lifecycle: \
     `lifecycle = { version = \"...\", features = [\"serde\"] }` in Cargo.toml, or use `text`";

pub(crate) fn parse_report_format(
    variable: &'static str,
    value: &str,
) -> Result<ReportFormat, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(ReportFormat::Text),
        "json" if cfg!(feature = "serde") => Ok(ReportFormat::Json),
        "json" => Err(ConfigError::new(variable, value, JSON_NEEDS_SERDE)),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected `text` (the report as lines of text) or `json` (one JSON object on one line)",
        )),
    }
}

pub(crate) fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected `true` or `false` (or 1/0, on/off, yes/no)",
        )),
    }
}

/// A setting that could not be used: a `LIFECYCLE_*` variable that does not parse, or a value
/// [`Config::validate`] refuses.
///
/// Its message names the variable (or the setting), the value found and what would be accepted,
/// for example: `invalid LIFECYCLE_GRACE="30x": expected a duration such as `30s`, ...`.
///
/// # Examples
///
/// ```
/// use lifecycle::config::ENV_HOOK_TIMEOUT;
/// use lifecycle::Config;
///
/// let err = Config::new()
///     .apply_env_from(|name| (name == ENV_HOOK_TIMEOUT).then(|| "soon".into()))
///     .unwrap_err();
/// let message = err.to_string();
/// assert!(message.starts_with(r#"invalid LIFECYCLE_HOOK_TIMEOUT="soon": expected a duration"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        name: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            name,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// The environment variable (`LIFECYCLE_GRACE`) or the setting (`grace`) at fault.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = lifecycle::Config::new()
    ///     .apply_env_from(|name| (name == "LIFECYCLE_SIGNALS").then(|| "SIGKILL".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.name(), "LIFECYCLE_SIGNALS");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value that was refused, as found.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = lifecycle::Config::new()
    ///     .apply_env_from(|name| (name == "LIFECYCLE_GRACE").then(|| "soon".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.value(), "soon");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}={:?}: {}", self.name, self.value, self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn an_unknown_lifecycle_variable_is_named_with_the_one_it_most_likely_meant() {
        let warning = |name| unknown_variable_warning(name);
        assert_eq!(
            warning("LIFECYCLE_GRAEC").as_deref(),
            Some("lifecycle: warning: LIFECYCLE_GRAEC is not a lifecycle variable and is ignored: did you mean LIFECYCLE_GRACE?")
        );
        let meant = |name| warning(name).map(|w| w.rsplit(' ').next().unwrap_or("").to_owned());
        assert_eq!(
            meant("LIFECYCLE_DRAIN_DELAI").as_deref(),
            Some("LIFECYCLE_DRAIN_DELAY?")
        );
        assert_eq!(
            meant("LIFECYCLE_HOOKTIMEOUT").as_deref(),
            Some("LIFECYCLE_HOOK_TIMEOUT?")
        );
        assert_eq!(
            meant("lifecycle_grace").as_deref(),
            Some("LIFECYCLE_GRACE?")
        );
        assert_eq!(
            meant("LIFECYCLE_PRINT_BUDGT").as_deref(),
            Some("LIFECYCLE_PRINT_BUDGET?")
        );
        // Nothing close: the known names are listed.
        let far = warning("LIFECYCLE_COLOR").unwrap();
        assert!(far.ends_with(&format!("the variables read are {ENV_GRACE}, {ENV_DRAIN_DELAY}, {ENV_HOOK_TIMEOUT}, {ENV_SIGNALS}, {ENV_FORCE_ON_SECOND_SIGNAL}, {ENV_REPEAT_WINDOW}, {ENV_STARTUP_TIMEOUT}, {ENV_DEADLINE_MARGIN}, {ENV_UPGRADE_TIMEOUT}, {ENV_REPORT_FORMAT}, {ENV_PRINT_BUDGET}, {ENV_PIDFILE}")), "{far}");
        // The crate's own variables, and other names, get no warning.
        for known in settings::variables() {
            assert_eq!(warning(known), None);
        }
        assert_eq!(warning(ENV_PRINT_BUDGET), None);
        assert_eq!(warning("RUST_LOG"), None);
        assert_eq!(warning("MY_LIFECYCLE_GRACE"), None);
    }

    #[test]
    fn edit_distance_counts_a_swap_of_neighbours_as_one() {
        assert_eq!(edit_distance("GRACE", "GRACE"), 0);
        assert_eq!(edit_distance("GRAEC", "GRACE"), 1);
        assert_eq!(edit_distance("GRAC", "GRACE"), 1);
        assert_eq!(edit_distance("", "GRACE"), 5);
        assert_eq!(edit_distance("SIGNAL", "SIGNALS"), 1);
    }

    #[test]
    fn every_variable_overrides_its_setting() {
        let config = Config::new()
            .apply_env_from(env(&[
                (ENV_GRACE, "1m30s"),
                (ENV_DRAIN_DELAY, "0s"),
                (ENV_HOOK_TIMEOUT, "250ms"),
                (ENV_SIGNALS, "SIGTERM, hup"),
                (ENV_FORCE_ON_SECOND_SIGNAL, "off"),
                (ENV_REPEAT_WINDOW, "0s"),
                (ENV_DEADLINE_MARGIN, "2s"),
            ]))
            .unwrap();
        assert_eq!(config.grace(), Duration::from_secs(90));
        assert_eq!(config.drain_delay(), Duration::ZERO);
        assert_eq!(config.hook_timeout(), Duration::from_millis(250));
        assert_eq!(config.signals(), [Signal::Terminate, Signal::Hangup]);
        assert!(!config.force_on_second_signal());
        assert_eq!(config.repeat_window(), Duration::ZERO);
        assert_eq!(config.deadline_margin(), Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, &str, &str); 6] = [
            (&[(ENV_GRACE, "30x")], ENV_GRACE, "30x"),
            (&[(ENV_GRACE, "")], ENV_GRACE, ""),
            (&[(ENV_GRACE, "0s")], ENV_GRACE, "0s"),
            (&[(ENV_HOOK_TIMEOUT, "soon")], ENV_HOOK_TIMEOUT, "soon"),
            (
                &[(ENV_SIGNALS, "SIGTERM,SIGKILL")],
                ENV_SIGNALS,
                "SIGTERM,SIGKILL",
            ),
            (
                &[(ENV_FORCE_ON_SECOND_SIGNAL, "maybe")],
                ENV_FORCE_ON_SECOND_SIGNAL,
                "maybe",
            ),
        ];
        for (pairs, variable, value) in cases {
            let err = Config::new().apply_env_from(env(pairs)).unwrap_err();
            assert_eq!(err.name(), variable);
            assert_eq!(err.value(), value);
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    /// The words a refused value gets, and which of two bad values is named: pinned, so that
    /// reading the rules from the table of settings changed none of them.
    #[test]
    fn refused_values_get_the_same_messages_and_the_first_bad_one_is_named() {
        let refused = |config: Config| config.validate().unwrap_err().to_string();
        let zero = Duration::ZERO;
        assert_eq!(
            refused(Config::new().with_grace(zero)),
            "invalid grace=\"0s\": must be greater than zero"
        );
        assert_eq!(
            refused(
                Config::new()
                    .with_startup_timeout(zero)
                    .with_hook_timeout(zero)
            ),
            "invalid hook_timeout=\"0s\": must be greater than zero"
        );
        assert_eq!(
            refused(Config::new().with_startup_timeout(zero)),
            "invalid startup_timeout=\"0s\": must be greater than zero"
        );
        let current = Config::new().with_flavor(Flavor::CurrentThread);
        assert_eq!(
            refused(current.clone().with_worker_threads(0)),
            "invalid worker_threads=\"0\": must be greater than zero"
        );
        assert_eq!(
            refused(current.with_worker_threads(2)),
            "invalid worker_threads=\"2\": the current-thread runtime has no workers: drop the setting or use the multi-thread flavor"
        );
        for allowed in [
            Config::new().with_drain_delay(zero),
            Config::new().with_repeat_window(zero),
            Config::new().with_deadline_margin(zero),
        ] {
            assert_eq!(allowed.validate(), Ok(()));
        }

        let from_env = |pairs| {
            Config::new()
                .apply_env_from(env(pairs))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            from_env(&[(ENV_STARTUP_TIMEOUT, "0s")]),
            Err(
                "invalid LIFECYCLE_STARTUP_TIMEOUT=\"0s\": the duration must be greater than zero"
                    .into()
            )
        );
        assert_eq!(
            from_env(&[(ENV_DEADLINE_MARGIN, "soon"), (ENV_STARTUP_TIMEOUT, "0s")]),
            Err(
                "invalid LIFECYCLE_STARTUP_TIMEOUT=\"0s\": the duration must be greater than zero"
                    .into()
            )
        );
        assert_eq!(
            from_env(&[(ENV_SIGNALS, "SIGTERM, SIGKILL")]),
            Err("invalid LIFECYCLE_SIGNALS=\"SIGTERM, SIGKILL\": unknown signal `SIGKILL`: expected a comma-separated list of SIGTERM, SIGINT, SIGQUIT, SIGHUP".into())
        );
        let zeros = from_env(&[
            (ENV_DRAIN_DELAY, "0s"),
            (ENV_REPEAT_WINDOW, "0s"),
            (ENV_DEADLINE_MARGIN, "0s"),
        ]);
        assert!(zeros.is_ok());
    }

    #[test]
    fn unset_variables_change_nothing_and_code_values_are_validated_too() {
        assert_eq!(
            Config::new().apply_env_from(|_| None).unwrap(),
            Config::new()
        );
        let zero = Config::new().with_hook_timeout(Duration::ZERO);
        let err = zero.apply_env_from(|_| None).unwrap_err();
        assert_eq!(err.name(), "hook_timeout");
    }
}
