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
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let (done, written) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::Builder::new()
        .name(thread.to_owned())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, write);
            let _ = done.send(());
        });
    if writer.is_err() {
        return false;
    }
    let _ = written.recv_timeout(within);
    true
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
