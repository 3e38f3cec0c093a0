//! How many TCP handshakes are under way on a listener (SYN answered, the client's ACK not yet
//! arrived), asked of the kernel through `sock_diag` netlink (what `ss -t state syn-recv` reads).
//! The serve loop's close waits for them once new SYNs are dropped: each becomes a connection in
//! the queue within a round trip, and closing the listener before would reset it.

use std::io;

use tokio::net::TcpListener;

/// The handshakes under way on `listener`'s port: an error where the kernel cannot be asked (not
/// Linux, netlink refused).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn under_way(listener: &TcpListener) -> io::Result<usize> {
    let local = listener.local_addr()?;
    // An IPv6 listener's IPv4 clients (dual stack) are IPv6 ones to the kernel, IPv4-mapped.
    let family = if local.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    under_way_in(family, local.port())
}

/// The handshakes of address family `family` under way on local port `port`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn under_way_in(family: libc::c_int, port: u16) -> io::Result<usize> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    // SAFETY: a new socket; its descriptor is owned (and closed) by `socket` below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let request = Request {
        header: Header {
            len: std::mem::size_of::<Request>() as u32,
            kind: SOCK_DIAG_BY_FAMILY,
            flags: (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
            seq: 1,
            pid: 0,
        },
        body: InetDiagRequest {
            family: family as u8,
            protocol: libc::IPPROTO_TCP as u8,
            ext: 0,
            pad: 0,
            // A request socket's state is NEW_SYN_RECV, reported as SYN_RECV.
            states: (1 << TCP_SYN_RECV) | (1 << TCP_NEW_SYN_RECV),
            id: [0; 48],
        },
    };
    // SAFETY: sends the bytes of `request`, a plain `repr(C)` value, to the kernel.
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            (&request as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let port = port.to_be_bytes();
    let mut count = 0;
    let mut buf = vec![0_u8; 32 * 1024];
    loop {
        // SAFETY: `recv` writes at most `buf.len()` bytes into `buf`.
        let got = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut rest = &buf[..got as usize];
        while rest.len() >= HEADER_LEN {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if len < HEADER_LEN || len > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a malformed sock_diag answer",
                ));
            }
            match i32::from(kind) {
                libc::NLMSG_DONE => return Ok(count),
                libc::NLMSG_ERROR => {
                    let code = rest.get(HEADER_LEN..HEADER_LEN + 4).map_or(0, |code| {
                        i32::from_ne_bytes([code[0], code[1], code[2], code[3]])
                    });
                    return Err(io::Error::from_raw_os_error(-code));
                }
                _ => {
                    // `inet_diag_msg`: family, state, timer, retransmits, then the socket id,
                    // which starts with the local port (network order).
                    let message = &rest[HEADER_LEN..len];
                    if message.len() >= 6 && message[4..6] == port {
                        count += 1;
                    }
                }
            }
            // Messages are aligned to 4 bytes.
            rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
        }
    }
}

/// Handshakes under way: the kernel cannot be asked here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn under_way(_: &TcpListener) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const SOCK_DIAG_BY_FAMILY: u16 = 20;
#[cfg(any(target_os = "linux", target_os = "android"))]
const TCP_SYN_RECV: u32 = 3;
#[cfg(any(target_os = "linux", target_os = "android"))]
const TCP_NEW_SYN_RECV: u32 = 12;
#[cfg(any(target_os = "linux", target_os = "android"))]
const HEADER_LEN: usize = std::mem::size_of::<Header>();

/// `struct nlmsghdr`.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[repr(C)]
struct Header {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_req_v2`, its socket id (`struct inet_diag_sockid`, 48 bytes) left zero:
/// a dump of every socket in the states asked for.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[repr(C)]
struct InetDiagRequest {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: [u8; 48],
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[repr(C)]
struct Request {
    header: Header,
    body: InetDiagRequest,
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kernel_answers_for_a_listener_and_completed_handshakes_are_not_counted() {
        for address in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = TcpListener::bind(address).await else {
                continue; // no IPv6 here
            };
            assert_eq!(under_way(&listener).unwrap(), 0, "{address}");
            // A connection in the queue has completed its handshake.
            let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            assert_eq!(under_way(&listener).unwrap(), 0, "{address}");
        }
    }

    /// An IPv4 client of an IPv6 listener (dual stack) is counted too (as an IPv6 one).
    #[tokio::test]
    async fn an_ipv4_handshake_on_an_ipv6_listener_is_counted() {
        let Ok(listener) = TcpListener::bind("[::]:0").await else {
            return; // no IPv6 here
        };
        crate::listeners::filter::hold_handshakes(&listener);
        let port = listener.local_addr().unwrap().port();
        let Ok(_client) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            return; // IPV6_V6ONLY by default here
        };
        assert_eq!(under_way(&listener).unwrap(), 1);
    }

    /// A handshake held half done: the client is connected, the listener's side waits for an
    /// ACK that a test filter drops.
    #[tokio::test]
    async fn a_handshake_whose_last_ack_has_not_arrived_is_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        crate::listeners::filter::hold_handshakes(&listener);
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(under_way(&listener).unwrap(), 1);
    }
}
