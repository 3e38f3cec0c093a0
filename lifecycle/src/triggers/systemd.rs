//! systemd's notification protocol (`sd_notify(3)`): datagrams of `KEY=value` lines sent to the
//! socket named by `NOTIFY_SOCKET`, and the watchdog interval from `WATCHDOG_USEC`.
//!
//! Written here rather than taken from a crate: the one that fits otherwise (`sd-notify`) sends
//! with a blocking socket (a full queue would stall the sender, here possibly the watchdog
//! thread), cannot reach an abstract socket (`@name`, what systemd uses in containers and
//! user sessions), and needs a newer Rust than this workspace. The protocol is one datagram.
//!
//! Nothing here blocks or panics: the socket is non-blocking, a message that cannot be sent is
//! dropped. Without `NOTIFY_SOCKET` nothing is created and nothing is sent.

use std::io;
use std::time::Duration;

/// The socket variable: a path (`/run/systemd/notify`) or an abstract name (`@...`).
pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The watchdog interval in microseconds, set when the unit has `WatchdogSec=`.
pub(crate) const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The process the watchdog interval is meant for; unset means the main process.
pub(crate) const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// A connection-less sender to systemd's notification socket.
pub(crate) struct Notifier {
    #[cfg(unix)]
    socket: std::os::unix::net::UnixDatagram,
    #[cfg(unix)]
    to: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names: `Ok(None)` when it is unset, `Err` with a sentence
    /// saying why when it names nothing this process can send to.
    pub(crate) fn from_env() -> Result<Option<Self>, String> {
        let Some(name) = std::env::var_os(NOTIFY_SOCKET) else {
            return Ok(None);
        };
        Self::to(&name).map(Some).map_err(|why| {
            format!(
                "lifecycle: {NOTIFY_SOCKET}={name:?} ignored: {why}; systemd will not hear from this service"
            )
        })
    }

    #[cfg(unix)]
    fn to(name: &std::ffi::OsStr) -> Result<Self, String> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};

        let bytes = name.as_bytes();
        let to = match bytes.first() {
            Some(b'/') => SocketAddr::from_pathname(name).map_err(|err| err.to_string())?,
            Some(b'@') => abstract_address(&bytes[1..])?,
            _ => {
                return Err(
                    "expected an absolute path or an abstract socket name starting with `@`"
                        .to_owned(),
                )
            }
        };
        let socket = UnixDatagram::unbound().map_err(|err| err.to_string())?;
        socket
            .set_nonblocking(true)
            .map_err(|err| err.to_string())?;
        Ok(Self { socket, to })
    }

    #[cfg(not(unix))]
    fn to(_name: &std::ffi::OsStr) -> Result<Self, String> {
        Err("systemd notifications need a Unix system".to_owned())
    }

    /// Sends `message` (newline-separated `KEY=value` assignments) in one datagram, without
    /// waiting: a full queue is an error (`WouldBlock`), not a wait.
    pub(crate) fn send(&self, message: &str) -> io::Result<()> {
        #[cfg(unix)]
        {
            self.socket
                .send_to_addr(message.as_bytes(), &self.to)
                .map(drop)
        }
        #[cfg(not(unix))]
        {
            let _ = message;
            Err(io::ErrorKind::Unsupported.into())
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> Result<std::os::unix::net::SocketAddr, String> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|err| err.to_string())
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn abstract_address(_name: &[u8]) -> Result<std::os::unix::net::SocketAddr, String> {
    Err("abstract socket names exist only on Linux".to_owned())
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set for this process.
/// `Err` with a sentence when the variable is set but unusable.
pub(crate) fn watchdog_interval() -> Result<Option<Duration>, String> {
    let Some(usec) = std::env::var_os(WATCHDOG_USEC) else {
        return Ok(None);
    };
    if let Some(pid) = std::env::var_os(WATCHDOG_PID) {
        // Meant for another process (a parent that exec'd us under a different pid, say).
        if pid.to_str().and_then(|pid| pid.trim().parse::<u32>().ok()) != Some(std::process::id()) {
            return Ok(None);
        }
    }
    match usec
        .to_str()
        .and_then(|usec| usec.trim().parse::<u64>().ok())
    {
        Some(usec) if usec > 0 => Ok(Some(Duration::from_micros(usec) / 2)),
        _ => Err(format!(
            "lifecycle: {WATCHDOG_USEC}={usec:?} ignored: expected a number of microseconds \
             greater than zero; no watchdog pings will be sent"
        )),
    }
}

/// A `STATUS=` line's text: one line, whatever `text` holds.
pub(crate) fn status_line(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("STATUS={text}")
}

/// `EXTEND_TIMEOUT_USEC=` for `left` from now: systemd then waits that long for the next
/// message (or the exit) before it gives up on the stop.
pub(crate) fn extend_line(left: Duration) -> String {
    let usec = u64::try_from(left.as_micros()).unwrap_or(u64::MAX);
    format!("EXTEND_TIMEOUT_USEC={usec}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_stay_one_line() {
        assert_eq!(
            status_line("main failed: a\nb\r\tc"),
            "STATUS=main failed: a b  c"
        );
        assert_eq!(
            extend_line(Duration::from_millis(1500)),
            "EXTEND_TIMEOUT_USEC=1500000"
        );
        assert_eq!(
            extend_line(Duration::MAX),
            format!("EXTEND_TIMEOUT_USEC={}", u64::MAX)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_and_path_sockets_receive_and_a_full_queue_does_not_block() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};

        let name = format!("lifecycle-test-{}", std::process::id());
        let receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let notifier = Notifier::to(std::ffi::OsStr::new(&format!("@{name}"))).unwrap();
        notifier.send("READY=1").unwrap();
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        // Nobody reads: the queue fills, and every send after that fails at once.
        let started = std::time::Instant::now();
        let failed = (0..10_000).any(|_| notifier.send("WATCHDOG=1").is_err());
        assert!(failed, "a queue never read must fill up");
        assert!(started.elapsed() < Duration::from_secs(5));

        let dir = std::env::temp_dir().join(format!("lifecycle-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let receiver = UnixDatagram::bind(&dir).unwrap();
        let notifier = Notifier::to(dir.as_os_str()).unwrap();
        notifier.send("STOPPING=1").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        let _ = std::fs::remove_file(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn relative_names_are_refused() {
        for bad in ["", "run/notify", "vsock:2:1234"] {
            assert!(Notifier::to(std::ffi::OsStr::new(bad)).is_err(), "{bad}");
        }
    }
}
