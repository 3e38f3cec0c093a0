//! Closing the serve loop's listener without resetting a connection: new connection attempts
//! stopped first (Linux; see `listeners/filter.rs`), then every connection the kernel had
//! already accepted into the listener's queue accepted and served, and the handshakes still
//! under way waited for (`listeners/handshakes.rs`) and served too (a connection that has sent
//! nothing yet is given the time to send its request: `serve_connection` in `mod.rs`).

use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::listeners::{self, filter, handshakes};
use crate::log::quietly;

/// How often the close asks the kernel whether handshakes are still under way on the listener
/// (they become connections in its queue within a round trip).
const HANDSHAKE_POLL: Duration = Duration::from_millis(1);

/// Where the kernel cannot say which handshakes are under way (not Linux, `sock_diag` refused),
/// how long the close waits for one after the queue is empty: a round trip on a local network
/// or across a continent. A handshake slower than that (its ACK lost, say) is reset by the
/// close.
const HANDSHAKES_IN_FLIGHT: Duration = Duration::from_millis(50);

/// How long the close may take, at most: with new attempts stopped, only the handshakes under
/// way can join the queue, so this bound is reached only by one whose client never completes
/// it (a SYN flood) or a flood that the filter could not stop.
const LONGEST_CLOSE: Duration = Duration::from_secs(1);

/// Stops new connections to `listener`, hands every connection already queued (and every
/// handshake under way, once complete) to `serve`, and closes it. A socket passed by the
/// service manager gets its filter removed first: the manager keeps its own copy, which must
/// take connections again for the next process.
pub(super) async fn close_listener(
    listener: TcpListener,
    mut serve: impl FnMut(TcpStream, SocketAddr),
) {
    if listeners::shared() {
        return hand_over(listener);
    }
    let stopped = filter::refuse_new_connections(&listener);
    let started = tokio::time::Instant::now();
    let mut accepted = take_queued(&listener, &mut serve).await;
    // Without the filter new connections keep coming: those queued now are all it takes.
    let mut blind = false;
    // A completed handshake leaves the kernel's count a few microseconds before its connection
    // joins the queue: one count of none is checked by a second, a poll later.
    let mut none_once = false;
    while stopped && started.elapsed() < LONGEST_CLOSE {
        let wait = if blind {
            HANDSHAKES_IN_FLIGHT
        } else {
            match handshakes::under_way(&listener) {
                Ok(0) if none_once => {
                    accepted += take_queued(&listener, &mut serve).await;
                    break;
                }
                Ok(0) => {
                    none_once = true;
                    HANDSHAKE_POLL
                }
                Ok(_) => {
                    none_once = false;
                    HANDSHAKE_POLL
                }
                Err(err) => {
                    quietly(|| {
                        tracing::debug!(
                            error = %err,
                            "cannot count the handshakes under way on the closing listener;                              waiting 50 ms for them"
                        )
                    });
                    blind = true;
                    HANDSHAKES_IN_FLIGHT
                }
            }
        };
        match tokio::time::timeout(wait, listener.accept()).await {
            Ok(Ok((stream, peer))) => {
                accepted += 1;
                serve(stream, peer);
                accepted += take_queued(&listener, &mut serve).await;
            }
            // An error of one connection (reset before it was accepted) ends nothing.
            Ok(Err(_)) => {}
            Err(_elapsed) if blind => break,
            Err(_elapsed) => {}
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

/// Closes `listener` while another process accepts on the same socket (an in-place upgrade):
/// only this process's descriptor closes. No filter (it would be on the socket, and make the
/// other process drop new connections) and nothing accepted from the queue: the socket stays
/// open, and the other process accepts what is queued and what comes.
fn hand_over(listener: TcpListener) {
    let address = listener.local_addr().ok();
    drop(listener);
    quietly(|| {
        tracing::info!(
            address = ?address,
            "listener handed over: the other process accepts on it; this one stopped accepting"
        )
    });
}

/// Hands every connection queued on `listener` right now to `serve`; returns how many.
async fn take_queued(
    listener: &TcpListener,
    serve: &mut impl FnMut(TcpStream, SocketAddr),
) -> usize {
    let mut taken = 0;
    // `poll_accept` is Pending once the queue is empty (the kernel's EAGAIN).
    while let Poll::Ready(next) =
        std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await
    {
        // An error of one connection (reset before it was accepted) ends nothing.
        if let Ok((stream, peer)) = next {
            taken += 1;
            serve(stream, peer);
        }
    }
    taken
}

/// How long, when the listener was handed over to another process (an upgrade), a keep-alive
/// connection is waited for to send its next request (answered with `Connection: close`, after
/// which it closes) before it is closed; and a connection that has sent nothing yet, for its
/// first bytes.
/// Active clients move to the other process without a request lost; one idle for longer may
/// still send its next request just as its connection closes (then lost, as at any server's
/// idle timeout).
pub(super) const HAND_OVER_LINGER: Duration = Duration::from_secs(1);

/// How long, at the cancel, an HTTP/1 connection that has spoken is waited for to send its next
/// request (answered with `Connection: close`) before its graceful shutdown closes it: a client
/// sending requests back to back would otherwise have the one it sent as the connection closed
/// lost unanswered (one per keep-alive client per shutdown, measured in benchmark scenario 11).
/// Short, since an idle connection holds the drain this long.
pub(super) const KEEP_ALIVE_LINGER: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hyper::{body::Incoming, service::service_fn, Request, Response};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use crate::{Config, Sequence};

    /// Connections the kernel accepted before the serve loop did, with their requests sent, when
    /// the cancel came before the loop ever polled its listener: each is answered (with
    /// `Connection: close`), none reset.
    #[tokio::test]
    async fn connections_queued_at_the_cancel_are_answered_not_reset() {
        const QUEUED: usize = 8;
        let sequence = Sequence::new(Config::new());
        let lc = sequence.handle();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..QUEUED {
            let mut client = TcpStream::connect(address).await.unwrap();
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            clients.push(client);
        }
        let hello = service_fn(|_: Request<Incoming>| async {
            Ok::<_, Infallible>(Response::new("hello".to_owned()))
        });
        let handle = lc.clone();
        let report = sequence
            .run_without_signals(async move {
                handle.request_shutdown();
                handle.cancelled().await; // the loop starts cancelled
                crate::http::serve(&handle, listener, hello).await
            })
            .await;
        assert_eq!(report.code(), 0, "{report}");
        for mut client in clients {
            let mut response = String::new();
            let read = client.read_to_string(&mut response).await;
            assert!(
                read.is_ok() && response.starts_with("HTTP/1.1 200 OK\r\n"),
                "{read:?}, {response:?}"
            );
            assert!(response.contains("connection: close\r\n"), "{response:?}");
            assert!(response.ends_with("hello"), "{response:?}");
        }
    }

    /// A client whose handshake is half done when the listener closes (its last ACK lost, and
    /// its request with it; its kernel sends them again some 200 ms later): the close waits for
    /// it and it is answered, where closing at once would reset it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn a_handshake_half_done_at_the_cancel_is_waited_for_and_answered() {
        let sequence = Sequence::new(Config::new());
        let lc = sequence.handle();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        crate::listeners::filter::hold_handshakes(&listener);
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            crate::listeners::handshakes::under_way(&listener).unwrap(),
            1
        );
        let hello = service_fn(|_: Request<Incoming>| async {
            Ok::<_, Infallible>(Response::new("hello".to_owned()))
        });
        let handle = lc.clone();
        let report = sequence
            .run_without_signals(async move {
                handle.request_shutdown();
                handle.cancelled().await;
                crate::http::serve(&handle, listener, hello).await
            })
            .await;
        assert_eq!(report.code(), 0, "{report}");
        let mut response = String::new();
        let read = client.read_to_string(&mut response).await;
        assert!(
            read.is_ok() && response.starts_with("HTTP/1.1 200 OK\r\n"),
            "{read:?}, {response:?}"
        );
    }
}
