//! The start gate: where start-up is (not begun, main alone, hooks running, done), what the app
//! said about readiness, and which calls are main's own (the start boundary).

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::config::ReadyWhen;
use crate::failure::Failure;
use crate::hooks::HookKind;
use crate::lock::lock;
use crate::triggers::Triggers;

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
    pub(crate) call: &'static str,
    /// Made before the sequence ran `main` (in `lifecycle::run`'s closure, say), rather than
    /// by another task while `main` ran alone.
    pub(crate) before_main: bool,
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
    pub(crate) fn hooks_done(&self) -> bool {
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
    pub(crate) async fn boundary(&self) {
        self.wait_for(&self.boundary, |state| {
            (state.phase != GatePhase::Main).then_some(())
        })
        .await;
    }

    /// Past the boundary without `main` (a trigger, `main` returning): the start hooks are next.
    pub(crate) fn past_boundary(&self) {
        let mut state = lock(&self.state);
        if state.phase == GatePhase::Main {
            state.phase = GatePhase::Running;
        }
    }

    /// What start-up is waiting for (when the start-up timeout runs out).
    pub(crate) fn stalled(&self) -> Stalled {
        let state = lock(&self.state);
        match state.phase {
            GatePhase::Main => Stalled::Boundary(state.called_elsewhere),
            GatePhase::HooksDone if !state.app_ready => Stalled::SetReady,
            _ => Stalled::Hooks,
        }
    }

    /// Start-up succeeded. Returns whether the service may be marked Ready now; or the failure
    /// of a start hook added too late while start-up ran, which fails it instead.
    pub(crate) fn succeed(&self, when: ReadyWhen) -> Result<bool, Failure> {
        let mut state = lock(&self.state);
        if let Some(late) = &state.late {
            return Err(late.clone());
        }
        state.phase = GatePhase::Succeeded;
        Ok(when == ReadyWhen::Auto || state.app_ready)
    }

    pub(crate) fn fail(&self, not_persisted: HashSet<u64>, not_stopped: HashSet<u64>) {
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
    pub(crate) fn announce(&self, succeeded: bool) {
        lock(&self.state).ended = Some(succeeded);
        self.ended.notify_waiters();
    }

    /// Whether the wait for `set_ready` is over: the app called it, or a late start hook
    /// failed start-up.
    /// Waits until the app said it is ready, or a late start hook failed start-up.
    pub(crate) async fn app_ready_or_late(&self) {
        while !self.is_app_ready_or_late() {
            self.app_ready.notified().await;
        }
    }

    fn is_app_ready_or_late(&self) -> bool {
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

thread_local! {
    /// The lifecycle (its triggers' address) whose main future this thread is polling now, if
    /// any: what tells main's own calls (the start boundary) from every other task's.
    static POLLING_MAIN: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Marks this thread as polling the main future of one lifecycle until dropped; restores what
/// was there before (a main polled inside another's), on unwind too.
pub(crate) struct PollingMain(*const ());

impl PollingMain {
    pub(crate) fn enter(lifecycle: *const ()) -> Self {
        Self(POLLING_MAIN.with(|polling| polling.replace(lifecycle)))
    }
}

impl Drop for PollingMain {
    fn drop(&mut self) {
        POLLING_MAIN.with(|polling| polling.set(self.0));
    }
}

/// Whether the caller runs inside the main future of the lifecycle whose triggers are
/// `triggers`, polled by its sequence: a call made by main itself, not by a task it spawned.
pub(crate) fn in_main_of(triggers: &Arc<Triggers>) -> bool {
    let lifecycle = Arc::as_ptr(triggers).cast::<()>();
    POLLING_MAIN.with(|polling| std::ptr::eq(polling.get(), lifecycle))
}
