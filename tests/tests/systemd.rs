//! systemd's notification protocol on real processes: a datagram socket bound by the test stands
//! in for systemd, the `fixture` service is started with `NOTIFY_SOCKET` naming it, stopped with a
//! real SIGTERM, and what reached the socket is checked message by message.
#![cfg(target_os = "linux")]

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifecycle_tests::{poll_until, try_get, Dependency, Service};

const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");
const FAULTY: &str = env!("CARGO_BIN_EXE_faulty");
const BLOCKED_START: &str = env!("CARGO_BIN_EXE_blocked_start");
const CHECKED: &str = env!("CARGO_BIN_EXE_checked");

/// The `phases` scenario's hard deadline plus the second of slack every extension adds:
/// drain delay 0.3 s + grace 10 s + hooks 2 s + 2 s, the 1 s deadline margin, then 1 s.
const LONGEST_EXTENSION_USEC: u64 = 16_300_000;

/// A socket standing in for systemd, under an abstract name (`@...`) unique to the test, read
/// as it arrives by a thread of its own (the kernel queues only a handful of datagrams).
struct FakeSystemd {
    name: String,
    received: Arc<Mutex<Vec<Vec<String>>>>,
    _socket: Arc<UnixDatagram>,
}

impl FakeSystemd {
    fn new(test: &str) -> Self {
        let systemd = Self::deaf(test);
        let (socket, received) = (Arc::clone(&systemd._socket), Arc::clone(&systemd.received));
        std::thread::spawn(move || {
            let mut buf = vec![0; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let lines = text.lines().map(str::to_owned).collect();
                received.lock().unwrap().push(lines);
            }
        });
        systemd
    }

    /// One that never reads: its queue fills up.
    fn deaf(test: &str) -> Self {
        let name = format!("lifecycle-test-{}-{test}", std::process::id());
        let address = SocketAddr::from_abstract_name(&name).expect("abstract address");
        let socket = UnixDatagram::bind_addr(&address).expect("bind the fake systemd");
        Self {
            name,
            received: Arc::default(),
            _socket: Arc::new(socket),
        }
    }

    /// What `NOTIFY_SOCKET` holds to reach it.
    fn address(&self) -> String {
        format!("@{}", self.name)
    }

    /// Every datagram received so far, each as its lines (after a moment for the last ones).
    fn received(&self) -> Vec<Vec<String>> {
        std::thread::sleep(Duration::from_millis(100));
        self.received.lock().unwrap().clone()
    }

    /// How many datagrams wait in a deaf one's queue.
    fn queued(&self) -> usize {
        self._socket.set_nonblocking(true).unwrap();
        let mut buf = vec![0; 4096];
        std::iter::from_fn(|| self._socket.recv(&mut buf).ok()).count()
    }
}

fn extension(line: &str) -> Option<u64> {
    line.strip_prefix("EXTEND_TIMEOUT_USEC=")
        .map(|usec| usec.parse().expect("a number of microseconds"))
}

#[test]
fn systemd_hears_ready_then_stopping_then_each_phase_with_the_time_left() {
    let systemd = FakeSystemd::new("phases");
    let mut service = Service::start(
        FIXTURE,
        &["phases"],
        &[("NOTIFY_SOCKET", &systemd.address())],
    );
    service.wait_for("ready");
    let signalled = Instant::now();
    service.signal("TERM");
    let exited = service.wait_exit();
    let took = signalled.elapsed();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);

    let messages = systemd.received();
    let without_extensions: Vec<Vec<&str>> = messages
        .iter()
        .map(|lines| {
            let lines = lines.iter().map(String::as_str);
            lines.filter(|line| extension(line).is_none()).collect()
        })
        .collect();
    assert_eq!(
        without_extensions,
        [
            vec!["STATUS=starting"],
            vec!["READY=1", "STATUS=running"],
            vec!["STOPPING=1", "STATUS=stopping: SIGTERM"],
            vec!["STATUS=draining: drain delay, still serving"],
            vec!["STATUS=draining"],
            vec!["STATUS=persisting"],
            vec!["STATUS=shutdown hooks"],
            vec!["STATUS=done: exit code 0"],
        ],
        "all messages: {messages:?}"
    );

    // From STOPPING=1 on, every phase extends systemd's stop timeout to the hard deadline plus a
    // second: never beyond it, never short of it by more than the time the shutdown has taken.
    let extensions: Vec<u64> = messages[2..7]
        .iter()
        .map(|lines| {
            let found = lines
                .iter()
                .filter_map(|line| extension(line))
                .collect::<Vec<_>>();
            assert_eq!(found.len(), 1, "one extension per phase: {lines:?}");
            found[0]
        })
        .collect();
    let shortest = LONGEST_EXTENSION_USEC - u64::try_from(took.as_micros()).unwrap();
    for (at, usec) in extensions.iter().enumerate() {
        assert!(
            (shortest..=LONGEST_EXTENSION_USEC).contains(usec),
            "extension {at} is {usec} µs, outside {shortest}..={LONGEST_EXTENSION_USEC}: {extensions:?}"
        );
    }
    assert!(
        extensions.windows(2).all(|pair| pair[1] <= pair[0]),
        "the deadline does not move away: {extensions:?}"
    );
    assert!(messages[7].iter().all(|line| extension(line).is_none()));
}

#[test]
fn watchdog_pings_come_at_half_the_interval_while_running_only() {
    let systemd = FakeSystemd::new("watchdog");
    let mut service = Service::start(
        FIXTURE,
        &["phases"],
        &[
            ("NOTIFY_SOCKET", &systemd.address()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    service.wait_for("ready");
    let running = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let ran = running.elapsed();
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);

    let messages = systemd.received();
    let is_ping = |lines: &Vec<String>| lines == &["WATCHDOG=1"];
    let ready = messages
        .iter()
        .position(|m| m.contains(&"READY=1".to_owned()));
    let stopping = messages
        .iter()
        .position(|m| m.contains(&"STOPPING=1".to_owned()));
    let (ready, stopping) = (ready.expect("READY=1"), stopping.expect("STOPPING=1"));
    let pings = messages.iter().filter(|m| is_ping(m)).count();
    let between = messages[ready..stopping]
        .iter()
        .filter(|m| is_ping(m))
        .count();
    assert_eq!(pings, between, "pings only while running: {messages:?}");
    // One at once, then one every 100 ms: never more than that; fewer only on a machine so busy
    // that half of them were late.
    let most = usize::try_from(ran.as_millis() / 100).unwrap() + 2;
    assert!(
        (most / 2..=most).contains(&pings),
        "{pings} pings in {ran:?}, expected about one per 100 ms (at most {most})"
    );
}

#[test]
fn a_watchdog_meant_for_another_process_gets_no_pings() {
    let systemd = FakeSystemd::new("watchdog-pid");
    let mut service = Service::start(
        FIXTURE,
        &["phases"],
        &[
            ("NOTIFY_SOCKET", &systemd.address()),
            ("WATCHDOG_USEC", "20000"),
            ("WATCHDOG_PID", "1"),
        ],
    );
    service.wait_for("ready");
    std::thread::sleep(Duration::from_millis(200));
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let messages = systemd.received();
    assert!(
        messages.len() >= 8,
        "the notifications still came: {messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m == &["WATCHDOG=1"]),
        "{messages:?}"
    );
}

#[test]
fn without_notify_socket_nothing_is_sent_and_nothing_is_said() {
    let systemd = FakeSystemd::new("unset");
    let mut service = Service::start(FIXTURE, &["phases"], &[("WATCHDOG_USEC", "20000")]);
    service.wait_for("ready");
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(systemd.received(), Vec::<Vec<String>>::new());
    assert!(
        !exited.stderr.contains("NOTIFY_SOCKET"),
        "{}",
        exited.stderr
    );
    assert!(!exited.stderr.contains("WATCHDOG"), "{}", exited.stderr);
}

#[test]
fn a_notify_socket_that_leads_nowhere_is_a_warning_not_a_failure() {
    let cases = [
        ("/nonexistent/lifecycle/notify", "No such file or directory"),
        ("relative/notify", "expected an absolute path"),
        ("@lifecycle-test-nobody-listens-here", "Connection refused"),
    ];
    for (address, why) in cases {
        let mut service = Service::start(FIXTURE, &["phases"], &[("NOTIFY_SOCKET", address)]);
        service.wait_for("ready");
        service.signal("TERM");
        let exited = service.wait_exit();
        assert_eq!(exited.code(), 0, "{address}: stderr:\n{}", exited.stderr);
        assert!(
            exited.stderr.contains("NOTIFY_SOCKET") && exited.stderr.contains(why),
            "{address}: the warning names the variable and says why:\n{}",
            exited.stderr
        );
        assert!(
            exited.stderr.contains("trigger: SIGTERM"),
            "{}",
            exited.stderr
        );
    }
}

#[test]
fn a_systemd_that_stops_reading_cannot_hold_the_service() {
    // Bound and never read: once its queue is full (a few datagrams), every send fails at once,
    // or would block, were the socket blocking. A ping every 0.5 ms keeps it full.
    let systemd = FakeSystemd::deaf("full");
    let mut service = Service::start(
        FIXTURE,
        &["phases"],
        &[
            ("NOTIFY_SOCKET", &systemd.address()),
            ("WATCHDOG_USEC", "1000"),
        ],
    );
    service.wait_for("ready");
    std::thread::sleep(Duration::from_millis(500));
    service.signal("TERM");
    // The shutdown's own work takes under a second; a blocked send would hold it to the hard
    // deadline (15 s) and exit 4.
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(systemd.queued() > 0, "the queue filled up");
}

#[test]
fn a_hung_runtime_stops_the_pings_and_systemd_still_hears_the_stop_and_the_deadline() {
    // `hang`: a current-thread runtime whose main blocks the thread 300 ms after Ready. Pings
    // every 50 ms until then; none after. SIGTERM still reaches the watchdog thread: STOPPING=1,
    // and at the hard deadline (grace 0.5 s + margin 0.5 s) the status that says why it ended.
    let systemd = FakeSystemd::new("hang");
    let mut service = Service::start(
        FAULTY,
        &["hang"],
        &[
            ("NOTIFY_SOCKET", &systemd.address()),
            ("WATCHDOG_USEC", "100000"),
        ],
    );
    service.wait_for("hanging");
    std::thread::sleep(Duration::from_millis(100));
    let pings_when_hung = systemd
        .received()
        .iter()
        .filter(|m| m == &&["WATCHDOG=1"])
        .count();
    std::thread::sleep(Duration::from_millis(700));
    let later = systemd.received();
    let pings = later.iter().filter(|m| m == &&["WATCHDOG=1"]).count();
    assert!(pings_when_hung >= 3, "pings while it ran: {later:?}");
    assert_eq!(
        pings, pings_when_hung,
        "no ping from a hung runtime: {later:?}"
    );

    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 4, "stderr:\n{}", exited.stderr);
    let messages = systemd.received();
    let [.., stopping, last] = &messages[..] else {
        panic!("{messages:?}");
    };
    assert_eq!(
        stopping[..2],
        ["STOPPING=1", "STATUS=stopping: SIGTERM"],
        "{messages:?}"
    );
    assert_eq!(
        last,
        &["STATUS=hard deadline passed (running): exit code 4"]
    );
}

#[test]
fn a_second_signal_tells_systemd_why_the_process_ends_even_from_a_hung_runtime() {
    // `hang`: main blocks the only thread of a current-thread runtime. The first SIGTERM starts
    // the shutdown, the second (past the 50 ms repeat window, before the 1 s hard deadline)
    // forces the exit from the watchdog thread; its last message to systemd says so.
    let systemd = FakeSystemd::new("forced");
    let mut service = Service::start(FAULTY, &["hang"], &[("NOTIFY_SOCKET", &systemd.address())]);
    service.wait_for("hanging");
    service.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    service.signal("TERM");
    let exited = service.wait_exit();
    assert!(
        second.elapsed() < Duration::from_millis(700),
        "forced at once, not at the hard deadline: {:?}",
        second.elapsed()
    );
    assert_eq!(exited.code(), 143, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("lifecycle: SIGTERM during shutdown: exiting now with code 143"),
        "{}",
        exited.stderr
    );
    let messages = systemd.received();
    let [.., stopping, last] = &messages[..] else {
        panic!("{messages:?}");
    };
    assert_eq!(
        stopping[..2],
        ["STOPPING=1", "STATUS=stopping: SIGTERM"],
        "{messages:?}"
    );
    assert_eq!(
        last,
        &["STATUS=forced exit by a second signal (SIGTERM): exit code 143"],
        "{messages:?}"
    );
}

#[test]
fn a_second_signal_exits_at_once_when_systemd_stops_reading() {
    // Nobody reads the socket and pings every 0.5 ms keep its queue full: the forced exit's last
    // message is dropped, never waited for.
    let systemd = FakeSystemd::deaf("forced-full");
    let mut service = Service::start(
        FIXTURE,
        &["slow-hook"],
        &[
            ("NOTIFY_SOCKET", &systemd.address()),
            ("WATCHDOG_USEC", "1000"),
        ],
    );
    service.wait_for("ready");
    std::thread::sleep(Duration::from_millis(300));
    service.signal("TERM");
    service.wait_for("hook slow started");
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 143, "stderr:\n{}", exited.stderr);
    assert!(
        second.elapsed() < Duration::from_millis(700),
        "{:?}",
        second.elapsed()
    );
    assert!(systemd.queued() > 0, "the queue filled up");
}

#[test]
fn a_shutdown_requested_before_start_tells_systemd_stopping_and_never_ready() {
    let systemd = FakeSystemd::new("before-start");
    let service = Service::start(
        FIXTURE,
        &["stop-before-start"],
        &[("NOTIFY_SOCKET", &systemd.address())],
    );
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 5, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stdout.is_empty(),
        "no start hook ran: {:?}",
        exited.stdout
    );
    let messages = systemd.received();
    let without_extensions: Vec<Vec<&str>> = messages
        .iter()
        .map(|lines| {
            let lines = lines.iter().map(String::as_str);
            lines.filter(|line| extension(line).is_none()).collect()
        })
        .collect();
    assert_eq!(
        without_extensions,
        [
            vec!["STATUS=starting"],
            vec!["STOPPING=1", "STATUS=stopping: shutdown requested"],
            vec!["STATUS=draining: drain delay, still serving"],
            vec!["STATUS=draining"],
            vec!["STATUS=persisting"],
            vec!["STATUS=shutdown hooks"],
            vec!["STATUS=done: exit code 5"],
        ],
        "all messages: {messages:?}"
    );
    assert!(
        extension(messages[1].last().unwrap()).is_some(),
        "STOPPING=1 extends the stop timeout to the hard deadline: {messages:?}"
    );
}

#[test]
fn a_start_up_that_overruns_on_a_blocked_thread_tells_systemd_why() {
    // A start hook blocks the only thread at once: no READY=1, and at startup_timeout (1 s) plus
    // the margin the watchdog thread's last message says why the process ends.
    let systemd = FakeSystemd::new("blocked-start");
    let service = Service::start(BLOCKED_START, &[], &[("NOTIFY_SOCKET", &systemd.address())]);
    let exited = service.wait_exit_within(Duration::from_secs(10));
    assert_eq!(exited.code(), 5, "stderr:\n{}", exited.stderr);
    assert_eq!(
        systemd.received(),
        [
            vec!["STATUS=starting".to_owned()],
            vec!["STATUS=start-up overran its timeout: exit code 5".to_owned()],
        ]
    );
}

#[test]
fn status_follows_a_failing_readiness_check_and_says_running_again_when_it_passes() {
    let systemd = FakeSystemd::new("checks");
    let mut dependency = Dependency::open();
    let address = dependency.address().to_string();
    let env = [
        ("DEPENDENCY", address.as_str()),
        ("NOTIFY_SOCKET", &systemd.address()),
    ];
    let mut service = Service::start(CHECKED, &[], &env);
    let http = service.wait_for_address();
    let ready = |want: u16| {
        poll_until(&format!("/ready {want}"), || {
            let (status, _) = try_get(http, "/ready").unwrap_or_else(|err| panic!("{err}"));
            (status == want).then_some(())
        })
    };
    ready(200);
    dependency.close();
    ready(503);
    dependency.reopen();
    ready(200);
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);

    let statuses: Vec<String> = systemd
        .received()
        .into_iter()
        .flatten()
        .filter(|line| line.starts_with("STATUS=") || line == "READY=1")
        .collect();
    let down = statuses
        .iter()
        .position(|line| line.starts_with("STATUS=not ready: "))
        .unwrap_or_else(|| panic!("no `not ready` status: {statuses:?}"));
    assert_eq!(
        statuses[..down],
        ["STATUS=starting", "READY=1", "STATUS=running"],
        "{statuses:?}"
    );
    assert!(
        statuses[down].starts_with("STATUS=not ready: check dependency failed: Connection refused"),
        "{statuses:?}"
    );
    // Once per change, not once per failed run: then running again, then the stop.
    assert_eq!(statuses[down + 1], "STATUS=running", "{statuses:?}");
    assert!(
        statuses[down + 2].starts_with("STATUS=stopping: SIGTERM"),
        "{statuses:?}"
    );
}
