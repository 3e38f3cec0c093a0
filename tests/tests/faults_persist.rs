//! The persistence rows of the fault matrix, on real processes: what a user's state file goes
//! through when the disk is full, when the file is damaged or is not a file at all, when two
//! processes share a state directory, and when a shutdown is cut short by SIGKILL.
//!
//! Each test is named after its row. They use the example apps (`example-*`) and two fixtures:
//! `checkpointer` (a 1 MiB checkpoint with a checksum, saved every millisecond) and
//! `persist_reader` (calls `lifecycle::state_file::read_state` in a loop).
#![cfg(unix)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lifecycle_tests::{checkpoint, ScratchDir, Service};

const HTTP_SERVER: &str = env!("CARGO_BIN_EXE_example-http_server");
const WORKERS: &str = env!("CARGO_BIN_EXE_example-workers");
const BATCH: &str = env!("CARGO_BIN_EXE_example-batch");
const CHECKPOINTER: &str = env!("CARGO_BIN_EXE_checkpointer");
const PERSIST_READER: &str = env!("CARGO_BIN_EXE_persist_reader");

/// A start-up that refuses must do so at once: well inside this, on a loaded CI machine.
const PROMPT: Duration = Duration::from_secs(10);

/// The exit code of a Rust panic that unwinds out of `main`: what a user must never see.
const PANIC_EXIT: i32 = 101;

/// The variables that make the HTTP example quick to start and stop in a test.
fn http_env(state_dir: &str) -> Vec<(&str, &str)> {
    vec![
        ("PORT", "0"),
        ("STATE_DIR", state_dir),
        ("LIFECYCLE_DRAIN_DELAY", "0s"),
    ]
}

/// Starts `program`, waits for it to exit by itself, and checks that it refused to start the way
/// a user can act on: promptly, with a failure exit code that is not a panic, and with a message
/// on stderr that names `path` and contains `why`.
fn assert_refuses(program: &str, env: &[(&str, &str)], path: &Path, why: &str) {
    let exited = Service::start(program, &[], env).wait_exit();
    let code = exited.code();
    assert!(
        code != 0 && code != PANIC_EXIT,
        "{program}: exit code {code}; stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.exited_after < PROMPT,
        "{program}: took {:?} to refuse",
        exited.exited_after
    );
    let path = path.display().to_string();
    assert!(
        exited.stderr.contains(&path) && exited.stderr.contains(why),
        "{program}: the message should name `{path}` and say `{why}`; stderr:\n{}",
        exited.stderr
    );
}

/// Creates a sparse file of `len` bytes: huge, yet it costs no disk.
fn sparse_file(path: &Path, len: u64) {
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

const HUGE: u64 = 1 << 30;

// ===== a state directory that does not exist yet =====

#[test]
fn missing_state_dir_is_created_at_start_up() {
    let scratch = ScratchDir::new("persist-missing-dir");
    let dir = scratch.path().join("not").join("yet");
    let dir_str = dir.to_str().unwrap();

    // http_server: serves, is stopped, and its shutdown save lands in the new directory.
    let mut server = Service::start(HTTP_SERVER, &[], &http_env(dir_str));
    server.wait_for_address();
    // Ready (a SIGTERM before that would be a failed start-up, exit 5).
    server.wait_for("ready: the pool is connected and the listener bound");
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        fs::read_to_string(dir.join("http_server.counter")).unwrap(),
        "served 0\n"
    );

    // workers: runs its two jobs, and saves the (empty) queue there too.
    let dir = scratch.path().join("workers").join("state");
    let env = [
        ("STATE_DIR", dir.to_str().unwrap()),
        ("JOBS", "2"),
        ("JOB_MS", "0"),
    ];
    let exited = Service::start(WORKERS, &[], &env).wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(fs::read_to_string(dir.join("workers.queue")).unwrap(), "");

    // batch: the lock and the export go there.
    let dir = scratch.path().join("batch").join("state");
    let exited = Service::start(BATCH, &[], &[("STATE_DIR", dir.to_str().unwrap())]).wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(dir.join("export.csv").is_file());
}

#[test]
fn state_dir_that_cannot_be_created_refuses_to_start() {
    let scratch = ScratchDir::new("persist-dir-blocked");
    // A regular file where the directory should be.
    let blocker = scratch.path().join("occupied");
    fs::write(&blocker, "not a directory").unwrap();
    let dir = blocker.join("state");
    let dir_str = dir.to_str().unwrap();

    assert_refuses(HTTP_SERVER, &http_env(dir_str), &dir, "STATE_DIR");
    assert_refuses(WORKERS, &[("STATE_DIR", dir_str)], &dir, "STATE_DIR");
    assert_refuses(BATCH, &[("STATE_DIR", dir_str)], &dir, "STATE_DIR");
}

// ===== persist on a full filesystem =====

/// A small tmpfs mounted for one test, unmounted when dropped (even when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`; `Err` says why not.
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|err| format!("cannot run mount: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a filler file until the file system says it is full.
fn fill(dir: &Path) {
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    let block = [0xA5_u8; 4096];
    loop {
        match filler.write_all(&block).and_then(|()| filler.sync_all()) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(28) => return, // ENOSPC
            Err(err) => panic!("filling {}: {err}", dir.display()),
        }
    }
}

#[test]
fn persist_on_a_full_filesystem() {
    let scratch = ScratchDir::new("persist-enospc");
    let mount_point = scratch.path().join("small");
    fs::create_dir(&mount_point).unwrap();
    // Declared after `scratch`, so it is unmounted before the directory is removed.
    let _tmpfs = match Tmpfs::mount(&mount_point, "64k") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("skipped: needs a tmpfs mount (root in CI): {why}");
            return;
        }
    };
    // The queue the last run left: 20 jobs. Then the disk fills up.
    let queue = mount_point.join("workers.queue");
    let previous: String = (1..=20).map(|job| format!("{job}\n")).collect();
    fs::write(&queue, &previous).unwrap();
    fill(&mount_point);

    let mut workers = Service::start(
        WORKERS,
        &[],
        &[
            ("STATE_DIR", mount_point.to_str().unwrap()),
            ("JOB_MS", "200"),
        ],
    );
    workers.wait_for_line(|line| line.starts_with("restored 20 jobs from "));
    workers.wait_for_line(|line| line.ends_with("workers started"));
    // Stopped after its first jobs: the jobs left must be saved, and there is no room.
    workers.signal("TERM");
    let exited = workers.wait_exit();

    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_HOOK_FAILED),
        "stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("No space left on device")
            && exited.stderr.contains(queue.to_str().unwrap()),
        "the report names the error and the file; stderr:\n{}",
        exited.stderr
    );
    assert_eq!(
        fs::read_to_string(&queue).unwrap(),
        previous,
        "the previous queue is intact"
    );
    let mut names: Vec<_> = fs::read_dir(&mount_point)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["filler", "workers.queue"], "no temporary file left");
}

// ===== corrupt, empty and huge state files at start-up =====

#[test]
fn corrupt_empty_and_huge_state_files_at_start_up_http_server() {
    let scratch = ScratchDir::new("persist-bad-counter");
    let counter = scratch.path().join("http_server.counter");
    let env = http_env(scratch.as_str());

    // Documented: anything but `served N` refuses the start, naming the file.
    fs::write(&counter, "served lots\n").unwrap();
    assert_refuses(HTTP_SERVER, &env, &counter, "is not a counter file");
    fs::write(&counter, "").unwrap();
    assert_refuses(HTTP_SERVER, &env, &counter, "is not a counter file");
    fs::write(&counter, [0xFF, 0xFE, 0x00, b'\n']).unwrap();
    assert_refuses(HTTP_SERVER, &env, &counter, "is not a counter file");
    sparse_file(&counter, HUGE);
    assert_refuses(HTTP_SERVER, &env, &counter, "more than the limit");
    // The refusals left the file as it was: the operator decides.
    assert_eq!(fs::metadata(&counter).unwrap().len(), HUGE);
}

#[test]
fn corrupt_empty_and_huge_state_files_at_start_up_workers() {
    let scratch = ScratchDir::new("persist-bad-queue");
    let queue = scratch.path().join("workers.queue");
    let env = [("STATE_DIR", scratch.as_str())];

    // Documented: a line that is not a job id refuses the start, naming the file and the line.
    fs::write(&queue, "1\n2\nthree\n").unwrap();
    assert_refuses(WORKERS, &env, &queue, "is not a queue file");
    sparse_file(&queue, HUGE);
    assert_refuses(WORKERS, &env, &queue, "more than the limit");

    // Documented: an empty queue file is a queue with no jobs left; the run has nothing to do.
    fs::write(&queue, "").unwrap();
    let exited = Service::start(WORKERS, &[], &env).wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stdout
            .iter()
            .any(|line| line.starts_with("restored 0 jobs")),
        "{:?}",
        exited.stdout
    );
}

#[test]
fn corrupt_empty_and_huge_state_files_at_start_up_batch() {
    // Documented: batch never reads its export; a damaged one from an earlier run is replaced
    // whole by the next run.
    let scratch = ScratchDir::new("persist-bad-export");
    let export = scratch.path().join("export.csv");
    let env = [("STATE_DIR", scratch.as_str()), ("ROWS", "300")];
    for damage in ["corrupt", "empty", "huge"] {
        match damage {
            "corrupt" => fs::write(&export, [0xFF, 0x00, 0x13]).unwrap(),
            "empty" => fs::write(&export, "").unwrap(),
            _ => sparse_file(&export, HUGE),
        }
        let exited = Service::start(BATCH, &[], &env).wait_exit();
        assert_eq!(exited.code(), 0, "{damage}: stderr:\n{}", exited.stderr);
        let csv = fs::read_to_string(&export).unwrap();
        assert_eq!(csv.lines().count(), 301, "{damage}: a header and every row");
    }
}

// ===== a state path that is not a regular file =====

#[test]
fn state_path_is_a_fifo() {
    let scratch = ScratchDir::new("persist-fifo");
    let counter = scratch.path().join("http_server.counter");
    let status = Command::new("mkfifo").arg(&counter).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    assert_refuses(
        HTTP_SERVER,
        &http_env(scratch.as_str()),
        &counter,
        "not a regular file",
    );

    let queue = scratch.path().join("workers.queue");
    let status = Command::new("mkfifo").arg(&queue).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    assert_refuses(
        WORKERS,
        &[("STATE_DIR", scratch.as_str())],
        &queue,
        "not a regular file",
    );
}

#[test]
fn state_path_is_dev_zero() {
    let scratch = ScratchDir::new("persist-dev-zero");
    let counter = scratch.path().join("http_server.counter");
    std::os::unix::fs::symlink("/dev/zero", &counter).unwrap();
    assert_refuses(
        HTTP_SERVER,
        &http_env(scratch.as_str()),
        &counter,
        "not a regular file",
    );

    let queue = scratch.path().join("workers.queue");
    std::os::unix::fs::symlink("/dev/zero", &queue).unwrap();
    assert_refuses(
        WORKERS,
        &[("STATE_DIR", scratch.as_str())],
        &queue,
        "not a regular file",
    );
}

// ===== two processes on one state directory =====

#[test]
fn live_writer_temp_files_are_not_deleted() {
    const WRITES: usize = 2000;
    let scratch = ScratchDir::new("persist-live-writer");
    let path = scratch.path().join("shared.state");
    lifecycle::state_file::write_atomic(&path, "generation 0").unwrap();

    // Another process keeps reading the state, as a new instance does at start-up during a
    // rolling restart, while this one keeps saving it.
    let mut reader = Service::start(PERSIST_READER, &[path.to_str().unwrap()], &[]);
    reader.wait_for("reading");
    let mut failures = Vec::new();
    for generation in 1..=WRITES {
        if let Err(err) =
            lifecycle::state_file::write_atomic(&path, format!("generation {generation}"))
        {
            failures.push(err.to_string());
        }
    }
    let reader = reader.kill();
    assert!(
        failures.is_empty(),
        "{} of {WRITES} writes failed while another process read the state; first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        !reader.stdout.iter().any(|line| line.starts_with("error")),
        "the reader saw errors: {:?}",
        reader.stdout
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("generation {WRITES}")
    );
}

// ===== SIGKILL in the middle of a SIGTERM shutdown =====

/// A small deterministic generator, so that a failing trial can be replayed from its number.
fn delay_for(trial: u64, max: Duration) -> Duration {
    let mut x = trial.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    Duration::from_micros(x % (max.as_micros() as u64 + 1))
}

#[test]
fn sigkill_at_random_points_of_a_sigterm_shutdown() {
    const TRIALS: u64 = 50;
    // The checkpointer's final save (1 MiB, fsynced) ends within a few milliseconds of SIGTERM;
    // kills spread over 0-40 ms land before, during and after it.
    const MAX_DELAY: Duration = Duration::from_millis(40);
    let started = Instant::now();
    let state = ScratchDir::new("persist-term-kill");
    let path = state.path().join(checkpoint::FILE_NAME);
    let mut on_disk: Option<u64> = None;
    let (mut killed_mid_shutdown, mut killed_mid_write, mut exited_first) = (0, 0, 0);

    for trial in 0..TRIALS {
        let mut service = Service::start(CHECKPOINTER, &[], &[("STATE_DIR", state.as_str())]);
        let restored = service.wait_for_line(|line| {
            line.starts_with("restored generation ") || line == "no checkpoint yet"
        });
        let restored = restored
            .strip_prefix("restored generation ")
            .map(|generation| generation.parse::<u64>().expect("generation"));
        assert_eq!(restored, on_disk, "trial {trial}: restored what is on disk");
        // Under load: it has saved at least once and keeps saving every millisecond.
        service.wait_for_line(|line| line.starts_with("saved generation "));

        service.signal("TERM");
        std::thread::sleep(delay_for(trial, MAX_DELAY));
        let exited = service.kill();
        match (exited.killed_by(), exited.status.code()) {
            (Some(9), _) => {
                killed_mid_shutdown += 1;
                let last_line = exited.stdout.last().map_or("", String::as_str);
                killed_mid_write += usize::from(last_line.starts_with("saving "));
            }
            (None, Some(0)) => exited_first += 1,
            _ => panic!(
                "trial {trial}: ended by {:?}; stderr:\n{}",
                exited.status, exited.stderr
            ),
        }
        let last_reported = exited
            .stdout
            .iter()
            .filter_map(|line| line.strip_prefix("saved generation "))
            .map(|generation| generation.parse::<u64>().expect("generation"))
            .max()
            .expect("at least one save was reported");

        let file = fs::read(&path)
            .unwrap_or_else(|err| panic!("trial {trial}: no state file after the kill: {err}"));
        let generation = checkpoint::decode(&file)
            .unwrap_or_else(|err| panic!("trial {trial}: the state file is torn: {err}"));
        assert!(
            generation >= last_reported,
            "trial {trial}: the file holds generation {generation}, older than the last \
             reported save {last_reported}"
        );
        on_disk = Some(generation);
    }
    eprintln!(
        "measured: {TRIALS} trials in {:?}: {killed_mid_shutdown} killed during the shutdown \
         ({killed_mid_write} of them in the middle of a save), {exited_first} exited before the kill",
        started.elapsed()
    );
}
