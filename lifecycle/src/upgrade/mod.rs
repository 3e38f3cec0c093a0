//! In-place upgrade (the nginx convention): on SIGUSR2, or
//! [`Lifecycle::request_upgrade`](crate::Lifecycle::request_upgrade), a new process of the same
//! executable starts with this one's listening sockets; once it is Ready this one hands the
//! sockets over and drains ([`Trigger::Upgraded`]); if it is not, it is stopped and this one
//! goes on serving. Also the PID file (`LIFECYCLE_PIDFILE`, `pid_file.rs`), written by every
//! process once Ready and again after a rollback, so that an operator finds the one to signal,
//! and removed at the exit unless a new process took over.
//!
//! The old process's side is in `spawn.rs` (the new process started with the sockets at
//! descriptors 3.. and a pipe, and waited for), the new process's in `child.rs` (the pipe it
//! writes `READY` to). Why a pipe: the new process's end closes whenever it exits, however it
//! exits (a failed start, a crash, SIGKILL), so the old process hears both outcomes on one
//! descriptor, with no file on disk, no process id that could be reused, and no service
//! manager needed.

// Folder `upgrade/`: imports `handle`, `listeners`, `triggers`, `config`, `state_file`, `log`;
// `sequence/` starts it.

#[cfg(unix)]
mod child;
mod pid_file;
#[cfg(unix)]
mod spawn;

use std::sync::Arc;

pub(crate) use self::pid_file::remove_at_exit as remove_pid_file_at_exit;
use crate::handle::Lifecycle;
use crate::log::quietly;
use crate::triggers::readiness::State;
#[cfg(unix)]
use crate::triggers::Trigger;

/// For a sequence started with signals: once Ready, writes the PID file and tells the old
/// process (when this one is an upgrade's new process); takes SIGUSR2 over once the app has a
/// listener from `lifecycle::listener`; runs the upgrades asked for, one after the other, until
/// the trigger. A tracked task: at the trigger, a new process still starting is stopped and
/// reaped within the drain.
pub(crate) fn start(lc: &Lifecycle) {
    #[cfg(unix)]
    let parent = child::Parent::from_env();
    #[cfg(unix)]
    take_over_sigusr2(lc);
    let run_lc = lc.clone();
    lc.task("upgrade").spawn(async move {
        let lc = run_lc;
        let mut state = lc.watch_state();
        let ready = matches!(
            state
                .wait_for(|state| *state != State::Starting)
                .await
                .map(|state| *state),
            Ok(State::Ready)
        );
        if !ready {
            drop_requests(&lc, "the service never became Ready");
            return;
        }
        pid_file::write(lc.inner().triggers(), pid_file::Why::Ready);
        #[cfg(unix)]
        if let Some(parent) = parent {
            parent.ready();
        }
        #[cfg(unix)]
        run_upgrades(&lc).await;
        drop_requests(&lc, "this process is stopping");
    });
}

/// The requests not taken up, dropped with a line saying so.
fn drop_requests(lc: &Lifecycle, why: &'static str) {
    let dropped = lc.inner().upgrades().take_all();
    if dropped > 0 {
        quietly(|| {
            tracing::warn!(
                requests = dropped,
                "upgrade refused: {why}; send SIGUSR2 to the process in the PID file"
            )
        });
    }
}

/// Runs each upgrade asked for, one after the other, until one succeeds (this process then
/// drains) or the shutdown is triggered.
#[cfg(unix)]
async fn run_upgrades(lc: &Lifecycle) {
    let inner = lc.inner();
    let timeout = inner.config().upgrade_timeout();
    loop {
        tokio::select! {
            biased;
            () = inner.triggers().fired_yet() => return,
            () = inner.upgrades().requested() => {}
        }
        // Requests made while this one runs join one follow-up (see `triggers/upgrades.rs`).
        let Some(attempting) = inner.upgrades().take_one() else {
            continue;
        };
        let attempt = spawn::attempt(inner.triggers(), timeout).await;
        drop(attempting);
        match attempt {
            spawn::Attempt::TookOver(pid) => {
                pid_file::handed_over();
                // The shutdown started as the new process said Ready (a SIGTERM and `READY`
                // heard together): the shutdown wins, the new process stops too.
                if inner.triggers().current().is_none() {
                    // Closed from now on, the listeners are handed over (the new process
                    // accepts what is queued); systemd hears of the new main process before
                    // this one's trigger could say STOPPING=1.
                    crate::listeners::registry::set_shared(true);
                    inner.triggers().watch().hand_over(pid);
                }
                if !inner.triggers().fire(Trigger::Upgraded { pid }) {
                    spawn::stop_ready(pid);
                }
                return;
            }
            // The new process is gone (reaped), but it may have written the PID file before it
            // failed: this process is the one to signal again. At the exit (interrupted), the
            // file naming this process is removed.
            spawn::Attempt::RolledBack => {
                pid_file::write(inner.triggers(), pid_file::Why::RolledBack);
            }
            spawn::Attempt::Interrupted => {
                pid_file::write(inner.triggers(), pid_file::Why::Abandoned);
                return;
            }
        }
    }
}

/// From the first listener `lifecycle::listener` returns (or now, if it returned one already),
/// SIGUSR2 asks for an upgrade instead of ending the process (its default).
#[cfg(unix)]
fn take_over_sigusr2(lc: &Lifecycle) {
    let lc = Arc::new(lc.clone());
    let install = {
        let lc = Arc::clone(&lc);
        move || listen_for_sigusr2(&lc)
    };
    if crate::listeners::registry::on_first(Box::new(install)) {
        listen_for_sigusr2(&lc);
    }
}

#[cfg(not(unix))]
fn take_over_sigusr2(_: &Lifecycle) {}

/// Installs the SIGUSR2 stream (on the current runtime) and a task that turns each delivery
/// into an upgrade request.
#[cfg(unix)]
fn listen_for_sigusr2(lc: &Arc<Lifecycle>) {
    use tokio::signal::unix::{signal, SignalKind};
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let mut stream = match signal(SignalKind::user_defined2()) {
        Ok(stream) => stream,
        Err(err) => {
            quietly(
                || tracing::warn!(error = %err, "cannot listen for SIGUSR2: upgrades only through lc.request_upgrade()"),
            );
            return;
        }
    };
    let lc = Arc::clone(lc);
    tokio::spawn(async move {
        while stream.recv().await.is_some() {
            quietly(|| tracing::info!(signal = "SIGUSR2", "SIGUSR2: upgrade requested"));
            lc.request_upgrade();
        }
    });
}
