//! # authd's HTTP adapter (actix-web)
//!
//! Serves the wire contract of `docs/HTTP-API.md` over the use cases of
//! [`domain::Authd`]: the Inkbox authenticator and identities API, the authd extensions
//! (instances, device API), the OneWelcome end-user API and the health probes.
//!
//! ## Public API
//!
//! - [`configure`]: registers every route and the app data it needs. The routes are listed in
//!   `src/routes.rs`, with the handlers that give the OpenAPI document its operations.
//! - [`not_found`]: the `default_service` for unknown paths (`404` JSON of the path's family).
//! - [`BodyLimit`]: middleware, the `413` of an announced oversized body on every path, before
//!   routing (in the envelope of the path's family). An app without it has no such `413`.
//! - [`RequestLog`]: middleware, one tracing event per request (method, route pattern, status,
//!   latency).
//! - [`app`]: the four composed (`RequestLog` outermost, so that the `413` is logged and carries
//!   `X-Request-Id`); the server serves exactly this (`crates/server/src/serve.rs`:
//!   `HttpServer::new(move || http_actix::app(authd.clone()))`), and the tests run it:
//!
//! ```ignore
//! App::new()
//!     .wrap(http_actix::BodyLimit)
//!     .wrap(http_actix::RequestLog)
//!     .configure(|c| http_actix::configure(c, authd.clone()))
//!     .default_service(web::to(http_actix::not_found))
//! ```
//!
//! - [`ApiError`] / [`OneWelcomeError`]: the two error families (`ResponseError`s).
//! - [`openapi::document`]: the OpenAPI 3.1 document of every route, generated from the
//!   handlers' `#[utoipa::path]` annotations (served at `/openapi.json`, viewer at `/docs`).
//!
//! ## Routes
//!
//! | path | methods |
//! |---|---|
//! | `/api/v1/authenticator/apps` | `GET`, `POST` |
//! | `/api/v1/authenticator/apps/{app_id}` | `GET`, `PATCH` (authd extension: metadata), `DELETE` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts` | `GET`, `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}` | `GET`, `PATCH`, `DELETE` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp` | `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/verify` (authd extension) | `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/lockout` (authd extension) | `GET` |
//! | `/api/v1/authenticator/apps/{app_id}/instances` | `GET`, `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/instances/{instance_id}` | `GET`, `DELETE` |
//! | `/api/v1/identities` and `/api/v1/identities/` (both served, never redirected) | `GET`, `POST` |
//! | `/api/v1/identities/{agent_handle}` | `GET`, `PATCH`, `DELETE` |
//! | `/api/v1/identities/{agent_handle}/authenticator_app` | `POST`, `DELETE` |
//! | `/api/v1/device/accounts` | `GET` |
//! | `/api/v1/device/accounts/{account_id}/generate-otp` | `POST` |
//! | `/api/v1/device/accounts/{account_id}/verify` | `POST` |
//! | `/oauth/api/v1/users/{user_id}/authentication/apps` | `GET` |
//! | `/oauth/api/v1/users/{user_id}/authentication/apps/{instance_id}` | `DELETE` |
//! | `/api/v1/audit/events` | `GET` |
//! | `/healthz`, `/readyz`, `/metrics` | `GET` |
//! | `/openapi.json`, `/docs`, `/docs/{asset}` (see [`openapi`]) | `GET` |
//! | `/console`, `/console/{asset}` (the operator console, a client of the routes above) | `GET` |
//!
//! Every resource answers another method with `405` and a JSON body of its family (and an
//! `Allow` header). Every resource is named after its pattern (see [`RequestLog`]).
//!
//! ## Handlers
//!
//! Each handler parses the request into domain types, runs the whole use case in one
//! `web::block` (never holding a pooled connection across an `.await`) and maps the result.
//! Checks run in the contract's precedence: `413` (announced body size: [`BodyLimit`], before
//! routing) → `401` (the credential extractor, each handler's first argument) → `422` (path ids
//! and body shape; a body larger than announced is `413` as it is read) → the use case (`404` →
//! `403` → `409` → `400`; `429` last, on verify). Bodies are read raw (at most
//! [`MAX_BODY_BYTES`]) and parsed as JSON whatever the `Content-Type`.

//! ## Modules
//!
//! The module graph is acyclic: a module imports (`use crate::...`, paths in annotations, doc
//! links) only from the modules listed before it.
//!
//! | module | what | imports |
//! |---|---|---|
//! | `paths` (below) | the route patterns | — |
//! | `dto_schemas` | schemas of the values the DTOs write (documentation-only enums) | — |
//! | `metrics` | the counters and their exposition | `paths` |
//! | `log` | [`RequestLog`] | `metrics` |
//! | `respond` | the response DTOs | `dto_schemas` |
//! | `error` | statuses, messages, the two envelopes | `respond` |
//! | `body` | bodies and path ids, the `422` items | `error` |
//! | `run` | `blocking`: where the use cases run | `error` |
//! | `request` | the request bodies: each parses and documents itself | `body`, `error` |
//! | `schemas` | the components the annotations name (shared responses, DTO names, path parameters) | `error`, `request`, `respond` |
//! | `auth` | the credential extractors | `error`, `log`, `metrics`, `run` |
//! | `limit` | [`BodyLimit`] | `body`, `error`, `log` |
//! | `handlers` | the request handlers | `auth`, `body`, `error`, `limit` (docs), `metrics`, `paths`, `request`, `respond`, `run`, `schemas` |
//! | `docs` | `/openapi.json` (the document as a type parameter) and the `/docs` viewer | `error`, `paths`, `schemas` |
//! | `console` | the `/console` page and its files | `error`, `paths`, `schemas` |
//! | `routes` | the routes: the router and the document's operations | `console`, `docs`, `handlers`, `log` (docs), `paths` |
//! | [`openapi`] | the document (the routes' operations, components, `Modify`s) | `docs`, `error`, `paths`, `respond` (tests), `routes`, `schemas` |
//! | the crate root | [`configure`], [`app`], the re-exports | everything |
//!
//! Tests may also use the crate root's [`app`] and [`configure`] (the whole application).
//! Check with `grep -o 'crate::[a-z_]*' src/**/*.rs`.

mod auth;
mod body;
mod console;
mod docs;
mod dto_schemas;
mod error;
mod handlers;
mod input;
mod limit;
mod log;
pub mod metrics;
pub mod openapi;
mod request;
mod respond;
mod routes;
mod run;
mod schemas;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use domain::Authd;
use domain::ports::Store;

pub use body::MAX_BODY_BYTES;
pub use error::{ApiError, OneWelcomeError, RETRY_AFTER_UNAVAILABLE_SECONDS};
pub use handlers::not_found;
pub use limit::{BodyLimit, BodyLimitFuture, BodyLimitMiddleware};
pub use log::{LOG_TARGET, REQUEST_ID, RequestLog, RequestLogFuture, RequestLogMiddleware};
pub use run::{DEFAULT_REQUEST_DEADLINE_MS, set_request_deadline};

/// Route patterns.
mod paths {
    pub(crate) const APPS: &str = "/api/v1/authenticator/apps";
    pub(crate) const APP: &str = "/api/v1/authenticator/apps/{app_id}";
    pub(crate) const ACCOUNTS: &str = "/api/v1/authenticator/apps/{app_id}/accounts";
    pub(crate) const ACCOUNT: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}";
    pub(crate) const GENERATE_OTP: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp";
    pub(crate) const VERIFY_OTP: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/verify";
    pub(crate) const ACCOUNT_LOCKOUT: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/lockout";
    pub(crate) const INSTANCES: &str = "/api/v1/authenticator/apps/{app_id}/instances";
    pub(crate) const INSTANCE: &str = "/api/v1/authenticator/apps/{app_id}/instances/{instance_id}";
    pub(crate) const IDENTITIES: &str = "/api/v1/identities";
    pub(crate) const IDENTITIES_SLASH: &str = "/api/v1/identities/";
    pub(crate) const IDENTITY: &str = "/api/v1/identities/{agent_handle}";
    pub(crate) const IDENTITY_APP: &str = "/api/v1/identities/{agent_handle}/authenticator_app";
    pub(crate) const DEVICE_ACCOUNTS: &str = "/api/v1/device/accounts";
    pub(crate) const DEVICE_GENERATE_OTP: &str = "/api/v1/device/accounts/{account_id}/generate-otp";
    pub(crate) const DEVICE_VERIFY_OTP: &str = "/api/v1/device/accounts/{account_id}/verify";
    pub(crate) const USER_APPS: &str = "/oauth/api/v1/users/{user_id}/authentication/apps";
    pub(crate) const USER_APP: &str = "/oauth/api/v1/users/{user_id}/authentication/apps/{instance_id}";
    pub(crate) const AUDIT_EVENTS: &str = "/api/v1/audit/events";
    pub(crate) const TOKENS: &str = "/api/v1/tokens";
    pub(crate) const TOKEN_SELF: &str = "/api/v1/tokens/self";
    pub(crate) const TOKEN: &str = "/api/v1/tokens/{token_id}";
    pub(crate) const HEALTHZ: &str = "/healthz";
    pub(crate) const READYZ: &str = "/readyz";
    pub(crate) const METRICS: &str = "/metrics";
    pub(crate) const OPENAPI: &str = "/openapi.json";
    pub(crate) const DOCS: &str = "/docs";
    pub(crate) const DOCS_ASSET: &str = "/docs/{asset}";
    pub(crate) const CONSOLE: &str = "/console";
    pub(crate) const CONSOLE_ASSET: &str = "/console/{asset}";
}

/// Registers every route of the wire contract, and `authd` as app data (also as what the
/// credential extractors need of it).
///
/// The `413` of an announced oversized body is not a route's: wrap the app in [`BodyLimit`]
/// (see [`app`]).
///
/// Unknown paths are not handled here: give the app [`not_found`] as its `default_service`
/// (see [`app`]).
pub fn configure<S: Store>(cfg: &mut web::ServiceConfig, authd: Arc<Authd<S>>) {
    cfg.app_data(auth::service_tokens(authd.clone()))
        .app_data(web::Data::from(authd));
    routes::register::<S, openapi::Served>(cfg);
}

/// The whole application:
/// `App::new().wrap(BodyLimit).wrap(RequestLog).configure(|c| configure(c, authd))`
/// `.default_service(web::to(not_found))`.
///
/// The server serves it (`HttpServer::new(move || http_actix::app(authd.clone()))`, in
/// `crates/server/src/serve.rs`), and so do the in-process tests
/// (`actix_web::test::init_service(http_actix::app(authd))`).
pub fn app<S: Store>(
    authd: Arc<Authd<S>>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(BodyLimit)
        .wrap(RequestLog)
        .configure(move |c| configure(c, authd))
        .default_service(web::to(not_found))
}
