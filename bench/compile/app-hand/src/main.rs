//! The compile-cost app by hand: the same hooks, task and settings as `app-attr`, wired with
//! `lifecycle::run` and `Hook` builders instead of attributes.
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lifecycle::hooks::HookKind;
use lifecycle::{Component, Config, Hook};

struct Db {
    queries: AtomicU64,
}

impl Db {
    async fn save(&self) -> std::io::Result<()> {
        println!("saved {}", self.queries.load(Ordering::Relaxed));
        Ok(())
    }

    async fn close(&self) {
        println!("closed");
    }
}

impl Component for Db {
    fn hooks(self: Arc<Self>) -> Vec<Hook> {
        let save = Arc::clone(&self);
        let close = self;
        vec![
            Hook::new(HookKind::Persist, "Db::save", move || {
                let db = Arc::clone(&save);
                async move { db.save().await }
            })
            .with_timeout(Duration::from_secs(2)),
            Hook::new(HookKind::Shutdown, "Db::close", move || {
                let db = Arc::clone(&close);
                async move { db.close().await }
            })
            .with_order(100)
            .with_timeout(Duration::from_secs(5)),
        ]
    }
}

async fn flush_metrics() {
    println!("flushed");
}

fn main() -> ExitCode {
    let config = Config::new().with_grace(Duration::from_secs(10)).with_drain_delay(Duration::from_secs(1));
    lifecycle::run(config, |lc| async move {
        lc.manage(Hook::new(HookKind::Shutdown, "flush_metrics", flush_metrics).with_order(10));
        let db = Arc::new(Db { queries: AtomicU64::new(0) });
        lc.manage(db.clone());
        let token = lc.token();
        lc.spawn(async move {
            while tokio::time::timeout(Duration::from_millis(100), token.cancelled()).await.is_err() {
                db.queries.fetch_add(1, Ordering::Relaxed);
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), lc.cancelled()).await;
    })
}
