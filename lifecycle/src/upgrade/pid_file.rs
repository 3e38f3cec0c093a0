//! The PID file (`LIFECYCLE_PIDFILE`): written atomically once Ready, written again when an
//! upgrade is rolled back (the new process may have written its own just before it failed),
//! and removed when the process exits, unless an upgrade handed the service over (the
//! successor owns the file then) or the file names another process.
// Off Unix there is no upgrade: nothing is handed over or rolled back.
#![cfg_attr(not(unix), allow(dead_code))]

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::config::ENV_PIDFILE;
use crate::log::quietly;
use crate::triggers::Triggers;

/// The file this process wrote its id to, once it did.
static WRITTEN: OnceLock<PathBuf> = OnceLock::new();

/// Set once a new process said it is Ready: the PID file is its from then on.
static HANDED_OVER: AtomicBool = AtomicBool::new(false);

/// Why the file is written.
#[derive(Clone, Copy)]
pub(super) enum Why {
    /// This process became Ready.
    Ready,
    /// An upgrade was rolled back: this process serves on.
    RolledBack,
    /// An upgrade was abandoned as the shutdown started: this process stops (and removes the
    /// file at its exit).
    Abandoned,
}

/// Writes this process's id to `LIFECYCLE_PIDFILE`, when it is set, atomically. The first
/// time, a forced exit (see `triggers/watchdog.rs`) learns to remove it.
pub(super) fn write(triggers: &Triggers, why: Why) {
    let Some(path) = std::env::var_os(ENV_PIDFILE).filter(|path| !path.is_empty()) else {
        return;
    };
    let pid = std::process::id();
    let path = PathBuf::from(path);
    let written = crate::state_file::write_atomic(&path, format!("{pid}\n"));
    if written.is_ok() && WRITTEN.set(path.clone()).is_ok() {
        // Not a word: the watchdog thread never waits on a write.
        triggers
            .watch()
            .at_forced_exit(Box::new(|| drop(remove_if_ours())));
    }
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

/// A new process is Ready and took the service over: the PID file names it, and this
/// process's exit leaves the file alone.
pub(super) fn handed_over() {
    HANDED_OVER.store(true, Ordering::SeqCst);
}

/// At the end of the shutdown: removes the PID file this process wrote, unless an upgrade handed
/// the service over or the file names another process now; says what it did.
pub(crate) fn remove_at_exit() {
    let Some(path) = WRITTEN.get() else {
        return;
    };
    match remove_if_ours() {
        Ok(true) => quietly(|| tracing::info!(path = %path.display(), "PID file removed")),
        Ok(false) => {}
        Err(err) => quietly(
            || tracing::warn!(path = %path.display(), error = %err, "could not remove the PID file"),
        ),
    }
}

/// Removes the file this process wrote if it still names this process and no upgrade handed
/// over; whether it did. Reads at most a few bytes of a regular file, without following a
/// link or waiting on a FIFO, and unlinks: nothing here waits on a lock or on another process.
fn remove_if_ours() -> io::Result<bool> {
    let Some(path) = WRITTEN.get() else {
        return Ok(false);
    };
    if HANDED_OVER.load(Ordering::SeqCst) || !names_this_process(path)? {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

/// Whether the file at `path` holds this process's id (a missing file holds none).
fn names_this_process(path: &Path) -> io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    let mut text = String::new();
    // An id is at most 10 digits and a newline; more is not this process's file.
    file.take(32).read_to_string(&mut text)?;
    Ok(text.trim().parse::<u32>().ok() == Some(std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_holding_this_process_id_is_this_process_s() {
        let dir = std::env::temp_dir().join(format!("lifecycle-pid-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.pid");
        assert!(!names_this_process(&path).unwrap(), "missing");
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        assert!(names_this_process(&path).unwrap());
        std::fs::write(&path, "1\n").unwrap();
        assert!(!names_this_process(&path).unwrap(), "another process");
        std::fs::write(&path, format!("{}0\n", std::process::id())).unwrap();
        assert!(!names_this_process(&path).unwrap(), "a longer id");
        std::fs::remove_file(&path).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/dev/null", &path).unwrap();
            assert!(
                names_this_process(&path).is_err() || !names_this_process(&path).unwrap(),
                "a link is not followed"
            );
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir(&dir).unwrap();
    }
}
