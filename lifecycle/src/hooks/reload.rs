//! Reload: the reload hooks, run in order on each request, one reload at a time, never after the
//! trigger.

use std::sync::Arc;
use std::time::Duration;

use crate::hooks::{run_phase, HookKind, HookRegistry, HookReport};
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
        () = triggers.triggered.cancelled() => {}
        () = reloads.main_turn() => {}
    }
    loop {
        tokio::select! {
            biased;
            () = triggers.triggered.cancelled() => {
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
        reloads.record_run(failed);
        quietly(|| {
            if failures == 0 {
                tracing::info!("reloaded");
            } else {
                tracing::warn!(failures, "reload: some hooks failed; still serving");
            }
        });
    }
}
