//! The PID file (`LIFECYCLE_PIDFILE`): written atomically once Ready, and written again when an
//! upgrade is rolled back (the new process may have written its own just before it failed).
// Off Unix there is no upgrade: nothing is rolled back.
#![cfg_attr(not(unix), allow(dead_code))]

use std::path::PathBuf;

use crate::config::ENV_PIDFILE;
use crate::log::quietly;

/// Why the file is written.
#[derive(Clone, Copy)]
pub(super) enum Why {
    /// This process became Ready.
    Ready,
    /// An upgrade was rolled back: this process serves on.
    RolledBack,
    /// An upgrade was abandoned as the shutdown started: this process stops.
    Abandoned,
}

/// Writes this process's id to `LIFECYCLE_PIDFILE`, when it is set, atomically.
pub(super) fn write(why: Why) {
    let Some(path) = std::env::var_os(ENV_PIDFILE).filter(|path| !path.is_empty()) else {
        return;
    };
    let pid = std::process::id();
    let path = PathBuf::from(path);
    let written = crate::state_file::write_atomic(&path, format!("{pid}\n"));
    quietly(|| match (&written, why) {
        (Ok(()), Why::Ready) => tracing::info!(pid, path = %path.display(), "PID file written"),
        (Ok(()), Why::RolledBack) => tracing::info!(
            pid,
            path = %path.display(),
            "PID file written again: the upgrade was rolled back, this process serves on"
        ),
        (Ok(()), Why::Abandoned) => tracing::info!(
            pid,
            path = %path.display(),
            "PID file written again: the upgrade was abandoned, this process is stopping"
        ),
        (Err(err), _) => tracing::warn!(
            pid,
            error = %err,
            "could not write the PID file ({ENV_PIDFILE}): an operator cannot find this process there"
        ),
    });
}
