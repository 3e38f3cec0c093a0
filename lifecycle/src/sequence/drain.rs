//! The drain: the delay, the cancel, the wait with a deadline, and what the deadline cuts. Also
//! the watched main future, which the drain waits for with the tasks.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::failure::{panic_message, Failure, Outcome};
use crate::handle::Inner;
use crate::hooks::gate::PollingMain;
use crate::log::{quietly, whole_ms};
use crate::report::MainOutcome;
use crate::tasks::stages::StageDrain;
use crate::tasks::Cut;
use crate::tasks::{AbortedTask, ConnectionReport};

use crate::triggers::watchdog::Phase;
use crate::triggers::{Trigger, Triggers};

/// What the drain found.
pub(crate) struct Drain {
    pub(crate) delay: Duration,
    pub(crate) took: Duration,
    pub(crate) aborted: Vec<AbortedTask>,
    pub(crate) connections: Option<ConnectionReport>,
    /// Each stage's drain, when the app used stages.
    pub(crate) stages: Vec<StageDrain>,
}

fn log_stage(stage: Option<&StageDrain>) {
    let Some(drained) = stage else { return };
    let (stage, took_ms) = (drained.stage, whole_ms(drained.took));
    quietly(|| tracing::info!(stage, took_ms, end = %drained.end, "stage drained"));
}

/// Waits out the drain delay (still serving; cut short by `main` ending or a signal that
/// hurries), cancels the root token, then waits for `main` and every tracked task, stage by
/// stage, and the requests of the in-flight layer, until the grace deadline. Returns the moment all are done; at the deadline, drops `main`, aborts the
/// tasks left, and reports which really stopped.
pub(crate) async fn drain<F>(inner: &Inner, main: &mut MainTask<F>) -> Drain
where
    F: Future,
    F::Output: Outcome,
{
    let config = &inner.config();
    let watch = inner.triggers().watch();
    inner.connections().mark_trigger();
    watch.enter(Phase::DrainDelay);
    let delay_started = Instant::now();
    // Never Ready: no load balancer sends traffic yet, so there is nothing to wait out.
    let was_ready = inner.triggers().readiness().was_ready();
    // Upgraded: the new process accepts on the same sockets, no load balancer has to catch up.
    let upgraded = matches!(inner.triggers().current(), Some(Trigger::Upgraded { .. }));
    if !config.drain_delay().is_zero() && !main.is_finished() && was_ready && !upgraded {
        let drain_delay_ms = whole_ms(config.drain_delay());
        quietly(|| {
            tracing::info!(
                drain_delay_ms,
                "drain delay: still serving while the load balancer catches up"
            );
        });
        tokio::select! {
            () = tokio::time::sleep(config.drain_delay()) => {}
            () = inner.triggers().hurried() => {}
            () = &mut *main => {}
        }
    }
    let delay = delay_started.elapsed();

    watch.enter(Phase::Drain);
    inner.root().cancel();
    let root = inner.tasks().root();
    root.close_tree();
    let started = Instant::now();
    let grace = config.grace();
    // What is left of the one grace; `saturating_sub`: a grace of any size never overflows.
    let left = || grace.saturating_sub(started.elapsed());
    let staged = inner.tasks().has_stages();
    let mut stages = Vec::new();
    let mut all_done = tokio::time::timeout(left(), async {
        tokio::join!(&mut *main, root.wait_tree());
    })
    .await
    .is_ok();
    if staged {
        stages.push(StageDrain::new(None, started.elapsed(), all_done));
    }
    // Each stage in turn, ascending, all within the grace: cancel, close, wait.
    let mut last = None;
    while all_done {
        let Some((stage, node)) = inner.tasks().next_stage(last) else {
            break;
        };
        last = Some(stage);
        node.cancel();
        node.close_tree();
        let stage_started = Instant::now();
        all_done = tokio::time::timeout(left(), node.wait_tree()).await.is_ok();
        node.mark_drained();
        stages.push(StageDrain::new(
            Some(stage),
            stage_started.elapsed(),
            all_done,
        ));
        log_stage(stages.last());
    }
    for stage in inner.tasks().stages_not_reached(last) {
        stages.push(StageDrain::not_reached(stage));
    }
    // Last, the requests the in-flight layer counts in servers the lifecycle does not run: a
    // server stopped by a stage's token answers them in its stage's turn, so they come after
    // every stage. Still in flight at the deadline, they are counted as cut.
    if all_done {
        let requests = inner.tasks().requests();
        requests.close();
        all_done = tokio::time::timeout(left(), requests.wait()).await.is_ok();
    }

    let mut aborted = Vec::new();
    let mut cut = Vec::new();
    if !all_done {
        cut = inner.connections().cut_all();
        main.abort();
        let cuts = inner.tasks().abort_all(false);
        aborted = settle(inner, cuts).await;
        let grace_ms = whole_ms(config.grace());
        let left_running = aborted.iter().filter(|task| !task.stopped).count();
        let count = aborted.len();
        let connections_cut = cut.len();
        quietly(|| {
            tracing::warn!(
                grace_ms,
                aborted = count,
                connections_cut,
                left_running,
                "grace period over: aborted what was left"
            );
        });
    }
    root.mark_drained();
    let took = started.elapsed();
    Drain {
        delay,
        took,
        aborted,
        connections: inner.connections().report(cut),
        stages,
    }
}

/// Aborts the tasks spawned after the drain that are still running, and says which stopped.
pub(crate) async fn cut_late_tasks(inner: &Inner) -> Vec<AbortedTask> {
    let cuts = inner.tasks().abort_all(true);
    if cuts.is_empty() {
        return Vec::new();
    }
    let late = settle(inner, cuts).await;
    let count = late.len();
    quietly(|| {
        tracing::warn!(
            late = count,
            "tasks spawned after the drain were still running: aborted"
        );
    });
    late
}

/// Gives the deadline's aborts a moment to land (see [`settle`](crate::tasks::settle)).
async fn settle(inner: &Inner, cuts: Vec<Cut>) -> Vec<AbortedTask> {
    crate::tasks::settle(cuts, inner.tasks().wait_all()).await
}

/// The app's main future, watched: polling it to the end records how main ended and triggers
/// the shutdown; polling it again after that is ready at once, so every step can await it.
pub(crate) struct MainTask<F> {
    future: Option<Pin<Box<F>>>,
    outcome: Option<MainOutcome>,
    triggers: Arc<Triggers>,
}

impl<F> MainTask<F> {
    pub(crate) fn new(future: F, triggers: Arc<Triggers>) -> Self {
        Self {
            future: Some(Box::pin(future)),
            outcome: None,
            triggers,
        }
    }

    /// Whether the main future has ended (or was dropped at the deadline).
    pub(crate) fn is_finished(&self) -> bool {
        self.future.is_none()
    }

    /// How it ended, once it has.
    pub(crate) fn take_outcome(&mut self) -> Option<MainOutcome> {
        self.outcome.take()
    }

    fn record(&mut self, outcome: MainOutcome) {
        let trigger = match &outcome {
            MainOutcome::Returned => Some(Trigger::MainReturned),
            MainOutcome::Failed(error) => Some(Trigger::MainFailed(error.clone())),
            MainOutcome::Panicked(message) => Some(Trigger::MainFailed(Failure::panicked(message))),
            MainOutcome::Aborted | MainOutcome::AbortedDropPanicked(_) => None,
        };
        if let Some(trigger) = trigger {
            self.triggers.fire(trigger);
        }
        if !matches!(outcome, MainOutcome::Returned) {
            quietly(|| tracing::error!(outcome = %outcome, "main did not return cleanly"));
        }
        self.outcome = Some(outcome);
    }

    /// Drops the main future if it is still running. A panic while dropping it (in a guard's
    /// `Drop`) is caught and recorded: the hooks must still run.
    fn abort(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        let outcome = match panic::catch_unwind(AssertUnwindSafe(move || drop(future))) {
            Ok(()) => MainOutcome::Aborted,
            Err(payload) => MainOutcome::AbortedDropPanicked(panic_message(&*payload)),
        };
        self.record(outcome);
    }
}

impl<F> Future for MainTask<F>
where
    F: Future,
    F::Output: Outcome,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let lifecycle = Arc::as_ptr(&self.triggers).cast::<()>();
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(());
        };
        let polled = {
            let _main = PollingMain::enter(lifecycle);
            panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
        };
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => match output.into_outcome().1 {
                None => MainOutcome::Returned,
                Some(error) => MainOutcome::Failed(error),
            },
            Err(payload) => MainOutcome::Panicked(panic_message(&*payload)),
        };
        self.future = None;
        self.record(outcome);
        Poll::Ready(())
    }
}
