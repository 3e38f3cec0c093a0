//! The task builder: a named task's options (critical), then how it runs (a future, a blocking
//! closure, a supervised part), on the handle and on a scope alike.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::failure::Outcome;
use crate::tasks::node::Node;
use crate::tasks::run::{Restart, Run};
use crate::tasks::supervise::spawn_run;
use crate::tasks::{spawn_blocking_in, spawn_in, TaskName};

/// A named task about to be spawned: made by [`Lifecycle::task`](crate::Lifecycle::task) (unstaged),
/// [`Scope::task`](crate::tasks::scope::Scope::task), or `lc.stage(n).task(..)` (in stop stage *n*).
/// Set its options, then spawn it with [`spawn`](TaskBuilder::spawn),
/// [`spawn_blocking`](TaskBuilder::spawn_blocking) or [`supervise`](TaskBuilder::supervise).
///
/// A tracked task: the drain waits for it (in its scope's or stage's turn), the grace deadline
/// aborts it and names it by its path, and its failure (`Err` or panic) is recorded in the
/// report, or kept for the join of a scope that [keeps failures](crate::tasks::scope::Scope::keep_failures).
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
/// let token = lc.stage(1).token();
/// lc.stage(1).task("writer").spawn(async move { token.cancelled().await }); // after the rest
/// lc.task("consumer").critical().spawn(async { Err::<(), _>("broker gone") });
/// let report = sequence.run_without_signals(async move { lc.cancelled().await }).await;
/// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
/// assert_eq!(report.code(), 1);
/// # }
/// ```
#[must_use = "a task builder spawns nothing until `.spawn`, `.spawn_blocking` or `.supervise`"]
pub struct TaskBuilder<'a> {
    node: &'a Arc<Node>,
    name: Cow<'static, str>,
    critical: bool,
}

impl std::fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(node: &'a Arc<Node>, name: Cow<'static, str>) -> Self {
        Self {
            node,
            name,
            critical: false,
        }
    }

    /// The service cannot run without this task: its failure (`Err` or panic) starts the
    /// shutdown (trigger [`TaskFailed`](crate::Trigger::TaskFailed), exit code 1).
    /// Under a scope that [keeps failures](crate::tasks::scope::Scope::keep_failures), it shuts that
    /// scope down instead.
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
    /// lc.task("consumer").critical().spawn(async { Err::<(), _>("broker connection lost") });
    /// let report = sequence.run_without_signals(async move { lc.cancelled().await }).await;
    /// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
    /// # }
    /// ```
    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    /// Spawns `future` as the tracked task. A panic or an `Err` is recorded; a panic still
    /// reaches the returned `JoinHandle`, an `Err` reaches it as a [`Failure`](crate::Failure)
    /// (see [`Outcome`]). See [`Lifecycle::spawn`](crate::Lifecycle::spawn) for the rest.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    /// let lc = sequence.handle();
    /// lc.task("stubborn").spawn(std::future::pending::<()>()); // ignores cancellation
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert_eq!(report.tasks_aborted[0].name, "stubborn");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        spawn_in(self.node, TaskName::Given(self.name), self.critical, future)
    }

    /// Runs `f` on Tokio's blocking pool as the tracked task. A blocking task cannot be
    /// interrupted: one still running at the grace deadline (or at a scope's
    /// [`abort`](crate::tasks::scope::Scope::abort)) is named as left running. A panic or an `Err` is
    /// recorded like an async task's.
    ///
    /// # Panics
    ///
    /// Like `tokio::task::spawn_blocking`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let sum = lc
    ///     .task("checksum")
    ///     .spawn_blocking(|| Ok::<_, std::io::Error>((1..=100u64).sum::<u64>()));
    /// assert_eq!(sum.await.unwrap().unwrap(), 5050);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> JoinHandle<R::Joined>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Outcome,
        R::Joined: Send + 'static,
    {
        spawn_blocking_in(self.node, TaskName::Given(self.name), self.critical, f)
    }

    /// Runs a long-running part: `make(token)` is called with a child of the scope's (or
    /// stage's) token, and called again after a failure as `restart` allows, with backoff. The
    /// task is critical: a failure that is not restarted goes up as a critical task's does.
    /// Before the service is Ready it waits, and starts when it becomes Ready. (What
    /// a component's `#[run]` method gets.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::tasks::Restart;
    /// use lifecycle::Trigger;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.stage(1)
    ///     .task("consumer")
    ///     .supervise(Restart::on_failure(2), |_token| async { Err::<(), _>("broker gone") });
    /// let handle = lc.clone();
    /// let report = sequence.run_without_signals(async move { handle.cancelled().await }).await;
    /// // Two restarts (100 ms, then 200 ms of backoff), then the third failure escalates.
    /// assert_eq!(report.restarts.len(), 2);
    /// assert_eq!(report.restarts[1].backoff, Duration::from_millis(200));
    /// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
    /// # }
    /// ```
    pub fn supervise<F, Fut>(self, restart: Restart, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let run = Run::new(self.name.clone(), make).with_restart(restart);
        self.run(run);
    }

    /// Runs `run` (named as this builder is) in this builder's node: started now, or once the
    /// service is Ready.
    pub(crate) fn run(self, run: Run) {
        spawn_run(self.node, run);
    }
}
