//! The OpenAPI 3.1 document of the wire contract, served at `GET /openapi.json` (no auth).
//!
//! It is generated from the code, not written by hand:
//!
//! - the operations are those of the handlers `routes.rs` registers (`routes::RoutesDoc` lists
//!   them): every handler carries a `#[utoipa::path]` naming the route constant it is
//!   registered under, its operation id (`<verb>_<resource>`), its request body and every status it
//!   answers (the `ToResponse` types of `schemas.rs` are the shared ones: `401`, `413`, `422`,
//!   `429`, `500`);
//! - the response schemas are derived (`ToSchema`) from the DTOs that produce the bodies
//!   (`respond.rs`, the error bodies of `error.rs`; the values they write as plain strings in
//!   `dto_schemas.rs`), so a field added to a DTO shows up here;
//! - the request bodies' schemas come from the same declarations that parse them
//!   (`request.rs`), so a body's fields, nullability and limits cannot drift from its parser;
//! - [`Modify`]s add what is a rule of a family rather than of one handler: each operation's
//!   credential (`security`) with its `401`, the `422` of those that parse ids, a query or a
//!   body, and the `413`; `/api/v1/identities/` (the same
//!   handlers as `/api/v1/identities`, ids suffixed `_slash`); the `Cache-Control` / `Pragma`
//!   headers of every OneWelcome response; and the security schemes.
//!
//! `docs/openapi.json` is the committed copy; the `openapi_document_matches_the_snapshot` test
//! fails when the code drifts from it (regenerate with `AUTHD_BLESS=1 cargo test -p http-actix
//! openapi`). The other tests check that the router (`configure`) answers exactly the document's
//! (path, method) pairs and nothing else, that each path's `405` lists its methods in `Allow`,
//! and that every operation lists the statuses `docs/HTTP-API.md` documents for it.

use std::sync::LazyLock;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Schema, SchemaFormat};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::docs::ServedDocument;
use crate::routes::RoutesDoc;
use crate::schemas::{
    CreateAppRequest, DetailError, DeviceUnauthorized, InternalError, Invalid, Locked, OneWelcomeErrorBody,
    OneWelcomeTooLarge, OneWelcomeUnauthorized, ServiceUnauthorized, TooLarge, TooManyAttempts, UpdateAccountRequest,
    UpdateAppRequest, UpdateIdentityRequest, ValidationError, one_welcome_headers,
};

// ------------------------------------------------------------------------- the document

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd HTTP API",
        version = env!("CARGO_PKG_VERSION"),
        description = "A self-hostable authenticator-app server: the Inkbox authenticator and identities API, \
            the authd extensions (instances, device API), the OneWelcome end-user API and the operational paths.\n\n\
            Service tokens go in `X-Service-Token: <token>` or `Authorization: Bearer <token>`; device tokens \
            (`/api/v1/device/...` only) in `Authorization: Bearer authd_dev_...`. Bodies are JSON (parsed whatever \
            the `Content-Type`), at most 65,536 bytes; lists are bare arrays. A known path with another method is \
            `405` with a JSON body of its family; an unknown path is `404 {\"detail\": \"Not Found\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(
        // The optional bodies (an empty body counts as `{}`) are referenced by name.
        schemas(
            DetailError,
            ValidationError,
            OneWelcomeErrorBody,
            CreateAppRequest,
            UpdateAppRequest,
            UpdateAccountRequest,
            UpdateIdentityRequest,
            TooManyAttempts
        ),
        responses(
            ServiceUnauthorized,
            DeviceUnauthorized,
            OneWelcomeUnauthorized,
            TooLarge,
            OneWelcomeTooLarge,
            Invalid,
            Locked,
            InternalError
        ),
    ),
    tags(
        (name = "apps", description = "Inkbox authenticator apps: `/api/v1/authenticator/apps`"),
        (name = "accounts", description = "OTP accounts of an app (the secret is never returned)"),
        (name = "identities", description = "Inkbox identities: `/api/v1/identities` (with or without the trailing slash)"),
        (name = "instances", description = "authd extension: devices enrolled for an app's identity"),
        (name = "device", description = "authd extension: the device API, authenticated with a device token"),
        (name = "onewelcome", description = "OneWelcome end-user API: every response carries `Cache-Control: no-store` and `Pragma: no-cache`"),
        (name = "audit", description = "authd extension: the organization's audit trail"),
        (name = "tokens", description = "authd extension: service tokens minted, listed and revoked by a token, never broader than it"),
        (name = "operations", description = "Health, readiness, metrics and this document (no auth)"),
    ),
)]
struct ApiDoc;

/// The OpenAPI document of every path `configure` serves: the document's own parts, the
/// operations of the registered handlers (`routes::RoutesDoc`), then the [`Modify`]s, which see
/// every path.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(RoutesDoc::openapi());
    let modifiers: [&dyn Modify; 5] = [
        &SecuritySchemes,
        &FamilyResponses,
        &IdentitiesSlash,
        &OneWelcomeHeaders,
        &crate::routes::RequiredScopes,
    ];
    for m in modifiers {
        m.modify(&mut doc);
    }
    doc
}

/// The document as served and committed: pretty JSON with a final newline.
///
/// # Errors
/// When the document cannot be serialized (it always can: it is plain data).
pub fn document_json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|mut s| {
        s.push('\n');
        s
    })
}

/// The served bytes, rendered once.
static DOCUMENT: LazyLock<Option<String>> = LazyLock::new(|| match document_json() {
    Ok(s) => Some(s),
    Err(e) => {
        tracing::error!(error = %e, "OpenAPI document serialization failed");
        None
    }
});

/// The document `GET /openapi.json` serves (see [`crate::docs::openapi_json`]).
pub(crate) struct Served;

impl ServedDocument for Served {
    fn json() -> Option<&'static str> {
        DOCUMENT.as_deref()
    }
}

// ------------------------------------------------------------------------- modifiers

/// The three credentials: a service token in `X-Service-Token` or as a bearer token, and a
/// device token as a bearer token (device API only).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Service-Token",
                "A service token (`authd token create`); the org is the token's org.",
            ))),
        );
        components.add_security_scheme(
            "service_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A service token as `Authorization: Bearer <token>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("authd_dev_...")
                    .description(Some(
                        "The device token an enrollment returned, as `Authorization: Bearer authd_dev_...` \
                         (never in `X-Service-Token`); accepted on `/api/v1/device/...` only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// What every operation of a family answers and requires, added here once rather than restated
/// in each handler's annotation: the `413` of [`crate::BodyLimit`] on every path; the path's
/// credential with its `401` (a service token, in either header; a device token on
/// `/api/v1/device/...`; a service token answered in the OneWelcome envelope on `/oauth/...`;
/// none on the operational paths); and, outside the OneWelcome paths, the `422` of an
/// operation that parses a body, a query or a UUID in the path ([`checks_shape`]). An
/// annotation that lists one of these statuses or its own `security` keeps its own.
struct FamilyResponses;

/// The service token's two schemes (either one).
const SERVICE: &[&str] = &["service_token", "service_bearer"];
/// The device token's scheme.
const DEVICE: &[&str] = &["device_bearer"];

impl Modify for FamilyResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let one_welcome = crate::error::is_one_welcome(path);
            let credential = if one_welcome {
                Some(("OneWelcomeUnauthorized", SERVICE))
            } else if path.starts_with("/api/v1/device/") {
                Some(("DeviceUnauthorized", DEVICE))
            } else if path.starts_with("/api/v1/") {
                Some(("ServiceUnauthorized", SERVICE))
            } else {
                None
            };
            let too_large = if one_welcome { "OneWelcomeTooLarge" } else { "TooLarge" };
            for op in operations_mut(item) {
                if let Some((_, schemes)) = credential {
                    op.security.get_or_insert_with(|| {
                        schemes
                            .iter()
                            .map(|s| SecurityRequirement::new(*s, Vec::<String>::new()))
                            .collect()
                    });
                }
                let invalid = !one_welcome && checks_shape(op);
                let responses = &mut op.responses.responses;
                if let Some((name, _)) = credential {
                    responses
                        .entry("401".to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
                if invalid {
                    responses
                        .entry("422".to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Invalid")));
                }
                responses
                    .entry("413".to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(too_large)));
            }
        }
    }
}

/// Whether the operation parses something the request can get wrong, and so answers `422`
/// (the Inkbox family's [`crate::input::Input`], the device paths' ids, the audit query): a
/// request body, a query, or a UUID in the path (the identity paths' handle is a `404`).
fn checks_shape(op: &Operation) -> bool {
    let uuid = SchemaFormat::Custom("uuid".to_owned());
    op.request_body.is_some()
        || op.parameters.iter().flatten().any(|p| {
            matches!(p.parameter_in, ParameterIn::Query)
                || matches!(&p.schema, Some(RefOr::T(Schema::Object(o))) if o.format.as_ref() == Some(&uuid))
        })
}

/// The operations of a path item, with their methods.
fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Every operation of a path item with its method's name (`GET`, ...).
pub(crate) fn operations_with_methods(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|o| (m, o)))
}

/// `/api/v1/identities/` is served by the same handlers as `/api/v1/identities` (never a
/// redirect): the same operations, with `_slash` operation ids.
struct IdentitiesSlash;

impl Modify for IdentitiesSlash {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(mut item) = openapi.paths.paths.get(crate::paths::IDENTITIES).cloned() else {
            return;
        };
        for op in operations_mut(&mut item) {
            if let Some(id) = op.operation_id.as_mut() {
                id.push_str("_slash");
            }
            let note = "Same as without the trailing slash (both are served, never redirected).";
            op.description = Some(match op.description.take() {
                Some(d) => format!("{d}\n\n{note}"),
                None => note.to_owned(),
            });
        }
        openapi
            .paths
            .paths
            .insert(crate::paths::IDENTITIES_SLASH.to_owned(), item);
    }
}

/// Every response on the OneWelcome paths, errors included, carries `Cache-Control: no-store`
/// and `Pragma: no-cache` (the shared `401` component declares them itself).
struct OneWelcomeHeaders;

impl Modify for OneWelcomeHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/oauth/") {
                continue;
            }
            for op in operations_mut(item) {
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        one_welcome_headers(response);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
