//! Helpers for the end-to-end tests: start a real child process, read its output line by line
//! with a bound, send it real signals, and never leave it running when a test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
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
    /// With [`Stderr::Full`]: the read end of the child's stderr, kept open and never read.
    unread_stderr: Option<ChildStderr>,
}

/// What the test does with a child's standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Read it all; [`Exited::stderr`] holds it.
    Collect,
    /// A pipe whose read end is closed at once: every write fails with `EPIPE`.
    Closed,
    /// A pipe kept open and never read: once about 64 KiB are written, writes block.
    Full,
}

impl Service {
    /// Starts `program` with `args` and extra environment variables; stdout is read line by line,
    /// stderr is collected.
    pub fn start(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with_stderr(program, args, env, Stderr::Collect)
    }

    /// Like [`start`](Self::start), with standard error treated as `stderr` says.
    pub fn start_with_stderr(
        program: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stderr,
    ) -> Self {
        let mut command = Command::new(program.as_ref());
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::start_command(command, stderr)
    }

    /// Starts a command prepared by the caller (with a `pre_exec`, say); stdin is null, stdout
    /// is read line by line, stderr treated as `stderr` says.
    pub fn start_command(mut command: Command, stderr: Stderr) -> Self {
        let mode = stderr;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Never the service manager the test runner itself may run under (only the one a test
        // sets).
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if !command.get_envs().any(|(set, _)| set == key) {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "could not start {}: {err}",
                command.get_program().to_string_lossy()
            )
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (stderr, unread_stderr) = match mode {
            Stderr::Collect => {
                let mut stderr = stderr;
                let reader = thread::spawn(move || {
                    let mut text = String::new();
                    let _ = stderr.read_to_string(&mut text);
                    text
                });
                (Some(reader), None)
            }
            Stderr::Closed => {
                drop(stderr);
                (None, None)
            }
            Stderr::Full => (None, Some(stderr)),
        };
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            unread_stderr,
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

    /// Sends the signal `name` `times` times, back to back: one shell runs its builtin `kill` in a
    /// loop, so the deliveries land microseconds apart; between two of them the shell counts to
    /// `spin` (about 1.3 µs a step with dash). Errors (the process already gone) are ignored.
    pub fn signal_burst(&self, name: &str, times: usize, spin: usize) {
        let script = format!(
            "i=0; while [ $i -lt {times} ]; do \
               [ $i -gt 0 ] && {{ j=0; while [ $j -lt {spin} ]; do j=$((j+1)); done; }}; \
               kill -s {name} {pid} 2>/dev/null; i=$((i+1)); \
             done; exit 0",
            pid = self.pid()
        );
        let status = Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("run sh");
        assert!(status.success(), "{script} failed");
    }

    /// Whether the process is still running (it is reaped if it has exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
    pub fn wait_exit(self) -> Exited {
        self.wait_exit_within(PATIENCE)
    }

    /// Like [`wait_exit`](Self::wait_exit), but fails the test (and kills the process) when it
    /// is still running after `limit`.
    pub fn wait_exit_within(mut self, limit: Duration) -> Exited {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() >= limit {
                self.seen.extend(self.lines.try_iter());
                panic!(
                    "the process was still running {limit:?} later; stdout so far: {:?}",
                    self.seen
                );
            }
            thread::sleep(Duration::from_millis(2));
        };
        drop(self.unread_stderr.take());
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

impl Service {
    /// Waits (at most [`PATIENCE`]) for the line `listening on ADDRESS` that the HTTP examples
    /// print once bound, and returns the address.
    pub fn wait_for_address(&mut self) -> std::net::SocketAddr {
        let line = self.wait_for_line(|line| line.starts_with("listening on "));
        let address = &line["listening on ".len()..];
        address
            .parse()
            .unwrap_or_else(|err| panic!("`{address}` is not an address: {err}"))
    }

    /// Sends SIGKILL (directly, with no `kill` process in between, so it lands within
    /// microseconds of the call) and waits for the process to die. Returns what
    /// [`wait_exit`](Self::wait_exit) returns.
    pub fn kill(mut self) -> Exited {
        self.child.kill().expect("SIGKILL");
        self.wait_exit()
    }
}

impl Exited {
    /// The signal that ended the process, if one did.
    #[cfg(unix)]
    pub fn killed_by(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(&self.status)
    }
}

/// A directory of its own for one test, emptied at the start and removed when dropped.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// `<temp>/lifecycle-e2e-<pid>-<name>`, fresh and empty.
    pub fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("lifecycle-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("creating {}: {err}", path.display()));
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as a `&str`, for an environment variable.
    pub fn as_str(&self) -> &str {
        self.0
            .to_str()
            .expect("temporary directory paths are UTF-8")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The checkpoint format of the `checkpointer` fixture: a header line with the generation, the
/// payload's length and its checksum, then a payload derived from the generation. A torn write
/// (short, or old and new bytes mixed) fails [`decode`](checkpoint::decode).
pub mod checkpoint {
    /// The file the fixture writes in `STATE_DIR`.
    pub const FILE_NAME: &str = "ledger.ckpt";

    /// Large enough that writing it takes a while, so a kill often lands in the middle of a write.
    pub const PAYLOAD_LEN: usize = 1024 * 1024;

    const BLOCK: usize = 4096;

    /// A word from the generation, repeated; each 4 KiB block also carries its own index, so a
    /// block from another generation or another place shows.
    fn payload(generation: u64) -> Vec<u8> {
        let word = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
        let mut payload = word.repeat(PAYLOAD_LEN / word.len());
        for (index, block) in payload.chunks_mut(BLOCK).enumerate() {
            block[..8].copy_from_slice(&(index as u64 ^ generation).to_le_bytes());
        }
        payload
    }

    /// FNV-1a over 64-bit words (and the tail's bytes).
    fn checksum(bytes: &[u8]) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut words = bytes.chunks_exact(8);
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            hash = (hash ^ word).wrapping_mul(PRIME);
        }
        for &byte in words.remainder() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        hash
    }

    /// The whole file for `generation`.
    pub fn encode(generation: u64) -> Vec<u8> {
        let payload = payload(generation);
        let mut file = format!(
            "ledger v1 generation={generation} length={} checksum={:016x}\n",
            payload.len(),
            checksum(&payload)
        )
        .into_bytes();
        file.extend_from_slice(&payload);
        file
    }

    /// The generation of a whole file, or what is wrong with it.
    pub fn decode(file: &[u8]) -> Result<u64, String> {
        let newline = file
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or_else(|| format!("torn: no header line in {} bytes", file.len()))?;
        let header = std::str::from_utf8(&file[..newline])
            .map_err(|_| "the header is not UTF-8".to_owned())?;
        let payload = &file[newline + 1..];
        if !header.starts_with("ledger v1 ") {
            return Err(format!("unknown header `{header}`"));
        }
        let field = |name: &str| {
            header
                .split(' ')
                .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| format!("no `{name}` in header `{header}`"))
        };
        let generation: u64 = field("generation")?
            .parse()
            .map_err(|_| format!("bad generation in `{header}`"))?;
        let length: usize = field("length")?
            .parse()
            .map_err(|_| format!("bad length in `{header}`"))?;
        if payload.len() != length {
            return Err(format!(
                "torn: the header says {length} bytes, the file has {}",
                payload.len()
            ));
        }
        let sum = format!("{:016x}", checksum(payload));
        if field("checksum")? != sum {
            return Err(format!("torn: checksum {sum} does not match `{header}`"));
        }
        if payload != self::payload(generation).as_slice() {
            return Err(format!("the payload is not generation {generation}'s"));
        }
        Ok(generation)
    }
}

/// Calls `probe` every 10 ms until it returns `Some`, and returns that; fails the test with
/// `what` if that takes longer than [`PATIENCE`]. The way to wait for something the test cannot
/// be told about (never a bare sleep).
pub fn poll_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// One `GET` with `Connection: close`: the status and the body, or what went wrong.
pub fn try_get(address: std::net::SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|err| format!("connect to {address}: {err}"))?;
    stream
        .set_read_timeout(Some(PATIENCE))
        .map_err(|err| err.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .map_err(|err| format!("send GET {path}: {err}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|err| format!("GET {path}: {err}; read so far: {response:?}"))?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

pub mod churn;

/// A TCP dependency the test opens and closes: a listener on `127.0.0.1` that accepts and drops
/// every connection from a thread of its own. Closed, a connect to its address is refused;
/// opened again, it listens on the same address.
pub struct Dependency {
    address: std::net::SocketAddr,
    running: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        thread::JoinHandle<()>,
    )>,
}

impl Dependency {
    /// Listens on a free port.
    pub fn open() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the dependency");
        let address = listener.local_addr().expect("its address");
        let mut dependency = Self {
            address,
            running: None,
        };
        dependency.serve(listener);
        dependency
    }

    /// Where it listens (or listened).
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Stops listening: connects are refused from when this returns.
    pub fn close(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            thread.join().expect("the accept thread");
        }
    }

    /// Listens again on the same address (std sets `SO_REUSEADDR`).
    pub fn reopen(&mut self) {
        self.close();
        let listener =
            std::net::TcpListener::bind(self.address).expect("bind the dependency again");
        self.serve(listener);
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => drop(stream),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some((stop, thread));
    }
}

impl Drop for Dependency {
    fn drop(&mut self) {
        self.close();
    }
}
