//! The error behind every `io::Error` that `write_atomic` and `read_state` return: the path, the
//! step, and the OS error as its source.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::parent_dir;

/// What went wrong with a state file; the payload of the `io::Error`s this module returns.
pub(super) struct StateFileError {
    path: PathBuf,
    problem: Problem,
}

pub(super) enum Step {
    Read(&'static str),
    Save(&'static str),
}

pub(super) enum Problem {
    Io(Step, io::Error),
    NotRegular(&'static str),
    TooLarge { len: u64, limit: u64 },
}

impl StateFileError {
    pub(super) fn new(path: &Path, problem: Problem) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }

    pub(super) fn io(path: &Path, step: Step, err: io::Error) -> Self {
        Self::new(path, Problem::Io(step, err))
    }

    fn kind(&self) -> io::ErrorKind {
        match &self.problem {
            Problem::Io(_, err) => err.kind(),
            Problem::NotRegular(_) => io::ErrorKind::InvalidInput,
            Problem::TooLarge { .. } => io::ErrorKind::InvalidData,
        }
    }
}

impl From<StateFileError> for io::Error {
    fn from(err: StateFileError) -> Self {
        io::Error::new(err.kind(), err)
    }
}

impl fmt::Display for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Problem::Io(Step::Save(step), err)
                if err.kind() == io::ErrorKind::NotFound && !parent_dir(&self.path).is_dir() =>
            {
                write!(
                    f,
                    "cannot save state file `{path}` ({step}): the directory `{}` does not \
                     exist: {err}",
                    parent_dir(&self.path).display()
                )
            }
            Problem::Io(Step::Save(step), err) => {
                write!(f, "cannot save state file `{path}` ({step}): {err}")
            }
            Problem::Io(Step::Read(step), err) => {
                write!(f, "cannot read state file `{path}` ({step}): {err}")
            }
            Problem::NotRegular(what) => write!(
                f,
                "state file `{path}` is not a regular file but {what}; state is read only from \
                 regular files"
            ),
            Problem::TooLarge { len, limit } => write!(
                f,
                "state file `{path}` is {len} bytes, more than the limit of {limit} bytes"
            ),
        }
    }
}

/// Shown as its message, like the `String` payloads of other `io::Error`s.
impl fmt::Debug for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

impl std::error::Error for StateFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(_, err) => Some(err),
            Problem::NotRegular(_) | Problem::TooLarge { .. } => None,
        }
    }
}

/// "a FIFO", "a directory", ...: what a state path that is not a regular file is instead.
pub(super) fn describe(file_type: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}
