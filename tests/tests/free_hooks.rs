//! Free-function hooks (`#[lifecycle::on_shutdown]` and `#[lifecycle::persist]` on functions)
//! run when the sequence is run without signals, exactly once each, in the declared order among a
//! component's hooks, and are reported under their path or declared name. Driven through the
//! runtime API on paused Tokio time.
//!
//! The free hooks are global to this test binary (collected at link time): every sequence run
//! here registers them, and they all record into one list, so the tests take turns
//! ([`one_at_a_time`]). They have this binary to themselves so that the component tests of
//! `macro_behaviour.rs` see only their own hooks.

use std::sync::{Arc, Mutex, PoisonError};

use lifecycle::hooks::HookKind;
use lifecycle::hooks::{HookOutcome, HookReport};
use lifecycle::{Config, Sequence, ShutdownReport};

/// Records which hooks ran, in order.
struct Calls(Mutex<Vec<&'static str>>);

impl Calls {
    fn record(&self, call: &'static str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    fn taken(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn hook<'a>(report: &'a ShutdownReport, name: &str) -> &'a HookReport {
    report
        .hooks
        .iter()
        .find(|hook| hook.name == name)
        .unwrap_or_else(|| panic!("no hook named {name:?} in {:#?}", report.hooks))
}

/// Held by each test for its whole run: the free hooks of every sequence record into [`ORDER`].
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    ORDER.taken(); // what a test that failed before left
    turn
}

/// Shared by the free hooks and `Ordered` below: the free hooks have no `self` to record into.
static ORDER: Calls = Calls(Mutex::new(Vec::new()));

#[lifecycle::on_shutdown(order = -10)]
fn free_first() {
    ORDER.record("free -10");
}

#[lifecycle::on_shutdown(order = 15, timeout = "1s")]
async fn free_between() -> Result<(), std::io::Error> {
    ORDER.record("free 15");
    Ok(())
}

#[lifecycle::persist(order = 5, name = "free persist")]
async fn free_persist() {
    ORDER.record("free persist 5");
}

struct Ordered;

#[lifecycle::component]
impl Ordered {
    #[on_shutdown]
    async fn zero(&self) {
        ORDER.record("component 0");
    }

    #[on_shutdown(order = 30)]
    fn last(&self) {
        ORDER.record("component 30");
    }

    #[persist]
    fn persist_zero(&self) {
        ORDER.record("component persist 0");
    }

    #[persist(order = 10)]
    async fn persist_ten(&self) {
        ORDER.record("component persist 10");
    }
}

/// `Sequence::run_without_signals` registers the binary's free hooks, as `lifecycle::run` does:
/// a `#[lifecycle::on_shutdown]` function is not silently skipped.
#[tokio::test(start_paused = true)]
async fn free_hooks_run_under_run_without_signals() {
    let _turn = one_at_a_time().await;
    let sequence = Sequence::new(Config::new());

    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(
        ORDER.taken(),
        ["free persist 5", "free -10", "free 15"],
        "every free hook ran once: persist first, then shutdown hooks by order"
    );
    let hooks: Vec<(&str, HookKind, i32, &HookOutcome)> = report
        .hooks
        .iter()
        .map(|hook| (hook.name.as_str(), hook.kind, hook.order, &hook.outcome))
        .collect();
    assert_eq!(
        hooks,
        [
            ("free persist", HookKind::Persist, 5, &HookOutcome::Ok),
            (
                "free_hooks::free_first",
                HookKind::Shutdown,
                -10,
                &HookOutcome::Ok
            ),
            (
                "free_hooks::free_between",
                HookKind::Shutdown,
                15,
                &HookOutcome::Ok
            ),
        ]
    );
    assert_eq!(report.code(), 0);
}

#[tokio::test(start_paused = true)]
async fn free_hooks_interleave_with_component_hooks_by_order() {
    let _turn = one_at_a_time().await;
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    // Registered by `run_without_signals` too: asked for twice, each still runs once.
    sequence.register_free_hooks();
    lc.manage(Arc::new(Ordered));

    let report = sequence.run_without_signals(async {}).await;

    assert_eq!(
        ORDER.taken(),
        [
            "component persist 0",
            "free persist 5",
            "component persist 10",
            "free -10",
            "component 0",
            "free 15",
            "component 30",
        ]
    );
    let free_between = hook(&report, "free_hooks::free_between");
    assert_eq!(free_between.order, 15);
    assert_eq!(free_between.kind, HookKind::Shutdown);
    assert_eq!(hook(&report, "free persist").kind, HookKind::Persist);
    assert_eq!(hook(&report, "free_hooks::free_first").order, -10);
    assert!(report
        .hooks
        .iter()
        .all(|hook| hook.outcome == HookOutcome::Ok));
    assert_eq!(report.code(), 0);
}
