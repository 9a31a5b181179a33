//! # authd's HTTP adapter (actix-web)
//!
//! Serves the wire contract of `docs/HTTP-API.md` over the use cases of
//! [`domain::Authd`]: the Inkbox authenticator and identities API, the authd extensions
//! (instances, device API), the OneWelcome end-user API and the health probes.
//!
//! ## Public API
//!
//! - [`configure`]: registers every route and the app data it needs.
//! - [`not_found`]: the `default_service` for unknown paths (`404` JSON of the path's family).
//! - [`RequestLog`]: middleware, one tracing event per request (method, route pattern, status,
//!   latency).
//! - [`app`]: the three composed, exactly as the server does it:
//!
//! ```ignore
//! App::new()
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
//! | `/api/v1/authenticator/apps/{app_id}` | `GET`, `DELETE` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts` | `GET`, `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}` | `GET`, `PATCH`, `DELETE` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp` | `POST` |
//! | `/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/verify` (authd extension) | `POST` |
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
//!
//! Every resource answers another method with `405` and a JSON body of its family (and an
//! `Allow` header). Every resource is named after its pattern (see [`RequestLog`]).
//!
//! ## Handlers
//!
//! Each handler parses the request into domain types, runs the whole use case in one
//! `web::block` (never holding a pooled connection across an `.await`) and maps the result.
//! Checks run in the contract's precedence: `413` (announced body size) → `401` → `422` (path
//! ids and body shape) → the use case (`404` → `403` → `409` → `400`; `429` last, on verify). Bodies are read raw (at
//! most [`MAX_BODY_BYTES`]) and parsed as JSON whatever the `Content-Type`.

mod auth;
mod body;
mod docs;
mod error;
mod handlers;
mod log;
pub mod metrics;
pub mod openapi;
mod request;
mod respond;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpRequest, Resource, web};
use domain::Authd;
use domain::ports::Store;

pub use body::MAX_BODY_BYTES;
pub use error::{ApiError, OneWelcomeError};
pub use handlers::not_found;
pub use log::{LOG_TARGET, REQUEST_ID, RequestLog, RequestLogFuture, RequestLogMiddleware};

use handlers::{accounts, apps, audit, device, identities, instances, one_welcome, ops, verify};

/// Route patterns.
mod paths {
    pub(crate) const APPS: &str = "/api/v1/authenticator/apps";
    pub(crate) const APP: &str = "/api/v1/authenticator/apps/{app_id}";
    pub(crate) const ACCOUNTS: &str = "/api/v1/authenticator/apps/{app_id}/accounts";
    pub(crate) const ACCOUNT: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}";
    pub(crate) const GENERATE_OTP: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp";
    pub(crate) const VERIFY_OTP: &str = "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/verify";
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
    pub(crate) const HEALTHZ: &str = "/healthz";
    pub(crate) const READYZ: &str = "/readyz";
    pub(crate) const METRICS: &str = "/metrics";
    pub(crate) const OPENAPI: &str = "/openapi.json";
    pub(crate) const DOCS: &str = "/docs";
    pub(crate) const DOCS_ASSET: &str = "/docs/{asset}";
}

/// A resource of the Inkbox family (and extensions, operations), named after its pattern, with
/// the family's `405`.
fn resource(path: &'static str, allow: &'static str) -> Resource {
    #[cfg(test)]
    openapi::served::record(path, allow);
    web::resource(path)
        .name(path)
        .default_service(web::to(move |req: HttpRequest| async move {
            handlers::method_not_allowed(&req, allow)
        }))
}

/// A OneWelcome resource, with the OneWelcome `405`.
fn one_welcome_resource(path: &'static str, allow: &'static str) -> Resource {
    #[cfg(test)]
    openapi::served::record(path, allow);
    web::resource(path)
        .name(path)
        .default_service(web::to(move |req: HttpRequest| async move {
            handlers::one_welcome_method_not_allowed(&req, allow)
        }))
}

/// Registers every route of the wire contract, and `authd` as app data.
///
/// Unknown paths are not handled here: give the app [`not_found`] as its `default_service`
/// (see [`app`]).
pub fn configure<S: Store>(cfg: &mut web::ServiceConfig, authd: Arc<Authd<S>>) {
    use paths::*;

    // actix tries routes in registration order, and every pattern with a `{param}` costs a
    // regular-expression match: the hottest routes come first (patterns never overlap, so the
    // order changes nothing else).
    cfg.app_data(web::Data::from(authd))
        // Inkbox authenticator
        .service(resource(GENERATE_OTP, "POST").route(web::post().to(accounts::generate_otp::<S>)))
        .service(resource(VERIFY_OTP, "POST").route(web::post().to(verify::verify_otp::<S>)))
        .service(
            resource(APPS, "GET, POST")
                .route(web::get().to(apps::list::<S>))
                .route(web::post().to(apps::create::<S>)),
        )
        .service(
            resource(APP, "GET, DELETE")
                .route(web::get().to(apps::get::<S>))
                .route(web::delete().to(apps::delete::<S>)),
        )
        .service(
            resource(ACCOUNTS, "GET, POST")
                .route(web::get().to(accounts::list::<S>))
                .route(web::post().to(accounts::create::<S>)),
        )
        .service(
            resource(ACCOUNT, "GET, PATCH, DELETE")
                .route(web::get().to(accounts::get::<S>))
                .route(web::patch().to(accounts::update::<S>))
                .route(web::delete().to(accounts::delete::<S>)),
        )
        // authd extension: instances
        .service(
            resource(INSTANCES, "GET, POST")
                .route(web::get().to(instances::list::<S>))
                .route(web::post().to(instances::enroll::<S>)),
        )
        .service(
            resource(INSTANCE, "GET, DELETE")
                .route(web::get().to(instances::get::<S>))
                .route(web::delete().to(instances::revoke::<S>)),
        )
        // Inkbox identities: with and without the trailing slash, never redirected
        .service(
            resource(IDENTITIES, "GET, POST")
                .route(web::get().to(identities::list::<S>))
                .route(web::post().to(identities::create::<S>)),
        )
        .service(
            resource(IDENTITIES_SLASH, "GET, POST")
                .route(web::get().to(identities::list::<S>))
                .route(web::post().to(identities::create::<S>)),
        )
        .service(
            resource(IDENTITY, "GET, PATCH, DELETE")
                .route(web::get().to(identities::get::<S>))
                .route(web::patch().to(identities::update::<S>))
                .route(web::delete().to(identities::delete::<S>)),
        )
        .service(
            resource(IDENTITY_APP, "POST, DELETE")
                .route(web::post().to(identities::assign_app::<S>))
                .route(web::delete().to(identities::unlink_app::<S>)),
        )
        // authd extension: device API
        .service(resource(DEVICE_ACCOUNTS, "GET").route(web::get().to(device::accounts::<S>)))
        .service(resource(DEVICE_GENERATE_OTP, "POST").route(web::post().to(device::generate_otp::<S>)))
        .service(resource(DEVICE_VERIFY_OTP, "POST").route(web::post().to(verify::verify_device_otp::<S>)))
        // OneWelcome end-user API
        .service(one_welcome_resource(USER_APPS, "GET").route(web::get().to(one_welcome::list::<S>)))
        .service(one_welcome_resource(USER_APP, "DELETE").route(web::delete().to(one_welcome::revoke::<S>)))
        // authd extension: audit trail
        .service(resource(AUDIT_EVENTS, "GET").route(web::get().to(audit::list::<S>)))
        // operations
        .service(resource(HEALTHZ, "GET").route(web::get().to(ops::healthz)))
        .service(resource(READYZ, "GET").route(web::get().to(ops::readyz::<S>)))
        .service(resource(METRICS, "GET").route(web::get().to(ops::metrics)))
        // the OpenAPI document and its viewer
        .service(resource(OPENAPI, "GET").route(web::get().to(openapi::openapi_json)))
        .service(resource(DOCS, "GET").route(web::get().to(docs::page)))
        .service(resource(DOCS_ASSET, "GET").route(web::get().to(docs::asset)));
}

/// The whole application, composed exactly as the server composes it:
/// `App::new().wrap(RequestLog).configure(|c| configure(c, authd)).default_service(web::to(not_found))`.
///
/// For `HttpServer::new(move || http_actix::app(authd.clone()))` and for in-process tests
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
        .wrap(RequestLog)
        .configure(move |c| configure(c, authd))
        .default_service(web::to(not_found))
}
