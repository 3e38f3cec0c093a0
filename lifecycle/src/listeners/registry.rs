//! The listeners [`listener`](super::listener) returned, by name: what an in-place upgrade
//! hands to the new process (`upgrade/`). Also whether another process accepts on them right
//! now (an upgrade under way), which makes a listener's close a hand-over.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::net::TcpListener;

use crate::lock::lock;

/// One listener returned by [`listener`](super::listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) name: String,
    pub(crate) fd: RawFd,
    /// Its address when returned: a descriptor that no longer has it was closed by the app
    /// (and its number perhaps reused), and is not handed over.
    pub(crate) address: Option<SocketAddr>,
}

static RECORDED: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

/// Called (once, on the app's runtime) when the first listener is recorded: the upgrade
/// takes SIGUSR2 over from then on.
static ON_FIRST: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Whether another process accepts on the listeners too (see [`set_shared`]).
static SHARED: AtomicBool = AtomicBool::new(false);

/// Records `listener` under `name`; the first one calls the callback of [`on_first`].
pub(crate) fn record(name: &str, listener: &TcpListener) {
    let first = {
        let mut recorded = lock(&RECORDED);
        recorded.push(Recorded {
            name: name.to_owned(),
            fd: listener.as_raw_fd(),
            address: listener.local_addr().ok(),
        });
        recorded.len() == 1
    };
    if first {
        if let Some(callback) = ON_FIRST.get() {
            callback();
        }
    }
}

/// The listeners recorded so far, in the order they were returned.
pub(crate) fn recorded() -> Vec<Recorded> {
    lock(&RECORDED).clone()
}

/// Sets what to do when the first listener is recorded (once per process; later calls do
/// nothing). Returns whether one was recorded already: the caller then does it itself.
pub(crate) fn on_first(callback: Box<dyn Fn() + Send + Sync>) -> bool {
    let _ = ON_FIRST.set(callback);
    !lock(&RECORDED).is_empty()
}

/// Says whether another process accepts on the listeners too: the old process once the new
/// one is Ready (until it exits), the new one until it told the old one it is Ready. A
/// listener closed meanwhile is handed over: it stops accepting and closes its descriptor,
/// without the filter that stops new connections (it is on the socket, which the other
/// process keeps) and without accepting what is queued (the other process does).
pub(crate) fn set_shared(shared: bool) {
    SHARED.store(shared, Ordering::SeqCst);
}

/// Whether another process accepts on the listeners too (see [`set_shared`]).
pub(crate) fn shared() -> bool {
    SHARED.load(Ordering::SeqCst)
}
