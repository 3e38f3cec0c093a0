//! Stop stages and supervised long-running parts: the stage number, what a [`Run`] is, how it
//! is restarted, and what the report says of both. Public through `lifecycle::hooks` (the stage
//! concept is documented on [`Stage`]) and `lifecycle::report`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, Outcome};
use crate::lock::lock;
use crate::state::{Readiness, State};

/// A stop stage (0 to 255): an order for stopping running work.
///
/// Without stages, the drain cancels one root token for everything at once. A service whose
/// parts feed each other needs an order: stop accepting HTTP and let the handlers finish, only
/// then stop the consumer they feed, only then flush the producer. Give each part a **stage**, a
/// number: at the drain, after the unstaged work (the main future and the tasks on
/// [`Lifecycle::token`](crate::Lifecycle::token)) has finished, stage 0 is cancelled and
/// drained, then stage 1, and so on in ascending order. All of it shares the one
/// [`grace`](crate::Config::grace) deadline: a stage that overruns eats the later stages' time,
/// never more, and at the deadline what is left (in any stage) is aborted and named.
///
/// - [`Lifecycle::stage`](crate::Lifecycle::stage): the stage's own node, a
///   [`Scope`](crate::Scope) with its token, its tasks (`lc.stage(1).task("flush").spawn(..)`)
///   and scopes drained in its turn (`lc.stage(1).scope("writers")`): stages are ordered
///   top-level scopes (see [`Scope`](crate::Scope));
/// - [`Lifecycle::token_in`](crate::Lifecycle::token_in): a token cancelled when its stage's
///   turn comes;
/// - [`Lifecycle::spawn_in`](crate::Lifecycle::spawn_in): a tracked task in a stage (the drain
///   waits for it before cancelling the next stage);
/// - [`Run`] with [`Lifecycle::spawn_run`](crate::Lifecycle::spawn_run), or a `#[run(stage = N)]`
///   method on a `#[lifecycle::component]`: a long-running part that gets its stage's token,
///   optionally restarted on failure ([`Restart`]).
///
/// The report lists each stage's drain ([`StageDrain`](crate::report::StageDrain)) and every
/// restart ([`Restarted`](crate::report::Restarted)).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let stopped = Arc::new(Mutex::new(Vec::new()));
/// for (stage, name) in [(1, "writer"), (0, "http")] {
///     let token = lc.token_in(stage);
///     let stopped = Arc::clone(&stopped);
///     lc.spawn_in(stage, name, async move {
///         token.cancelled().await;
///         tokio::time::sleep(Duration::from_millis(100)).await; // finish what it holds
///         stopped.lock().unwrap().push(name);
///     });
/// }
/// let report = sequence.run(async {}).await;
/// assert_eq!(*stopped.lock().unwrap(), ["http", "writer"]); // stage 0 first, then stage 1
/// assert_eq!(report.stages[1].stage, Some(0));
/// assert_eq!(report.stages[1].took, Duration::from_millis(100));
/// # }
/// ```
pub type Stage = u8;

// ===== impl StageDrain =====

/// How one stage's drain went, in [`ShutdownReport::stages`](crate::ShutdownReport::stages).
///
/// The report lists stages only when the app used any: first the unstaged work (`stage:
/// None`: the main future and the tasks on the root token), then each stage in the order it
/// was cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::report::StageEnd;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
/// let lc = sequence.handle();
/// lc.spawn_in(0, "stubborn", std::future::pending::<()>()); // ignores its stage's token
/// let token = lc.token_in(1);
/// lc.spawn_in(1, "flush", async move { token.cancelled().await });
/// let report = sequence.run(async {}).await;
/// let ends: Vec<_> = report.stages.iter().map(|s| (s.stage, s.end)).collect();
/// assert_eq!(
///     ends,
///     [(None, StageEnd::Drained), (Some(0), StageEnd::Deadline), (Some(1), StageEnd::NotReached)]
/// );
/// assert_eq!(report.stages[1].took, Duration::from_secs(1)); // stage 0 ate the whole grace
/// assert_eq!(report.tasks_aborted[0].name, "stubborn");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageDrain {
    /// The stage; `None` for the unstaged work, cancelled first with the root token.
    pub stage: Option<Stage>,
    /// From the stage's cancel until its last task finished (or the grace deadline).
    pub took: Duration,
    /// How its drain ended.
    pub end: StageEnd,
}

impl StageDrain {
    pub(crate) fn new(stage: Option<Stage>, took: Duration, drained: bool) -> Self {
        let end = if drained {
            StageEnd::Drained
        } else {
            StageEnd::Deadline
        };
        Self { stage, took, end }
    }

    pub(crate) fn not_reached(stage: Stage) -> Self {
        Self {
            stage: Some(stage),
            took: Duration::ZERO,
            end: StageEnd::NotReached,
        }
    }
}

/// How a stage's drain ended.
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::report::StageEnd::NotReached.to_string(), "not reached: grace over");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageEnd {
    /// Every task of the stage finished within the grace.
    Drained,
    /// The grace deadline passed while this stage drained: what was left was aborted.
    Deadline,
    /// An earlier stage used up the grace: this stage's tasks were aborted without a cancel.
    NotReached,
}

impl fmt::Display for StageEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageEnd::Drained => "drained",
            StageEnd::Deadline => "grace over while draining",
            StageEnd::NotReached => "not reached: grace over",
        })
    }
}

impl fmt::Display for StageDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.stage {
            Some(stage) => format!("stage {stage}"),
            None => "unstaged".to_owned(),
        };
        write!(
            f,
            "{label:<10}  {:>8}  {}",
            crate::log::Millis(self.took).to_string(),
            self.end
        )
    }
}

// ===== impl Restart =====

/// When a [`Run`] is restarted: never (the default), or on failure with exponential backoff, a
/// bounded number of times. A run is critical either way: a failure that is not restarted (no
/// restarts left, or it failed once its stage was cancelled) starts the shutdown with exit
/// code 1. Restarts go on after the trigger until the run's stage is cancelled (the stages
/// drained before it may need it); from then on a failure, or a backoff under way, restarts
/// nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::hooks::Restart;
///
/// let restart = Restart::on_failure(5).with_backoff(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(restart.max_restarts(), 5);
/// // 100 ms before the first restart, doubling, capped at 1 s.
/// assert_eq!(restart.backoff(1), Duration::from_millis(100));
/// assert_eq!(restart.backoff(4), Duration::from_millis(800));
/// assert_eq!(restart.backoff(5), Duration::from_secs(1));
/// assert_eq!(Restart::never().max_restarts(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    max_restarts: u32,
    initial: Duration,
    max: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Self::never()
    }
}

impl Restart {
    /// The backoff before the first restart, unless [`with_backoff`](Self::with_backoff) says.
    pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
    /// The longest backoff, unless [`with_backoff`](Self::with_backoff) says.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);

    /// No restart: the first failure starts the shutdown.
    pub const fn never() -> Self {
        Self {
            max_restarts: 0,
            initial: Self::DEFAULT_BACKOFF,
            max: Self::DEFAULT_MAX_BACKOFF,
        }
    }

    /// Restarts on `Err` or panic, at most `max_restarts` times in the service's life; the next
    /// failure starts the shutdown.
    pub const fn on_failure(max_restarts: u32) -> Self {
        Self {
            max_restarts,
            ..Self::never()
        }
    }

    /// The backoff before the first restart, doubled for each further one up to `max`.
    pub const fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial = initial;
        self.max = max;
        self
    }

    /// The backoff before the first restart, doubled for each further one up to
    /// [`DEFAULT_MAX_BACKOFF`](Self::DEFAULT_MAX_BACKOFF), or up to `initial` when that is
    /// longer (`#[run(backoff = "..")]`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::hooks::Restart;
    ///
    /// let restart = Restart::on_failure(3).with_first_backoff(Duration::from_secs(30));
    /// assert_eq!(restart.backoff(3), Duration::from_secs(30));
    /// ```
    pub const fn with_first_backoff(mut self, initial: Duration) -> Self {
        self.initial = initial;
        if initial.as_nanos() > self.max.as_nanos() {
            self.max = initial;
        }
        self
    }

    /// How many restarts are allowed.
    pub const fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// The wait before restart number `restart` (1 for the first): `initial * 2^(restart-1)`,
    /// at most the maximum. Saturates, never overflows.
    pub fn backoff(&self, restart: u32) -> Duration {
        let doublings = restart.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }
}

// ===== impl Run =====

type MakeAttempt = dyn Fn(CancellationToken) -> Pin<Box<dyn Future<Output = Option<Failure>> + Send>>
    + Send
    + Sync;

/// A long-running part (a consumer, a writer, a poller): a function that gets its stage's token
/// and runs until it is cancelled. Spawned with
/// [`Lifecycle::spawn_run`](crate::Lifecycle::spawn_run) as a tracked task in its stage, under
/// its name; `#[run(stage = N, restart = "on-failure", max_restarts = 5)]` on a component
/// method makes one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::report::Trigger;
/// use lifecycle::hooks::{Restart, Run};
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.spawn_run(
///     Run::new("consumer", |_token| async { Err::<(), _>("broker gone") })
///         .in_stage(1)
///         .with_restart(Restart::on_failure(2)),
/// );
/// let handle = lc.clone();
/// let main = async move { handle.cancelled().await }; // the start boundary: the run starts
/// let report = sequence.run(main).await;
/// // Two restarts (100 ms, then 200 ms of backoff), then the third failure escalates.
/// assert_eq!(report.restarts.len(), 2);
/// assert_eq!(report.restarts[1].backoff, Duration::from_millis(200));
/// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
/// assert_eq!(report.code(), 1);
/// # }
/// ```
#[must_use = "a run does nothing until it is spawned with `Lifecycle::spawn_run`"]
pub struct Run {
    pub(crate) name: String,
    pub(crate) stage: Option<Stage>,
    pub(crate) restart: Restart,
    pub(crate) make: Arc<MakeAttempt>,
    /// The scope (or stage) node it runs in, when a task builder spawned it; `None`: its stage,
    /// or the root.
    pub(crate) node: Option<Arc<crate::node::Node>>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("name", &self.name)
            .field("stage", &self.stage)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// A part named `name` that runs `f(token)`, unstaged and never restarted until told
    /// otherwise. `f` is called again for each restart.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        Self {
            name: name.into(),
            stage: None,
            restart: Restart::never(),
            make: Arc::new(move |token| {
                let attempt = f(token);
                Box::pin(async move { attempt.await.into_outcome().1 })
            }),
            node: None,
        }
    }

    /// Puts the part in `stage`: its token is cancelled when the stage's turn comes.
    pub fn in_stage(mut self, stage: Stage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// Sets when the part is restarted.
    pub fn with_restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The part's name (its task's name in the report).
    ///
    /// # Examples
    ///
    /// ```
    /// let run = lifecycle::hooks::Run::new("writer", |token| async move { token.cancelled().await });
    /// assert_eq!(run.name(), "writer");
    /// assert_eq!(run.in_stage(2).stage(), Some(2));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The part's stage; `None`: unstaged (cancelled with the root token).
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }
}

// ===== impl Restarted =====

/// One restart of a supervised [`Run`], in
/// [`ShutdownReport::restarts`](crate::ShutdownReport::restarts) (the first
/// [`MAX_RESTARTS_NAMED`] of them). See [`Run`] for an example.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Restarted {
    /// The part's name.
    pub task: String,
    /// Which restart this was: 1 for the first.
    pub restart: u32,
    /// The failure that caused it.
    pub error: Failure,
    /// How long it waited before restarting.
    pub backoff: Duration,
}

impl fmt::Display for Restarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` restart {} after {}: {}",
            self.task,
            self.restart,
            crate::log::Millis(self.backoff),
            self.error
        )
    }
}

/// How many restarts a report lists; more are counted in
/// [`ShutdownReport::restarts_total`](crate::ShutdownReport::restarts_total).
pub const MAX_RESTARTS_NAMED: usize = 100;

/// The restarts of one lifecycle's runs.
#[derive(Default)]
pub(crate) struct RestartLog {
    entries: Mutex<(Vec<Restarted>, usize)>,
}

impl RestartLog {
    pub(crate) fn record(&self, restart: Restarted) {
        let mut entries = lock(&self.entries);
        if entries.0.len() < MAX_RESTARTS_NAMED {
            entries.0.push(restart);
        }
        entries.1 = entries.1.saturating_add(1);
    }

    /// The restarts listed, and how many there were in all.
    pub(crate) fn taken(&self) -> (Vec<Restarted>, usize) {
        let entries = lock(&self.entries);
        (entries.0.clone(), entries.1)
    }
}

/// Runs spawned before the service was Ready: they start when it becomes Ready.
#[derive(Default)]
pub(crate) struct PendingRuns {
    runs: Mutex<Vec<Run>>,
}

impl PendingRuns {
    /// Keeps `run` for later while the service is Starting; otherwise hands it back to start
    /// now. The state is read under the lock [`take`](Self::take) empties the list under, so a
    /// run added at the moment the service becomes Ready starts exactly once.
    pub(crate) fn park(&self, run: Run, readiness: &Readiness) -> Option<Run> {
        let mut runs = lock(&self.runs);
        if readiness.get() == State::Starting {
            runs.push(run);
            None
        } else {
            Some(run)
        }
    }

    /// The runs to start now that the service is Ready (call after readiness moved).
    pub(crate) fn take(&self) -> Vec<Run> {
        std::mem::take(&mut *lock(&self.runs))
    }
}
