//! Manual readiness: Ready only after `set_ready`.

#[lifecycle::main(ready = "manual", startup_timeout = "5s")]
async fn main(lc: lifecycle::Lifecycle) {
    assert_eq!(lc.state(), lifecycle::State::Starting);
    lc.set_ready(); // the listener is bound
    assert!(lc.started().await);
    assert!(lc.state().is_ready());
}
