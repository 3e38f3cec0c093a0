//! Saving state so that a crash at any instant leaves the old file or the new one, never a torn
//! one, and reading it back at the next start without trusting what is on disk.
//!
//! [`write_atomic`] writes a temporary file beside the target, flushes it to disk, renames it over
//! the target and flushes the directory. Rename within one directory is atomic on POSIX file
//! systems and on NTFS, so a reader (or the next start after a SIGKILL or power loss) sees either
//! the complete old contents or the complete new ones.
//!
//! [`read_state`] (and [`read_state_limited`]) read such a file back. They read only regular
//! files, never more than a size limit, and never block on a FIFO or a device; every error names
//! the file and what was wrong with it.
//!
//! Both do blocking file I/O. Called on a worker thread of a multi-thread Tokio runtime, they run
//! it through [`tokio::task::block_in_place`], so the worker's other tasks move to another thread
//! meanwhile; anywhere else (a plain thread, the blocking pool, a current-thread runtime) they run
//! it on the calling thread.

mod error;
mod stale;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most [`read_state`] reads: 16 MiB. A larger state file is refused with an error rather
/// than read into memory; [`read_state_limited`] takes another limit.
///
/// State read at start-up is read whole into memory, before the service is ready: 16 MiB keeps
/// that short and well inside a small container's memory, and is far above what a counter, a
/// queue or a set of offsets take.
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::state_file::DEFAULT_STATE_LIMIT, 16 * 1024 * 1024);
/// ```
pub const DEFAULT_STATE_LIMIT: u64 = 16 * 1024 * 1024;

use self::error::{describe, Problem, StateFileError, Step};
use self::stale::remove_stale_temps;

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` with `contents`, atomically and durably.
///
/// Steps: write `contents` to a new temporary file `.<name>.<pid>.<n>.tmp` in the same directory,
/// `fsync` it, rename it over `path`, then `fsync` the directory so the rename itself survives a
/// power loss. On error the temporary file is removed and `path` is left as it was: a full disk
/// (`ENOSPC`), a quota or an I/O error never costs the previous state.
///
/// What it expects:
///
/// - `path`'s directory exists and is writable: it is not created (create it at start-up, so a
///   missing directory is found then, not at the first save);
/// - the temporary file and `path` are in one directory, hence one file system, which is what
///   makes the rename atomic. If `path` is a symbolic link, the link itself is replaced, not the
///   file it points to;
/// - the disk has room for the whole new file beside the old one until the rename.
///
/// Writers in several processes may share a directory: each one's temporary files carry its
/// PID, and the last rename wins. [`read_state`] in another process leaves them alone.
///
/// Blocking I/O, off the runtime where it can be: on a worker thread of a multi-thread Tokio
/// runtime it runs in [`block_in_place`](tokio::task::block_in_place), so the worker's other
/// tasks move to another thread meanwhile (other futures of the calling task wait). On a
/// current-thread runtime it runs in place and stalls that runtime while it lasts: a large write
/// from there belongs in `tokio::task::spawn_blocking`.
///
/// # Errors
///
/// The I/O error of the step that failed (kind kept, the OS error as its
/// [`source`](std::error::Error::source)), with a message naming `path` and the step, e.g.
/// "cannot save state file `/var/lib/app/queue` (writing the temporary file): No space left on
/// device (os error 28)". `InvalidInput` if `path` has no file name.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("lifecycle-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("counter.json");
///
/// lifecycle::state_file::write_atomic(&path, b"{\"count\":1}")?;
/// lifecycle::state_file::write_atomic(&path, b"{\"count\":2}")?;
/// assert_eq!(lifecycle::state_file::read_state(&path)?.as_deref(), Some(&b"{\"count\":2}"[..]));
///
/// // The directory must exist: the error says so, and nothing was written.
/// let err = lifecycle::state_file::write_atomic(dir.join("missing/state"), b"x").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// assert!(err.to_string().contains("does not exist"), "{err}");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    let contents = contents.as_ref();
    off_worker(|| {
        let temp = temp_path(path)?;
        let result = write_then_rename(&temp, path, contents);
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|(step, err)| StateFileError::io(path, Step::Save(step), err).into())
    })
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` has no file name to write to", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(temp_name))
}

/// The step of a save that failed, for the error message.
type Failed = (&'static str, io::Error);

fn write_then_rename(temp: &Path, path: &Path, contents: &[u8]) -> Result<(), Failed> {
    let step = |name| move |err| (name, err);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(step("creating the temporary file"))?;
    file.write_all(contents)
        .map_err(step("writing the temporary file"))?;
    file.sync_all()
        .map_err(step("flushing the temporary file to disk"))?;
    drop(file);
    fs::rename(temp, path).map_err(step("renaming the temporary file over it"))?;
    sync_parent(path).map_err(step("flushing the directory to disk"))
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> io::Result<()> {
    // Windows has no directory handle to flush; NTFS journals the rename itself.
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Reads a file written by [`write_atomic`]: `Ok(None)` when it does not exist yet (the first
/// start), the whole contents otherwise. At most [`DEFAULT_STATE_LIMIT`] bytes; see
/// [`read_state_limited`], which this calls, for the checks and errors.
///
/// # Examples
///
/// ```
/// let missing = std::env::temp_dir().join("lifecycle-doc-never-written.json");
/// assert_eq!(lifecycle::state_file::read_state(&missing)?, None);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_state(path: impl AsRef<Path>) -> io::Result<Option<Vec<u8>>> {
    read_state_limited(path, DEFAULT_STATE_LIMIT)
}

/// Reads a file written by [`write_atomic`], refusing one larger than `max_bytes`: `Ok(None)`
/// when it does not exist yet (the first start), the whole contents otherwise.
///
/// Only a regular file is read (a symbolic link to one is followed). A FIFO, a device such as
/// `/dev/zero`, a socket or a directory at `path` is refused at once: the file is opened without
/// blocking and checked before a byte is read, so a FIFO with no writer cannot hang the start.
///
/// It also removes the temporary files that writers killed in mid-write (SIGKILL, a crash, power
/// loss) left beside it, `.<name>.<pid>.<n>.tmp`: those whose writer process is gone (on Unix)
/// and that are a minute old, and any untouched for an hour. A temporary file that another live
/// process is writing is left alone. The target itself was never touched by those writes, so
/// nothing is lost.
///
/// Blocking I/O, like [`write_atomic`]'s: in [`block_in_place`](tokio::task::block_in_place) on
/// a multi-thread runtime's worker, in place anywhere else (on a current-thread runtime, that
/// stalls the runtime for as long as reading `max_bytes` at most takes).
///
/// # Errors
///
/// Each names `path`:
///
/// - `InvalidInput`: `path` is not a regular file ("... is not a regular file but a FIFO");
/// - `InvalidData`: it holds more than `max_bytes` ("... is 1073741824 bytes, more than the
///   limit of 16777216 bytes");
/// - any I/O error other than "not found", with its kind, and the OS error as its
///   [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("lifecycle-doc-limited-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("offsets");
/// lifecycle::state_file::write_atomic(&path, [7u8; 64])?;
///
/// assert_eq!(lifecycle::state_file::read_state_limited(&path, 64)?.map(|s| s.len()), Some(64));
/// let err = lifecycle::state_file::read_state_limited(&path, 63).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// assert!(err.to_string().contains("more than the limit of 63 bytes"), "{err}");
///
/// // A directory is not a state file.
/// let err = lifecycle::state_file::read_state(&dir).unwrap_err();
/// assert!(err.to_string().contains("not a regular file but a directory"), "{err}");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_state_limited(path: impl AsRef<Path>, max_bytes: u64) -> io::Result<Option<Vec<u8>>> {
    let path = path.as_ref();
    off_worker(|| {
        remove_stale_temps(path);
        read_regular_file(path, max_bytes).map_err(io::Error::from)
    })
}

fn read_regular_file(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>, StateFileError> {
    let fail = |step, err| StateFileError::io(path, Step::Read(step), err);
    let file = match open_without_blocking(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(fail("opening it", err)),
    };
    let metadata = file
        .metadata()
        .map_err(|err| fail("reading its metadata", err))?;
    if !metadata.is_file() {
        return Err(StateFileError::new(
            path,
            Problem::NotRegular(describe(&metadata.file_type())),
        ));
    }
    let too_large = |len| {
        StateFileError::new(
            path,
            Problem::TooLarge {
                len,
                limit: max_bytes,
            },
        )
    };
    if metadata.len() > max_bytes {
        return Err(too_large(metadata.len()));
    }
    let file = blocking_again(file).map_err(|err| fail("opening it", err))?;
    let mut contents = Vec::with_capacity(metadata.len() as usize);
    // One byte more than allowed, to tell a file that grew since the check.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut contents)
        .map_err(|err| fail("reading it", err))?;
    if contents.len() as u64 > max_bytes {
        return Err(too_large(contents.len() as u64));
    }
    Ok(Some(contents))
}

/// Opens `path` for reading such that the open itself cannot block: on Unix with `O_NONBLOCK`
/// (a FIFO with no writer would otherwise wait for one forever) and `O_NOCTTY`.
#[cfg(unix)]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    // No FIFO to block on here; the caller checks the file type before reading.
    File::open(path)
}

/// Clears `O_NONBLOCK` once the file is known to be a regular file, so reads behave as usual on
/// every file system.
#[cfg(unix)]
fn blocking_again(file: File) -> io::Result<File> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for as long as `file` lives; F_GETFL/F_SETFL touch only its flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(not(unix))]
fn blocking_again(file: File) -> io::Result<File> {
    Ok(file)
}

/// Runs `f` in `block_in_place` on a multi-thread runtime's worker, so the worker's other tasks
/// carry on elsewhere; directly anywhere else (`block_in_place` panics on a current-thread
/// runtime).
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::stale::{ABANDONED_AGE, DEAD_WRITER_AGE};
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lifecycle-persist-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Writes a temporary file as a writer `pid` would have, last modified `age` ago.
    fn temp_file(dir: &Path, pid: u32, age: Duration) -> PathBuf {
        let path = dir.join(format!(".state.txt.{pid}.3.tmp"));
        let file = File::create(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        path
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary_files() {
        let dir = scratch("replace");
        let path = dir.join("state.txt");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two, longer").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two, longer");
        assert_eq!(names(&dir), ["state.txt"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_names_the_path() {
        let dir = scratch("fail");
        let path = dir.join("state.txt");
        write_atomic(&path, "old").unwrap();
        // A file where the file's directory should be: the write fails, nothing changes.
        let bad = dir.join("state.txt").join("nested");
        let err = write_atomic(&bad, "new").unwrap_err();
        assert!(err.to_string().contains(&*bad.to_string_lossy()), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the OS error is kept"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(&dir), ["state.txt"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dead_writers_temporary_file_is_removed_once_a_minute_old() {
        let dir = scratch("stale");
        let path = dir.join("state.txt");
        write_atomic(&path, "kept").unwrap();
        // PIDs above the kernel's maximum (2^22) never run.
        let dead = 999_999_999;
        let old = temp_file(&dir, dead, DEAD_WRITER_AGE + Duration::from_secs(5));
        let fresh = temp_file(&dir, dead - 1, Duration::from_secs(1));
        let other_file = dir.join(".state.txt.backup.tmp");
        let neighbour = dir.join(".other.txt.999999999.3.tmp");
        for file in [&other_file, &neighbour] {
            fs::write(file, "partial").unwrap();
        }
        assert_eq!(read_state(&path).unwrap().as_deref(), Some(&b"kept"[..]));
        assert!(
            !old.exists(),
            "a dead writer's old temporary file is removed"
        );
        assert!(
            fresh.exists(),
            "a fresh one may be a writer in another PID namespace"
        );
        assert!(
            other_file.exists() && neighbour.exists(),
            "files that are not ours are left alone"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_live_writers_temporary_file_is_kept_for_an_hour() {
        let dir = scratch("live");
        let path = dir.join("state.txt");
        let own = temp_file(&dir, std::process::id(), Duration::from_secs(600));
        // PID 1 always runs.
        let live = temp_file(&dir, 1, DEAD_WRITER_AGE * 10);
        assert_eq!(read_state(&path).unwrap(), None);
        assert!(own.exists() && live.exists(), "{:?}", names(&dir));

        let reused = temp_file(&dir, 1, ABANDONED_AGE + Duration::from_secs(5));
        assert_eq!(read_state(&path).unwrap(), None);
        assert!(
            !reused.exists(),
            "an hour-old one is abandoned whatever its PID"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_reads_as_none() {
        let dir = scratch("missing");
        assert_eq!(read_state(dir.join("nope")).unwrap(), None);
        assert_eq!(read_state(dir.join("no/such/dir/nope")).unwrap(), None);
        assert!(write_atomic(Path::new("/"), "x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_over_the_limit_is_refused_unread() {
        let dir = scratch("limit");
        let path = dir.join("state.txt");
        File::create(&path).unwrap().set_len(1 << 40).unwrap();
        let err = read_state(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .contains("is 1099511627776 bytes, more than the limit of 16777216 bytes"),
            "{err}"
        );
        write_atomic(&path, "12345").unwrap();
        assert_eq!(read_state_limited(&path, 5).unwrap().unwrap(), b"12345");
        assert!(read_state_limited(&path, 4).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("state.fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // No writer: opening it for reading the usual way would block forever.
        let err = read_state(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("is not a regular file but a FIFO"),
            "{err}"
        );
        let err = read_state("/dev/zero").unwrap_err();
        assert!(
            err.to_string()
                .contains("`/dev/zero` is not a regular file but a character device"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn on_a_runtime_worker_the_io_leaves_the_worker() {
        let dir = scratch("runtime");
        let path = dir.join("state.txt");
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        multi.block_on(async {
            // On the only worker, in a spawned task: `block_in_place` hands the worker over.
            let path = path.clone();
            tokio::spawn(async move {
                write_atomic(&path, "from a worker").unwrap();
                read_state(&path).unwrap()
            })
            .await
            .unwrap()
        });
        // A current-thread runtime has no other thread: the I/O runs in place, no panic.
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = current.block_on(async { read_state(&path).unwrap() });
        assert_eq!(read.as_deref(), Some(&b"from a worker"[..]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
