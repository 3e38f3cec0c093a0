//! A service for `tests/e2e_checkpoint.rs`: a component whose state (1 MiB, with a checksum) is
//! checkpointed every millisecond by `#[persist(every = "1ms")]` while a task keeps changing it.
//! The test SIGKILLs it at varied moments and checks that the state file is always whole.
//!
//! At start it restores the last checkpoint and refuses to start (exit code 1) if it is damaged;
//! it prints `restored generation G` (or `no checkpoint yet`), then `saving generation G` before
//! and `saved generation G` after every checkpoint. `STATE_DIR` says where the file goes.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lifecycle::Lifecycle;
use lifecycle_tests::checkpoint;

/// The state: a generation number; the payload written is derived from it, so a reader can tell
/// a whole checkpoint from a torn or mixed one.
struct Ledger {
    generation: AtomicU64,
    path: PathBuf,
}

#[lifecycle::component]
impl Ledger {
    #[persist(every = "1ms", timeout = "5s")]
    fn checkpoint(&self) -> io::Result<()> {
        let generation = self.generation.load(Ordering::SeqCst);
        let file = checkpoint::encode(generation);
        // Printed just before the write, so the test can kill the process in the middle of it.
        println!("saving generation {generation}");
        lifecycle::state_file::write_atomic(&self.path, file)?;
        println!("saved generation {generation}");
        Ok(())
    }
}

#[lifecycle::main(grace = "5s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let dir = PathBuf::from(std::env::var("STATE_DIR").unwrap_or_else(|_| ".".into()));
    let path = dir.join(checkpoint::FILE_NAME);
    let generation = match lifecycle::state_file::read_state(&path)? {
        None => {
            println!("no checkpoint yet");
            0
        }
        Some(bytes) => {
            let generation = checkpoint::decode(&bytes)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            println!("restored generation {generation}");
            generation
        }
    };
    let ledger = Arc::new(Ledger {
        generation: AtomicU64::new(generation),
        path,
    });
    lc.manage(ledger.clone());
    lc.started().await; // the start boundary: Ready, and the periodic checkpoints start

    // Keep changing the state until the shutdown.
    let token = lc.token();
    while tokio::time::timeout(Duration::from_micros(200), token.cancelled())
        .await
        .is_err()
    {
        ledger.generation.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}
