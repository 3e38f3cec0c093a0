//! systemd's socket activation (`man sd_listen_fds`): the variables read and checked once, the
//! passed descriptors marked close-on-exec, and each handed out once, as a listening TCP socket.

use std::ffi::OsString;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Mutex, OnceLock};

use tokio::net::TcpListener;

use crate::lock::lock;
use crate::log::quietly;

/// The first passed descriptor: standard input, output and error come before it.
const FIRST_FD: RawFd = 3;

/// The three variables of the protocol.
const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// One passed descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Passed {
    fd: RawFd,
    /// Its entry in `LISTEN_FDNAMES` (empty without the variable).
    name: String,
    /// Whether `name` is one of its own, rather than none or systemd's default (the socket
    /// unit's name, `*.socket`; `unknown` is what `sd_listen_fds_with_names` reports).
    named: bool,
    /// Handed out already (it belongs to a `TcpListener` now).
    taken: bool,
}

/// What the variables say, checked.
#[derive(Debug, PartialEq, Eq)]
enum Announced {
    /// No socket for this process: no variables, `LISTEN_FDS=0`, or no `LISTEN_PID`.
    Nothing,
    /// `LISTEN_PID` is another process's (variables inherited from a parent).
    OtherProcess(u32),
    /// Descriptors 3.. with their names.
    Sockets(Vec<Passed>),
}

/// The environment as read by the first call: the passed descriptors, or why they are unusable
/// (the error's kind and message, made again for each call).
type State = Result<Mutex<Vec<Passed>>, String>;

static STATE: OnceLock<State> = OnceLock::new();

/// Whether the parent process started this one as its in-place upgrade (see [`from_parent`]).
static FROM_PARENT: OnceLock<bool> = OnceLock::new();

/// Whether this process is the new process of an in-place upgrade: `LIFECYCLE_UPGRADE_FROM`
/// names the process that placed the sockets (and the readiness pipe), and that process is this
/// one's parent. systemd's `LISTEN_PID` cannot say it: the old process would have to set it
/// between `fork` and `exec`, where changing the environment is not safe (it allocates). The
/// parent's id, checked against `getppid()`, is as strict: a process the new one starts in turn
/// (its parent is the new one) does not take them, and `exec` keeps the parent. Read once; the
/// variable stays in the environment (removing it while other threads may read the environment
/// is not safe, and a process this one starts ignores it anyway).
pub(super) fn from_parent() -> bool {
    *FROM_PARENT.get_or_init(|| {
        let Some(value) = std::env::var_os(crate::config::ENV_UPGRADE_FROM) else {
            return false;
        };
        // SAFETY: `getppid` has no preconditions and cannot fail.
        let parent = unsafe { libc::getppid() };
        let named = number(&value);
        let ours = named.is_some_and(|pid| i64::from(pid) == i64::from(parent));
        if !ours {
            quietly(|| {
                tracing::warn!(
                    upgrade_from = %value.to_string_lossy(),
                    parent,
                    "LIFECYCLE_UPGRADE_FROM names another process than this one's parent: the \
                     sockets it announces are not this one's; ignored"
                )
            });
        }
        ours
    })
}

/// The passed socket for `name` (see [`listener`](super::listener) for which one), or `None`
/// when no passed socket is left for it.
pub(super) fn take(name: &str) -> io::Result<Option<TcpListener>> {
    let state = STATE.get_or_init(read_environment);
    let passed = state
        .as_ref()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message.clone()))?;
    let mut passed = lock(passed);
    let chosen = passed
        .iter()
        .position(|socket| !socket.taken && socket.name == name)
        .or_else(|| {
            passed
                .iter()
                .position(|socket| !socket.taken && !socket.named)
        });
    let Some(index) = chosen else {
        if !passed.is_empty() {
            quietly(|| {
                tracing::info!(
                    listener = name,
                    "no socket passed by the service manager is left for this listener: binding"
                )
            });
        }
        return Ok(None);
    };
    let socket = &mut passed[index];
    let fd = socket.fd;
    let described = describe(socket);
    if let Err(what) = check_listening_tcp(fd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the socket passed as {described} for listener `{name}` is {what}, not a \
                 listening TCP socket: pass a `ListenStream=` socket with an IP address and a \
                 port (`ListenStream=127.0.0.1:8080`)"
            ),
        ));
    }
    socket.taken = true;
    // SAFETY: `fd` is open (checked at the first call), a socket (checked just now), and no
    // one else in this process owns it: the protocol gives it to this process, and `taken`
    // hands it out once.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener.set_nonblocking(true)?;
    // A filter a previous process left on the socket (see `filter.rs`) would drop every SYN.
    super::filter::admit_new_connections(&listener);
    let listener = TcpListener::from_std(listener)?;
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |address| address.to_string());
    quietly(|| {
        tracing::info!(
            listener = name,
            fd,
            %address,
            "listening on the socket passed by the service manager"
        )
    });
    Ok(Some(listener))
}

/// Whether `fd` is a passed socket handed out by [`take`].
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(super) fn is_taken(fd: RawFd) -> bool {
    match STATE.get() {
        Some(Ok(passed)) => lock(passed)
            .iter()
            .any(|socket| socket.fd == fd && socket.taken),
        _ => false,
    }
}

/// `descriptor 3 (`http`)`.
fn describe(socket: &Passed) -> String {
    if socket.name.is_empty() {
        format!("descriptor {}", socket.fd)
    } else {
        format!("descriptor {} (`{}`)", socket.fd, socket.name)
    }
}

/// Reads the variables, checks them, and marks the descriptors close-on-exec.
fn read_environment() -> State {
    let [pid, fds, names] = VARIABLES.map(std::env::var_os);
    // The new process of an in-place upgrade: no `LISTEN_PID` (see `from_parent`).
    let pid = match pid {
        None if fds.is_some() && from_parent() => Some(std::process::id().to_string().into()),
        pid => pid,
    };
    // The variables stay in the environment, as `sd_listen_fds(0)` leaves them: removing them
    // while other threads may read the environment (C's `getenv`) is a data race. A child
    // process does not take the sockets: `LISTEN_PID` names this process, not the child, an
    // upgrade's `LIFECYCLE_UPGRADE_FROM` names the child's grandparent, and the descriptors are
    // close-on-exec, so the child does not even have them.
    let own = std::process::id();
    match announced(pid, fds, names, own)? {
        Announced::Nothing => Ok(Mutex::new(Vec::new())),
        Announced::OtherProcess(pid) => {
            quietly(|| {
                tracing::warn!(
                    listen_pid = pid,
                    pid = own,
                    "LISTEN_PID names another process: the sockets it announces are not this \
                     one's (variables inherited from a parent?); ignored, listeners are bound"
                )
            });
            Ok(Mutex::new(Vec::new()))
        }
        Announced::Sockets(passed) => {
            let last = passed.last().map_or(FIRST_FD, |socket| socket.fd);
            for socket in &passed {
                close_on_exec(socket.fd).map_err(|err| {
                    format!(
                        "LISTEN_FDS={} announces descriptors {FIRST_FD} to {last}, but {} is \
                         not usable ({err}): the service manager and this process disagree",
                        passed.len(),
                        describe(socket)
                    )
                })?;
            }
            Ok(Mutex::new(passed))
        }
    }
}

/// What the variables say, for process `own`: the rules of `sd_listen_fds_with_names`, with an
/// error naming the variable that is malformed.
fn announced(
    pid: Option<OsString>,
    fds: Option<OsString>,
    names: Option<OsString>,
    own: u32,
) -> Result<Announced, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(Announced::Nothing);
    };
    let pid = number(&pid).filter(|pid| *pid > 0).ok_or_else(|| {
        format!(
            "LISTEN_PID={} is not a process id: socket activation sets it to the id of the \
             process the sockets are for",
            shown(&pid)
        )
    })?;
    if pid != own {
        return Ok(Announced::OtherProcess(pid));
    }
    let count = number(&fds).ok_or_else(|| {
        format!(
            "LISTEN_FDS={} is not a number of sockets: socket activation passes N listening \
             sockets as descriptors 3 to N + 2 and sets LISTEN_FDS=N",
            shown(&fds)
        )
    })?;
    if count == 0 {
        return Ok(Announced::Nothing);
    }
    let Some(last) = i32::try_from(count)
        .ok()
        .and_then(|count| count.checked_add(FIRST_FD - 1))
    else {
        return Err(format!(
            "LISTEN_FDS={count} is more descriptors than a process can hold"
        ));
    };
    let names = match names {
        None => None,
        Some(names) if names.is_empty() => None,
        Some(names) => {
            let Some(text) = names.to_str() else {
                return Err(format!("LISTEN_FDNAMES={} is not UTF-8", shown(&names)));
            };
            let list: Vec<String> = text.split(':').map(str::to_owned).collect();
            if list.len() != count as usize {
                return Err(format!(
                    "LISTEN_FDNAMES={text} names {} sockets but LISTEN_FDS={count}: it holds \
                     one name for each passed socket, separated by `:`",
                    list.len()
                ));
            }
            Some(list)
        }
    };
    let passed = (FIRST_FD..=last)
        .enumerate()
        .map(|(index, fd)| {
            let name = names
                .as_ref()
                .map_or_else(String::new, |names| names[index].clone());
            let named = !(name.is_empty() || name == "unknown" || name.ends_with(".socket"));
            Passed {
                fd,
                name,
                named,
                taken: false,
            }
        })
        .collect();
    Ok(Announced::Sockets(passed))
}

/// A decimal number without sign or spaces, as systemd writes them.
fn number(text: &OsString) -> Option<u32> {
    let text = text.to_str()?;
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A variable's value for a message, quoted.
fn shown(value: &OsString) -> String {
    format!("`{}`", value.to_string_lossy())
}

/// Sets `FD_CLOEXEC` on `fd` (an error if it is not open).
fn close_on_exec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD and F_SETFD read and set a descriptor's flags; no memory is involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether `fd` is a listening TCP socket; if not, what it is (`a Unix socket`, ...).
fn check_listening_tcp(fd: RawFd) -> Result<(), String> {
    // SAFETY: `fstat` writes a `stat` into the zeroed one it is given.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } < 0 {
        return Err(format!("unusable ({})", io::Error::last_os_error()));
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err("not a socket".to_owned());
    }
    let kind = socket_option(fd, libc::SO_TYPE)?;
    if kind != libc::SOCK_STREAM {
        return Err(if kind == libc::SOCK_DGRAM {
            "a datagram socket".to_owned()
        } else {
            format!("a socket of type {kind}")
        });
    }
    // SAFETY: `getsockname` writes at most `len` bytes into the zeroed storage.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    if unsafe {
        libc::getsockname(
            fd,
            (&mut address as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    } < 0
    {
        return Err(format!("unusable ({})", io::Error::last_os_error()));
    }
    match i32::from(address.ss_family) {
        libc::AF_INET | libc::AF_INET6 => {}
        libc::AF_UNIX => return Err("a Unix socket".to_owned()),
        family => return Err(format!("a socket of address family {family}")),
    }
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple",
        target_os = "freebsd"
    ))]
    if socket_option(fd, libc::SO_ACCEPTCONN)? == 0 {
        return Err("a TCP socket that is not listening".to_owned());
    }
    Ok(())
}

/// An integer socket option of `fd` at `SOL_SOCKET`.
fn socket_option(fd: RawFd, option: libc::c_int) -> Result<libc::c_int, String> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `getsockopt` writes at most `len` bytes into `value`.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if got < 0 {
        return Err(format!("unusable ({})", io::Error::last_os_error()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pid: &str, fds: &str, names: Option<&str>) -> Result<Announced, String> {
        announced(
            Some(pid.into()),
            Some(fds.into()),
            names.map(OsString::from),
            42,
        )
    }

    fn sockets(announced: Result<Announced, String>) -> Vec<(RawFd, String, bool)> {
        match announced {
            Ok(Announced::Sockets(passed)) => passed
                .into_iter()
                .map(|socket| (socket.fd, socket.name, socket.named))
                .collect(),
            other => panic!("not sockets: {other:?}"),
        }
    }

    #[test]
    fn sockets_for_this_process_are_descriptors_from_3_with_their_names() {
        assert_eq!(
            sockets(vars("42", "2", Some("http:admin.socket"))),
            vec![
                (3, "http".to_owned(), true),
                (4, "admin.socket".to_owned(), false)
            ]
        );
        // systemd-socket-activate without --fdname sets an empty LISTEN_FDNAMES.
        assert_eq!(
            sockets(vars("42", "1", Some(""))),
            vec![(3, String::new(), false)]
        );
        assert_eq!(
            sockets(vars("42", "1", None)),
            vec![(3, String::new(), false)]
        );
    }

    #[test]
    fn another_process_or_missing_variables_announce_nothing_for_this_one() {
        assert_eq!(vars("41", "1", None), Ok(Announced::OtherProcess(41)));
        assert_eq!(vars("42", "0", None), Ok(Announced::Nothing));
        assert_eq!(
            announced(None, Some("1".into()), None, 42),
            Ok(Announced::Nothing)
        );
        assert_eq!(
            announced(Some("42".into()), None, None, 42),
            Ok(Announced::Nothing)
        );
    }

    #[test]
    fn malformed_variables_are_errors_naming_the_variable() {
        let err = vars("42", "two", None).unwrap_err();
        assert!(err.starts_with("LISTEN_FDS=`two` is not a number"), "{err}");
        let err = vars("42", "-1", None).unwrap_err();
        assert!(err.starts_with("LISTEN_FDS=`-1`"), "{err}");
        let err = vars("me", "1", None).unwrap_err();
        assert!(
            err.starts_with("LISTEN_PID=`me` is not a process id"),
            "{err}"
        );
        let err = vars("42", "2", Some("http")).unwrap_err();
        assert!(
            err.starts_with("LISTEN_FDNAMES=http names 1 sockets but LISTEN_FDS=2"),
            "{err}"
        );
        let err = vars("42", "4294967295", None).unwrap_err();
        assert!(
            err.contains("more descriptors than a process can hold"),
            "{err}"
        );
    }
}
