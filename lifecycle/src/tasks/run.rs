//! Supervised long-running parts: what a [`Run`] is, how it is restarted, and what the report
//! says of its restarts. Public through `lifecycle::hooks` and `lifecycle::report`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, Outcome};
use crate::lock::lock;
use crate::tasks::Stage;

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
/// use lifecycle::tasks::Restart;
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
    /// use lifecycle::tasks::Restart;
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
/// and runs until it is cancelled. What [`Component::runs`](crate::Component::runs) returns:
/// [`manage`](crate::Lifecycle::manage) spawns each as a critical tracked task in its stage,
/// under its name, once the service is Ready; `#[run(stage = N, restart = "on-failure",
/// max_restarts = 5)]` on a component method makes one. Outside a component,
/// `lc.stage(n).task(name).supervise(restart, make)` spawns the same.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::Trigger;
/// use std::sync::Arc;
/// use lifecycle::tasks::{Restart, Run};
/// use lifecycle::{Component, Config, Hook, Sequence};
///
/// struct Consumer;
/// impl Component for Consumer {
///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
///         Vec::new()
///     }
///     fn runs(self: Arc<Self>) -> Vec<Run> {
///         vec![Run::new("consumer", |_token| async { Err::<(), _>("broker gone") })
///             .in_stage(1)
///             .with_restart(Restart::on_failure(2))]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(Arc::new(Consumer));
/// let handle = lc.clone();
/// let main = async move { handle.cancelled().await }; // the start boundary: the run starts
/// let report = sequence.run_without_signals(main).await;
/// // Two restarts (100 ms, then 200 ms of backoff), then the third failure escalates.
/// assert_eq!(report.restarts.len(), 2);
/// assert_eq!(report.restarts[1].backoff, Duration::from_millis(200));
/// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
/// assert_eq!(report.code(), 1);
/// # }
/// ```
#[must_use = "a run does nothing until a component returns it from `runs`"]
pub struct Run {
    pub(crate) name: String,
    pub(crate) stage: Option<Stage>,
    pub(crate) restart: Restart,
    pub(crate) make: Arc<MakeAttempt>,
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
    /// let run = lifecycle::tasks::Run::new("writer", |token| async move { token.cancelled().await });
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
            "`{}` restart {} after {}: {:#}",
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
