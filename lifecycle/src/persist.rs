//! Saving state so that a crash at any instant leaves the old file or the new one, never a torn
//! one.
//!
//! [`write_atomic`] writes a temporary file beside the target, flushes it to disk, renames it over
//! the target and flushes the directory. Rename within one directory is atomic on POSIX file
//! systems and on NTFS, so a reader (or the next start after a SIGKILL or power loss) sees either
//! the complete old contents or the complete new ones.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` with `contents`, atomically and durably.
///
/// Steps: write `contents` to a new temporary file in the same directory, `fsync` it, rename it
/// over `path`, then `fsync` the directory so the rename itself survives a power loss. On error
/// the temporary file is removed and `path` is left as it was.
///
/// This is blocking I/O; a small state file takes well under a millisecond. From async code
/// writing a large file, call it inside `tokio::task::spawn_blocking`, or make the hook a plain
/// (non-async) `fn`, which `lifecycle` already runs on the blocking pool.
///
/// # Errors
///
/// Any I/O error from creating, writing, syncing or renaming; `InvalidInput` if `path` has no file
/// name.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("lifecycle-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("counter.json");
///
/// lifecycle::write_atomic(&path, b"{\"count\":1}")?;
/// lifecycle::write_atomic(&path, b"{\"count\":2}")?;
/// assert_eq!(lifecycle::read_state(&path)?.as_deref(), Some(&b"{\"count\":2}"[..]));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    let temp = temp_path(path)?;
    let result = write_then_rename(&temp, path, contents.as_ref());
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
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

fn write_then_rename(temp: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)?;
    sync_parent(path)
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(parent)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> io::Result<()> {
    // Windows has no directory handle to flush; NTFS journals the rename itself.
    Ok(())
}

/// Reads a file written by [`write_atomic`]: `Ok(None)` when it does not exist yet (the first
/// start), the whole contents otherwise.
///
/// It also removes the temporary files that writers killed in mid-write (SIGKILL, a crash, power
/// loss) left beside it: `.<name>.<pid>.<n>.tmp` from any process other than this one. The target
/// itself was never touched by those writes, so nothing is lost.
///
/// # Errors
///
/// Any I/O error other than "not found".
///
/// # Examples
///
/// ```
/// let missing = std::env::temp_dir().join("lifecycle-doc-never-written.json");
/// assert_eq!(lifecycle::read_state(&missing)?, None);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_state(path: impl AsRef<Path>) -> io::Result<Option<Vec<u8>>> {
    let path = path.as_ref();
    remove_stale_temps(path);
    match fs::read(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Best effort: a temporary file that cannot be listed or removed is left for the next start.
fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    let own = format!("{prefix}{}.", std::process::id());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let stale = file_name.starts_with(&prefix)
            && file_name.ends_with(".tmp")
            && !file_name.starts_with(&own)
            && is_temp_suffix(&file_name[prefix.len()..file_name.len() - ".tmp".len()]);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `<pid>.<n>`: the part of a temporary file's name between the target's name and `.tmp`.
fn is_temp_suffix(middle: &str) -> bool {
    let mut parts = middle.split('.');
    let numeric = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lifecycle-persist-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary_files() {
        let dir = scratch("replace");
        let path = dir.join("state.txt");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two, longer").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two, longer");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.txt")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = scratch("fail");
        let path = dir.join("state.txt");
        write_atomic(&path, "old").unwrap();
        // A directory where the file's directory should be: the write fails, nothing changes.
        let bad = dir.join("state.txt").join("nested");
        assert!(write_atomic(&bad, "new").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reading_removes_temporary_files_of_dead_writers_only() {
        let dir = scratch("stale");
        let path = dir.join("state.txt");
        write_atomic(&path, "kept").unwrap();
        let stale = dir.join(".state.txt.999999999.3.tmp");
        let own = dir.join(format!(".state.txt.{}.7.tmp", std::process::id()));
        let other_file = dir.join(".state.txt.backup.tmp");
        let neighbour = dir.join(".other.txt.999999999.3.tmp");
        for file in [&stale, &own, &other_file, &neighbour] {
            fs::write(file, "partial").unwrap();
        }
        assert_eq!(read_state(&path).unwrap().as_deref(), Some(&b"kept"[..]));
        assert!(!stale.exists(), "a dead writer's temporary file is removed");
        assert!(
            own.exists(),
            "this process's own temporary file is left alone"
        );
        assert!(
            other_file.exists() && neighbour.exists(),
            "files that are not ours are left alone"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_reads_as_none() {
        let dir = scratch("missing");
        assert_eq!(read_state(dir.join("nope")).unwrap(), None);
        assert!(write_atomic(Path::new("/"), "x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
