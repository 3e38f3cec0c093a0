//! The tree every tracked task lives in: the root node (the unstaged tasks), one top-level node
//! per stop stage, and the scopes under them, each with its token, count, live list and
//! failures; the walks over a subtree (close, wait, mark drained, count); and where a failure
//! goes ([`record_failure`]). [`Scope`](crate::tasks::Scope) is the public handle on a node.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::failure::Failure;
use crate::lock::lock;
use crate::log::quietly;
use crate::tasks::records::{TaskFailure, MAX_TASK_FAILURES};
use crate::tasks::run::{RestartLog, Run};
use crate::tasks::{Count, Failures, LiveTasks};
use crate::triggers::readiness::{Readiness, State};
use crate::triggers::{Trigger, Triggers};

/// What the tasks of one lifecycle share, whatever their scope: where the failures that go up
/// are recorded, the triggers a critical one fires, and the count of the kept ones a join took.
pub(crate) struct Service {
    pub(crate) failures: Mutex<Failures>,
    /// Kept failures taken by a join (handled), counted as the report counts failures.
    pub(crate) handled: AtomicU64,
    pub(crate) triggers: Arc<Triggers>,
    /// Stamps each failure, so that a join over many scopes gives them in the order they came.
    order: AtomicU64,
    /// Every restart of a supervised run, for the report.
    pub(crate) restarts: Arc<RestartLog>,
    /// Runs spawned before the service was Ready, with the node each runs in (`None`: the
    /// stage of the run, made when it starts).
    pub(crate) pending_runs: PendingRuns,
}

impl Service {
    pub(crate) fn new(triggers: Arc<Triggers>) -> Self {
        Self {
            failures: Mutex::default(),
            handled: AtomicU64::new(0),
            triggers,
            order: AtomicU64::new(0),
            restarts: Arc::default(),
            pending_runs: PendingRuns::default(),
        }
    }
}

/// The part of a node its tasks reach (through their sinks): its name, its token, its live list
/// and failures, its parent's for the walk up. No task reaches the [`Node`] (its count and
/// children), so an open count makes no reference loop.
pub(crate) struct NodeShared {
    /// `parent/name`; empty for the root and the stages.
    pub(crate) path: Arc<str>,
    parent: Option<Arc<NodeShared>>,
    pub(crate) token: CancellationToken,
    pub(crate) live: LiveTasks,
    /// Set by [`Scope::keep_failures`](crate::tasks::Scope::keep_failures).
    pub(crate) keep: AtomicBool,
    failures: Mutex<NodeFailures>,
    pub(crate) service: Arc<Service>,
}

impl NodeShared {
    /// The nearest node, this one or above, that keeps its children's failures.
    fn keeper(self: &Arc<Self>) -> Option<&Arc<NodeShared>> {
        let mut node = Some(self);
        while let Some(shared) = node {
            if shared.keep.load(Ordering::SeqCst) {
                return Some(shared);
            }
            node = shared.parent.as_ref();
        }
        None
    }

    /// Whether this node is `ancestor` or lies below it.
    pub(crate) fn is_within(self: &Arc<Self>, ancestor: &Arc<NodeShared>) -> bool {
        let mut node = Some(self);
        while let Some(shared) = node {
            if Arc::ptr_eq(shared, ancestor) {
                return true;
            }
            node = shared.parent.as_ref();
        }
        false
    }
}

/// One node of the task tree: a scope, the root, or a stage.
pub(crate) struct Node {
    pub(crate) shared: Arc<NodeShared>,
    /// Its own tasks (not its children's): what a join and the drain wait on.
    pub(crate) count: Count,
    children: Mutex<Children>,
    /// Set once the drain stopped waiting for it: a task spawned here after that is late.
    pub(crate) drained: AtomicBool,
}

#[derive(Default)]
struct Children {
    nodes: Vec<Arc<Node>>,
    compact_at: usize,
}

/// The child list is never compacted below this length.
const COMPACT_AT: usize = 16;

impl Node {
    fn new(shared: NodeShared, drained: bool) -> Arc<Self> {
        let shared = Arc::new(shared);
        let node = Node {
            count: Count::new(&shared),
            shared,
            children: Mutex::default(),
            drained: AtomicBool::new(drained),
        };
        if drained {
            node.shared.token.cancel();
            node.count.close();
        }
        Arc::new(node)
    }

    /// A top-level node (the root, a stage) with `token`; `passed`: its turn in the drain is
    /// over, so it starts cancelled and drained.
    pub(crate) fn top(service: &Arc<Service>, token: CancellationToken, passed: bool) -> Arc<Self> {
        let shared = NodeShared {
            path: Arc::from(""),
            parent: None,
            token,
            live: LiveTasks::default(),
            keep: AtomicBool::new(false),
            failures: Mutex::default(),
            service: Arc::clone(service),
        };
        Node::new(shared, passed)
    }

    /// Cancels this node's token (and so its descendants').
    pub(crate) fn cancel(&self) {
        self.shared.token.cancel();
    }

    /// A new child of `parent` named `name`; drained already if `parent` is.
    pub(crate) fn child(parent: &Arc<Node>, name: &str) -> Arc<Self> {
        let path: Arc<str> = if parent.shared.path.is_empty() {
            Arc::from(name)
        } else {
            Arc::from(format!("{}/{name}", parent.shared.path))
        };
        let shared = NodeShared {
            path,
            parent: Some(Arc::clone(&parent.shared)),
            token: parent.shared.token.child_token(),
            live: LiveTasks::default(),
            keep: AtomicBool::new(false),
            failures: Mutex::default(),
            service: Arc::clone(&parent.shared.service),
        };
        let mut children = lock(&parent.children);
        // Read under the lock `mark_drained` takes after setting it: either it sees this child,
        // or this child sees the flag.
        let node = Node::new(shared, parent.drained.load(Ordering::SeqCst));
        if children.nodes.len() >= children.compact_at.max(COMPACT_AT) {
            children.nodes.retain(|child| {
                if !child.is_spent() {
                    return true;
                }
                // Its failures are the parent's subtree's: the parent's join (or the report)
                // still finds them.
                let failures = std::mem::take(&mut *lock(&child.shared.failures));
                lock(&parent.shared.failures).absorb(failures);
                false
            });
            children.compact_at = children.nodes.len().saturating_mul(2);
        }
        children.nodes.push(Arc::clone(&node));
        node
    }

    /// Nothing holds it but its parent, and it has nothing left to wait for: no task running,
    /// no child. (Its failures move to its parent when it goes.)
    fn is_spent(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) == 1
            && self.shared.live.running() == 0
            && lock(&self.children).nodes.is_empty()
    }

    /// This node and every node below it, parents first.
    pub(crate) fn subtree(self: &Arc<Self>) -> Vec<Arc<Node>> {
        let mut nodes = vec![Arc::clone(self)];
        let mut at = 0;
        while at < nodes.len() {
            let children: Vec<_> = lock(&nodes[at].children).nodes.clone();
            nodes.extend(children);
            at += 1;
        }
        nodes
    }

    /// Closes the counts of this node and of every node below it.
    pub(crate) fn close_tree(self: &Arc<Self>) {
        for node in self.subtree() {
            node.count.close();
        }
    }

    /// Closes and waits for every count of the subtree, reading the children again until none
    /// is new and every count is done (a node made, or a task spawned, while it waited).
    pub(crate) async fn wait_tree(self: &Arc<Self>) {
        loop {
            let nodes = self.subtree();
            for node in &nodes {
                node.count.close();
            }
            for node in &nodes {
                node.count.wait().await;
            }
            let again = self.subtree();
            if again.len() == nodes.len() && again.iter().all(|node| node.count.is_done()) {
                return;
            }
        }
    }

    /// Marks this node and every node below it drained: a task spawned there from now on is late.
    pub(crate) fn mark_drained(self: &Arc<Self>) {
        self.drained.store(true, Ordering::SeqCst);
        let children: Vec<_> = lock(&self.children).nodes.clone();
        for child in children {
            child.mark_drained();
        }
    }

    /// How many tasks of the subtree are running.
    pub(crate) fn running(self: &Arc<Self>) -> usize {
        self.subtree()
            .iter()
            .map(|node| node.shared.live.running())
            .sum()
    }

    /// Takes the failures of the subtree, one entry per task path (and kind), in the order
    /// they first came; the kept ones count as handled.
    pub(crate) fn take_failures(self: &Arc<Self>) -> Vec<TaskFailure> {
        let mut taken = NodeFailures::default();
        for node in self.subtree() {
            let failures = std::mem::take(&mut *lock(&node.shared.failures));
            taken.absorb(failures);
        }
        let beyond = taken.kept_other;
        let taken = taken.in_order();
        let handled: u64 = taken
            .iter()
            .filter(|failure| failure.kept)
            .map(|failure| failure.count)
            .sum::<u64>()
            .saturating_add(beyond);
        self.shared
            .service
            .handled
            .fetch_add(handled, Ordering::Relaxed);
        taken
    }

    /// Adds the kept failures of the subtree that no join took to `into`.
    pub(crate) fn unjoined_kept(self: &Arc<Self>, into: &mut NodeFailures) {
        for node in self.subtree() {
            let failures = lock(&node.shared.failures);
            let kept = failures.entries.iter().filter(|entry| entry.failure.kept);
            into.absorb(NodeFailures {
                entries: kept.cloned().collect(),
                kept_other: failures.kept_other,
            });
        }
    }
}

/// Failures of tasks, one entry per task path and kind (critical, kept), with when each
/// entry's first and last failure came: a node's since its last join, or gathered from many.
#[derive(Default)]
pub(crate) struct NodeFailures {
    entries: Vec<Entry>,
    /// Kept failures of paths beyond [`MAX_TASK_FAILURES`]: only counted (a join counts them as
    /// handled; the report, when no join took them, as other failures).
    pub(crate) kept_other: u64,
}

#[derive(Clone)]
struct Entry {
    /// The order of its first failure and of its last, among all of the service's.
    first: u64,
    last: u64,
    failure: TaskFailure,
}

impl Entry {
    fn is(&self, task: &str, critical: bool, kept: bool) -> bool {
        self.failure.task == task && self.failure.critical == critical && self.failure.kept == kept
    }
}

impl NodeFailures {
    /// Takes in `other`'s failures: equal paths (and kinds) group, so a failure's count, first
    /// and last stay right across nodes.
    pub(crate) fn absorb(&mut self, other: NodeFailures) {
        self.kept_other = self.kept_other.saturating_add(other.kept_other);
        for entry in other.entries {
            let f = &entry.failure;
            let found = self
                .entries
                .iter_mut()
                .find(|e| e.is(&f.task, f.critical, f.kept));
            if let Some(have) = found {
                have.failure.count = have.failure.count.saturating_add(f.count);
                if entry.first < have.first {
                    have.first = entry.first;
                    have.failure.first = entry.failure.first.clone();
                }
                if entry.last > have.last {
                    have.last = entry.last;
                    have.failure.last = entry.failure.last;
                }
            } else if self.entries.len() < MAX_TASK_FAILURES {
                self.entries.push(entry);
            } else if entry.failure.kept {
                self.kept_other = self.kept_other.saturating_add(entry.failure.count);
            }
        }
    }

    /// The failures, by when each first came.
    pub(crate) fn in_order(mut self) -> Vec<TaskFailure> {
        self.entries.sort_by_key(|entry| entry.first);
        self.entries
            .into_iter()
            .map(|entry| entry.failure)
            .collect()
    }

    fn record(&mut self, order: u64, task: &str, critical: bool, kept: bool, failure: &Failure) {
        let found = self.entries.iter_mut().find(|e| e.is(task, critical, kept));
        if let Some(entry) = found {
            entry.failure.count = entry.failure.count.saturating_add(1);
            entry.failure.last = failure.clone();
            entry.last = order;
        } else if self.entries.len() < MAX_TASK_FAILURES {
            self.entries.push(Entry {
                first: order,
                last: order,
                failure: TaskFailure {
                    task: task.to_owned(),
                    critical,
                    kept,
                    count: 1,
                    first: failure.clone(),
                    last: failure.clone(),
                },
            });
        } else if kept {
            self.kept_other = self.kept_other.saturating_add(1);
        }
    }
}

/// Records the failure of the task `task` (its path) of the node `shared`: on the node, for its
/// join; then, with no scope keeping failures above it, in the service's failures (a critical
/// one fires the trigger); under a keeping scope, nowhere else (a critical one shuts the keeper
/// down).
pub(crate) fn record_failure(
    shared: &Arc<NodeShared>,
    task: String,
    critical: bool,
    failure: Failure,
) {
    let service = &shared.service;
    let keeper = shared.keeper();
    let order = service.order.fetch_add(1, Ordering::Relaxed);
    lock(&shared.failures).record(order, &task, critical, keeper.is_some(), &failure);
    match keeper {
        None => {
            lock(&service.failures).record(task.clone(), critical, failure.clone());
            if critical {
                service.triggers.fire(Trigger::TaskFailed {
                    task: task.clone(),
                    error: failure.clone(),
                });
            }
            quietly(
                || tracing::error!(task = %task, critical, error = format_args!("{failure:#}"), "tracked task failed"),
            );
        }
        Some(keeper) => {
            if critical {
                keeper.token.cancel();
            }
            let scope = &keeper.path;
            quietly(|| {
                tracing::warn!(task = %task, critical, scope = %scope, error = format_args!("{failure:#}"),
                    "tracked task failed: kept for its scope's join");
            });
        }
    }
}

/// Runs spawned before the service was Ready: they start when it becomes Ready.
#[derive(Default)]
pub(crate) struct PendingRuns {
    runs: Mutex<Vec<(Option<Arc<Node>>, Run)>>,
}

impl PendingRuns {
    /// Keeps `run` for later while the service is Starting; otherwise hands it back to start
    /// now. The state is read under the lock [`take`](Self::take) empties the list under, so a
    /// run added at the moment the service becomes Ready starts exactly once.
    pub(crate) fn park(
        &self,
        run: (Option<Arc<Node>>, Run),
        readiness: &Readiness,
    ) -> Option<(Option<Arc<Node>>, Run)> {
        let mut runs = lock(&self.runs);
        if readiness.get() == State::Starting {
            runs.push(run);
            None
        } else {
            Some(run)
        }
    }

    /// The runs to start now that the service is Ready (call after readiness moved).
    pub(crate) fn take(&self) -> Vec<(Option<Arc<Node>>, Run)> {
        std::mem::take(&mut *lock(&self.runs))
    }
}
