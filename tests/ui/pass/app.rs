//! `#[lifecycle::main]` on a function not named `main`: it becomes `fn(..) -> lifecycle::App`,
//! with the parameters after the `Lifecycle`. Parameters named like the expansion's own locals
//! (`config`, `app`, `init`) are the user's; an app without a `Lifecycle`, with a pattern, and
//! every key of the attribute compile.
use lifecycle::{App, Lifecycle};

pub struct Settings {
    pub port: u16,
}

fn init_logging() {}

/// An app taking its settings.
#[lifecycle::main(grace = "20s", drain_delay = "1s", init = init_logging, flavor = "current_thread")]
pub async fn service(lc: Lifecycle, config: Settings, app: String, init: u8) -> std::io::Result<()> {
    let _ = (config.port, app.len(), init);
    lc.cancelled().await;
    Ok(())
}

#[lifecycle::main]
async fn no_handle() {}

#[lifecycle::main(grace = "5s")]
async fn pattern(_lc: Lifecycle, (a, b): (u8, u8), mut count: u32) {
    count += u32::from(a) + u32::from(b);
    let _ = count;
}

fn main() {
    let app: App = service(Settings { port: 0 }, String::new(), 1);
    assert_eq!(app.config().grace(), std::time::Duration::from_secs(20));
    let _: App = no_handle();
    let _: App = pattern((1, 2), 3);
}
