//! Listening: the watchdog thread started for one lifecycle, what it hears turned into triggers,
//! and the notes it leaves logged from the app's runtime. Also the other direction of the
//! conversation with the service manager: systemd's notifications and watchdog pings.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::signals::{Signal, SignalError};
use crate::config::Config;
use crate::log::{log_or_stderr, quietly};
use crate::triggers::readiness::State;
use crate::triggers::reloads::{Ignored, Reloads};
use crate::triggers::systemd;
use crate::triggers::watchdog::{self, Count, Ears, Rules, Verdict};
use crate::triggers::{Trigger, Triggers};

/// Starts the watchdog thread for this lifecycle: it hears `config`'s signals (and SIGHUP, to
/// ignore it, when it is not one of them) and enforces the hard deadline that `triggers` arms.
/// What it hears is logged from the app's runtime by a small relay task.
pub(crate) fn listen(
    config: &Config,
    triggers: &Arc<Triggers>,
    reloads: &Arc<Reloads>,
) -> Result<(), SignalError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(SignalError::NoRuntime);
    }
    let (rules, hearing) = hear(config, triggers, reloads);
    watchdog::start(rules, hearing, Arc::clone(triggers.watch()))?;
    if !config.signals().contains(&Signal::Terminate) {
        log_or_stderr(
            tracing::Level::WARN,
            "lifecycle: SIGTERM is not one of the shutdown signals: Kubernetes, systemd and \
             docker stop services with SIGTERM, which now ends this process at once, with no \
             drain and nothing persisted",
        );
    }
    Ok(())
}

/// How signals are counted for `config`, and this lifecycle's ears, whose notes a relay task
/// on the current runtime logs.
fn hear(config: &Config, triggers: &Arc<Triggers>, reloads: &Arc<Reloads>) -> (Rules, Hearing) {
    // SIGHUP is what a closed terminal sends, and what operators send to ask for a reload;
    // left alone it kills the process on the spot with nothing persisted. Unless it is a
    // shutdown signal, it asks for a reload (and is otherwise ignored).
    let ignore = if cfg!(unix) && !config.signals().contains(&Signal::Hangup) {
        vec![Signal::Hangup]
    } else {
        Vec::new()
    };
    let rules = Rules {
        shutdown: config.signals().to_vec(),
        ignore,
        force_on_second_signal: config.force_on_second_signal(),
        repeat_window: config.repeat_window(),
    };
    let (notes, mut heard) = mpsc::unbounded_channel();
    let hearing = Hearing {
        triggers: Arc::downgrade(triggers),
        reloads: Arc::downgrade(reloads),
        notes,
    };
    let triggers = Arc::downgrade(triggers);
    tokio::spawn(async move {
        while let Some(note) = heard.recv().await {
            let Some(triggers) = triggers.upgrade() else {
                break;
            };
            // Counted here, on the app's runtime: the watchdog thread never calls the app's
            // code, and the recorder is the app's. The same for the state a signal moved.
            crate::metrics::signal_received(note.signal().name());
            if let Note::Triggered(_) = note {
                triggers.readiness().record_now();
            }
            quietly(|| note.log(&triggers));
        }
    });
    (rules, hearing)
}

/// Signals told by a test instead of heard from the operating system (the test harness's
/// `signal`): counted by the watchdog's rules and turned into triggers by the same ears, on the
/// app's runtime and clock.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct Simulated {
    rules: Rules,
    hearing: Hearing,
    count: std::sync::Mutex<Count>,
}

#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl Simulated {
    /// Ears for `triggers`; call inside the app's runtime.
    pub(crate) fn new(config: &Config, triggers: &Arc<Triggers>, reloads: &Arc<Reloads>) -> Self {
        let (rules, hearing) = hear(config, triggers, reloads);
        Self {
            rules,
            hearing,
            count: std::sync::Mutex::new(Count::default()),
        }
    }

    /// `signal` delivered now. `Some` with the signal when it forces the exit (a second
    /// shutdown signal with forcing on): the process would end at once with its exit code.
    pub(crate) fn deliver(&self, signal: Signal) -> Option<Signal> {
        let now = tokio::time::Instant::now().into_std();
        let verdict = crate::lock::lock(&self.count).hear(signal, now, &self.rules, &self.hearing);
        match verdict {
            Verdict::Force(signal) => Some(signal),
            Verdict::Told => None,
        }
    }
}

/// Connects to systemd when `NOTIFY_SOCKET` is set (a bad value is a warning, and the service
/// runs as without it), and when `WATCHDOG_USEC` is set for this process, sends `WATCHDOG=1` at
/// half that interval until the trigger.
///
/// The pings come from a task on the app's runtime, not from the watchdog thread: systemd's
/// watchdog exists to notice a service that hangs, and a runtime that no longer runs tasks is
/// exactly that. Pinging from a thread the app cannot block would keep a hung service alive.
pub(crate) fn notify_systemd(triggers: &Triggers) {
    match triggers.watch().notify_systemd() {
        Ok(true) => {
            // A trigger that fired before systemd was reached (`request_shutdown` before
            // `Sequence::start`): systemd hears STOPPING=1 now. Not READY=1: the service never
            // was ready, and systemd records a start that ended in a stop.
            if let Some(trigger) = triggers.current() {
                triggers.watch().stopping(&trigger);
            }
        }
        Ok(false) => return,
        Err(warning) => return log_or_stderr(tracing::Level::WARN, &warning),
    }
    let every = match systemd::watchdog_interval() {
        Ok(Some(every)) => every,
        Ok(None) => return,
        Err(warning) => return log_or_stderr(tracing::Level::WARN, &warning),
    };
    let watch = Arc::clone(triggers.watch());
    let stop = triggers.fired_token();
    // At least a millisecond apart: an absurd `WATCHDOG_USEC=1` must not spin a core. `sleep`,
    // not `interval`: it saturates where an interval's next tick would overflow the clock.
    let every = every.max(Duration::from_millis(1));
    let mut state = triggers.readiness().subscribe();
    tokio::spawn(async move {
        // From Ready on (after the start hooks): before it, systemd's start timeout watches the
        // start-up, and a trigger during it ends the pings before the first.
        let _ = state.wait_for(|state| *state != State::Starting).await;
        while !stop.is_cancelled() {
            watch.alive();
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// What the watchdog thread heard, logged from the app's runtime (the watchdog never writes).
enum Note {
    Triggered(Signal),
    Hurried(Signal),
    Again(Signal),
    /// Ignored, and why: sent once per reason.
    Ignored(Signal, Ignored),
    Repeated(Signal),
    Reload(Signal),
    /// Ignored for a reason said already: counted, not logged.
    Heard(Signal),
}

impl Note {
    /// The signal heard.
    fn signal(&self) -> Signal {
        match *self {
            Note::Triggered(signal)
            | Note::Hurried(signal)
            | Note::Again(signal)
            | Note::Ignored(signal, _)
            | Note::Repeated(signal)
            | Note::Reload(signal)
            | Note::Heard(signal) => signal,
        }
    }

    fn log(&self, triggers: &Triggers) {
        match *self {
            Note::Triggered(signal) => triggers.log_fired(&Trigger::Signal(signal)),
            Note::Hurried(signal) => tracing::info!(
                signal = %signal,
                "{signal} after the shutdown had started: cutting the drain delay short; a second signal forces the exit"
            ),
            Note::Again(signal) => tracing::info!(
                signal = %signal,
                "signal during shutdown: skipping the rest of the drain delay"
            ),
            // Written even without a subscriber: a signal that would have killed the process
            // before is now ignored, and the operator who sent it must learn why.
            Note::Ignored(signal, why) => {
                log_or_stderr(tracing::Level::WARN, &why.message(&signal.to_string()));
            }
            Note::Reload(signal) => tracing::info!(
                signal = %signal,
                "{signal}: reload requested (it is not a shutdown signal)"
            ),
            Note::Repeated(signal) => tracing::debug!(
                signal = %signal,
                "{signal} repeated within the repeat window: the same request, delivered twice"
            ),
            Note::Heard(_) => {}
        }
    }
}

/// The lifecycle's side of the watchdog: turns what it hears into triggers and notes. Holds the
/// trigger state weakly; sends notes without waiting.
struct Hearing {
    triggers: Weak<Triggers>,
    reloads: Weak<Reloads>,
    notes: mpsc::UnboundedSender<Note>,
}

impl Ears for Hearing {
    fn first(&self, signal: Signal) {
        if let Some(triggers) = self.triggers.upgrade() {
            let note = if triggers.first_signal(signal) {
                Note::Triggered(signal)
            } else {
                Note::Hurried(signal)
            };
            let _ = self.notes.send(note);
        }
    }

    fn again(&self, signal: Signal) {
        if let Some(triggers) = self.triggers.upgrade() {
            triggers.hurry();
            let _ = self.notes.send(Note::Again(signal));
        }
    }

    fn ignored(&self, signal: Signal, repeat: bool) {
        if repeat {
            let _ = self.notes.send(Note::Repeated(signal));
            return;
        }
        let (Some(reloads), Some(triggers)) = (self.reloads.upgrade(), self.triggers.upgrade())
        else {
            return;
        };
        let why = match triggers.current() {
            Some(Trigger::StartFailed(_)) => Ignored::StartFailed,
            Some(_) => Ignored::ShuttingDown,
            // During start-up it waits for the service to be Ready, whether or not the reload
            // hooks are registered yet (main may still be managing their values): see
            // `Lifecycle::mark_ready`, which drops it if none is.
            None if signal == Signal::Hangup
                && (triggers.has_reload_hooks()
                    || triggers.readiness().get() == State::Starting) =>
            {
                reloads.request();
                let _ = self.notes.send(Note::Reload(signal));
                return;
            }
            None => Ignored::NoHook,
        };
        // Once per reason: a storm of signals during a shutdown is one line, not one each (and
        // each one counted).
        let note = if reloads.first_time(why) {
            Note::Ignored(signal, why)
        } else {
            Note::Heard(signal)
        };
        let _ = self.notes.send(note);
    }
}
