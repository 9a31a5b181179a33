//! Building responses: JSON bodies with the right headers, and the response objects of the wire
//! contract as small `Serialize` structs that borrow from the domain entities (ids and
//! timestamps are written straight into the output buffer through their `Display`).

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use domain::entities::{Account, App, Identity, Instance};
use domain::service::{OtpCode, Verification};
use domain::time::Timestamp;
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema as _, ToSchema};

use crate::dto_schemas::RecordStatus;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// Serializes any `Display` value as a JSON string, without an intermediate `String`.
pub(crate) struct Disp<T>(pub T);

impl<T: fmt::Display> Serialize for Disp<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Serializes a slice as a JSON array of the DTOs `F` makes, without collecting them first.
pub(crate) struct Seq<'a, T, F>(pub &'a [T], pub F);

impl<'a, T, D: Serialize, F: Fn(&'a T) -> D> Serialize for Seq<'a, T, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(&self.1))
    }
}

/// Metadata as a JSON object of strings (`{}` when empty), in key order.
pub(crate) struct MetadataObject<'a>(pub &'a domain::values::Metadata);

impl Serialize for MetadataObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

/// The schema of [`MetadataObject`], with the domain's limits.
fn metadata_schema() -> utoipa::openapi::schema::Object {
    use domain::values::Metadata;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "authd extension: the caller's own string keys and values (`{}` when none): at most 50 keys \
             of 1-40 characters, values of at most 500.",
        ))
        .max_properties(Some(Metadata::MAX_KEYS))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(Metadata::MAX_KEY_CHARS)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(Metadata::MAX_VALUE_CHARS)),
        ))
        .build()
}

/// JSON `null`.
pub(crate) struct Null;

impl Serialize for Null {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

fn finish(mut b: HttpResponseBuilder, body: &impl Serialize, fallback: &'static str) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => b.body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            b.status(StatusCode::INTERNAL_SERVER_ERROR).body(fallback)
        }
    }
}

/// Adds the headers every OneWelcome response carries.
pub(crate) fn one_welcome_headers(b: &mut HttpResponseBuilder) {
    b.insert_header((header::CONTENT_TYPE, JSON_UTF8))
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .insert_header((header::PRAGMA, NO_CACHE));
}

/// A JSON body (`application/json`) on a prepared builder.
pub(crate) fn json_with(mut b: HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
    b.insert_header((header::CONTENT_TYPE, JSON));
    finish(b, body, r#"{"detail":"Internal server error"}"#)
}

/// A JSON body with the OneWelcome headers on a prepared builder.
pub(crate) fn one_welcome_json(mut b: HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
    one_welcome_headers(&mut b);
    finish(b, body, r#"{"error":"Internal server error"}"#)
}

/// A JSON response with this status.
pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    json_with(HttpResponse::build(status), body)
}

/// `204` with an empty body.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

// ------------------------------------------------------------------------------------ DTOs

/// An object's own fields `T`, then what every app and account object ends with: its
/// `metadata`, its `status` (a read only ever returns live records: `active`) and its
/// timestamps. Written once here, for the body (`T`'s fields first, as `serde(flatten)` puts
/// them) and for the schema (`T`'s schema, name and description, with these four properties
/// and `required` entries after its own).
#[derive(Serialize)]
pub(crate) struct Record<'a, T> {
    #[serde(flatten)]
    own: T,
    metadata: MetadataObject<'a>,
    status: &'static str,
    created_at: Disp<&'a Timestamp>,
    updated_at: Disp<&'a Timestamp>,
}

impl<'a, T> Record<'a, T> {
    /// `own`, then the record's tail.
    fn with(
        own: T,
        metadata: &'a domain::values::Metadata,
        created_at: &'a Timestamp,
        updated_at: &'a Timestamp,
    ) -> Self {
        Self {
            own,
            metadata: MetadataObject(metadata),
            status: "active",
            created_at: Disp(created_at),
            updated_at: Disp(updated_at),
        }
    }
}

impl<T: ToSchema> utoipa::PartialSchema for Record<'_, T> {
    fn schema() -> RefOr<Schema> {
        let date_time = || {
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .build(),
            ))
        };
        let mut schema = T::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            for (name, property) in [
                ("metadata", RefOr::T(Schema::Object(metadata_schema()))),
                ("status", RefOr::Ref(Ref::from_schema_name(RecordStatus::name()))),
                ("created_at", date_time()),
                ("updated_at", date_time()),
            ] {
                object.properties.insert(name.to_owned(), property);
                object.required.push(name.to_owned());
            }
        }
        schema
    }
}

impl<T: ToSchema> ToSchema for Record<'_, T> {
    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
        schemas.push((RecordStatus::name().into_owned(), RecordStatus::schema()));
    }
}

/// The App object: [`AppFields`], then the [`Record`] tail.
pub(crate) type AppDto<'a> = Record<'a, AppFields<'a>>;

/// The App object.
#[derive(Serialize, ToSchema)]
#[schema(as = App)]
pub(crate) struct AppFields<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::AppId>,
    organization_id: &'a str,
    /// The linked identity; `null` when unlinked.
    #[schema(value_type = Option<String>, format = "uuid", required = true)]
    identity_id: Option<Disp<&'a domain::ids::IdentityId>>,
}

impl<'a> AppDto<'a> {
    pub(crate) fn new(a: &'a App) -> Self {
        let own = AppFields {
            id: Disp(a.id()),
            organization_id: a.org().as_str(),
            identity_id: a.identity_id().as_ref().map(Disp),
        };
        Record::with(own, a.metadata(), a.created_at(), a.updated_at())
    }
}

/// The Account object: [`AccountFields`], then the [`Record`] tail.
pub(crate) type AccountDto<'a> = Record<'a, AccountFields<'a>>;

/// The Account object (never the secret).
#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountFields<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::AccountId>,
    #[schema(value_type = String, format = "uuid")]
    authenticator_app_id: Disp<&'a domain::ids::AppId>,
    #[schema(value_type = crate::dto_schemas::OtpType)]
    otp_type: &'static str,
    #[schema(required = true)]
    issuer: Option<&'a str>,
    account_name: &'a str,
    #[schema(required = true)]
    display_name: Option<&'a str>,
    #[schema(required = true)]
    description: Option<&'a str>,
    #[schema(value_type = crate::dto_schemas::Algorithm)]
    algorithm: &'static str,
    /// 6 or 8.
    digits: u8,
    /// Seconds per code (TOTP); `null` for HOTP.
    #[schema(required = true)]
    period: Option<u32>,
    /// The next counter to be used (HOTP); `null` for TOTP.
    #[schema(required = true)]
    counter: Option<u64>,
    /// authd extension: how far `verify` looks around the expected code (TOTP: time steps on
    /// either side of the current one; HOTP: counters past `counter`), 0..=10. The account's
    /// own value, else the default (TOTP 1, HOTP 10).
    #[schema(minimum = 0, maximum = 10)]
    verify_window: u8,
}

impl<'a> AccountDto<'a> {
    pub(crate) fn new(a: &'a Account) -> Self {
        let own = AccountFields {
            id: Disp(a.id()),
            authenticator_app_id: Disp(a.app_id()),
            otp_type: a.otp_type().as_str(),
            issuer: a.issuer().as_deref(),
            account_name: a.account_name(),
            display_name: a.display_name().as_ref().map(|d| d.as_str()),
            description: a.description().as_ref().map(|d| d.as_str()),
            algorithm: a.algorithm().as_str(),
            digits: a.digits().get(),
            period: a.kind().period().map(|p| p.get()),
            counter: a.kind().counter(),
            verify_window: a.effective_verify_window().get(),
        };
        Record::with(own, a.metadata(), a.created_at(), a.updated_at())
    }
}

/// The OTP object.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Otp)]
pub(crate) struct OtpDto<'a> {
    #[schema(examples("004512"))]
    otp_code: &'a str,
    /// Seconds left in the code's period (TOTP); `null` for HOTP.
    #[schema(required = true)]
    valid_for_seconds: Option<u32>,
    #[schema(value_type = crate::dto_schemas::OtpType)]
    otp_type: &'static str,
    #[schema(value_type = crate::dto_schemas::Algorithm)]
    algorithm: &'static str,
    digits: u8,
    #[schema(required = true)]
    period: Option<u32>,
}

impl<'a> OtpDto<'a> {
    pub(crate) fn new(c: &'a OtpCode) -> Self {
        Self {
            otp_code: &c.code,
            valid_for_seconds: c.valid_for_seconds,
            otp_type: c.otp_type.as_str(),
            algorithm: c.algorithm.as_str(),
            digits: c.digits.get(),
            period: c.period.map(|p| p.get()),
        }
    }
}

/// A successful verification.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = VerificationValid)]
pub(crate) struct VerificationValidDto {
    /// Always `true`.
    #[schema(schema_with = crate::dto_schemas::true_schema)]
    valid: bool,
    /// TOTP: the matching time step's offset from the current one (`-window..=window`, e.g.
    /// `-1` for the previous step); HOTP: the matching counter's offset from the stored counter
    /// (`0..=window`; the stored counter is now past it).
    #[schema(minimum = -10, maximum = 10)]
    matched_offset: i64,
}

/// A refused code: counted as a failed attempt (the account is now locked for a while).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = VerificationFailed)]
pub(crate) struct VerificationFailedDto {
    /// Always `false`.
    #[schema(schema_with = crate::dto_schemas::false_schema)]
    valid: bool,
    /// `invalid`: no step or counter of the window has this code; `replayed`: a TOTP step at or
    /// before the last accepted one, or an HOTP counter already used.
    #[schema(value_type = crate::dto_schemas::FailureReason)]
    reason: &'static str,
    /// `max(0, 100 - consecutive failures)`.
    #[schema(minimum = 0, maximum = 100)]
    remaining_attempts: u32,
}

/// The body of a verification's `200`.
pub(crate) enum VerificationDto {
    Valid(VerificationValidDto),
    Failed(VerificationFailedDto),
}

impl VerificationDto {
    pub(crate) fn new(v: &Verification) -> Self {
        match *v {
            Verification::Valid { matched_offset } => Self::Valid(VerificationValidDto {
                valid: true,
                matched_offset,
            }),
            Verification::Invalid {
                reason,
                remaining_attempts,
            } => Self::Failed(VerificationFailedDto {
                valid: false,
                reason: reason.as_str(),
                remaining_attempts,
            }),
        }
    }
}

impl Serialize for VerificationDto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Valid(v) => v.serialize(s),
            Self::Failed(f) => f.serialize(s),
        }
    }
}

/// An account's throttling state (`GET .../lockout`, authd extension).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Lockout)]
pub(crate) struct LockoutDto {
    /// Consecutive refused codes since the last success (`0` after one).
    #[schema(minimum = 0)]
    failed_attempts: u32,
    /// `max(0, 100 - failed_attempts)`.
    #[schema(minimum = 0, maximum = 100)]
    remaining_attempts: u32,
    /// Verifications are refused until then; `null` when the account is not locked now.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    locked_until: Option<String>,
    /// Whole seconds left of the lock (a verification's `Retry-After` now); `null` when not
    /// locked.
    #[schema(required = true, minimum = 1)]
    retry_after_seconds: Option<u64>,
}

impl LockoutDto {
    pub(crate) fn new(l: &domain::service::Lockout) -> Self {
        Self {
            failed_attempts: l.failed_attempts,
            remaining_attempts: l.remaining_attempts,
            locked_until: l.locked_until.map(|t| t.to_string()),
            retry_after_seconds: l.retry_after_seconds,
        }
    }
}

/// The identity summary object.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IdentitySummary)]
pub(crate) struct IdentityDto<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::IdentityId>,
    organization_id: &'a str,
    /// The handle, without `@`.
    agent_handle: &'a str,
    #[schema(value_type = crate::dto_schemas::IdentityStatus)]
    status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    created_at: Disp<&'a domain::time::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Disp<&'a domain::time::Timestamp>,
}

impl<'a> IdentityDto<'a> {
    pub(crate) fn new(i: &'a Identity) -> Self {
        Self {
            id: Disp(i.id()),
            organization_id: i.org().as_str(),
            agent_handle: i.handle().as_str(),
            status: i.status().as_str(),
            created_at: Disp(i.created_at()),
            updated_at: Disp(i.updated_at()),
        }
    }
}

/// The identity detail object: the summary, `mailbox` and `phone_number` (always `null`: authd
/// serves neither) and the linked app.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IdentityDetail)]
pub(crate) struct IdentityDetailDto<'a> {
    #[serde(flatten)]
    summary: IdentityDto<'a>,
    /// Always `null`: authd serves no mailbox.
    #[schema(schema_with = crate::dto_schemas::null_schema)]
    mailbox: Null,
    /// Always `null`: authd serves no phone number.
    #[schema(schema_with = crate::dto_schemas::null_schema)]
    phone_number: Null,
    /// The linked app, or `null`.
    #[schema(required = true)]
    authenticator_app: Option<AppDto<'a>>,
}

impl<'a> IdentityDetailDto<'a> {
    pub(crate) fn new(d: &'a domain::service::IdentityDetail) -> Self {
        Self {
            summary: IdentityDto::new(&d.identity),
            mailbox: Null,
            phone_number: Null,
            authenticator_app: d.app.as_ref().map(AppDto::new),
        }
    }
}

/// The instance object.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Instance)]
pub(crate) struct InstanceDto<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::InstanceId>,
    #[schema(value_type = String, format = "uuid")]
    authenticator_app_id: Disp<&'a domain::ids::AppId>,
    /// The identity the instance was enrolled for.
    #[schema(value_type = String, format = "uuid")]
    identity_id: Disp<&'a domain::ids::IdentityId>,
    #[schema(value_type = String, format = "uuid")]
    device_id: Disp<&'a domain::ids::DeviceId>,
    device_name: &'a str,
    #[schema(value_type = crate::dto_schemas::Platform)]
    platform: &'static str,
    #[schema(value_type = crate::dto_schemas::RecordStatus)]
    status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    created_at: Disp<&'a domain::time::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Disp<&'a domain::time::Timestamp>,
    /// When the device last generated a code; `null` before that.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    last_used_at: Option<Disp<&'a domain::time::Timestamp>>,
}

impl<'a> InstanceDto<'a> {
    pub(crate) fn new(i: &'a Instance) -> Self {
        Self {
            id: Disp(i.id()),
            authenticator_app_id: Disp(i.app_id()),
            identity_id: Disp(i.identity_id()),
            device_id: Disp(i.device_id()),
            device_name: i.device_name().as_str(),
            platform: i.platform().as_str(),
            status: if i.deleted_at().is_none() { "active" } else { "deleted" },
            created_at: Disp(i.created_at()),
            updated_at: Disp(i.updated_at()),
            last_used_at: i.last_used_at().as_ref().map(Disp),
        }
    }
}

/// A new instance and its device token (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Enrollment)]
pub(crate) struct EnrollmentDto<'a> {
    #[serde(flatten)]
    instance: InstanceDto<'a>,
    /// The device's bearer token for `/api/v1/device/...`; shown this once.
    #[schema(examples("authd_dev_..."))]
    device_token: &'a str,
}

impl<'a> EnrollmentDto<'a> {
    pub(crate) fn new(e: &'a domain::service::Enrollment) -> Self {
        Self {
            instance: InstanceDto::new(&e.instance),
            device_token: e.device_token.expose(),
        }
    }
}

/// A service token (authd extension): never the token itself, but for [`NewTokenDto`].
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ServiceToken)]
pub(crate) struct TokenDto<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::TokenId>,
    #[schema(required = true)]
    name: Option<&'a str>,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    scopes: Vec<&'static str>,
    /// The identities it is confined to, as given (`null`: not confined to identities).
    #[schema(required = true, value_type = Option<Vec<String>>)]
    identities: Option<Vec<&'a str>>,
    /// The apps it is confined to (`null`: not confined to apps).
    #[schema(required = true, value_type = Option<Vec<String>>)]
    apps: Option<Vec<Disp<&'a domain::ids::AppId>>>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Disp<&'a Timestamp>,
    /// When it was last used (recorded at most once a minute, so up to a minute behind).
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Disp<&'a Timestamp>>,
    /// When it stops working (`null`: until revoked).
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    expires_at: Option<Disp<&'a Timestamp>>,
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    revoked_at: Option<Disp<&'a Timestamp>>,
}

impl<'a> TokenDto<'a> {
    pub(crate) fn new(t: &'a domain::entities::ServiceToken) -> Self {
        let access = t.access();
        let confined = access.restriction.as_ref();
        Self {
            id: Disp(t.id()),
            name: t.name().as_ref().map(domain::values::TokenName::as_str),
            scopes: access.scopes.iter().map(domain::access::Scope::as_str).collect(),
            identities: confined.filter(|r| !r.identities.is_empty()).map(|r| {
                r.identities
                    .iter()
                    .map(domain::access::IdentityGrant::pattern_text)
                    .collect()
            }),
            apps: confined
                .filter(|r| !r.apps.is_empty())
                .map(|r| r.apps.iter().map(Disp).collect()),
            created_at: Disp(t.created_at()),
            last_used_at: t.last_used_at().as_ref().map(Disp),
            expires_at: t.expires_at().as_ref().map(Disp),
            revoked_at: t.revoked_at().as_ref().map(Disp),
        }
    }
}

/// A new service token with the token itself (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NewServiceToken)]
pub(crate) struct NewTokenDto<'a> {
    #[serde(flatten)]
    meta: TokenDto<'a>,
    /// The bearer token for `X-Service-Token` or `Authorization: Bearer`; shown this once.
    #[schema(examples("authd_st_..."))]
    token: &'a str,
}

impl<'a> NewTokenDto<'a> {
    pub(crate) fn new(t: &'a domain::entities::ServiceToken, plain: &'a domain::token::PlainToken) -> Self {
        Self {
            meta: TokenDto::new(t),
            token: plain.expose(),
        }
    }
}

/// One OneWelcome authentication application instance: exactly these four fields.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UserInstance)]
pub(crate) struct UserInstanceDto<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: Disp<&'a domain::ids::InstanceId>,
    #[schema(value_type = String, format = "uuid")]
    device_id: Disp<&'a domain::ids::DeviceId>,
    device_name: &'a str,
    #[schema(value_type = crate::dto_schemas::Platform)]
    platform: &'static str,
}

impl<'a> UserInstanceDto<'a> {
    pub(crate) fn new(i: &'a Instance) -> Self {
        Self {
            id: Disp(i.id()),
            device_id: Disp(i.device_id()),
            device_name: i.device_name().as_str(),
            platform: i.platform().as_str(),
        }
    }
}

/// The OneWelcome list envelope.
#[derive(Serialize)]
pub(crate) struct UserInstancesDto<T> {
    pub(crate) authentication_app_instances: T,
}

/// Who made a change.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditActor)]
pub(crate) struct ActorDto {
    /// `service_token`, `device` or `cli`.
    #[schema(examples("service_token"))]
    kind: &'static str,
    /// The service token's id, the instance's id, or `null` for the CLI.
    #[schema(value_type = Option<String>, format = "uuid", required = true)]
    id: Option<String>,
}

/// The record an event is about.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditResource)]
pub(crate) struct ResourceDto {
    /// `app`, `account`, `identity`, `instance` or `service_token`.
    #[schema(rename = "type", examples("app"))]
    #[serde(rename = "type")]
    kind: &'static str,
    #[schema(value_type = String, format = "uuid")]
    id: String,
}

/// One audit event.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub(crate) struct AuditEventDto<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: String,
    /// The organization.
    org: &'a str,
    /// Its number in the organization's trail: 1, 2, 3, ... without gaps, in commit order.
    seq: u64,
    /// When the change was made.
    #[schema(value_type = String, format = DateTime)]
    at: Disp<&'a domain::time::Timestamp>,
    actor: ActorDto,
    /// e.g. `app.create`, `identity.link_app`, `otp.generate`.
    #[schema(examples("app.create"))]
    action: &'static str,
    resource: ResourceDto,
    /// The request's `X-Request-Id` (`null` for the CLI).
    #[schema(required = true)]
    request_id: Option<&'a str>,
    /// Ids, names and outcomes of the change; never a secret.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl<'a> AuditEventDto<'a> {
    pub(crate) fn new(e: &'a domain::audit::AuditEvent) -> Self {
        Self {
            id: e.id.hyphenated().to_string(),
            org: e.org.as_str(),
            seq: e.seq.unwrap_or_default(),
            at: Disp(&e.at),
            actor: ActorDto {
                kind: e.actor.kind(),
                id: e.actor.id().map(|u| u.hyphenated().to_string()),
            },
            action: e.action.as_str(),
            resource: ResourceDto {
                kind: e.resource_type.as_str(),
                id: e.resource_id.hyphenated().to_string(),
            },
            request_id: e.request_id.as_ref().map(domain::audit::RequestId::as_str),
            details: serde_json::from_str(e.details.as_json()).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A page of the audit trail.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub(crate) struct AuditPageDto<'a> {
    /// The events, oldest first (newest first with `order=desc`).
    events: Vec<AuditEventDto<'a>>,
    /// The `seq` of the last event listed: pass it as `after` to read on (as `before` with
    /// `order=desc`); the cursor given when the page is empty; `null` when neither.
    #[schema(required = true, examples("42"))]
    next: Option<String>,
}

impl<'a> AuditPageDto<'a> {
    pub(crate) fn new(p: &'a domain::audit::AuditPage) -> Self {
        Self {
            events: p.events.iter().map(AuditEventDto::new).collect(),
            next: p.next.map(|n| n.to_string()),
        }
    }
}
