//! Reload hooks: on a component and free, async and blocking; `main` asks for a reload.

use std::sync::Arc;

struct Settings;

#[lifecycle::component]
impl Settings {
    #[on_reload(order = 1, timeout = "1s")]
    async fn reread(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[lifecycle::on_reload(name = "rotate logs")]
fn rotate() {}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Settings));
    assert!(lc.started().await);
    assert!(lc.request_reload());
}
