//! The `orders` example as a real process on a real SQLite file: a bounded load of `POST
//! /orders` with SIGTERM in the middle, then a restart on the same database. "2xx means stored"
//! must hold exactly: every order answered 2xx is in the database once, no order answered with
//! an error (or not answered) is in it at all.
#![cfg(unix)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lifecycle_tests::{poll_until, ScratchDir, Service, PATIENCE};

const ORDERS: &str = env!("CARGO_BIN_EXE_example-orders");

/// The load: this many orders, this many at a time, SIGTERM once this many were answered.
const REQUESTS: usize = 2000;
const CONCURRENCY: usize = 16;
const SIGTERM_AFTER: usize = 600;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn start(state: &ScratchDir) -> (Service, SocketAddr) {
    start_with(state, &[])
}

fn start_with(state: &ScratchDir, env: &[(&str, &str)]) -> (Service, SocketAddr) {
    let mut vars = vec![("PORT", "0"), ("STATE_DIR", state.as_str())];
    vars.extend_from_slice(env);
    let mut server = Service::start(ORDERS, &[], &vars);
    let address = server.wait_for_address();
    (server, address)
}

/// `POST /orders` for order `n`: its status, or the transport error.
async fn place(client: HttpClient, address: SocketAddr, n: usize) -> Result<u16, String> {
    let request = axum::http::Request::post(format!("http://{address}/orders"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!("ref=o{n}&item=book&qty=1"))))
        .expect("request");
    let response = client
        .request(request)
        .await
        .map_err(|err| format!("{err:?}"))?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("{err:?}"))?;
    Ok(status)
}

async fn list(client: &HttpClient, address: SocketAddr) -> String {
    let request = axum::http::Request::get(format!("http://{address}/orders"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("GET /orders");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("utf-8")
}

#[test]
fn every_order_answered_2xx_is_stored_exactly_once_and_no_failed_one_is() {
    let state = ScratchDir::new("orders");
    // Every handler works 20 ms before it queues its order, so the SIGTERM finds handlers that
    // have not handed their order over yet: the writer must still be there for them.
    let (server, address) = start_with(&state, &[("PRICING_MS", "20")]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let answered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    // The load: REQUESTS orders, CONCURRENCY in flight at a time, each noting its outcome.
    let load = {
        let (client, answered) = (client.clone(), Arc::clone(&answered));
        runtime.spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let mut requests = Vec::with_capacity(REQUESTS);
            for n in 0..REQUESTS {
                let slot = Arc::clone(&slots).acquire_owned().await.expect("semaphore");
                let (client, answered) = (client.clone(), Arc::clone(&answered));
                requests.push(tokio::spawn(async move {
                    let outcome = place(client, address, n).await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    drop(slot);
                    (n, outcome)
                }));
            }
            let mut outcomes = Vec::with_capacity(REQUESTS);
            for request in requests {
                outcomes.push(request.await.expect("request task"));
            }
            outcomes
        })
    };
    poll_until("orders answered before the SIGTERM", || {
        (answered.load(Ordering::SeqCst) >= SIGTERM_AFTER).then_some(())
    });
    server.signal("TERM");
    let outcomes = runtime.block_on(async {
        tokio::time::timeout(PATIENCE, load)
            .await
            .expect("the load ends")
            .expect("load task")
    });
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(exited.stderr.contains("stage 0"), "{}", exited.stderr);
    assert!(exited
        .stdout
        .iter()
        .any(|line| line.starts_with("hook close-db")));

    // Restarted on the same file: what is stored is what was promised.
    let (server, address) = start(&state);
    let stored = runtime.block_on(list(&client, address));
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for line in stored.lines() {
        let reference = line.split(' ').next().expect("ref");
        *copies.entry(reference).or_default() += 1;
    }
    let (mut created, mut failed) = (0, 0);
    for (n, outcome) in &outcomes {
        let reference = format!("o{n}");
        let count = copies.get(reference.as_str()).copied().unwrap_or(0);
        match outcome {
            Ok(201) => {
                created += 1;
                assert_eq!(
                    count, 1,
                    "{reference} was answered 201 but stored {count} times"
                );
            }
            Ok(status) => {
                // The writer stops only after the HTTP stage drained: a request the server took
                // is stored, never answered 503 because the writer was already gone.
                panic!("{reference} was answered {status} (stored {count} times)");
            }
            Err(_) => {
                // Refused or closed before the server read it.
                failed += 1;
                assert_eq!(count, 0, "{reference} failed in transport but is stored");
            }
        }
    }
    assert_eq!(
        copies.values().sum::<usize>(),
        created,
        "rows not promised to anyone"
    );
    // The SIGTERM really came in the middle: some orders were placed, some refused.
    assert!(created >= SIGTERM_AFTER, "created {created}");
    assert!(
        failed > 0,
        "every order got in: the SIGTERM came too late to test anything"
    );
    eprintln!(
        "measured: {created} orders stored, {failed} refused, in {:?} with the restart",
        started.elapsed()
    );
    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), 0);
}

#[test]
fn a_writer_that_keeps_failing_is_restarted_three_times_then_the_service_exits_1() {
    let state = ScratchDir::new("orders-failing");
    let (server, address) = start_with(&state, &[("FAIL_WRITES", "1")]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    // Each order fails its commit: answered 503 (never 201), and the writer fails and is
    // restarted after 100, 200, then 400 ms; the fourth failure has no restart left.
    let started = Instant::now();
    let statuses: Vec<Result<u16, String>> = runtime.block_on(async {
        let mut statuses = Vec::new();
        for n in 0..4 {
            statuses.push(place(client.clone(), address, n).await);
        }
        statuses
    });
    let exited = server.wait_exit();
    let took = started.elapsed();
    assert_eq!(statuses, vec![Ok(503); 4], "stderr:\n{}", exited.stderr);
    assert_eq!(exited.code(), 1, "stderr:\n{}", exited.stderr);
    let report = &exited.stderr;
    for line in [
        "restart 1 after 100ms: commit failed",
        "orders.db: disk says no (FAIL_WRITES=1)",
        "restart 2 after 200ms",
        "restart 3 after 400ms",
        "no restart left",
        "Writer::write` failed: commit failed",
    ] {
        assert!(report.contains(line), "`{line}` missing from:\n{report}");
    }
    // The backoff was waited out: at least 100 + 200 + 400 ms between the four failures.
    assert!(took.as_millis() >= 700, "{took:?}");
    assert!(exited
        .stdout
        .iter()
        .any(|line| line.starts_with("hook close-db")));

    // Nothing that failed was stored.
    let (server, address) = start(&state);
    assert_eq!(runtime.block_on(list(&client, address)), "");
    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), 0);
}

#[test]
fn a_file_that_is_not_a_database_stops_the_start_up_with_exit_5_and_names_it() {
    let state = ScratchDir::new("orders-corrupt");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(state.path().join("orders.db"), garbage).expect("write");
    let service = Service::start(ORDERS, &[], &[("PORT", "0"), ("STATE_DIR", state.as_str())]);
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 5, "stderr:\n{}", exited.stderr);
    let report = &exited.stderr;
    assert!(
        report.contains("Db::open` failed: ")
            && report.contains("orders.db: file is not a database"),
        "{report}"
    );
    // The migration never ran, the server never listened, and the database was never "closed":
    // only what had started is stopped.
    assert!(report.contains("not run: start-up had stopped"), "{report}");
    assert!(!exited
        .stdout
        .iter()
        .any(|line| line.starts_with("listening on")));
    assert!(!exited
        .stdout
        .iter()
        .any(|line| line.starts_with("hook close-db")));
}
