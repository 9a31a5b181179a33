//! The OpenAPI 3.1 document of the wire contract, served at `GET /openapi.json` (no auth).
//!
//! It is generated from the code, not written by hand:
//!
//! - the operations are those of the route table ([`crate::routes`], the same table `configure`
//!   registers): every handler carries a `#[utoipa::path]` naming the route constant it is
//!   registered under, its operation id (`<verb>_<resource>`), its request body and every status it
//!   answers (the `ToResponse` types below are the shared ones: `401`, `413`, `422`, `429`, `500`);
//! - the response schemas are derived (`ToSchema`) from the DTOs that produce the bodies
//!   (`respond.rs`, the error bodies of `error.rs`), so a field added to a DTO shows up here;
//! - the request bodies' schemas come from the same declarations that parse them
//!   (`request.rs`), so a body's fields, nullability and limits cannot drift from its parser;
//! - two [`Modify`]s add what is a rule of a family rather than of one handler:
//!   `/api/v1/identities/` (the same handlers as `/api/v1/identities`, ids suffixed `_slash`)
//!   and the `Cache-Control` / `Pragma` headers of every OneWelcome response; a third adds the
//!   security schemes.
//!
//! `docs/openapi.json` is the committed copy; the `openapi_document_matches_the_snapshot` test
//! fails when the code drifts from it (regenerate with `AUTHD_BLESS=1 cargo test -p http-actix
//! openapi`). The other tests check that the document and the route table (hence `configure`)
//! have the same (path, method) pairs, that the router answers exactly the table's methods,
//! and that every operation lists the statuses `docs/HTTP-API.md` documents for it.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

pub(crate) use schemas::*;

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
        (name = "operations", description = "Health, readiness, metrics and this document (no auth)"),
    ),
)]
struct ApiDoc;

/// The OpenAPI document of every path `configure` serves: the document's own parts, the
/// operations of the route table ([`crate::routes::RoutesDoc`]), then the [`Modify`]s, which see
/// every path.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::routes::RoutesDoc::openapi());
    let modifiers: [&dyn Modify; 3] = [&SecuritySchemes, &IdentitiesSlash, &OneWelcomeHeaders];
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

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = crate::paths::OPENAPI,
    tag = "operations",
    operation_id = "get_openapi",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 document of every path of the API, generated from the code.",
    responses(
        (status = 200, description = "The document", content_type = "application/json", body = Object),
        (status = 413, response = TooLarge),
    ),
)]
pub(crate) async fn openapi_json() -> HttpResponse {
    match DOCUMENT.as_deref() {
        Some(doc) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(doc),
        None => crate::ApiError::Internal.error_response(),
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

fn one_welcome_headers(response: &mut Response) {
    for (name, value) in [("Cache-Control", "no-store"), ("Pragma", "no-cache")] {
        response.headers.insert(
            name.to_owned(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([value])),
                )
                .description(Some(format!("Always `{value}`.")))
                .build(),
        );
    }
}

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

/// The schema of a field that is always `null`.
pub(crate) fn null_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// The schema of a field that is always `true`.
pub(crate) fn true_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// The schema of a field that is always `false`.
pub(crate) fn false_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([false]))
        .build()
}

// ------------------------------------------------------------------------- shared responses

fn json_response(description: &str, schema: &str, example: serde_json::Value) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .example(Some(example))
                .build(),
        )
        .build()
}

/// Declares a unit struct whose `ToResponse` is a JSON response component.
macro_rules! shared_response {
    ($(#[$doc:meta])* $name:ident => $description:expr, $schema:expr, $example:expr $(, $then:expr)?) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let response = json_response($description, $schema, $example);
                $(let mut response = response; $then(&mut response);)?
                (stringify!($name), RefOr::T(response))
            }
        }
    };
}

shared_response!(
    /// `401` on a service-token path.
    ServiceUnauthorized => "Missing, unknown or revoked service token",
    "DetailError", json!({"detail": "Invalid service token"})
);
shared_response!(
    /// `401` on the device API.
    DeviceUnauthorized => "Missing, unknown or revoked device token (a service token is refused here)",
    "DetailError", json!({"detail": "Invalid device token"})
);
shared_response!(
    /// `401` on a OneWelcome path (with the OneWelcome headers).
    OneWelcomeUnauthorized => "Missing, unknown or revoked service token",
    "OneWelcomeError", json!({"error": "Unauthorized"}), one_welcome_headers
);
shared_response!(
    /// `413`, on any path.
    TooLarge => "The request body is larger than 65,536 bytes (any path, any method)",
    "DetailError", json!({"detail": "Request body too large"})
);
shared_response!(
    /// `413` on a OneWelcome path (with the OneWelcome headers).
    OneWelcomeTooLarge => "The request body is larger than 65,536 bytes (any path, any method)",
    "OneWelcomeError", json!({"error": "Request body too large"}), one_welcome_headers
);
shared_response!(
    /// `422`: the request's shape.
    Invalid => "The request's shape is wrong: a path id that is not a UUID, a body that is not a JSON object, \
        a missing field, a wrong type, a length limit, U+0000 in a string",
    "ValidationError",
    json!({"detail": [{"loc": ["path", "app_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]})
);
/// `429` on verify: the account is locked after failed attempts, with `Retry-After`.
pub(crate) struct Locked;

impl<'r> ToResponse<'r> for Locked {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = json_response(
            "Locked after failed attempts (2^(n-1) seconds after the n-th in a row, at most 15 minutes); \
             not counted as an attempt",
            "TooManyAttempts",
            json!({"detail": "Too many failed attempts", "retry_after_seconds": 4}),
        );
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                .description(Some("Whole seconds until the lock ends (rounded up, at least 1)."))
                .build(),
        );
        ("Locked", RefOr::T(response))
    }
}

shared_response!(
    /// `500` (the cause is logged, never sent).
    InternalError => "Unexpected failure (e.g. a stored secret cannot be decrypted); the cause is logged, never sent",
    "DetailError", json!({"detail": "Internal server error"})
);

// ------------------------------------------------------------------------- schemas

/// Names for the schema types the handlers' annotations use, and the documentation-only types
/// for what is parsed by hand (request bodies, path parameters) or written as plain strings
/// (enumerations).
#[expect(dead_code, reason = "documentation-only types: they are described, never built")]
pub(crate) mod schemas {
    use utoipa::{IntoParams, ToSchema};

    /// `{"detail": "<message>"}`.
    pub(crate) type DetailError = crate::error::DetailBody<'static>;
    /// `422 {"detail": [{"loc", "msg", "type"}]}`.
    pub(crate) type ValidationError = crate::error::ValidationBody<'static>;
    /// `{"error": "<message>"}` (OneWelcome).
    pub(crate) type OneWelcomeErrorBody = crate::error::ErrorBody<'static>;

    pub(crate) type App = crate::respond::AppDto<'static>;
    pub(crate) type Account = crate::respond::AccountDto<'static>;
    pub(crate) type Otp = crate::respond::OtpDto<'static>;
    pub(crate) type AuditPage = crate::respond::AuditPageDto<'static>;
    /// `429` on verify.
    pub(crate) type TooManyAttempts = crate::error::TooManyAttemptsBody<'static>;
    pub(crate) type IdentitySummary = crate::respond::IdentityDto<'static>;
    pub(crate) type IdentityDetail = crate::respond::IdentityDetailDto<'static>;
    pub(crate) type Instance = crate::respond::InstanceDto<'static>;
    pub(crate) type Enrollment = crate::respond::EnrollmentDto<'static>;
    pub(crate) type UserInstance = crate::respond::UserInstanceDto<'static>;

    /// The OneWelcome list envelope (`respond::UserInstancesDto` over a sequence).
    #[derive(ToSchema)]
    pub(crate) struct UserInstances {
        /// Every live instance enrolled for the user, oldest first.
        authentication_app_instances: Vec<UserInstance>,
    }

    /// `GET /healthz` and `GET /readyz`.
    #[derive(ToSchema)]
    pub(crate) struct HealthStatus {
        /// `ok` (`/healthz`); `ready` or `unavailable` (`/readyz`).
        #[schema(examples("ok"))]
        status: String,
    }

    /// The `200` of a verification: valid, or refused (and counted).
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub(crate) enum Verification {
        Valid(crate::respond::VerificationValidDto),
        Failed(crate::respond::VerificationFailedDto),
    }

    /// Why a code was refused.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub(crate) enum FailureReason {
        Invalid,
        Replayed,
    }

    /// The state of a record. A read only ever returns live records: `active`.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub(crate) enum RecordStatus {
        Active,
        Deleted,
    }

    /// A string enum whose values are the domain's own list, so the document cannot name a value
    /// the parser refuses or miss one it accepts.
    macro_rules! wire_enum {
        ($(#[doc = $doc:literal])* $name:ident = $values:expr) => {
            $(#[doc = $doc])*
            pub(crate) struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    let doc = [$($doc),*].map(|l: &str| l.strip_prefix(' ').unwrap_or(l)).join("\n");
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .description(Some(doc))
                        .enum_values(Some($values))
                        .into()
                }
            }

            impl utoipa::ToSchema for $name {
                fn name() -> std::borrow::Cow<'static, str> {
                    std::borrow::Cow::Borrowed(stringify!($name))
                }
            }
        };
    }

    wire_enum! {
        /// The state of an identity: a paused identity's codes cannot be generated (`403`).
        IdentityStatus = domain::values::IdentityStatus::NAMES
    }

    wire_enum! {
        /// The kind of an OTP account.
        OtpType = domain::otp::OtpType::ALL.map(|t| t.as_str())
    }

    wire_enum! {
        /// The HMAC of an OTP account (always written lower-case).
        Algorithm = domain::otp::Algorithm::ALL.map(|a| a.as_str())
    }

    wire_enum! {
        /// A device platform (upper-case on output; case-insensitive on input).
        Platform = domain::values::Platform::NAMES
    }

    // ------------------------------------------------------------------- request bodies

    // Declared once, with their parsers, in `request.rs`.
    pub(crate) use crate::request::{
        AssignAppRequest, CreateAccountRequest, CreateAppRequest, CreateIdentityRequest, EnrollInstanceRequest,
        UpdateAccountRequest, UpdateIdentityRequest, VerifyRequest,
    };

    // ------------------------------------------------------------------- path parameters

    /// `{app_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct AppPath {
        /// The app's id: a UUID (any form the `uuid` crate parses; anything else is `422`).
        #[param(format = "uuid")]
        app_id: String,
    }

    /// `{app_id}/accounts/{account_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct AccountPath {
        /// The app's id: a UUID (anything else is `422`).
        #[param(format = "uuid")]
        app_id: String,
        /// The account's id: a UUID of an account of that app (anything else is `422`).
        #[param(format = "uuid")]
        account_id: String,
    }

    /// `{app_id}/instances/{instance_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct InstancePath {
        /// The app's id: a UUID (anything else is `422`).
        #[param(format = "uuid")]
        app_id: String,
        /// The instance's id: a UUID of an instance of that app (anything else is `422`).
        #[param(format = "uuid")]
        instance_id: String,
    }

    /// `{agent_handle}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct IdentityPath {
        /// The identity's handle; one leading `@` is stripped (unencoded `@` accepted). A value
        /// that is not a valid handle is `404`.
        #[param(example = "bot")]
        agent_handle: String,
    }

    /// The device API's `{account_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct DeviceAccountPath {
        /// An account of the device's app: a UUID (anything else is `422`).
        #[param(format = "uuid")]
        account_id: String,
    }

    /// OneWelcome `{user_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct UserPath {
        /// The user: the identity's `agent_handle` (one leading `@` is stripped).
        #[param(example = "bot")]
        user_id: String,
    }

    /// OneWelcome `{user_id}/.../{instance_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct UserAppPath {
        /// The user: the identity's `agent_handle` (one leading `@` is stripped).
        #[param(example = "bot")]
        user_id: String,
        /// The instance's id (a value that is not a UUID is simply not found: `404`).
        instance_id: String,
    }

    /// `/docs/{asset}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct AssetPath {
        /// A file of the viewer.
        #[param(example = "swagger-ui-bundle.js")]
        asset: String,
    }
}

#[cfg(test)]
mod tests;
