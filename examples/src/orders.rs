//! An order service on a real database, where "201 Created" means "stored", through a shutdown.
//! The service lives here, in the library, as an [`app`]; `examples/orders.rs` is its binary, and
//! `tests/tests/orders_in_process.rs` tests it in-process with `lifecycle::testing`.
//!
//! What it shows:
//!
//! - **start hooks**: `#[on_start]` hooks open the database (order 0) and migrate it (order 1);
//!   the service is Ready only after both, and a database that cannot be opened stops the
//!   start-up (exit code 5) without running the shutdown hook of what never started;
//! - **stop stages**: the HTTP server is the main future, served by the lifecycle's serve loop
//!   (`lifecycle::axum::serve`): it and its connections are unstaged work, stopped first. The
//!   batching writer is a later stage (`#[run(stage = WRITER)]`, stage 0). At the drain the server
//!   stops accepting and finishes its requests; only once they are all answered is the writer
//!   cancelled, so it writes the final batch after the last handler has handed over its order, and
//!   nothing is left in the queue;
//! - **2xx means stored**: a handler answers `201` only once the writer has committed its order
//!   (the writer acks through a oneshot after the transaction's commit); a batch that fails to
//!   commit answers `503` to every order in it, and none of them is stored;
//! - **supervision**: the writer is restarted on failure (`restart = "on-failure",
//!   max_restarts = 3`) with exponential backoff; a fourth failure shuts the service down with
//!   exit code 1;
//! - a shutdown hook closes the database last (`#[on_shutdown(order = 100)]`).
//!
//! The database is SQLite, compiled in (`rusqlite` with `bundled`): the file is
//! `STATE_DIR/orders.db`, in WAL mode with `synchronous = FULL`, so a commit is on disk when it
//! returns. The schema is migrated at start-up (`PRAGMA user_version`).
//!
//! Start-up: two `#[on_start]` hooks open the database and run the migrations, in that order;
//! the service is Ready only after both, and only then does `main` bind the listener and the
//! writer start. A database that cannot be opened or migrated stops the start-up (exit code 5,
//! the file named in the report).
//!
//! ```text
//! STATE_DIR=/tmp/orders cargo run -p lifecycle-examples --features orders --bin orders
//! curl -i -X POST localhost:3000/orders -d 'ref=a1&item=book&qty=2'   # 201 order 1
//! curl localhost:3000/orders                                          # a1 book 2
//! ```
//!
//! Environment: `PORT` (3000; `0` picks a free port), `HOST` (`127.0.0.1`), `STATE_DIR` (`.`),
//! `PRICING_MS` (a simulated price lookup each order waits for before it is queued, 0 by
//! default), `FAIL_WRITES=1` (every insert fails in SQLite: watch the writer restart three times, then the
//! service shut down with exit code 1), and the runtime's `LIFECYCLE_*` settings.
//!
//! Endpoints: `POST /orders` (form fields `ref`, `item`, `qty` from 1 to 1000): `201` with
//! `order N` once stored, `400` for a bad form, `503` when the order could not be stored;
//! `GET /orders`: every stored order, one `ref item qty` line each, in the order stored;
//! `GET /health`, `GET /ready`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use lifecycle::tasks::Stage;
use lifecycle::{CancellationToken, Lifecycle};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// The stage of the writer the handlers feed: cancelled only once the HTTP server (unstaged work,
/// stopped first) has answered every request.
const WRITER: Stage = 0;

/// Orders queued for the writer, at most; a full queue makes handlers wait (backpressure).
const QUEUE: usize = 1024;
/// Orders written in one transaction, at most.
const BATCH: usize = 256;

/// The schema, one step per version (`PRAGMA user_version` counts the steps applied).
const MIGRATIONS: &[&str] = &["CREATE TABLE orders (
        id    INTEGER PRIMARY KEY,
        ref   TEXT    NOT NULL,
        item  TEXT    NOT NULL,
        qty   INTEGER NOT NULL
    )"];

/// One order, as the handler validated it.
struct Order {
    reference: String,
    item: String,
    qty: u32,
}

/// An order on its way to the writer, with where to say "committed as row N" (or why not).
type Queued = (Order, oneshot::Sender<Result<i64, String>>);

/// The database: one connection, behind a lock (the writer holds it for a batch; `GET /orders`
/// for a read). `None` once closed.
struct Db {
    connection: Mutex<Option<Connection>>,
    path: PathBuf,
    /// Every insert fails (`Settings::fail_writes`).
    fail_writes: bool,
}

impl Db {
    /// The database at `path`, not opened yet: its start hooks open it and migrate it.
    fn new(path: PathBuf, fail_writes: bool) -> Self {
        Self {
            connection: Mutex::new(None),
            path,
            fail_writes,
        }
    }

    /// Runs `f` on the open connection (on the calling thread).
    fn locked<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| "lock poisoned".to_owned())?;
        let connection = connection.as_mut().ok_or("the database is not open")?;
        f(connection).map_err(|err| format!("{}: {err}", self.path.display()))
    }

    /// Runs `f` on the connection, on the blocking pool (SQLite's calls block on the disk).
    async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.locked(f))
            .await
            .map_err(|err| err.to_string())?
    }
}

/// Inserts `orders` in one transaction; returns their row ids once it is committed.
fn insert_batch(connection: &mut Connection, orders: &[Order]) -> rusqlite::Result<Vec<i64>> {
    let batch = connection.transaction()?;
    let mut ids = Vec::with_capacity(orders.len());
    {
        let mut insert =
            batch.prepare_cached("INSERT INTO orders (ref, item, qty) VALUES (?1, ?2, ?3)")?;
        for order in orders {
            insert.execute((&order.reference, &order.item, order.qty))?;
            ids.push(batch.last_insert_rowid());
        }
    }
    batch.commit()?;
    Ok(ids)
}

#[lifecycle::component]
impl Db {
    /// Start-up, first: opens (or creates) the file, in WAL mode with `synchronous = FULL` (a
    /// commit is on disk when it returns). Not `async`: it runs on the blocking pool.
    #[on_start(order = 0, timeout = "10s")]
    fn open(&self) -> Result<(), String> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create STATE_DIR `{}`: {err}", dir.display()))?;
        }
        let open = || -> rusqlite::Result<Connection> {
            let connection = Connection::open(&self.path)?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "FULL")?;
            connection.busy_timeout(Duration::from_secs(5))?;
            Ok(connection)
        };
        let connection = open().map_err(|err| format!("{}: {err}", self.path.display()))?;
        *self.connection.lock().map_err(|_| "lock poisoned")? = Some(connection);
        Ok(())
    }

    /// Start-up, second: brings the schema up to date, one transaction a step. Readiness comes
    /// only after this.
    #[on_start(order = 1, timeout = "60s")]
    fn migrate(&self) -> Result<(), String> {
        self.locked(|connection| {
            let applied: usize =
                connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
            for (version, step) in MIGRATIONS.iter().enumerate().skip(applied) {
                let migration = connection.transaction()?;
                migration.execute_batch(step)?;
                migration.pragma_update(None, "user_version", version + 1)?;
                migration.commit()?;
                println!(
                    "migrated {} to version {}",
                    self.path.display(),
                    version + 1
                );
            }
            if self.fail_writes {
                // A real SQLite error on every insert, through the real transaction and
                // rollback: a trigger of this connection only (`TEMP`), gone with it.
                connection.execute_batch(
                    "CREATE TEMP TRIGGER fail_writes BEFORE INSERT ON orders
                     BEGIN SELECT RAISE(ABORT, 'disk says no (FAIL_WRITES=1)'); END",
                )?;
            }
            Ok(())
        })
    }

    /// Last of all (order 100): the writer has finished in the drain, before any hook runs.
    #[on_shutdown(order = 100, timeout = "5s")]
    fn close(&self) -> Result<(), String> {
        let connection = self.connection.lock().map_err(|_| "lock poisoned")?.take();
        if let Some(connection) = connection {
            connection.close().map_err(|(_, err)| err.to_string())?;
        }
        println!("hook close-db: {} closed", self.path.display());
        Ok(())
    }
}

/// The batching writer: takes what is queued (up to [`BATCH`]), writes it in one transaction,
/// acks every order in it.
struct Writer {
    db: Arc<Db>,
    queue: tokio::sync::Mutex<mpsc::Receiver<Queued>>,
}

#[lifecycle::component]
impl Writer {
    /// Stage 0: cancelled only once the HTTP server has drained, so no handler is waiting for an
    /// ack any more; the queue is emptied before it returns. A failed commit answers the batch
    /// with an error and fails the run, which is restarted (the queue is kept).
    #[run(stage = WRITER, restart = "on-failure", max_restarts = 3, backoff = "100ms")]
    async fn write(&self, token: CancellationToken) -> Result<(), String> {
        let mut queue = self.queue.lock().await;
        let mut batch: Vec<Queued> = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                () = token.cancelled() => {
                    queue.close(); // nothing new; what is queued is still written below
                    while queue.recv_many(&mut batch, BATCH).await > 0 {
                        self.commit(&mut queue, &mut batch).await?;
                    }
                    println!("writer: final batch written, queue empty");
                    return Ok(());
                }
                received = queue.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break; // every sender is gone
                    }
                }
            }
            self.commit(&mut queue, &mut batch).await?;
        }
        println!("writer: the server is gone, queue empty");
        Ok(())
    }
}

impl Writer {
    /// Writes `batch` and acks each order with its row id. On failure every order of the batch,
    /// and every order queued behind it, is answered with the error (none of them is stored),
    /// so no handler waits through the backoff, or forever if the shutdown stops the restarts.
    async fn commit(
        &self,
        queue: &mut mpsc::Receiver<Queued>,
        batch: &mut Vec<Queued>,
    ) -> Result<(), String> {
        let (orders, acks): (Vec<Order>, Vec<_>) = batch.drain(..).unzip();
        let result = self
            .db
            .with(move |connection| insert_batch(connection, &orders))
            .await;
        let err = match result {
            Ok(ids) => {
                for (ack, id) in acks.into_iter().zip(ids) {
                    let _ = ack.send(Ok(id)); // a handler that went away: its order is stored
                }
                return Ok(());
            }
            Err(err) => err,
        };
        let queued = std::iter::from_fn(|| queue.try_recv().ok().map(|(_, ack)| ack));
        for ack in acks.into_iter().chain(queued) {
            let _ = ack.send(Err(err.clone()));
        }
        Err(format!("commit failed: {err}"))
    }
}

/// What the handlers reach.
#[derive(Clone)]
struct Shop {
    lc: Lifecycle,
    db: Arc<Db>,
    orders: mpsc::Sender<Queued>,
    /// A stand-in for the work a handler does before it queues the order (a price lookup).
    pricing: Duration,
}

impl axum::extract::FromRef<Shop> for Lifecycle {
    fn from_ref(app: &Shop) -> Lifecycle {
        app.lc.clone()
    }
}

type Reply = (StatusCode, String);

/// `POST /orders`: validates, queues for the writer, answers `201` once committed.
async fn place(State(app): State<Shop>, Form(form): Form<HashMap<String, String>>) -> Reply {
    let order = match parse_order(&form) {
        Ok(order) => order,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")),
    };
    tokio::time::sleep(app.pricing).await;
    let (ack, committed) = oneshot::channel();
    if app.orders.send((order, ack)).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not stored: the writer has stopped\n".into(),
        );
    }
    match committed.await {
        Ok(Ok(id)) => (StatusCode::CREATED, format!("order {id}\n")),
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not stored: {err}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not stored: the writer stopped\n".into(),
        ),
    }
}

fn parse_order(form: &HashMap<String, String>) -> Result<Order, String> {
    let field = |name: &str| {
        form.get(name)
            .filter(|value| !value.is_empty() && value.len() <= 64)
            .ok_or_else(|| format!("`{name}` is required: 1 to 64 characters"))
    };
    let qty = field("qty")?
        .parse()
        .ok()
        .filter(|qty| (1..=1000).contains(qty))
        .ok_or("`qty` must be a whole number from 1 to 1000")?;
    Ok(Order {
        reference: field("ref")?.clone(),
        item: field("item")?.clone(),
        qty,
    })
}

/// `GET /orders`: every stored order, `ref item qty` a line, in the order stored.
async fn list(State(app): State<Shop>) -> Reply {
    let rows = app
        .db
        .with(|connection| {
            let mut query = connection.prepare("SELECT ref, item, qty FROM orders ORDER BY id")?;
            let rows = query.query_map((), |row| {
                Ok(format!(
                    "{} {} {}\n",
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?
                ))
            })?;
            rows.collect::<rusqlite::Result<String>>()
        })
        .await;
    match rows {
        Ok(body) => (StatusCode::OK, body),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")),
    }
}

/// What the service is told at start: where its database lives, where it listens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory of `orders.db`.
    pub state_dir: PathBuf,
    /// The address to listen on.
    pub host: String,
    /// The port; `0` picks a free one.
    pub port: u16,
    /// A simulated price lookup each order waits for before it is queued.
    pub pricing: Duration,
    /// Every insert fails in SQLite (a temporary trigger): the writer is restarted three times,
    /// then the service shuts down with exit code 1.
    pub fail_writes: bool,
}

impl Settings {
    /// Defaults for a test: listens on `127.0.0.1`, a free port, the database in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            host: "127.0.0.1".to_owned(),
            port: 0,
            pricing: Duration::ZERO,
            fail_writes: false,
        }
    }

    /// From the environment: `STATE_DIR` (`.`), `HOST` (`127.0.0.1`), `PORT` (3000),
    /// `PRICING_MS` (0), `FAIL_WRITES=1`. A bad value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok();
        let number = |name: &str, default: u64| match var(name) {
            None => Ok(default),
            Some(value) => value
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, found `{value}`")),
        };
        let port = number("PORT", 3000)?;
        Ok(Self {
            state_dir: PathBuf::from(var("STATE_DIR").unwrap_or_else(|| ".".to_owned())),
            host: var("HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: u16::try_from(port)
                .map_err(|_| format!("PORT must be a port number, found `{port}`"))?,
            pricing: Duration::from_millis(number("PRICING_MS", 0)?),
            fail_writes: var("FAIL_WRITES").is_some_and(|value| value == "1"),
        })
    }
}

fn init_logging() {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
}

/// The service. `#[lifecycle::main]` on a function not named `main` makes it
/// `pub fn app(settings: Settings) -> lifecycle::App`: the binary runs it
/// (`app(settings).run()`), the tests start it in-process (`lifecycle::testing::start`), both
/// with these settings.
#[lifecycle::main(grace = "10s", init = init_logging)]
pub async fn app(lc: Lifecycle, settings: Settings) -> io::Result<()> {
    // The database's start hooks open it and migrate it; the writer starts once they have
    // (when the service is Ready).
    let db = Arc::new(Db::new(
        settings.state_dir.join("orders.db"),
        settings.fail_writes,
    ));
    lc.manage(Arc::clone(&db));
    let (orders, queue) = mpsc::channel(QUEUE);
    lc.manage(Arc::new(Writer {
        db: Arc::clone(&db),
        queue: tokio::sync::Mutex::new(queue),
    }));

    if !lc.started().await {
        return Ok(()); // a start hook failed: the report says which, the exit code is 5
    }
    let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port)).await?;
    let shop = Shop {
        lc: lc.clone(),
        db,
        pricing: settings.pricing,
        orders,
    };
    let router = Router::new()
        .route("/orders", get(list).post(place))
        .route("/health", get(lifecycle::axum::live))
        .route("/ready", get(lifecycle::axum::ready))
        .with_state(shop);
    println!("listening on {}", listener.local_addr()?);
    // Unstaged, so stopped first: at the cancel the listener closes and the drain waits for every
    // request in flight; only then is the writer's stage cancelled.
    lifecycle::axum::serve(&lc, listener, router).await?;
    Ok(())
}
