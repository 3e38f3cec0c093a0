//! The process's exit codes, one constant each. [`ShutdownReport::code`](crate::ShutdownReport::code)
//! says which one a shutdown ends with (the README's "Exit codes" table lists them all); start-up
//! errors, the budget printer and the watchdog thread exit with the others.

/// Exit code of a clean shutdown. The example here covers every `EXIT_*` code; see
/// [`ShutdownReport`](crate::ShutdownReport) for which code a shutdown maps to.
///
/// # Examples
///
/// ```
/// use lifecycle::exit::*;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// assert_eq!([EXIT_OK, EXIT_APP_FAILED, EXIT_ABORTED, EXIT_HOOK_FAILED], [0, 1, 2, 3]);
/// assert_eq!([EXIT_OS_ERROR, EXIT_IO_ERROR, EXIT_CONFIG], [71, 74, 78]);
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(Hook::new(HookKind::Shutdown, "fails too", || async { Err::<(), _>("disk full") }));
/// let report = sequence.run_without_signals(async { Err::<(), _>("bind failed") }).await;
/// assert_eq!(report.code(), EXIT_APP_FAILED); // the first row of the table that applies
/// # }
/// ```
pub const EXIT_OK: u8 = 0;
/// Exit code when the main future returned `Err` or panicked, or a critical task failed. See
/// [`EXIT_OK`] for an example.
pub const EXIT_APP_FAILED: u8 = 1;
/// Exit code when the grace period ran out and work was aborted. See [`EXIT_OK`] for an example.
pub const EXIT_ABORTED: u8 = 2;
/// Exit code when a hook failed, panicked or timed out. See [`EXIT_OK`] for an example.
pub const EXIT_HOOK_FAILED: u8 = 3;
/// Exit code when the shutdown overran its hard deadline (the worst case plus
/// [`Config::deadline_margin`](crate::Config::deadline_margin)) and the process was ended where
/// it stood, by a thread that no blocked task or hook can stop. Hooks after the one that overran
/// did not run; the line written at that moment names the phase.
pub const EXIT_DEADLINE: u8 = 4;
/// Exit code when start-up failed: a start hook failed, panicked or timed out, the start-up
/// timeout ran out, or the shutdown was triggered (a signal, say) while start hooks were still
/// to run (with none, a trigger interrupts nothing and the shutdown is a clean one, 0).
/// What had started was stopped; the report's [`start`](crate::ShutdownReport::start) lists every
/// start hook. Also the code when start-up overran `startup_timeout` plus
/// [`Config::deadline_margin`](crate::Config::deadline_margin) because something blocked the
/// thread the timeout runs on (a start hook calling `std::thread::sleep` on a current-thread
/// runtime, say): the watchdog thread then ends the process where it stood, with a line that
/// says so, and nothing is rolled back.
///
/// # Examples
///
/// ```
/// use lifecycle::exit::EXIT_START_FAILED;
/// use lifecycle::hooks::HookKind;
/// use lifecycle::{Config, Hook, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.manage(Hook::new(HookKind::Start, "migrate", || async { if true { panic!("bad migration") } }));
/// let report = sequence.run_without_signals(async {}).await;
/// assert_eq!(report.code(), EXIT_START_FAILED);
/// assert_eq!(EXIT_START_FAILED, 5);
/// # }
/// ```
pub const EXIT_START_FAILED: u8 = 5;
/// Exit code when the operating system refused what start-up needs: the signal listeners could
/// not be installed or the runtime could not be built, so nothing of the service ran, no start
/// hook either; `EX_OSERR` from `sysexits.h`. Not to be confused with [`EXIT_START_FAILED`]
/// (5): the service's own start hooks failing. See [`EXIT_OK`] for an example.
pub const EXIT_OS_ERROR: u8 = 71;
/// Exit code when [`LIFECYCLE_PRINT_BUDGET`](crate::config::ENV_PRINT_BUDGET) asked for the
/// budget and standard output did not take it (closed, a broken pipe, or a full pipe nobody read
/// within 5 s); `EX_IOERR` from `sysexits.h`. A line on standard error names the problem. See
/// [`EXIT_OK`] for an example.
pub const EXIT_IO_ERROR: u8 = 74;
/// Exit code when a `LIFECYCLE_*` variable is invalid; `EX_CONFIG` from `sysexits.h`. See
/// [`EXIT_OK`] for an example.
pub const EXIT_CONFIG: u8 = 78;
