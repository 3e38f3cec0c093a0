//! Upgrade requests: SIGUSR2 (once the app has a listener from `lifecycle::listener`) and
//! [`Lifecycle::request_upgrade`](crate::Lifecycle::request_upgrade) ask; this keeps what is
//! asked. The upgrade itself (a new process with the listeners) lives in `upgrade/`.
//!
//! At most one upgrade runs and at most one waits to run after it: a request made while one
//! already waits joins that one. So two requests made at once are two attempts, one after the
//! other, and any number made while an attempt runs are one more attempt, not one each (a burst
//! of SIGUSR2 or of `request_upgrade` against a new binary that fails its start would otherwise
//! start one process per request, one after the other, each up to `upgrade_timeout`).

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::lock::lock;

/// The upgrade requests of one lifecycle not yet taken up.
pub(crate) struct Upgrades {
    queue: Mutex<Queue>,
    /// Why no upgrade can run in this lifecycle, if none can (a service run by the test
    /// harness: there is no process to replace).
    refused: std::sync::OnceLock<&'static str>,
    /// Wakes the upgrade loop.
    requested: Notify,
}

/// What runs and what waits; `running + waiting` is at most [`AT_MOST`].
#[derive(Default)]
struct Queue {
    /// An attempt taken up with [`Upgrades::take_one`] and not over yet.
    running: bool,
    /// Requests not yet taken up: each is one attempt, run one after the other.
    waiting: usize,
}

/// One attempt running and one waiting.
const AT_MOST: usize = 2;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// It is an attempt of its own, run after the one running (if any).
    Queued,
    /// An attempt was waiting already (behind one running, or with another asked for at
    /// once): this request is that attempt too.
    Joined,
}

impl Upgrades {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            refused: std::sync::OnceLock::new(),
            requested: Notify::new(),
        }
    }

    /// No upgrade can run in this lifecycle, for `why`: every request from now on is refused.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn refuse(&self, why: &'static str) {
        let _ = self.refused.set(why);
    }

    /// Why no upgrade can run, if none can (see [`refuse`](Self::refuse)).
    pub(crate) fn refused(&self) -> Option<&'static str> {
        self.refused.get().copied()
    }

    /// Asks for an upgrade; any thread may call this.
    pub(crate) fn request(&self) -> Asked {
        let mut queue = lock(&self.queue);
        if usize::from(queue.running) + queue.waiting >= AT_MOST {
            return Asked::Joined;
        }
        queue.waiting += 1;
        drop(queue);
        self.requested.notify_one();
        Asked::Queued
    }

    /// Takes one request if there is one and no attempt runs: the attempt runs until the
    /// returned guard is dropped (requests made meanwhile wait for it, joining one another).
    pub(crate) fn take_one(&self) -> Option<Attempting<'_>> {
        let mut queue = lock(&self.queue);
        if queue.running || queue.waiting == 0 {
            return None;
        }
        queue.waiting -= 1;
        queue.running = true;
        Some(Attempting { upgrades: self })
    }

    /// Drops every request not taken up; returns how many there were.
    pub(crate) fn take_all(&self) -> usize {
        std::mem::take(&mut lock(&self.queue).waiting)
    }

    /// Waits for a request (at once if one is waiting).
    pub(crate) async fn requested(&self) {
        loop {
            let notified = self.requested.notified();
            if lock(&self.queue).waiting > 0 {
                return;
            }
            notified.await;
        }
    }
}

/// An upgrade being attempted (see [`Upgrades::take_one`]); over when dropped.
#[must_use = "the attempt is over when this is dropped"]
pub(crate) struct Attempting<'a> {
    upgrades: &'a Upgrades,
}

impl Drop for Attempting<'_> {
    fn drop(&mut self) {
        lock(&self.upgrades.queue).running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_requests_are_two_upgrades_taken_one_after_the_other() {
        let upgrades = Upgrades::new();
        assert!(upgrades.take_one().is_none());
        assert_eq!(upgrades.request(), Asked::Queued);
        assert_eq!(upgrades.request(), Asked::Queued);
        upgrades.requested().await;
        let first = upgrades.take_one().expect("the first request");
        assert!(upgrades.take_one().is_none(), "one at a time");
        drop(first);
        upgrades.requested().await;
        assert!(upgrades.take_one().is_some());
        assert!(upgrades.take_one().is_none());
        assert_eq!(upgrades.request(), Asked::Queued);
        assert_eq!(upgrades.take_all(), 1);
        assert_eq!(upgrades.take_all(), 0);
    }

    #[tokio::test]
    async fn requests_made_while_one_runs_are_one_more_attempt() {
        let upgrades = Upgrades::new();
        assert_eq!(upgrades.request(), Asked::Queued);
        let running = upgrades.take_one().expect("the first request");
        assert_eq!(upgrades.request(), Asked::Queued);
        for _ in 0..99 {
            assert_eq!(upgrades.request(), Asked::Joined);
        }
        drop(running);
        upgrades.requested().await;
        let follow_up = upgrades.take_one().expect("the follow-up");
        assert_eq!(upgrades.take_all(), 0, "nothing more waits");
        drop(follow_up);
        // Idle again: a request is an attempt of its own.
        assert_eq!(upgrades.request(), Asked::Queued);
    }

    #[test]
    fn a_burst_before_any_attempt_is_two_attempts() {
        let upgrades = Upgrades::new();
        let asked: Vec<Asked> = (0..100).map(|_| upgrades.request()).collect();
        assert_eq!(&asked[..2], &[Asked::Queued, Asked::Queued]);
        assert!(asked[2..].iter().all(|asked| *asked == Asked::Joined));
        assert_eq!(upgrades.take_all(), 2);
    }
}
