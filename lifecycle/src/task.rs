//! Tracked tasks: spawned through the lifecycle's `TaskTracker`, named, their panics caught and
//! recorded, and aborted by name when the grace period runs out.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::task::{AbortHandle, JoinHandle};

use crate::lifecycle::{lock, Inner};
use crate::report::{panic_message, TaskFailure, Trigger};
use crate::Lifecycle;

/// What a task spawned with [`Lifecycle::spawn_critical`] may return: `()` never fails;
/// `Result<T, E>` fails on `Err`, with `E`'s `Display` text in the report.
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

struct LiveTask {
    name: TaskName,
    abort: Option<AbortHandle>,
    blocking: bool,
    critical: bool,
}

/// Task ids are a counter: hashing them is wasted work on the spawn path.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}

/// The tasks still running, by id, for the report and for aborting at the deadline.
#[derive(Default)]
pub(crate) struct LiveTasks {
    next_id: AtomicU64,
    tasks: Mutex<HashMap<u64, LiveTask, BuildHasherDefault<IdHasher>>>,
}

impl LiveTasks {
    /// Aborts every async task still running and returns the names of all that were left,
    /// in spawn order. Blocking tasks cannot be aborted once started; they are named as left
    /// running.
    pub(crate) fn abort_all(&self) -> Vec<String> {
        let mut left: Vec<(u64, String, Option<AbortHandle>)> = lock(&self.tasks)
            .iter()
            .map(|(&id, task)| {
                let name = if task.blocking {
                    format!("{} (blocking, left running)", task.name)
                } else {
                    task.name.to_string()
                };
                (id, name, task.abort.clone())
            })
            .collect();
        left.sort_by_key(|(id, _, _)| *id);
        left.into_iter()
            .map(|(_, name, abort)| {
                if let Some(abort) = abort {
                    abort.abort();
                }
                name
            })
            .collect()
    }
}

/// Removes its task from the live set when the task ends, however it ends (returns, panics, is
/// aborted, or is dropped with the runtime).
struct Guard {
    inner: Arc<Inner>,
    id: u64,
}

impl Guard {
    fn record_failure(&self, error: String) {
        let (name, critical) = match lock(&self.inner.live.tasks).get(&self.id) {
            Some(task) => (task.name.to_string(), task.critical),
            None => return,
        };
        tracing::error!(task = %name, critical, error = %error, "tracked task failed");
        lock(&self.inner.failures).push(TaskFailure {
            task: name.clone(),
            error: error.clone(),
            critical,
        });
        if critical {
            self.inner
                .trigger(Trigger::TaskFailed { task: name, error });
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock(&self.inner.live.tasks).remove(&self.id);
    }
}

pin_project_lite::pin_project! {
    /// A tracked task's future: catches a panic to record it, then lets it continue unwinding so
    /// the `JoinHandle` still reports it.
    struct Tracked<F> {
        #[pin]
        future: F,
        guard: Guard,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                this.guard.record_failure(panic_message(&*payload));
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
        spawn: impl FnOnce(Guard) -> JoinHandle<T>,
    ) -> JoinHandle<T> {
        let live = &self.inner.live;
        let id = live.next_id.fetch_add(1, Ordering::Relaxed);
        let task = LiveTask {
            name,
            abort: None,
            blocking,
            critical,
        };
        lock(&live.tasks).insert(id, task);
        let handle = spawn(Guard {
            inner: Arc::clone(&self.inner),
            id,
        });
        // The task may have finished already, taking its entry with it.
        if let Some(task) = lock(&live.tasks).get_mut(&id) {
            task.abort = Some(handle.abort_handle());
        }
        handle
    }

    fn spawn_tracked<F>(&self, name: TaskName, critical: bool, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tracker = self.inner.tracker.clone();
        self.track(name, false, critical, move |guard| {
            tracker.spawn(Tracked { future, guard })
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
    pub fn spawn_critical<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let name = name.into();
        let task_name = name.clone();
        let checked = async move {
            let output = future.await;
            if let Some(error) = output.failure() {
                tracing::error!(task = %name, error = %error, "critical task failed");
                lock(&inner.failures).push(TaskFailure {
                    task: name.to_string(),
                    error: error.clone(),
                    critical: true,
                });
                inner.trigger(Trigger::TaskFailed {
                    task: name.into_owned(),
                    error,
                });
            }
            output
        };
        self.spawn_tracked(TaskName::Given(task_name), true, checked)
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
        let tracker = self.inner.tracker.clone();
        self.track(TaskName::Given(name.into()), true, false, move |guard| {
            tracker.spawn_blocking(move || match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(output) => output,
                Err(payload) => {
                    guard.record_failure(panic_message(&*payload));
                    panic::resume_unwind(payload)
                }
            })
        })
    }

    /// How many tracked tasks are still running.
    pub fn tasks_running(&self) -> usize {
        lock(&self.inner.live.tasks).len()
    }
}
