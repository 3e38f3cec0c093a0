//! Start-up: the start hooks by ascending order, readiness once they all succeeded (and, with
//! [`ReadyWhen::Manual`], once the app said so), and what a failed start-up leaves to stop.

use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{Config, ReadyWhen};
use crate::failure::{Failure, Outcome};
use crate::hooks::{run_group, Hook, HookKind, HookOutcome, HookRegistry, HookReport};
use crate::lock::lock;
use crate::log::{quietly, whole_ms, Millis};
use crate::trigger::Triggers;

impl Hook {
    /// A start hook from an async function: it runs once, before the service becomes Ready,
    /// under its timeout (default [`Config::hook_timeout`](crate::Config::hook_timeout)).
    ///
    /// Start hooks run in ascending [`order`](Hook::with_order), equal orders concurrently.
    /// When one fails, panics or times out, or start-up is interrupted (a signal, the
    /// [start-up timeout](crate::Config::startup_timeout)), no later start hook runs, and the
    /// persist and shutdown hooks of the managed values whose start hooks did not all succeed
    /// are skipped: only what started is stopped. The exit code is then
    /// [`EXIT_START_FAILED`](crate::report::EXIT_START_FAILED).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::report::EXIT_START_FAILED;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.add_hook(Hook::on_start("connect", || async { Err::<(), _>("connection refused") }));
    /// lc.add_hook(Hook::on_start("warm cache", || async {}).with_order(10));
    /// let report = sequence.run(std::future::pending::<()>()).await;
    /// assert_eq!(report.start[0].outcome.to_string(), "failed: connection refused");
    /// assert_eq!(report.start[1].outcome.to_string(), "not run: start-up had stopped");
    /// assert_eq!(report.code(), EXIT_START_FAILED);
    /// # }
    /// ```
    pub fn on_start<F, Fut>(name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        Self::asynchronous(HookKind::Start, name.into(), f)
    }

    /// A start hook from a blocking function, run on Tokio's blocking pool (see
    /// [`on_start`](Hook::on_start)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Hook, Sequence, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.add_hook(Hook::on_start_blocking("read config", || std::fs::metadata(".").map(drop)));
    /// let handle = lc.clone();
    /// let report = sequence.run(async move { handle.started().await; assert!(handle.is_ready()) }).await;
    /// assert!(report.start[0].outcome.is_ok());
    /// assert_eq!(report.code(), 0);
    /// # }
    /// ```
    pub fn on_start_blocking<F, R>(name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: Outcome,
    {
        Self::blocking(HookKind::Start, name.into(), f)
    }
}

/// Where start-up is, and what the app said about readiness. One lock for both, so that
/// [`Lifecycle::set_ready`] and the end of the start hooks agree on who marks the service Ready.
pub(crate) struct StartGate {
    state: Mutex<GateState>,
    /// Woken when the app calls `set_ready` (for [`ReadyWhen::Manual`]).
    app_ready: Notify,
    /// Woken when start-up ends, well or not.
    ended: Notify,
}

#[derive(Default)]
struct GateState {
    phase: GatePhase,
    app_ready: bool,
    /// Managed values whose start hooks did not all succeed: not persisted, not stopped.
    unstarted: HashSet<u64>,
    /// How start-up ended, once it has and readiness says so: what `started()` returns.
    ended: Option<bool>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum GatePhase {
    /// No start phase yet: `set_ready` marks the service Ready at once.
    #[default]
    NotBegun,
    Running,
    /// Every start hook succeeded; waiting for the app's `set_ready`.
    HooksDone,
    Succeeded,
    Failed,
}

impl StartGate {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            app_ready: Notify::new(),
            ended: Notify::new(),
        }
    }

    /// The app says it is ready. Returns whether the service may be marked Ready now (start-up
    /// has not begun, or it has succeeded).
    pub(crate) fn app_says_ready(&self) -> bool {
        let mut state = lock(&self.state);
        state.app_ready = true;
        self.app_ready.notify_one();
        matches!(
            state.phase,
            GatePhase::NotBegun | GatePhase::HooksDone | GatePhase::Succeeded
        )
    }

    /// Every start hook succeeded. Returns whether the app said it is ready already.
    fn hooks_done(&self) -> bool {
        let mut state = lock(&self.state);
        if state.phase == GatePhase::Running {
            state.phase = GatePhase::HooksDone;
        }
        state.app_ready
    }

    pub(crate) fn begin(&self) {
        lock(&self.state).phase = GatePhase::Running;
    }

    /// Start-up succeeded. Returns whether the service may be marked Ready now.
    fn succeed(&self, when: ReadyWhen) -> bool {
        let mut state = lock(&self.state);
        state.phase = GatePhase::Succeeded;
        when == ReadyWhen::Started || state.app_ready
    }

    fn fail(&self, unstarted: HashSet<u64>) {
        let mut state = lock(&self.state);
        state.phase = GatePhase::Failed;
        state.unstarted.extend(unstarted);
    }

    /// The value `owner` was managed too late for its start hooks to run: none of its hooks run.
    pub(crate) fn never_started(&self, owner: u64) {
        lock(&self.state).unstarted.insert(owner);
    }

    /// Wakes whoever waits in [`ended`](Self::ended): after readiness moved, so that a `true`
    /// seen there means the service is Ready (unless the shutdown began since).
    fn announce(&self, succeeded: bool) {
        lock(&self.state).ended = Some(succeeded);
        self.ended.notify_waiters();
    }

    fn app_ready(&self) -> bool {
        lock(&self.state).app_ready
    }

    /// Whether the hooks of `owner` run at shutdown: no when its start hooks did not all succeed.
    pub(crate) fn started(&self, owner: Option<u64>) -> bool {
        owner.map_or(true, |owner| !lock(&self.state).unstarted.contains(&owner))
    }

    /// Waits until start-up has ended; returns whether it succeeded. At once when it has.
    pub(crate) async fn ended(&self) -> bool {
        loop {
            // Registered before the check, so an end between the two is not missed.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(succeeded) = lock(&self.state).ended {
                return succeeded;
            }
            ended.await;
        }
    }
}

/// The start hooks' runs so far, shared with whoever interrupts them.
#[derive(Default)]
pub(crate) struct Progress {
    /// Each with the registry position of its hook.
    reports: Vec<(usize, HookReport)>,
    /// The group running now (registry positions), and when it started.
    running: Vec<(usize, Hook, Instant)>,
    /// Registry positions of the start hooks begun so far.
    begun: HashSet<usize>,
}

/// How start-up ended.
pub(crate) struct StartRun {
    /// Every start hook's outcome, in run order; the ones never run last.
    pub(crate) reports: Vec<HookReport>,
    /// Why start-up failed, if it did.
    pub(crate) failure: Option<Failure>,
    pub(crate) took: Duration,
}

/// The parts of a lifecycle the start phase works with.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) config: &'a Config,
    pub(crate) hooks: &'a HookRegistry,
    pub(crate) triggers: &'a Triggers,
    pub(crate) gate: &'a StartGate,
}

/// What ended the start phase before it finished on its own.
pub(crate) enum Interruption {
    /// A trigger (a signal, main returning, a request).
    Triggered(String),
    /// [`Config::startup_timeout`](crate::Config::startup_timeout) ran out.
    TimedOut(Duration),
}

/// Runs the start hooks by ascending order, a group at a time, picking up start hooks
/// registered while it runs (by `main`'s first lines, which run concurrently). Stops at the
/// first group with a hook that did not succeed, or before a group when the shutdown has been
/// triggered. With [`ReadyWhen::Manual`], then waits for the app's `set_ready`. Returns the
/// failure, if any.
pub(crate) async fn run_start_hooks(
    parts: &Parts<'_>,
    progress: &Mutex<Progress>,
) -> Option<Failure> {
    let Parts {
        config,
        hooks,
        triggers,
        gate,
    } = *parts;
    loop {
        let group = {
            let mut progress = lock(progress);
            let waiting: Vec<(usize, Hook)> = hooks
                .all()
                .into_iter()
                .enumerate()
                .filter(|(at, hook)| hook.kind == HookKind::Start && !progress.begun.contains(at))
                .collect();
            let Some(lowest) = waiting.iter().map(|(_, hook)| hook.order).min() else {
                // None waiting: closed to new start hooks, unless one came in since `all()`.
                if hooks.close_start_if_all_begun(&progress.begun) {
                    break;
                }
                continue;
            };
            // Nothing more starts once the shutdown is under way (nothing to start is fine).
            if let Some(trigger) = triggers.current() {
                return Some(Failure::new(format!("interrupted by {trigger}")));
            }
            let group: Vec<(usize, Hook)> = waiting
                .into_iter()
                .filter(|(_, hook)| hook.order == lowest)
                .collect();
            let now = Instant::now();
            for (at, hook) in &group {
                progress.begun.insert(*at);
                progress.running.push((*at, hook.clone(), now));
            }
            group
        };
        let (positions, group_hooks): (Vec<usize>, Vec<Hook>) = group.into_iter().unzip();
        let reports = run_group(group_hooks, config.hook_timeout()).await;
        let failed = reports
            .iter()
            .find(|report| !report.outcome.is_ok())
            .map(|report| Failure::new(format!("start hook `{}` {}", report.name, report.outcome)));
        let mut progress = lock(progress);
        progress.running.clear();
        progress.reports.extend(positions.into_iter().zip(reports));
        if failed.is_some() {
            return failed;
        }
    }
    if config.ready_when() == ReadyWhen::Manual && !gate.hooks_done() {
        quietly(|| tracing::info!("start hooks done; waiting for the app's `set_ready`"));
        while !gate.app_ready() {
            gate.app_ready.notified().await;
        }
    }
    None
}

/// Closes the start phase: records what was interrupted or never ran, then marks the service
/// Ready (success) or records which managed values never started (failure).
pub(crate) fn finish(
    parts: &Parts<'_>,
    progress: &Mutex<Progress>,
    mut failure: Option<Failure>,
    interrupted: Option<Interruption>,
    began: Instant,
    mark_ready: impl FnOnce(),
) -> StartRun {
    let Parts {
        config,
        hooks,
        gate,
        ..
    } = *parts;
    let mut progress = lock(progress);
    // From here on, a start hook registered never runs (and its value is not started).
    hooks.close_start();
    if let Some(interruption) = interrupted {
        let running = std::mem::take(&mut progress.running);
        for (at, hook, started) in running {
            let report = hook.report(HookOutcome::Interrupted, started);
            progress.reports.push((at, report));
        }
        failure = Some(match interruption {
            Interruption::Triggered(trigger) => Failure::new(format!("interrupted by {trigger}")),
            Interruption::TimedOut(limit) => {
                Failure::new(format!("the start-up timeout ran out ({})", Millis(limit)))
            }
        });
    }
    let mut runs = std::mem::take(&mut progress.reports);
    let all = hooks.all();
    // After a failure, the start hooks never reached; after a success, any registered too late.
    for (at, hook) in all.iter().enumerate() {
        if hook.kind == HookKind::Start && !progress.begun.contains(&at) {
            runs.push((at, hook.report(HookOutcome::NotRun, Instant::now())));
        }
    }
    let took = began.elapsed();
    match &failure {
        None => {
            let took_ms = whole_ms(took);
            let hooks = runs.len();
            quietly(|| tracing::info!(took_ms, hooks, "started"));
            if gate.succeed(config.ready_when()) {
                mark_ready();
            }
            gate.announce(true);
        }
        Some(why) => {
            let unstarted = runs
                .iter()
                .filter(|(_, report)| !report.outcome.is_ok())
                .filter_map(|(at, _)| all.get(*at).and_then(|hook| hook.owner))
                .collect();
            gate.fail(unstarted);
            gate.announce(false);
            quietly(|| tracing::error!(error = %why, "start-up failed; stopping what started"));
        }
    }
    StartRun {
        reports: runs.into_iter().map(|(_, report)| report).collect(),
        failure,
        took,
    }
}
