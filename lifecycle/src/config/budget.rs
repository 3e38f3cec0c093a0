//! The shutdown's time budget, and the platform settings it implies: Kubernetes'
//! `terminationGracePeriodSeconds` and systemd's `TimeoutStopSec`.
//!
//! The worst case is known before the service starts, so a deployment pipeline can ask the
//! binary for it and check the manifest against the code: run it with
//! [`LIFECYCLE_PRINT_BUDGET=1`](ENV_PRINT_BUDGET) and it prints the [`Budget`] as `key=value`
//! lines and exits 0, without starting anything (no runtime, no signals, no `main`). When
//! standard output does not take the text (closed, a broken pipe, a full pipe nobody reads within
//! 5 s) it says why on standard error and exits
//! [`EXIT_IO_ERROR`](crate::report::EXIT_IO_ERROR) (74) instead: a pipeline never reads an empty
//! budget as a success.
//!
//! ```text
//! $ LIFECYCLE_PRINT_BUDGET=1 LIFECYCLE_GRACE=20s ./http_server
//! grace_ms=20000
//! drain_delay_ms=5000
//! hook_budget_ms=5000
//! hooks=3
//! worst_case_ms=30000
//! deadline_margin_ms=1000
//! hard_deadline_ms=31000
//! min_termination_grace_period_seconds=32
//! min_timeout_stop_sec=32
//! ```
//!
//! The hooks counted are the ones the attributes declare: free functions, and the methods of
//! every non-generic `#[lifecycle::component]` impl in the binary, each component counted once
//! whether `main` manages it or not (see [`Budget::before_start`]). Hooks added by hand
//! ([`Lifecycle::add_hook`](crate::Lifecycle::add_hook)) are known only once `main` runs.
//!
//! `#[lifecycle::main]` and [`run`](crate::run) both honour the variable, after the other
//! `LIFECYCLE_*` overrides are applied (a bad one still exits 78, naming it).

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{parse_bool, Config, ConfigError};
use crate::exit::{EXIT_IO_ERROR, EXIT_OK};
use crate::hooks::{Hook, HookKind};
use crate::log::{run_within, to_stderr, whole_ms, Unfinished};
use crate::triggers::systemd::EXIT_SLACK;

/// The environment variable that makes the binary print its [`Budget`] and exit 0 instead of
/// starting (`1`/`true`/`on`/`yes`; `0`/`false`/`off`/`no` or unset starts as usual).
///
/// # Examples
///
/// ```
/// assert_eq!(lifecycle::config::ENV_PRINT_BUDGET, "LIFECYCLE_PRINT_BUDGET");
/// ```
pub const ENV_PRINT_BUDGET: &str = "LIFECYCLE_PRINT_BUDGET";

/// A shutdown's time budget: the settings it is made of, the worst case, the hard deadline, and
/// the least each platform must allow.
///
/// Its [`Display`](fmt::Display) is the stable, machine-readable form the binary prints with
/// [`ENV_PRINT_BUDGET`]: one `key=value` line per field, durations in whole milliseconds (rounded
/// up), platform settings in whole seconds, `infinity` for a budget without end.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::config::Budget;
/// use lifecycle::Config;
///
/// let config = Config::new()
///     .with_grace(Duration::from_secs(20))
///     .with_drain_delay(Duration::from_secs(5));
/// let budget = Budget::new(&config, Duration::from_secs(5), 3);
/// assert_eq!(budget.worst_case(), Duration::from_secs(30));
/// assert_eq!(budget.hard_deadline(), Duration::from_secs(31)); // + deadline_margin (1 s)
/// assert_eq!(budget.min_termination_grace_period_seconds(), Some(32));
/// assert!(budget.to_string().contains("\nworst_case_ms=30000\n"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    grace: Duration,
    drain_delay: Duration,
    hook_budget: Duration,
    hooks: usize,
    deadline_margin: Duration,
}

impl Budget {
    /// The budget of `config` with hooks worth `hook_budget` (`hooks` of them: see
    /// [`Lifecycle::hook_budget`](crate::Lifecycle::hook_budget)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let budget = Budget::new(&Config::new(), Duration::from_secs(4), 2);
    /// assert_eq!(budget.hook_budget(), Duration::from_secs(4));
    /// assert_eq!(budget.hooks(), 2);
    /// ```
    pub fn new(config: &Config, hook_budget: Duration, hooks: usize) -> Self {
        Self {
            grace: config.grace(),
            drain_delay: config.drain_delay(),
            hook_budget,
            hooks,
            deadline_margin: config.deadline_margin(),
        }
    }

    /// The budget a binary knows before it starts: `config`, the free-function hooks
    /// (`#[lifecycle::on_shutdown]` / `#[lifecycle::persist]` on functions), and the hooks of
    /// every `#[lifecycle::component]` impl in the binary, as if each were
    /// [managed](crate::Lifecycle::manage): a component managed twice costs no more (its hooks
    /// share their orders, and hooks of one order run concurrently), one never managed is
    /// counted anyway (the budget errs long). A generic component is not counted: its hooks are
    /// known only once `main` manages it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let budget = Budget::before_start(&Config::new());
    /// assert_eq!(budget.hooks(), 0); // no free hooks in this doctest
    /// assert_eq!(budget.worst_case(), Duration::from_secs(30));
    /// ```
    pub fn before_start(config: &Config) -> Self {
        let free = crate::__private::FREE_HOOKS.iter().map(|make| make());
        let declared = crate::__private::COMPONENT_HOOKS
            .iter()
            .flat_map(|list| list());
        let hooks: Vec<Hook> = free
            .chain(declared)
            .filter(|hook| matches!(hook.kind(), HookKind::Persist | HookKind::Shutdown))
            .collect();
        let hook_budget = crate::hooks::budget(&hooks, config.hook_timeout());
        Self::new(config, hook_budget, hooks.len())
    }

    /// [`Config::grace`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().with_grace(Duration::from_secs(12));
    /// assert_eq!(Budget::new(&config, Duration::ZERO, 0).grace(), Duration::from_secs(12));
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// [`Config::drain_delay`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().with_drain_delay(Duration::from_secs(3));
    /// assert_eq!(Budget::new(&config, Duration::ZERO, 0).drain_delay(), Duration::from_secs(3));
    /// ```
    pub fn drain_delay(&self) -> Duration {
        self.drain_delay
    }

    /// The longest the persist and shutdown hooks can take together.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let budget = Budget::new(&Config::new(), Duration::from_secs(7), 3);
    /// assert_eq!(budget.hook_budget(), Duration::from_secs(7));
    /// ```
    pub fn hook_budget(&self) -> Duration {
        self.hook_budget
    }

    /// How many hooks the hook budget counts (the persist and shutdown hooks: start and reload
    /// hooks are not part of a shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// assert_eq!(Budget::new(&Config::new(), Duration::from_secs(7), 3).hooks(), 3);
    /// ```
    pub fn hooks(&self) -> usize {
        self.hooks
    }

    /// [`Config::deadline_margin`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().with_deadline_margin(Duration::from_millis(250));
    /// let budget = Budget::new(&config, Duration::ZERO, 0);
    /// assert_eq!(budget.deadline_margin(), Duration::from_millis(250));
    /// ```
    pub fn deadline_margin(&self) -> Duration {
        self.deadline_margin
    }

    /// Drain delay + grace + hook budget (see [`Config::worst_case_shutdown`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().with_drain_delay(Duration::from_secs(5));
    /// let budget = Budget::new(&config, Duration::from_secs(2), 1);
    /// assert_eq!(budget.worst_case(), config.worst_case_shutdown(Duration::from_secs(2)));
    /// assert_eq!(budget.worst_case(), Duration::from_secs(5 + 30 + 2));
    /// ```
    pub fn worst_case(&self) -> Duration {
        self.drain_delay
            .saturating_add(self.grace)
            .saturating_add(self.hook_budget)
    }

    /// The worst case plus the deadline margin: the process is gone by then, whatever its code
    /// does (exit code 4). [`Duration::MAX`] means no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new();
    /// let budget = Budget::new(&config, Duration::from_secs(2), 1);
    /// assert_eq!(budget.hard_deadline(), config.hard_deadline(Duration::from_secs(2)));
    /// assert_eq!(budget.hard_deadline(), Duration::from_secs(30 + 2 + 1));
    /// ```
    pub fn hard_deadline(&self) -> Duration {
        self.worst_case().saturating_add(self.deadline_margin)
    }

    /// The least `terminationGracePeriodSeconds` that lets the shutdown end on its own: the hard
    /// deadline in whole seconds, rounded up, plus a second for the signal and the exit. Add a
    /// `preStop` hook's sleep to it (Kubernetes' countdown starts before the hook). `None` when
    /// the budget has no end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().with_grace(Duration::from_millis(2500));
    /// // 2.5 s + 0.5 s of hooks + 1 s margin = 4 s, plus 1 s for the signal and the exit
    /// let budget = Budget::new(&config, Duration::from_millis(500), 1);
    /// assert_eq!(budget.min_termination_grace_period_seconds(), Some(5));
    /// let forever = Budget::new(&Config::new().with_grace(Duration::MAX), Duration::ZERO, 0);
    /// assert_eq!(forever.min_termination_grace_period_seconds(), None);
    /// ```
    pub fn min_termination_grace_period_seconds(&self) -> Option<u64> {
        let hard = self.hard_deadline();
        if hard == Duration::MAX {
            return None;
        }
        let whole = hard.as_secs() + u64::from(hard.subsec_nanos() > 0);
        whole.checked_add(EXIT_SLACK.as_secs())
    }

    /// The least systemd `TimeoutStopSec` (in seconds) that lets the shutdown end on its own:
    /// the same figure as
    /// [`min_termination_grace_period_seconds`](Self::min_termination_grace_period_seconds)
    /// (systemd's countdown starts at the stop signal). `None` means `TimeoutStopSec=infinity`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::config::Budget;
    /// use lifecycle::Config;
    ///
    /// let budget = Budget::new(&Config::new(), Duration::from_secs(2), 1);
    /// assert_eq!(budget.min_timeout_stop_sec(), Some(30 + 2 + 1 + 1));
    /// ```
    pub fn min_timeout_stop_sec(&self) -> Option<u64> {
        self.min_termination_grace_period_seconds()
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| match d {
            Duration::MAX => "infinity".to_owned(),
            d => whole_ms(d).to_string(),
        };
        let secs = |s: Option<u64>| s.map_or_else(|| "infinity".to_owned(), |s| s.to_string());
        writeln!(f, "grace_ms={}", ms(self.grace))?;
        writeln!(f, "drain_delay_ms={}", ms(self.drain_delay))?;
        writeln!(f, "hook_budget_ms={}", ms(self.hook_budget))?;
        writeln!(f, "hooks={}", self.hooks)?;
        writeln!(f, "worst_case_ms={}", ms(self.worst_case()))?;
        writeln!(f, "deadline_margin_ms={}", ms(self.deadline_margin))?;
        writeln!(f, "hard_deadline_ms={}", ms(self.hard_deadline()))?;
        let min = self.min_termination_grace_period_seconds();
        writeln!(f, "min_termination_grace_period_seconds={}", secs(min))?;
        writeln!(
            f,
            "min_timeout_stop_sec={}",
            secs(self.min_timeout_stop_sec())
        )
    }
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
///
/// # Examples
///
/// ```
/// use lifecycle::config::print_budget;
/// use lifecycle::Config;
///
/// // Not asked for (the variable is unset here): start as usual.
/// assert_eq!(print_budget(&Config::new()).unwrap(), None);
/// ```
pub fn print_budget(config: &Config) -> Result<Option<ExitCode>, ConfigError> {
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

/// Prints [`Budget::before_start`] on standard output and returns the exit code: [`EXIT_OK`], or
/// [`EXIT_IO_ERROR`] after a line on standard error that says what went wrong.
fn print(config: &Config) -> u8 {
    let text = Budget::before_start(config).to_string();
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
