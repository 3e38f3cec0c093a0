//! The `grpc` example as a real process with a real tonic client: health flips with the
//! lifecycle (`Check` and `Watch`), and the calls in flight at SIGTERM are all answered.
#![cfg(unix)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lifecycle_tests::{Dependency, Service, PATIENCE};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_prost::ProstCodec;

const SERVER: &str = env!("CARGO_BIN_EXE_example-grpc");

/// The example's messages, as a client built from its `.proto` would have them.
#[derive(Clone, PartialEq, prost::Message)]
struct RunRequest {
    #[prost(uint64, tag = "1")]
    millis: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RunReply {
    #[prost(uint64, tag = "1")]
    millis: u64,
}

/// One `demo.Jobs/Run` call on `channel`: the reply's `millis`, or the status it failed with.
async fn run(channel: Channel, millis: u64) -> Result<u64, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let codec = ProstCodec::<RunRequest, RunReply>::default();
    let path = PathAndQuery::from_static("/demo.Jobs/Run");
    let reply = grpc
        .unary(tonic::Request::new(RunRequest { millis }), path, codec)
        .await?;
    Ok(reply.into_inner().millis)
}

async fn check(health: &mut HealthClient<Channel>) -> Result<ServingStatus, tonic::Status> {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let status = health.check(request).await?.into_inner().status;
    Ok(ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown))
}

/// Starts the example on a free port; returns it, its address and a connected channel.
async fn start(env: &[(&str, &str)]) -> (Service, SocketAddr, Channel) {
    let mut vars = vec![("PORT", "0")];
    vars.extend_from_slice(env);
    let mut server = Service::start(SERVER, &[], &vars);
    let address = server.wait_for_address();
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_timeout(PATIENCE)
        .connect()
        .await
        .expect("connect to the gRPC server");
    (server, address, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_flips_at_the_trigger_and_every_call_in_flight_is_answered() {
    let (server, _, channel) = start(&[
        ("LIFECYCLE_DRAIN_DELAY", "600ms"),
        ("LIFECYCLE_GRACE", "20s"),
    ])
    .await;
    let mut health = HealthClient::new(channel.clone());

    // SERVING once Ready (the example reports NOT_SERVING until then).
    let started = Instant::now();
    while check(&mut health).await.expect("Check") != ServingStatus::Serving {
        assert!(started.elapsed() < PATIENCE, "never SERVING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let mut watch = health
        .clone()
        .watch(request)
        .await
        .expect("Watch")
        .into_inner();
    let first = watch.message().await.expect("Watch message").expect("one");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    // Calls in flight at SIGTERM, each answering 1.5 s later, multiplexed on one connection.
    let calls: Vec<_> = (0..20)
        .map(|_| tokio::spawn(run(channel.clone(), 1500)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("TERM");
    let signalled = Instant::now();

    // The Watch stream sees NOT_SERVING at the trigger, well before the drain delay is over.
    let flipped = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .expect("NOT_SERVING within patience")
        .expect("Watch message")
        .expect("a message, not the end");
    assert_eq!(flipped.status, ServingStatus::NotServing as i32);
    assert!(
        signalled.elapsed() < Duration::from_millis(600),
        "NOT_SERVING came {:?} after SIGTERM, after the drain delay",
        signalled.elapsed()
    );
    // A Check during the drain delay says NOT_SERVING too: the server still answers.
    assert_eq!(
        check(&mut health).await.expect("Check while draining"),
        ServingStatus::NotServing
    );

    // Every call that was in flight is answered.
    for call in calls {
        let reply = call.await.expect("client task");
        assert_eq!(
            reply.expect("a call in flight at SIGTERM was answered"),
            1500
        );
    }
    // The Watch stream ended at the cancel instead of holding the drain.
    let end = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .expect("the Watch stream ended");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");

    let exited = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .expect("wait");
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited.stderr.contains("nothing aborted"),
        "the drain should have cut nothing:\n{}",
        exited.stderr
    );
    // The in-flight layer counted the 20 calls and the Watch stream at the trigger, and none
    // was left at the deadline. It sees requests, not connections: the report claims no
    // connection count.
    let requests = exited
        .stderr
        .lines()
        .find(|line| line.starts_with("  requests      "))
        .unwrap_or_default();
    assert!(
        requests.starts_with("  requests      21 in flight at the trigger; ")
            && requests.ends_with(
                " finished, 0 still in flight at the deadline (counted by the in-flight layer, \
                 which does not see connections)"
            ),
        "the report's counts:\n{}",
        exited.stderr
    );
    assert!(
        !exited.stderr.contains(" open,") && !exited.stderr.contains("connections closed"),
        "no connection count the layer cannot know:\n{}",
        exited.stderr
    );
    // The exit came when the last call was answered, not at the end of the 20 s grace.
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "exited {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert!(exited
        .stdout
        .iter()
        .any(|line| line == "server: every call answered, stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_call_after_the_cancel_is_refused_not_hung() {
    let (server, address, channel) = start(&[("LIFECYCLE_DRAIN_DELAY", "0s")]).await;
    assert_eq!(
        run(channel.clone(), 0).await.expect("a call while serving"),
        0
    );
    let slow = tokio::spawn(run(channel.clone(), 800));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The connection got GOAWAY: a new call on a fresh connection finds nobody listening.
    let fresh = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted after the cancel"
    );
    assert_eq!(slow.await.expect("client").expect("in-flight call"), 800);
    let exited = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .expect("wait");
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}

/// Polls `Check` until it answers `want`.
async fn until_status(health: &mut HealthClient<Channel>, want: ServingStatus) {
    let started = Instant::now();
    while check(health).await.expect("Check") != want {
        assert!(started.elapsed() < PATIENCE, "never {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_readiness_check_of_a_backend_going_away_and_coming_back() {
    let mut backend = Dependency::open();
    let address = backend.address().to_string();
    let (server, _, channel) = start(&[("BACKEND", &address)]).await;
    let mut health = HealthClient::new(channel.clone());
    until_status(&mut health, ServingStatus::Serving).await;

    backend.close();
    until_status(&mut health, ServingStatus::NotServing).await;
    // Not ready is not dead: the service still answers calls.
    assert_eq!(
        run(channel.clone(), 0)
            .await
            .expect("a call while not ready"),
        0
    );
    backend.reopen();
    until_status(&mut health, ServingStatus::Serving).await;

    server.signal("TERM");
    let exited = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .expect("wait");
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let flips: Vec<&str> = exited
        .stdout
        .iter()
        .map(String::as_str)
        .filter(|line| line.starts_with("health: "))
        .collect();
    assert_eq!(
        flips,
        [
            "health: SERVING",
            "health: NOT_SERVING",
            "health: SERVING",
            "health: NOT_SERVING"
        ],
        "serving, the backend gone, back, the trigger"
    );
}
