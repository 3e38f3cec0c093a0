//! `ready = "auto"`, the default written out: Ready once the (here: no) start hooks ran.

#[lifecycle::main(ready = "auto")]
async fn main(lc: lifecycle::Lifecycle) {
    assert!(lc.started().await);
    assert!(lc.state().is_ready());
}
