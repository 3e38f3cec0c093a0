//! Which tracked blocking task this thread is running, so that one joining its own scope is
//! told so ([`JoinError::FromInside`](crate::tasks::JoinError::FromInside)) instead of waiting
//! for itself.
//!
//! The live-task list cannot say it: a blocking task starts on a pool thread at once, often
//! before its spawner has listed it, and a join it makes then finds nothing. So the body of a
//! tracked blocking task runs [`inside`] a marker kept on its thread.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::task::Id;

use crate::tasks::node::NodeShared;

/// A tracked blocking task, as its thread knows it while its body runs.
pub(crate) struct BlockingTask {
    /// The node it was spawned in.
    node: Arc<NodeShared>,
    /// Its path, for the error.
    path: String,
    /// Its Tokio task id, read on its thread: a task that the body drives on this thread
    /// (`Handle::block_on` on a current-thread runtime) has another one, and is not this task.
    id: Option<Id>,
}

thread_local! {
    static RUNNING: RefCell<Option<BlockingTask>> = const { RefCell::new(None) };
}

/// Runs `body` as the blocking task `path` of `node`, on the thread that calls it.
pub(crate) fn inside<R>(node: Arc<NodeShared>, path: String, body: impl FnOnce() -> R) -> R {
    /// Puts back what the thread ran before, even if the body unwinds.
    struct Restore(Option<BlockingTask>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            // `try_with`: a blocking task ending while its thread exits has nothing to restore.
            let _ = RUNNING.try_with(|running| *running.borrow_mut() = before);
        }
    }
    let task = BlockingTask {
        node,
        path,
        id: tokio::task::try_id(),
    };
    let _restore = Restore(RUNNING.with(|running| running.borrow_mut().replace(task)));
    body()
}

/// The path of the blocking task running here, if it is a task of `node` or of a node below.
pub(crate) fn running_within(node: &Arc<NodeShared>) -> Option<String> {
    RUNNING
        .try_with(|running| {
            let running = running.borrow();
            let task = running.as_ref()?;
            (task.id == tokio::task::try_id() && task.node.is_within(node))
                .then(|| task.path.clone())
        })
        .ok()
        .flatten()
}
