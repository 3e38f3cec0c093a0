// The steps of the sequence are typed: each consumes the state before it. Draining before the
// trigger does not compile: `Running` has no `drain`.
async fn misordered() {
    let running = lifecycle::Sequence::new(lifecycle::Config::new()).start_without_signals();
    running.drain().await;
}

fn main() {}
