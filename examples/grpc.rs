//! A gRPC service (tonic) whose standard health service follows the lifecycle.
//!
//! What it shows:
//!
//! - the gRPC health protocol (`grpc.health.v1.Health`, served by tonic-health) driven by the
//!   lifecycle's readiness (`lc.watch_readiness()`): `NOT_SERVING` while starting, `SERVING` once
//!   Ready, `NOT_SERVING` while a readiness check fails (the `BACKEND` one, when set), and from the
//!   trigger on, while the RPCs in flight finish. A load balancer or Kubernetes' gRPC probe stops
//!   sending new calls during the drain delay, and nothing in flight is cut;
//! - health `Watch` streams ending at the cancel: a `Watch` never ends by itself, and an open
//!   stream would otherwise hold the server's graceful shutdown until the grace runs out;
//! - `lifecycle::http::InFlightLayer` on tonic's server: the calls in flight (a `Watch` stream
//!   included) are counted in `lc.stats()` and in the shutdown report (in flight at the
//!   trigger, finished, cut at the deadline);
//! - a small service without code generation (`demo.Jobs/Run`: answers after the milliseconds it
//!   is asked for), so the example needs no `protoc`.
//!
//! Run it (tonic is behind the examples' `grpc` feature, so the other examples don't build it):
//!
//! ```text
//! cargo run -p lifecycle-examples --features grpc --bin grpc
//! grpc-health-probe -addr localhost:50051      # SERVING; NOT_SERVING after Ctrl-C
//! ```
//!
//! Environment: `PORT` (50051; `0` picks a free port), `HOST` (`127.0.0.1`), `BACKEND` (an
//! address: a readiness check connects to it every second; unset, no check), and the runtime's
//! own `LIFECYCLE_GRACE`, `LIFECYCLE_DRAIN_DELAY`, ... The address is printed as
//! `listening on ADDRESS` once bound.

use std::net::SocketAddr;
use std::time::Duration;

use lifecycle::Lifecycle;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The demo service: its messages and its server, written by hand instead of generated.
mod jobs {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tonic::body::Body;
    use tonic::codegen::http;
    use tonic::server::{Grpc, NamedService, UnaryService};
    use tonic::{Request, Response, Status};
    use tonic_prost::ProstCodec;

    /// The full name clients call it by.
    pub const SERVICE: &str = "demo.Jobs";
    /// The path of its one method.
    pub const RUN: &str = "/demo.Jobs/Run";

    /// `message RunRequest { uint64 millis = 1; }`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunRequest {
        #[prost(uint64, tag = "1")]
        pub millis: u64,
    }

    /// `message RunReply { uint64 millis = 1; }`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunReply {
        #[prost(uint64, tag = "1")]
        pub millis: u64,
    }

    /// `rpc Run(RunRequest) returns (RunReply)`: answers after `millis` ms.
    #[derive(Clone, Copy)]
    struct Run;

    impl UnaryService<RunRequest> for Run {
        type Response = RunReply;
        type Future = Pin<Box<dyn Future<Output = Result<Response<RunReply>, Status>> + Send>>;

        fn call(&mut self, request: Request<RunRequest>) -> Self::Future {
            let millis = request.into_inner().millis;
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                Ok(Response::new(RunReply { millis }))
            })
        }
    }

    /// The service as a tower service tonic's router can serve.
    #[derive(Clone, Copy, Default)]
    pub struct JobsServer;

    impl NamedService for JobsServer {
        const NAME: &'static str = SERVICE;
    }

    impl<B> tower::Service<http::Request<B>> for JobsServer
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            if request.uri().path() != RUN {
                let path = request.uri().path().to_owned();
                let status = Status::unimplemented(format!("no method at {path}"));
                return Box::pin(async move { Ok(status.into_http()) });
            }
            Box::pin(async move {
                let mut grpc = Grpc::new(ProstCodec::<RunReply, RunRequest>::default());
                Ok(grpc.unary(Run, request).await)
            })
        }
    }
}

/// Flips the health service with the lifecycle's readiness (its state and its readiness
/// checks): `SERVING` while ready, `NOT_SERVING` while starting, while a check fails, and from
/// the trigger on (the drain delay still serves, so the balancer has time to notice); at the
/// cancel clears the statuses, which ends every open `Watch` stream so none holds the drain.
async fn follow_lifecycle(lc: Lifecycle, mut reporter: HealthReporter) {
    let mut readiness = lc.watch_readiness();
    let token = lc.token();
    let mut serving = false;
    loop {
        let ready = readiness.borrow_and_update().is_ready();
        if ready != serving {
            serving = ready;
            let (status, name) = if ready {
                (ServingStatus::Serving, "SERVING")
            } else {
                (ServingStatus::NotServing, "NOT_SERVING")
            };
            set_all(&reporter, status).await;
            println!("health: {name}");
        }
        // The watch never closes while the lifecycle lives: the cancel ends the loop.
        if token
            .run_until_cancelled(readiness.changed())
            .await
            .is_none()
        {
            break;
        }
    }
    for service in ["", jobs::SERVICE] {
        reporter.clear_service_status(service).await;
    }
}

/// The overall status (the empty service name, what probes ask by default) and the service's.
async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for service in ["", jobs::SERVICE] {
        reporter.set_service_status(service, status).await;
    }
}

#[lifecycle::main(grace = "10s", drain_delay = "1s")]
async fn main(lc: Lifecycle) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "50051".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on {}", listener.local_addr()?);

    // This replica's own backend, when it has one: while it refuses connections the health
    // service says NOT_SERVING (see `lifecycle::checks` for when a dependency belongs here).
    if let Ok(backend) = std::env::var("BACKEND") {
        let backend: SocketAddr = backend.parse()?;
        lc.check("backend")
            .every(Duration::from_secs(1))
            .timeout(Duration::from_millis(500))
            .run(move || async move { tokio::net::TcpStream::connect(backend).await.map(drop) });
    }

    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, ServingStatus::NotServing).await;
    lc.task("grpc health")
        .spawn(follow_lifecycle(lc.clone(), reporter));

    // tonic's own graceful shutdown: at the cancel it stops accepting, sends HTTP/2 GOAWAY on
    // every connection and waits for the calls in flight; the lifecycle's grace bounds the wait.
    // The in-flight layer counts the calls for the report; tonic runs its own connections.
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(lifecycle::http::InFlightLayer::new(&lc))
        .add_service(health)
        .add_service(jobs::JobsServer)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), lc.cancelled())
        .await?;
    println!("server: every call answered, stopped");
    Ok(())
}
