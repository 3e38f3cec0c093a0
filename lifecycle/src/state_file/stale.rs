//! The temporary files that writers killed in mid-write left beside a state file, and when one
//! of them can no longer become a state file.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::parent_dir;

/// A temporary file whose writer has exited is removed once it is this old. The wait covers a
/// writer in another PID namespace (a second container on a shared volume), which looks gone
/// from here although it is alive: no `write_atomic` leaves its temporary file untouched this
/// long between its last write and its rename.
pub(super) const DEAD_WRITER_AGE: Duration = Duration::from_secs(60);

/// A temporary file untouched this long is removed whatever its name's PID says: that PID may
/// have been reused since its writer died (in a container the service is often PID 1 at every
/// start), and no write takes an hour.
pub(super) const ABANDONED_AGE: Duration = Duration::from_secs(60 * 60);

/// Best effort: a temporary file that cannot be listed, dated or removed is left for the next
/// start.
pub(super) fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    let prefix = format!(".{name}.");
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|file_name| file_name.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(temp_writer_pid)
        else {
            continue;
        };
        let age = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok());
        if age.is_some_and(|age| is_abandoned(pid, age)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The writer's PID from `<pid>.<n>`, the part of a temporary file's name between the target's
/// name and `.tmp`; `None` if it is not that.
fn temp_writer_pid(middle: &str) -> Option<u32> {
    let (pid, n) = middle.split_once('.')?;
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !numeric(pid) || !numeric(n) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the temporary file of writer `pid`, last modified `age` ago, can no longer become a
/// state file.
fn is_abandoned(pid: u32, age: Duration) -> bool {
    age >= ABANDONED_AGE || (age >= DEAD_WRITER_AGE && !is_running(pid))
}

/// Whether a process `pid` runs on this host (in this PID namespace). When unsure: yes.
#[cfg(unix)]
fn is_running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    // PID 0 and negative PIDs address process groups in kill(2): never a writer.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to another user.
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn is_running(_pid: u32) -> bool {
    true
}
