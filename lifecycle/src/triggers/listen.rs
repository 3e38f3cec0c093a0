//! The process-wide signal listener.
//!
//! Listening only notifies: Tokio's handler writes to a pipe and the listener task reads it, so no
//! work of ours ever runs inside a signal handler.
//!
//! On Unix, a handler of ours goes in first, before Tokio's, and counts each delivery (an atomic
//! add, nothing else). Tokio's handler, installed over it, calls it first on every delivery. The
//! count is what is heard; Tokio's stream only wakes the listener to read it. Tokio alone loses a
//! signal delivered after its handler is installed and before its stream subscribes (it
//! broadcasts to no one), and one delivered while its handler is half installed (the handler
//! finds no action yet, and calls the previous one, the default, which does nothing there). With
//! the count, a signal delivered at any moment after our handler is in place is heard: the
//! listener reads the count as soon as it is installed.

use crate::config::signals::{Signal, SignalError};

/// The signal streams the watchdog thread reads.
pub(crate) struct Listener {
    streams: Vec<(Signal, imp::Stream)>,
    /// Per signal, the deliveries counted that this listener has heard; `None` for a signal
    /// not counted (outside Unix, or a handler of someone else's was there first): then each
    /// notification of its stream is one delivery.
    counts: Vec<(Signal, Option<u32>)>,
}

impl Listener {
    /// Installs the counting handler, then registers a stream, for each signal. Must run inside
    /// the Tokio runtime that will poll it. A signal delivered since the counting handler went in
    /// (before this returns, say) is heard by the first [`recv`](Self::recv).
    pub(crate) fn install(signals: &[Signal]) -> Result<Self, SignalError> {
        let mut counts = Vec::new();
        for &signal in signals {
            let counted = imp::count(signal).map_err(|err| SignalError::Install(signal, err))?;
            counts.push((signal, counted.then(|| imp::heard_before(signal))));
        }
        let mut streams = Vec::new();
        for &signal in signals {
            let more = imp::streams(signal).map_err(|err| SignalError::Install(signal, err))?;
            streams.extend(more.into_iter().map(|stream| (signal, stream)));
        }
        Ok(Self { streams, counts })
    }

    /// The next signal received, one per delivery counted. A stream that closes is dropped,
    /// never taken for a signal; once every stream has closed this waits forever.
    pub(crate) async fn recv(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            // Every stream is polled until it waits, so that each one's next notification wakes
            // this task; what they say is read below, from the counts.
            let mut notified = Vec::new();
            self.streams.retain_mut(|(signal, stream)| loop {
                match stream.poll_recv(cx) {
                    std::task::Poll::Ready(Some(())) => notified.push(*signal),
                    std::task::Poll::Ready(None) => return false,
                    std::task::Poll::Pending => return true,
                }
            });
            for (signal, heard) in &mut self.counts {
                match heard {
                    Some(heard) if imp::delivered(*signal) != *heard => {
                        *heard = heard.wrapping_add(1);
                        imp::mark_heard(*signal, *heard);
                        return std::task::Poll::Ready(*signal);
                    }
                    None if notified.contains(signal) => return std::task::Poll::Ready(*signal),
                    Some(_) | None => {}
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

#[cfg(unix)]
mod imp {
    use super::Signal;
    use std::mem::MaybeUninit;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::task::{Context, Poll};
    use tokio::signal::unix::{signal, SignalKind};

    /// Per signal number (the four are below 16), the deliveries the handler counted.
    static DELIVERED: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
    /// Per signal number, the most deliveries some listener has heard (see [`heard_before`]).
    static HEARD: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
    /// Per signal number, whether the counting handler was installed (once per process).
    static COUNTING: [AtomicBool; 16] = [const { AtomicBool::new(false) }; 16];

    /// The counting handler: async-signal-safe, an atomic add and nothing else.
    extern "C" fn counted(number: libc::c_int) {
        if let Some(delivered) = usize::try_from(number)
            .ok()
            .and_then(|at| DELIVERED.get(at))
        {
            delivered.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn slot(signal: Signal) -> usize {
        usize::from(signal.number())
    }

    /// Installs the counting handler for `signal`, unless a handler is there already (the app's
    /// own Tokio stream, made before: replacing it would make that stream deaf). Returns whether
    /// `signal`'s deliveries are counted.
    pub(super) fn count(signal: Signal) -> std::io::Result<bool> {
        let number = libc::c_int::from(signal.number());
        if COUNTING[slot(signal)].load(Ordering::SeqCst) {
            return Ok(true);
        }
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: reads the current action only.
        if unsafe { libc::sigaction(number, std::ptr::null(), old.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: filled by `sigaction` above.
        let old = unsafe { old.assume_init() };
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            return Ok(false);
        }
        // SAFETY: all zeros is a valid `sigaction` (no handler, no flags, an empty mask).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = counted as extern "C" fn(libc::c_int) as libc::sighandler_t;
        new.sa_flags = libc::SA_RESTART;
        // SAFETY: installs a handler that only does an atomic add.
        if unsafe { libc::sigaction(number, &new, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        COUNTING[slot(signal)].store(true, Ordering::SeqCst);
        Ok(true)
    }

    /// The deliveries of `signal` counted so far (wrapping, after 2^32 of them).
    pub(super) fn delivered(signal: Signal) -> u32 {
        DELIVERED[slot(signal)].load(Ordering::SeqCst)
    }

    /// Where a new listener starts: after the deliveries some listener has heard already. Every
    /// listener installed hears every delivery made after that (two sequences running at once
    /// both stop at a SIGTERM), one made while no listener was installed is heard by the next,
    /// and one heard by a listener gone since is not heard again by a later one.
    pub(super) fn heard_before(signal: Signal) -> u32 {
        HEARD[slot(signal)].load(Ordering::SeqCst)
    }

    /// A listener has heard the deliveries of `signal` up to `count`.
    pub(super) fn mark_heard(signal: Signal, count: u32) {
        HEARD[slot(signal)].fetch_max(count, Ordering::SeqCst);
    }

    pub(super) struct Stream(tokio::signal::unix::Signal);

    impl Stream {
        pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            self.0.poll_recv(cx)
        }
    }

    pub(super) fn streams(which: Signal) -> std::io::Result<Vec<Stream>> {
        let kind = match which {
            Signal::Hangup => SignalKind::hangup(),
            Signal::Interrupt => SignalKind::interrupt(),
            Signal::Quit => SignalKind::quit(),
            Signal::Terminate => SignalKind::terminate(),
        };
        Ok(vec![Stream(signal(kind)?)])
    }
}

#[cfg(windows)]
mod imp {
    use super::Signal;
    use std::task::{Context, Poll};
    use tokio::signal::windows;

    /// Nothing is counted: each notification of a stream is one delivery.
    pub(super) fn count(_: Signal) -> std::io::Result<bool> {
        Ok(false)
    }

    pub(super) fn delivered(_: Signal) -> u32 {
        0
    }

    pub(super) fn heard_before(_: Signal) -> u32 {
        0
    }

    pub(super) fn mark_heard(_: Signal, _: u32) {}

    pub(super) enum Stream {
        CtrlC(windows::CtrlC),
        CtrlBreak(windows::CtrlBreak),
        CtrlClose(windows::CtrlClose),
        CtrlShutdown(windows::CtrlShutdown),
        CtrlLogoff(windows::CtrlLogoff),
    }

    impl Stream {
        pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            match self {
                Stream::CtrlC(s) => s.poll_recv(cx),
                Stream::CtrlBreak(s) => s.poll_recv(cx),
                Stream::CtrlClose(s) => s.poll_recv(cx),
                Stream::CtrlShutdown(s) => s.poll_recv(cx),
                Stream::CtrlLogoff(s) => s.poll_recv(cx),
            }
        }
    }

    pub(super) fn streams(which: Signal) -> std::io::Result<Vec<Stream>> {
        Ok(match which {
            Signal::Interrupt => vec![Stream::CtrlC(windows::ctrl_c()?)],
            Signal::Quit => vec![Stream::CtrlBreak(windows::ctrl_break()?)],
            Signal::Terminate => vec![
                Stream::CtrlClose(windows::ctrl_close()?),
                Stream::CtrlShutdown(windows::ctrl_shutdown()?),
            ],
            Signal::Hangup => vec![Stream::CtrlLogoff(windows::ctrl_logoff()?)],
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_signal_delivered_while_no_listener_is_subscribed_is_heard_by_the_next_one() {
        // What a listener hears depends on the other listeners of the process (the other tests'
        // sequences): the test runs alone, in a process of its own (this test binary again).
        const ALONE: &str = "LIFECYCLE_LISTEN_TEST_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "triggers::listen::tests::a_signal_delivered_while_no_listener_is_subscribed_is_heard_by_the_next_one",
                    "--nocapture",
                ])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The operating system's handler is installed, and then nothing listens: the moment
            // between Tokio's handler going in and its stream subscribing, held open.
            drop(Listener::install(&[Signal::Hangup]).unwrap());
            // SAFETY: raises SIGHUP on this thread; its handler is installed above.
            assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
            // Tokio's driver reads its pipe and broadcasts the signal to no one.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut listener = Listener::install(&[Signal::Hangup]).unwrap();
            let heard = tokio::time::timeout(Duration::from_secs(2), listener.recv()).await;
            assert_eq!(heard.ok(), Some(Signal::Hangup), "the SIGHUP was lost");
            // Heard once: no second delivery is made up.
            let again = tokio::time::timeout(Duration::from_millis(100), listener.recv()).await;
            assert_eq!(again.ok(), None);
            // A listener installed after that one heard it does not hear it again (a second
            // sequence in the same process must not stop for the first one's signal).
            drop(listener);
            let mut later = Listener::install(&[Signal::Hangup]).unwrap();
            let stale = tokio::time::timeout(Duration::from_millis(100), later.recv()).await;
            assert_eq!(stale.ok(), None, "a delivery heard already was heard again");
        });
    }
}
