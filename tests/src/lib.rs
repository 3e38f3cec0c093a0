//! Helpers for the end-to-end tests: start a real child process, read its output line by line
//! with a bound, send it real signals, and never leave it running when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for any one thing a child should do. Generous: CI machines are slow and
/// noisy, and a test that is right waits far less.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A child process under test. Dropping it kills the process, so a failed assertion never leaves
/// a service running.
pub struct Service {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Service {
    /// Starts `program` with `args` and extra environment variables; stdout is read line by line,
    /// stderr is collected.
    pub fn start(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(program.as_ref());
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", program.as_ref().display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most [`PATIENCE`]) for a stdout line satisfying `matches`, and returns it.
    pub fn wait_for_line(&mut self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no matching line within {PATIENCE:?}; saw {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed before a matching line; saw {:?}", self.seen)
                }
            }
        }
    }

    /// Waits for the exact line `expected`.
    pub fn wait_for(&mut self, expected: &str) {
        self.wait_for_line(|line| line == expected);
    }

    /// Sends a signal by name (`TERM`, `INT`, `QUIT`, `HUP`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits (at most [`PATIENCE`]) for the process to exit. Returns its status, every stdout line
    /// (including those already read) and its stderr.
    pub fn wait_exit(mut self) -> Exited {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the process did not exit within {PATIENCE:?}; stdout so far: {:?}",
                self.seen
            );
            thread::sleep(Duration::from_millis(5));
        };
        let exited_after = started.elapsed();
        let mut stdout = std::mem::take(&mut self.seen);
        stdout.extend(self.lines.try_iter());
        // The reader thread ends at EOF; collect anything it had not sent yet.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            stdout.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default();
        Exited {
            status,
            stdout,
            stderr,
            exited_after,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a child process ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Every line it printed on stdout.
    pub stdout: Vec<String>,
    /// Everything it printed on stderr (the shutdown report, when it has no tracing subscriber).
    pub stderr: String,
    /// Time from the call to `wait_exit` until the exit was seen.
    pub exited_after: Duration,
}

impl Exited {
    /// The exit code; fails the test if the process was killed by a signal instead.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "killed by a signal, not exited: {:?}\nstderr:\n{}",
                self.status, self.stderr
            )
        })
    }

    /// The stdout lines that start with `prefix`, in order.
    pub fn lines_starting_with(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .iter()
            .filter(|line| line.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}
