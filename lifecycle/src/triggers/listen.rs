//! The process-wide signal listener.
//!
//! Listening only notifies: Tokio's handler writes to a pipe and the listener task reads it, so no
//! work of ours ever runs inside a signal handler.

use crate::config::signals::{Signal, SignalError};

/// The signal streams the watchdog thread reads.
pub(crate) struct Listener {
    streams: Vec<(Signal, imp::Stream)>,
}

impl Listener {
    /// Registers a stream for each signal. Must run inside the Tokio runtime that will poll it.
    pub(crate) fn install(signals: &[Signal]) -> Result<Self, SignalError> {
        let mut streams = Vec::new();
        for &signal in signals {
            let more = imp::streams(signal).map_err(|err| SignalError::Install(signal, err))?;
            streams.extend(more.into_iter().map(|stream| (signal, stream)));
        }
        Ok(Self { streams })
    }

    /// The next signal received. A stream that closes is dropped, never taken for a signal;
    /// once every stream has closed this waits forever.
    pub(crate) async fn recv(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            let mut received = None;
            self.streams.retain_mut(|(signal, stream)| {
                if received.is_some() {
                    return true;
                }
                match stream.poll_recv(cx) {
                    std::task::Poll::Ready(Some(())) => {
                        received = Some(*signal);
                        true
                    }
                    std::task::Poll::Ready(None) => false,
                    std::task::Poll::Pending => true,
                }
            });
            match received {
                Some(signal) => std::task::Poll::Ready(signal),
                None => std::task::Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(unix)]
mod imp {
    use super::Signal;
    use std::task::{Context, Poll};
    use tokio::signal::unix::{signal, SignalKind};

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
