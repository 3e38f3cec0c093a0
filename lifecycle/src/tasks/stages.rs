//! Stop stages: the stage number (the concept is documented on [`Stage`]), the stages one
//! lifecycle has handed out (each stage a top-level scope node: its token, its count, its
//! scopes, in stage order, for the drain to cancel and wait for one at a time), and what the
//! report says of each stage's drain.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock::lock;
use crate::tasks::node::Node;
use crate::tasks::Stage;

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

/// How one stage's drain went, in [`ShutdownReport::stages`](crate::ShutdownReport::stages).
///
/// The report lists stages only when the app used any: first the unstaged work (`stage:
/// None`: the main future and the tasks on the root token), then each stage in the order it
/// was cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::tasks::StageEnd;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
/// let lc = sequence.handle();
/// lc.stage(0).task("stubborn").spawn(std::future::pending::<()>()); // ignores its stage's token
/// let token = lc.stage(1).token();
/// lc.stage(1).task("flush").spawn(async move { token.cancelled().await });
/// let report = sequence.run_without_signals(async {}).await;
/// let ends: Vec<_> = report.stages.iter().map(|s| (s.stage, s.end)).collect();
/// assert_eq!(
///     ends,
///     [(None, StageEnd::Drained), (Some(0), StageEnd::Deadline), (Some(1), StageEnd::NotReached)]
/// );
/// assert_eq!(report.stages[1].took, Duration::from_secs(1)); // stage 0 ate the whole grace
/// assert_eq!(report.tasks_aborted[0].name, "stubborn");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageDrain {
    /// The stage; `None` for the unstaged work, cancelled first with the root token.
    pub stage: Option<Stage>,
    /// From the stage's cancel until its last task finished (or the grace deadline).
    pub took: Duration,
    /// How its drain ended.
    pub end: StageEnd,
}

impl StageDrain {
    pub(crate) fn new(stage: Option<Stage>, took: Duration, drained: bool) -> Self {
        let end = if drained {
            StageEnd::Drained
        } else {
            StageEnd::Deadline
        };
        Self { stage, took, end }
    }

    pub(crate) fn not_reached(stage: Stage) -> Self {
        Self {
            stage: Some(stage),
            took: Duration::ZERO,
            end: StageEnd::NotReached,
        }
    }
}

/// How a stage's drain ended.
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::tasks::StageEnd::NotReached.to_string(), "not reached: grace over");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageEnd {
    /// Every task of the stage finished within the grace.
    Drained,
    /// The grace deadline passed while this stage drained: what was left was aborted.
    Deadline,
    /// An earlier stage used up the grace: this stage's tasks were aborted without a cancel.
    NotReached,
}

impl fmt::Display for StageEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageEnd::Drained => "drained",
            StageEnd::Deadline => "grace over while draining",
            StageEnd::NotReached => "not reached: grace over",
        })
    }
}

impl fmt::Display for StageDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.stage {
            Some(stage) => format!("stage {stage}"),
            None => "unstaged".to_owned(),
        };
        write!(
            f,
            "{label:<10}  {:>8}  {}",
            crate::log::Millis(self.took).to_string(),
            self.end
        )
    }
}
