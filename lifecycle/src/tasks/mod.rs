//! The work the service runs: tracked tasks, counted (the drain waits for the count to reach
//! zero), named, their failures recorded (grouped by name, so a task failing in a loop cannot
//! grow the report), and aborted by name when the grace period runs out; stop stages
//! (`stages`), supervised long-running parts (`run`, `supervise`), served connections
//! (`connections`), and what the report says of all of them (`records`).
//!
//! Lives here: how work is spawned, counted, stopped and named. Not here: when. The sequence
//! (`sequence/drain.rs`) decides when to cancel, wait and abort; nothing here knows hooks or the
//! sequence.
//!
//! The spawn path is kept lean: a task carries one pointer besides its future (its sink, which
//! counts it), the same as a bare `TaskTracker` task. Its name lives in the live-task list, found
//! by task id on the rare path that needs it (a failure, the deadline).

pub(crate) mod connections;
pub(crate) mod records;
pub(crate) mod run;
pub(crate) mod stages;
pub(crate) mod supervise;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, Id, JoinHandle};

use crate::failure::{panic_message, Failure, Outcome};
use crate::lock::lock;
use crate::log::quietly;
use crate::tasks::records::{AbortedTask, TaskFailure, TaskKind, MAX_TASK_FAILURES};
use crate::triggers::{Trigger, Triggers};

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
    /// Failures of tasks that ended before their spawner listed them (a task may run, and fail,
    /// on another worker before `spawn` returns): claimed by the spawner when it lists the task.
    orphans: Vec<(Id, Orphan)>,
}

/// A failure waiting for its task's name.
struct Orphan {
    failure: Failure,
    sink: Arc<TaskSink>,
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
    /// Whether the task has finished (after its abort, or on its own).
    pub(crate) fn is_finished(&self) -> bool {
        self.abort.is_finished()
    }

    /// What the report says of it once every tracked task is known to have ended.
    pub(crate) fn stopped(self) -> AbortedTask {
        AbortedTask {
            stopped: true,
            ..self.task
        }
    }

    /// What the report says of it: whether it really stopped is read now.
    pub(crate) fn settle(self) -> AbortedTask {
        AbortedTask {
            stopped: self.abort.is_finished(),
            ..self.task
        }
    }
}

impl LiveTasks {
    /// Lists a task just spawned; returns its failure, and its name, if it already failed.
    fn push(&self, task: LiveTask) -> Option<(Orphan, String)> {
        let mut list = lock(&self.tasks);
        if list.entries.len() >= list.compact_at.max(COMPACT_AT) {
            list.entries.retain(|task| !task.abort.is_finished());
            list.compact_at = list.entries.len().saturating_mul(2);
        }
        let orphan = if list.orphans.is_empty() {
            None
        } else {
            let id = task.abort.id();
            let at = list.orphans.iter().position(|(orphan, _)| *orphan == id);
            at.map(|at| (list.orphans.swap_remove(at).1, task.name.to_string()))
        };
        list.entries.push(task);
        orphan
    }

    /// The name of the task `id`, or `None` with its failure parked for the spawner to claim.
    fn name_or_park(&self, id: Id, failure: &Failure, sink: &Arc<TaskSink>) -> Option<String> {
        let mut list = lock(&self.tasks);
        // Newest first: a task that fails is more often a young one.
        match list.entries.iter().rev().find(|task| task.abort.id() == id) {
            Some(task) => Some(task.name.to_string()),
            None => {
                let orphan = Orphan {
                    failure: failure.clone(),
                    sink: Arc::clone(sink),
                };
                list.orphans.push((id, orphan));
                None
            }
        }
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

/// What the tasks of one lifecycle share: how many are running (what the drain waits on), the
/// list the deadline aborts from, and where failures go.
struct Shared {
    live: LiveTasks,
    failures: Mutex<Failures>,
    triggers: Arc<Triggers>,
}

/// A count of running tasks that can be closed and waited on until it reaches zero (what
/// `tokio_util`'s `TaskTracker` does). The count is the reference count of the sink each task
/// holds: a task costs one atomic when spawned and one when it ends, as a bare `Arc` does, where
/// a `TaskTracker` takes two (`bench/examples/spawn_ablate.rs`: one `Arc` per task 1.01x
/// `tokio::spawn`, a `TaskTracker` 1.11x). Until closed the count holds its sinks itself; from
/// then on the last task to end drops its sink, and the sink's drop wakes the waiter.
pub(crate) struct Count {
    /// The first sinks, upgraded without a lock: they live until the count is closed and their
    /// last task has ended, which is every spawn before the drain.
    first: [Weak<TaskSink>; 2],
    slot: Mutex<Slot>,
    zero: Arc<Notify>,
    shared: Arc<Shared>,
}

struct Slot {
    /// The first sinks (`[plain, critical]`), held until the count is closed (`None` once it
    /// is).
    open: Option<[Arc<TaskSink>; 2]>,
    /// The sinks the running tasks hold: the first ones, or once those are gone (closed, their
    /// tasks ended), new ones for the tasks spawned since (still counted: `wait` waits for them
    /// too).
    live: [Weak<TaskSink>; 2],
}

impl Count {
    fn new(shared: &Arc<Shared>) -> Self {
        let zero = Arc::new(Notify::new());
        let sinks = [false, true].map(|critical| TaskSink::new(critical, shared, &zero));
        let first = [Arc::downgrade(&sinks[0]), Arc::downgrade(&sinks[1])];
        Count {
            slot: Mutex::new(Slot {
                live: first.clone(),
                open: Some(sinks),
            }),
            first,
            zero,
            shared: Arc::clone(shared),
        }
    }

    /// A sink for one more task: the task counts as running until it drops it.
    fn sink(&self, critical: bool) -> Arc<TaskSink> {
        let i = usize::from(critical);
        if let Some(sink) = self.first[i].upgrade() {
            return sink;
        }
        let mut slot = lock(&self.slot);
        if let Some(sink) = slot.live[i].upgrade() {
            return sink;
        }
        let sink = TaskSink::new(critical, &self.shared, &self.zero);
        slot.live[i] = Arc::downgrade(&sink);
        sink
    }

    /// Closed, with no task running.
    fn is_done(&self) -> bool {
        let slot = lock(&self.slot);
        let closed = slot.open.is_none();
        let done = closed && slot.live.iter().all(|sink| sink.strong_count() == 0);
        // The tasks' last `Arc` drops were releases: what they did happens before the caller
        // goes on.
        std::sync::atomic::fence(Ordering::Acquire);
        done
    }

    /// From now on, reaching zero wakes [`Count::wait`].
    pub(crate) fn close(&self) {
        let open = lock(&self.slot).open.take();
        // Dropped outside the lock: with no task running, this is what wakes the waiter.
        drop(open);
    }

    /// Closed, with no task running.
    pub(crate) async fn wait(&self) {
        loop {
            let zero = self.zero.notified();
            tokio::pin!(zero);
            zero.as_mut().enable();
            if self.is_done() {
                return;
            }
            zero.await;
        }
    }
}

/// Where a task reports its failure, and what counts it (see [`Count`]). Each count has two,
/// one for critical tasks: whether a task is critical is then known from where it reports, at
/// no cost in the task.
pub(crate) struct TaskSink {
    critical: bool,
    shared: Arc<Shared>,
    /// Its count's waiter, woken when the last task holding this sink ends.
    zero: Arc<Notify>,
}

impl Drop for TaskSink {
    fn drop(&mut self) {
        self.zero.notify_waiters();
    }
}

/// What a task carries besides its future: its sink, which counts it as running until dropped.
/// One pointer: every byte here is in every task's allocation, and Tokio sizes those in 128-byte
/// steps (8 bytes more moved the benchmark's task into the next step and cost a fifth of a
/// spawn).
struct Recorder {
    sink: Arc<TaskSink>,
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

    /// Records a failure under the task's name, found in the live list by the running task's id;
    /// a task that fails before its spawner listed it leaves the failure for the spawner.
    fn record_failure(&self, failure: Failure) {
        let sink = &self.sink;
        let name = match tokio::task::try_id() {
            Some(id) => sink.shared.live.name_or_park(id, &failure, sink),
            None => Some(String::from("(unknown task)")),
        };
        if let Some(name) = name {
            sink.record(name, failure);
        }
    }
}

impl TaskSink {
    fn new(critical: bool, shared: &Arc<Shared>, zero: &Arc<Notify>) -> Arc<Self> {
        Arc::new(TaskSink {
            critical,
            shared: Arc::clone(shared),
            zero: Arc::clone(zero),
        })
    }

    fn record(&self, task: String, failure: Failure) {
        let critical = self.critical;
        lock(&self.shared.failures).record(task.clone(), critical, failure.clone());
        if critical {
            self.shared.triggers.fire(Trigger::TaskFailed {
                task: task.clone(),
                error: failure.clone(),
            });
        }
        quietly(
            || tracing::error!(task = %task, critical, error = %failure, "tracked task failed"),
        );
    }
}

pin_project_lite::pin_project! {
    /// A tracked task's future: catches its panic and records its failure, and a panic in the
    /// `Drop` of what the future holds too.
    ///
    /// Tokio drops a task's future after it returned, or when the task is aborted (the grace
    /// deadline), on whichever worker runs it; a panic there reaches only the task's
    /// `JoinHandle`, which the lifecycle does not hold. So the future is dropped here, its panic
    /// recorded as the task's failure and raised again for the `JoinHandle`.
    struct Tracked<F> {
        // Dropped only in `PinnedDrop`, where its panic is caught. `ManuallyDrop` rather than an
        // `Option`: a future has no niche, and 8 bytes more can move a task into Tokio's next
        // allocation step (see `Count`).
        #[pin]
        future: ManuallyDrop<F>,
        recorder: Recorder,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: the future is dropped in place, once (this is the end of `Tracked`), and
            // never used or moved after; a pinned value may be dropped where it stands.
            let future = unsafe { this.future.get_unchecked_mut() };
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                ManuallyDrop::drop(future)
            }));
            if let Err(payload) = dropped {
                let message = panic_message(&*payload);
                this.recorder.record_failure(Failure::panicked(&format!(
                    "{message} (dropping the task's future)"
                )));
                // Tokio catches it and gives it to the `JoinHandle`, as it did before: the drop
                // of a task's future always runs under its guard, never during another unwind.
                if !std::thread::panicking() {
                    panic::resume_unwind(payload);
                }
            }
        }
    }
}

impl<F> Tracked<F> {
    fn new(future: F, recorder: Recorder) -> Self {
        Self {
            future: ManuallyDrop::new(future),
            recorder,
        }
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
        // SAFETY: a structural pin projection: the future is never moved out of the
        // `ManuallyDrop` (only dropped in place, in `PinnedDrop`).
        let future = unsafe { this.future.map_unchecked_mut(|future| &mut **future) };
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

/// Something the drain waits for that is not a task of the list: a serve loop's connection, which
/// lives in its own task or, once upgraded, in the app's hands. Counts as running until dropped.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct RunningGuard {
    _sink: Arc<TaskSink>,
}

/// The tracked tasks of one lifecycle: the count the drain waits on, the list the deadline
/// aborts from, and where failures go.
pub(crate) struct Tasks {
    shared: Arc<Shared>,
    /// The count of the unstaged tasks.
    unstaged: Count,
    /// The count of the requests the in-flight layer counts outside the serve loop, in servers
    /// the lifecycle does not run: the drain waits for them last (see [`Tasks::requests`]).
    requests: Count,
    /// Set when the drain is over: tasks spawned after it are late (nothing waits for them).
    pub(crate) drained: AtomicBool,
}

impl Tasks {
    pub(crate) fn new(triggers: Arc<Triggers>) -> Self {
        let shared = Arc::new(Shared {
            live: LiveTasks::default(),
            failures: Mutex::new(Failures::default()),
            triggers,
        });
        Self {
            unstaged: Count::new(&shared),
            requests: Count::new(&shared),
            shared,
            drained: AtomicBool::new(false),
        }
    }

    /// A count of its own, for one stop stage.
    pub(crate) fn stage_count(&self) -> Count {
        Count::new(&self.shared)
    }

    /// What the drain waits on: closed at the drain, done once no tracked task is running.
    pub(crate) fn count(&self) -> &Count {
        &self.unstaged
    }

    /// Lists a task just spawned, and records its failure if it failed before that.
    fn remember(&self, abort: AbortHandle, name: TaskName, kind: TaskKind, late: bool) {
        let late = late || self.drained.load(Ordering::Relaxed);
        let claimed = self.shared.live.push(LiveTask {
            abort,
            name,
            kind,
            late,
            cut: false,
        });
        if let Some((orphan, name)) = claimed {
            orphan.sink.record(name, orphan.failure);
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
        self.spawn_in(&self.unstaged, false, name, critical, future)
    }

    /// Spawns `future` as a tracked task of a stop stage (counted by the stage's count);
    /// `late`: the stage has drained already.
    #[track_caller]
    pub(crate) fn spawn_in<F>(
        &self,
        stage: &Count,
        late: bool,
        name: TaskName,
        critical: bool,
        future: F,
    ) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        let recorder = Recorder {
            sink: stage.sink(critical),
        };
        let handle = spawn_named_on_runtime(&name, Tracked::new(future, recorder));
        self.remember(handle.abort_handle(), name, TaskKind::Async, late);
        handle
    }

    /// Spawns a connection of a serve loop. It is not in the task list: the connection registry
    /// names and aborts it (with its requests) at the deadline, and its registration holds the
    /// [`RunningGuard`] the drain waits for.
    #[cfg(feature = "http")]
    pub(crate) fn spawn_connection<F>(&self, name: String, future: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        spawn_named_on_runtime(&TaskName::Given(Cow::Owned(name)), future)
    }

    /// Counts as one running task until dropped: the drain waits for it.
    #[cfg(feature = "http")]
    pub(crate) fn running_guard(&self) -> RunningGuard {
        RunningGuard {
            _sink: self.unstaged.sink(false),
        }
    }

    /// Counts as one request of the in-flight layer until dropped (see [`Tasks::requests`]).
    #[cfg(feature = "http")]
    pub(crate) fn request_guard(&self) -> RunningGuard {
        RunningGuard {
            _sink: self.requests.sink(false),
        }
    }

    /// The requests the in-flight layer counts, which the drain waits for after every stage: a
    /// server stopped by a stage's token (the app's, not the root's) answers them only once that
    /// stage is cancelled, so waiting for them with the unstaged work would hold the stages back.
    /// The deadline cannot abort them (they live in the server's tasks): it only counts them.
    pub(crate) fn requests(&self) -> &Count {
        &self.requests
    }

    /// Runs `f` on the blocking pool as a tracked task.
    #[track_caller]
    pub(crate) fn spawn_blocking<F, R>(&self, name: TaskName, f: F) -> JoinHandle<R::Joined>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Outcome,
        R::Joined: Send + 'static,
    {
        // Counts the task until the closure has returned and its failure is recorded.
        let recorder = Recorder {
            sink: self.unstaged.sink(false),
        };
        let run = move || recorder.finish(panic::catch_unwind(AssertUnwindSafe(f)));
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
        self.remember(handle.abort_handle(), name, TaskKind::Blocking, false);
        handle
    }

    pub(crate) fn running(&self) -> usize {
        self.shared.live.running()
    }

    /// See [`LiveTasks::abort_all`].
    pub(crate) fn abort_all(&self, late_only: bool) -> Vec<Cut> {
        self.shared.live.abort_all(late_only)
    }

    /// The failures recorded so far, and the count of those beyond the cap.
    pub(crate) fn failures(&self) -> (Vec<TaskFailure>, u64) {
        let failures = lock(&self.shared.failures);
        (failures.entries.clone(), failures.other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::time::Duration;

    fn tasks() -> Tasks {
        let config = Arc::new(Config::new());
        Tasks::new(Arc::new(Triggers::new(config)))
    }

    #[tokio::test]
    async fn a_failure_recorded_before_its_task_is_listed_gets_the_name_at_listing() {
        let tasks = tasks();
        let handle = tokio::spawn(std::future::pending::<()>());
        let failure = Failure::new("boom");
        // The task failed on another worker before `spawn` returned: no name yet, so parked.
        assert_eq!(
            tasks
                .shared
                .live
                .name_or_park(handle.id(), &failure, &tasks.unstaged.sink(false)),
            None
        );
        assert_eq!(tasks.failures().0.len(), 0);
        // The spawner lists it: the failure is recorded under its name.
        let name = TaskName::Given("early".into());
        tasks.remember(handle.abort_handle(), name, TaskKind::Async, false);
        let (failures, other) = tasks.failures();
        assert_eq!((failures.len(), other), (1, 0));
        assert_eq!(failures[0].task, "early");
        assert_eq!(failures[0].count, 1);
        assert!(lock(&tasks.shared.live.tasks).orphans.is_empty());
        handle.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_failure_of_tasks_that_fail_at_once_is_named() {
        // Blocking tasks start on another thread at once, so many fail before they are listed.
        let tasks = tasks();
        let handles: Vec<_> = (0..200)
            .map(|_| {
                tasks.spawn_blocking(TaskName::Given("quick".into()), || {
                    Err::<(), _>("fails at once")
                })
            })
            .chain((0..200).map(|_| {
                let name = TaskName::Given("quick async".into());
                tasks.spawn(name, false, async { Err::<(), _>("fails at once") })
            }))
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
        let (failures, other) = tasks.failures();
        let mut counts: Vec<_> = failures
            .iter()
            .map(|f| (f.task.as_str(), f.count))
            .collect();
        // Grouped in the order they first failed, which the two kinds race for.
        counts.sort_unstable();
        assert_eq!(counts, [("quick", 200), ("quick async", 200)]);
        assert_eq!(other, 0);
        assert!(lock(&tasks.shared.live.tasks).orphans.is_empty());
    }

    #[tokio::test]
    async fn the_count_waits_for_every_task_and_only_once_closed() {
        let tasks = tasks();
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(TaskName::Given("held".into()), false, async move {
            let _ = held.await;
        });
        let count = tasks.count();
        let mut wait = std::pin::pin!(count.wait());
        assert!(futures_poll_once(wait.as_mut()).await.is_pending());
        count.close();
        assert!(futures_poll_once(wait.as_mut()).await.is_pending());
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the count reached zero");

        // A task spawned once the count reached zero (its sinks gone) is counted again.
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(TaskName::Given("later".into()), true, async move {
            let _ = held.await;
        });
        let mut wait = std::pin::pin!(count.wait());
        assert!(futures_poll_once(wait.as_mut()).await.is_pending());
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the count reached zero again");
    }

    async fn futures_poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut future).poll(cx))).await
    }

    #[test]
    fn a_task_carries_one_pointer_like_a_bare_task_tracker_task() {
        // The bench's `spawn` scenario: 8 bytes more than a `TaskTracker` task moved the
        // benchmark's task into Tokio's next 128-byte allocation step (+0.2x a spawn), and 40
        // bytes did the same in the `rss` scenario (690 bytes a task against 522).
        assert_eq!(
            std::mem::size_of::<Recorder>(),
            std::mem::size_of::<usize>()
        );
    }
}
