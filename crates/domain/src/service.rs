//! The use cases: one method per operation of the wire contract. Each runs in one unit of work
//! (see [`Store`]) and answers with the one [`Error`] type, whose variants say what went wrong in the domain's terms.
//!
//! [`Authd`] is defined here with what every use case shares (time, ids, the audit event of a
//! change, the lookups that answer `NotFound`); the use cases are split by resource, one file
//! each, mirroring the HTTP adapter's `handlers/`: `tokens`, `apps`, `accounts` (with code
//! generation), `verify`, `identities` (with linking), `instances`, `device`, `one_welcome`,
//! `audit`, `keys` (the master keys: not an organization's).
//!
//! Precedence when a request fails in several ways (the HTTP adapter has already answered 401
//! and the request-shape 422s): the URI's shape ([`Error::Uri`]) → existence (`NotFound`) →
//! `Paused` → `Conflict` → the values checked against stored state (the URI's OTP parameters,
//! an identity status).
//!
//! Concurrency: a use case that reads, decides, then writes runs in [`Store::transaction`] and
//! locks the rows it decides on ([`Lock`], in the port's order: identity, then app, then account
//! or instance), so its decision still holds when it writes, whatever other requests (of this
//! process or of another replica) do meanwhile. Single-statement writes need no lock: they are
//! conditional on the row being live (a soft delete of an already deleted row changes nothing,
//! the HOTP advance returns the value it wrote). The choice for each use case:
//!
//! | use case | locks | why |
//! |---|---|---|
//! | create app (linked) | identity `Update` | one app per identity; not under an identity being deleted |
//! | update app | app `Update` | no lost update (a link and new metadata together) |
//! | delete app | app `Update` | a second delete answers 404; children added meanwhile are in the cascade |
//! | create account | app `Share` | never under an app being deleted |
//! | update / delete account | account `Update` | no lost update; a second delete answers 404 |
//! | update identity | identity `Update` | no lost update (rename and pause together) |
//! | delete identity, unlink | identity `Update`, then its app `Update` | no link or enrollment slips in |
//! | link app | identity `Update`, then app `Update` | one winner among links; never to a deleted identity |
//! | enroll instance | identity `Share`, then app `Share` | never for a deleted, paused or unlinked identity |
//! | revoke instance | instance `Update` | a second revoke answers 404 |
//! | OneWelcome revoke, token revoke | none | idempotent / one conditional statement |
//! | verify a code | none | one conditional statement per outcome (see [`Authd::verify_otp`]) |

mod accounts;
mod apps;
mod audit;
mod device;
mod identities;
mod instances;
mod keys;
mod one_welcome;
mod tokens;
mod verify;

pub use accounts::{AccountPatch, NewAccount, OtpCode};
pub use apps::{AppPatch, NewApp};
pub use audit::RetentionDays;
pub use identities::{IdentityDetail, IdentityPatch};
pub use instances::{Enrollment, NewInstance};
pub use keys::{Beat, MAX_REWRAP_PASSES};
pub use tokens::{LAST_USED_RESOLUTION_SECONDS, NewToken};
pub use verify::{FailureReason, Lockout, Verification};

use std::sync::Arc;

use crate::access::Restriction;
use crate::audit::{Action, Actor, AuditEvent, Caller, Detail, Details, RequestId, ResourceType};
use crate::auth::TokenCache;
use crate::entities::{Account, App, Identity, Instance};
use crate::error::{ConflictKind, Error, Opaque, Realm, Resource};
use crate::ids::{AccountId, AppId, OrgId};
use crate::ports::{Clock, IdGenerator, Lock, RandomSource, Repo, SecretCipher, Store};
use crate::time::Timestamp;
use crate::token::{DEVICE_TOKEN_PREFIX, TokenHash};
use crate::values::Handle;

/// The non-storage ports a service needs.
#[derive(Clone)]
pub struct Deps {
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Randomness for tokens.
    pub rng: Arc<dyn RandomSource>,
    /// Encryption of secrets at rest.
    pub cipher: Arc<dyn SecretCipher>,
}

/// What one audit event records: action, kind of record, its id, details.
type Audited<'a> = (Action, ResourceType, uuid::Uuid, &'a [(&'a str, Detail)]);

/// The authd use cases over a store and the other ports.
pub struct Authd<S: Store> {
    store: S,
    deps: Deps,
    tokens: TokenCache,
    opened: accounts::OpenedSecrets,
}

fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Internal(Opaque::new(e))
}

impl<S: Store> Authd<S> {
    /// Builds the service.
    pub fn new(store: S, deps: Deps) -> Self {
        Self {
            store,
            deps,
            tokens: TokenCache::default(),
            opened: accounts::OpenedSecrets::default(),
        }
    }

    /// The store (for adapters' own needs, e.g. readiness probes and tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> Timestamp {
        self.deps.clock.now()
    }

    fn new_id(&self) -> uuid::Uuid {
        self.deps.ids.new_uuid()
    }

    /// The audit event of a change `who` made at `at`.
    fn event(&self, who: &Caller, at: Timestamp, what: Audited<'_>) -> AuditEvent {
        let (action, resource_type, resource_id, details) = what;
        AuditEvent {
            id: self.new_id(),
            org: who.org().clone(),
            seq: None,
            at,
            actor: who.actor().clone(),
            action,
            resource_type,
            resource_id,
            request_id: who.request_id().cloned(),
            details: Details::of(details),
        }
    }

    /// Writes the audit event of a change `who` made at `at`, in the change's unit of work.
    fn audit(&self, r: &mut dyn Repo, who: &Caller, at: Timestamp, what: Audited<'_>) -> Result<(), Error> {
        r.insert_audit_event(&self.event(who, at, what))?;
        Ok(())
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    pub fn ping(&self) -> Result<(), Error> {
        Ok(self.store.ping()?)
    }
}

fn identity_has_app() -> Error {
    Error::Conflict(ConflictKind::IdentityHasApp)
}

/// The live instance a device token belongs to, and the caller it acts as (`Unauthorized` for
/// an unknown or revoked token).
fn device_caller(
    r: &mut dyn Repo,
    hash: &TokenHash,
    request_id: Option<&RequestId>,
) -> Result<(Instance, Caller), Error> {
    let instance = r.device_by_token(hash)?.ok_or(Error::Unauthorized(Realm::Device))?;
    let who = Caller::new(instance.org().clone(), Actor::Device(*instance.id())).with_request_id(request_id.cloned());
    Ok((instance, who))
}

fn device_hash(token: &str) -> Result<TokenHash, Error> {
    if token.starts_with(DEVICE_TOKEN_PREFIX) {
        Ok(TokenHash::of(token))
    } else {
        Err(Error::Unauthorized(Realm::Device))
    }
}

/// Whether the caller sees this app: always when it is not confined (no query); otherwise
/// when its restriction lists the app or covers the app's live identity.
fn confined_app_visible(r: &mut dyn Repo, org: &OrgId, who: &Caller, app: AppId) -> Result<bool, Error> {
    let Some(rs) = who.restriction() else {
        return Ok(true);
    };
    if rs.apps.contains(&app) {
        return Ok(true);
    }
    if rs.identities.is_empty() {
        return Ok(false);
    }
    match r.app(org, app)? {
        Some(a) => owner_visible(r, org, rs, &a),
        None => Ok(false),
    }
}

/// Whether a confined caller's restriction covers the app's live identity.
fn owner_visible(r: &mut dyn Repo, org: &OrgId, rs: &Restriction, app: &App) -> Result<bool, Error> {
    match app.identity_id() {
        Some(id) => Ok(r.identity_by_id(org, *id)?.is_some_and(|i| rs.sees_identity(&i))),
        None => Ok(false),
    }
}

/// `NotFound(missing)` (what the operation answers for a missing app) unless the caller sees
/// the app: outside a restriction is indistinguishable from absent.
fn confine_app(r: &mut dyn Repo, who: &Caller, app: AppId, missing: Resource) -> Result<(), Error> {
    if confined_app_visible(r, who.org(), who, app)? {
        Ok(())
    } else {
        Err(Error::NotFound(missing))
    }
}

/// `NotFound(Identity)` unless the caller sees the identity.
fn confine_identity(who: &Caller, identity: Identity) -> Result<Identity, Error> {
    if who.access().sees_identity(&identity) {
        Ok(identity)
    } else {
        Err(Error::NotFound(Resource::Identity))
    }
}

/// `app` when the caller sees it, `NotFound(App)` otherwise.
fn visible_app(r: &mut dyn Repo, who: &Caller, app: App) -> Result<App, Error> {
    match who.restriction() {
        Some(rs) if !rs.apps.contains(app.id()) && !owner_visible(r, who.org(), rs, &app)? => {
            Err(Error::NotFound(Resource::App))
        }
        _ => Ok(app),
    }
}

fn live_app(r: &mut dyn Repo, who: &Caller, id: AppId) -> Result<App, Error> {
    let app = r.app(who.org(), id)?.ok_or(Error::NotFound(Resource::App))?;
    visible_app(r, who, app)
}

/// The live app, locked (`NotFound` outside the caller's restriction: decided on the locked
/// row, so a link changing meanwhile cannot widen what the caller reaches).
fn locked_app(r: &mut dyn Repo, who: &Caller, id: AppId, lock: Lock) -> Result<App, Error> {
    let app = r.lock_app(who.org(), id, lock)?.ok_or(Error::NotFound(Resource::App))?;
    visible_app(r, who, app)
}

fn live_account(r: &mut dyn Repo, who: &Caller, app: AppId, id: AccountId) -> Result<Account, Error> {
    confine_app(r, who, app, Resource::Account)?;
    r.account(who.org(), app, id)?.ok_or(Error::NotFound(Resource::Account))
}

/// The live identity with this handle, locked for update (`NotFound` outside the caller's
/// restriction).
fn locked_identity(r: &mut dyn Repo, who: &Caller, handle: &Handle) -> Result<Identity, Error> {
    let identity = r
        .lock_identity_by_handle(who.org(), handle, Lock::Update)?
        .ok_or(Error::NotFound(Resource::Identity))?;
    confine_identity(who, identity)
}

/// The live account, locked for update.
fn locked_account(r: &mut dyn Repo, who: &Caller, app: AppId, id: AccountId) -> Result<Account, Error> {
    confine_app(r, who, app, Resource::Account)?;
    r.lock_account(who.org(), app, id)?
        .ok_or(Error::NotFound(Resource::Account))
}

/// The app linked to an identity the caller holds locked, locked for update too. Nobody can
/// link another app to a locked identity, so the app found stays linked to it; it may have been
/// deleted before the lock was had (deleting an app clears its link under the app's lock
/// alone), and then it is `None`.
fn linked_app(r: &mut dyn Repo, org: &OrgId, identity: &Identity) -> Result<Option<App>, Error> {
    match r.app_of_identity(org, *identity.id())? {
        Some(app) => Ok(r.lock_app(org, *app.id(), Lock::Update)?),
        None => Ok(None),
    }
}

fn live_identity(r: &mut dyn Repo, who: &Caller, handle: &Handle) -> Result<Identity, Error> {
    let identity = r
        .identity_by_handle(who.org(), handle)?
        .ok_or(Error::NotFound(Resource::Identity))?;
    confine_identity(who, identity)
}
