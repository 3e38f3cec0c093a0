//! Instructions per request, counted by callgrind: what a timed load cannot hold still on a
//! shared machine. Each server runs under `valgrind --tool=callgrind` twice, answering 2,000
//! and then 22,000 requests from `req_load` (release example); the difference of the two totals
//! over 20,000 is the cost of a request, start-up and shutdown cancelling out.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::send;

/// Requests of the short and the long run: their difference is what is divided.
const SHORT: usize = 2_000;
const LONG: usize = 22_000;

/// Whether valgrind is installed (the scenario is skipped, and says so, when it is not).
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The total instructions callgrind counted for `server` answering `requests` requests from
/// `req_load` over 64 connections (`keepalive` or `close`); `None` (with a line on stderr) when
/// a step failed.
fn total(server: &Path, req_load: &Path, pattern: &str, requests: usize) -> Option<u64> {
    let out = std::env::temp_dir().join(format!(
        "lifecycle-bench-callgrind-{}-{pattern}-{requests}",
        std::process::id()
    ));
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(server)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("ready ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
        eprintln!(
            "  {} never printed `ready` under valgrind",
            server.display()
        );
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    let load = Command::new(req_load)
        .args([&addr, "64", &requests.to_string(), pattern])
        .stdout(Stdio::null())
        .status();
    send(child.id() as i32, libc::SIGTERM);
    let _ = child.wait();
    if !load.is_ok_and(|status| status.success()) {
        eprintln!("  req_load failed against {}", server.display());
        return None;
    }
    let text = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Instructions per request of `server` under `pattern`.
pub fn per_request(server: &Path, req_load: &Path, pattern: &str) -> Option<f64> {
    let short = total(server, req_load, pattern, SHORT)?;
    let long = total(server, req_load, pattern, LONG)?;
    Some((long.saturating_sub(short)) as f64 / (LONG - SHORT) as f64)
}
