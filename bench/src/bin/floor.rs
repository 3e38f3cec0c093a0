//! The floor: a bare Tokio program that exits on SIGTERM. Nothing can shut down faster.
use std::io::Write;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready -");
    let _ = out.flush();
    drop(out);
    term.recv().await;
}
