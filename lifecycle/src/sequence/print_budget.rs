//! `LIFECYCLE_PRINT_BUDGET`: the budget of the binary's declared hooks, printed before anything
//! starts (see `config::budget` for what it means and the text it prints).

use std::process::ExitCode;
use std::time::Duration;

use crate::config::{parse_bool, Budget, Config, ConfigError, ENV_PRINT_BUDGET};
use crate::exit::{EXIT_IO_ERROR, EXIT_OK};
use crate::hooks::{Hook, HookKind};
use crate::log::{run_within, to_stderr, Unfinished};

/// The budget a binary knows before it starts: `config`, the free-function hooks
/// (`#[lifecycle::on_shutdown]` / `#[lifecycle::persist]` on functions), and the hooks of
/// every `#[lifecycle::component]` impl in the binary, as if each were
/// managed: a component managed twice costs no more (its hooks
/// share their orders, and hooks of one order run concurrently), one never managed is
/// counted anyway (the budget errs long). A generic component is not counted: its hooks are
/// known only once `main` manages it.
pub(crate) fn declared_budget(config: &Config) -> Budget {
    let free = crate::hooks::bind::FREE_HOOKS.iter().map(|make| make());
    let declared = crate::hooks::bind::COMPONENT_HOOKS
        .iter()
        .flat_map(|list| list());
    let hooks: Vec<Hook> = free
        .chain(declared)
        .filter(|hook| matches!(hook.kind(), HookKind::Persist | HookKind::Shutdown))
        .collect();
    let hook_budget = crate::hooks::budget(&hooks, config.hook_timeout());
    Budget::new(config, hook_budget, hooks.len())
}

/// When [`ENV_PRINT_BUDGET`] asks for it, prints the budget of `config` (and the hooks the
/// attributes declare) to standard output and returns the exit code to end with: 0, or
/// [`EXIT_IO_ERROR`] (74) when standard output did not take the text (closed, a pipe whose
/// reader is gone, or a full pipe nobody read within 5 s), with a line on standard error naming
/// the problem. `None` to start as usual.
///
/// # Errors
///
/// A value of [`ENV_PRINT_BUDGET`] that is not a boolean, naming the variable (a start-up error:
/// exit code 78).
pub(crate) fn print_budget(config: &Config) -> Result<Option<ExitCode>, ConfigError> {
    Ok(match asked()? {
        false => None,
        true => Some(ExitCode::from(print(config))),
    })
}

/// Whether [`ENV_PRINT_BUDGET`] asks for the budget.
fn asked() -> Result<bool, ConfigError> {
    let Some(value) = std::env::var_os(ENV_PRINT_BUDGET) else {
        return Ok(false);
    };
    match value.to_str() {
        Some(text) => parse_bool(ENV_PRINT_BUDGET, text),
        None => Err(ConfigError::new(
            ENV_PRINT_BUDGET,
            value.to_string_lossy().into_owned(),
            "the value is not valid UTF-8",
        )),
    }
}

/// How long the budget waits for standard output to take it: a pipe nobody reads must not hang
/// a deployment pipeline's check forever, and any reader takes a few hundred bytes far sooner.
const PRINT_WITHIN: Duration = Duration::from_secs(5);

/// Prints [`declared_budget`] on standard output and returns the exit code: [`EXIT_OK`], or
/// [`EXIT_IO_ERROR`] after a line on standard error that says what went wrong.
fn print(config: &Config) -> u8 {
    let text = declared_budget(config).to_string();
    match write_stdout_within(text.into_bytes(), PRINT_WITHIN) {
        Ok(()) => EXIT_OK,
        Err(why) => {
            to_stderr(&format!(
                "lifecycle: {ENV_PRINT_BUDGET} asked for the budget, but standard output did not \
                 take it: {why}; exit code {EXIT_IO_ERROR}"
            ));
            EXIT_IO_ERROR
        }
    }
}

/// Writes `bytes` to standard output on a helper thread and waits for it at most `within`; the
/// error says why it could not, in words. The thread is left behind on a timeout: the process
/// exits next.
fn write_stdout_within(bytes: Vec<u8>, within: Duration) -> Result<(), String> {
    if stdout_was_closed() {
        return Err(
            "standard output is closed (the process started with it closed, `>&-`; \
                    the Rust runtime put /dev/null in its place)"
                .to_owned(),
        );
    }
    match run_within("lifecycle-budget", within, move || write_stdout(&bytes)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) if err.raw_os_error() == Some(EBADF) => {
            Err(format!("standard output is closed ({err})"))
        }
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(format!("nobody reads standard output any more ({err})"))
        }
        Ok(Err(err)) => Err(err.to_string()),
        Err(Unfinished::TimedOut) => Err(format!(
            "it did not take the budget within {} s (a full pipe nobody reads?)",
            within.as_secs()
        )),
        Err(Unfinished::NoThread(err)) => Err(format!("no thread to write it from: {err}")),
        Err(Unfinished::Died) => Err("the writing thread died".to_owned()),
    }
}

/// Whether the process started with standard output closed. The Rust runtime opens `/dev/null`
/// read-write in place of a closed standard descriptor before `main`, so a write would succeed
/// and go nowhere; a shell's `>/dev/null` opens it write-only, which is the user's own choice
/// and is honoured.
#[cfg(target_os = "linux")]
fn stdout_was_closed() -> bool {
    // SAFETY: fstat writes into the zeroed `stat` we own; fcntl only reads the descriptor's
    // flags. A closed descriptor is an error, not undefined.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(libc::STDOUT_FILENO, &mut stat) } != 0 {
        return false; // closed after all: the write says so
    }
    let flags = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFL) };
    stat.st_mode & libc::S_IFMT == libc::S_IFCHR
        && crate::log::is_dev_null(stat.st_rdev)
        && flags >= 0
        && flags & libc::O_ACCMODE == libc::O_RDWR
}

#[cfg(not(target_os = "linux"))]
fn stdout_was_closed() -> bool {
    false
}
#[cfg(unix)]
const EBADF: i32 = libc::EBADF;
#[cfg(not(unix))]
const EBADF: i32 = -1;

/// Writes `bytes` to file descriptor 1 with `write(2)`: the standard library's `stdout()` takes
/// a closed descriptor (`EBADF`) for a sink and reports success, which would print nothing and
/// exit 0.
#[cfg(unix)]
fn write_stdout(mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid, initialised buffer of `bytes.len()` bytes for the call;
        // `write` only reads it. A closed descriptor is an error (`EBADF`), not undefined.
        let written =
            unsafe { libc::write(libc::STDOUT_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(written) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(_) => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush())
}
