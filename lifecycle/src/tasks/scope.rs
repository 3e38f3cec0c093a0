//! Scopes: named groups of tracked tasks that nest, stop, join and abort on their own
//! ([`Scope`], its [`TaskBuilder`], [`JoinError`], [`Aborting`]).
//!
//! The tree a scope is a node of lives in `node.rs`.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::failure::Outcome;
use crate::log::log_or_stderr;
use crate::tasks::builder::TaskBuilder;
use crate::tasks::joining::{self, Looked};
use crate::tasks::node::Node;
use crate::tasks::records::{AbortedTask, TaskFailure};
use crate::tasks::{settle, spawn_in, TaskName};

/// A named group of tracked tasks inside the service, with its own cancellation: it can be
/// stopped ([`shutdown`](Scope::shutdown)), awaited ([`join`](Scope::join)) and aborted
/// ([`abort`](Scope::abort)) on its own while the service goes on, and it nests
/// ([`scope`](Scope::scope)).
///
/// Made by [`Lifecycle::scope`](crate::Lifecycle::scope) (a top-level scope, stopped with the unstaged work) or
/// [`Lifecycle::stage`](crate::Lifecycle::stage) (stop stage *n*'s own node: `lc.stage(1).scope("writers")` is a scope
/// drained in stage 1's turn). Its tasks are named by path: a task `reader` in scope `eu-1` of
/// scope `upstream` is `upstream/eu-1/reader` in the logs, in the report and in tokio-console
/// (feature `console`). A `/` in a name reads as nesting. A `Scope` is a cheap handle (two
/// pointers): clone it, send it to other tasks.
///
/// # Scopes and stages: one rule for what stops when
///
/// Stop stages are ordered top-level scopes. At the drain, the root token is cancelled first:
/// the unstaged work (the main future, the tasks on the handle, and every scope made with
/// [`Lifecycle::scope`](crate::Lifecycle::scope)) stops and is waited for. Then each stage in ascending order, stage 0
/// first: its node's token is cancelled, and its tasks and its scopes are waited for, all within
/// the one [`grace`](crate::Config::grace). A scope stops with its parent: it has no stage of its
/// own, so `lc.stage(1).scope("writers")` is "the writer pool stops after the HTTP server".
/// At the grace deadline what is left, in any scope, is aborted and named by its path.
///
/// # What stops a scope's tasks
///
/// - its [`shutdown`](Scope::shutdown), or an ancestor's (cancels the tokens from
///   [`token`](Scope::token); the tasks watching them return);
/// - the drain reaching it: the unstaged work first, then its stage's turn;
/// - [`abort`](Scope::abort), at once;
/// - the grace deadline;
/// - under [`keep_failures`](Scope::keep_failures), a critical task's failure (it shuts down
///   the keeping scope).
///
/// Dropping every `Scope` handle stops **nothing**: the tasks run on, and the drain waits for
/// them as for any tracked task. A task ignoring its token runs until the deadline.
///
/// # Failures
///
/// By default a task's failure goes up as for a task on the handle: it is in the report, and a
/// critical one starts the service's shutdown. It is also kept for [`join`](Scope::join), which
/// returns the failures of the scope and its children. A scope made with
/// [`keep_failures`](Scope::keep_failures) keeps them for its join instead (see there).
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let pool = lc.scope("pool");
/// let worker = pool.scope("w1");
/// let token = worker.token();
/// worker.task("job").spawn(async move { token.cancelled().await });
/// assert_eq!(worker.path(), "pool/w1");
/// assert_eq!(pool.running(), 1);
///
/// worker.shutdown(); // stops w1 only: the service goes on
/// assert!(worker.join().await.is_ok());
/// assert_eq!(pool.running(), 0);
/// assert!(!lc.token().is_cancelled());
/// # sequence.run_without_signals(async {}).await;
/// # }
/// ```
#[derive(Clone)]
pub struct Scope {
    node: Arc<Node>,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("path", &self.path())
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

impl Scope {
    /// The scope of `node`.
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    /// The scope's path: its name after its parents' (`upstream/eu-1`); empty for a stage.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert_eq!(lc.scope("upstream").scope("eu-1").path(), "upstream/eu-1");
    /// assert_eq!(lc.stage(1).scope("writers").path(), "writers");
    /// ```
    pub fn path(&self) -> &str {
        &self.node.shared.path
    }

    /// A child of the scope's token: cancelled by the scope's [`shutdown`](Scope::shutdown) or
    /// [`abort`](Scope::abort), an ancestor's, or the drain reaching the scope. Cancelling the
    /// child itself affects nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// let lc = Sequence::new(Config::new()).handle();
    /// let upstream = lc.scope("upstream");
    /// let reader = upstream.scope("eu-1").token();
    /// upstream.shutdown();
    /// assert!(reader.is_cancelled());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.node.shared.token.child_token()
    }

    /// Spawns a tracked task in this scope, named by where it was spawned (under the scope's
    /// path). Like [`Lifecycle::spawn`](crate::Lifecycle::spawn), in the scope: its join waits for the task, its
    /// shutdown cancels the scope's [`token`](Scope::token) the task should watch.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let import = lc.scope("import");
    /// let part = import.spawn(async { Ok::<_, std::io::Error>(42) });
    /// assert_eq!(part.await.unwrap().unwrap(), 42);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        let name = TaskName::SpawnedAt(Location::caller());
        spawn_in(&self.node, name, false, future)
    }

    /// A task named `name` in this scope, to make critical and spawn: see [`TaskBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.scope("upstream").task("reader").spawn(async { Err::<(), _>("reset by peer") });
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert_eq!(report.task_failures[0].task, "upstream/reader");
    /// # }
    /// ```
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        TaskBuilder::new(&self.node, name.into())
    }

    /// A scope inside this one, named `name` (its path is this scope's path, `/`, `name`): it
    /// stops with this one, and this one's join waits for it. Each call makes a new scope,
    /// even with a name used before (their failures group under the same path).
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// let lc = Sequence::new(Config::new()).handle();
    /// let eu = lc.scope("upstream").scope("eu-1");
    /// assert_eq!(eu.path(), "upstream/eu-1");
    /// ```
    pub fn scope(&self, name: &str) -> Scope {
        Scope::new(Node::child(&self.node, name))
    }

    /// Keeps the failures of this scope's tasks, and of its children's, for whoever
    /// [`join`](Scope::join)s it, instead of sending them up:
    ///
    /// - a failure is not a service failure: it leaves the exit code alone, and a critical
    ///   task's failure shuts down **this scope** (its tokens), not the service;
    /// - a join returns it, and the report counts it as handled
    ///   ([`task_failures_handled`](crate::ShutdownReport::task_failures_handled));
    /// - one that no join took by the end of the shutdown is in the report's
    ///   [`task_failures`](crate::ShutdownReport::task_failures) (with `kept` set): no
    ///   failure is silent.
    ///
    /// Meant when the scope is made: it applies to the failures from then on. A nested scope
    /// that keeps its failures takes them before this one does.
    ///
    /// On a stage (`lc.stage(n).keep_failures()`) it applies to the **whole stage**: every
    /// `lc.stage(n)` is the same node, so every task and scope of stage *n* keeps its failures
    /// from then on, wherever it was spawned, a component's `#[run(stage = n)]` part included
    /// (its failure then stops stage *n*, not the service, and leaves the exit code alone). To
    /// keep the failures of a few tasks of a stage, give them a scope of their own:
    /// `lc.stage(n).scope("batch").keep_failures()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::tasks::JoinError;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let upstream = lc.scope("upstream").keep_failures();
    /// let token = upstream.token();
    /// upstream.task("reader").spawn(async move { token.cancelled().await });
    /// upstream.task("heartbeat").critical().spawn(async { Err::<(), _>("no pong") });
    /// // The heartbeat's failure shut the scope down (the reader returned), not the service.
    /// let Err(JoinError::Failed(failures)) = upstream.join().await else { panic!() };
    /// assert_eq!(failures[0].task, "upstream/heartbeat");
    /// assert!(!lc.token().is_cancelled());
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert!(report.task_failures.is_empty());
    /// assert_eq!(report.task_failures_handled, 1);
    /// assert_eq!(report.code(), 0);
    /// # }
    /// ```
    ///
    /// On a stage, every task of the stage keeps its failures, one spawned elsewhere too:
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let _batch = lc.stage(1).keep_failures();
    /// // Another part of the service, in the same stage: its failure is kept too.
    /// lc.stage(1).task("writer").critical().spawn(async { Err::<(), _>("disk full") });
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert!(report.task_failures[0].kept); // no join took it: in the report, kept
    /// assert_eq!(report.code(), 0); // not a service failure
    /// # }
    /// ```
    pub fn keep_failures(self) -> Scope {
        self.node.shared.keep.store(true, Ordering::SeqCst);
        self
    }

    /// Cancels this scope and its children (their tokens): their tasks should return. The
    /// service goes on, and so do the siblings. Does not wait: [`join`](Scope::join) does.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// let lc = Sequence::new(Config::new()).handle();
    /// let (a, b) = (lc.scope("a"), lc.scope("b"));
    /// a.shutdown();
    /// assert!(a.token().is_cancelled());
    /// assert!(!b.token().is_cancelled());
    /// ```
    pub fn shutdown(&self) {
        self.node.cancel();
    }

    /// Waits for every task of this scope and of its children (scopes made while it waits
    /// included), then returns their failures since the last join:
    /// [`JoinError::Failed`], in the order they first failed. It does not cancel anything:
    /// call [`shutdown`](Scope::shutdown) first to stop the scope. The scope may spawn again
    /// after a join; a later join waits for those.
    ///
    /// A task of this scope (or of its children) that joins it would wait for itself: the join
    /// returns [`JoinError::FromInside`] at once (a blocking task too, awaiting it with
    /// `Handle::block_on`), and says so on the log (standard error without
    /// a `tracing` subscriber). Join a scope from its parent, or from main.
    ///
    /// Cancel safe: dropping the future loses nothing (the failures stay for the next join).
    /// Joined from main during the drain, a stage's scope waits until the grace deadline (the
    /// stage is cancelled only once main has ended).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::tasks::JoinError;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let import = lc.scope("import");
    /// for part in ["a", "b", "c"] {
    ///     import.task(part).spawn(async move {
    ///         if part == "b" { Err("bad row") } else { Ok(()) }
    ///     });
    /// }
    /// match import.join().await {
    ///     Err(JoinError::Failed(failures)) => assert_eq!(failures[0].task, "import/b"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn join(&self) -> impl Future<Output = Result<(), JoinError>> + Send + 'static + use<> {
        let node = Arc::clone(&self.node);
        async move {
            let watch = match joining::running_here(&node, tokio::task::try_id()) {
                Looked::Found(task) => return Err(from_inside(&node, task)),
                Looked::Watching(watch) => watch,
            };
            // A task that its spawner had not listed yet when it looked is told when it is.
            tokio::select! {
                task = watch.found() => return Err(from_inside(&node, task)),
                () = node.wait_tree() => {}
            }
            drop(watch);
            let failures = node.take_failures();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(JoinError::Failed(failures))
            }
        }
    }

    /// Aborts every task of this scope and of its children now (and cancels the scope, so its
    /// tasks' tokens say so). The returned future need not be awaited for that; awaited, it
    /// gives a moment to the aborts to land and returns what was cut, each task named by its
    /// path, with whether it really stopped (a task stuck in synchronous code, or a blocking
    /// one, goes on). These tasks are not in the report's
    /// [`tasks_aborted`](crate::ShutdownReport::tasks_aborted), which is the deadline's list.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let upstream = lc.scope("upstream");
    /// upstream.task("reader").spawn(std::future::pending::<()>());
    /// let cut = upstream.abort().await;
    /// assert_eq!(cut[0].name, "upstream/reader");
    /// assert!(cut[0].stopped);
    /// # }
    /// ```
    pub fn abort(&self) -> Aborting {
        self.node.cancel();
        let nodes = self.node.subtree();
        let mut cuts = Vec::new();
        for node in &nodes {
            node.count.close();
            cuts.extend(node.shared.live.abort_all(&node.shared.path, false));
        }
        let node = Arc::clone(&self.node);
        Aborting {
            settle: Box::pin(async move { settle(cuts, node.wait_tree()).await }),
        }
    }

    /// How many tasks of this scope and of its children are running.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::{Config, Sequence};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let pool = lc.scope("pool");
    /// pool.scope("w1").spawn(std::future::pending::<()>());
    /// assert_eq!(pool.running(), 1);
    /// # }
    /// ```
    pub fn running(&self) -> usize {
        self.node.running()
    }
}

/// The error of a join made from inside the scope by `task`, said on the log too.
fn from_inside(node: &Node, task: String) -> JoinError {
    let scope = node.shared.path.to_string();
    log_or_stderr(
        tracing::Level::ERROR,
        &format!(
            "lifecycle: task `{task}` joined its own scope `{scope}`: it would wait for itself. \
             Join a scope from its parent (or from main), not from inside"
        ),
    );
    JoinError::FromInside { task }
}

/// The tasks a [`Scope::abort`] cut: the aborts happened at the call; awaiting this gives them
/// a moment to land, then names each task cut and says whether it stopped.
pub struct Aborting {
    settle: Pin<Box<dyn Future<Output = Vec<AbortedTask>> + Send>>,
}

impl fmt::Debug for Aborting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aborting").finish_non_exhaustive()
    }
}

impl Future for Aborting {
    type Output = Vec<AbortedTask>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.settle.as_mut().poll(cx)
    }
}

/// Why a [`Scope::join`] did not end cleanly.
///
/// An error type: `?` carries it into `anyhow::Error` or `Box<dyn Error>`. `{}` names the
/// first failed task and its failure's message, `{:#}` adds that failure's causes; its
/// [`source`](Error::source) is the first failure's cause, so a printer that walks the chain
/// (`anyhow`'s `{:#}`) shows each cause once. Every failure is in [`Failed`](JoinError::Failed).
///
/// # Examples
///
/// ```
/// use lifecycle::tasks::JoinError;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// let batch = lc.scope("batch");
/// batch.task("part-1").spawn(async { if true { panic!("bad input") } });
/// let err = batch.join().await.unwrap_err();
/// let JoinError::Failed(failures) = &err else { panic!() };
/// assert!(failures[0].first.is_panic());
/// assert_eq!(err.to_string(), "task `batch/part-1` failed: panicked: bad input");
/// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into(); // `?` works too
/// # drop(boxed);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Tasks of the scope (or of its children) failed: one entry per task path, in the order
    /// they first failed. A panic is one too
    /// ([`Failure::is_panic`](crate::Failure::is_panic) on `first`).
    Failed(Vec<TaskFailure>),
    /// The join was awaited by a task of the scope itself (or of its children), which would
    /// wait for itself: nothing was waited for.
    FromInside {
        /// The task that joined, by path.
        task: String,
    },
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Failed(failures) => match failures.as_slice() {
                [] => f.write_str("no task failed"),
                [one] if f.alternate() => write!(f, "task `{}` failed: {:#}", one.task, one.first),
                [one] => write!(f, "task `{}` failed: {}", one.task, one.first),
                [first, ..] => {
                    let (count, task) = (failures.len(), &first.task);
                    if f.alternate() {
                        write!(f, "{count} tasks failed; first `{task}`: {:#}", first.first)
                    } else {
                        write!(f, "{count} tasks failed; first `{task}`: {}", first.first)
                    }
                }
            },
            JoinError::FromInside { task } => write!(
                f,
                "task `{task}` joined its own scope (it would wait for itself)"
            ),
        }
    }
}

impl Error for JoinError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JoinError::Failed(failures) => failures.first().and_then(|f| f.first.source()),
            JoinError::FromInside { .. } => None,
        }
    }
}
