//! Building responses: JSON bodies with the right headers, and the response objects of the wire
//! contract as small `Serialize` structs that borrow from the domain entities (ids and
//! timestamps are written straight into the output buffer through their `Display`).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use domain::entities::{Account, App, Identity, Instance};
use domain::service::OtpCode;
use serde::{Serialize, Serializer};

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

/// The App object.
#[derive(Serialize)]
pub(crate) struct AppDto<'a> {
    id: Disp<&'a domain::ids::AppId>,
    organization_id: &'a str,
    identity_id: Option<Disp<&'a domain::ids::IdentityId>>,
    status: &'static str,
    created_at: Disp<&'a domain::time::Timestamp>,
    updated_at: Disp<&'a domain::time::Timestamp>,
}

impl<'a> AppDto<'a> {
    pub(crate) fn new(a: &'a App) -> Self {
        Self {
            id: Disp(a.id()),
            organization_id: a.org().as_str(),
            identity_id: a.identity_id().as_ref().map(Disp),
            status: "active",
            created_at: Disp(a.created_at()),
            updated_at: Disp(a.updated_at()),
        }
    }
}

/// The Account object (never the secret).
#[derive(Serialize)]
pub(crate) struct AccountDto<'a> {
    id: Disp<&'a domain::ids::AccountId>,
    authenticator_app_id: Disp<&'a domain::ids::AppId>,
    otp_type: &'static str,
    issuer: Option<&'a str>,
    account_name: &'a str,
    display_name: Option<&'a str>,
    description: Option<&'a str>,
    algorithm: &'static str,
    digits: u8,
    period: Option<u32>,
    counter: Option<u64>,
    status: &'static str,
    created_at: Disp<&'a domain::time::Timestamp>,
    updated_at: Disp<&'a domain::time::Timestamp>,
}

impl<'a> AccountDto<'a> {
    pub(crate) fn new(a: &'a Account) -> Self {
        Self {
            id: Disp(a.id()),
            authenticator_app_id: Disp(a.app_id()),
            otp_type: a.otp_type().as_str(),
            issuer: a.issuer().as_deref(),
            account_name: a.account_name(),
            display_name: a.display_name().as_ref().map(|d| d.as_str()),
            description: a.description().as_ref().map(|d| d.as_str()),
            algorithm: a.algorithm().as_str(),
            digits: a.digits().get(),
            period: a.period().map(|p| p.get()),
            counter: *a.counter(),
            status: "active",
            created_at: Disp(a.created_at()),
            updated_at: Disp(a.updated_at()),
        }
    }
}

/// The OTP object.
#[derive(Serialize)]
pub(crate) struct OtpDto<'a> {
    otp_code: &'a str,
    valid_for_seconds: Option<u32>,
    otp_type: &'static str,
    algorithm: &'static str,
    digits: u8,
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

/// The identity summary object.
#[derive(Serialize)]
pub(crate) struct IdentityDto<'a> {
    id: Disp<&'a domain::ids::IdentityId>,
    organization_id: &'a str,
    agent_handle: &'a str,
    status: &'static str,
    created_at: Disp<&'a domain::time::Timestamp>,
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
#[derive(Serialize)]
pub(crate) struct IdentityDetailDto<'a> {
    #[serde(flatten)]
    summary: IdentityDto<'a>,
    mailbox: Null,
    phone_number: Null,
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
#[derive(Serialize)]
pub(crate) struct InstanceDto<'a> {
    id: Disp<&'a domain::ids::InstanceId>,
    authenticator_app_id: Disp<&'a domain::ids::AppId>,
    identity_id: Disp<&'a domain::ids::IdentityId>,
    device_id: Disp<&'a domain::ids::DeviceId>,
    device_name: &'a str,
    platform: &'static str,
    status: &'static str,
    created_at: Disp<&'a domain::time::Timestamp>,
    updated_at: Disp<&'a domain::time::Timestamp>,
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
#[derive(Serialize)]
pub(crate) struct EnrollmentDto<'a> {
    #[serde(flatten)]
    instance: InstanceDto<'a>,
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

/// One OneWelcome authentication application instance: exactly these four fields.
#[derive(Serialize)]
pub(crate) struct UserInstanceDto<'a> {
    id: Disp<&'a domain::ids::InstanceId>,
    device_id: Disp<&'a domain::ids::DeviceId>,
    device_name: &'a str,
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
