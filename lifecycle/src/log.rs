//! Logging that can never hold up or break a shutdown: every event goes through `tracing`, or to
//! standard error when no subscriber is installed, and a logger that panics is survived.

use std::fmt;
use std::time::Duration;

/// Runs a logging call, swallowing a panic from it: a subscriber that panics (on a write to a
/// closed standard error, say) must not take the shutdown down with it.
pub(crate) fn quietly(log: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(log));
}

/// Logs `message` at `level` through `tracing`, or writes it to standard error when no
/// subscriber is installed. Never panics.
pub(crate) fn log_or_stderr(level: tracing::Level, message: &str) {
    quietly(|| {
        if no_subscriber() {
            to_stderr(message);
        } else if level == tracing::Level::ERROR {
            tracing::error!("{message}");
        } else if level == tracing::Level::WARN {
            tracing::warn!("{message}");
        } else {
            tracing::info!("{message}");
        }
    });
}

/// Runs `write` on a helper thread, with the caller's `tracing` dispatcher, and waits for it at
/// most `within`: a write to a full pipe or a closed standard error can delay the caller by that
/// much, never block it. Returns `false` when no thread could be started (`write` did not run).
pub(crate) fn write_within(
    thread: &str,
    within: Duration,
    write: impl FnOnce() + Send + 'static,
) -> bool {
    !matches!(
        run_within(thread, within, write),
        Err(Unfinished::NoThread(_))
    )
}

/// Why [`run_within`] has no result.
pub(crate) enum Unfinished {
    /// No thread could be started: the work did not run.
    NoThread(std::io::Error),
    /// The work took longer than allowed; its thread is left behind.
    TimedOut,
    /// The work panicked.
    Died,
}

/// Runs `work` on a helper thread named `thread`, with the caller's `tracing` dispatcher, and
/// waits for its result at most `within`. A blocked write (a full pipe, say) holds up only the
/// helper, which is left behind on a timeout.
pub(crate) fn run_within<T: Send + 'static>(
    thread: &str,
    within: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unfinished> {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let (done, result) = std::sync::mpsc::channel::<T>();
    std::thread::Builder::new()
        .name(thread.to_owned())
        .spawn(move || {
            let _ = done.send(tracing::dispatcher::with_default(&dispatch, work));
        })
        .map_err(Unfinished::NoThread)?;
    result.recv_timeout(within).map_err(|err| match err {
        std::sync::mpsc::RecvTimeoutError::Timeout => Unfinished::TimedOut,
        std::sync::mpsc::RecvTimeoutError::Disconnected => Unfinished::Died,
    })
}

/// Writes `text` straight to standard error, when no subscriber is installed and the write
/// cannot block (see [`stderr_takes`]); returns whether it did. Otherwise the caller hands the
/// write to a helper thread ([`write_within`]): two thread wake-ups, about 0.2 ms, which was most
/// of what the framework added to an idle service's exit.
pub(crate) fn to_stderr_at_once(text: &str) -> bool {
    if !no_subscriber() || !stderr_takes(text.len() + 1) {
        return false;
    }
    quietly(|| to_stderr(text));
    true
}

/// Writes a warning straight to standard error, whatever logging is set up (for what must be
/// seen before any subscriber exists): at once when the write cannot block, else from a helper
/// thread waited for at most 100 ms, so a full pipe cannot hold up the start.
pub(crate) fn warn_on_stderr(text: &str) {
    if stderr_takes(text.len() + 1) {
        quietly(|| to_stderr(text));
        return;
    }
    let owned = text.to_owned();
    let written = write_within("lifecycle-warning", Duration::from_millis(100), move || {
        quietly(|| to_stderr(&owned));
    });
    if !written {
        // No thread to spare: written from here, as an `eprintln!` would be.
        quietly(|| to_stderr(text));
    }
}

/// Whether `len` bytes written to standard error are taken at once: a regular file or
/// `/dev/null`, or a pipe or socket with room for them (`POLLOUT`, and at most `PIPE_BUF` bytes,
/// which a pipe with a free buffer takes whole). A terminal can be stopped and a device can be
/// slow: those are never written from the caller's thread.
#[cfg(unix)]
fn stderr_takes(len: usize) -> bool {
    // SAFETY: fstat writes into the zeroed `stat` we own; fd 2 may be closed, which is an error.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(libc::STDERR_FILENO, &mut stat) } != 0 {
        return false;
    }
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFREG => true,
        libc::S_IFCHR => is_dev_null(stat.st_rdev),
        libc::S_IFIFO | libc::S_IFSOCK if len <= libc::PIPE_BUF => {
            let mut fd = libc::pollfd {
                fd: libc::STDERR_FILENO,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd, a zero timeout: poll only reads and writes `fd`.
            let ready = unsafe { libc::poll(&mut fd, 1, 0) };
            ready == 1
                && fd.revents & libc::POLLOUT != 0
                && fd.revents & (libc::POLLERR | libc::POLLHUP) == 0
        }
        _ => false,
    }
}

/// Whether `device` is `/dev/null`'s (Linux numbers it 1:3).
#[cfg(target_os = "linux")]
pub(crate) fn is_dev_null(device: libc::dev_t) -> bool {
    device == libc::makedev(1, 3)
}

#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) fn is_dev_null(_device: libc::dev_t) -> bool {
    false
}

#[cfg(not(unix))]
fn stderr_takes(_len: usize) -> bool {
    false
}

/// Writes `text` to standard error in one `write` call. Standard error is unbuffered, and the
/// report's formatting alone would otherwise make some thirty system calls on the exit path.
pub(crate) fn to_stderr(text: &str) {
    use std::io::Write;
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    if !line.ends_with('\n') {
        line.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether no `tracing` subscriber would see an event from here.
pub(crate) fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<tracing::subscriber::NoSubscriber>())
}

/// Whole milliseconds, saturating at `u64::MAX`: the `*_ms` fields of log events.
pub(crate) fn whole_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A duration printed in milliseconds with three significant decimals of seconds: `1.204s`,
/// `15ms`.
pub(crate) struct Millis(pub(crate) Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms >= 1000 {
            write!(f, "{}.{:03}s", ms / 1000, ms % 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_ms_or_seconds_and_saturate() {
        assert_eq!(Millis(Duration::from_millis(15)).to_string(), "15ms");
        assert_eq!(Millis(Duration::from_millis(1204)).to_string(), "1.204s");
        assert_eq!(whole_ms(Duration::MAX), u64::MAX);
    }

    #[test]
    fn a_panicking_logger_is_survived() {
        quietly(|| panic!("broken pipe"));
    }
}
