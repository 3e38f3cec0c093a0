//! Listening sockets: the ones a service manager passed to the process (systemd's socket
//! activation, `activation.rs`), bound ones otherwise ([`listener`]), and for the serve loop's
//! close, the filter that stops the kernel from queuing new connections on a listener
//! (`filter.rs`) and the count of the handshakes still under way on it (`handshakes.rs`); the
//! listeners returned, by name, for an in-place upgrade to hand over (`registry.rs`).

// Folder `listeners/`: imports `log` and `lock` only; `http/` closes its listener through
// `filter`, `upgrade/` hands over what `registry` holds.

use std::io;

use tokio::net::{TcpListener, ToSocketAddrs};

#[cfg(unix)]
mod activation;
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) mod filter;
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) mod handshakes;
#[cfg(unix)]
pub(crate) mod registry;

/// The listening socket named `name` that the service manager passed to this process (systemd's
/// socket activation), or, when there is none, a new one bound to `addr`.
///
/// # Socket activation
///
/// systemd (a `.socket` unit, or `systemd-socket-activate -l ADDRESS`) opens the listening
/// sockets itself and starts the service with them as file descriptors 3, 4, ..., described by
/// `LISTEN_FDS` (how many), `LISTEN_PID` (the process they are for) and `LISTEN_FDNAMES` (their
/// names, from `FileDescriptorName=` or `--fdname=`). The port is then open before the process
/// starts and stays open while it restarts: connections wait in the socket's queue instead of
/// being refused. This call returns, in this order of preference:
///
/// 1. the passed socket named `name`;
/// 2. a passed socket without a name of its own (none given, or systemd's default, the socket
///    unit's name `*.socket`), the first one not returned yet (in the order of the unit's
///    `ListenStream=` lines);
/// 3. a new socket bound to `addr` (resolved as [`TcpListener::bind`] does).
///
/// A socket is returned once; the second call for the same name binds `addr` (or takes the next
/// one of that name). The first call reads the variables, checks them, marks every passed file
/// descriptor close-on-exec and leaves the environment as it is (removing a variable while
/// another thread may read the environment is a data race): a child process that inherits the
/// variables does not take the sockets, since `LISTEN_PID` names its parent, not itself, and it
/// does not have the descriptors. `LISTEN_PID` naming another process (variables inherited from
/// a parent) is logged once and ignored: the call binds. The call is safe at any time, from any
/// thread.
///
/// # Errors
///
/// - `LISTEN_PID`, `LISTEN_FDS` or `LISTEN_FDNAMES` malformed (not a number, a count of names
///   that does not match), or a descriptor they announce is not open: an error naming the
///   variable, for every call (the service manager and the app disagree; binding instead would
///   hide it);
/// - the passed socket chosen is not a listening TCP socket (a UDP or Unix socket, say): an
///   error naming its descriptor and name;
/// - otherwise, what [`TcpListener::bind`] returns.
///
/// # In-place upgrade
///
/// Every listener this returns is recorded under `name`: on SIGUSR2 (taken over from the first
/// call on, in a sequence started with signals: `#[lifecycle::main]`, `App::run`,
/// `Sequence::start`; a service run by `lifecycle::testing` neither takes SIGUSR2 over nor
/// upgrades) or [`Lifecycle::request_upgrade`](crate::Lifecycle::request_upgrade), a new process
/// of the same executable gets them as systemd passes sockets (descriptors 3.., `LISTEN_FDS`,
/// `LISTEN_FDNAMES`, and `LIFECYCLE_UPGRADE_FROM` naming its parent instead of `LISTEN_PID`),
/// and this same call there returns the same socket. Give each listener its own name, without
/// `:`. SIGUSR2 sent again while an upgrade runs is one more attempt after it, however many
/// times it comes (see `request_upgrade`).
///
/// On platforms other than Unix the call binds `addr`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// // Under `systemd-socket-activate -l 127.0.0.1:8080 --fdname=http ./server`, the socket
/// // systemd opened; run by hand, a new one on port 8080 (here any free port).
/// let listener = lifecycle::listener("http", "127.0.0.1:0").await?;
/// assert!(listener.local_addr()?.port() != 0);
/// # Ok(()) }
/// ```
pub async fn listener(name: &str, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    #[cfg(unix)]
    {
        let listener = match activation::take(name)? {
            Some(listener) => listener,
            None => TcpListener::bind(addr).await?,
        };
        registry::record(name, &listener);
        Ok(listener)
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        TcpListener::bind(addr).await
    }
}

/// Whether another process accepts on this process's listeners too (an in-place upgrade under
/// way): a listener's close is then a hand-over (see `registry::set_shared`).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn shared() -> bool {
    #[cfg(unix)]
    return registry::shared();
    #[cfg(not(unix))]
    false
}

/// Whether this process was started by an in-place upgrade of its parent: the variable naming
/// the parent matches `getppid()`. Read once.
#[cfg(unix)]
pub(crate) fn started_by_upgrade() -> bool {
    activation::from_parent()
}

/// Whether `listener` was passed by the service manager (another process may hold it too).
#[cfg(unix)]
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn is_inherited(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    activation::is_taken(listener.as_raw_fd())
}

/// Whether `listener` was passed by the service manager (never, off Unix).
#[cfg(not(unix))]
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn is_inherited(_: &TcpListener) -> bool {
    false
}
