//! The one-call entry: build the runtime, run the whole sequence, return the exit code.

use std::future::Future;
use std::process::ExitCode;

use crate::config::print_budget;
use crate::config::{Config, Flavor};
use crate::failure::Outcome;
use crate::handle::Lifecycle;
use crate::sequence::Sequence;
use crate::startup::startup_failed;

/// Runs a service with graceful shutdown: what `#[lifecycle::main]` generates, as one call.
///
/// Applies the `LIFECYCLE_*` environment overrides to `config`, builds the Tokio runtime it
/// asks for ([`Config::flavor`], [`Config::worker_threads`]), then runs the
/// [`Sequence`] (see the crate docs): start, `main(lc)` until the trigger, drain, persist hooks,
/// shutdown hooks; the [`ShutdownReport`](crate::ShutdownReport) is logged and mapped to the
/// exit code. Blocking tasks still running at the end do not hold the process. With
/// `LIFECYCLE_PRINT_BUDGET=1` it prints the [budget](crate::config::Budget) and returns 0 instead.
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
///         lc.spawn_named("ticker", async move {
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
    let config = match config.apply_env() {
        Ok(config) => config,
        Err(err) => return startup_failed(err),
    };
    match print_budget(&config) {
        Ok(None) => {}
        Ok(Some(code)) => return code,
        Err(err) => return startup_failed(err),
    }
    let runtime = match runtime(&config) {
        Ok(runtime) => runtime,
        Err(err) => return startup_failed(err),
    };
    let code = runtime.block_on(async move {
        let sequence = Sequence::new(config);
        let lc = sequence.handle();
        let running = match sequence.start() {
            Ok(running) => running,
            Err(err) => return startup_failed(err),
        };
        let report = running.through_to_report(main(lc)).await;
        report.log();
        report.exit_code()
    });
    shutdown_runtime(runtime);
    code
}

/// Builds the runtime `config` asks for, with every driver enabled.
///
/// # Examples
///
/// ```
/// use lifecycle::config::Flavor;
/// use lifecycle::__private::runtime;
/// use lifecycle::Config;
///
/// let single = runtime(&Config::new().with_flavor(Flavor::CurrentThread))?;
/// assert_eq!(single.block_on(async { 1 + 1 }), 2);
/// let pool = runtime(&Config::new().with_worker_threads(2))?;
/// assert_eq!(pool.metrics().num_workers(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.flavor() {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    if let (Flavor::MultiThread, Some(threads)) = (config.flavor(), config.worker_threads()) {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

/// Shuts the runtime down without waiting for blocking tasks that are still running (a stuck
/// one is named in the report; it must not hold the process).
pub fn shutdown_runtime(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}
