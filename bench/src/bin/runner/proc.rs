//! Starting contender processes, waiting for their `ready` line, signalling them, timing exits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Binds the process `command` starts to CPU `cpu`, from before its first instruction.
pub fn pin(command: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // sched_setaffinity, which is async-signal-safe; the set lives on its stack.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A running contender. Killed on drop.
pub struct Proc {
    pub child: Child,
    /// What followed `ready ` (or the whole matching line): usually the listening address.
    pub addr: String,
}

impl Proc {
    /// Starts `bin` with `env` and waits (at most 30 s) for a stdout line containing `marker`.
    /// stdout is drained in the background afterwards so the child never blocks on it.
    pub fn start(bin: &Path, env: &[(&str, String)], marker: &str) -> Proc {
        Proc::start_on(bin, env, marker, None)
    }

    /// [`Proc::start`], the process bound to one CPU when `cpu` is given (before it runs, so a
    /// Tokio runtime in it sees one CPU and starts one worker).
    pub fn start_on(bin: &Path, env: &[(&str, String)], marker: &str, cpu: Option<usize>) -> Proc {
        let mut command = Command::new(bin);
        if let Some(cpu) = cpu {
            pin(&mut command, cpu);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // BENCH_KEEP_STDERR=DIR keeps each contender's stderr (its shutdown report) for profiling.
        if let Some(dir) = std::env::var_os("BENCH_KEEP_STDERR") {
            let name = bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = Path::new(&dir).join(format!("{name}.err"));
            if let Ok(file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                command.stderr(file);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", bin.display()));
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        let wanted = marker.to_owned();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(at) = line.find(&wanted) {
                        let rest = line[at + wanted.len()..].trim().to_owned();
                        let _ = tx.send(rest);
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} never printed `{marker}`", bin.display()));
        Proc { child, addr }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` and returns the time until the process was reaped, and its status.
    pub fn signal_and_time_exit(&mut self, signal: i32) -> (Duration, ExitStatus) {
        let start = Instant::now();
        send(self.pid(), signal);
        let status = self.child.wait().expect("wait");
        (start.elapsed(), status)
    }

    /// Waits for the exit (at most 60 s).
    pub fn wait(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn send(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Raises the open-file limit to the hard limit (children inherit it): the drain scenario holds
/// 10,000 connections.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit write to and read from the struct we own.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        limit.rlim_cur
    }
}
