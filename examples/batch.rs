//! A batch job that ends by itself: an export run by a scheduler (a Kubernetes CronJob, cron, CI).
//!
//! What it shows:
//!
//! - the main body returning is a shutdown trigger like a signal: the persist hook and the
//!   shutdown hooks still run, in order, and the exit code tells the scheduler how it went;
//! - a hook that fails does not stop the others (the lock is still released) and turns into exit
//!   code 3 (`lifecycle::exit::EXIT_HOOK_FAILED`), with the failing hook named in the report on stderr;
//! - a SIGTERM half way (the scheduler gave up) stops the job between two chunks: `main` returns
//!   an error (exit code 1) and the export is not written, so no half file is ever published.
//!
//! ```text
//! STATE_DIR=/tmp cargo run -p lifecycle-examples --bin batch; echo "exit code $?"
//! STATE_DIR=/tmp FAIL_HOOK=1 cargo run -p lifecycle-examples --bin batch; echo "exit code $?"
//! ```
//!
//! Environment: `ROWS` (rows to export, 1000), `CHUNK_MS` (time per chunk of 100 rows, 0),
//! `FAIL_HOOK=1` (the notification hook fails), `STATE_DIR` (where `batch.lock` and `export.csv`
//! go, `.`). The report goes to stderr (no `tracing` subscriber is installed). A run killed with
//! SIGKILL cannot release its lock: remove `batch.lock` by hand before the next one.
//!
//! State: `STATE_DIR` is created at start-up if missing; if it cannot be, the job does not start
//! (exit code 1, the path named). The export is only ever written, never read: one left damaged,
//! empty or huge by something else is replaced whole by the next complete run.
//!
//! Its expansion, the code the attributes generate, is in `expanded/batch.rs`.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lifecycle::Lifecycle;

/// A lock file, so that two runs of the job never overlap. Released by the last hook.
struct RunLock {
    path: PathBuf,
}

impl RunLock {
    fn acquire(path: PathBuf) -> io::Result<Self> {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => Ok(Self { path }),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
                err.kind(),
                format!("{} exists: another run is under way", path.display()),
            )),
            Err(err) => Err(err),
        }
    }
}

#[lifecycle::component]
impl RunLock {
    /// Order 100: after every other hook, whether they succeeded or not.
    #[on_shutdown(order = 100)]
    fn release(&self) -> io::Result<()> {
        fs::remove_file(&self.path)?;
        println!("hook release-lock: removed {}", self.path.display());
        Ok(())
    }
}

/// The rows computed so far, written out as one file when the job is complete.
struct Export {
    rows: Mutex<Vec<String>>,
    expected: usize,
    path: PathBuf,
}

#[lifecycle::component]
impl Export {
    /// Persist hooks run before the shutdown hooks: the export exists before anyone is told.
    #[persist(timeout = "10s")]
    fn save(&self) -> io::Result<()> {
        let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        if rows.len() < self.expected {
            println!(
                "hook save-export: skipped, only {} of {} rows",
                rows.len(),
                self.expected
            );
            return Ok(());
        }
        let mut csv = String::from("n,square\n");
        for row in rows.iter() {
            csv.push_str(row);
            csv.push('\n');
        }
        lifecycle::state_file::write_atomic(&self.path, csv)?;
        println!(
            "hook save-export: wrote {} rows to {}",
            rows.len(),
            self.path.display()
        );
        Ok(())
    }
}

/// Tells downstream that a new export is there. Order 10: before the lock is released.
#[lifecycle::on_shutdown(order = 10, timeout = "2s")]
async fn notify() -> Result<(), String> {
    if std::env::var("FAIL_HOOK").is_ok_and(|value| value == "1") {
        println!("hook notify: failed");
        return Err("notification endpoint refused the request (FAIL_HOOK=1)".to_owned());
    }
    println!("hook notify: downstream told");
    Ok(())
}

fn env_number(name: &str, default: u64) -> io::Result<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} must be a whole number, not `{value}`"),
            )
        }),
    }
}

/// `STATE_DIR` (default `.`), created now if it is missing: a path that cannot hold the lock and
/// the export stops the job before it computes anything.
fn state_dir() -> io::Result<PathBuf> {
    let dir = PathBuf::from(std::env::var("STATE_DIR").unwrap_or_else(|_| ".".into()));
    fs::create_dir_all(&dir).map_err(|err| {
        let message = format!("cannot create STATE_DIR `{}`: {err}", dir.display());
        io::Error::new(err.kind(), message)
    })?;
    Ok(dir)
}

#[lifecycle::main(grace = "30s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let total = env_number("ROWS", 1000)? as usize;
    let chunk_time = Duration::from_millis(env_number("CHUNK_MS", 0)?);
    let state_dir = state_dir()?;

    lc.manage(Arc::new(RunLock::acquire(state_dir.join("batch.lock"))?));
    let export = Arc::new(Export {
        rows: Mutex::new(Vec::with_capacity(total)),
        expected: total,
        path: state_dir.join("export.csv"),
    });
    lc.manage(export.clone());
    // The start boundary: every value managed above has its start hooks run now, and this
    // returns once they did (false if one failed: the report says which).
    if !lc.started().await {
        return Ok(());
    }

    for start in (1..=total).step_by(100) {
        if lc.token().is_cancelled() {
            let done = start - 1;
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                format!("stopped by the shutdown after {done} of {total} rows"),
            ));
        }
        let end = (start + 99).min(total);
        let chunk: Vec<String> = (start..=end).map(|n| format!("{n},{}", n * n)).collect();
        tokio::time::sleep(chunk_time).await;
        export
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(chunk);
    }
    println!("main: computed {total} rows");
    Ok(())
}
