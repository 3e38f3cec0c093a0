//! A service whose start hook blocks its thread, for `tests/start_process.rs`: an async
//! `#[on_start]` that calls `std::thread::sleep` on a current-thread runtime, so Tokio's clock
//! (and with it the start-up timeout's timer) never runs again. The watchdog thread must end the
//! process at `startup_timeout` (1 s, or `LIFECYCLE_STARTUP_TIMEOUT`) plus the deadline margin.
//!
//! `START=sleep` makes the hook sleep on Tokio's clock instead: the ordinary start-up timeout
//! then ends start-up, with a rollback and a report. `START=quick` starts at once and serves
//! until SIGTERM. `SAY_MAIN_BEGAN=1` prints `main began` from `init`, which runs first in `main`
//! once the shutdown signals are held: a test signals the process right after that line.
//! `INIT_MS=N` makes `init` take N milliseconds after that line.

use std::io::Write;
use std::time::Duration;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[lifecycle::on_start]
async fn open_database() {
    say("start began");
    match std::env::var("START").as_deref() {
        Ok("quick") => {}
        Ok("sleep") => tokio::time::sleep(Duration::from_secs(600)).await,
        _ => std::thread::sleep(Duration::from_secs(600)),
    }
    say("start done");
}

#[lifecycle::on_shutdown]
async fn close_database() {
    say("stop database");
}

/// `init`: the earliest moment the app's code runs in the generated `main`.
fn announce() {
    if std::env::var_os("SAY_MAIN_BEGAN").is_some_and(|value| value == "1") {
        say("main began");
    }
    if let Some(ms) = std::env::var("INIT_MS").ok().and_then(|ms| ms.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

#[lifecycle::main(flavor = "current_thread", startup_timeout = "1s", init = announce)]
async fn main(lc: lifecycle::Lifecycle) {
    if !lc.started().await {
        say("main: start-up failed");
        return;
    }
    say("ready");
    lc.cancelled().await;
}
