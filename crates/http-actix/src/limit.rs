//! [`BodyLimit`]: the `413` for an announced oversized body, on every path, before routing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::Error;
use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};

use crate::body;
use crate::error::{self, ApiError};

/// Middleware that answers `413` to a request announcing (`Content-Length`) a body larger than
/// [`crate::body::MAX_BODY_BYTES`], before routing and before anything else is looked at (the contract's
/// first check, on any path and any method, known or not), in the envelope of the path's family:
/// `{"detail": "Request body too large"}`, or on `/oauth/...` the OneWelcome
/// `{"error": "Request body too large"}` with its headers.
///
/// A body that is larger than announced (or not announced) is refused by the handler that reads
/// it, after its credential check. The crate's `app` wraps it inside
/// [`crate::log::RequestLog`]; an app composed with the crate's `configure` must wrap it the same
/// way:
///
/// ```ignore
/// App::new().wrap(http_actix::BodyLimit).wrap(http_actix::RequestLog)
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyLimit;

impl<S, B> Transform<S, ServiceRequest> for BodyLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = BodyLimitMiddleware<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(BodyLimitMiddleware { service }))
    }
}

/// The service [`BodyLimit`] wraps around the application.
#[derive(Debug)]
pub struct BodyLimitMiddleware<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for BodyLimitMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = BodyLimitFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if body::announced_too_large(req.request()) {
            let res = error::response_for_path(req.path(), ApiError::PayloadTooLarge);
            return BodyLimitFuture::Refused {
                response: Some(req.into_response(res)),
            };
        }
        BodyLimitFuture::Passed {
            inner: self.service.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`BodyLimitMiddleware`].
    #[project = BodyLimitFutureProj]
    pub enum BodyLimitFuture<F> {
        /// The `413`, answered at once.
        Refused { response: Option<ServiceResponse<BoxBody>> },
        /// The application's answer.
        Passed { #[pin] inner: F },
    }
}

impl<F, B> Future for BodyLimitFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BodyLimitFutureProj::Refused { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res.map_into_right_body())),
                // Polled after completion: a bug of the caller, never reached by actix.
                None => Poll::Ready(Err(ApiError::Internal.into())),
            },
            BodyLimitFutureProj::Passed { inner } => inner.poll(cx).map_ok(ServiceResponse::map_into_left_body),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::{StatusCode, header};
    use actix_web::test as at;
    use serde_json::{Value, json};

    /// Before routing: on a known path with its method, a known path with another method
    /// (before the `405`), an unknown path (before the `404`), with or without a credential
    /// (before the `401`), in the envelope of the path's family.
    #[actix_web::test]
    async fn an_announced_oversized_body_is_413_before_routing_in_the_family_envelope() {
        let service = at::init_service(crate::app(Arc::new(domain::testkit::kit().authd))).await;
        for (method, uri, one_welcome) in [
            ("GET", "/healthz", false),
            ("DELETE", "/healthz", false),
            ("POST", "/api/v1/authenticator/apps", false),
            ("PUT", "/nope", false),
            ("GET", "/oauth/api/v1/users/bot/authentication/apps", true),
            ("POST", "/oauth/api/v1/users/bot/authentication/apps", true),
            ("GET", "/oauth/nope", true),
        ] {
            let req = at::TestRequest::default()
                .method(method.parse().expect("method"))
                .uri(uri)
                .insert_header((header::CONTENT_LENGTH, "65537"))
                .to_request();
            let res = at::call_service(&service, req).await;
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{method} {uri}");
            assert!(res.headers().get(header::ALLOW).is_none(), "{method} {uri}");
            assert_eq!(
                res.headers().contains_key(header::PRAGMA),
                one_welcome,
                "{method} {uri}"
            );
            let body: Value = at::read_body_json(res).await;
            let want = if one_welcome {
                json!({"error": "Request body too large"})
            } else {
                json!({"detail": "Request body too large"})
            };
            assert_eq!(body, want, "{method} {uri}");
        }
        // At the limit, the request goes on.
        let req = at::TestRequest::get()
            .uri("/healthz")
            .insert_header((header::CONTENT_LENGTH, "65536"))
            .to_request();
        assert_eq!(at::call_service(&service, req).await.status(), StatusCode::OK);
    }
}
