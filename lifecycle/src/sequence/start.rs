//! Start-up: the start hooks by ascending order, readiness once they all succeeded (and, with
//! [`ReadyWhen::Manual`], once the app said so), and what a failed start-up leaves to stop.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Config, ReadyWhen};
use crate::failure::Failure;
use crate::hooks::gate::{Elsewhere, Stalled, StartGate};
use crate::hooks::{run_group, Hook, HookKind, HookOutcome, HookRegistry, HookReport};
use crate::lock::lock;
use crate::log::{quietly, whole_ms, Millis};
use crate::triggers::Triggers;

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
        () = triggers.fired_yet() => {}
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
        gate.app_ready_or_late().await;
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
        quietly(|| {
            tracing::error!(
                error = format_args!("{why:#}"),
                "start-up failed; stopping what started"
            )
        });
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
                     make the shutdown future in main with `lc.cancelled()`"
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

/// The report lines of the start hooks added after the boundary: none of them ran (each counted
/// by the metrics, feature `metrics`).
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
        .inspect(HookReport::record)
        .collect()
}
