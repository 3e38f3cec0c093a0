//! Start-up: the start hooks by ascending order, readiness once they all succeeded (and, with
//! [`ReadyWhen::Manual`], once the app said so), and what a failed start-up leaves to stop.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{Config, ReadyWhen};
use crate::failure::Failure;
use crate::hooks::{run_group, Hook, HookKind, HookOutcome, HookRegistry, HookReport};
use crate::lock::lock;
use crate::log::{quietly, whole_ms, Millis};
use crate::trigger::Triggers;

/// Where start-up is, and what the app said about readiness. One lock for both, so that
/// [`Lifecycle::set_ready`] and the end of the start hooks agree on who marks the service Ready.
pub(crate) struct StartGate {
    state: Mutex<GateState>,
    /// Woken when `main` reaches the start boundary.
    boundary: Notify,
    /// Woken when the app calls `set_ready` (for [`ReadyWhen::Manual`]), or when a start hook
    /// is added too late (either ends the wait for `set_ready`).
    app_ready: Notify,
    /// Woken when start-up ends, well or not.
    ended: Notify,
}

#[derive(Default)]
struct GateState {
    phase: GatePhase,
    app_ready: bool,
    /// Managed values whose start hooks did not all succeed: not persisted.
    not_persisted: HashSet<u64>,
    /// Managed values none of whose start hooks succeeded: not stopped either.
    not_stopped: HashSet<u64>,
    /// The first start hook added after the boundary: start-up fails with it.
    late: Option<Failure>,
    /// How start-up ended, once it has and readiness says so: what `started()` returns.
    ended: Option<bool>,
    /// The call by which `main` reached the boundary (`lc.started()`, ...): a late manage's
    /// message names it. None when the boundary was `main` returning or the trigger.
    boundary_call: Option<&'static str>,
    /// The first boundary call (`lc.cancelled()`, ...) made outside `main`'s future before the
    /// boundary, by another task while `main` ran alone or before the sequence ran `main` at
    /// all: it moves nothing, and the start-up timeout names it.
    called_elsewhere: Option<Elsewhere>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum GatePhase {
    /// No start phase yet: `set_ready` marks the service Ready at once.
    #[default]
    NotBegun,
    /// The sequence runs `main` alone, until it reaches the start boundary.
    Main,
    /// The start hooks run.
    Running,
    /// Every start hook succeeded; waiting for the app's `set_ready`.
    HooksDone,
    Succeeded,
    Failed,
}

/// Where start-up was when a start hook came too late (see [`StartGate::late`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LateAt {
    /// Start-up is still running: it fails with this hook.
    StartingUp,
    /// Start-up succeeded: the shutdown must be triggered as a start failure.
    Started,
    /// Start-up failed already: the report records it.
    Over,
}

/// A boundary call made outside `main`'s future (see [`StartGate::called_elsewhere`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elsewhere {
    /// The call as the user writes it: `` `lc.cancelled()` ``.
    call: &'static str,
    /// Made before the sequence ran `main` (in `lifecycle::run`'s closure, say), rather than
    /// by another task while `main` ran alone.
    before_main: bool,
}

/// What start-up was waiting for when the start-up timeout ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stalled {
    /// `main` never reached the boundary; a boundary call made outside its future, if one was.
    Boundary(Option<Elsewhere>),
    /// The start hooks.
    Hooks,
    /// The app's `set_ready` ([`ReadyWhen::Manual`]).
    SetReady,
}

impl StartGate {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            boundary: Notify::new(),
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

    /// The sequence begins the start phase: `main` runs alone until the boundary.
    pub(crate) fn begin(&self) {
        lock(&self.state).phase = GatePhase::Main;
    }

    /// `main` reached the start boundary by `call`. Returns whether this call moved it (the
    /// first one, while `main` runs alone).
    pub(crate) fn reach_boundary(&self, call: &'static str) -> bool {
        let mut state = lock(&self.state);
        if state.phase != GatePhase::Main {
            return false;
        }
        state.phase = GatePhase::Running;
        state.boundary_call = Some(call);
        self.boundary.notify_waiters();
        true
    }

    /// The call by which `main` reached the boundary, if it was a call.
    pub(crate) fn boundary_call(&self) -> Option<&'static str> {
        lock(&self.state).boundary_call
    }

    /// A boundary call (`call`, as the user writes it) made outside `main`'s future: kept, the
    /// first one made before the boundary (by another task while `main` runs alone, or before
    /// the sequence runs `main`), so that a start-up that times out names it.
    pub(crate) fn called_elsewhere(&self, call: &'static str) {
        let mut state = lock(&self.state);
        let before_main = match state.phase {
            GatePhase::NotBegun => true,
            GatePhase::Main => false,
            _ => return,
        };
        if state.called_elsewhere.is_none() {
            state.called_elsewhere = Some(Elsewhere { call, before_main });
        }
    }

    /// Waits until `main` has reached the boundary. At once when it has.
    async fn boundary(&self) {
        self.wait_for(&self.boundary, |state| {
            (state.phase != GatePhase::Main).then_some(())
        })
        .await;
    }

    /// Past the boundary without `main` (a trigger, `main` returning): the start hooks are next.
    fn past_boundary(&self) {
        let mut state = lock(&self.state);
        if state.phase == GatePhase::Main {
            state.phase = GatePhase::Running;
        }
    }

    /// What start-up is waiting for (when the start-up timeout runs out).
    fn stalled(&self) -> Stalled {
        let state = lock(&self.state);
        match state.phase {
            GatePhase::Main => Stalled::Boundary(state.called_elsewhere),
            GatePhase::HooksDone if !state.app_ready => Stalled::SetReady,
            _ => Stalled::Hooks,
        }
    }

    /// Start-up succeeded. Returns whether the service may be marked Ready now; or the failure
    /// of a start hook added too late while start-up ran, which fails it instead.
    fn succeed(&self, when: ReadyWhen) -> Result<bool, Failure> {
        let mut state = lock(&self.state);
        if let Some(late) = &state.late {
            return Err(late.clone());
        }
        state.phase = GatePhase::Succeeded;
        Ok(when == ReadyWhen::Started || state.app_ready)
    }

    fn fail(&self, not_persisted: HashSet<u64>, not_stopped: HashSet<u64>) {
        let mut state = lock(&self.state);
        state.phase = GatePhase::Failed;
        state.not_persisted.extend(not_persisted);
        state.not_stopped.extend(not_stopped);
    }

    /// A start hook was added after the boundary (`failure` says which): none of the hooks of
    /// `owner` run. Returns where start-up was: the caller makes the failure loud.
    pub(crate) fn late(&self, owner: Option<u64>, failure: Failure) -> LateAt {
        let mut state = lock(&self.state);
        if let Some(owner) = owner {
            state.not_persisted.insert(owner);
            state.not_stopped.insert(owner);
        }
        if state.late.is_none() {
            state.late = Some(failure);
        }
        let at = match state.phase {
            GatePhase::Succeeded => LateAt::Started,
            GatePhase::Failed => LateAt::Over,
            GatePhase::NotBegun | GatePhase::Main | GatePhase::Running | GatePhase::HooksDone => {
                LateAt::StartingUp
            }
        };
        // Wakes a wait for `set_ready`: start-up fails now.
        self.app_ready.notify_one();
        at
    }

    /// The first start hook added too late, if one was.
    pub(crate) fn late_failure(&self) -> Option<Failure> {
        lock(&self.state).late.clone()
    }

    /// Wakes whoever waits in [`ended`](Self::ended): after readiness moved, so that a `true`
    /// seen there means the service is Ready (unless the shutdown began since).
    fn announce(&self, succeeded: bool) {
        lock(&self.state).ended = Some(succeeded);
        self.ended.notify_waiters();
    }

    /// Whether the wait for `set_ready` is over: the app called it, or a late start hook
    /// failed start-up.
    fn app_ready_or_late(&self) -> bool {
        let state = lock(&self.state);
        state.app_ready || state.late.is_some()
    }

    /// Whether the hooks of `kind` of `owner` run at shutdown: its persist hooks when all its
    /// start hooks succeeded, its shutdown hooks when any did (or it has none).
    pub(crate) fn runs(&self, kind: HookKind, owner: Option<u64>) -> bool {
        let Some(owner) = owner else { return true };
        let state = lock(&self.state);
        match kind {
            HookKind::Persist => !state.not_persisted.contains(&owner),
            HookKind::Shutdown | HookKind::Start | HookKind::Reload => {
                !state.not_stopped.contains(&owner)
            }
        }
    }

    /// Waits until start-up has ended; returns whether it succeeded. At once when it has.
    pub(crate) async fn ended(&self) -> bool {
        self.wait_for(&self.ended, |state| state.ended).await
    }

    /// Waits until `reached` reads a value from the state, woken by `notify` (which is notified
    /// with `notify_waiters` after the state changed). At once when it reads one already.
    async fn wait_for<T>(&self, notify: &Notify, reached: impl Fn(&GateState) -> Option<T>) -> T {
        loop {
            // Registered before the check, so a change between the two is not missed.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = reached(&lock(&self.state)) {
                return value;
            }
            notified.await;
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

/// The start phase after `main`'s own lines: waits for the start boundary (or the trigger),
/// closes the registry to start hooks, then runs every start hook registered before it by
/// ascending order, a group at a time. Stops at the first group with a hook that did not
/// succeed, before a group when the shutdown has been triggered, or when a start hook was added
/// after the boundary. With [`ReadyWhen::Manual`], then waits for the app's `set_ready`. Returns
/// the failure, if any.
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
    tokio::select! {
        biased;
        () = gate.boundary() => {}
        () = triggers.triggered.cancelled() => {}
    }
    // From here on a start hook added is too late: the set below is every one there will be.
    hooks.close_start();
    gate.past_boundary();
    let start_hooks: Vec<(usize, Hook)> = hooks
        .all()
        .into_iter()
        .enumerate()
        .filter(|(_, hook)| hook.kind == HookKind::Start && !hook.late)
        .collect();
    let mut orders: Vec<i32> = start_hooks.iter().map(|(_, hook)| hook.order).collect();
    orders.sort_unstable();
    orders.dedup();
    for order in orders {
        // Nothing more starts once the shutdown is under way (nothing to start is fine).
        if let Some(trigger) = triggers.current() {
            return Some(Failure::new(format!("interrupted by {trigger}")));
        }
        if let Some(late) = gate.late_failure() {
            return Some(late);
        }
        let group: Vec<(usize, Hook)> = start_hooks
            .iter()
            .filter(|(_, hook)| hook.order == order)
            .cloned()
            .collect();
        {
            let mut progress = lock(progress);
            let now = Instant::now();
            for (at, hook) in &group {
                progress.begun.insert(*at);
                progress.running.push((*at, hook.clone(), now));
            }
        }
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
        while !gate.app_ready_or_late() {
            gate.app_ready.notified().await;
        }
    }
    gate.late_failure()
}

/// Closes the start phase: records what was interrupted or never ran, then marks the service
/// Ready (success) or records which managed values are not persisted and not stopped (failure).
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
            Interruption::TimedOut(limit) => timed_out(gate.stalled(), limit),
        });
    }
    let mut runs = std::mem::take(&mut progress.reports);
    let all = hooks.all();
    // After a failure, the start hooks never reached. The ones added too late are reported
    // with the shutdown (see `late_reports`): more may come until then.
    for (at, hook) in all.iter().enumerate() {
        if hook.kind == HookKind::Start && !hook.late && !progress.begun.contains(&at) {
            runs.push((at, hook.report(HookOutcome::NotRun, Instant::now())));
        }
    }
    let took = began.elapsed();
    if failure.is_none() {
        match gate.succeed(config.ready_when()) {
            Ok(ready) => {
                let took_ms = whole_ms(took);
                let hooks = runs.len();
                quietly(|| tracing::info!(took_ms, hooks, "started"));
                if ready {
                    mark_ready();
                }
                gate.announce(true);
            }
            Err(late) => failure = Some(late),
        }
    }
    if let Some(why) = &failure {
        // Per managed value: persisted only if all its start hooks succeeded (a half-loaded
        // state must not be saved over a good one), stopped if any did (what opened is closed).
        let mut succeeded: HashSet<u64> = HashSet::new();
        let mut not_ok: HashSet<u64> = HashSet::new();
        for (at, report) in &runs {
            if let Some(owner) = all.get(*at).and_then(|hook| hook.owner) {
                if report.outcome.is_ok() {
                    succeeded.insert(owner);
                } else {
                    not_ok.insert(owner);
                }
            }
        }
        let not_stopped = not_ok.difference(&succeeded).copied().collect();
        gate.fail(not_ok, not_stopped);
        gate.announce(false);
        quietly(|| tracing::error!(error = %why, "start-up failed; stopping what started"));
    }
    StartRun {
        reports: runs.into_iter().map(|(_, report)| report).collect(),
        failure,
        took,
    }
}

/// Why start-up failed when its timeout ran out, naming what it waited for and the fix.
fn timed_out(stalled: Stalled, limit: Duration) -> Failure {
    let limit = Millis(limit);
    Failure::new(match stalled {
        Stalled::Boundary(elsewhere) => {
            let mut why = format!(
                "start-up never began: main did not reach `lc.started().await` (or `set_ready`, \
                 `cancelled`, `triggered`, a serve loop) within the startup_timeout of {limit}"
            );
            match elsewhere {
                Some(Elsewhere {
                    call,
                    before_main: false,
                }) => why.push_str(&format!(
                    "; {call} was called, but by another task (one main spawned, or a \
                     library's: axum's `with_graceful_shutdown` polls its future in a task of its \
                     own), and only main's own calls count: await `lc.started()` in main, or \
                     make the shutdown future in main with `lc.cancelled_owned()`"
                )),
                Some(Elsewhere {
                    call,
                    before_main: true,
                }) => why.push_str(&format!(
                    "; {call} was called before the sequence ran main's future (in \
                     `lifecycle::run`'s closure outside its `async` block, say), and only calls \
                     main's future makes count: make it inside that future"
                )),
                None => {}
            }
            why
        }
        Stalled::SetReady => format!(
            "the start-up timeout ran out ({limit}) waiting for `lc.set_ready()`: with \
             ready = \"manual\", main must call it once it is ready to serve"
        ),
        Stalled::Hooks => format!("the start-up timeout ran out ({limit})"),
    })
}

/// The report lines of the start hooks added after the boundary: none of them ran.
pub(crate) fn late_reports(hooks: &HookRegistry) -> Vec<HookReport> {
    hooks
        .all()
        .iter()
        .filter(|hook| hook.kind == HookKind::Start && hook.late)
        .map(|hook| HookReport {
            name: hook.name.to_string(),
            kind: hook.kind,
            order: hook.order,
            outcome: HookOutcome::AddedLate,
            duration: Duration::ZERO,
        })
        .collect()
}
