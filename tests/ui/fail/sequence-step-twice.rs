// Each step consumes its state: a step cannot run twice, so the report is made once.
async fn twice() {
    let running = lifecycle::Sequence::new(lifecycle::Config::new()).start_without_signals();
    let triggered = running.run_until_trigger(async {}).await;
    let drained = triggered.drain().await;
    let persisted = drained.persist().await;
    let _again = drained.persist().await;
    let _report = persisted.shut_down().await;
}

fn main() {}
