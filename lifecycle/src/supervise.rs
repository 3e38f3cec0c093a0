//! The handle's side of stop stages ([`Lifecycle::token_in`], [`Lifecycle::spawn_in`],
//! [`Lifecycle::spawn_run`]), and the supervisor of one [`Run`]: calls it with its stage's token,
//! restarts it on failure with backoff while restarts are left and its stage has not been
//! cancelled, and escalates the failure that is not restarted.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, Outcome};
use crate::handle::Lifecycle;
use crate::log::{quietly, whole_ms};
use crate::stage::{RestartLog, Restarted, Run, Stage};
use crate::task::{spawn_in, task_path, TaskName};

impl Lifecycle {
    /// A token cancelled when `stage`'s turn comes in the drain: after the unstaged work (the
    /// main future and the tasks on [`token`](Lifecycle::token)) has finished and every lower
    /// stage has drained. See [`Stage`](crate::hooks::Stage).
    ///
    /// The main future is unstaged work: it must not wait for a stage's token (or for a task
    /// of a stage) once the drain has started, since no stage is cancelled before it has
    /// ended; it would wait until the grace deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let writer = lc.token_in(1);
    /// let handle = lc.clone();
    /// sequence
    ///     .run(async move {
    ///         handle.request_shutdown();
    ///         handle.cancelled().await; // the unstaged work is cancelled first...
    ///         assert!(!writer.is_cancelled()); // ...stage 1 only once that has finished
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub fn token_in(&self, stage: Stage) -> CancellationToken {
        self.stage(stage).token()
    }

    /// Like [`spawn_named`](Lifecycle::spawn_named), in a stop stage: the drain waits for the
    /// task in `stage`'s turn, before cancelling the next stage. The task should watch
    /// [`token_in(stage)`](Lifecycle::token_in). See [`Stage`](crate::hooks::Stage) for an example.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    #[track_caller]
    pub fn spawn_in<F>(
        &self,
        stage: Stage,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<<F::Output as Outcome>::Joined>
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
        <F::Output as Outcome>::Joined: Send + 'static,
    {
        self.stage(stage).task(name).spawn(future)
    }

    /// Spawns a long-running part ([`Run`]) as a critical tracked task in its stage, restarted
    /// on failure as its [`Restart`](crate::hooks::Restart) says. Before the service is Ready
    /// the part waits, and starts when it becomes Ready. [`manage`](Lifecycle::manage) calls
    /// this for a component's `#[run]` methods. See [`Run`] for an example.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime once the service is Ready.
    pub fn spawn_run(&self, run: Run) {
        self.task(run.name.clone()).run(run);
    }

    /// Spawns `run`'s supervisor as a critical task in its node (or stage, or the root).
    pub(crate) fn start_run(&self, run: Run) {
        let tasks = &self.inner.tasks;
        let node = match (&run.node, run.stage) {
            (Some(node), _) => Arc::clone(node),
            (None, Some(stage)) => tasks.stage(stage),
            (None, None) => Arc::clone(tasks.root()),
        };
        let name = TaskName::Given(run.name.clone().into());
        let path = task_path(&node.shared.path, &name);
        let log = Arc::clone(&self.inner.restarts);
        let future = supervise(run, path, node.shared.token.child_token(), log);
        spawn_in(&node, name, true, future);
    }
}

/// The failure a supervised part ends with when it is not restarted: the part's task is
/// critical, so this starts the shutdown (exit code 1). Reads as the failure itself.
#[derive(Debug)]
pub(crate) struct Escalated(Failure);

impl fmt::Display for Escalated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for Escalated {}

/// Runs `run` until it ends cleanly, is cancelled, or fails with no restart left (or after its
/// stage's `token` was cancelled, which stops restarts). Between the trigger and its stage's
/// turn the part is still restarted: the stages drained before it may need it (a writer that
/// the server draining in front of it feeds).
pub(crate) async fn supervise(
    run: Run,
    path: String,
    token: CancellationToken,
    log: Arc<RestartLog>,
) -> Result<(), Escalated> {
    let mut restarts = 0u32;
    loop {
        // The call itself may panic too (before its future exists): a failure like any other.
        let attempt = panic::catch_unwind(AssertUnwindSafe(|| (run.make)(token.clone())));
        let ended = match attempt {
            Ok(future) => CatchUnwind { future }.await,
            Err(payload) => Err(Failure::panic(&*payload)),
        };
        let failure = match ended {
            Ok(None) => return Ok(()),
            Ok(Some(failure)) | Err(failure) => failure,
        };
        if token.is_cancelled() {
            return Err(Escalated(failure));
        }
        if restarts >= run.restart.max_restarts() {
            let max_restarts = run.restart.max_restarts();
            quietly(|| {
                tracing::error!(task = %path, max_restarts, error = %failure,
                    "supervised task failed with no restart left: shutting down");
            });
            return Err(Escalated(failure));
        }
        restarts += 1;
        let backoff = run.restart.backoff(restarts);
        let backoff_ms = whole_ms(backoff);
        quietly(|| {
            tracing::warn!(task = %path, restart = restarts, backoff_ms, error = %failure,
                "supervised task failed: restarting after the backoff");
        });
        log.record(Restarted {
            task: path.clone(),
            restart: restarts,
            error: failure,
            backoff,
        });
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            // Restarts stop at the stage's cancel: the failure is in the report's restarts.
            () = token.cancelled() => return Ok(()),
        }
        if token.is_cancelled() {
            return Ok(());
        }
    }
}

/// One attempt's future, its panic caught as a failure (a restart must survive a panic).
struct CatchUnwind {
    future: Pin<Box<dyn Future<Output = Option<Failure>> + Send>>,
}

impl Future for CatchUnwind {
    type Output = Result<Option<Failure>, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(failure)) => Poll::Ready(Ok(failure)),
            Err(payload) => Poll::Ready(Err(Failure::panic(&*payload))),
        }
    }
}
