//! Reload: the reload hooks, run in order on each request, one reload at a time, never after the
//! trigger.

use std::sync::Arc;
use std::time::Duration;

use crate::hooks::{run_phase, HookKind, HookRegistry, HookReport};
use crate::lock::lock;
use crate::log::quietly;
use crate::triggers::reloads::{Ignored, Reloads};
use crate::triggers::Triggers;

/// The reloads, one after another, until the trigger: run as a tracked task, so that a reload
/// under way at the trigger is drained like any other work.
pub(crate) async fn run(
    reloads: Arc<Reloads>,
    hooks: Arc<HookRegistry>,
    triggers: Arc<Triggers>,
    timeout: Duration,
) {
    // Not before the service is Ready (the caller spawns this then) and `main` had its turn.
    tokio::select! {
        biased;
        () = triggers.fired_yet() => {}
        () = reloads.main_turn() => {}
    }
    loop {
        tokio::select! {
            biased;
            () = triggers.fired_yet() => {
                reloads.drop_pending(Ignored::ShuttingDown);
                break;
            }
            () = reloads.next_request() => {}
        }
        quietly(|| tracing::info!("reloading"));
        let reports = run_phase(hooks.of_kind(HookKind::Reload), timeout).await;
        let failed: Vec<HookReport> = reports
            .into_iter()
            .filter(|report| !report.outcome.is_ok())
            .collect();
        let failures = failed.len();
        hooks.record_reload(failed);
        quietly(|| {
            if failures == 0 {
                tracing::info!("reloaded");
            } else {
                tracing::warn!(failures, "reload: some hooks failed; still serving");
            }
        });
    }
}

/// How many failed reload hook runs a report keeps; the rest are counted.
pub(crate) const MAX_RELOAD_FAILURES: usize = 10;

/// What the reloads did, for the report.
#[derive(Default, Clone)]
pub(crate) struct ReloadRecord {
    pub(crate) count: u64,
    pub(crate) failures: Vec<HookReport>,
    pub(crate) failures_total: u64,
}

impl HookRegistry {
    /// Records one reload run and the hook runs of it that failed (the first few are kept).
    pub(crate) fn record_reload(&self, failed: Vec<HookReport>) {
        crate::metrics::reloaded(failed.is_empty());
        let mut record = lock(&self.reloads);
        record.count += 1;
        record.failures_total += failed.len() as u64;
        let room = MAX_RELOAD_FAILURES.saturating_sub(record.failures.len());
        record.failures.extend(failed.into_iter().take(room));
    }

    /// What the reloads did so far.
    pub(crate) fn reload_record(&self) -> ReloadRecord {
        lock(&self.reloads).clone()
    }
}
