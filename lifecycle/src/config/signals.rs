//! The signals that can start a shutdown: their names, numbers and exit codes, and the errors of
//! parsing or installing them. Listening for them lives in `triggers::listen`.

use std::fmt;
use std::str::FromStr;

/// A signal that can start a shutdown.
///
/// On Windows the console events map onto the same four: Ctrl-C is [`Interrupt`], closing the
/// console and system shutdown are [`Terminate`], Ctrl-Break is [`Quit`] and logoff is
/// [`Hangup`].
///
/// [`Interrupt`]: Signal::Interrupt
/// [`Terminate`]: Signal::Terminate
/// [`Quit`]: Signal::Quit
/// [`Hangup`]: Signal::Hangup
///
/// # Examples
///
/// ```
/// use lifecycle::Signal;
///
/// let signal: Signal = "SIGTERM".parse()?;
/// assert_eq!(signal, Signal::Terminate);
/// assert_eq!(signal.number(), 15);
/// assert_eq!(signal.exit_code(), 143);
/// assert_eq!("int".parse::<Signal>()?, Signal::Interrupt);
/// # Ok::<(), lifecycle::config::UnknownSignal>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM: what Kubernetes, systemd and Docker send first.
    Terminate,
    /// SIGQUIT (Ctrl-\).
    Quit,
    /// SIGHUP: the terminal went away; not listened to unless chosen.
    Hangup,
}

impl Signal {
    /// Every signal this crate knows.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Signal;
    ///
    /// assert_eq!(Signal::ALL.len(), 4);
    /// for signal in Signal::ALL {
    ///     assert_eq!(signal.name().parse::<Signal>()?, signal);
    /// }
    /// # Ok::<(), lifecycle::config::UnknownSignal>(())
    /// ```
    pub const ALL: [Signal; 4] = [
        Signal::Terminate,
        Signal::Interrupt,
        Signal::Quit,
        Signal::Hangup,
    ];

    /// The POSIX signal number (the same on every Unix for these four).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Signal;
    ///
    /// assert_eq!(Signal::Hangup.number(), 1);
    /// assert_eq!(Signal::Interrupt.number(), 2);
    /// assert_eq!(Signal::Terminate.number(), 15);
    /// ```
    pub const fn number(self) -> u8 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Quit => 3,
            Signal::Terminate => 15,
        }
    }

    /// The exit code of a process ended by this signal: 128 + its number (130 for SIGINT, 143
    /// for SIGTERM), which is what a forced exit uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Signal;
    ///
    /// assert_eq!(Signal::Interrupt.exit_code(), 130); // what a shell shows after Ctrl-C
    /// assert_eq!(Signal::Quit.exit_code(), 128 + Signal::Quit.number());
    /// ```
    pub const fn exit_code(self) -> u8 {
        128 + self.number()
    }

    /// The signal's name, such as `SIGTERM`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Signal;
    ///
    /// assert_eq!(Signal::Terminate.name(), "SIGTERM");
    /// assert_eq!(Signal::Quit.to_string(), "SIGQUIT");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Interrupt => "SIGINT",
            Signal::Quit => "SIGQUIT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signal {
    type Err = UnknownSignal;

    /// Accepts `SIGTERM`, `TERM` or `term` (and likewise for the others).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        Signal::ALL
            .into_iter()
            .find(|signal| &signal.name()[3..] == bare)
            .ok_or_else(|| UnknownSignal(s.to_owned()))
    }
}

/// A signal name that is not SIGTERM, SIGINT, SIGQUIT or SIGHUP.
///
/// # Examples
///
/// ```
/// use lifecycle::{Sequence, Signal};
///
/// let err = "SIGKILL".parse::<Signal>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown signal `SIGKILL`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSignal(String);

impl fmt::Display for UnknownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signal `{}`: expected SIGTERM, SIGINT, SIGQUIT or SIGHUP",
            self.0
        )
    }
}

impl std::error::Error for UnknownSignal {}

/// Why the signal listener could not be installed.
///
/// # Examples
///
/// ```
/// use lifecycle::config::SignalError;
/// use lifecycle::sequence::StartupError;
/// use lifecycle::{Config, Sequence};
///
/// // Outside a Tokio runtime nothing is installed.
/// let result = Sequence::new(Config::new()).start();
/// assert!(matches!(result, Err(StartupError::Signals(SignalError::NoRuntime))));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// Listeners were already installed in this process; they are installed once.
    AlreadyInstalled,
    /// Not called from inside a Tokio runtime with its I/O driver enabled.
    NoRuntime,
    /// The operating system refused to install the handler for this signal.
    Install(Signal, std::io::Error),
    /// The watchdog thread that hears signals (outside the app's runtime) could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::AlreadyInstalled => f.write_str(
                "signal listeners are already installed in this process; start one sequence per process",
            ),
            SignalError::NoRuntime => f.write_str(
                "signal listeners need a Tokio runtime with its I/O driver (`enable_all`); call this inside one",
            ),
            SignalError::Install(signal, err) => {
                write!(f, "could not listen for {signal}: {err}")
            }
            SignalError::Thread(err) => {
                write!(f, "could not start the thread that hears signals: {err}")
            }
        }
    }
}

/// The I/O error a variant holds is in its message, so its source is that error's own cause: a
/// printer that walks the chain (anyhow's `{:#}`) shows it once.
impl std::error::Error for SignalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignalError::Install(_, err) | SignalError::Thread(err) => err.source(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_the_same_signal() {
        for signal in Signal::ALL {
            assert_eq!(signal.name().parse::<Signal>().unwrap(), signal);
            assert_eq!(
                signal.name()[3..].to_lowercase().parse::<Signal>().unwrap(),
                signal
            );
        }
        assert!("SIGKILL".parse::<Signal>().is_err());
        assert!("".parse::<Signal>().is_err());
    }

    #[test]
    fn exit_codes_are_128_plus_the_number() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Quit.exit_code(), 131);
        assert_eq!(Signal::Hangup.exit_code(), 129);
    }
}
