//! Upgrade requests: SIGUSR2 (once the app has a listener from `lifecycle::listener`) and
//! [`Lifecycle::request_upgrade`](crate::Lifecycle::request_upgrade) ask; this counts what is
//! asked. The upgrade itself (a new process with the listeners) lives in `upgrade/`.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The upgrade requests of one lifecycle not yet taken up.
pub(crate) struct Upgrades {
    /// Requests not yet taken up: each is one upgrade, run one after the other.
    pending: AtomicUsize,
    /// Wakes the upgrade loop.
    requested: Notify,
}

impl Upgrades {
    pub(crate) fn new() -> Self {
        Self {
            pending: AtomicUsize::new(0),
            requested: Notify::new(),
        }
    }

    /// Asks for an upgrade; any thread may call this.
    pub(crate) fn request(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.requested.notify_one();
    }

    /// Takes one request if there is one.
    pub(crate) fn take_one(&self) -> bool {
        self.pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Drops every request not taken up; returns how many there were.
    pub(crate) fn take_all(&self) -> usize {
        self.pending.swap(0, Ordering::SeqCst)
    }

    /// Waits for a request (at once if one is pending).
    pub(crate) async fn requested(&self) {
        loop {
            let notified = self.requested.notified();
            if self.pending.load(Ordering::SeqCst) > 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_requests_are_two_upgrades_taken_one_after_the_other() {
        let upgrades = Upgrades::new();
        assert!(!upgrades.take_one());
        upgrades.request();
        upgrades.request();
        upgrades.requested().await;
        assert!(upgrades.take_one());
        upgrades.requested().await;
        assert!(upgrades.take_one());
        assert!(!upgrades.take_one());
        upgrades.request();
        assert_eq!(upgrades.take_all(), 1);
        assert_eq!(upgrades.take_all(), 0);
    }
}
