//! What the report says of tasks: a failure per task name, a task cut at the deadline, and
//! the limits on how many it names. Public through `lifecycle::report`.

use std::fmt;

use crate::failure::Failure;

/// A tracked task that panicked or returned `Err`: one entry per task name, however often it
/// failed.
///
/// A task restarted in a loop that fails every time makes one entry with a count, its first and
/// its last error, so the report (and the memory it holds) stays the same size. The report keeps
/// [`MAX_TASK_FAILURES`] entries; failures of further task names are only counted, in
/// [`ShutdownReport::task_failures_other`](crate::ShutdownReport::task_failures_other).
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.task("parser").spawn(async { if true { panic!("bad input") } });
/// for attempt in 1..=3 {
///     lc.task("fetch").spawn(async move { Err::<(), _>(format!("attempt {attempt} refused")) });
/// }
/// let report = sequence.run_without_signals(async {}).await;
/// let parser = report.task_failures.iter().find(|f| f.task == "parser").unwrap();
/// assert_eq!(parser.first.to_string(), "panicked: bad input");
/// let fetch = report.task_failures.iter().find(|f| f.task == "fetch").unwrap();
/// assert_eq!(fetch.count, 3);
/// assert_eq!(fetch.first.to_string(), "attempt 1 refused");
/// assert_eq!(fetch.last.to_string(), "attempt 3 refused");
/// assert!(!fetch.critical);
/// assert_eq!(report.code(), 0); // tasks that are not critical do not change the code
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The task's name (the name given, or where it was spawned).
    pub task: String,
    /// Whether the task was spawned as critical (its failure triggers the shutdown).
    pub critical: bool,
    /// Kept by a scope that [keeps its failures](crate::Scope::keep_failures): not a
    /// service failure (it triggered nothing and leaves the exit code alone). In the report,
    /// a kept failure that no join took.
    pub kept: bool,
    /// How many times a task of this name failed.
    pub count: u64,
    /// The first failure: the error, or the panic as `panicked: <message>`
    /// ([`Failure::is_panic`](crate::Failure::is_panic)).
    pub first: Failure,
    /// The last failure (the same as `first` when it failed once).
    pub last: Failure,
}

/// How many distinct failing task names a report keeps (see [`TaskFailure`]).
pub const MAX_TASK_FAILURES: usize = 100;

/// Whether a tracked task ran on the async workers or on the blocking pool.
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::tasks::TaskKind::Blocking.to_string(), "blocking");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// A future spawned on the runtime's workers.
    Async,
    /// A closure on the blocking pool ([`spawn_blocking`](crate::tasks::TaskBuilder::spawn_blocking)):
    /// it cannot be aborted.
    Blocking,
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskKind::Async => "async",
            TaskKind::Blocking => "blocking",
        })
    }
}

/// A tracked task that was still running when the sequence stopped waiting for it.
///
/// `stopped` says what really happened, not what was asked: an async task stops at its next
/// `.await` once aborted, but one stuck in synchronous code (and any blocking task) goes on
/// running while the hooks run, and the report says so.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::tasks::TaskKind;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(2)));
/// let lc = sequence.handle();
/// lc.task("stubborn").spawn(std::future::pending::<()>());
/// let report = sequence.run_without_signals(async {}).await;
/// let task = &report.tasks_aborted[0];
/// assert_eq!((task.name.as_str(), task.kind), ("stubborn", TaskKind::Async));
/// assert!(task.stopped && !task.late);
/// assert_eq!(report.code(), lifecycle::exit::EXIT_ABORTED);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbortedTask {
    /// The task's name (the name given, or where it was spawned).
    pub name: String,
    /// Async or blocking.
    pub kind: TaskKind,
    /// Whether it really stopped once aborted; `false`: it was left running.
    pub stopped: bool,
    /// Whether it was spawned after the drain (from a hook, say): such a task is aborted when
    /// the report is made, since nothing would wait for it.
    pub late: bool,
}

impl fmt::Display for AbortedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match (self.kind, self.late) {
            (TaskKind::Blocking, false) => f.write_str(" (blocking)")?,
            (TaskKind::Blocking, true) => f.write_str(" (blocking, spawned after the drain)")?,
            (TaskKind::Async, true) => f.write_str(" (spawned after the drain)")?,
            (TaskKind::Async, false) => {}
        }
        Ok(())
    }
}

/// How many aborted tasks a report names; [`ShutdownReport::tasks_aborted_total`](crate::ShutdownReport::tasks_aborted_total) counts them
/// all.
pub const MAX_TASKS_NAMED: usize = 100;
