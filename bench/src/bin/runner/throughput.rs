//! Requests per second in steady state: the lifecycle's serve loop against `axum::serve` on the
//! same app, under wrk, with connections kept alive and with a new connection per request.

use std::process::Command;
use std::time::Duration;

use crate::proc::Proc;
use crate::process_scenarios::Contender;
use crate::stats::{Row, Samples};

/// How the load's clients use their connections.
#[derive(Clone, Copy)]
pub enum Pattern {
    /// 64 connections, each kept alive for the whole run.
    KeepAlive,
    /// 64 clients, each opening a new connection per request (`Connection: close`).
    NewConnection,
}

/// Where the server and the load run.
#[derive(Clone, Copy)]
pub enum Placement {
    /// Both on both cores, as the scheduler likes (`wrk -t2`; the server's runtime has two
    /// workers).
    Shared,
    /// The server bound to CPU 0 (its runtime sees one CPU and starts one worker), wrk with one
    /// thread bound to CPU 1: neither takes the other's core, so a run depends less on where the
    /// scheduler put whom.
    Pinned,
}

/// What wrk reported for one run.
struct Wrk {
    per_second: f64,
    /// Socket errors (connect, read, write, timeout) and non-2xx answers.
    errors: u64,
}

/// The figure after `key` on the line that has it: `Requests/sec:  1234.56`.
fn number_after(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.contains(key))?;
    let rest = line.split(key).nth(1)?;
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?
        .parse()
        .ok()
}

/// Every error count wrk printed (`Socket errors: connect 0, read 0, write 0, timeout 0` and
/// `Non-2xx or 3xx responses: N`).
fn errors(text: &str) -> u64 {
    let mut total = 0;
    if let Some(line) = text.lines().find(|line| line.contains("Socket errors")) {
        for key in ["connect", "read", "write", "timeout"] {
            total += number_after(line, key).unwrap_or(0.0) as u64;
        }
    }
    total + number_after(text, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64
}

fn wrk(addr: &str, pattern: Pattern, placement: Placement, seconds: u64) -> Wrk {
    let mut command = Command::new("wrk");
    match placement {
        Placement::Shared => command.arg("-t2"),
        Placement::Pinned => {
            crate::proc::pin(&mut command, 1);
            command.arg("-t1")
        }
    };
    command.args(["-c64", &format!("-d{seconds}s")]);
    if let Pattern::NewConnection = pattern {
        command.args(["-H", "Connection: close"]);
    }
    let output = command
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    Wrk {
        per_second: number_after(&text, "Requests/sec:").unwrap_or(f64::NAN),
        errors: errors(&text),
    }
}

/// Each contender `runs` times, interleaved (A B A B ...), `seconds` of load each after a
/// one-second warm-up; a fresh process per run. Rows of requests per second, with the median of
/// the ratios to contender `base` run by run (each against the run next to it, so a change in the
/// machine's load between runs weighs less than in the ratio of medians) and the errors wrk saw
/// in all the runs.
pub fn requests_per_second(
    contenders: &[Contender],
    base: usize,
    pattern: Pattern,
    placement: Placement,
    runs: usize,
    seconds: u64,
) -> Vec<Row> {
    let mut samples = vec![Samples::default(); contenders.len()];
    let mut failed = vec![0u64; contenders.len()];
    for _ in 0..runs {
        for (i, contender) in contenders.iter().enumerate() {
            let cpu = match placement {
                Placement::Shared => None,
                Placement::Pinned => Some(0),
            };
            let mut proc = Proc::start_on(&contender.bin, &contender.env, "ready ", cpu);
            let _ = wrk(&proc.addr, pattern, placement, 1);
            // Sockets of the warm-up closing (TIME_WAIT) must not weigh on the run.
            std::thread::sleep(Duration::from_millis(200));
            let run = wrk(&proc.addr, pattern, placement, seconds);
            samples[i].0.push(run.per_second);
            failed[i] += run.errors;
            let (_, status) = proc.signal_and_time_exit(libc::SIGTERM);
            assert!(status.code().is_some(), "{}: {status:?}", contender.name);
        }
    }
    let paired: Vec<Samples> = samples
        .iter()
        .map(|own| {
            let ratios = own.0.iter().zip(&samples[base].0).map(|(a, b)| a / b);
            Samples(ratios.collect())
        })
        .collect();
    contenders
        .iter()
        .zip(samples)
        .zip(paired)
        .zip(failed)
        .map(|(((contender, samples), paired), failed)| Row {
            name: contender.name.to_owned(),
            samples,
            extra: vec![format!("{:.2}×", paired.median()), failed.to_string()],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rate_and_the_errors_from_wrk() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n\
                    \x20 Socket errors: connect 0, read 3, write 1, timeout 2\n\
                    \x20 Non-2xx or 3xx responses: 4\nRequests/sec:  51234.56\nTransfer/sec: 6MB\n";
        assert_eq!(number_after(text, "Requests/sec:"), Some(51234.56));
        assert_eq!(errors(text), 10);
    }
}
