//! Supervised runs: parked until the service is Ready, then the supervisor of one [`Run`]:
//! calls it with its node's token, restarts it on failure with backoff while restarts are left
//! and its node has not been cancelled, and escalates the failure that is not restarted.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

use crate::failure::Failure;
use crate::log::{quietly, whole_ms};
use crate::tasks::node::{Node, Service};
use crate::tasks::run::{RestartLog, Restarted, Run};
use crate::tasks::{spawn_in, task_path, TaskName};

/// Runs `run` in `node` as a critical task: started now, or parked until the service is Ready
/// (then [`Tasks::start_pending_runs`](crate::tasks::Tasks::start_pending_runs) starts it).
pub(crate) fn spawn_run(node: &Arc<Node>, run: Run) {
    park_or_start(&node.shared.service, Some(Arc::clone(node)), run, |_| None);
}

/// Parks `run` while the service is Starting, else starts it in `node`, or (`None`) in the node
/// `resolve` gives for the run's stage (a component's run makes its stage only when it starts).
pub(crate) fn park_or_start(
    service: &Service,
    node: Option<Arc<Node>>,
    run: Run,
    resolve: impl FnOnce(&Run) -> Option<Arc<Node>>,
) {
    if let Some((node, run)) = service
        .pending_runs
        .park((node, run), service.triggers.readiness())
    {
        if let Some(node) = node.or_else(|| resolve(&run)) {
            start_run(&node, run);
        }
    }
}

/// Spawns the supervisor of `run` as a critical task of `node`.
pub(crate) fn start_run(node: &Arc<Node>, run: Run) {
    let name = TaskName::Given(run.name.clone().into());
    let path = task_path(&node.shared.path, &name);
    let log = Arc::clone(&node.shared.service.restarts);
    let future = supervise(run, path, node.shared.token.child_token(), log);
    spawn_in(node, name, true, future);
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

impl Error for Escalated {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

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
                tracing::error!(task = %path, max_restarts, error = format_args!("{failure:#}"),
                    "supervised task failed with no restart left: shutting down");
            });
            return Err(Escalated(failure));
        }
        restarts += 1;
        let backoff = run.restart.backoff(restarts);
        let backoff_ms = whole_ms(backoff);
        quietly(|| {
            tracing::warn!(task = %path, restart = restarts, backoff_ms, error = format_args!("{failure:#}"),
                "supervised task failed: restarting after the backoff");
        });
        log.record(Restarted {
            task: path.clone(),
            restart: restarts,
            error: failure,
            backoff,
        });
        crate::metrics::restarted(&path);
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
