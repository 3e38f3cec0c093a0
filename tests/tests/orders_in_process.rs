//! The `orders` service tested in-process through `lifecycle::testing`, as a user tests their
//! own: the same `app` the binary runs (its attribute's settings, its hooks), started from a
//! `#[tokio::test]`, stopped by a simulated SIGTERM, restarted on the same database.
#![cfg(unix)]

use std::net::SocketAddr;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lifecycle::hooks::HookOutcome;
use lifecycle::{Signal, Trigger};
use lifecycle_examples::orders::{app, Settings};
use lifecycle_tests::ScratchDir;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The database's hooks, named by their module (the service is in the examples' library).
const OPEN: &str = "lifecycle_examples::orders::Db::open";
const MIGRATE: &str = "lifecycle_examples::orders::Db::migrate";
const CLOSE: &str = "lifecycle_examples::orders::Db::close";

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `request`; its status and body.
async fn send(client: &HttpClient, request: axum::http::Request<Full<Bytes>>) -> (u16, String) {
    let response = client.request(request).await.expect("the service answers");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("a whole body");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

async fn place(client: &HttpClient, addr: SocketAddr, form: &str) -> (u16, String) {
    let request = axum::http::Request::post(format!("http://{addr}/orders"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form.to_owned())))
        .expect("request");
    send(client, request).await
}

async fn list(client: &HttpClient, addr: SocketAddr) -> String {
    let request = axum::http::Request::get(format!("http://{addr}/orders"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let (status, body) = send(client, request).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn orders_placed_before_sigterm_are_there_after_a_restart_on_the_same_file() {
    let state = ScratchDir::new("orders-in-process");
    let client = client();

    let mut service = lifecycle::testing::start(app(Settings::new(state.path())));
    service.ready().await;
    let addr = service.addr().await;
    assert_eq!(
        place(&client, addr, "ref=a1&item=book&qty=2").await,
        (201, "order 1\n".to_owned())
    );
    assert_eq!(
        place(&client, addr, "ref=a2&item=pen&qty=5").await,
        (201, "order 2\n".to_owned())
    );
    assert_eq!(place(&client, addr, "ref=a3&qty=1").await.0, 400);
    service.signal(Signal::Terminate);
    let finished = service.finished().await;
    assert_eq!(finished.code(), 0, "{finished}");
    let report = finished.report().expect("a report");
    assert_eq!(report.trigger, Trigger::Signal(Signal::Terminate));
    assert_eq!(finished.hooks_run(), [OPEN, MIGRATE, CLOSE], "{finished}");
    assert!(finished.tasks_cut().is_empty(), "{finished}");

    let mut again = lifecycle::testing::start(app(Settings::new(state.path())));
    again.ready().await;
    let addr = again.addr().await;
    assert_eq!(list(&client, addr).await, "a1 book 2\na2 pen 5\n");
    assert_eq!(again.stop().await.code(), 0);
}

#[tokio::test]
async fn a_migration_that_fails_stops_the_start_up_with_exit_5_and_closes_what_opened() {
    let state = ScratchDir::new("orders-in-process-bad-schema");
    // A database whose `orders` table exists while its schema version says none was made: the
    // open succeeds, the migration fails.
    let path = state.path().join("orders.db");
    let connection = rusqlite::Connection::open(&path).expect("a database");
    connection
        .execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        .expect("a table");
    drop(connection);

    let service = lifecycle::testing::start(app(Settings::new(state.path())));
    let finished = service.finished().await;
    assert_eq!(finished.code(), 5, "{finished}");
    let report = finished.report().expect("a report");
    assert_eq!(report.start.len(), 2, "{finished}");
    assert!(
        matches!(report.start[0].outcome, HookOutcome::Ok),
        "{finished}"
    );
    let failed = report.start_failed.as_ref().expect("a start failure");
    assert!(
        failed.to_string().contains("table orders already exists"),
        "{failed}"
    );
    // The rollback: the database that opened is closed; nothing else ran.
    assert_eq!(finished.hooks_run(), [OPEN, MIGRATE, CLOSE], "{finished}");
    assert!(
        matches!(report.trigger, Trigger::StartFailed(_)),
        "{finished}"
    );
}
