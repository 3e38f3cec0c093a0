//! `lifecycle` with no server: the attribute's whole sequence around a main that waits for the
//! shutdown. Against the floor, this isolates what the framework itself adds to an idle exit.
use std::io::Write;

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready -");
        let _ = out.flush();
    }
    lc.cancelled().await;
}
