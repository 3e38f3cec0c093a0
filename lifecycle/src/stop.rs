//! The stop stages one lifecycle has handed out: each stage a top-level scope node (its token,
//! its count, its scopes), in stage order, for the drain to cancel and wait for one at a time
//! (see [`crate::hooks::Stage`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::lock::lock;
use crate::node::Node;
use crate::stage::Stage;

/// The stages one lifecycle has handed out tokens or spawned tasks for.
#[derive(Default)]
pub(crate) struct Stages {
    state: Mutex<StagesState>,
}

#[derive(Default)]
struct StagesState {
    stages: BTreeMap<Stage, Arc<Node>>,
    /// The stages up to and including this one were cancelled: a stage created now at or
    /// below it starts cancelled.
    passed: Option<Stage>,
}

impl Stages {
    /// The stage's node, created on first use by `make`, told whether the stage's turn has
    /// passed (it then starts cancelled and drained).
    pub(crate) fn get(&self, stage: Stage, make: impl FnOnce(bool) -> Arc<Node>) -> Arc<Node> {
        let mut state = lock(&self.state);
        let passed = state.passed.is_some_and(|passed| stage <= passed);
        let node = state.stages.entry(stage).or_insert_with(|| make(passed));
        Arc::clone(node)
    }

    /// The lowest stage above `after` (any, with `None`), marked as passed: the drain's next
    /// step. Stages created during the drain are found too.
    pub(crate) fn next(&self, after: Option<Stage>) -> Option<(Stage, Arc<Node>)> {
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
    pub(crate) fn all(&self) -> Vec<Arc<Node>> {
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
        while let Some((stage, node)) = self.next(last) {
            node.shared.token.cancel();
            node.close_tree();
            node.mark_drained();
            rest.push(stage);
            last = Some(stage);
        }
        // The drain is over: a stage first used from now on (from a hook, say) starts cancelled.
        lock(&self.state).passed = Some(Stage::MAX);
        rest
    }
}
