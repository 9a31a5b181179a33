//! Row shapes (what is read and written) and their conversion to and from the domain's
//! entities. A stored value the domain would refuse (a malformed id, an unknown algorithm) is
//! reported as a corrupt row ([`StoreError::Other`]), never silently mended.

use diesel::prelude::*;
use domain::audit::{Action, Actor, AuditEvent, Details, RequestId, ResourceType};
use domain::entities::{
    Account, AccountParts, App, AppParts, Identity, IdentityParts, Instance, InstanceParts, ServiceToken,
    ServiceTokenParts,
};
use domain::error::Opaque;
use domain::ids::{AccountId, AppId, DeviceId, IdentityId, InstanceId, OrgId, TokenId};
use domain::otp::{Algorithm, Digits, OtpKind, OtpType, Period, VerifyWindow};
use domain::ports::{StoreError, StoreResult, VerificationState};
use domain::time::Timestamp;
use domain::token::TokenHash;
use domain::values::{Description, DeviceName, DisplayName, Handle, IdentityStatus, Platform, TokenName};
use time::PrimitiveDateTime;
use uuid::Uuid;

use crate::schema::{accounts, apps, audit_events, identities, instances, service_tokens};

/// A corrupt stored value: names the table and column, never the value.
pub(crate) fn corrupt(table: &'static str, column: &'static str) -> StoreError {
    StoreError::Other(Opaque::new(format!("corrupt row in {table}: invalid {column}")))
}

/// An id as stored: lower-case hyphenated.
pub(crate) fn id_text(u: Uuid) -> String {
    u.hyphenated().to_string()
}

pub(crate) fn ts(t: Timestamp) -> PrimitiveDateTime {
    t.to_primitive_utc()
}

fn from_ts(t: PrimitiveDateTime) -> Timestamp {
    Timestamp::from_primitive_utc(t)
}

fn uuid(s: &str, table: &'static str, column: &'static str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt(table, column))
}

fn org(s: String, table: &'static str) -> StoreResult<OrgId> {
    OrgId::new(s).map_err(|_| corrupt(table, "org_id"))
}

// ------------------------------------------------------------------ identities

#[derive(Queryable, Selectable)]
#[diesel(table_name = identities)]
pub(crate) struct IdentityRow {
    id: String,
    org_id: String,
    handle: String,
    status: String,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

impl IdentityRow {
    pub(crate) fn into_entity(self) -> StoreResult<Identity> {
        const T: &str = "identities";
        Ok(Identity::from_parts(IdentityParts {
            id: IdentityId::from_uuid(uuid(&self.id, T, "id")?),
            org: org(self.org_id, T)?,
            handle: Handle::parse(&self.handle).map_err(|_| corrupt(T, "handle"))?,
            status: IdentityStatus::parse(&self.status).map_err(|_| corrupt(T, "status"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = identities)]
pub(crate) struct NewIdentity<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) handle: &'a str,
    pub(crate) status: &'static str,
    pub(crate) created_at: PrimitiveDateTime,
    pub(crate) updated_at: PrimitiveDateTime,
}

impl<'a> NewIdentity<'a> {
    pub(crate) fn of(i: &'a Identity) -> Self {
        Self {
            id: id_text(i.id().as_uuid()),
            org_id: i.org().as_str(),
            handle: i.handle().as_str(),
            status: i.status().as_str(),
            created_at: ts(*i.created_at()),
            updated_at: ts(*i.updated_at()),
        }
    }
}

// ------------------------------------------------------------------ apps

#[derive(Queryable, Selectable)]
#[diesel(table_name = apps)]
pub(crate) struct AppRow {
    id: String,
    org_id: String,
    identity_id: Option<String>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

impl AppRow {
    pub(crate) fn into_entity(self) -> StoreResult<App> {
        const T: &str = "apps";
        Ok(App::from_parts(AppParts {
            id: AppId::from_uuid(uuid(&self.id, T, "id")?),
            org: org(self.org_id, T)?,
            identity_id: self
                .identity_id
                .map(|s| uuid(&s, T, "identity_id").map(IdentityId::from_uuid))
                .transpose()?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = apps, treat_none_as_default_value = false)]
pub(crate) struct NewApp<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) identity_id: Option<String>,
    pub(crate) created_at: PrimitiveDateTime,
    pub(crate) updated_at: PrimitiveDateTime,
}

impl<'a> NewApp<'a> {
    pub(crate) fn of(a: &'a App) -> Self {
        Self {
            id: id_text(a.id().as_uuid()),
            org_id: a.org().as_str(),
            identity_id: a.identity_id().map(|i| id_text(i.as_uuid())),
            created_at: ts(*a.created_at()),
            updated_at: ts(*a.updated_at()),
        }
    }
}

// ------------------------------------------------------------------ accounts

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountRow {
    id: String,
    org_id: String,
    app_id: String,
    otp_type: String,
    issuer: Option<String>,
    account_name: String,
    display_name: Option<String>,
    description: Option<String>,
    algorithm: String,
    digits: i32,
    period: Option<i32>,
    counter: Option<i64>,
    verify_window: Option<i32>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

impl AccountRow {
    pub(crate) fn into_entity(self) -> StoreResult<Account> {
        const T: &str = "accounts";
        let digits = u32::try_from(self.digits)
            .ok()
            .and_then(Digits::new)
            .ok_or_else(|| corrupt(T, "digits"))?;
        let period = self
            .period
            .map(|p| {
                u64::try_from(p)
                    .ok()
                    .and_then(Period::new)
                    .ok_or_else(|| corrupt(T, "period"))
            })
            .transpose()?;
        let counter = self
            .counter
            .map(|c| u64::try_from(c).map_err(|_| corrupt(T, "counter")))
            .transpose()?;
        let otp_type = OtpType::parse(&self.otp_type).ok_or_else(|| corrupt(T, "otp_type"))?;
        // TOTP rows have a period and no counter, HOTP rows the reverse; anything else is corrupt.
        let kind = OtpKind::from_columns(otp_type, period, counter).ok_or_else(|| {
            // The column that contradicts the type: a missing or stray period, else the counter.
            let column = match (otp_type, period) {
                (OtpType::Totp, None) | (OtpType::Hotp, Some(_)) => "period",
                (OtpType::Totp, Some(_)) | (OtpType::Hotp, None) => "counter",
            };
            corrupt(T, column)
        })?;
        Ok(Account::from_parts(AccountParts {
            id: AccountId::from_uuid(uuid(&self.id, T, "id")?),
            org: org(self.org_id, T)?,
            app_id: AppId::from_uuid(uuid(&self.app_id, T, "app_id")?),
            kind,
            issuer: self.issuer,
            account_name: self.account_name,
            display_name: self
                .display_name
                .map(|s| DisplayName::parse(s).map_err(|_| corrupt(T, "display_name")))
                .transpose()?,
            description: self
                .description
                .map(|s| Description::parse(s).map_err(|_| corrupt(T, "description")))
                .transpose()?,
            algorithm: Algorithm::parse(&self.algorithm).ok_or_else(|| corrupt(T, "algorithm"))?,
            digits,
            verify_window: self
                .verify_window
                .map(|w| {
                    u64::try_from(w)
                        .ok()
                        .and_then(VerifyWindow::new)
                        .ok_or_else(|| corrupt(T, "verify_window"))
                })
                .transpose()?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
pub(crate) struct NewAccount<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) app_id: String,
    pub(crate) otp_type: &'static str,
    pub(crate) issuer: Option<&'a str>,
    pub(crate) account_name: &'a str,
    pub(crate) display_name: Option<&'a str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) algorithm: &'static str,
    pub(crate) digits: i32,
    pub(crate) period: Option<i32>,
    pub(crate) counter: Option<i64>,
    pub(crate) verify_window: Option<i32>,
    pub(crate) secret: &'a [u8],
    pub(crate) created_at: PrimitiveDateTime,
    pub(crate) updated_at: PrimitiveDateTime,
}

impl<'a> NewAccount<'a> {
    pub(crate) fn of(a: &'a Account, secret: &'a [u8]) -> StoreResult<Self> {
        const T: &str = "accounts";
        Ok(Self {
            id: id_text(a.id().as_uuid()),
            org_id: a.org().as_str(),
            app_id: id_text(a.app_id().as_uuid()),
            otp_type: a.otp_type().as_str(),
            issuer: a.issuer().as_deref(),
            account_name: a.account_name(),
            display_name: a.display_name().as_ref().map(DisplayName::as_str),
            description: a.description().as_ref().map(Description::as_str),
            algorithm: a.algorithm().as_str(),
            digits: i32::from(a.digits().get()),
            period: a
                .kind()
                .period()
                .map(|p| i32::try_from(p.get()).map_err(|_| corrupt(T, "period")))
                .transpose()?,
            counter: a
                .kind()
                .counter()
                .map(|c| i64::try_from(c).map_err(|_| corrupt(T, "counter")))
                .transpose()?,
            verify_window: a.verify_window().map(|w| i32::from(w.get())),
            secret,
            created_at: ts(*a.created_at()),
            updated_at: ts(*a.updated_at()),
        })
    }
}

/// The verification columns of an account row (and its counter), as stored.
pub(crate) type VerificationColumns = (Option<i64>, i32, Option<PrimitiveDateTime>, Option<i64>);

/// The domain's view of [`VerificationColumns`].
pub(crate) fn verification_state(
    (step, failed, locked, counter): VerificationColumns,
) -> StoreResult<VerificationState> {
    const T: &str = "accounts";
    Ok(VerificationState {
        last_verified_step: step
            .map(|s| u64::try_from(s).map_err(|_| corrupt(T, "last_verified_step")))
            .transpose()?,
        failed_attempts: u32::try_from(failed).map_err(|_| corrupt(T, "failed_attempts"))?,
        locked_until: locked.map(from_ts),
        counter: counter
            .map(|c| u64::try_from(c).map_err(|_| corrupt(T, "counter")))
            .transpose()?,
    })
}

// ------------------------------------------------------------------ instances

#[derive(Queryable, Selectable)]
#[diesel(table_name = instances)]
pub(crate) struct InstanceRow {
    id: String,
    org_id: String,
    app_id: String,
    identity_id: String,
    device_id: String,
    device_name: String,
    platform: String,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
    last_used_at: Option<PrimitiveDateTime>,
    deleted_at: Option<PrimitiveDateTime>,
}

impl InstanceRow {
    pub(crate) fn into_entity(self) -> StoreResult<Instance> {
        const T: &str = "instances";
        Ok(Instance::from_parts(InstanceParts {
            id: InstanceId::from_uuid(uuid(&self.id, T, "id")?),
            org: org(self.org_id, T)?,
            app_id: AppId::from_uuid(uuid(&self.app_id, T, "app_id")?),
            identity_id: IdentityId::from_uuid(uuid(&self.identity_id, T, "identity_id")?),
            device_id: DeviceId::from_uuid(uuid(&self.device_id, T, "device_id")?),
            device_name: DeviceName::parse(self.device_name).map_err(|_| corrupt(T, "device_name"))?,
            platform: Platform::parse(&self.platform).map_err(|_| corrupt(T, "platform"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
            last_used_at: self.last_used_at.map(from_ts),
            deleted_at: self.deleted_at.map(from_ts),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = instances, treat_none_as_default_value = false)]
pub(crate) struct NewInstance<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) app_id: String,
    pub(crate) identity_id: String,
    pub(crate) device_id: String,
    pub(crate) device_name: &'a str,
    pub(crate) platform: &'static str,
    pub(crate) token_hash: &'a [u8],
    pub(crate) created_at: PrimitiveDateTime,
    pub(crate) updated_at: PrimitiveDateTime,
    pub(crate) last_used_at: Option<PrimitiveDateTime>,
    pub(crate) deleted_at: Option<PrimitiveDateTime>,
}

impl<'a> NewInstance<'a> {
    pub(crate) fn of(i: &'a Instance, token: &'a TokenHash) -> Self {
        Self {
            id: id_text(i.id().as_uuid()),
            org_id: i.org().as_str(),
            app_id: id_text(i.app_id().as_uuid()),
            identity_id: id_text(i.identity_id().as_uuid()),
            device_id: id_text(i.device_id().as_uuid()),
            device_name: i.device_name().as_str(),
            platform: i.platform().as_str(),
            token_hash: token.as_bytes(),
            created_at: ts(*i.created_at()),
            updated_at: ts(*i.updated_at()),
            last_used_at: i.last_used_at().map(ts),
            deleted_at: i.deleted_at().map(ts),
        }
    }
}

// ------------------------------------------------------------------ service tokens

#[derive(Queryable, Selectable)]
#[diesel(table_name = service_tokens)]
pub(crate) struct ServiceTokenRow {
    id: String,
    org_id: String,
    name: Option<String>,
    created_at: PrimitiveDateTime,
    last_used_at: Option<PrimitiveDateTime>,
    revoked_at: Option<PrimitiveDateTime>,
}

impl ServiceTokenRow {
    pub(crate) fn into_entity(self) -> StoreResult<ServiceToken> {
        const T: &str = "service_tokens";
        Ok(ServiceToken::from_parts(ServiceTokenParts {
            id: TokenId::from_uuid(uuid(&self.id, T, "id")?),
            org: org(self.org_id, T)?,
            name: self
                .name
                .map(|n| TokenName::parse(n).map_err(|_| corrupt(T, "name")))
                .transpose()?,
            created_at: from_ts(self.created_at),
            last_used_at: self.last_used_at.map(from_ts),
            revoked_at: self.revoked_at.map(from_ts),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = service_tokens, treat_none_as_default_value = false)]
pub(crate) struct NewServiceToken<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) name: Option<&'a str>,
    pub(crate) token_hash: &'a [u8],
    pub(crate) created_at: PrimitiveDateTime,
    pub(crate) last_used_at: Option<PrimitiveDateTime>,
    pub(crate) revoked_at: Option<PrimitiveDateTime>,
}

impl<'a> NewServiceToken<'a> {
    pub(crate) fn of(t: &'a ServiceToken, hash: &'a TokenHash) -> Self {
        Self {
            id: id_text(t.id().as_uuid()),
            org_id: t.org().as_str(),
            name: t.name().as_ref().map(TokenName::as_str),
            token_hash: hash.as_bytes(),
            created_at: ts(*t.created_at()),
            last_used_at: t.last_used_at().map(ts),
            revoked_at: t.revoked_at().map(ts),
        }
    }
}

/// An `audit_events` row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    id: String,
    org_id: String,
    seq: Option<i64>,
    at: PrimitiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    action: String,
    resource_type: String,
    resource_id: String,
    request_id: Option<String>,
    details: String,
}

impl AuditRow {
    pub(crate) fn into_event(self) -> StoreResult<AuditEvent> {
        const T: &str = "audit_events";
        let actor_id = self.actor_id.as_deref().map(|s| uuid(s, T, "actor_id")).transpose()?;
        Ok(AuditEvent {
            id: uuid(&self.id, T, "id")?,
            org: org(self.org_id, T)?,
            seq: self
                .seq
                .map(|s| u64::try_from(s).map_err(|_| corrupt(T, "seq")))
                .transpose()?,
            at: from_ts(self.at),
            actor: Actor::from_stored(&self.actor_kind, actor_id).ok_or_else(|| corrupt(T, "actor"))?,
            action: Action::parse(&self.action).ok_or_else(|| corrupt(T, "action"))?,
            resource_type: ResourceType::parse(&self.resource_type).ok_or_else(|| corrupt(T, "resource_type"))?,
            resource_id: uuid(&self.resource_id, T, "resource_id")?,
            request_id: self
                .request_id
                .map(|r| RequestId::parse(&r).ok_or_else(|| corrupt(T, "request_id")))
                .transpose()?,
            details: Details::from_stored(self.details),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(crate) struct NewAuditEvent<'a> {
    pub(crate) id: String,
    pub(crate) org_id: &'a str,
    pub(crate) seq: Option<i64>,
    pub(crate) at: PrimitiveDateTime,
    pub(crate) actor_kind: &'static str,
    pub(crate) actor_id: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) resource_type: &'static str,
    pub(crate) resource_id: String,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) details: &'a str,
}

impl<'a> NewAuditEvent<'a> {
    pub(crate) fn of(e: &'a AuditEvent) -> Self {
        Self {
            id: id_text(e.id),
            org_id: e.org.as_str(),
            seq: None,
            at: ts(e.at),
            actor_kind: e.actor.kind(),
            actor_id: e.actor.id().map(id_text),
            action: e.action.as_str(),
            resource_type: e.resource_type.as_str(),
            resource_id: id_text(e.resource_id),
            request_id: e.request_id.as_ref().map(RequestId::as_str),
            details: e.details.as_json(),
        }
    }
}
