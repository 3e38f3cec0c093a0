//! Readiness: where a service is in its life, for probes and load balancers.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Where a service is in its life. It only moves forward:
/// `Starting` → `Ready` → `Draining` → `Stopped`.
///
/// A readiness probe should answer success only in [`Ready`](State::Ready): the moment a shutdown
/// is triggered the state becomes [`Draining`](State::Draining), before the drain delay, so the
/// load balancer stops sending new requests while the old ones are still being served.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Sequence, State};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// assert_eq!(lc.state(), State::Starting);
/// let running = sequence.start_without_signals();
/// assert_eq!(lc.state(), State::Starting); // main's start boundary and the start hooks first
/// let handle = lc.clone();
/// let started = running.run_start_hooks(async move { handle.cancelled().await }).await;
/// assert!(lc.state().is_ready());
/// lc.request_shutdown();
/// assert_eq!(lc.state(), State::Draining);
/// # drop(started);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Built, not yet serving.
    Starting,
    /// Serving; readiness probes should succeed.
    Ready,
    /// A shutdown was triggered: readiness probes should fail, in-flight work is finishing.
    Draining,
    /// The shutdown sequence has finished.
    Stopped,
}

impl State {
    /// Whether a readiness probe should succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::State;
    ///
    /// assert!(State::Ready.is_ready());
    /// assert!(!State::Starting.is_ready());
    /// assert!(!State::Draining.is_ready());
    /// ```
    pub const fn is_ready(self) -> bool {
        matches!(self, State::Ready)
    }

    /// The state's name in lower case, as logged.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::State;
    ///
    /// assert_eq!(State::Draining.as_str(), "draining");
    /// assert_eq!(State::Stopped.to_string(), "stopped");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Draining => "draining",
            State::Stopped => "stopped",
        }
    }
}

impl State {
    /// Every state, in order.
    const ALL: [State; 4] = [
        State::Starting,
        State::Ready,
        State::Draining,
        State::Stopped,
    ];

    /// Tells the metrics (feature `metrics`) that this is the state now.
    fn record(self) {
        crate::metrics::state(self.as_str(), State::ALL.map(State::as_str));
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Told of each move of the state (the readiness checks' channel, which carries the state too).
pub(crate) type OnMove = Box<dyn Fn(State) + Send + Sync>;

/// The readiness of one lifecycle: a state that only moves forward, watched by probes. (The
/// public [`Readiness`](crate::triggers::probe::Readiness) is this state with the checks'
/// results; `on_move` keeps it up to date.)
pub(crate) struct Readiness(watch::Sender<State>, AtomicBool, OnMove);

impl Readiness {
    pub(crate) fn new(on_move: OnMove) -> Self {
        crate::metrics::created(State::Starting.as_str(), State::ALL.map(State::as_str));
        Self(
            watch::Sender::new(State::Starting),
            AtomicBool::new(false),
            on_move,
        )
    }

    /// Whether the state was ever Ready: a load balancer may have sent traffic.
    pub(crate) fn was_ready(&self) -> bool {
        self.1.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self) -> State {
        *self.0.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<State> {
        self.0.subscribe()
    }

    /// Records the state as it is now (feature `metrics`), under its lock: for a move the
    /// watchdog thread made.
    pub(crate) fn record_now(&self) {
        // Without the feature there is nothing to record, and no lock to take.
        #[cfg(feature = "metrics")]
        self.0.send_if_modified(|state| {
            state.record();
            false
        });
    }

    /// Moves the state forward to `to`; never back. Returns whether it moved.
    pub(crate) fn advance(&self, to: State) -> bool {
        self.0.send_if_modified(|state| {
            let moved = *state < to;
            if moved {
                *state = to;
                if to == State::Ready {
                    self.1.store(true, Ordering::SeqCst);
                }
                // Under the state's lock: two moves at once are recorded in their order. Not on
                // the watchdog thread (a signal's trigger), which never calls the app's code:
                // the relay of what it heard records it (`record_now`).
                if !crate::triggers::watchdog::on_watchdog_thread() {
                    to.record();
                }
                (self.2)(to);
            }
            moved
        })
    }
}
