//! Listening sockets on real processes: systemd's socket activation (`lifecycle::listener` in
//! `examples/http_server.rs`, the socket passed as descriptor 3 the way systemd passes it, and
//! through `systemd-socket-activate` where it is installed), and the listener's close under
//! clients that open a new connection for every request (no reset at SIGTERM).
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use lifecycle_tests::churn::{shutdown_under_load, Load, Tally};
use lifecycle_tests::{poll_until, try_get, ScratchDir, Service, Stderr};

const HTTP_SERVER: &str = env!("CARGO_BIN_EXE_example-http_server");
const CONN_SERVER: &str = env!("CARGO_BIN_EXE_conn_server");

/// An address no interface of the machine has (TEST-NET-3): binding it fails, so a server that
/// binds instead of taking the passed socket cannot serve.
const UNBINDABLE_HOST: &str = "203.0.113.1";

/// Starts `http_server` the way systemd does: `socket` as descriptor 3, `LISTEN_FDS=1`,
/// `LISTEN_PID` the server's own process id (a shell sets it, then becomes the server with
/// `exec`), and `env`.
fn start_activated(socket: RawFd, env: &[(&str, &str)], state: &ScratchDir) -> Service {
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"LISTEN_PID=$$ exec "$0""#, HTTP_SERVER])
        .env("LISTEN_FDS", "1")
        .env("STATE_DIR", state.as_str())
        .env("LIFECYCLE_DRAIN_DELAY", "0s")
        .env("HOST", UNBINDABLE_HOST)
        .env("PORT", "8080");
    for (key, value) in env {
        command.env(key, value);
    }
    // SAFETY: `dup2` and `fcntl` are async-signal-safe. The new descriptor 3 is not
    // close-on-exec; when the socket is descriptor 3 already, `dup2` does nothing, and the flag
    // is cleared by hand.
    unsafe {
        command.pre_exec(move || {
            let done = if socket == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(socket, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Service::start_command(command, Stderr::Collect)
}

#[test]
fn the_socket_passed_by_socket_activation_serves_health_and_sigterm_stops_it_with_exit_0() {
    let state = ScratchDir::new("activation");
    // The test holds the socket as systemd does: it outlives the server.
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let mut server = start_activated(socket.as_raw_fd(), &[("LISTEN_FDNAMES", "http")], &state);

    assert_eq!(server.wait_for_address(), address);
    assert_eq!(try_get(address, "/health"), Ok((200, String::new())));
    server.wait_for_line(|line| line.starts_with("ready:"));
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("listening on the socket passed by the service manager"),
        "{}",
        exited.stderr
    );
    // The socket's filter (new connections stopped at the close) is gone with the server: the
    // copy the service manager keeps takes connections for the next process.
    TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .expect("the passed socket takes connections again once the server is gone");
}

#[test]
fn a_malformed_listen_fds_is_an_error_naming_the_variable() {
    let state = ScratchDir::new("activation-malformed");
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start_activated(socket.as_raw_fd(), &[("LISTEN_FDS", "two")], &state);
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 1, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("LISTEN_FDS=`two` is not a number of sockets"),
        "{}",
        exited.stderr
    );
}

#[test]
fn a_passed_socket_that_is_not_a_listening_tcp_socket_is_an_error_naming_it() {
    let state = ScratchDir::new("activation-udp");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = start_activated(udp.as_raw_fd(), &[("LISTEN_FDNAMES", "http")], &state);
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 1, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stderr.contains(
            "the socket passed as descriptor 3 (`http`) for listener `http` is a datagram \
             socket, not a listening TCP socket"
        ),
        "{}",
        exited.stderr
    );
}

#[test]
fn listen_pid_of_another_process_is_logged_and_the_listener_bound() {
    let state = ScratchDir::new("activation-other-pid");
    let mut server = Service::start(
        HTTP_SERVER,
        &[],
        &[
            ("LISTEN_PID", "1"),
            ("LISTEN_FDS", "1"),
            ("PORT", "0"),
            ("STATE_DIR", state.as_str()),
            ("LIFECYCLE_DRAIN_DELAY", "0s"),
        ],
    );
    let address = server.wait_for_address();
    assert_eq!(try_get(address, "/health"), Ok((200, String::new())));
    server.wait_for_line(|line| line.starts_with("ready:"));
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(
        exited
            .stderr
            .matches("LISTEN_PID names another process")
            .count(),
        1,
        "{}",
        exited.stderr
    );
}

/// `systemd-socket-activate` from systemd itself, where it is installed (Debian: `apt-get
/// install systemd`); elsewhere the test says so and passes (the tests above pass the socket
/// the same way).
#[test]
fn systemd_socket_activate_starts_the_server_on_its_socket_and_sigterm_stops_it_with_exit_0() {
    let Some(tool) = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists()) else {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    };
    let state = ScratchDir::new("systemd-socket-activate");
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let (listen, state_dir) = (address.to_string(), format!("STATE_DIR={}", state.as_str()));
    let mut server = Service::start(
        tool,
        &[
            "-l",
            &listen,
            "--fdname=http",
            "-E",
            &state_dir,
            "-E",
            "LIFECYCLE_DRAIN_DELAY=0s",
            "-E",
            "HOST=203.0.113.1", // unbindable: the passed socket or nothing
            HTTP_SERVER,
        ],
        &[],
    );
    // It starts the server at the first connection, which waits in the socket's queue (once
    // the tool listens).
    let mut first = poll_until("systemd-socket-activate listening", || {
        TcpStream::connect(address).ok()
    });
    first
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(server.wait_for_address(), address);
    let mut response = String::new();
    first.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert_eq!(try_get(address, "/health"), Ok((200, String::new())));
    server.wait_for_line(|line| line.starts_with("ready:"));
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}

/// 32 clients, each opening a new connection for every request, at the moment of SIGTERM:
/// every client that connected gets its answer (none reset, none closed unanswered), run after
/// run; the others are refused or never connected.
#[test]
fn clients_opening_a_connection_per_request_at_sigterm_are_answered_never_reset() {
    const RUNS: usize = 4;
    let state = ScratchDir::new("churn");
    let mut total = Tally::default();
    for _ in 0..RUNS {
        let env = [
            ("PORT", "0"),
            ("STATE_DIR", state.as_str()),
            ("LIFECYCLE_DRAIN_DELAY", "0s"),
        ];
        let (tally, code) = shutdown_under_load(
            HTTP_SERVER,
            &env,
            Some("ready:"),
            "/health",
            32,
            Duration::from_millis(20),
        );
        assert_eq!(code, 0);
        assert!(tally.answered > 0, "{tally}");
        total.add(&tally);
    }
    eprintln!("measured over {RUNS} shutdowns: {total}");
    assert_eq!(total.lost(), 0, "{total}; e.g. {:?}", total.examples);
}

/// A client that connected before the cancel and sends its request only after it (its request
/// was on its way) is answered: the connection is not dropped unread at the graceful shutdown.
#[test]
fn a_client_connected_before_the_cancel_that_sends_its_request_after_it_is_answered() {
    let mut server = Service::start(CONN_SERVER, &[], &[("HEADER_READ_TIMEOUT_MS", "5000")]);
    let address = server.wait_for_address();
    let mut silent = TcpStream::connect(address).unwrap();
    poll_until("the silent connection counted", || {
        let (_, stats) = try_get(address, "/stats").ok()?;
        stats.starts_with("connections 2\n").then_some(())
    });

    server.signal("TERM");
    // The listener stops taking connections at the cancel.
    poll_until("the listener closed", || {
        TcpStream::connect_timeout(&address, Duration::from_millis(100))
            .is_err()
            .then_some(())
    });
    silent
        .write_all(b"GET /slow?ms=0 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    let read = silent.read_to_string(&mut response);
    assert!(
        read.is_ok() && response.starts_with("HTTP/1.1 200 OK\r\n") && response.ends_with("done"),
        "{read:?}, {response:?}"
    );
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}

/// A restart on a socket the service manager holds (the test, here): clients opening a new
/// connection for every request all the while are answered by the old process or the new one;
/// none is refused, none reset (the new connections wait in the socket's queue, or retry their
/// SYN, while no process accepts).
#[test]
fn a_restart_on_the_socket_the_service_manager_holds_refuses_and_resets_no_one() {
    let state = ScratchDir::new("activation-restart");
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let env = [("LISTEN_FDNAMES", "http")];
    let mut old = start_activated(socket.as_raw_fd(), &env, &state);
    old.wait_for_line(|line| line.starts_with("ready:"));
    let load = Load::start_patient(address, "/health", 16, Duration::from_secs(10));
    load.wait_for_an_answer();

    old.signal("TERM");
    let exited = old.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let mut new = start_activated(socket.as_raw_fd(), &env, &state);
    new.wait_for_line(|line| line.starts_with("ready:"));
    // Answers from the new process too.
    for _ in 0..20 {
        assert_eq!(try_get(address, "/health"), Ok((200, String::new())));
    }
    let tally = load.stop();
    new.signal("TERM");
    let exited = new.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    eprintln!("measured across the restart: {tally}");
    assert!(tally.answered > 0, "{tally}");
    assert_eq!(
        (tally.refused, tally.not_connected, tally.lost()),
        (0, 0, 0),
        "{tally}; e.g. {:?}",
        tally.examples
    );
}
