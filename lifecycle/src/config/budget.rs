//! The shutdown's time budget, and the platform settings it implies: Kubernetes'
//! `terminationGracePeriodSeconds` and systemd's `TimeoutStopSec`.
//!
//! The worst case is known before the service starts, so a deployment pipeline can ask the
//! binary for it and check the manifest against the code: run it with
//! [`LIFECYCLE_PRINT_BUDGET=1`](ENV_PRINT_BUDGET) and it prints the [`Budget`] as `key=value`
//! lines and exits 0, without starting anything (no runtime, no signals, no `main`). When
//! standard output does not take the text (closed, a broken pipe, a full pipe nobody reads within
//! 5 s) it says why on standard error and exits
//! [`EXIT_IO_ERROR`](crate::exit::EXIT_IO_ERROR) (74) instead: a pipeline never reads an empty
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
//! whether `main` manages it or not . Hooks added by hand
//! ([`Lifecycle::manage`](crate::Lifecycle::manage)) are known only once `main` runs.
//!
//! `#[lifecycle::main]` and [`run`](crate::run) both honour the variable, after the other
//! `LIFECYCLE_*` overrides are applied (a bad one still exits 78, naming it).

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::log::whole_ms;
/// How long a platform must wait past the hard deadline before it kills the process: the stop
/// signal's delivery and the exit itself. Added to every `EXTEND_TIMEOUT_USEC=` and to the
/// least `TimeoutStopSec` / `terminationGracePeriodSeconds` the [budget](crate::config::Budget) prints.
pub(crate) const EXIT_SLACK: Duration = Duration::from_secs(1);

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
    /// [`Lifecycle::budget`](crate::Lifecycle::budget)).
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

    /// Drain delay + grace + hook budget .
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
