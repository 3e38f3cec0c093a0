//! Whether a join is made from inside its own scope ([`running_here`]): by a tracked blocking
//! task (its thread says so, see `blocking.rs`), or by an async task of the scope, listed or
//! not yet.
//!
//! A task spawned from a thread that is not a runtime worker can start on a worker before its
//! spawner has listed it (`spawn_in` spawns, then lists). A join it makes then finds nothing
//! in the scope's live lists and would wait for itself. So a join made from a task it does not
//! find leaves a [`Joiner`] in each list it looked in, under the lock it looked under: the
//! spawner's listing, under that same lock, either came first (the join found the task) or
//! comes after and sees the joiner, which it tells. Nothing is added to a task's poll; the
//! listing only checks that no joiner waits (it holds the lock already).

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::Id;

use crate::lock::lock;
use crate::tasks::blocking;
use crate::tasks::node::Node;
use crate::tasks::{task_path, LiveTask, LiveTasks};

/// A join waiting to learn whether the task making it is listed in its scope after all.
pub(crate) struct Joiner {
    /// The task making the join.
    id: Id,
    /// Its path, once its spawner listed it here.
    found: Mutex<Option<String>>,
    found_now: Notify,
}

/// What a join's look for its own task gave: the task's path, or joiners left in the lists
/// looked in (taken out when dropped).
pub(crate) enum Looked {
    Found(String),
    Watching(Watch),
}

/// The joiners a join left in the lists of its subtree: [`Watch::found`] is ready when the
/// joining task is listed in one of them. Dropping it takes the joiners out.
pub(crate) struct Watch {
    joiner: Option<Arc<Joiner>>,
    nodes: Vec<Arc<Node>>,
}

impl Watch {
    /// The joining task's path, once its spawner lists it in the subtree (never, when the join
    /// is not made from a task or the task is not of the subtree).
    pub(crate) async fn found(&self) -> String {
        let Some(joiner) = &self.joiner else {
            return std::future::pending().await;
        };
        loop {
            let notified = joiner.found_now.notified();
            if let Some(path) = lock(&joiner.found).clone() {
                return path;
            }
            notified.await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(joiner) = &self.joiner {
            for node in &self.nodes {
                let mut list = lock(&node.shared.live.tasks);
                list.joiners.retain(|waiting| !Arc::ptr_eq(waiting, joiner));
            }
        }
    }
}

/// Whether the task running here is a running task of `node`'s subtree: the blocking task this
/// thread runs, or the task `id` (the caller), looked up in each node's list under its lock;
/// where it is not found, a joiner is left in the list.
pub(crate) fn running_here(node: &Arc<Node>, id: Option<Id>) -> Looked {
    if let Some(path) = blocking::running_within(&node.shared) {
        return Looked::Found(path);
    }
    look(node.subtree(), id)
}

fn look(nodes: Vec<Arc<Node>>, id: Option<Id>) -> Looked {
    let Some(id) = id else {
        return Looked::Watching(Watch {
            joiner: None,
            nodes: Vec::new(),
        });
    };
    let joiner = Arc::new(Joiner {
        id,
        found: Mutex::new(None),
        found_now: Notify::new(),
    });
    let mut watched = Vec::with_capacity(nodes.len());
    for node in nodes {
        let path = &node.shared.path;
        let found = {
            let mut list = lock(&node.shared.live.tasks);
            let found = list
                .entries
                .iter()
                .find(|task| task.abort.id() == id && !task.abort.is_finished())
                .map(|task| task_path(path, &task.name));
            if found.is_none() {
                list.joiners.push(Arc::clone(&joiner));
            }
            found
        };
        if let Some(found) = found {
            // Takes the joiners already left out again.
            drop(Watch {
                joiner: Some(joiner),
                nodes: watched,
            });
            return Looked::Found(found);
        }
        watched.push(node);
    }
    Looked::Watching(Watch {
        joiner: Some(joiner),
        nodes: watched,
    })
}

impl LiveTasks {
    /// Tells the joiner waiting for `task`, if any, that it is listed (under `path`): called
    /// by the listing, under the list's lock.
    pub(super) fn tell_joiner(joiners: &mut Vec<Arc<Joiner>>, path: &str, task: &LiveTask) {
        let id = task.abort.id();
        if let Some(at) = joiners.iter().position(|joiner| joiner.id == id) {
            let joiner = joiners.swap_remove(at);
            *lock(&joiner.found) = Some(task_path(path, &task.name));
            joiner.found_now.notify_one();
        }
    }
}
