//! The one-call entry: build the runtime, run the whole sequence, return the exit code.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::config::{Config, ConfigError, Flavor};
use crate::exit::{EXIT_APP_FAILED, EXIT_HOOK_FAILED, EXIT_OK};
use crate::failure::{panic_message, Outcome};
use crate::handle::Lifecycle;
use crate::log::log_or_stderr;
use crate::sequence::print_budget::print_budget;
use crate::sequence::startup::{startup_failed, StartupError};
use crate::sequence::Sequence;
use crate::triggers::held::{hold_signals, HeldSignals};

/// Runs a service with graceful shutdown: what `#[lifecycle::main]` generates, as one call.
///
/// First holds the shutdown signals (until the listeners are installed, a signal stays pending
/// and is then heard as any first signal; see `#[lifecycle::main]`): call it first thing in
/// `main`, before anything starts a thread. Then applies the `LIFECYCLE_*` environment
/// overrides to `config`, builds the Tokio runtime it
/// asks for ([`Config::flavor`], [`Config::worker_threads`]), then runs the
/// [`Sequence`] (see the crate docs): start, `main(lc)` until the trigger, drain, persist hooks,
/// shutdown hooks; the [`ShutdownReport`](crate::ShutdownReport) is logged and mapped to the
/// exit code. Blocking tasks still running at the end do not hold the process. With
/// `LIFECYCLE_PRINT_BUDGET=1` it prints the [budget](crate::config::Budget) and returns 0 instead.
///
/// `main`'s future is what the closure returns: its start boundary (see
/// [`Lifecycle::started`]) is a call made inside that `async` block. The closure's own lines run
/// before the sequence runs the future: values managed there are started, but a boundary call
/// there (`let shutdown = lc.cancelled();` outside the block) is none, and start-up would
/// fail at its timeout, naming that call.
///
/// # Examples
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
///
/// fn main() -> ExitCode {
///     let config = lifecycle::Config::new().with_grace(Duration::from_secs(20));
///     lifecycle::run(config, |lc| async move {
///         let token = lc.token();
///         lc.task("ticker").spawn(async move {
///             while !token.is_cancelled() {
///                 tokio::select! {
///                     () = token.cancelled() => {}
///                     () = tokio::time::sleep(Duration::from_secs(1)) => println!("tick"),
///                 }
///             }
///         });
///         lc.cancelled().await; // serve until SIGTERM / Ctrl-C
///         Ok::<(), std::io::Error>(())
///     })
/// }
/// ```
pub fn run<F, Fut>(config: Config, main: F) -> ExitCode
where
    F: FnOnce(Lifecycle) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let signals = hold_signals();
    run_held(signals, config, main)
}

/// [`run`] once the signals are held: [`App::run`](crate::App::run) shares it.
pub(crate) fn run_held<F, Fut>(signals: HeldSignals, config: Config, main: F) -> ExitCode
where
    F: FnOnce(Lifecycle) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    block_on(signals, config.apply_env(), |config| async move {
        let sequence = Sequence::new(config);
        let lc = sequence.handle();
        let report = sequence.start()?.through_to_report(main(lc)).await;
        report.log();
        Ok(report.exit_code())
    })
}

/// What `#[lifecycle::main]` runs its sequence on. With `config` (the attribute's, the
/// environment's overrides applied): prints the budget and returns its exit code if
/// `LIFECYCLE_PRINT_BUDGET` asks, builds the runtime `config` asks for, blocks on `sequence(config)`, then shuts the
/// runtime down without waiting for blocking tasks still running. A start-up error (a bad
/// override, no runtime, no signals) is logged and mapped to its exit code. `signals`, held
/// since `main` began, are released by `Sequence::start` in `sequence`; when the process leaves
/// before that, a signal that came meanwhile is named on stderr (see [`HeldSignals`]).
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
/// use lifecycle::__private::{block_on, hold_signals};
/// use lifecycle::{Config, Sequence};
///
/// let signals = hold_signals();
/// let code = block_on(signals, Config::new().apply_env(), |config| async move {
///     let sequence = Sequence::new(config);
///     let report = sequence.run_without_signals(async {}).await;
///     Ok(report.exit_code())
/// });
/// assert_eq!(code, ExitCode::SUCCESS);
/// ```
pub fn block_on<F, Fut>(
    signals: HeldSignals,
    config: Result<Config, ConfigError>,
    sequence: F,
) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<ExitCode, StartupError>>,
{
    let run = move || -> Result<ExitCode, StartupError> {
        let config = config?;
        if let Some(code) = print_budget(&config)? {
            return Ok(code);
        }
        let runtime = runtime(&config)?;
        let run = AssertUnwindSafe(|| runtime.block_on(sequence(config)));
        let code = panic::catch_unwind(run).unwrap_or_else(|payload| Ok(panicked_late(&*payload)));
        // Not waiting for blocking tasks still running: a stuck one is named in the report, and
        // must not hold the process.
        runtime.shutdown_background();
        code
    };
    let code = run().unwrap_or_else(startup_failed);
    // After the error it explains, the line naming a signal that came too early, if any.
    drop(signals);
    code
}

/// The exit code of the last report made in this process, `NO_REPORT` before one: what a panic
/// that comes after the report (a value dropped with the last handle, say) must not lose.
static REPORTED: AtomicU16 = AtomicU16::new(NO_REPORT);
const NO_REPORT: u16 = u16::MAX;

/// Notes the exit code of a report just made (see [`panicked_late`]).
pub(crate) fn reported(code: u8) {
    REPORTED.store(code.into(), Ordering::SeqCst);
}

/// The exit code for a panic that unwound out of the sequence's future, saying so on stderr.
/// After the report (the usual case: something dropped with the last handle, which the
/// sequence did not own), the report's code, or 3 if it was 0: the shutdown ran, releasing what
/// it held did not go cleanly, as for a failed hook. Before any report: 1, as for `main`
/// panicking.
fn panicked_late(payload: &(dyn std::any::Any + Send)) -> ExitCode {
    let message = panic_message(payload);
    let (code, when) = late_code(REPORTED.load(Ordering::SeqCst));
    log_or_stderr(
        tracing::Level::ERROR,
        &format!("lifecycle: panicked {when}: {message}; exit code {code}"),
    );
    ExitCode::from(code)
}

/// The exit code for a panic after the report whose code was `reported` (or before any), and
/// which of the two it was.
fn late_code(reported: u16) -> (u8, &'static str) {
    match reported {
        NO_REPORT => (EXIT_APP_FAILED, "before the shutdown report"),
        code => match u8::try_from(code) {
            Ok(EXIT_OK) | Err(_) => (EXIT_HOOK_FAILED, "after the shutdown report"),
            Ok(code) => (code, "after the shutdown report"),
        },
    }
}

/// A future whose output is an [`Outcome`]: what `#[lifecycle::main]` turns the user's `main`
/// into, in a function that is not generic, so that a return type that is not an outcome is
/// one error at that type and the steps after it see only this.
///
/// # Examples
///
/// ```
/// use lifecycle::__private::MainFuture;
///
/// async fn main_body() -> std::io::Result<()> { Ok(()) }
/// fn checked() -> impl MainFuture { main_body() }
/// # drop(checked());
/// ```
pub trait MainFuture: Future<Output = <Self as MainFuture>::Out> {
    /// The future's output.
    type Out: Outcome;
}

impl<F> MainFuture for F
where
    F: Future,
    F::Output: Outcome,
{
    type Out = F::Output;
}

/// Builds the runtime `config` asks for, with every driver enabled.
fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.flavor() {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    if let (Flavor::MultiThread, Some(threads)) = (config.flavor(), config.worker_threads()) {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_after_the_report_keeps_its_failure_code_and_turns_a_clean_one_into_3() {
        assert_eq!(late_code(0).0, EXIT_HOOK_FAILED);
        assert_eq!(late_code(2), (2, "after the shutdown report"));
        assert_eq!(late_code(143).0, 143);
        assert_eq!(
            late_code(NO_REPORT),
            (EXIT_APP_FAILED, "before the shutdown report")
        );
    }

    #[test]
    fn the_runtime_has_the_flavor_and_workers_the_config_asks_for() -> std::io::Result<()> {
        let single = runtime(&Config::new().with_flavor(Flavor::CurrentThread))?;
        assert_eq!(single.block_on(async { 1 + 1 }), 2);
        assert_eq!(
            single.metrics().num_workers(),
            1,
            "a current-thread runtime"
        );
        let pool = runtime(&Config::new().with_worker_threads(2))?;
        assert_eq!(pool.metrics().num_workers(), 2);
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod held_signals {
    use super::run;
    use crate::triggers::held::tests::{blocked_here, four};

    #[test]
    fn run_holds_the_signals_before_the_runtime_starts_and_releases_them_once_listening() {
        // The only test of this binary that installs the listeners (once per process).
        let (seen, masks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let config = crate::config::Config::new().with_worker_threads(1);
            let code = run(config, |_lc| async move {
                // A worker thread: started by the runtime after `run` held the signals.
                let worker = tokio::spawn(async { blocked_here() }).await;
                // This thread (the one that called `run`, polling `main`): released by `start`.
                let _ = seen.send((worker.unwrap_or(0), blocked_here()));
            });
            assert_eq!(code, std::process::ExitCode::SUCCESS);
        })
        .join()
        .unwrap();
        let (worker, caller) = masks.recv().unwrap();
        assert_eq!(worker & four(), four(), "a worker thread: {worker:x}");
        assert_eq!(
            caller & four(),
            0,
            "the thread that called `run`: {caller:x}"
        );
    }
}
