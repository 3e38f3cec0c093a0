//! Tracked tasks: spawned through the lifecycle's `TaskTracker`, named, their failures recorded
//! (grouped by name, so a task failing in a loop cannot grow the report), and aborted by name
//! when the grace period runs out.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::task::TaskTracker;

use crate::failure::{Failure, Outcome};
use crate::lock::lock;
use crate::log::quietly;
use crate::report::{AbortedTask, TaskFailure, TaskKind, MAX_TASK_FAILURES};
use crate::trigger::{Trigger, Triggers};

/// A task's name: given by the caller, or where it was spawned (kept as a static location, so
/// naming costs nothing on the spawn path).
#[derive(Clone)]
pub(crate) enum TaskName {
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
struct LiveTasks {
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

    fn running(&self) -> usize {
        lock(&self.tasks)
            .entries
            .iter()
            .filter(|task| !task.abort.is_finished())
            .count()
    }

    /// Aborts every task still running (only the late ones, spawned after the drain, with
    /// `late_only`); blocking ones cannot be aborted and are only named. Returns them, to be
    /// [settled](Cut::settle) once the aborts had a moment to land.
    fn abort_all(&self, late_only: bool) -> Vec<Cut> {
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
struct Failures {
    entries: Vec<TaskFailure>,
    /// Failures of task names beyond [`MAX_TASK_FAILURES`].
    other: u64,
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

/// Where tasks report their failures: the lifecycle's list of them and its trigger. A lifecycle
/// has two, one for critical tasks: whether a task is critical is then known from where it
/// reports, at no cost in the task itself.
pub(crate) struct TaskSink {
    critical: bool,
    failures: Arc<Mutex<Failures>>,
    triggers: Arc<Triggers>,
}

/// What a task needs to report its own failure: where to (held weakly: a task never keeps its
/// lifecycle alive) and its name. Kept to 32 bytes: every byte here is in every task's
/// allocation, and Tokio sizes those in 128-byte steps (whether the task is critical is its
/// sink's, not a field).
struct Recorder {
    sink: Weak<TaskSink>,
    name: TaskName,
}

impl Recorder {
    /// How a task ended, async or blocking: its value (an `Err` recorded) for the `JoinHandle`,
    /// or its panic, recorded and raised again so the `JoinHandle` still sees it.
    fn finish<R: Outcome>(&self, ended: std::thread::Result<R>) -> R::Joined {
        match ended {
            Ok(output) => {
                let (joined, failure) = output.into_outcome();
                if let Some(failure) = failure {
                    self.record_failure(failure);
                }
                joined
            }
            Err(payload) => {
                self.record_failure(Failure::panic(&*payload));
                panic::resume_unwind(payload)
            }
        }
    }

    fn record_failure(&self, failure: Failure) {
        let name = self.name.to_string();
        let sink = self.sink.upgrade();
        let critical = sink.as_ref().is_some_and(|sink| sink.critical);
        if let Some(sink) = sink {
            lock(&sink.failures).record(name.clone(), critical, failure.clone());
            if critical {
                sink.triggers.fire(Trigger::TaskFailed {
                    task: name.clone(),
                    error: failure.clone(),
                });
            }
        }
        quietly(
            || tracing::error!(task = %name, critical, error = %failure, "tracked task failed"),
        );
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
    F::Output: Outcome,
{
    type Output = <F::Output as Outcome>::Joined;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        let ended = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(payload),
        };
        Poll::Ready(this.recorder.finish::<F::Output>(ended))
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

/// The tracked tasks of one lifecycle: the tracker the drain waits on, the list the deadline
/// aborts from, and where failures go.
pub(crate) struct Tasks {
    pub(crate) tracker: TaskTracker,
    live: LiveTasks,
    sink: Arc<TaskSink>,
    critical: Arc<TaskSink>,
    /// Set when the drain is over: tasks spawned after it are late (nothing waits for them).
    pub(crate) drained: AtomicBool,
}

impl Tasks {
    pub(crate) fn new(triggers: Arc<Triggers>) -> Self {
        let failures = Arc::new(Mutex::new(Failures::default()));
        Self {
            tracker: TaskTracker::new(),
            live: LiveTasks::default(),
            sink: Arc::new(TaskSink {
                critical: false,
                failures: Arc::clone(&failures),
                triggers: Arc::clone(&triggers),
            }),
            critical: Arc::new(TaskSink {
                critical: true,
                failures,
                triggers,
            }),
            drained: AtomicBool::new(false),
        }
    }

    fn remember(&self, abort: AbortHandle, name: TaskName, kind: TaskKind) {
        let late = self.drained.load(Ordering::Relaxed);
        self.live.push(LiveTask {
            abort,
            name,
            kind,
            late,
            cut: false,
        });
    }

    fn recorder(&self, name: &TaskName, critical: bool) -> Recorder {
        let sink = if critical { &self.critical } else { &self.sink };
        Recorder {
            sink: Arc::downgrade(sink),
            name: name.clone(),
        }
    }

    /// Spawns `future` as a tracked task; a critical one's failure starts the shutdown.
    #[track_caller]
    pub(crate) fn spawn<F>(
        &self,
        name: TaskName,
        critical: bool,
        future: F,
    ) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        let recorder = self.recorder(&name, critical);
        let tracked = self.tracker.track_future(Tracked { future, recorder });
        let handle = spawn_named_on_runtime(&name, tracked);
        self.remember(handle.abort_handle(), name, TaskKind::Async);
        handle
    }

    /// Runs `f` on the blocking pool as a tracked task.
    #[track_caller]
    pub(crate) fn spawn_blocking<F, R>(&self, name: TaskName, f: F) -> JoinHandle<R::Joined>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Outcome,
        R::Joined: Send + 'static,
    {
        let recorder = self.recorder(&name, false);
        // Held until the closure returns: the tracker counts the task until then.
        let tracked = self.tracker.token();
        let run = move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(f));
            drop(tracked);
            recorder.finish(outcome)
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
        self.remember(handle.abort_handle(), name, TaskKind::Blocking);
        handle
    }

    pub(crate) fn running(&self) -> usize {
        self.live.running()
    }

    /// See [`LiveTasks::abort_all`].
    pub(crate) fn abort_all(&self, late_only: bool) -> Vec<Cut> {
        self.live.abort_all(late_only)
    }

    /// The failures recorded so far, and the count of those beyond the cap.
    pub(crate) fn failures(&self) -> (Vec<TaskFailure>, u64) {
        let failures = lock(&self.sink.failures);
        (failures.entries.clone(), failures.other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_stays_within_32_bytes() {
        // The bench's `rss` scenario: 40 bytes here moved every tracked task into Tokio's next
        // 128-byte allocation step (690 bytes a task against 522 for a bare TaskTracker).
        assert!(std::mem::size_of::<Recorder>() <= 32);
    }
}
