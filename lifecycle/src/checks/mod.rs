//! Readiness checks: a service that cannot serve without a dependency says so to its load
//! balancer. A check is a small async function run every so often
//! ([`Lifecycle::check`](crate::Lifecycle::check)); while one fails, the service's
//! [`Readiness`] is not ready: `lifecycle::axum::ready` answers 503 naming the check and its
//! error, systemd's `STATUS=` says `not ready: check <name> failed: <error>`. When it passes
//! again, the service is ready again. Liveness (`lifecycle::axum::live`) never looks at checks.
//!
//! ```
//! use std::time::Duration;
//! use lifecycle::{Config, Sequence};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let lc = Sequence::new(Config::new()).handle();
//! lc.check("postgres")
//!     .every(Duration::from_secs(5))
//!     .timeout(Duration::from_secs(1))
//!     .run(|| async { Err::<(), _>("connection refused") }); // ping the database here
//! lc.set_ready(); // checks start once the service is Ready
//! let mut readiness = lc.watch_readiness();
//! let readiness = readiness.wait_for(|r| r.reason().is_some_and(|r| r.contains("failed"))).await.unwrap();
//! assert_eq!(readiness.to_string(), "not ready: check postgres failed: connection refused");
//! # }
//! ```
//!
//! # When a dependency belongs in readiness
//!
//! Readiness takes *this replica* out of the load balancer's rotation, so that the others
//! serve in its place. A check belongs there when it tests this replica's own ability to
//! serve: its connection pool is exhausted or broken, its local cache is not loaded, it lost
//! its lease. It does not belong there when the dependency is shared by every replica: when the
//! one database is down, every replica's check fails at once, every replica leaves the
//! rotation, and clients get the load balancer's own error (or nothing) instead of the
//! service's error page, its cached answers, its degraded mode, and its retry headers. Recovery
//! then waits for the probes' periods on top of the database's. For a shared outage, alert on
//! it (metrics, logs) and let the service answer what it can.
//!
//! So the default is no checks, and nothing changes for a service that declares none. Keep
//! checks cheap (a `SELECT 1` on the pool, not a query that takes the database's load), with a
//! timeout below their period.
//!
//! # How checks run
//!
//! - Each check is a tracked task named `check <name>`. It starts once the service is
//!   [`Ready`](crate::State::Ready) (a start hook may be what opens its connection): it runs at
//!   once, then every [`every`](CheckBuilder::every) from the start of the previous run. Until
//!   its first run passes it is [`Pending`](CheckState::Pending), which is not ready.
//! - A run fails when it returns `Err`, panics (`panicked: <message>`: the check goes on), or
//!   takes longer than its [`timeout`](CheckBuilder::timeout) (`timed out after 1s`: the run
//!   is dropped). An error longer than 1 KiB is cut there, saying its length.
//! - At the trigger, the checks stop (a run under way is dropped): the service is draining,
//!   not ready anyway. They are never cut by the drain nor reported as failed tasks.
//! - The [`State`] is not changed by a check: it still only moves forward, and
//!   the drain delay, which depends on the service having been Ready, is unchanged. Code that
//!   wants what the probe answers reads [`Lifecycle::readiness`](crate::Lifecycle::readiness)
//!   or watches [`Lifecycle::watch_readiness`](crate::Lifecycle::watch_readiness) (the gRPC
//!   example flips its health service with it).
//!
//! A component declares its checks with `#[check]` methods (see `#[lifecycle::component]`):
//!
//! ```no_run
//! struct Pool;
//!
//! #[lifecycle::component]
//! impl Pool {
//!     #[check(every = "5s", timeout = "1s", name = "pool")]
//!     async fn ping(&self) -> std::io::Result<()> {
//!         Ok(()) // `self.pool.execute("SELECT 1").await`
//!     }
//! }
//! ```
//!
//! Lives here: the check builder and the task that runs a check. The results and the readiness
//! they make with the state are in `triggers/` (systemd's status too).

use std::borrow::Cow;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::failure::{into_result, Failure, Outcome};
use crate::log::quietly;
use crate::tasks::node::Node;
use crate::tasks::{spawn_in, TaskName};
use crate::triggers::probe::Recorded;
use crate::triggers::readiness::State;
use crate::triggers::Triggers;

pub use crate::triggers::probe::{CheckState, CheckStatus, Readiness};

/// How often a check runs unless [`every`](CheckBuilder::every) says otherwise: 10 s, as a
/// Kubernetes probe's `periodSeconds`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// How long a run may take unless [`timeout`](CheckBuilder::timeout) says otherwise: 1 s, as a
/// Kubernetes probe's `timeoutSeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// The shortest period: a zero one would run the check in a loop that never sleeps.
const MIN_EVERY: Duration = Duration::from_millis(1);

/// A readiness check about to be added: made by [`Lifecycle::check`](crate::Lifecycle::check).
/// Set how often it runs and how long a run may take, then give it its function with
/// [`run`](CheckBuilder::run). See the [module docs](self) for when a dependency belongs in
/// readiness.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// lc.check("postgres")
///     .every(Duration::from_secs(5))
///     .timeout(Duration::from_secs(1))
///     .run(|| async { Ok::<_, std::io::Error>(()) }); // `pool.execute("SELECT 1").await`
/// assert_eq!(lc.readiness().checks()[0].name(), "postgres");
/// # }
/// ```
#[must_use = "a check builder adds nothing until `.run`"]
pub struct CheckBuilder<'a> {
    node: &'a Arc<Node>,
    triggers: &'a Arc<Triggers>,
    name: Cow<'static, str>,
    every: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for CheckBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckBuilder")
            .field("name", &self.name)
            .field("every", &self.every)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> CheckBuilder<'a> {
    pub(crate) fn new(
        node: &'a Arc<Node>,
        triggers: &'a Arc<Triggers>,
        name: Cow<'static, str>,
    ) -> Self {
        Self {
            node,
            triggers,
            name,
            every: DEFAULT_EVERY,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How often the check runs, from the start of one run to the start of the next
    /// (default [`DEFAULT_EVERY`], 10 s; at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let lc = lifecycle::Sequence::new(lifecycle::Config::new()).handle();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// lc.check("cache").every(Duration::from_secs(2)).run(|| async { Ok::<_, String>(()) });
    /// # });
    /// ```
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(MIN_EVERY);
        self
    }

    /// How long one run may take before it fails with `timed out after <timeout>` and is
    /// dropped (default [`DEFAULT_TIMEOUT`], 1 s). Keep it below the period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("upstream")
    ///     .timeout(Duration::from_millis(500))
    ///     .run(|| std::future::pending::<Result<(), String>>()); // hangs
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let readiness = readiness
    ///     .wait_for(|r| r.checks()[0].state() == CheckState::Failing)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(readiness.checks()[0].last_error(), Some("timed out after 500ms"));
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds the check: `check()` is called for each run, and its future's output says whether
    /// it passed (`Ok`, or `()`) or failed (`Err`, whose message, with its `source()` chain, is
    /// the reason the probe gives). The check is [`Pending`](CheckState::Pending) until its
    /// first run; its task starts now and runs the check once the service is Ready.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let up = Arc::new(AtomicBool::new(true));
    /// let db = Arc::clone(&up);
    /// lc.check("postgres").every(Duration::from_secs(1)).run(move || {
    ///     let up = db.load(Ordering::SeqCst);
    ///     async move { if up { Ok(()) } else { Err("connection refused") } }
    /// });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// readiness.wait_for(|r| r.is_ready()).await.unwrap();
    ///
    /// up.store(false, Ordering::SeqCst); // the database goes away
    /// let now = readiness.wait_for(|r| !r.is_ready()).await.unwrap().clone();
    /// assert_eq!(now.reason().as_deref(), Some("check postgres failed: connection refused"));
    /// assert!(now.state().is_ready()); // the state is still Ready: only the probe fails
    ///
    /// up.store(true, Ordering::SeqCst); // and comes back
    /// readiness.wait_for(|r| r.is_ready()).await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn run<F, Fut>(self, check: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let check = Check::new(self.name, check)
            .every(self.every)
            .timeout(self.timeout);
        check.spawn(self.node, self.triggers);
    }
}

/// The future of one run of a [`Check`], its output made a `Result`.
type RunFuture = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;

/// A readiness check as a value: its name, period, timeout and function. What a component's
/// `#[check]` method becomes ([`Component::checks`](crate::Component::checks)), added when the
/// value is [`manage`](crate::Lifecycle::manage)d; [`Lifecycle::check`](crate::Lifecycle::check)
/// is the way to add one by hand.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::checks::Check;
/// use lifecycle::{Component, Config, Hook, Sequence};
///
/// struct Pool;
///
/// impl Component for Pool {
///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
///         Vec::new()
///     }
///     fn checks(self: Arc<Self>) -> Vec<Check> {
///         let check = Check::new("pool", move || {
///             let _pool = Arc::clone(&self);
///             async { Ok::<_, std::io::Error>(()) } // `_pool.ping().await`
///         });
///         vec![check.every(Duration::from_secs(5))]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// lc.manage(Arc::new(Pool));
/// assert_eq!(lc.readiness().checks()[0].name(), "pool");
/// # }
/// ```
#[must_use = "a check does nothing until a component returns it from `checks`"]
pub struct Check {
    name: Cow<'static, str>,
    every: Duration,
    timeout: Duration,
    make: Box<dyn FnMut() -> RunFuture + Send>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("every", &self.every)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// A check named `name` that runs `check()`, every [`DEFAULT_EVERY`] with a
    /// [`DEFAULT_TIMEOUT`] until told otherwise. Its output says whether a run passed (`Ok`,
    /// or `()`) or failed (`Err`).
    pub fn new<F, Fut>(name: impl Into<Cow<'static, str>>, mut check: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        Self {
            name: name.into(),
            every: DEFAULT_EVERY,
            timeout: DEFAULT_TIMEOUT,
            make: Box::new(move || {
                let run = check();
                Box::pin(async move { into_result(run.await) })
            }),
        }
    }

    /// How often it runs (see [`CheckBuilder::every`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::checks::Check;
    ///
    /// let check = Check::new("cache", || async {}).every(Duration::from_secs(2));
    /// # let _ = check;
    /// ```
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(MIN_EVERY);
        self
    }

    /// How long one run may take (see [`CheckBuilder::timeout`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::checks::Check;
    ///
    /// let check = Check::new("cache", || async {}).timeout(Duration::from_millis(300));
    /// # let _ = check;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds the check to the probe (pending) and spawns its task in `node`.
    #[track_caller]
    pub(crate) fn spawn(self, node: &Arc<Node>, triggers: &Arc<Triggers>) {
        let index = triggers.probe().add(self.name.clone());
        let task = TaskName::Given(Cow::Owned(format!("check {}", self.name)));
        let checking = Checking {
            index,
            name: self.name,
            every: self.every,
            timeout: self.timeout,
            triggers: Arc::clone(triggers),
        };
        spawn_in(node, task, false, checking.run(self.make));
    }
}

/// One check's settings and where its results go.
struct Checking {
    index: usize,
    name: Cow<'static, str>,
    every: Duration,
    timeout: Duration,
    triggers: Arc<Triggers>,
}

impl Checking {
    /// Waits for Ready, then runs the check every period until the trigger.
    async fn run<F, Fut>(self, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: Outcome,
    {
        let mut state = self.triggers.readiness().subscribe();
        let ready = state
            .wait_for(|state| *state >= State::Ready)
            .await
            .is_ok_and(|state| *state == State::Ready);
        if !ready {
            return; // the shutdown came first
        }
        loop {
            let began = tokio::time::Instant::now();
            let Some(result) = self.once(&mut check).await else {
                return;
            };
            self.record(result);
            // A period too long for the clock to add (`Duration::MAX`) is no next run: never
            // a panic of the checker.
            let Some(next) = began.checked_add(self.every) else {
                self.triggers.fired_yet().await;
                return;
            };
            tokio::select! {
                biased;
                () = self.triggers.fired_yet() => return,
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// One run: `Ok` passed, `Err` why not; `None` when the trigger came first.
    async fn once<F, Fut>(&self, check: &mut F) -> Option<Result<(), String>>
    where
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: Outcome,
    {
        // The call itself may panic too, before its future exists.
        let future = match panic::catch_unwind(AssertUnwindSafe(&mut *check)) {
            Ok(future) => future,
            Err(payload) => return Some(Err(Failure::panic(&*payload).to_string())),
        };
        let mut future = Box::pin(future);
        let caught = std::future::poll_fn(|cx| poll_caught(future.as_mut(), cx));
        let ended = tokio::select! {
            biased;
            () = self.triggers.fired_yet() => None,
            ended = tokio::time::timeout(self.timeout, caught) => Some(ended),
        };
        // A value the run held may panic as it is dropped: still the check's failure, never
        // the end of its task.
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
        let result = match ended? {
            Err(_elapsed) => Err(format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(Err(panicked)) => Err(panicked.to_string()),
            Ok(Ok(output)) => into_result(output).map_err(|failure| failure.to_string()),
        };
        Some(match (result, dropped) {
            (Ok(()), Err(payload)) => Err(Failure::panic(&*payload).to_string()),
            (result, _) => result,
        })
    }

    /// Records a run's result; says so when the check changed its verdict (a failure after a
    /// pass, a pass after a failure), and tells systemd.
    fn record(&self, result: Result<(), String>) {
        let name = &self.name;
        let result = result.map_err(bounded);
        let failed = result.as_ref().err().cloned();
        let Recorded { before, after } = self.triggers.probe().record(self.index, result);
        match failed {
            Some(error) if before != CheckState::Failing => quietly(|| {
                tracing::warn!(check = %name, %error, "readiness check failed: not ready");
            }),
            None if before == CheckState::Failing => {
                let ready = after.is_ready();
                quietly(|| tracing::info!(check = %name, ready, "readiness check passed again"));
            }
            _ => {}
        }
        self.triggers.watch().checks(after.first_failing());
    }
}

/// The longest error kept, in bytes: the probe's body and systemd's status stay small whatever
/// a check returns.
const MAX_ERROR: usize = 1024;

/// `error`, cut at [`MAX_ERROR`] bytes (on a character boundary) saying how long it was.
fn bounded(mut error: String) -> String {
    if error.len() <= MAX_ERROR {
        return error;
    }
    let total = error.len();
    let mut end = MAX_ERROR;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error.truncate(end);
    error.push_str(&format!("... ({total} bytes)"));
    error
}

/// Polls `future`, a panic caught as a failure.
fn poll_caught<Fut: Future>(
    future: Pin<&mut Fut>,
    cx: &mut std::task::Context<'_>,
) -> Poll<Result<Fut::Output, Failure>> {
    match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Err(payload) => Poll::Ready(Err(Failure::panic(&*payload))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary_saying_their_length() {
        assert_eq!(bounded("refused".to_owned()), "refused");
        let exact = "x".repeat(MAX_ERROR);
        assert_eq!(bounded(exact.clone()), exact);
        let long = format!("{}é", "x".repeat(MAX_ERROR - 1)); // `é` straddles the limit
        let cut = bounded(long);
        assert_eq!(
            cut,
            format!("{}... ({} bytes)", "x".repeat(MAX_ERROR - 1), MAX_ERROR + 1)
        );
        let huge = bounded("y".repeat(1 << 20));
        assert!(huge.len() < MAX_ERROR + 32, "{}", huge.len());
        assert!(huge.ends_with("... (1048576 bytes)"));
    }
}
