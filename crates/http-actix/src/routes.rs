//! The routes: every resource of the wire contract with its methods and handlers
//! ([`resources`], which the crate's `configure` registers), and the operations of the OpenAPI
//! document ([`RoutesDoc`]: the same handlers' `#[utoipa::path]` annotations).
//!
//! - Order: actix tries resources in registration order and every pattern with a `{param}` costs
//!   a regular-expression match, so the hottest routes come first (code generation and
//!   verification); patterns never overlap, so the order changes nothing else.
//! - Each resource is named after its pattern (see [`crate::log::RequestLog`]) and answers any
//!   other method with its family's `405`, whose `Allow` header is the second argument of
//!   [`family::inkbox`] / [`family::one_welcome`]: the Inkbox family (the Inkbox API, the authd
//!   extensions, the operational paths: `405 {"detail": ...}`) or the OneWelcome one (its `405`,
//!   with its headers).
//! - A generic handler is registered with its type arguments (`apps::list::<S>`) and listed in
//!   [`RoutesDoc`] without them (`apps::list`).
//! - `/api/v1/identities/` is served by the same handlers as `/api/v1/identities` but is not in
//!   [`RoutesDoc`]: a `Modify` of `openapi.rs` documents it (their annotations name one path).
//!
//! Adding a route: its pattern in `crate::paths`, a `.route(...)` here (or a new resource, with
//! its `Allow`), the handler in [`RoutesDoc`]. Nothing derives one from the other; the tests of
//! `openapi.rs` check that they agree: every (path, method) of the document is answered and
//! every other method of that path is the `405`, whose `Allow` lists exactly the answered
//! methods; the router has no resource beyond the document's paths; and the annotations
//! document every path but `/api/v1/identities/`.

use actix_web::{Resource, web};
use domain::access::Scope;
use domain::ports::Store;

use crate::console;
use crate::docs::{self, ServedDocument};
use crate::handlers::{accounts, apps, audit, device, identities, instances, one_welcome, ops, tokens, verify};
use crate::paths;

/// What a caller needs to call one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// A service token that has this scope (or `admin`).
    Scope(Scope),
    /// Any valid service token (`GET /api/v1/tokens/self`: a token may always read itself).
    AnyToken,
    /// A device token (the device API).
    Device,
    /// Nothing (the operational paths and the documents).
    Public,
}

impl Need {
    /// The `x-required-scope` of the operation in the OpenAPI document.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Scope(s) => s.as_str(),
            Self::AnyToken => "none (any valid service token)",
            Self::Device => "none (a device token)",
            Self::Public => "none (no credential)",
        }
    }
}

use Need::{AnyToken, Device, Public};
use Scope::{
    AppsRead, AppsWrite, AuditRead, IdentitiesRead, IdentitiesWrite, InstancesRead, InstancesWrite, OtpGenerate,
    OtpVerify, TokensWrite,
};

/// Who may call what: every (pattern, method) the router answers and what it needs. The one
/// table of route → scope: the service-token extractor reads it (through each resource's
/// [`RouteNeeds`]), the OpenAPI document prints it (`x-required-scope`), and the tests hold
/// it to the router and the document (a route without an entry fails them).
pub(crate) const NEEDS: &[(&str, &str, Need)] = &[
    (paths::GENERATE_OTP, "POST", Need::Scope(OtpGenerate)),
    (paths::VERIFY_OTP, "POST", Need::Scope(OtpVerify)),
    (paths::APPS, "GET", Need::Scope(AppsRead)),
    (paths::APPS, "POST", Need::Scope(AppsWrite)),
    (paths::APP, "GET", Need::Scope(AppsRead)),
    (paths::APP, "PATCH", Need::Scope(AppsWrite)),
    (paths::APP, "DELETE", Need::Scope(AppsWrite)),
    (paths::ACCOUNTS, "GET", Need::Scope(AppsRead)),
    (paths::ACCOUNTS, "POST", Need::Scope(AppsWrite)),
    (paths::ACCOUNT, "GET", Need::Scope(AppsRead)),
    (paths::ACCOUNT, "PATCH", Need::Scope(AppsWrite)),
    (paths::ACCOUNT, "DELETE", Need::Scope(AppsWrite)),
    (paths::INSTANCES, "GET", Need::Scope(InstancesRead)),
    (paths::INSTANCES, "POST", Need::Scope(InstancesWrite)),
    (paths::INSTANCE, "GET", Need::Scope(InstancesRead)),
    (paths::INSTANCE, "DELETE", Need::Scope(InstancesWrite)),
    (paths::IDENTITIES, "GET", Need::Scope(IdentitiesRead)),
    (paths::IDENTITIES, "POST", Need::Scope(IdentitiesWrite)),
    (paths::IDENTITIES_SLASH, "GET", Need::Scope(IdentitiesRead)),
    (paths::IDENTITIES_SLASH, "POST", Need::Scope(IdentitiesWrite)),
    (paths::IDENTITY, "GET", Need::Scope(IdentitiesRead)),
    (paths::IDENTITY, "PATCH", Need::Scope(IdentitiesWrite)),
    (paths::IDENTITY, "DELETE", Need::Scope(IdentitiesWrite)),
    (paths::IDENTITY_APP, "POST", Need::Scope(IdentitiesWrite)),
    (paths::IDENTITY_APP, "DELETE", Need::Scope(IdentitiesWrite)),
    (paths::DEVICE_ACCOUNTS, "GET", Device),
    (paths::DEVICE_GENERATE_OTP, "POST", Device),
    (paths::DEVICE_VERIFY_OTP, "POST", Device),
    (paths::USER_APPS, "GET", Need::Scope(InstancesRead)),
    (paths::USER_APP, "DELETE", Need::Scope(InstancesWrite)),
    (paths::AUDIT_EVENTS, "GET", Need::Scope(AuditRead)),
    (paths::TOKENS, "GET", Need::Scope(TokensWrite)),
    (paths::TOKENS, "POST", Need::Scope(TokensWrite)),
    (paths::TOKEN_SELF, "GET", AnyToken),
    (paths::TOKEN, "DELETE", Need::Scope(TokensWrite)),
    (paths::HEALTHZ, "GET", Public),
    (paths::READYZ, "GET", Public),
    (paths::METRICS, "GET", Public),
    (paths::OPENAPI, "GET", Public),
    (paths::DOCS, "GET", Public),
    (paths::DOCS_ASSET, "GET", Public),
    (paths::ACCOUNT_LOCKOUT, "GET", Need::Scope(AppsRead)),
    (paths::CONSOLE, "GET", Public),
    (paths::CONSOLE_ASSET, "GET", Public),
];

/// The needs of one resource's methods (its rows of [`NEEDS`]), as the resource's data: the
/// service-token extractor finds its route's need without searching the whole table.
pub(crate) struct RouteNeeds(Vec<(&'static str, Need)>);

impl RouteNeeds {
    pub(crate) fn of(path: &str) -> Self {
        Self(
            NEEDS
                .iter()
                .filter(|(p, _, _)| *p == path)
                .map(|(_, m, n)| (*m, *n))
                .collect(),
        )
    }

    /// What `method` needs on this resource (`None`: no row, a bug the tests catch).
    pub(crate) fn get(&self, method: &str) -> Option<Need> {
        self.0.iter().find(|(m, _)| *m == method).map(|(_, n)| *n)
    }
}

/// Prints [`NEEDS`] into the document: `x-required-scope` on every operation, and on every
/// operation that needs a scope its `403` (in the path's family envelope).
pub(crate) struct RequiredScopes;

impl utoipa::Modify for RequiredScopes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in &mut openapi.paths.paths {
            let one_welcome = crate::error::is_one_welcome(path);
            for (method, op) in crate::openapi::operations_with_methods(item) {
                let Some((_, _, need)) = NEEDS.iter().find(|(p, m, _)| p == path && *m == method) else {
                    continue;
                };
                let extensions = op.extensions.get_or_insert_with(Default::default);
                extensions.insert("x-required-scope".to_owned(), serde_json::Value::from(need.as_str()));
                let Need::Scope(scope) = need else {
                    continue;
                };
                let lacks = format!("The token lacks the scope `{scope}` (`this token lacks the scope {scope}`)");
                match op.responses.responses.get_mut("403") {
                    Some(RefOr::T(r)) => r.description = format!("{}; or: {lacks}", r.description),
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let body = if one_welcome { "OneWelcomeError" } else { "DetailError" };
                        let mut response = ResponseBuilder::new()
                            .description(lacks)
                            .content(
                                "application/json",
                                ContentBuilder::new().schema(Some(Ref::from_schema_name(body))).build(),
                            )
                            .build();
                        if one_welcome {
                            crate::schemas::one_welcome_headers(&mut response);
                        }
                        op.responses.responses.insert("403".to_owned(), RefOr::T(response));
                    }
                }
            }
        }
    }
}

/// The resource of each family: named after its pattern, with the family's `405`.
mod family {
    use actix_web::{Resource, web};

    use crate::handlers;

    /// The Inkbox family (and the extensions, the operational paths); `allow` is the `Allow`
    /// header of its `405`: every method the resource has, e.g. `"GET, POST"`.
    pub(super) fn inkbox(path: &'static str, allow: &'static str) -> Resource {
        web::resource(path)
            .name(path)
            .app_data(super::RouteNeeds::of(path))
            .default_service(web::to(move || async move { handlers::method_not_allowed(allow) }))
    }

    /// The OneWelcome family; `allow` as for [`inkbox`].
    pub(super) fn one_welcome(path: &'static str, allow: &'static str) -> Resource {
        web::resource(path)
            .name(path)
            .app_data(super::RouteNeeds::of(path))
            .default_service(web::to(move || async move {
                handlers::one_welcome_method_not_allowed(allow)
            }))
    }
}

/// Registers every resource of [`resources`], in its order, and nothing else (the tests count
/// [`resources`] to find the router's resources).
pub(crate) fn register<S: Store, D: ServedDocument>(cfg: &mut web::ServiceConfig) {
    for resource in resources::<S, D>() {
        cfg.service(resource);
    }
}

/// Every resource, hottest first; `/openapi.json` serves `D`.
pub(crate) fn resources<S: Store, D: ServedDocument>() -> Vec<Resource> {
    vec![
        // Inkbox authenticator
        family::inkbox(paths::GENERATE_OTP, "POST").route(web::post().to(accounts::generate_otp::<S>)),
        family::inkbox(paths::VERIFY_OTP, "POST").route(web::post().to(verify::verify_otp::<S>)),
        family::inkbox(paths::APPS, "GET, POST")
            .route(web::get().to(apps::list::<S>))
            .route(web::post().to(apps::create::<S>)),
        family::inkbox(paths::APP, "GET, PATCH, DELETE")
            .route(web::get().to(apps::get::<S>))
            // authd extension: the app's metadata
            .route(web::patch().to(apps::update::<S>))
            .route(web::delete().to(apps::delete::<S>)),
        family::inkbox(paths::ACCOUNTS, "GET, POST")
            .route(web::get().to(accounts::list::<S>))
            .route(web::post().to(accounts::create::<S>)),
        family::inkbox(paths::ACCOUNT, "GET, PATCH, DELETE")
            .route(web::get().to(accounts::get::<S>))
            .route(web::patch().to(accounts::update::<S>))
            .route(web::delete().to(accounts::delete::<S>)),
        // authd extension: instances
        family::inkbox(paths::INSTANCES, "GET, POST")
            .route(web::get().to(instances::list::<S>))
            .route(web::post().to(instances::enroll::<S>)),
        family::inkbox(paths::INSTANCE, "GET, DELETE")
            .route(web::get().to(instances::get::<S>))
            .route(web::delete().to(instances::revoke::<S>)),
        // Inkbox identities: with and without the trailing slash, never redirected
        family::inkbox(paths::IDENTITIES, "GET, POST")
            .route(web::get().to(identities::list::<S>))
            .route(web::post().to(identities::create::<S>)),
        family::inkbox(paths::IDENTITIES_SLASH, "GET, POST")
            .route(web::get().to(identities::list::<S>))
            .route(web::post().to(identities::create::<S>)),
        family::inkbox(paths::IDENTITY, "GET, PATCH, DELETE")
            .route(web::get().to(identities::get::<S>))
            .route(web::patch().to(identities::update::<S>))
            .route(web::delete().to(identities::delete::<S>)),
        family::inkbox(paths::IDENTITY_APP, "POST, DELETE")
            .route(web::post().to(identities::assign_app::<S>))
            .route(web::delete().to(identities::unlink_app::<S>)),
        // authd extension: device API
        family::inkbox(paths::DEVICE_ACCOUNTS, "GET").route(web::get().to(device::accounts::<S>)),
        family::inkbox(paths::DEVICE_GENERATE_OTP, "POST").route(web::post().to(device::generate_otp::<S>)),
        family::inkbox(paths::DEVICE_VERIFY_OTP, "POST").route(web::post().to(verify::verify_device_otp::<S>)),
        // OneWelcome end-user API
        family::one_welcome(paths::USER_APPS, "GET").route(web::get().to(one_welcome::list::<S>)),
        family::one_welcome(paths::USER_APP, "DELETE").route(web::delete().to(one_welcome::revoke::<S>)),
        // authd extension: audit trail
        family::inkbox(paths::AUDIT_EVENTS, "GET").route(web::get().to(audit::list::<S>)),
        // authd extension: service tokens (`self` before `{token_id}`, which would match it)
        family::inkbox(paths::TOKENS, "GET, POST")
            .route(web::get().to(tokens::list::<S>))
            .route(web::post().to(tokens::create::<S>)),
        family::inkbox(paths::TOKEN_SELF, "GET").route(web::get().to(tokens::get_self::<S>)),
        family::inkbox(paths::TOKEN, "DELETE").route(web::delete().to(tokens::revoke::<S>)),
        // operations
        family::inkbox(paths::HEALTHZ, "GET").route(web::get().to(ops::healthz)),
        family::inkbox(paths::READYZ, "GET").route(web::get().to(ops::readyz::<S>)),
        family::inkbox(paths::METRICS, "GET").route(web::get().to(ops::metrics)),
        // the OpenAPI document and its viewer
        family::inkbox(paths::OPENAPI, "GET").route(web::get().to(docs::openapi_json::<D>)),
        family::inkbox(paths::DOCS, "GET").route(web::get().to(docs::page)),
        family::inkbox(paths::DOCS_ASSET, "GET").route(web::get().to(docs::asset)),
        // authd extension: an account's lockout (read by the console; not a hot path)
        family::inkbox(paths::ACCOUNT_LOCKOUT, "GET").route(web::get().to(verify::lockout::<S>)),
        // the operator console: static files, a client of the routes above
        family::inkbox(paths::CONSOLE, "GET").route(web::get().to(console::page)),
        family::inkbox(paths::CONSOLE_ASSET, "GET").route(web::get().to(console::asset)),
    ]
}

/// The operations of every resource but `/api/v1/identities/` (see the module docs), in the
/// order of [`resources`]; `openapi::document` merges them into the document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    accounts::generate_otp,
    verify::verify_otp,
    apps::list,
    apps::create,
    apps::get,
    apps::update,
    apps::delete,
    accounts::list,
    accounts::create,
    accounts::get,
    accounts::update,
    accounts::delete,
    instances::list,
    instances::enroll,
    instances::get,
    instances::revoke,
    identities::list,
    identities::create,
    identities::get,
    identities::update,
    identities::delete,
    identities::assign_app,
    identities::unlink_app,
    device::accounts,
    device::generate_otp,
    verify::verify_device_otp,
    one_welcome::list,
    one_welcome::revoke,
    audit::list,
    tokens::list,
    tokens::create,
    tokens::get_self,
    tokens::revoke,
    ops::healthz,
    ops::readyz,
    ops::metrics,
    docs::openapi_json,
    docs::page,
    docs::asset,
    verify::lockout,
    console::page,
    console::asset,
))]
pub(crate) struct RoutesDoc;
