//! Start hooks in every accepted form: async and blocking, `()` and `Result`, on a component
//! and free; `main` waits for them before it uses the component.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Db {
    connected: AtomicBool,
}

#[lifecycle::component]
impl Db {
    #[on_start(order = -1, timeout = "2s")]
    async fn connect(&self) -> std::io::Result<()> {
        self.connected.store(true, Ordering::SeqCst);
        Ok(())
    }

    #[on_start(order = 5, name = "check schema")]
    fn check(&self) {}

    #[on_shutdown]
    async fn close(&self) {}
}

#[lifecycle::on_start(order = 10)]
async fn warm_cache() -> Result<(), String> {
    Ok(())
}

#[lifecycle::on_start]
fn read_settings() {}

#[lifecycle::main(startup_timeout = "30s")]
async fn main(lc: lifecycle::Lifecycle) {
    let db = Arc::new(Db {
        connected: AtomicBool::new(false),
    });
    lc.manage(db.clone());
    assert!(lc.started().await);
    assert!(db.connected.load(Ordering::SeqCst));
    assert!(lc.state().is_ready());
}
