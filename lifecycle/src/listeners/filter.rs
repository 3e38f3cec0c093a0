//! Stopping the kernel from queuing new connections on a listener about to close, so that
//! closing it resets no one.
//!
//! The kernel completes TCP handshakes on its own and queues the connections until the app
//! accepts them; closing the listener resets every connection still queued, and its client,
//! which saw its `connect` succeed and may have sent its request, gets `ECONNRESET`. The serve
//! loop therefore accepts the queue to its end before it closes; for that end to come, no new
//! connection may join it. On Linux a classic BPF socket filter on the listener that drops
//! every segment with SYN set and ACK clear does that: a new client's SYN is never answered (its
//! kernel retries it a second later, and by then the port is closed and the retry refused, or a
//! new process listens), while the handshakes already under way complete, since their last
//! segment is an ACK. What was tried and why it is not used, on Linux 6.x:
//!
//! - `shutdown(listener, SHUT_RD)` refuses new clients at once, but resets every queued
//!   connection and makes `accept` fail (`EINVAL`): the loss this is meant to avoid;
//! - `listen(listener, 0)` drops SYNs only while the queue is full, and it is full no longer
//!   once the app accepts.
//!
//! Elsewhere there is no filter, and the serve loop accepts what is queued when it closes:
//! fewer resets, not none.

use tokio::net::TcpListener;

/// Makes the kernel drop every new connection attempt (SYN) to `listener`, while the handshakes
/// under way complete and join its queue. Returns `false` where this cannot be done (not
/// Linux, or the kernel refused the filter): then new connections keep coming.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn refuse_new_connections(listener: &TcpListener) -> bool {
    let attached = drop_segments(listener, SYN);
    if let Err(err) = &attached {
        crate::log::quietly(|| {
            tracing::warn!(
                error = %err,
                "could not stop new connections before closing the listener; a connection \
                 arriving as it closes may be reset"
            )
        });
    }
    attached.is_ok()
}

/// The TCP flags a filter looks at.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SYN: u32 = 0x02;
#[cfg(any(target_os = "linux", target_os = "android"))]
const ACK: u32 = 0x10;

/// Attaches a filter to `listener` that drops the segments whose SYN and ACK flags are
/// `flags` (SYN: connection attempts; ACK: a client's last segment of its handshake, and all
/// it sends after), and keeps every other.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn drop_segments(listener: &TcpListener, flags: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;

    // Offsets are from the TCP header (the kernel runs socket filters of TCP sockets on it).
    const FLAGS: u32 = 13; // the byte of the header that holds the flags
    let statement = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut program = [
        statement(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, FLAGS),
        statement(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, SYN | ACK),
        // Those flags: the next statement (drop); anything else: the one after (keep).
        statement(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, flags),
        statement(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
        statement(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
    ];
    let filter = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: the kernel copies the program (`len` statements at `filter`) during the call.
    let attached = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&filter as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if attached == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// For tests: holds every handshake to `listener` half done (the client connected, the
/// listener's side waiting for the client's last ACK, which is dropped with all that follows)
/// until another filter replaces this one.
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(crate) fn hold_handshakes(listener: &TcpListener) {
    drop_segments(listener, ACK).expect("attach a socket filter");
}

/// Makes the kernel drop every new connection attempt: not possible here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn refuse_new_connections(_: &TcpListener) -> bool {
    false
}

/// Removes the filter of [`refuse_new_connections`] (or any other) from a listener, for a socket
/// that outlives this process (passed by the service manager, which keeps its own copy and
/// hands it to the next process). None is fine.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn admit_new_connections(listener: &impl std::os::fd::AsRawFd) {
    let none: libc::c_int = 0;
    // SAFETY: SO_DETACH_FILTER reads nothing from its argument; it is given an int.
    let detached = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DETACH_FILTER,
            (&none as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let err = std::io::Error::last_os_error();
    // ENOENT: there was no filter.
    if detached != 0 && err.raw_os_error() != Some(libc::ENOENT) {
        crate::log::quietly(
            || tracing::warn!(error = %err, "could not remove the socket filter of a listener"),
        );
    }
}

/// Removes a filter: there are none here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn admit_new_connections<T>(_: &T) {}
