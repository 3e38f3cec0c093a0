//! Tracked tasks: spawned through the lifecycle's `TaskTracker`, named, their panics caught and
//! recorded, and aborted by name when the grace period runs out.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::task::{AbortHandle, JoinHandle};

use crate::lifecycle::lock;
use crate::report::{panic_message, TaskFailure, Trigger};
use crate::Lifecycle;

/// What a task spawned with [`Lifecycle::spawn_critical`] may return: `()` never fails;
/// `Result<T, E>` fails on `Err`, with `E`'s `Display` text in the report.
///
/// # Examples
///
/// ```
/// use lifecycle::TaskResult;
///
/// assert_eq!(().failure(), None);
/// assert_eq!(Ok::<u32, String>(7).failure(), None);
/// assert_eq!(Err::<u32, _>("broker gone").failure(), Some("broker gone".to_owned()));
/// ```
#[diagnostic::on_unimplemented(
    message = "a critical task must return `()` or `Result<T, E>` with `E: Display`, not `{Self}`"
)]
pub trait TaskResult {
    /// The failure's text, or `None` when the task succeeded.
    fn failure(&self) -> Option<String>;
}

impl TaskResult for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display> TaskResult for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(ToString::to_string)
    }
}

#[derive(Clone)]
enum TaskName {
    Given(Cow<'static, str>),
    SpawnedAt(&'static Location<'static>),
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskName::Given(name) => f.write_str(name),
            TaskName::SpawnedAt(at) => write!(f, "task spawned at {}:{}", at.file(), at.line()),
        }
    }
}

/// One spawned task as the deadline sees it. Entries are not removed when their task ends:
/// [`LiveTasks::push`] drops finished ones in bulk, so finishing a task takes no lock.
struct LiveTask {
    abort: AbortHandle,
    name: TaskName,
    blocking: bool,
}

/// Every tracked task that may still be running, for naming and aborting them at the deadline.
///
/// A spawn appends under a short lock; nothing happens when a task ends. When the list reaches
/// its threshold, finished entries are dropped in one pass and the threshold becomes twice what
/// is left: the list stays within a constant factor of the live set, at an amortized constant
/// cost per spawn, and the spawn path reads no counter that the workers write.
#[derive(Default)]
pub(crate) struct LiveTasks {
    tasks: Mutex<List>,
}

#[derive(Default)]
struct List {
    entries: Vec<LiveTask>,
    compact_at: usize,
}

/// Below this many entries the list is never compacted: small services never pay for it.
const COMPACT_AT: usize = 64;

impl LiveTasks {
    fn push(&self, task: LiveTask) {
        let mut list = lock(&self.tasks);
        if list.entries.len() >= list.compact_at.max(COMPACT_AT) {
            list.entries.retain(|task| !task.abort.is_finished());
            list.compact_at = list.entries.len().saturating_mul(2);
        }
        list.entries.push(task);
    }

    /// How many tracked tasks have not finished.
    pub(crate) fn running(&self) -> usize {
        lock(&self.tasks)
            .entries
            .iter()
            .filter(|task| !task.abort.is_finished())
            .count()
    }

    /// Aborts every async task still running and returns the names of all that were left, in
    /// spawn order. Blocking tasks cannot be aborted once started; they are named as left running.
    pub(crate) fn abort_all(&self) -> Vec<String> {
        let left: Vec<(String, AbortHandle)> = lock(&self.tasks)
            .entries
            .iter()
            .filter(|task| !task.abort.is_finished())
            .map(|task| {
                let name = if task.blocking {
                    format!("{} (blocking, left running)", task.name)
                } else {
                    task.name.to_string()
                };
                (name, task.abort.clone())
            })
            .collect();
        left.into_iter()
            .map(|(name, abort)| {
                abort.abort();
                name
            })
            .collect()
    }
}

/// What a tracked task needs to record its own panic: which lifecycle, and under what name.
///
/// It holds the lifecycle's id, not an `Arc`: a reference count per task would be a contended
/// atomic on every spawn and every task end, paid for a panic that almost never comes.
struct Recorder {
    lifecycle: u64,
    name: TaskName,
    critical: bool,
}

impl Recorder {
    fn record_failure(&self, error: String) {
        let name = self.name.to_string();
        let critical = self.critical;
        tracing::error!(task = %name, critical, error = %error, "tracked task failed");
        let Some(inner) = crate::lifecycle::find(self.lifecycle) else {
            return; // the lifecycle is gone; the log line above is all that is left to do
        };
        lock(&inner.failures).push(TaskFailure {
            task: name.clone(),
            error: error.clone(),
            critical,
        });
        if critical {
            inner.trigger(Trigger::TaskFailed { task: name, error });
        }
    }
}

/// Finds the failure in a critical task's output, if any.
type Check<T> = fn(&T) -> Option<String>;

pin_project_lite::pin_project! {
    /// A tracked task's future: catches a panic to record it, then lets it continue unwinding so
    /// the `JoinHandle` still reports it.
    struct Tracked<F: Future> {
        #[pin]
        future: F,
        recorder: Recorder,
        // For a critical task: the `Err` of its output, which is recorded like a panic.
        check: Option<Check<F::Output>>,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => {
                if let Some(error) = this.check.and_then(|check| check(&output)) {
                    this.recorder.record_failure(error);
                }
                Poll::Ready(output)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                this.recorder.record_failure(panic_message(&*payload));
                panic::resume_unwind(payload)
            }
        }
    }
}

impl Lifecycle {
    fn track<T>(
        &self,
        name: TaskName,
        blocking: bool,
        critical: bool,
        spawn: impl FnOnce(Recorder) -> JoinHandle<T>,
    ) -> JoinHandle<T> {
        let recorder = Recorder {
            lifecycle: self.inner.id,
            name: name.clone(),
            critical,
        };
        let handle = spawn(recorder);
        let task = LiveTask {
            abort: handle.abort_handle(),
            name,
            blocking,
        };
        self.inner.live.push(task);
        handle
    }

    /// Spawns `future` as a tracked task; with `check` it is critical, and an output that
    /// `check` calls a failure is recorded and triggers the shutdown, like a panic.
    fn spawn_tracked<F>(
        &self,
        name: TaskName,
        check: Option<Check<F::Output>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tracker = &self.inner.tracker;
        self.track(name, false, check.is_some(), move |recorder| {
            tracker.spawn(Tracked {
                future,
                recorder,
                check,
            })
        })
    }

    /// Spawns a tracked task: the drain waits for it, and if it is still running at the grace
    /// deadline it is aborted and named in the report (by where it was spawned). A panic is
    /// recorded in the report and still reaches the returned `JoinHandle`.
    ///
    /// The task should watch a token from [`token`](Lifecycle::token) (or
    /// [`cancelled`](Lifecycle::cancelled)) and return when it is cancelled.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let token = lc.token();
    /// lc.spawn(async move {
    ///     // Work until cancelled, then finish the current item and return.
    ///     token.cancelled().await;
    /// });
    /// let report = lc.run(async {}).await;
    /// assert!(report.tasks_aborted.is_empty());
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_tracked(TaskName::SpawnedAt(Location::caller()), None, future)
    }

    /// Like [`spawn`](Lifecycle::spawn), with a name for the report and the logs.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(1)));
    /// // This task ignores cancellation, so the grace deadline aborts it.
    /// lc.spawn_named("stubborn", std::future::pending::<()>());
    /// let report = lc.run(async {}).await;
    /// assert_eq!(report.tasks_aborted, ["stubborn"]);
    /// # }
    /// ```
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_tracked(TaskName::Given(name.into()), None, future)
    }

    /// Spawns a tracked task the service cannot run without: if it returns `Err` or panics, the
    /// shutdown starts (trigger [`TaskFailed`](crate::Trigger::TaskFailed)) and the exit code is 1.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.spawn_critical("consumer", async { Err::<(), _>("broker connection lost") });
    /// let token = lc.token();
    /// let report = lc.run(async move { token.cancelled().await }).await;
    /// assert!(matches!(report.trigger, Trigger::TaskFailed { .. }));
    /// assert_eq!(report.code(), lifecycle::EXIT_APP_FAILED);
    /// # }
    /// ```
    pub fn spawn_critical<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult + Send + 'static,
    {
        let check: Check<F::Output> = |output| output.failure();
        self.spawn_tracked(TaskName::Given(name.into()), Some(check), future)
    }

    /// Runs a blocking function on Tokio's blocking pool as a tracked task: the drain waits for
    /// it. A blocking task cannot be interrupted; one still running at the grace deadline is
    /// named in the report as left running, and the process exits without waiting for it.
    ///
    /// # Panics
    ///
    /// Like `tokio::task::spawn_blocking`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let sum = lc.spawn_blocking("checksum", || (1..=100u64).sum::<u64>());
    /// assert_eq!(sum.await.unwrap(), 5050);
    /// # }
    /// ```
    pub fn spawn_blocking<F, R>(&self, name: impl Into<Cow<'static, str>>, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let tracker = &self.inner.tracker;
        self.track(TaskName::Given(name.into()), true, false, move |recorder| {
            tracker.spawn_blocking(move || match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(output) => output,
                Err(payload) => {
                    recorder.record_failure(panic_message(&*payload));
                    panic::resume_unwind(payload)
                }
            })
        })
    }

    /// How many tracked tasks are still running.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let token = lc.token();
    /// lc.spawn(async move { token.cancelled().await });
    /// assert_eq!(lc.tasks_running(), 1);
    /// lc.run(async {}).await; // the drain cancels the token and waits for the task
    /// assert_eq!(lc.tasks_running(), 0);
    /// # }
    /// ```
    pub fn tasks_running(&self) -> usize {
        self.inner.live.running()
    }
}
