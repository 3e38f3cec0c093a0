use std::sync::atomic::{AtomicU32, Ordering};

static RAN: AtomicU32 = AtomicU32::new(0);

#[lifecycle::on_shutdown(order = 10, timeout = "2s")]
async fn flush_metrics() -> std::io::Result<()> {
    RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[lifecycle::on_shutdown(order = -5, name = "close log file")]
fn close_log() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[lifecycle::persist(every = "30s")]
async fn save_offsets() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[lifecycle::persist(timeout = "1s", order = 3)]
fn save_cache() -> Result<(), String> {
    RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

// Names that the generated registration also uses inside its own scope.
#[lifecycle::on_shutdown]
fn hook() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[lifecycle::on_shutdown]
fn r#type() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[allow(non_snake_case)]
#[lifecycle::on_shutdown]
fn HOOK() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[allow(non_snake_case)]
#[lifecycle::persist]
fn NAME() {
    RAN.fetch_add(1, Ordering::SeqCst);
}

mod nested {
    #[lifecycle::persist]
    pub(crate) fn save_nested() {
        super::RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[lifecycle::on_shutdown(order = 2147483647)]
fn check() -> Result<(), String> {
    match RAN.load(Ordering::SeqCst) {
        9 => Ok(()),
        ran => Err(format!("{ran} of 9 hooks ran")),
    }
}

#[lifecycle::main]
async fn main() {
    // Free hooks stay ordinary functions.
    flush_metrics().await.unwrap();
    RAN.store(0, Ordering::SeqCst);
}
