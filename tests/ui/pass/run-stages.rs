//! `#[run]` parts in stop stages, one supervised, next to a hook; `lc.manage` spawns them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lifecycle::tasks::Stage;
use lifecycle::CancellationToken;

/// A stage named by a constant: the writer stops after the server.
const WRITER: Stage = 1;

struct Pipeline {
    http_stopped: AtomicBool,
}

#[lifecycle::component]
impl Pipeline {
    #[run(stage = 0, name = "http")]
    async fn serve(&self, token: CancellationToken) {
        token.cancelled().await;
        self.http_stopped.store(true, Ordering::SeqCst);
    }

    #[run(stage = WRITER, restart = "on-failure", max_restarts = 5, backoff = "50ms")]
    async fn write(&self, token: CancellationToken) -> Result<(), std::io::Error> {
        token.cancelled().await;
        assert!(self.http_stopped.load(Ordering::SeqCst), "stage 1 stopped before stage 0");
        Ok(())
    }

    #[on_shutdown(order = 100)]
    async fn close(&self) {}
}

#[lifecycle::main(grace = "5s")]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Pipeline {
        http_stopped: AtomicBool::new(false),
    }));
}
