//! The stop stages one lifecycle has handed out: each stage's token and task count, in stage
//! order, for the drain to cancel and wait for one at a time (see [`crate::hooks::Stage`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::lock::lock;
use crate::stage::Stage;
use crate::task::Count;

/// The stages one lifecycle has handed out tokens or spawned tasks for.
#[derive(Default)]
pub(crate) struct Stages {
    state: Mutex<StagesState>,
}

#[derive(Default)]
struct StagesState {
    stages: BTreeMap<Stage, Arc<StageWork>>,
    /// The stages up to and including this one were cancelled: a stage created now at or
    /// below it starts cancelled.
    passed: Option<Stage>,
}

/// One stage's token and task count.
pub(crate) struct StageWork {
    pub(crate) token: CancellationToken,
    pub(crate) tasks: Count,
    /// Set once the drain stopped waiting for this stage: a task spawned into it after that is
    /// late (nothing waits for it).
    pub(crate) drained: AtomicBool,
}

impl Stages {
    /// The stage's work, created on first use with `count` (cancelled at once if its turn has
    /// passed).
    pub(crate) fn get(&self, stage: Stage, count: impl FnOnce() -> Count) -> Arc<StageWork> {
        let mut state = lock(&self.state);
        let passed = state.passed.is_some_and(|passed| stage <= passed);
        let work = state.stages.entry(stage).or_insert_with(|| {
            let work = StageWork {
                token: CancellationToken::new(),
                tasks: count(),
                drained: AtomicBool::new(passed),
            };
            if passed {
                work.token.cancel();
                work.tasks.close();
            }
            Arc::new(work)
        });
        Arc::clone(work)
    }

    /// The lowest stage above `after` (any, with `None`), marked as passed: the drain's next
    /// step. Stages created during the drain are found too.
    pub(crate) fn next(&self, after: Option<Stage>) -> Option<(Stage, Arc<StageWork>)> {
        let mut state = lock(&self.state);
        let found = match after {
            None => state.stages.iter().next(),
            Some(after) => state
                .stages
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .next(),
        }
        .map(|(stage, work)| (*stage, Arc::clone(work)));
        if let Some((stage, _)) = &found {
            state.passed = Some(*stage);
        }
        found
    }

    /// Every stage.
    pub(crate) fn all(&self) -> Vec<Arc<StageWork>> {
        let state = lock(&self.state);
        state.stages.values().map(Arc::clone).collect()
    }

    /// Whether any stage was used.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.state).stages.is_empty()
    }

    /// The stages not reached by the drain (after the deadline): cancelled, marked drained, and
    /// returned; every stage counts as passed from now on.
    pub(crate) fn rest(&self, after: Option<Stage>) -> Vec<Stage> {
        let mut rest = Vec::new();
        let mut last = after;
        while let Some((stage, work)) = self.next(last) {
            work.token.cancel();
            work.tasks.close();
            work.drained.store(true, Ordering::SeqCst);
            rest.push(stage);
            last = Some(stage);
        }
        // The drain is over: a stage first used from now on (from a hook, say) starts cancelled.
        lock(&self.state).passed = Some(Stage::MAX);
        rest
    }
}
