//! In-place upgrades on real processes and real signals (`tests/src/bin/upgrader.rs`): SIGUSR2
//! starts a new process with the listening socket; the old one hands it over once the new one is
//! Ready, or goes on serving when it is not.
//!
//! The processes of one test share a standard output and error (files here: a pipe would stay
//! open as long as the last process), and each old process's exit status is read with
//! `waitpid`: this test binary is the "child subreaper" of its processes' children, so an old
//! process that exits hands its new one to the test, not to init.
#![cfg(target_os = "linux")]

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddress, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lifecycle_tests::churn::Load;
use lifecycle_tests::{poll_until, try_get, ScratchDir};

const UPGRADER: &str = env!("CARGO_BIN_EXE_upgrader");

/// One service across its upgrades: its files, and the processes it went through.
struct Upgraded {
    dir: ScratchDir,
    pids: Vec<i32>,
}

impl Upgraded {
    /// Starts the first process, with `LIFECYCLE_PIDFILE` and the files of its output in a
    /// fresh directory, and waits for its PID file.
    fn start(name: &str) -> Self {
        Self::start_with(name, &[], false)
    }

    /// Like [`start`](Self::start), with more variables, and with `WATCHDOG_PID` set to the
    /// first process's id (a shell sets it and becomes the process) when `watchdog_pid` is.
    fn start_with(name: &str, env: &[(&str, &str)], watchdog_pid: bool) -> Self {
        Self::start_program(name, Path::new(UPGRADER), env, watchdog_pid)
    }

    /// Like [`start_with`](Self::start_with), running `program`.
    fn start_program(name: &str, program: &Path, env: &[(&str, &str)], watchdog_pid: bool) -> Self {
        // SAFETY: sets a flag of this process; no memory is involved.
        let set = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(set, 0, "PR_SET_CHILD_SUBREAPER");
        let dir = ScratchDir::new(name);
        let out = File::create(dir.path().join("stdout")).unwrap();
        let err = File::create(dir.path().join("stderr")).unwrap();
        let mut command = if watchdog_pid {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(r#"WATCHDOG_PID=$$ exec "$0""#)
                .arg(program);
            shell
        } else {
            Command::new(program)
        };
        if !env.iter().any(|(key, _)| *key == "NOTIFY_SOCKET") {
            command.env_remove("NOTIFY_SOCKET");
        }
        // Reaped with `waitpid` (see `exit_status`), as its successors are.
        #[allow(clippy::zombie_processes)]
        let child = command
            .envs(env.iter().copied())
            .env("LIFECYCLE_PIDFILE", dir.path().join("pid"))
            .env("FAIL_START_FILE", dir.path().join("fail"))
            .env("SLOW_START_FILE", dir.path().join("slow"))
            .env("STARTS_FILE", dir.path().join("starts"))
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the upgrader");
        let first = child.id() as i32;
        let service = Self {
            dir,
            pids: vec![first],
        };
        let written = service.wait_for_pid_file(|pid| pid == first);
        assert_eq!(written, first);
        service
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn stdout(&self) -> String {
        fs::read_to_string(self.file("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.file("stderr")).unwrap_or_default()
    }

    /// The address of the first `listening on` line.
    fn address(&self) -> SocketAddr {
        poll_until("the listening line", || {
            let out = self.stdout();
            let line = out
                .lines()
                .find(|l| l.starts_with("listening on "))?
                .to_owned();
            line["listening on ".len()..].parse().ok()
        })
    }

    /// Waits for the PID file to hold a pid `accept` takes.
    fn wait_for_pid_file(&self, accept: impl Fn(i32) -> bool) -> i32 {
        let path = self.file("pid");
        poll_until("the PID file", || {
            let pid = fs::read_to_string(&path).ok()?.trim().parse().ok()?;
            accept(pid).then_some(pid)
        })
    }

    fn current(&self) -> i32 {
        *self.pids.last().unwrap()
    }

    fn signal(&self, pid: i32, signal: libc::c_int) {
        // SAFETY: signals a process of this test (not yet reaped).
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
    }

    /// SIGUSR2 to the current process; waits for the new one's PID file and the old one's exit.
    /// Returns the old one's exit code.
    fn upgrade(&mut self) -> i32 {
        let old = self.current();
        let asked = Instant::now();
        self.signal(old, libc::SIGUSR2);
        let new = self.wait_for_pid_file(|pid| pid != old);
        let ready = asked.elapsed();
        self.pids.push(new);
        let code = exit_code(old, Duration::from_secs(10));
        eprintln!(
            "upgrade {old} -> {new}: new process Ready (PID file) {} ms after SIGUSR2, old one exited {} ms after",
            ready.as_millis(),
            asked.elapsed().as_millis()
        );
        code
    }
}

impl Drop for Upgraded {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: as in `signal`; a pid already reaped gives ESRCH, which is fine.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = exit_status(pid, Duration::from_secs(1));
        }
    }
}

/// Reaps `pid` (a child of this test, or an orphan it adopted) within `limit`.
fn exit_status(pid: i32, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waits for one process, writing its status into `status`.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if reaped == pid {
            return Some(status);
        }
        if reaped < 0 || started.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// The exit code of `pid`, which must exit (not be killed) within `limit`.
fn exit_code(pid: i32, limit: Duration) -> i32 {
    let status = exit_status(pid, limit).unwrap_or_else(|| panic!("{pid} did not exit"));
    assert!(libc::WIFEXITED(status), "{pid} was killed: {status:#x}");
    libc::WEXITSTATUS(status)
}

/// Whether the process `pid` is gone (reaped: not even a zombie).
fn gone(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in the log line `upgrade: started the new process` (tracing's `pid=N`).
fn started_pid(stderr: &str) -> Option<i32> {
    let line = stderr
        .lines()
        .find(|line| line.contains("upgrade: started the new process"))?;
    let after = line.split("pid=").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Three upgrades in a row under 16 clients opening a new connection for every request: every
/// request answered (none refused, none reset, none unanswered), the PID file following each
/// new process, each old one exiting 0 after a report whose trigger is the upgrade.
#[test]
fn three_upgrades_in_a_row_under_load_lose_no_request_and_each_old_process_exits_0() {
    let mut service = Upgraded::start("three");
    let address = service.address();
    let load = Load::start_patient(address, "/health", 16, Duration::from_secs(3));
    load.wait_for_an_answer();
    for round in 0..3 {
        let old = service.current();
        let code = service.upgrade();
        let new = service.current();
        assert_eq!(
            code,
            0,
            "round {round}: {old} exited {code}\n{}",
            service.stderr()
        );
        assert!(
            service.stdout().contains(&format!(
                "pid {old} stopped: upgraded: process {new} took over"
            )),
            "round {round}:\n{}",
            service.stdout()
        );
        // The new process answers, on the same address.
        let (status, body) = try_get(address, "/health").unwrap();
        assert_eq!((status, body), (200, format!("pid {new}")));
    }
    let tally = load.stop();
    let last = service.current();
    service.signal(last, libc::SIGTERM);
    assert_eq!(exit_code(last, Duration::from_secs(10)), 0);
    let stderr = service.stderr();
    eprintln!("measured across three upgrades: {tally}");
    assert!(tally.answered > 0, "{tally}");
    assert_eq!(
        (tally.refused, tally.not_connected, tally.lost()),
        (0, 0, 0),
        "{tally}; e.g. {:?}\n{stderr}",
        tally.examples
    );
    assert_eq!(
        stderr.matches("(trigger: upgraded: process").count(),
        3,
        "one report per old process, each saying upgraded:\n{stderr}"
    );
    assert!(
        stderr.contains("listener handed over"),
        "the old processes hand the listener over:\n{stderr}"
    );
    service.pids.clear();
}

/// The new process fails its start hook: it exits (and is reaped), the old one says the upgrade
/// was rolled back and goes on serving every request; its report at SIGTERM is a normal one.
#[test]
fn an_upgrade_whose_new_process_fails_its_start_hook_leaves_the_old_one_serving() {
    let mut service = Upgraded::start("fail");
    let address = service.address();
    // A SYN dropped (a filter left on the shared socket by the failed process's close) would
    // show as not connected within 300 ms: its kernel retries a second later.
    let load = Load::start_patient(address, "/health", 8, Duration::from_millis(300));
    load.wait_for_an_answer();
    let old = service.current();
    fs::write(service.file("fail"), "").unwrap();
    service.signal(old, libc::SIGUSR2);
    let line = poll_until("the rollback", || {
        let stderr = service.stderr();
        stderr
            .lines()
            .find(|line| line.contains("upgrade rolled back"))
            .map(str::to_owned)
    });
    assert!(line.contains("ended before it was Ready"), "{line}");
    let child = started_pid(&service.stderr()).expect("the new process's pid in the log");
    assert!(gone(child), "the failed new process {child} is reaped");
    // Still this process, still serving, PID file unchanged.
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));
    assert_eq!(
        fs::read_to_string(service.file("pid")).unwrap().trim(),
        old.to_string()
    );
    let tally = load.stop();
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    let stderr = service.stderr();
    assert_eq!(
        (tally.refused, tally.not_connected, tally.lost()),
        (0, 0, 0),
        "{tally}; e.g. {:?}\n{stderr}",
        tally.examples
    );
    assert!(tally.answered > 0, "{tally}");
    assert!(stderr.contains("trigger=SIGTERM"), "{stderr}");
    assert!(
        service
            .stdout()
            .contains(&format!("pid {old} stopped: SIGTERM")),
        "{}",
        service.stdout()
    );
    service.pids.clear();
}

/// SIGTERM to the old process while the new one is still in its start hook: the old one stops
/// the new one (SIGTERM, reaped) and both end; the old one exits 0; no client is reset or left
/// without an answer.
#[test]
fn sigterm_during_an_upgrade_stops_both_processes_and_resets_no_one() {
    let mut service = Upgraded::start("sigterm");
    let address = service.address();
    let load = Load::start_patient(address, "/health", 8, Duration::from_millis(300));
    load.wait_for_an_answer();
    let old = service.current();
    fs::write(service.file("slow"), "3000").unwrap();
    service.signal(old, libc::SIGUSR2);
    let child = poll_until("the new process started", || started_pid(&service.stderr()));
    // It has taken the socket, and is in its start hook (3 s).
    poll_until("the new process listening", || {
        (service.stdout().matches("listening on ").count() == 2).then_some(())
    });
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    assert!(gone(child), "the new process {child} is stopped and reaped");
    let tally = load.stop();
    let stderr = service.stderr();
    assert!(
        stderr.contains("upgrade abandoned: the shutdown started"),
        "{stderr}"
    );
    assert_eq!(
        tally.lost(),
        0,
        "{tally}; e.g. {:?}\n{stderr}",
        tally.examples
    );
    assert!(tally.answered > 0, "{tally}");
    service.pids.clear();
}

/// Two upgrades asked for at once (while none runs) run one after the other: with the new
/// process failing, two rollbacks, two new processes, each reaped; then with it starting, the
/// first one succeeds and the second is refused by the old process, which is stopping (a line
/// says so). An upgrade asked for during the shutdown is refused, with a line, and the shutdown
/// goes on (exit 0); its PID file is removed at the exit.
#[test]
fn upgrades_asked_together_run_one_after_the_other_and_none_runs_during_the_shutdown() {
    let mut service = Upgraded::start("two");
    let address = service.address();
    let old = service.current();
    fs::write(service.file("fail"), "").unwrap();
    assert_eq!(
        try_get(address, "/upgrade?times=2"),
        Ok((200, "requested 2".to_owned()))
    );
    // Over once the old process wrote its PID file back: requests made before would join one
    // follow-up attempt.
    poll_until("two rollbacks", || {
        (service.stderr().matches("PID file written again").count() == 2).then_some(())
    });
    let stderr = service.stderr();
    assert_eq!(stderr.matches("upgrade rolled back").count(), 2, "{stderr}");
    let started: Vec<i32> = stderr
        .lines()
        .filter(|line| line.contains("upgrade: started the new process"))
        .filter_map(started_pid)
        .collect();
    assert_eq!(started.len(), 2, "{stderr}");
    assert_ne!(started[0], started[1]);
    assert!(
        started.iter().all(|&pid| gone(pid)),
        "both reaped: {started:?}"
    );
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));

    fs::remove_file(service.file("fail")).unwrap();
    assert_eq!(
        try_get(address, "/upgrade?times=2"),
        Ok((200, "requested 2".to_owned()))
    );
    let new = service.wait_for_pid_file(|pid| pid != old);
    service.pids.push(new);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    assert!(
        service
            .stderr()
            .contains("upgrade refused: this process is stopping"),
        "{}",
        service.stderr()
    );

    // The new process, draining a slow request, hears SIGUSR2: refused, said, and it stops.
    let slow = thread::spawn(move || try_get(address, "/slow?ms=1000"));
    poll_until("the slow request in flight", || {
        let line = format!("pid {new}: slow request in");
        service.stdout().contains(&line).then_some(())
    });
    service.signal(new, libc::SIGTERM);
    poll_until("the new process draining", || {
        service
            .stderr()
            .matches("shutdown triggered; readiness is now draining trigger=SIGTERM")
            .next()
            .map(|_| ())
    });
    service.signal(new, libc::SIGUSR2);
    assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
    assert_eq!(slow.join().unwrap(), Ok((200, "done".to_owned())));
    let stderr = service.stderr();
    assert!(
        stderr.contains("upgrade refused: the shutdown has started"),
        "{stderr}"
    );
    assert!(!service.file("pid").exists(), "removed at the exit");
    service.pids.clear();
}

/// Under systemd: the old process tells systemd the new one is the main process
/// (`MAINPID=<new>`) and then nothing more (no `STOPPING=1`: systemd would stop the unit); the
/// new one, which gets no `WATCHDOG_PID` of the old one, pings the watchdog as the main process.
/// A datagram socket bound by the test stands in for systemd.
#[test]
fn under_systemd_the_old_process_hands_over_mainpid_and_stays_silent_and_the_new_one_pings() {
    let name = format!("lifecycle-test-{}-upgrade", std::process::id());
    let socket = UnixDatagram::bind_addr(&UnixAddress::from_abstract_name(&name).unwrap()).unwrap();
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let (reader, heard) = (socket.try_clone().unwrap(), Arc::clone(&received));
    thread::spawn(move || {
        let mut buf = vec![0; 4096];
        while let Ok(n) = reader.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            heard.lock().unwrap().push(text);
        }
    });
    let datagrams = || received.lock().unwrap().clone();
    let env = [
        ("NOTIFY_SOCKET", format!("@{name}")),
        ("WATCHDOG_USEC", "100000".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut service = Upgraded::start_with("systemd", &env, true);
    let old = service.current();
    poll_until("the old process's watchdog pings", || {
        datagrams().iter().any(|d| d == "WATCHDOG=1").then_some(())
    });
    let code = service.upgrade();
    assert_eq!(code, 0, "{}", service.stderr());
    let new = service.current();
    let all = datagrams();
    let handed = all
        .iter()
        .position(|d| d.starts_with(&format!("MAINPID={new}\n")))
        .unwrap_or_else(|| panic!("no MAINPID={new}: {all:?}"));
    // From the hand-over to the old process's exit: nothing that would stop the unit.
    assert!(
        !all[handed..].iter().any(|d| d.contains("STOPPING=1")),
        "{:?}",
        &all[handed..]
    );
    assert!(
        all[..handed]
            .iter()
            .filter(|d| d.starts_with("READY=1"))
            .count()
            == 2,
        "{all:?}"
    );
    // The old one is gone: a ping now is the new one's.
    let seen = all.len();
    poll_until("the new process's watchdog pings", || {
        datagrams()[seen..]
            .iter()
            .any(|d| d == "WATCHDOG=1")
            .then_some(())
    });
    service.signal(new, libc::SIGTERM);
    assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
    poll_until("the new process's STOPPING=1", || {
        datagrams()[seen..]
            .iter()
            .any(|d| d.starts_with("STOPPING=1"))
            .then_some(())
    });
    let _ = old;
    service.pids.clear();
}

/// Keep-alive clients (hyper's pooled client, 16 tasks) across three upgrades: each request
/// answered. At the hand-over, the old process answers each connection's next request with
/// `Connection: close` (the client's next connection goes to the new process) and closes the
/// ones idle for a second (`HAND_OVER_LINGER`); a client that retires idle connections sooner
/// (here after 500 ms) never sends a request on one as it closes.
#[test]
fn keep_alive_clients_across_three_upgrades_get_every_answer() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use axum::body::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let mut service = Upgraded::start("keep-alive");
    let address = service.address();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicU64::new(0));
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_millis(500))
        .build_http::<Empty<Bytes>>();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, stop) = (client.clone(), Arc::clone(&stop));
            let answers = Arc::clone(&answers);
            runtime.spawn(async move {
                let (mut answered, mut failed) = (0u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let uri = format!("http://{address}/health").parse().unwrap();
                    let got = match client.get(uri).await {
                        Ok(response) => response.into_body().collect().await.map(|_| ()),
                        Err(err) => {
                            failed.push(format!("{err:?}"));
                            continue;
                        }
                    };
                    match got {
                        Ok(()) => {
                            answered += 1;
                            answers.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => failed.push(format!("body: {err:?}")),
                    }
                }
                (answered, failed)
            })
        })
        .collect();
    poll_until("keep-alive answers", || {
        (answers.load(Ordering::Relaxed) > 0).then_some(())
    });
    for round in 0..3 {
        let code = service.upgrade();
        assert_eq!(code, 0, "round {round}\n{}", service.stderr());
    }
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut failed) = (0, Vec::new());
    for client in clients {
        let (a, f) = runtime.block_on(client).unwrap();
        answered += a;
        failed.extend(f);
    }
    // The pool's connections close with the client's runtime.
    drop(client);
    drop(runtime);
    let last = service.current();
    service.signal(last, libc::SIGTERM);
    assert_eq!(exit_code(last, Duration::from_secs(10)), 0);
    eprintln!(
        "keep-alive across three upgrades: answered {answered}, failed {}",
        failed.len()
    );
    assert!(answered > 0);
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    service.pids.clear();
}

/// The variables of an upgrade reaching a process that is not the new process of its parent's
/// upgrade (inherited by a grandchild, say): `LIFECYCLE_UPGRADE_FROM` names another process than
/// its parent, so the socket at descriptor 3 is not taken (a warning says why) and the listener
/// is bound; the readiness descriptor is left alone.
#[test]
fn upgrade_variables_naming_another_parent_are_ignored_and_the_listener_bound() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let dir = ScratchDir::new("other-parent");
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = socket.local_addr().unwrap();
    let fd = socket.as_raw_fd();
    let mut command = Command::new(UPGRADER);
    command
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "http")
        .env("LIFECYCLE_UPGRADE_FROM", "1")
        .env("LIFECYCLE_UPGRADE_READY_FD", "3")
        .env("LIFECYCLE_PIDFILE", dir.path().join("pid"));
    // SAFETY: `dup2` and `fcntl` are async-signal-safe; descriptor 3 is the test's socket.
    unsafe {
        command.pre_exec(move || {
            let done = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server =
        lifecycle_tests::Service::start_command(command, lifecycle_tests::Stderr::Collect);
    let address = server.wait_for_address();
    assert_ne!(address, passed, "the passed socket must not be taken");
    assert_eq!(
        try_get(address, "/health").map(|(status, _)| status),
        Ok(200)
    );
    poll_until("Ready (the PID file)", || {
        dir.path().join("pid").exists().then_some(())
    });
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "{}", exited.stderr);
    let stderr = exited.stderr;
    assert!(
        stderr.contains("LIFECYCLE_UPGRADE_FROM names another process than this one's parent"),
        "{stderr}"
    );
}

/// A new process not Ready within `upgrade_timeout` (`LIFECYCLE_UPGRADE_TIMEOUT=300ms`; its
/// start hook takes 3 s) is killed and reaped, the old one says so and goes on serving.
#[test]
fn a_new_process_not_ready_within_the_upgrade_timeout_is_killed_and_the_old_one_serves_on() {
    let env = [("LIFECYCLE_UPGRADE_TIMEOUT", "300ms")];
    let mut service = Upgraded::start_with("timeout", &env, false);
    let address = service.address();
    let old = service.current();
    fs::write(service.file("slow"), "3000").unwrap();
    service.signal(old, libc::SIGUSR2);
    let line = poll_until("the rollback", || {
        let stderr = service.stderr();
        stderr
            .lines()
            .find(|line| line.contains("upgrade rolled back"))
            .map(str::to_owned)
    });
    assert!(line.contains("was not Ready in time; killed it"), "{line}");
    assert!(line.contains("timeout=300ms"), "{line}");
    let child = started_pid(&service.stderr()).expect("the new process's pid in the log");
    assert!(gone(child), "the killed new process {child} is reaped");
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));
    assert_eq!(
        fs::read_to_string(service.file("pid")).unwrap().trim(),
        old.to_string()
    );
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    service.pids.clear();
}

/// The new binary installed the usual way, renamed over the old one (`install`, `mv`): Linux
/// then names the running process's executable `.../app (deleted)`, and the upgrade starts the
/// file now at `.../app`.
#[test]
fn an_upgrade_after_the_binary_was_replaced_on_disk_starts_the_new_file() {
    let bin = ScratchDir::new("replaced-bin");
    let app = bin.path().join("app");
    fs::hard_link(UPGRADER, &app).unwrap();
    let mut service = Upgraded::start_program("replaced", &app, &[], false);
    // "Install" a new build: a copy, renamed over the old name.
    let new_build = bin.path().join("app.new");
    fs::copy(UPGRADER, &new_build).unwrap();
    fs::rename(&new_build, &app).unwrap();
    let old = service.current();
    let exe = fs::read_link(format!("/proc/{old}/exe")).unwrap();
    assert!(exe.to_string_lossy().ends_with(" (deleted)"), "{exe:?}");
    assert_eq!(service.upgrade(), 0, "{}", service.stderr());
    let new = service.current();
    assert_eq!(fs::read_link(format!("/proc/{new}/exe")).unwrap(), app);
    service.signal(new, libc::SIGTERM);
    assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
    service.pids.clear();
}

/// An upgrade timeout too long for the clock to add (`LIFECYCLE_UPGRADE_TIMEOUT=500000000000y`,
/// which parses) means no limit: the upgrade runs and the old process hands over and exits 0,
/// where the upgrade task used to panic (overflow when adding duration to instant), leaving the
/// new process serving beside the old one and no upgrade possible any more.
#[test]
fn an_upgrade_timeout_beyond_the_clock_is_no_limit_not_a_panic() {
    let env = [("LIFECYCLE_UPGRADE_TIMEOUT", "500000000000y")];
    let mut service = Upgraded::start_with("endless-timeout", &env, false);
    let address = service.address();
    let old = service.current();
    let code = service.upgrade();
    let stderr = service.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, 0, "{stderr}");
    let new = service.current();
    assert!(
        service.stdout().contains(&format!(
            "pid {old} stopped: upgraded: process {new} took over"
        )),
        "{}",
        service.stdout()
    );
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {new}"))));
    service.signal(new, libc::SIGTERM);
    assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
    service.pids.clear();
}

/// SIGTERM to the old process just as the new one says it is Ready (the old one stopped with
/// SIGSTOP while the new one starts, the SIGTERM sent once the new one wrote its PID file, then
/// SIGCONT: the readiness and the signal wait together). Which one the old process takes first
/// varies, and either is fine, but never both: the SIGTERM first (`pid N stopped: SIGTERM`) and
/// the new process stops too and exits 0; the readiness first (`stopped: upgraded`) and the
/// SIGTERM came after the hand-over (it cuts the old one's drain short) and the new one serves
/// on. The old process used to take the SIGTERM, then the readiness and hand over anyway: its
/// report said `trigger: SIGTERM` while the new one served on, the SIGTERM lost (about two
/// rounds in five). Five rounds.
#[test]
fn sigterm_as_the_new_process_says_ready_stops_both_or_hands_over_never_both() {
    let mut stopped_both = 0;
    for round in 0..5 {
        let mut service = Upgraded::start(&format!("term-at-ready-{round}"));
        let old = service.current();
        fs::write(service.file("slow"), "300").unwrap();
        service.signal(old, libc::SIGUSR2);
        let child = poll_until("the new process", || started_pid(&service.stderr()));
        service.signal(old, libc::SIGSTOP);
        service.pids.push(child);
        let new = service.wait_for_pid_file(|pid| pid != old);
        assert_eq!(new, child);
        service.signal(old, libc::SIGTERM);
        service.signal(old, libc::SIGCONT);
        assert_eq!(
            exit_code(old, Duration::from_secs(10)),
            0,
            "{}",
            service.stderr()
        );
        let stdout = service.stdout();
        if stdout.contains(&format!("pid {old} stopped: SIGTERM")) {
            // Reaped by the old one (stopped while it started), or adopted by this test (the
            // subreaper) once the old one exited: exited either way, not killed.
            let exited = exit_status(new, Duration::from_secs(10))
                .map(|status| libc::WIFEXITED(status))
                .or_else(|| gone(new).then_some(true));
            assert_eq!(
                exited,
                Some(true),
                "round {round}: the old process stopped at the SIGTERM, the new one {new} must stop too\n{stdout}\n{}",
                service.stderr()
            );
            stopped_both += 1;
        } else {
            assert!(
                stdout.contains(&format!(
                    "pid {old} stopped: upgraded: process {new} took over"
                )),
                "round {round}:\n{stdout}"
            );
            assert!(!gone(new), "round {round}: the new process {new} serves on");
            service.signal(new, libc::SIGTERM);
            assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
        }
        service.pids.clear();
    }
    eprintln!("the SIGTERM came first in {stopped_both} rounds of 5");
}

/// The executable deleted from disk (not replaced), then SIGUSR2: the upgrade is rolled back
/// with a line naming the file it could not start, and the old process serves on and exits 0 at
/// SIGTERM.
#[test]
fn an_upgrade_with_the_executable_deleted_is_rolled_back_naming_the_file() {
    let bin = ScratchDir::new("deleted-bin");
    let app = bin.path().join("app");
    fs::hard_link(UPGRADER, &app).unwrap();
    let service = Upgraded::start_program("deleted", &app, &[], false);
    let address = service.address();
    fs::remove_file(&app).unwrap();
    let old = service.current();
    service.signal(old, libc::SIGUSR2);
    let line = poll_until("the rollback", || {
        let stderr = service.stderr();
        stderr
            .lines()
            .find(|line| line.contains("upgrade rolled back"))
            .map(str::to_owned)
    });
    assert!(
        line.contains(&format!("cannot start `{}`", app.display())),
        "{line}"
    );
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
}

/// What `probe` gives within `limit` (polled every 5 ms), if anything.
fn within<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if started.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The pid the PID file holds, if it holds one.
fn pid_in_file(service: &Upgraded) -> Option<i32> {
    fs::read_to_string(service.file("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The new process writes its PID file once Ready, then `READY` to the old one: when the old
/// one's `upgrade_timeout` passes between the two, it kills the new one and serves on, and the
/// file named a dead process. The old process now writes its own id again at every rollback.
/// Here the new process hangs in its start hook (rolled back at `upgrade_timeout=400ms`), and the
/// test writes the new process's id into the PID file while the upgrade is pending (as the new
/// process would have just before it was killed): after the rollback the file names the old
/// process, which serves.
#[test]
fn a_rolled_back_upgrade_writes_the_old_process_back_into_the_pid_file() {
    let env = [("LIFECYCLE_UPGRADE_TIMEOUT", "400ms")];
    let mut service = Upgraded::start_with("rollback-pid-file", &env, false);
    let address = service.address();
    let old = service.current();
    fs::write(service.file("slow"), "5000").unwrap();
    service.signal(old, libc::SIGUSR2);
    let child = poll_until("the new process", || started_pid(&service.stderr()));
    fs::write(service.file("pid"), format!("{child}\n")).unwrap();
    assert!(
        !service.stderr().contains("upgrade rolled back"),
        "the PID file must be overwritten while the upgrade is pending:\n{}",
        service.stderr()
    );
    poll_until("the rollback", || {
        service
            .stderr()
            .contains("upgrade rolled back")
            .then_some(())
    });
    let named = within(Duration::from_secs(2), || {
        pid_in_file(&service).filter(|pid| *pid == old)
    });
    assert_eq!(
        (named, pid_in_file(&service)),
        (Some(old), Some(old)),
        "the PID file after the rollback (old {old}, rolled back {child}):\n{}",
        service.stderr()
    );
    assert!(gone(child), "the killed new process {child} is reaped");
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    service.pids.clear();
}

/// Requests for an upgrade made while one is attempted join one follow-up attempt: against a
/// new process that fails its start (after 400 ms), one request, then (while that attempt runs)
/// 100 calls to `lc.request_upgrade()` and 5 SIGUSR2 start two new processes in all, not 106 one
/// after the other. Each call still answers `true` (an upgrade runs after it).
#[test]
fn a_burst_of_upgrade_requests_during_an_attempt_is_one_more_attempt() {
    let mut service = Upgraded::start("burst");
    let address = service.address();
    let old = service.current();
    fs::write(service.file("fail"), "").unwrap();
    fs::write(service.file("slow"), "400").unwrap();
    assert_eq!(
        try_get(address, "/upgrade"),
        Ok((200, "requested 1".to_owned()))
    );
    poll_until("the first attempt", || started_pid(&service.stderr()));
    assert_eq!(
        try_get(address, "/upgrade?times=100"),
        Ok((200, "requested 100".to_owned()))
    );
    for _ in 0..5 {
        service.signal(old, libc::SIGUSR2);
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !service.stderr().contains("upgrade rolled back"),
        "the burst must come while the first attempt runs:\n{}",
        service.stderr()
    );
    poll_until("two rollbacks", || {
        (service.stderr().matches("upgrade rolled back").count() >= 2).then_some(())
    });
    // A third attempt would start right after the second's rollback.
    thread::sleep(Duration::from_millis(200));
    let stderr = service.stderr();
    let attempts = stderr.matches("upgrade: started the new process").count();
    let starts = fs::read_to_string(service.file("starts")).unwrap_or_default();
    assert_eq!(
        (attempts, starts.lines().count()),
        (2, 3),
        "two attempts; three processes started (the first one and two new ones): {starts:?}\n{stderr}"
    );
    assert!(
        stderr.contains("this request joins it"),
        "the joined requests are said:\n{stderr}"
    );
    assert_eq!(try_get(address, "/health"), Ok((200, format!("pid {old}"))));
    service.signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, Duration::from_secs(10)), 0);
    service.pids.clear();
}

/// The PID file is removed when its process exits, except by an old process that an upgrade
/// replaced (the file names its successor): after an upgrade the file names the new process once
/// the old one exited; after the new one's SIGTERM and exit 0, the file is gone.
#[test]
fn the_pid_file_is_removed_at_exit_but_not_by_the_process_an_upgrade_replaced() {
    let mut service = Upgraded::start("pid-file-exit");
    assert_eq!(service.upgrade(), 0, "{}", service.stderr());
    let new = service.current();
    assert_eq!(pid_in_file(&service), Some(new), "{}", service.stderr());
    service.signal(new, libc::SIGTERM);
    assert_eq!(exit_code(new, Duration::from_secs(10)), 0);
    assert!(
        !service.file("pid").exists(),
        "the PID file of {new} after its exit: {:?}\n{}",
        pid_in_file(&service),
        service.stderr()
    );
    assert!(service.stderr().contains("PID file removed"));
    service.pids.clear();
}

/// A PID file that names another process than the one exiting (another instance started with
/// the same file, say) is left as it is.
#[test]
fn a_pid_file_naming_another_process_is_left_at_exit() {
    let service = Upgraded::start("pid-file-other");
    let pid = service.current();
    fs::write(service.file("pid"), "1\n").unwrap();
    service.signal(pid, libc::SIGTERM);
    assert_eq!(exit_code(pid, Duration::from_secs(10)), 0);
    assert_eq!(pid_in_file(&service), Some(1), "{}", service.stderr());
}

/// A forced exit (a second signal during the drain, here SIGINT after SIGTERM, with a request
/// holding the drain) exits at once with 130 and removes the PID file too (a read of a few
/// bytes and an unlink on the watchdog thread, no lock, no log line).
#[test]
fn a_forced_exit_by_a_second_signal_removes_the_pid_file() {
    let service = Upgraded::start("pid-file-forced");
    let address = service.address();
    let pid = service.current();
    let slow = thread::spawn(move || try_get(address, "/slow?ms=5000"));
    poll_until("the slow request in flight", || {
        let line = format!("pid {pid}: slow request in");
        service.stdout().contains(&line).then_some(())
    });
    service.signal(pid, libc::SIGTERM);
    poll_until("the drain", || {
        service
            .stderr()
            .contains("shutdown triggered; readiness is now draining trigger=SIGTERM")
            .then_some(())
    });
    service.signal(pid, libc::SIGINT);
    assert_eq!(exit_code(pid, Duration::from_secs(2)), 130);
    assert!(
        !service.file("pid").exists(),
        "the PID file after the forced exit: {:?}\n{}",
        pid_in_file(&service),
        service.stderr()
    );
    let _ = slow.join();
}
