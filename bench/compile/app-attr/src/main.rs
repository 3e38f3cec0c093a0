//! The compile-cost app, written with the attributes. `app-hand` is the same app by hand.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Db {
    queries: AtomicU64,
}

#[lifecycle::component]
impl Db {
    #[persist(timeout = "2s")]
    async fn save(&self) -> std::io::Result<()> {
        println!("saved {}", self.queries.load(Ordering::Relaxed));
        Ok(())
    }

    #[on_shutdown(order = 100, timeout = "5s")]
    async fn close(&self) {
        println!("closed");
    }
}

#[lifecycle::on_shutdown(order = 10)]
async fn flush_metrics() {
    println!("flushed");
}

#[lifecycle::main(grace = "10s", drain_delay = "1s")]
async fn main(lc: lifecycle::Lifecycle) {
    let db = Arc::new(Db { queries: AtomicU64::new(0) });
    lc.manage(db.clone());
    let token = lc.token();
    lc.spawn(async move {
        while tokio::time::timeout(Duration::from_millis(100), token.cancelled()).await.is_err() {
            db.queries.fetch_add(1, Ordering::Relaxed);
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(1), lc.cancelled()).await;
}
