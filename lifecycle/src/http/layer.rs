//! Counting requests in flight: the tower layer any service can wear, and the per-connection
//! wrapper the serve loop puts around the app's service. Both hold a request's count in its
//! response body, so a streamed response (SSE) is in flight until its last frame.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};

use crate::handle::Lifecycle;
use crate::tasks::connections::{Connection, RequestGuard};

/// A tower layer that counts the requests in flight through the service it wraps, in
/// [`Lifecycle::stats`] and in the shutdown report (`in_flight` at the trigger, the
/// number finished, the number cut at the deadline). A request counts until its response body
/// has been sent in full.
///
/// The drain waits for the requests it counts until the grace deadline, after the tracked tasks
/// and every stop stage (a server stopped by a stage's token answers them in its turn): a
/// server whose own graceful shutdown the app does not await (spawned with `tokio::spawn`, say)
/// still gets the grace for its requests. A request still in flight at the deadline is
/// work cut short: counted in the drain line (`1 request cut short`) and exit code 2
/// ([`EXIT_ABORTED`](crate::exit::EXIT_ABORTED)). The layer cannot stop it (it lives in the
/// server's task); the process's exit does.
///
/// For servers the lifecycle does not run itself, such as tonic's `Server` (the layer works on
/// any `http::Request` service). [`serve`](super::serve) counts its requests already: do not add
/// the layer there too, or each request counts twice. The layer sees requests, not the
/// connections they come on: with it alone,
/// [`ConnectionStats::connections`](crate::tasks::ConnectionStats::connections) stays 0 and the
/// report's line speaks of requests only (see
/// [`ConnectionReport::connections_seen`](crate::tasks::ConnectionReport::connections_seen)).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use lifecycle::http::InFlightLayer;
/// use lifecycle::{Config, Sequence};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let lc = Sequence::new(Config::new()).handle();
/// let seen = lc.clone();
/// let service = InFlightLayer::new(&lc).layer(service_fn(move |_: http::Request<()>| {
///     let in_flight = seen.stats().in_flight; // this very request
///     async move { Ok::<_, std::convert::Infallible>(http::Response::new(format!("{in_flight}"))) }
/// }));
/// let response = service.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.body().inner(), "1");
/// drop(response); // the body is gone: the request is over
/// assert_eq!(lc.stats().in_flight, 0);
/// # }
/// ```
#[derive(Clone)]
pub struct InFlightLayer {
    lc: Lifecycle,
}

impl InFlightLayer {
    /// A layer counting into `lc`.
    pub fn new(lc: &Lifecycle) -> Self {
        Self { lc: lc.clone() }
    }
}

impl std::fmt::Debug for InFlightLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightLayer").finish_non_exhaustive()
    }
}

impl<S> tower_layer::Layer<S> for InFlightLayer {
    type Service = InFlight<S>;

    fn layer(&self, inner: S) -> InFlight<S> {
        InFlight {
            inner,
            lc: self.lc.clone(),
        }
    }
}

/// The service [`InFlightLayer`] makes: `S`, with each request counted while in flight.
///
/// # Examples
///
/// See [`InFlightLayer`].
#[derive(Clone)]
pub struct InFlight<S> {
    inner: S,
    /// Where the requests are counted, and what the drain waits for.
    lc: Lifecycle,
}

impl<S> std::fmt::Debug for InFlight<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for InFlight<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<Counted<ResBody>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = &self.lc.inner();
        let guard = inner.connections().begin(inner.tasks().request_guard());
        CountedFuture {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

/// The app's service on one connection of the serve loop: each request counted on the
/// connection, with its method and path, for the report.
pub(super) struct PerConnection<S> {
    pub(super) inner: S,
    pub(super) connection: Arc<Connection>,
}

impl<S, ResBody> hyper::service::Service<Request<hyper::body::Incoming>> for PerConnection<S>
where
    S: hyper::service::Service<Request<hyper::body::Incoming>, Response = Response<ResBody>>,
{
    type Response = Response<Counted<ResBody>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn call(&self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let guard = self.connection.begin(request.method().as_str(), path);
        CountedFuture {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a counted request: hands the count on to the response body.
    pub struct CountedFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
    }
}

impl<F, B, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Counted<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let mut guard = this.guard.take();
        let (mut head, inner) = response.into_parts();
        if let Some(guard) = &mut guard {
            if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                guard.upgraded();
            } else if guard.closing() {
                // Its connection closes after this response (the serve loop's drain, or a
                // hand-over): hyper closes an HTTP/1 connection once a response saying so is
                // sent (HTTP/2 drops the header, and gets a GOAWAY instead).
                head.headers.insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
        }
        Poll::Ready(Ok(Response::from_parts(head, Counted { inner, guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body whose request counts as in flight until the body ends (or is dropped).
    pub struct Counted<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
    }
}

impl<B> Counted<B> {
    /// The body inside.
    ///
    /// # Examples
    ///
    /// See [`InFlightLayer`].
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            this.guard.take(); // the end, or an error: the request is over
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
