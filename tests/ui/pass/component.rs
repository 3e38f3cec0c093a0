use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

static RAN: AtomicU32 = AtomicU32::new(0);

struct Db;

#[derive(Debug)]
struct DbError;

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("db error")
    }
}

impl std::error::Error for DbError {}

// Async and blocking hooks, bare and qualified attributes, every return form.
#[lifecycle::component]
impl Db {
    #[on_shutdown(order = 100, timeout = "5s")]
    async fn close(&self) -> Result<(), DbError> {
        RAN.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[lifecycle::on_shutdown(order = -5, name = "flush write buffer")]
    fn flush(&self) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    #[persist(every = "10s", timeout = "1s", order = 1, name = "save offsets")]
    async fn save_offsets(&self) -> std::io::Result<()> {
        RAN.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[lifecycle::persist]
    fn save_cache(&self) -> std::fmt::Result {
        RAN.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[on_shutdown]
    fn unit(&self) -> () {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    // A hook named like the methods of the value the hooks are added to.
    #[on_shutdown]
    async fn persist(&self) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    // Not a hook: left as it is.
    fn helper(&self) -> u32 {
        7
    }

    // Not hooks, named like the generated `Component` methods and helpers: never called by them.
    fn hooks(&self) -> u32 {
        1
    }

    fn add_hooks() -> u32 {
        2
    }

    fn bound(&self) -> u32 {
        3
    }
}

// The last hook checks that the others ran; an `Err` makes the exit code non-zero.
#[lifecycle::on_shutdown(order = 2147483647)]
fn check() -> Result<(), String> {
    match RAN.load(Ordering::SeqCst) {
        6 => Ok(()),
        ran => Err(format!("{ran} of 6 hooks ran")),
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    let db = Arc::new(Db);
    assert_eq!(db.helper() + db.hooks() + Db::add_hooks() + db.bound(), 13);
    lc.manage(db);
}
