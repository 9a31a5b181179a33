//! Credentials: service tokens (`X-Service-Token: <t>` or `Authorization: Bearer <t>`) on every
//! path but the device API, device tokens (`Authorization: Bearer authd_dev_...` only) on the
//! device API.
//!
//! A service token is first checked against the in-process cache
//! ([`domain::Authd::cached_principal`], no I/O); only on a miss does the look-up run on the
//! blocking pool. Tokens without the right prefix are refused without any look-up, which is
//! also what refuses a device token on a service path and a service token on the device API.
//!
//! The handlers get their credential from an extractor, their first argument, so that a refused
//! credential (`401`) is answered before the handler reads the path or the body (`422`, and the
//! `413` of a body larger than announced): [`ServiceCaller`] (the Inkbox family's `401`; where
//! the path or a body is parsed, awaited by [`crate::input::Input`] before it reads them, since
//! actix polls a handler's extractors together), [`OneWelcomeCaller`] (the same check, answered
//! in the OneWelcome envelope) and [`DeviceToken`]. An extractor that can answer a `422` or a
//! `413` must never stand beside one of these as a separate argument: it could answer while a
//! token is still being looked up.

use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use domain::Authd;
use domain::audit::{Actor, Caller, RequestId};
use domain::auth::Principal;
use domain::error::{Forbidden, Realm};
use domain::ids::TokenId;
use domain::ports::Store;
use domain::token::{DEVICE_TOKEN_PREFIX, SERVICE_TOKEN_PREFIX};

use crate::error::{ApiError, OneWelcomeError};
use crate::metrics::{self, AuthFailure};
use crate::routes::{Need, RouteNeeds};
use crate::run::blocking;

/// Counts and logs a refused credential: realm, reason and the peer address, never the
/// presented token (nor any part of it).
pub(crate) fn refused(req: &HttpRequest, realm: Realm, reason: AuthFailure) {
    metrics::record_auth_failure(realm, reason);
    let realm = match realm {
        Realm::Service => "service",
        Realm::Device => "device",
    };
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    tracing::info!(
        target: "authd::auth",
        realm,
        reason = reason.as_str(),
        peer = peer.as_deref().unwrap_or("-"),
        "credential refused"
    );
}

/// Missing when no credential header is there at all, malformed otherwise.
fn absent_or_malformed(req: &HttpRequest) -> AuthFailure {
    let h = req.headers();
    if h.contains_key(X_SERVICE_TOKEN) || h.contains_key(header::AUTHORIZATION) {
        AuthFailure::Malformed
    } else {
        AuthFailure::Missing
    }
}

const X_SERVICE_TOKEN: &str = "x-service-token";

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// The presented service token: `X-Service-Token` when that header is present (even empty),
/// else the bearer token.
fn presented_service_token(req: &HttpRequest) -> Option<&str> {
    match req.headers().get(X_SERVICE_TOKEN) {
        Some(v) => v.to_str().ok(),
        None => bearer(req),
    }
}

/// What the service-token check needs of [`Authd`], whatever its store: the extractors are not
/// generic, so `configure` registers the app's `Authd` also as
/// `web::Data<dyn ServiceTokens>`.
pub(crate) trait ServiceTokens: Send + Sync + 'static {
    /// [`Authd::cached_principal`].
    fn cached_principal(&self, token: &str) -> Option<Principal>;
    /// [`Authd::authenticate_service_token`].
    fn authenticate_service_token(&self, token: &str) -> Result<(Principal, bool), domain::Error>;
    /// [`Authd::record_service_token_use`].
    fn record_service_token_use(&self, id: TokenId) -> Result<(), domain::Error>;
}

impl<S: Store> ServiceTokens for Authd<S> {
    fn cached_principal(&self, token: &str) -> Option<Principal> {
        Authd::cached_principal(self, token)
    }

    fn authenticate_service_token(&self, token: &str) -> Result<(Principal, bool), domain::Error> {
        Authd::authenticate_service_token(self, token)
    }

    fn record_service_token_use(&self, id: TokenId) -> Result<(), domain::Error> {
        Authd::record_service_token_use(self, id)
    }
}

/// The app data the extractors need: `authd` as [`ServiceTokens`].
pub(crate) fn service_tokens<S: Store>(authd: Arc<Authd<S>>) -> web::Data<dyn ServiceTokens> {
    let tokens: Arc<dyn ServiceTokens> = authd;
    web::Data::from(tokens)
}

/// The caller of a service-token path (its organization, its token, the request's id), or
/// `401` in the Inkbox envelope. The handler's first argument.
pub(crate) struct ServiceCaller(pub(crate) Caller);

/// [`ServiceCaller`] on a OneWelcome path: the `401` (or `500`) in the OneWelcome envelope.
pub(crate) struct OneWelcomeCaller(pub(crate) Caller);

/// An extractor of the service-token caller, and its error family.
pub(crate) trait CallerExtractor: Sized {
    /// The error family.
    type Error: From<ApiError>;
    /// The extractor of `caller`.
    fn new(caller: Caller) -> Self;
}

impl CallerExtractor for ServiceCaller {
    type Error = ApiError;
    fn new(caller: Caller) -> Self {
        Self(caller)
    }
}

impl CallerExtractor for OneWelcomeCaller {
    type Error = OneWelcomeError;
    fn new(caller: Caller) -> Self {
        Self(caller)
    }
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = CallerFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        service_caller(req)
    }
}

impl FromRequest for OneWelcomeCaller {
    type Error = OneWelcomeError;
    type Future = CallerFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        service_caller(req)
    }
}

/// The look-up of a service token that missed the cache, on the blocking pool.
type LookUp = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

/// The future of a [`CallerExtractor`]: ready at once for a refused token and a cache hit (no
/// allocation), a boxed look-up otherwise.
pub(crate) struct CallerFuture<T> {
    state: CallerState,
    extractor: PhantomData<fn() -> T>,
}

enum CallerState {
    Ready(Option<Result<Caller, ApiError>>),
    LookUp(LookUp),
}

impl<T: CallerExtractor> Future for CallerFuture<T> {
    type Output = Result<T, T::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            CallerState::Ready(result) => result.take().unwrap_or(Err(ApiError::Internal)),
            CallerState::LookUp(future) => match future.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            },
        };
        Poll::Ready(result.map(T::new).map_err(T::Error::from))
    }
}

/// The organization of the caller's service token, or `401`.
fn service_caller<T>(req: &HttpRequest) -> CallerFuture<T> {
    let state = match presented_service_token(req).filter(|t| t.starts_with(SERVICE_TOKEN_PREFIX)) {
        None => {
            refused(req, Realm::Service, absent_or_malformed(req));
            CallerState::Ready(Some(Err(ApiError::unauthorized(Realm::Service))))
        }
        Some(token) => match req.app_data::<web::Data<dyn ServiceTokens>>() {
            None => {
                tracing::error!("the service-token check is not configured (see http_actix::configure)");
                CallerState::Ready(Some(Err(ApiError::Internal)))
            }
            Some(tokens) => match tokens.cached_principal(token) {
                Some(principal) => CallerState::Ready(Some(admitted(req, principal))),
                None => CallerState::LookUp(Box::pin(look_up(req.clone(), token.to_owned(), tokens.clone()))),
            },
        },
    };
    CallerFuture {
        state,
        extractor: PhantomData,
    }
}

/// The caller of a valid token when it may call this route (its scope: [`crate::routes::NEEDS`]),
/// `403` (counted and logged as `reason=scope`) when it lacks the route's scope.
fn admitted(req: &HttpRequest, p: Principal) -> Result<Caller, ApiError> {
    let need = req.app_data::<RouteNeeds>().and_then(|n| n.get(req.method().as_str()));
    match need {
        Some(Need::AnyToken) => {}
        Some(Need::Scope(scope)) if p.access.allows(scope) => {}
        Some(Need::Scope(scope)) => {
            refused(req, Realm::Service, AuthFailure::Scope);
            return Err(ApiError::Domain(domain::Error::Forbidden(Forbidden::MissingScope(
                scope,
            ))));
        }
        Some(Need::Device | Need::Public) | None => {
            tracing::error!(
                route = req.match_name().unwrap_or("-"),
                "a service-token route without a scope in routes::NEEDS"
            );
            return Err(ApiError::Internal);
        }
    }
    Ok(Caller::new(p.org, Actor::ServiceToken(p.token_id))
        .with_access(p.access, p.expires_at)
        .with_request_id(request_id(req)))
}

/// A token the cache does not know, looked up on the blocking pool.
async fn look_up(req: HttpRequest, token: String, tokens: web::Data<dyn ServiceTokens>) -> Result<Caller, ApiError> {
    let lookup = tokens.clone();
    match blocking(move || lookup.authenticate_service_token(&token)).await {
        Ok((principal, record_use)) => {
            if record_use {
                // `last_used_at`, at most once a minute per token: off this request's path.
                let id = principal.token_id;
                actix_web::rt::spawn(async move {
                    if let Err(e) = blocking(move || tokens.record_service_token_use(id)).await {
                        tracing::warn!(error = %e, "recording a service token's last use failed");
                    }
                });
            }
            admitted(&req, principal)
        }
        Err(e @ ApiError::Domain(domain::Error::Unauthorized(_))) => {
            refused(&req, Realm::Service, AuthFailure::Unknown);
            Err(e)
        }
        Err(e @ ApiError::Domain(domain::Error::TokenExpired)) => {
            refused(&req, Realm::Service, AuthFailure::Expired);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The presented device token (checked by the use case itself), or `401` when there is none of
/// the right form. The device API handlers' first argument.
pub(crate) struct DeviceToken(pub(crate) String);

impl FromRequest for DeviceToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(device_token(req).map(Self))
    }
}

/// The presented device token (checked by the use case itself), or `401` when there is none
/// of the right form. `X-Service-Token` is never looked at here.
fn device_token(req: &HttpRequest) -> Result<String, ApiError> {
    match bearer(req).filter(|t| t.starts_with(DEVICE_TOKEN_PREFIX)) {
        Some(t) => Ok(t.to_owned()),
        None => {
            let reason = if req.headers().contains_key(header::AUTHORIZATION) {
                AuthFailure::Malformed
            } else {
                AuthFailure::Missing
            };
            refused(req, Realm::Device, reason);
            Err(ApiError::unauthorized(Realm::Device))
        }
    }
}

/// The request's id, as [`crate::log::RequestLog`] gave it (none when the app runs without it).
pub(crate) fn request_id(req: &HttpRequest) -> Option<RequestId> {
    let ext = req.extensions();
    let value = ext.get::<crate::log::RequestIdValue>()?;
    RequestId::parse(value.0.to_str().ok()?)
}
