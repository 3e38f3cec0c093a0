// Persist hooks run after the drain, never before it: `Triggered` has no `persist`.
async fn early() {
    let running = lifecycle::Sequence::new(lifecycle::Config::new()).start_without_signals();
    let triggered = running.run_until_trigger(async {}).await;
    triggered.persist().await;
}

fn main() {}
