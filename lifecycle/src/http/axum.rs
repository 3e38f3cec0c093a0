//! [`serve`] for a `Router`, readiness and liveness handlers and a draining middleware for axum
//! (feature `axum`).
//!
//! ```
//! use axum::{middleware, routing::get, Router};
//! use lifecycle::{Config, Sequence};
//!
//! let sequence = Sequence::new(Config::new());
//! let lc = sequence.handle();
//! let app: Router = Router::new()
//!     .route("/health", get(lifecycle::axum::live))
//!     .route("/ready", get(lifecycle::axum::ready))
//!     .layer(middleware::from_fn_with_state(lc.clone(), lifecycle::axum::close_when_draining))
//!     .with_state(lc);
//! ```
//!
//! An app whose state is its own type implements `FromRef<AppState> for Lifecycle` (or keeps
//! the lifecycle in a field with `#[derive(FromRef)]`) and uses the same handlers.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::checks::Readiness;
use crate::handle::Lifecycle;

/// Serves `router` on `listener` with the lifecycle's serve loop: every connection tracked and
/// named, drained gracefully at the cancel, cut and named at the grace deadline. See
/// [`lifecycle::http`](crate::http) for what happens to each kind of connection, and
/// [`Serve`](crate::http::Serve) for the settings. Use it where you would write
/// `axum::serve(listener, router).with_graceful_shutdown(..)`.
///
/// The future returns once the listener is closed (at the cancel), **before** the connections
/// have answered what they hold: each connection is a tracked task, and the drain waits for
/// them. So code after `.await` runs while requests are still being answered; to act once the
/// last one is answered, put the server in a stage and the follow-up in a later one. To stop the
/// server in a stage's turn rather than with the root token, give it the stage's token:
/// `serve(&lc, listener, router).until(lc.stage(0).token())`.
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let router = Router::new().route("/", get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let handle = lc.clone();
/// let report = sequence
///     .run_without_signals(async move {
///         handle.request_shutdown(); // SIGTERM, in a real service
///         lifecycle::axum::serve(&handle, listener, router).await
///     })
///     .await;
/// assert_eq!(report.code(), 0);
/// # Ok(()) }
/// ```
pub fn serve(
    lc: &Lifecycle,
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> crate::http::Serve<hyper_util::service::TowerToHyperService<axum::Router>> {
    crate::http::serve(
        lc,
        listener,
        hyper_util::service::TowerToHyperService::new(router),
    )
}

/// Readiness probe: `200 OK` while the service is ready (its state [`Ready`](crate::State::Ready)
/// and every [readiness check](crate::Lifecycle::check) passing), `503 Service Unavailable`
/// while starting, while a check fails, from the moment a shutdown is triggered, and after.
///
/// The body is one line of JSON (`application/json`), [`Readiness::to_json`]: whether ready,
/// the state, why not (`check postgres failed: connection refused`), and each check's state and
/// last error. The answer compares equal to its status code.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::extract::State;
/// use axum::http::StatusCode;
/// use lifecycle::{Config, Sequence};
///
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// lc.set_ready();
/// assert_eq!(lifecycle::axum::ready(State(lc.clone())).await, StatusCode::OK);
/// lc.request_shutdown();
/// let answer = lifecycle::axum::ready(State(lc)).await;
/// assert_eq!(answer, StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(
///     answer.body(),
///     r#"{"ready":false,"state":"draining","reason":"draining","checks":[]}"#
/// );
/// # }
/// ```
pub async fn ready(State(lc): State<Lifecycle>) -> ReadyAnswer {
    ReadyAnswer::new(&lc.readiness())
}

/// What [`ready`] answers: a status code (200 or 503) and the readiness as JSON. Compares equal
/// to its [`StatusCode`].
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use lifecycle::axum::ReadyAnswer;
/// use lifecycle::{Config, Sequence};
///
/// let lc = Sequence::new(Config::new()).handle();
/// let answer = ReadyAnswer::new(&lc.readiness());
/// assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert!(answer.body().contains(r#""state":"starting""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyAnswer {
    status: StatusCode,
    body: String,
}

impl ReadyAnswer {
    /// The answer for `readiness`: 200 when it [is ready](Readiness::is_ready), else 503.
    pub fn new(readiness: &Readiness) -> Self {
        let status = if readiness.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Self {
            status,
            body: readiness.to_json(),
        }
    }

    /// `200 OK` or `503 Service Unavailable`.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &str {
        &self.body
    }
}

impl PartialEq<StatusCode> for ReadyAnswer {
    fn eq(&self, other: &StatusCode) -> bool {
        self.status == *other
    }
}

impl IntoResponse for ReadyAnswer {
    fn into_response(self) -> Response {
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ];
        (self.status, headers, self.body).into_response()
    }
}

/// Liveness probe: `200 OK` as long as the process answers, draining or not. A liveness probe
/// that failed during the drain would get the pod killed mid-shutdown.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::http::StatusCode;
/// assert_eq!(lifecycle::axum::live().await, StatusCode::OK);
/// # }
/// ```
pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// Middleware: while the service is draining, every response carries `Connection: close`, so
/// keep-alive clients open a new connection for their next request (which the load balancer
/// sends elsewhere) instead of holding this one open through the drain.
///
/// Use with `axum::middleware::from_fn_with_state(lc.clone(), close_when_draining)`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{body::Body, http::Request, middleware, routing::get, Router};
/// use lifecycle::{Config, Sequence};
/// use tower::ServiceExt;
///
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let app = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(middleware::from_fn_with_state(lc.clone(), lifecycle::axum::close_when_draining));
///
/// lc.set_ready();
/// let response = app.clone().oneshot(Request::new(Body::empty())).await.unwrap();
/// assert!(response.headers().get("connection").is_none());
///
/// lc.request_shutdown();
/// let response = app.oneshot(Request::new(Body::empty())).await.unwrap();
/// assert_eq!(response.headers()["connection"], "close");
/// # }
/// ```
pub async fn close_when_draining(
    State(lc): State<Lifecycle>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if lc.state() >= crate::triggers::readiness::State::Draining {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
