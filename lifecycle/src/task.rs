//! Tracked tasks: spawned through the lifecycle's `TaskTracker`, named, their failures recorded
//! (grouped by name, so a task failing in a loop cannot grow the report), and aborted by name
//! when the grace period runs out.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::task::{AbortHandle, JoinHandle};

use crate::failure::{Failure, IntoFailure};
use crate::lifecycle::lock;
use crate::report::{AbortedTask, TaskFailure, TaskKind, Trigger, MAX_TASK_FAILURES};
use crate::Lifecycle;

/// What a tracked task may return: `()`, or `Result<T, E>` where `E` converts into a
/// [`Failure`] (any `Error + Send + Sync` type, `String`, `&str`, `anyhow::Error`, ...).
///
/// An `Err` is recorded in the report (and, for a [critical](Lifecycle::spawn_critical) task,
/// starts the shutdown). The error then belongs to the report: the task's `JoinHandle` yields
/// `Result<T, Failure>`, whose [`downcast_ref`](Failure::downcast_ref) reaches the original
/// error.
///
/// # Examples
///
/// ```
/// use lifecycle::TaskResult;
///
/// let ((), failure) = ().into_task_output();
/// assert!(failure.is_none());
/// let (joined, failure) = Err::<u32, _>("broker gone").into_task_output();
/// assert_eq!(failure.unwrap().to_string(), "broker gone");
/// assert_eq!(joined.unwrap_err().to_string(), "broker gone");
/// ```
#[diagnostic::on_unimplemented(
    message = "a tracked task must return `()` or `Result<T, E>` with an error type `E` that converts into `Box<dyn std::error::Error + Send + Sync>`, not `{Self}`",
    label = "this task's output",
    note = "every `Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `anyhow::Error` and `eyre::Report`; to return a value, return `Ok(value)`"
)]
pub trait TaskResult {
    /// What the task's `JoinHandle` yields.
    type Joined;

    /// Splits the output into what the `JoinHandle` yields and the failure to record, if any.
    fn into_task_output(self) -> (Self::Joined, Option<Failure>);
}

impl TaskResult for () {
    type Joined = ();

    fn into_task_output(self) -> ((), Option<Failure>) {
        ((), None)
    }
}

impl<T, E: IntoFailure> TaskResult for Result<T, E> {
    type Joined = Result<T, Failure>;

    fn into_task_output(self) -> (Result<T, Failure>, Option<Failure>) {
        match self {
            Ok(value) => (Ok(value), None),
            Err(error) => {
                let failure = error.into_failure();
                (Err(failure.clone()), Some(failure))
            }
        }
    }
}

/// A task's name: given by the caller, or where it was spawned (kept as a static location, so
/// naming costs nothing on the spawn path).
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

/// One spawned task, as the deadline needs it: how to abort it and what to call it.
struct LiveTask {
    abort: AbortHandle,
    name: TaskName,
    kind: TaskKind,
    late: bool,
    /// Aborted (and reported) already: never reported twice.
    cut: bool,
}

/// Every tracked task that may still be running: an append-only list, compacted when it reaches
/// twice the live count, so a task's end costs nothing and a spawn only a push.
#[derive(Default)]
pub(crate) struct LiveTasks {
    tasks: Mutex<List>,
}

#[derive(Default)]
struct List {
    entries: Vec<LiveTask>,
    compact_at: usize,
}

/// The list is never compacted below this length.
const COMPACT_AT: usize = 64;

/// A task aborted (or found blocking) and not yet checked: whether it stopped is known only a
/// moment later.
pub(crate) struct Cut {
    abort: AbortHandle,
    task: AbortedTask,
}

impl Cut {
    /// What the report says of it: whether it really stopped is read now.
    pub(crate) fn settle(self) -> AbortedTask {
        AbortedTask {
            stopped: self.abort.is_finished(),
            ..self.task
        }
    }
}

impl LiveTasks {
    fn push(&self, task: LiveTask) {
        let mut list = lock(&self.tasks);
        if list.entries.len() >= list.compact_at.max(COMPACT_AT) {
            list.entries.retain(|task| !task.abort.is_finished());
            list.compact_at = list.entries.len().saturating_mul(2);
        }
        list.entries.push(task);
    }

    pub(crate) fn running(&self) -> usize {
        lock(&self.tasks)
            .entries
            .iter()
            .filter(|task| !task.abort.is_finished())
            .count()
    }

    /// Aborts every task still running (only the late ones, spawned after the drain, with
    /// `late_only`); blocking ones cannot be aborted and are only named. Returns them, to be
    /// [settled](Cut::settle) once the aborts had a moment to land.
    pub(crate) fn abort_all(&self, late_only: bool) -> Vec<Cut> {
        let cuts: Vec<Cut> = lock(&self.tasks)
            .entries
            .iter_mut()
            .filter(|task| !task.cut && !task.abort.is_finished() && (task.late || !late_only))
            .map(|task| {
                task.cut = true;
                Cut {
                    abort: task.abort.clone(),
                    task: AbortedTask {
                        name: task.name.to_string(),
                        kind: task.kind,
                        stopped: false,
                        late: task.late,
                    },
                }
            })
            .collect();
        for cut in &cuts {
            cut.abort.abort();
        }
        cuts
    }
}

/// The failures of tracked tasks, one entry per task name.
#[derive(Default)]
pub(crate) struct Failures {
    pub(crate) entries: Vec<TaskFailure>,
    /// Failures of task names beyond [`MAX_TASK_FAILURES`].
    pub(crate) other: u64,
}

impl Failures {
    fn record(&mut self, task: String, critical: bool, failure: Failure) {
        let same = |entry: &&mut TaskFailure| entry.task == task && entry.critical == critical;
        if let Some(entry) = self.entries.iter_mut().find(same) {
            entry.count = entry.count.saturating_add(1);
            entry.last = failure;
        } else if self.entries.len() < MAX_TASK_FAILURES {
            self.entries.push(TaskFailure {
                task,
                critical,
                count: 1,
                first: failure.clone(),
                last: failure,
            });
        } else {
            self.other = self.other.saturating_add(1);
        }
    }
}

/// What a task needs to report its own failure: its lifecycle's id (looked up only when it
/// fails), its name and whether it is critical.
struct Recorder {
    lifecycle: u64,
    name: TaskName,
    critical: bool,
}

impl Recorder {
    fn record_failure(&self, failure: Failure) {
        let name = self.name.to_string();
        let critical = self.critical;
        let Some(inner) = crate::lifecycle::find(self.lifecycle) else {
            crate::log::quietly(|| {
                tracing::error!(task = %name, critical, error = %failure, "tracked task failed");
            });
            return; // the lifecycle is gone; the log line above is all that is left to do
        };
        lock(&inner.failures).record(name.clone(), critical, failure.clone());
        if critical {
            inner.trigger(Trigger::TaskFailed {
                task: name.clone(),
                error: failure.clone(),
            });
        }
        crate::log::quietly(|| {
            tracing::error!(task = %name, critical, error = %failure, "tracked task failed");
        });
    }
}

pin_project_lite::pin_project! {
    /// A tracked task's future: catches its panic and records its failure.
    struct Tracked<F> {
        #[pin]
        future: F,
        recorder: Recorder,
    }
}

impl<F> Future for Tracked<F>
where
    F: Future,
    F::Output: TaskResult,
{
    type Output = <F::Output as TaskResult>::Joined;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => {
                let (joined, failure) = output.into_task_output();
                if let Some(failure) = failure {
                    this.recorder.record_failure(failure);
                }
                Poll::Ready(joined)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                this.recorder.record_failure(Failure::panic(&*payload));
                panic::resume_unwind(payload)
            }
        }
    }
}

/// Spawns on the current runtime; with the `console` feature under `--cfg tokio_unstable`, with
/// the task's name, so tokio-console shows it. `#[track_caller]` all the way down: Tokio records
/// the app's call site, not this file.
#[track_caller]
fn spawn_named_on_runtime<F>(name: &TaskName, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(all(tokio_unstable, feature = "console"))]
    {
        let name = name.to_string();
        match tokio::task::Builder::new().name(&name).spawn(future) {
            Ok(handle) => handle,
            Err(err) => panic!("could not spawn task `{name}`: {err}"),
        }
    }
    #[cfg(not(all(tokio_unstable, feature = "console")))]
    {
        let _ = name;
        tokio::spawn(future)
    }
}

impl Lifecycle {
    fn live_task(&self, abort: AbortHandle, name: TaskName, kind: TaskKind) {
        let late = self.inner.drained.load(Ordering::Relaxed);
        self.inner.live.push(LiveTask {
            abort,
            name,
            kind,
            late,
            cut: false,
        });
    }

    /// Spawns `future` as a tracked task; a critical one's failure starts the shutdown.
    #[track_caller]
    fn spawn_tracked<F>(
        &self,
        name: TaskName,
        critical: bool,
        future: F,
    ) -> JoinHandle<<F::Output as TaskResult>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
        <F::Output as TaskResult>::Joined: Send + 'static,
    {
        let recorder = Recorder {
            lifecycle: self.inner.id,
            name: name.clone(),
            critical,
        };
        let tracked = self
            .inner
            .tracker
            .track_future(Tracked { future, recorder });
        let handle = spawn_named_on_runtime(&name, tracked);
        self.live_task(handle.abort_handle(), name, TaskKind::Async);
        handle
    }

    /// Spawns a tracked task: the drain waits for it, and if it is still running at the grace
    /// deadline it is aborted and named in the report (by where it was spawned). A panic or an
    /// `Err` is recorded in the report; a panic still reaches the returned `JoinHandle`, an
    /// `Err` reaches it as a [`Failure`].
    ///
    /// The task should watch a token from [`token`](Lifecycle::token) (or
    /// [`cancelled`](Lifecycle::cancelled)) and return when it is cancelled. A task spawned after
    /// the drain (from a hook, say) is aborted and named when the report is made if it is still
    /// running then: nothing waits for it.
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
    pub fn spawn<F>(&self, future: F) -> JoinHandle<<F::Output as TaskResult>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
        <F::Output as TaskResult>::Joined: Send + 'static,
    {
        self.spawn_tracked(TaskName::SpawnedAt(Location::caller()), false, future)
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
    /// // This one fails: the report keeps its error, the exit code does not change.
    /// lc.spawn_named("fetch", async { Err::<(), _>("upstream refused") });
    /// let report = lc.run(async {}).await;
    /// assert_eq!(report.tasks_aborted[0].name, "stubborn");
    /// assert_eq!(report.task_failures[0].first.to_string(), "upstream refused");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<<F::Output as TaskResult>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
        <F::Output as TaskResult>::Joined: Send + 'static,
    {
        self.spawn_tracked(TaskName::Given(name.into()), false, future)
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
    #[track_caller]
    pub fn spawn_critical<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<<F::Output as TaskResult>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
        <F::Output as TaskResult>::Joined: Send + 'static,
    {
        self.spawn_tracked(TaskName::Given(name.into()), true, future)
    }

    /// Runs a blocking function on Tokio's blocking pool as a tracked task: the drain waits for
    /// it. A blocking task cannot be interrupted; one still running at the grace deadline is
    /// named in the report as left running, and the process exits without waiting for it. A
    /// panic or an `Err` is recorded like an async task's.
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
    /// let sum = lc.spawn_blocking("checksum", || Ok::<_, std::io::Error>((1..=100u64).sum::<u64>()));
    /// assert_eq!(sum.await.unwrap().unwrap(), 5050);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> JoinHandle<R::Joined>
    where
        F: FnOnce() -> R + Send + 'static,
        R: TaskResult,
        R::Joined: Send + 'static,
    {
        let name = TaskName::Given(name.into());
        let recorder = Recorder {
            lifecycle: self.inner.id,
            name: name.clone(),
            critical: false,
        };
        // Held until the closure returns: the tracker counts the task until then.
        let tracked = self.inner.tracker.token();
        let run = move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(f));
            drop(tracked);
            match outcome {
                Ok(output) => {
                    let (joined, failure) = output.into_task_output();
                    if let Some(failure) = failure {
                        recorder.record_failure(failure);
                    }
                    joined
                }
                Err(payload) => {
                    recorder.record_failure(Failure::panic(&*payload));
                    panic::resume_unwind(payload)
                }
            }
        };
        #[cfg(all(tokio_unstable, feature = "console"))]
        let handle = {
            let label = name.to_string();
            match tokio::task::Builder::new().name(&label).spawn_blocking(run) {
                Ok(handle) => handle,
                Err(err) => panic!("could not spawn blocking task `{label}`: {err}"),
            }
        };
        #[cfg(not(all(tokio_unstable, feature = "console")))]
        let handle = tokio::task::spawn_blocking(run);
        self.live_task(handle.abort_handle(), name, TaskKind::Blocking);
        handle
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
