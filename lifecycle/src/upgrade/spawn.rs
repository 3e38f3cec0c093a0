//! The old process's side of an upgrade: the new process started with the listeners at
//! descriptors 3.. and the write end of a pipe after them, then waited for until it writes
//! `READY`, exits, or the time runs out.

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ENV_UPGRADE_FROM, ENV_UPGRADE_READY_FD};
use crate::listeners::registry::{self, Recorded};
use crate::log::{quietly, Millis};
use crate::triggers::Triggers;

/// How often the old process looks at the pipe and the new process while it starts.
const POLL: Duration = Duration::from_millis(5);

/// The first descriptor the new process gets: as under systemd's socket activation.
const FIRST_FD: RawFd = 3;

/// How an upgrade ended.
pub(super) enum Attempt {
    /// The new process (this id) is Ready: this one hands over and drains.
    TookOver(u32),
    /// It failed, was stopped and reaped; this one goes on serving (said in the log).
    RolledBack,
    /// The shutdown was triggered while it started: it was stopped (SIGTERM) and reaped.
    Interrupted,
}

/// One upgrade: starts the new process and waits (at most `timeout`) for it to be Ready.
pub(super) async fn attempt(triggers: &Triggers, timeout: Duration) -> Attempt {
    let listeners = open_listeners();
    if listeners.is_empty() {
        quietly(|| {
            tracing::warn!(
                "upgrade refused: no listener from `lifecycle::listener` is open to hand over"
            )
        });
        return Attempt::RolledBack;
    }
    let (pipe, mut child) = match start(&listeners) {
        Ok(started) => started,
        Err(err) => {
            quietly(
                || tracing::warn!(error = %err, "upgrade rolled back: could not start the new process; still serving"),
            );
            return Attempt::RolledBack;
        }
    };
    let pid = child.id();
    let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
    quietly(|| {
        tracing::info!(
            pid,
            listeners = %names.join(", "),
            "upgrade: started the new process with the listeners; serving until it is Ready"
        )
    });
    // A timeout too long for the clock to add (`LIFECYCLE_UPGRADE_TIMEOUT=500000000000y`
    // parses) is no limit: never a panic.
    let deadline = Instant::now().checked_add(timeout);
    let mut pipe = File::from(pipe);
    let mut said = Vec::new();
    loop {
        let mut buf = [0u8; 64];
        match pipe.read(&mut buf) {
            Ok(0) => {
                // Its end of the pipe closed: it exited, or is about to.
                let mut status = reap_within(&mut child, Duration::from_secs(1)).await;
                if status == STILL_RUNNING {
                    status = stop(&mut child, libc::SIGKILL).await;
                }
                quietly(|| {
                    tracing::warn!(
                        pid,
                        status = %status,
                        "upgrade rolled back: the new process ended before it was Ready; still serving"
                    )
                });
                return Attempt::RolledBack;
            }
            Ok(n) => {
                said.extend_from_slice(&buf[..n]);
                if said.windows(6).any(|word| word == b"READY\n") {
                    quietly(|| {
                        tracing::info!(
                            pid,
                            "upgrade: the new process is Ready; handing the listeners over and draining"
                        )
                    });
                    // Not waited for: it goes on serving, and this process's exit hands it
                    // to the service manager (or init), which reaps it.
                    return Attempt::TookOver(pid);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                let status = stop(&mut child, libc::SIGKILL).await;
                quietly(|| {
                    tracing::warn!(
                        pid,
                        error = %err,
                        status = %status,
                        "upgrade rolled back: cannot read the new process's readiness pipe; killed it; still serving"
                    )
                });
                return Attempt::RolledBack;
            }
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            let status = stop(&mut child, libc::SIGKILL).await;
            quietly(|| {
                tracing::warn!(
                    pid,
                    timeout = %Millis(timeout),
                    status = %status,
                    "upgrade rolled back: the new process was not Ready in time; killed it; still serving"
                )
            });
            return Attempt::RolledBack;
        }
        tokio::select! {
            biased;
            () = triggers.fired_yet() => {
                quietly(|| {
                    tracing::warn!(
                        pid,
                        "upgrade abandoned: the shutdown started while the new process was starting; stopping it with SIGTERM"
                    )
                });
                let status = stop(&mut child, libc::SIGTERM).await;
                quietly(|| tracing::info!(pid, status = %status, "upgrade: the new process is stopped"));
                return Attempt::Interrupted;
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The recorded listeners still open with the address they had (the app may have closed one,
/// and its descriptor been reused).
fn open_listeners() -> Vec<Recorded> {
    registry::recorded()
        .into_iter()
        .filter(|listener| {
            let open = local_address(listener.fd);
            let same = open.is_some() && open == listener.address;
            if !same {
                quietly(|| tracing::debug!(listener = %listener.name, fd = listener.fd, "not handed over: closed by the app"));
            }
            same
        })
        .collect()
}

/// The local address of the TCP socket at `fd`, if it is one.
fn local_address(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: `fd` is borrowed for the call; `ManuallyDrop` keeps it open afterwards.
    let socket = std::mem::ManuallyDrop::new(unsafe { std::net::TcpListener::from_raw_fd(fd) });
    socket.local_addr().ok()
}

/// Starts the new process: the same executable, arguments and environment, the listeners at
/// descriptors 3.., the pipe's write end after them, and the variables that say so.
fn start(listeners: &[Recorded]) -> io::Result<(OwnedFd, Child)> {
    if let Some(bad) = listeners.iter().find(|l| l.name.contains(':')) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "listener `{}` has a `:` in its name, which LISTEN_FDNAMES cannot carry",
                bad.name
            ),
        ));
    }
    let executable = installed(std::env::current_exe()?);
    let (read, write) = pipe()?;
    let count = RawFd::try_from(listeners.len()).unwrap_or(RawFd::MAX - FIRST_FD - 1);
    let ready_fd = FIRST_FD + count;
    // Copies above every target descriptor (close-on-exec here), so that placing one at its
    // target never overwrites another not yet placed.
    let above = ready_fd + 1;
    let sources = listeners
        .iter()
        .map(|listener| duplicate_above(listener.fd, above))
        .collect::<io::Result<Vec<OwnedFd>>>()?;
    let ready_source = duplicate_above(write.as_raw_fd(), above)?;
    drop(write);
    let raw: Vec<RawFd> = sources.iter().map(AsRawFd::as_raw_fd).collect();
    let ready_raw = ready_source.as_raw_fd();
    let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();

    let mut command = Command::new(&executable);
    command
        .args(std::env::args_os().skip(1))
        .env("LISTEN_FDS", count.to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env(ENV_UPGRADE_FROM, std::process::id().to_string())
        .env(ENV_UPGRADE_READY_FD, ready_fd.to_string())
        // Not this one's: the sockets are the new process's through its parent's id (see
        // `listeners/activation.rs`), and systemd's watchdog is the new main process's.
        .env_remove("LISTEN_PID")
        .env_remove("WATCHDOG_PID");
    // SAFETY: between `fork` and `exec` only `dup2` runs (async-signal-safe), over a vector
    // allocated before the fork and only read here; an error is built from `errno` without
    // allocating. `dup2` leaves each target without close-on-exec, so the new program gets it.
    unsafe {
        command.pre_exec(move || {
            for (target, source) in (FIRST_FD..).zip(raw.iter()) {
                if libc::dup2(*source, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::dup2(ready_raw, ready_fd) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot start `{}`: {err}", executable.display()),
        )
    })?;
    // The copies are the child's now; this process's close, so that the pipe's last write end
    // is the child's (its exit is then the pipe's end).
    drop(sources);
    drop(ready_source);
    Ok((read, child))
}

/// The executable to start: where this one was started from. Installing the new binary by
/// renaming it over the old one (`install`, `mv`, a package manager) unlinks the old file, and
/// Linux then names this process's executable `/usr/bin/app (deleted)`: the new binary is at the
/// path without the suffix.
fn installed(current: std::path::PathBuf) -> std::path::PathBuf {
    const DELETED: &str = " (deleted)";
    match current.to_str().and_then(|path| path.strip_suffix(DELETED)) {
        Some(path) => std::path::PathBuf::from(path),
        None => current,
    }
}

/// A pipe: its read end non-blocking, both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `pipe` writes two descriptors into the array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just opened, and are owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&read, &write] {
        set_flag(
            fd.as_raw_fd(),
            libc::F_GETFD,
            libc::F_SETFD,
            libc::FD_CLOEXEC,
        )?;
    }
    set_flag(
        read.as_raw_fd(),
        libc::F_GETFL,
        libc::F_SETFL,
        libc::O_NONBLOCK,
    )?;
    Ok((read, write))
}

fn set_flag(fd: RawFd, get: libc::c_int, set: libc::c_int, flag: libc::c_int) -> io::Result<()> {
    // SAFETY: F_GET*/F_SET* read and set a descriptor's flags; no memory is involved.
    let flags = unsafe { libc::fcntl(fd, get) };
    if flags < 0 || unsafe { libc::fcntl(fd, set, flags | flag) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A close-on-exec copy of `fd` numbered `above` or higher.
fn duplicate_above(fd: RawFd, above: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, which the `OwnedFd` then owns.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just made, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Sends SIGTERM to a new process that said it is Ready when this one's shutdown had started
/// already: it drains and exits as at any SIGTERM (this process's exit hands it to the service
/// manager or init, which reaps it; not reaped here, its id is not reused meanwhile).
pub(super) fn stop_ready(pid: u32) {
    quietly(|| {
        tracing::warn!(
            pid,
            "upgrade abandoned: the shutdown started as the new process became Ready; stopping it with SIGTERM"
        )
    });
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: `kill` sends a signal to the process this one started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

/// What [`reap_within`] says of a process that has not exited.
const STILL_RUNNING: &str = "still running";

/// Sends `signal` to the new process and reaps it (a SIGTERM'd one gets until the drain's
/// deadline aborts this task; a SIGKILL'd one is gone at once). Returns how it ended.
async fn stop(child: &mut Child, signal: libc::c_int) -> String {
    if let Ok(None) = child.try_wait() {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: `kill` sends a signal to the process this one started and has not reaped
            // (so its id is not reused yet).
            unsafe { libc::kill(pid, signal) };
        }
    }
    reap_within(child, Duration::MAX).await
}

/// Waits (at most `limit`) for the new process to exit and reaps it: how it ended, or `still
/// running`.
async fn reap_within(child: &mut Child, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if started.elapsed() >= limit => return STILL_RUNNING.to_owned(),
            Ok(None) => tokio::time::sleep(POLL).await,
            Err(err) => return format!("unknown ({err})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_replaced_on_disk_is_started_from_its_path() {
        let path = |text: &str| std::path::PathBuf::from(text);
        assert_eq!(
            installed(path("/usr/bin/app (deleted)")),
            path("/usr/bin/app")
        );
        assert_eq!(installed(path("/usr/bin/app")), path("/usr/bin/app"));
    }
}
