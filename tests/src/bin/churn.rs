//! Counts what shutdowns do to clients that open a new connection for every request (see
//! `lifecycle_tests::churn`): starts the server, puts it under load, sends SIGTERM, and counts
//! the answered, refused and lost (reset, closed unanswered) attempts, run after run.
//!
//! ```text
//! cargo build -p lifecycle-tests --bin churn --bin example-http_server
//! LIFECYCLE_DRAIN_DELAY=0s STATE_DIR=/tmp/churn PORT=0 \
//!     target/debug/churn --runs 20 --clients 32 --path /health --ready ready: \
//!     target/debug/example-http_server
//! ```
//!
//! The server must print `listening on ADDRESS` on stdout (then, with `--ready`, a line starting
//! with it: SIGTERM before start-up is over is a rollback, exit code 5); it inherits this
//! environment.

use std::time::Duration;

use lifecycle_tests::churn::{shutdown_under_load, Tally};

fn main() {
    let mut runs = 20;
    let mut clients = 32;
    let mut path = String::from("/health");
    let mut before_ms = 50;
    let mut ready = None;
    let mut program = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--runs" => runs = number(&value("--runs")),
            "--clients" => clients = number(&value("--clients")),
            "--before-ms" => before_ms = number(&value("--before-ms")),
            "--path" => path = value("--path"),
            "--ready" => ready = Some(value("--ready")),
            _ if program.is_none() && !arg.starts_with('-') => program = Some(arg),
            _ => usage(&format!("unexpected `{arg}`")),
        }
    }
    let program = program.unwrap_or_else(|| usage("no server program given"));
    let mut total = Tally::default();
    let mut lossy_runs = 0;
    for run in 1..=runs {
        let (tally, code) = shutdown_under_load(
            &program,
            &[],
            ready.as_deref(),
            &path,
            clients,
            Duration::from_millis(before_ms as u64),
        );
        println!("run {run}: exit {code}, {tally}");
        if tally.lost() > 0 {
            lossy_runs += 1;
        }
        total.add(&tally);
    }
    println!(
        "total over {runs} runs of {clients} clients: {total}; runs with a loss: {lossy_runs}"
    );
    for example in &total.examples {
        println!("  e.g. {example}");
    }
}

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("`{text}` is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!("churn: {problem}\nusage: churn [--runs 20] [--clients 32] [--path /health] [--before-ms 50] [--ready LINE-PREFIX] PROGRAM");
    std::process::exit(2)
}
