use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static INIT_RAN: AtomicBool = AtomicBool::new(false);

mod telemetry {
    /// Runs before the configuration is read: what it sets in the environment is seen.
    pub fn install() {
        super::INIT_RAN.store(true, super::Ordering::SeqCst);
        std::env::set_var("LIFECYCLE_GRACE", "7s");
    }
}

#[lifecycle::main(grace = "30s", init = telemetry::install)]
async fn main(lc: lifecycle::Lifecycle) {
    assert!(INIT_RAN.load(Ordering::SeqCst));
    assert_eq!(lc.config().grace(), Duration::from_secs(7));
}
