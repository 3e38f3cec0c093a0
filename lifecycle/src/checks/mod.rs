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
//!   once, then every [`every`](Check::every) from the start of the previous run. Until
//!   its first run passes it is [`Pending`](CheckState::Pending), which is not ready.
//! - A run fails when it returns `Err`, panics (`panicked: <message>`: the check goes on), or
//!   takes longer than its [`timeout`](Check::timeout) (`timed out after 1s`: the run
//!   is dropped). An error longer than 1 KiB is cut there, saying its length.
//! - A check that has passed counts as failing after [`failures`](Check::failures) failed runs
//!   in a row (default 1, the first; Kubernetes' `failureThreshold`), and passing again at its
//!   next pass. Before its first pass, a failed run makes it failing at once: the threshold
//!   keeps a replica that was serving through a blip, it lets none in that never reached its
//!   dependency. [`CheckStatus::failures`] counts the failed runs in a row.
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
//!     #[check(every = "5s", timeout = "1s", failures = 3, name = "pool")]
//!     async fn ping(&self) -> std::io::Result<()> {
//!         Ok(()) // `self.pool.execute("SELECT 1").await`
//!     }
//! }
//! ```
//!
//! That is `checks.check("pool").every(..).timeout(..).failures(3).run(..)` on the
//! [`Checks`] that [`Lifecycle::manage`](crate::Lifecycle::manage) gives the component: one
//! [`Check`] type, by hand or by attribute.
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

/// How often a check runs unless [`every`](Check::every) says otherwise: 10 s, as a
/// Kubernetes probe's `periodSeconds`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// How long a run may take unless [`timeout`](Check::timeout) says otherwise: 1 s, as a
/// Kubernetes probe's `timeoutSeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// How many failed runs in a row make a check that passed count as failing unless
/// [`failures`](Check::failures) says otherwise: 1, the first, as a Kubernetes probe's
/// `failureThreshold` of 1.
pub const DEFAULT_FAILURES: u32 = 1;

/// The shortest period: a zero one would run the check in a loop that never sleeps.
const MIN_EVERY: Duration = Duration::from_millis(1);

/// A readiness check about to be added, made by [`Lifecycle::check`](crate::Lifecycle::check)
/// (or, in a component, by [`Checks::check`]): set how often it runs, how long a run may take
/// and how many failed runs in a row take the service out of readiness, then give it its
/// function with [`run`](Check::run). What a `#[check]` method becomes too: the attribute's
/// keys are these methods. See the [module docs](self) for when a dependency belongs in
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
///     .failures(3) // not ready after 3 failed runs in a row (15 s), not at the first blip
///     .run(|| async { Ok::<_, std::io::Error>(()) }); // `pool.execute("SELECT 1").await`
/// assert_eq!(lc.readiness().checks()[0].name(), "postgres");
/// # }
/// ```
#[must_use = "a check adds nothing until `.run`"]
pub struct Check<'a> {
    to: Checks<'a>,
    name: Cow<'static, str>,
    every: Duration,
    timeout: Duration,
    failures: u32,
}

impl std::fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("every", &self.every)
            .field("timeout", &self.timeout)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl<'a> Check<'a> {
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

    /// How many runs in a row must fail before the check, having passed, counts as failing:
    /// Kubernetes' `failureThreshold` (default [`DEFAULT_FAILURES`], 1: the first failed run).
    /// Below it, the check stays [`Passing`](CheckState::Passing) and the service ready, while
    /// [`CheckStatus::failures`] counts the failed runs; a pass resets the count. So with a
    /// period of 5 s and `failures(3)`, a dependency that hangs up once is no reason to leave
    /// the load balancer's rotation, and one that is gone takes the replica out after 10-15 s.
    ///
    /// The threshold applies once the check has passed. Before its first pass the service is
    /// not ready anyway (the check is [`Pending`](CheckState::Pending)), and a failed run makes
    /// it [`Failing`](CheckState::Failing) at once, with its error in the probe's reason: a
    /// replica that never reached its dependency must not get traffic, and whoever looks at
    /// `/ready` sees why at once rather than `has not run yet`.
    ///
    /// `0` is taken as 1: no count of failures could be fewer than one (`#[check(failures =
    /// 0)]` is a compile error).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let up = Arc::new(AtomicBool::new(true));
    /// let db = Arc::clone(&up);
    /// lc.check("postgres").every(Duration::from_secs(5)).failures(3).run(move || {
    ///     let up = db.load(Ordering::SeqCst);
    ///     async move { if up { Ok(()) } else { Err("connection refused") } }
    /// });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// readiness.wait_for(|r| r.is_ready()).await.unwrap();
    ///
    /// up.store(false, Ordering::SeqCst); // the database goes away
    /// let two = readiness.wait_for(|r| r.checks()[0].failures() == 2).await.unwrap().clone();
    /// assert!(two.is_ready()); // two failed runs: still ready
    /// assert_eq!(two.checks()[0].state(), CheckState::Passing);
    /// let three = readiness.wait_for(|r| !r.is_ready()).await.unwrap().clone();
    /// assert_eq!(three.checks()[0].failures(), 3);
    /// assert_eq!(three.to_string(), "not ready: check postgres failed: connection refused");
    /// # }
    /// ```
    pub fn failures(mut self, failures: u32) -> Self {
        self.failures = failures.max(1);
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
        let Checks { node, triggers } = self.to;
        let index = triggers.probe().add(self.name.clone());
        let task = TaskName::Given(Cow::Owned(format!("check {}", self.name)));
        let checking = Checking {
            index,
            name: self.name,
            every: self.every,
            timeout: self.timeout,
            failures: self.failures,
            triggers: Arc::clone(triggers),
        };
        spawn_in(node, task, false, checking.run(check));
    }
}

/// Where a component adds its readiness checks: what
/// [`Lifecycle::manage`](crate::Lifecycle::manage) gives
/// [`Component::checks`](crate::Component::checks), the lifecycle's own.
/// [`check`](Checks::check) is [`Lifecycle::check`](crate::Lifecycle::check): the same
/// [`Check`], added the same way.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::checks::Checks;
/// use lifecycle::{Component, Config, Hook, Sequence};
///
/// struct Pool;
///
/// impl Pool {
///     async fn ping(&self) -> std::io::Result<()> {
///         Ok(()) // `self.pool.execute("SELECT 1").await`
///     }
/// }
///
/// impl Component for Pool {
///     fn hooks(self: Arc<Self>) -> Vec<Hook> {
///         Vec::new()
///     }
///     fn checks(self: Arc<Self>, checks: Checks<'_>) {
///         checks.check("pool").every(Duration::from_secs(5)).run(move || {
///             let pool = Arc::clone(&self);
///             async move { pool.ping().await }
///         });
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// lc.manage(Arc::new(Pool));
/// assert_eq!(lc.readiness().checks()[0].name(), "pool");
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Checks<'a> {
    /// The node the checks' tasks are tracked in: the lifecycle's root.
    node: &'a Arc<Node>,
    /// Where their results go (the probe), and the readiness and trigger they wait for.
    triggers: &'a Arc<Triggers>,
}

impl std::fmt::Debug for Checks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks").finish_non_exhaustive()
    }
}

impl<'a> Checks<'a> {
    pub(crate) fn new(node: &'a Arc<Node>, triggers: &'a Arc<Triggers>) -> Self {
        Self { node, triggers }
    }

    /// A readiness check named `name`, with the defaults ([`DEFAULT_EVERY`],
    /// [`DEFAULT_TIMEOUT`], [`DEFAULT_FAILURES`]) until its setters say otherwise; added by its
    /// [`run`](Check::run). The same as [`Lifecycle::check`](crate::Lifecycle::check).
    ///
    /// # Examples
    ///
    /// See [`Checks`].
    pub fn check(self, name: impl Into<Cow<'static, str>>) -> Check<'a> {
        Check {
            to: self,
            name: name.into(),
            every: DEFAULT_EVERY,
            timeout: DEFAULT_TIMEOUT,
            failures: DEFAULT_FAILURES,
        }
    }
}

/// One check's settings and where its results go.
struct Checking {
    index: usize,
    name: Cow<'static, str>,
    every: Duration,
    timeout: Duration,
    /// The failure threshold, at least 1.
    failures: u32,
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
            Err(payload) => return Some(Err(format!("{:#}", Failure::panic(&*payload)))),
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
            Ok(Err(panicked)) => Err(format!("{panicked:#}")),
            Ok(Ok(output)) => into_result(output).map_err(|failure| format!("{failure:#}")),
        };
        Some(match (result, dropped) {
            (Ok(()), Err(payload)) => Err(format!("{:#}", Failure::panic(&*payload))),
            (result, _) => result,
        })
    }

    /// Records a run's result; says so when the check changed its verdict (a failure after a
    /// pass, a pass after a failure) or failed below its threshold, and tells systemd.
    fn record(&self, result: Result<(), String>) {
        let name = &self.name;
        let threshold = self.failures;
        let result = result.map_err(bounded);
        let failed = result.as_ref().err().cloned();
        let Recorded { before, after } =
            self.triggers.probe().record(self.index, result, threshold);
        let now = after.checks().get(self.index);
        let failures = now.map_or(0, CheckStatus::failures);
        let failing = now.is_some_and(|check| check.state() == CheckState::Failing);
        match failed {
            Some(error) if !failing => quietly(|| {
                tracing::info!(
                    check = %name, %error, failures, threshold,
                    "readiness check failed, below its threshold: still ready"
                );
            }),
            Some(error) if before != CheckState::Failing => quietly(|| {
                tracing::warn!(check = %name, %error, failures, "readiness check failed: not ready");
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
