//! The new process's side of an upgrade: the pipe its parent (the old process) reads, to which
//! it writes `READY` once Ready.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

use crate::config::ENV_UPGRADE_READY_FD;
use crate::listeners;
use crate::log::quietly;

/// The old process, waiting for this one to be Ready.
pub(super) struct Parent {
    pipe: File,
}

impl Parent {
    /// When this process is an upgrade's new process: the pipe to its parent, made
    /// close-on-exec (a process this one starts must not hold it open). The variable stays in
    /// the environment (removing it while the runtime's threads may read the environment is not
    /// safe): a process this one starts ignores it, its parent being this one. From here until [`ready`](Self::ready), the listeners are shared
    /// with the parent, which still serves: a close (a failed start) hands them back.
    pub(super) fn from_env() -> Option<Self> {
        let value = std::env::var_os(ENV_UPGRADE_READY_FD)?;
        if !listeners::started_by_upgrade() {
            return None;
        }
        let fd: RawFd = value.to_str()?.parse().ok().filter(|fd| *fd > 2)?;
        // SAFETY: F_GETFD and F_SETFD read and set a descriptor's flags; no memory is involved.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            quietly(|| {
                tracing::warn!(fd, "the upgrade's readiness pipe is not open: the old process will roll the upgrade back")
            });
            return None;
        }
        listeners::registry::set_shared(true);
        // SAFETY: the parent placed the pipe's write end at `fd` for this process (checked
        // through its id), and nothing else in this process owns it.
        let pipe = unsafe { File::from_raw_fd(fd) };
        Some(Self { pipe })
    }

    /// This process is Ready: the parent hears `READY` and stops accepting; the listeners are
    /// this process's alone from now on.
    pub(super) fn ready(mut self) {
        listeners::registry::set_shared(false);
        if let Err(err) = self.pipe.write_all(b"READY\n") {
            quietly(
                || tracing::warn!(error = %err, "could not tell the old process this one is Ready: it rolls the upgrade back"),
            );
        }
    }
}
