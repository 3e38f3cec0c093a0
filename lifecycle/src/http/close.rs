//! Closing the serve loop's listener without resetting a connection: new connection attempts
//! stopped first (Linux; see `listeners/filter.rs`), then every connection the kernel had
//! already accepted into the listener's queue accepted and served, and a connection that has
//! sent nothing yet given the time to send its request before its graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::listeners::{self, filter};
use crate::log::quietly;

/// Once the queue is empty, how long the loop waits for a handshake that was under way when
/// new attempts were stopped (the client's last ACK on its way) before it closes: a round trip
/// on a local network or across a continent. A handshake slower than that (its ACK lost, say)
/// is reset by the close.
const HANDSHAKES_IN_FLIGHT: Duration = Duration::from_millis(50);

/// How long the queue may take to empty, at most: with new attempts stopped, only the
/// handshakes under way can join it, so this bound is never reached but by a flood that the
/// filter could not stop.
const LONGEST_CLOSE: Duration = Duration::from_secs(1);

/// Stops new connections to `listener`, hands every connection already queued to `serve`,
/// and closes it. A socket passed by the service manager gets its filter removed first: the
/// manager keeps its own copy, which must take connections again for the next process.
pub(super) async fn close_listener(
    listener: TcpListener,
    mut serve: impl FnMut(TcpStream, SocketAddr),
) {
    let stopped = filter::refuse_new_connections(&listener);
    let mut accepted = 0_usize;
    let started = tokio::time::Instant::now();
    while started.elapsed() < LONGEST_CLOSE {
        let next = if stopped {
            tokio::time::timeout(HANDSHAKES_IN_FLIGHT, listener.accept())
                .await
                .ok()
        } else {
            // New connections keep coming: take only those queued now.
            match std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await {
                Poll::Ready(accepted) => Some(accepted),
                Poll::Pending => None,
            }
        };
        match next {
            Some(Ok((stream, peer))) => {
                accepted += 1;
                serve(stream, peer);
            }
            // An error of one connection (reset before it was accepted) ends nothing.
            Some(Err(_)) => {}
            None => break,
        }
    }
    if listeners::is_inherited(&listener) {
        filter::admit_new_connections(&listener);
    }
    if accepted > 0 {
        quietly(|| {
            tracing::debug!(
                connections = accepted,
                "served the connections queued on the listener as it closed"
            )
        });
    }
    drop(listener);
}

/// What became of a connection that had sent nothing when the cancel came.
pub(super) enum FirstBytes<T> {
    /// It sent its first bytes (its protocol is known): shut it down gracefully now; a request
    /// in them is answered, with `Connection: close` on HTTP/1.
    Read,
    /// It ended by itself, with this output.
    Ended(T),
    /// It sent nothing within the header-read timeout.
    TimedOut,
}

/// Drives `conn` until `spoken` says its first bytes were read, it ends, or `timeout` passes.
///
/// hyper-util's connection drops a connection that has not read its first bytes yet (it is
/// still working out the protocol) at the graceful shutdown, and closing a socket with a
/// request unread in it resets the client: a client that connected just before the cancel, or
/// whose connection waited in the listener's queue, would lose its request. It gets the
/// header-read timeout to send it instead, as a half-sent request does.
pub(super) async fn first_bytes<F: Future>(
    mut conn: Pin<&mut F>,
    spoken: impl Fn() -> bool,
    timeout: Duration,
) -> FirstBytes<F::Output> {
    let driven = std::future::poll_fn(|cx| match conn.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(FirstBytes::Ended(output)),
        // The bytes are read inside `poll`, which works out the protocol from them.
        Poll::Pending if spoken() => Poll::Ready(FirstBytes::Read),
        Poll::Pending => Poll::Pending,
    });
    tokio::time::timeout(timeout, driven)
        .await
        .unwrap_or(FirstBytes::TimedOut)
}
