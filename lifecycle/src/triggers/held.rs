//! The shutdown signals held from the first statement of `main` until the listeners are
//! installed, so that a SIGTERM in the first milliseconds of the process is a graceful shutdown
//! and not the operating system's default (death on the spot).
//!
//! The listeners are installed a few milliseconds into `main`: after the environment is read,
//! the runtime built (its worker threads started) and the watchdog thread started. Until then a
//! signal has no handler. So the generated `main` (and [`run`](crate::run)) first blocks
//! SIGTERM, SIGINT, SIGQUIT and SIGHUP on the main thread, before any other thread exists:
//! every thread started after inherits the mask, and a signal sent meanwhile stays pending.
//! The watchdog thread unblocks them once its listeners are installed: a pending signal is then
//! delivered to it, and heard as any first signal. [`Sequence::start`](crate::Sequence::start)
//! unblocks them on the thread that called it too. The runtime's threads started in between keep
//! them blocked, which changes nothing for the process: a signal sent to the process goes to a
//! thread that accepts it. A child process started with `std::process::Command` (or Tokio's)
//! does not inherit the mask: the standard library resets it in the child.
//!
//! When the process ends before the listeners were installed (a configuration error, the
//! budget printed, the runtime or the listeners failing, `init` panicking), a signal that came
//! meanwhile is not acted on: the process exits with the code it was exiting with anyway, and a
//! line on stderr says the signal came.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::log::log_or_stderr;

/// Where the process is: the signals never held, held since `main` began, or released.
static STATE: AtomicU8 = AtomicU8::new(NEVER);
const NEVER: u8 = 0;
const HELD: u8 = 1;
const RELEASED: u8 = 2;

/// The shutdown signals, held since [`hold_signals`] until the listeners are installed. What
/// `#[lifecycle::main]` makes first and gives to
/// [`block_on`](crate::__private::block_on); dropped before the listeners were installed, it
/// writes on stderr which signals came in the meantime (they are not acted on).
///
/// # Examples
///
/// ```
/// use lifecycle::__private::{block_on, hold_signals};
/// use lifecycle::{Config, Sequence};
///
/// let signals = hold_signals(); // the first statement of `main`
/// let code = block_on(signals, Config::new().apply_env(), |config| async move {
///     let report = Sequence::new(config).run_without_signals(async {}).await;
///     Ok(report.exit_code())
/// });
/// assert_eq!(code, std::process::ExitCode::SUCCESS);
/// ```
#[must_use = "the signals stay held until the listeners are installed: give this to `block_on`"]
#[derive(Debug)]
pub struct HeldSignals {
    _private: (),
}

/// Blocks SIGTERM, SIGINT, SIGQUIT and SIGHUP on this thread, so that every thread started after
/// inherits the mask, until [`Sequence::start`](crate::Sequence::start) has installed the
/// listeners. Call it first thing in `main`, before anything starts a thread. Once the listeners
/// are installed it does nothing. Outside Unix it does nothing.
///
/// # Examples
///
/// ```
/// let signals = lifecycle::__private::hold_signals();
/// drop(signals); // no signal came: nothing is written
/// ```
pub fn hold_signals() -> HeldSignals {
    let held = STATE.compare_exchange(NEVER, HELD, Ordering::SeqCst, Ordering::SeqCst);
    if held.is_ok() || held == Err(HELD) {
        imp::block();
    }
    HeldSignals { _private: () }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        if STATE.load(Ordering::SeqCst) != HELD {
            return;
        }
        // The signals stay blocked: unblocked now, a pending one would kill the process on the
        // spot, with the exit code it was about to report lost.
        let pending = imp::pending();
        if pending.is_empty() {
            return;
        }
        let names: Vec<&str> = pending.iter().map(|signal| signal.name()).collect();
        log_or_stderr(
            tracing::Level::WARN,
            &format!(
                "lifecycle: {} came before the signal listeners were installed, and start-up \
                 ended before it reached them: the process exits with its own exit code, not \
                 the signal's",
                names.join(", ")
            ),
        );
    }
}

/// The listeners are installed ([`Sequence::start`](crate::Sequence::start)): the signals are
/// no longer held, and this thread accepts them again.
pub(crate) fn release() {
    if STATE.swap(RELEASED, Ordering::SeqCst) == HELD {
        imp::unblock();
    }
}

/// This thread accepts the shutdown signals: for the watchdog thread, once its listeners are
/// installed (a signal pending since `main` began is delivered here, now).
pub(crate) fn accept_here() {
    imp::unblock();
}

#[cfg(unix)]
mod imp {
    use std::mem::MaybeUninit;
    use std::ptr;

    use crate::config::signals::Signal;

    /// Its number for the C calls: the one [`Signal::number`] gives (the same on every Unix).
    fn number(signal: Signal) -> libc::c_int {
        libc::c_int::from(signal.number())
    }

    /// The four signals as a set.
    fn all() -> libc::sigset_t {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigemptyset` initialises the set; `sigaddset` only fails for an invalid
        // signal number, and these four are valid everywhere.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            for signal in Signal::ALL {
                libc::sigaddset(set.as_mut_ptr(), number(signal));
            }
            set.assume_init()
        }
    }

    fn mask(how: libc::c_int) {
        let set = all();
        // SAFETY: changes this thread's mask only; fails only for an invalid `how`.
        unsafe { libc::pthread_sigmask(how, &set, ptr::null_mut()) };
    }

    pub(super) fn block() {
        mask(libc::SIG_BLOCK);
    }

    pub(super) fn unblock() {
        mask(libc::SIG_UNBLOCK);
    }

    /// The four signals pending for this thread or the process.
    pub(super) fn pending() -> Vec<Signal> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigpending` fills the set; on failure nothing is read from it.
        if unsafe { libc::sigpending(set.as_mut_ptr()) } != 0 {
            return Vec::new();
        }
        // SAFETY: filled by `sigpending` above.
        let set = unsafe { set.assume_init() };
        Signal::ALL
            .into_iter()
            // SAFETY: reads the initialised set.
            .filter(|&signal| unsafe { libc::sigismember(&set, number(signal)) } == 1)
            .collect()
    }
}

#[cfg(not(unix))]
mod imp {
    use crate::config::signals::Signal;

    pub(super) fn block() {}

    pub(super) fn unblock() {}

    pub(super) fn pending() -> Vec<Signal> {
        Vec::new()
    }
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests {
    use super::*;

    /// This thread's blocked signals, as `/proc` shows them (a hexadecimal mask).
    pub(crate) fn blocked_here() -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("SigBlk:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .unwrap_or(u64::MAX)
    }

    fn bit(signal: libc::c_int) -> u64 {
        1 << (signal - 1)
    }

    /// The four signals the lifecycle holds, as a mask.
    pub(crate) fn four() -> u64 {
        bit(libc::SIGHUP) | bit(libc::SIGINT) | bit(libc::SIGQUIT) | bit(libc::SIGTERM)
    }

    #[test]
    fn held_signals_are_inherited_by_threads_but_not_by_child_processes() {
        // On a thread of its own: the mask is per thread, and the test harness's must not change.
        std::thread::spawn(|| {
            let four = four();
            imp::block();
            assert_eq!(blocked_here() & four, four);
            // A thread started now inherits the mask.
            let inherited = std::thread::spawn(blocked_here).join().unwrap();
            assert_eq!(inherited & four, four);
            // A child process does not: std resets the mask between fork and exec.
            let child = std::process::Command::new("sh")
                .args(["-c", "grep SigBlk /proc/self/status"])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&child.stdout);
            let mask = line.trim().trim_start_matches("SigBlk:").trim();
            assert_eq!(u64::from_str_radix(mask, 16), Ok(0), "{line}");
            imp::unblock();
            assert_eq!(blocked_here() & four, 0);
        })
        .join()
        .unwrap();
    }
}
