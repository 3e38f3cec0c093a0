// The generated code warns about nothing, even when every hook is compiled out.
#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

static RAN: AtomicU32 = AtomicU32::new(0);

struct Db;

// A hook under a `#[cfg]` that is off is compiled out together with its registration.
#[lifecycle::component]
impl Db {
    #[on_shutdown]
    fn always(&self) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    #[cfg(any())]
    #[on_shutdown]
    fn never(&self) {
        RAN.fetch_add(100, Ordering::SeqCst);
    }

    #[cfg(all())]
    #[persist]
    fn enabled(&self) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }
}

struct Cache;

// Every hook compiled out: the component has none.
#[lifecycle::component]
impl Cache {
    #[cfg(any())]
    #[persist]
    fn never(&self) {
        RAN.fetch_add(100, Ordering::SeqCst);
    }
}

#[lifecycle::on_shutdown]
#[cfg(any())]
fn never_free() {
    RAN.fetch_add(100, Ordering::SeqCst);
}

#[lifecycle::on_shutdown(order = 2147483647)]
fn check() -> Result<(), String> {
    match RAN.load(Ordering::SeqCst) {
        2 => Ok(()),
        ran => Err(format!("expected 2 hook runs, counted {ran}")),
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Db));
    lc.manage(Arc::new(Cache));
}
