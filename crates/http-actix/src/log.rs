//! [`RequestLog`]: one tracing event per request.

use std::borrow::Cow;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpMessage as _, HttpRequest};

/// The request id header: accepted from the client when sane, generated otherwise, and echoed
/// on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A per-process random prefix (from the OS-seeded `RandomState`) and a counter: unique across
/// replicas without a syscall per request.
fn new_request_id() -> String {
    static PREFIX: LazyLock<u64> =
        LazyLock::new(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{n:08x}", *PREFIX)
}

/// A client-supplied id is kept when it is 1-128 characters of `[A-Za-z0-9._:-]`, so that no
/// hostile text reaches the logs.
fn request_id(req: &ServiceRequest) -> HeaderValue {
    if let Some(v) = req.headers().get(&REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c)) {
            return v.clone();
        }
    }
    HeaderValue::from_str(&new_request_id()).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The request's id, kept in its extensions for the handlers (the audit trail records it).
#[derive(Clone)]
pub(crate) struct RequestIdValue(pub(crate) HeaderValue);

/// Target of the request events.
pub const LOG_TARGET: &str = "authd::http";

/// Middleware that records the request metrics, gives every request an id (`X-Request-Id`:
/// the client's when sane, else generated; echoed on the response; a `request` span carries it,
/// so every log line of the request has it) and emits one tracing event per request (target [`LOG_TARGET`], level `INFO`,
/// `WARN` for `5xx`) with `method`, `route` (the matched route *pattern*, e.g.
/// `/api/v1/authenticator/apps/{app_id}`, or `-` when no route matched, so that ids, handles
/// and tokens never reach the log), `status` and `latency_ms`. Never headers, never bodies.
///
/// It costs one `Instant::now()` per request when the event is disabled, and does not allocate
/// for the routes this crate registers (their names are their patterns).
///
/// ```ignore
/// App::new().wrap(http_actix::RequestLog)
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLog;

impl<S, B> Transform<S, ServiceRequest> for RequestLog
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestLogMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestLogMiddleware { service }))
    }
}

/// The service [`RequestLog`] wraps around the application.
#[derive(Debug)]
pub struct RequestLogMiddleware<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for RequestLogMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = RequestLogFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let start = Instant::now();
        let method = req.method().clone();
        let request_id = request_id(&req);
        req.extensions_mut().insert(RequestIdValue(request_id.clone()));
        let span = tracing::info_span!(
            target: LOG_TARGET,
            "request",
            request_id = request_id.to_str().unwrap_or("-")
        );
        let inner = {
            let _entered = span.enter();
            self.service.call(req)
        };
        RequestLogFuture {
            inner,
            method,
            start,
            span,
            request_id,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestLogMiddleware`].
    pub struct RequestLogFuture<F> {
        #[pin]
        inner: F,
        method: Method,
        start: Instant,
        span: tracing::Span,
        request_id: HeaderValue,
    }
}

impl<F, B> Future for RequestLogFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        match &mut out {
            Ok(res) => {
                emit(this.method, Some(res.request()), res.status(), *this.start);
                res.headers_mut().insert(REQUEST_ID, this.request_id.clone());
            }
            Err(e) => emit(this.method, None, e.as_response_error().status_code(), *this.start),
        }
        Poll::Ready(out)
    }
}

/// The matched route's pattern: the resource name (this crate names every resource after its
/// pattern, so no allocation), else the pattern itself.
fn route(req: &HttpRequest) -> Cow<'_, str> {
    match req.match_name() {
        Some(name) if name.starts_with('/') => Cow::Borrowed(name),
        _ => req.match_pattern().map_or(Cow::Borrowed("-"), Cow::Owned),
    }
}

fn emit(method: &Method, req: Option<&HttpRequest>, status: StatusCode, start: Instant) {
    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let route = req.map_or(Cow::Borrowed("-"), route);
    crate::metrics::record_request(&route, method, status, micros);
    let level_enabled = if status.is_server_error() {
        tracing::enabled!(target: LOG_TARGET, tracing::Level::WARN)
    } else {
        tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO)
    };
    if !level_enabled {
        return;
    }
    // Whole microseconds, so the value prints without binary-fraction noise.
    let latency_ms = f64::from(u32::try_from(micros).unwrap_or(u32::MAX)) / 1000.0;
    let route: &str = &route;
    if status.is_server_error() {
        tracing::warn!(
            target: LOG_TARGET,
            method = method.as_str(),
            route,
            status = status.as_u16(),
            latency_ms,
            "request"
        );
    } else {
        tracing::info!(
            target: LOG_TARGET,
            method = method.as_str(),
            route,
            status = status.as_u16(),
            latency_ms,
            "request"
        );
    }
}
