//! The use cases: one method per operation of the wire contract. Each runs in one unit of work
//! (see [`Store`]) and answers with the one [`Error`] type, whose variants map onto statuses.
//!
//! Precedence when a request fails in several ways (the HTTP adapter has already answered 401
//! and shape 422s): shape (`Invalid`) → existence (`NotFound`) → `Paused` → `Conflict` →
//! `BadRequest`.
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

mod verify;

pub use verify::{FailureReason, Verification};

use std::sync::Arc;

use crate::audit::{
    Action, Actor, AuditEvent, AuditPage, AuditQuery, Caller, Detail, Details, RequestId, ResourceType,
};
use crate::auth::{Principal, TokenCache};
use crate::cascade::CascadePlan;
use crate::entities::{
    Account, AccountParts, App, AppParts, Identity, IdentityParts, Instance, InstanceParts, ServiceToken,
    ServiceTokenParts,
};
use crate::error::{Error, Opaque, not_found};
use crate::ids::{AccountId, AppId, DeviceId, IdentityId, InstanceId, OrgId, TokenId};
use crate::otp::{self, Algorithm, Digits, OtpAuthUri, OtpType, Period, UriError, VerifyWindow};
use crate::ports::{Clock, HotpAdvance, IdGenerator, Lock, OtpMaterial, RandomSource, Repo, SecretCipher, Store};
use crate::time::Timestamp;
use crate::token::{DEVICE_TOKEN_PREFIX, PlainToken, SERVICE_TOKEN_PREFIX, TokenHash};
use crate::values::{Description, DeviceName, DisplayName, Handle, IdentityStatus, Patch, Platform, TokenName};

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

/// Input of [`Authd::create_account`].
#[derive(Clone)]
pub struct NewAccount {
    /// The `otpauth://` URI, as given (it is parsed here, so that a shape error answers before
    /// a missing app and an OTP parameter error after it).
    pub otpauth_uri: String,
    /// Optional display name.
    pub display_name: Option<DisplayName>,
    /// Optional description.
    pub description: Option<Description>,
    /// The verification window; `None` for the type's default.
    pub verify_window: Option<VerifyWindow>,
}

impl std::fmt::Debug for NewAccount {
    /// The URI carries the secret: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("otpauth_uri", &"<redacted>")
            .field("display_name", &self.display_name)
            .field("description", &self.description)
            .field("verify_window", &self.verify_window)
            .finish()
    }
}

/// Input of [`Authd::update_account`].
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    /// New display name, `Clear` for null, `Keep` when absent.
    pub display_name: Patch<DisplayName>,
    /// New description, `Clear` for null, `Keep` when absent.
    pub description: Patch<Description>,
    /// New verification window, `Clear` (null) for the type's default, `Keep` when absent.
    pub verify_window: Patch<VerifyWindow>,
}

/// Input of [`Authd::update_identity`].
#[derive(Debug, Clone, Default)]
pub struct IdentityPatch {
    /// A new handle.
    pub handle: Option<Handle>,
    /// A new status, as given (validated here: an unknown status is a 400, after 404 and 409).
    pub status: Option<String>,
}

/// Input of [`Authd::enroll_instance`].
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The device's name.
    pub device_name: DeviceName,
    /// Its platform.
    pub platform: Platform,
    /// The device id, generated when absent.
    pub device_id: Option<DeviceId>,
}

/// A generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCode {
    /// The zero-padded code.
    pub code: String,
    /// TOTP: seconds until the step ends (1..=period); HOTP: `None`.
    pub valid_for_seconds: Option<u32>,
    /// The account's type.
    pub otp_type: OtpType,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Its digits.
    pub digits: Digits,
    /// Its period (TOTP).
    pub period: Option<Period>,
}

/// An identity with its linked app.
#[derive(Debug, Clone)]
pub struct IdentityDetail {
    /// The identity.
    pub identity: Identity,
    /// Its live app, if any.
    pub app: Option<App>,
}

/// A new instance and its device token (shown once).
#[derive(Debug)]
pub struct Enrollment {
    /// The instance.
    pub instance: Instance,
    /// The device credential.
    pub device_token: PlainToken,
}

/// What one audit event records: action, kind of record, its id, details.
type Audited<'a> = (Action, ResourceType, uuid::Uuid, &'a [(&'a str, Detail)]);

/// How many days of audit events a purge keeps (1..=36500): a purge never touches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays(u32);

impl RetentionDays {
    /// `None` outside 1..=36500.
    #[must_use]
    pub fn new(days: u32) -> Option<Self> {
        (1..=36_500).contains(&days).then_some(Self(days))
    }

    /// The number of days.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The authd use cases over a store and the other ports.
pub struct Authd<S: Store> {
    store: S,
    deps: Deps,
    tokens: TokenCache,
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

    // ---------------------------------------------------------------- service tokens

    /// Creates a service token for `org`; the plain token is returned once.
    ///
    /// # Errors
    /// `Internal` (randomness), storage failures.
    pub fn create_service_token(
        &self,
        who: &Caller,
        name: Option<TokenName>,
    ) -> Result<(ServiceToken, PlainToken), Error> {
        let org = who.org();
        let now = self.now();
        let plain = PlainToken::generate(SERVICE_TOKEN_PREFIX, self.deps.rng.as_ref()).map_err(internal)?;
        let token = ServiceToken::from_parts(ServiceTokenParts {
            id: TokenId::from_uuid(self.new_id()),
            org: org.clone(),
            name,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        });
        let hash = plain.hash();
        let name = token.name().as_ref().map(|n| n.as_str().to_owned());
        self.store.transaction(|r| {
            r.insert_service_token(&token, &hash)?;
            let details = [("name", Detail::from(name.clone()))];
            self.audit(
                r,
                who,
                now,
                (
                    Action::TokenCreate,
                    ResourceType::ServiceToken,
                    token.id().as_uuid(),
                    &details,
                ),
            )
        })?;
        Ok((token, plain))
    }

    /// Resolves a presented service token to its organization. A successful look-up is trusted
    /// for [`crate::auth::CACHE_TTL_SECONDS`] in this process, so a revoked token is refused
    /// everywhere within that bound.
    ///
    /// # Errors
    /// `Unauthorized` for a missing, unknown or revoked token; storage failures.
    pub fn authenticate_service_token(&self, presented: &str) -> Result<Principal, Error> {
        if !presented.starts_with(SERVICE_TOKEN_PREFIX) {
            return Err(Error::Unauthorized);
        }
        let hash = TokenHash::of(presented);
        let now = self.now();
        if let Some(p) = self.tokens.get(&hash, now) {
            return Ok(p);
        }
        let token = self.store.run(|r| {
            let t = r.service_token_by_hash(&hash)?;
            if let Some(t) = &t {
                r.touch_service_token(*t.id(), now)?;
            }
            Ok::<_, Error>(t)
        })?;
        let token = token.ok_or(Error::Unauthorized)?;
        let principal = Principal {
            org: token.org().clone(),
            token_id: *token.id(),
        };
        self.tokens.put(hash, principal.clone(), now);
        Ok(principal)
    }

    /// The principal of a presented service token when this process has recently verified it:
    /// no I/O at all, so an async caller can try this first and fall back to
    /// [`Self::authenticate_service_token`] on a blocking thread only on a miss.
    #[must_use]
    pub fn cached_principal(&self, presented: &str) -> Option<Principal> {
        if !presented.starts_with(SERVICE_TOKEN_PREFIX) {
            return None;
        }
        self.tokens.get(&TokenHash::of(presented), self.now())
    }

    /// Every service token (of one org, or all), oldest first; never the tokens themselves.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_service_tokens(&self, org: Option<&OrgId>) -> Result<Vec<ServiceToken>, Error> {
        Ok(self.store.run(|r| r.list_service_tokens(org))?)
    }

    /// Revokes a service token (`by` is recorded in the token's organization's trail).
    ///
    /// # Errors
    /// `NotFound` when no unrevoked token has this id; storage failures.
    pub fn revoke_service_token(&self, id: TokenId, by: &Actor) -> Result<(), Error> {
        let at = self.now();
        let revoked = self.store.transaction(|r| {
            let Some(org) = r.revoke_service_token(id, at)? else {
                return Ok(false);
            };
            let who = Caller::new(org, by.clone());
            self.audit(
                r,
                &who,
                at,
                (Action::TokenRevoke, ResourceType::ServiceToken, id.as_uuid(), &[]),
            )?;
            Ok::<_, Error>(true)
        })?;
        self.tokens.forget_token(id);
        if revoked {
            Ok(())
        } else {
            Err(Error::NotFound(not_found::TOKEN))
        }
    }

    // ---------------------------------------------------------------- apps

    /// Creates an app, linked to the identity with `handle` when one is given.
    ///
    /// # Errors
    /// `NotFound` (identity), `Conflict` (the identity already has an app), storage failures.
    pub fn create_app(&self, who: &Caller, handle: Option<&Handle>) -> Result<App, Error> {
        let org = who.org();
        let id = AppId::from_uuid(self.new_id());
        let now = self.now();
        let new = |identity_id| {
            App::from_parts(AppParts {
                id,
                org: org.clone(),
                identity_id,
                created_at: now,
                updated_at: now,
            })
        };
        let insert = |r: &mut dyn Repo, app: &App| {
            let details = [("identity_id", Detail::from(app.identity_id().map(|i| i.to_string())))];
            let event = self.event(who, now, (Action::AppCreate, ResourceType::App, id.as_uuid(), &details));
            Ok::<_, Error>(r.insert_app_with_event(app, &event)?)
        };
        let Some(handle) = handle else {
            // An unlinked app and its event: one atomic write, no transaction needed.
            let app = new(None);
            self.store.run(|r| insert(r, &app))?;
            return Ok(app);
        };
        self.store.transaction(|r| {
            let identity = locked_identity(r, org, handle)?;
            if r.app_of_identity(org, *identity.id())?.is_some() {
                return Err(identity_has_app());
            }
            let app = new(Some(*identity.id()));
            insert(r, &app)?;
            Ok(app)
        })
    }

    /// The org's live apps, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_apps(&self, who: &Caller) -> Result<Vec<App>, Error> {
        let org = who.org();
        Ok(self.store.run(|r| r.list_apps(org))?)
    }

    /// One live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_app(&self, who: &Caller, id: AppId) -> Result<App, Error> {
        let org = who.org();
        self.store.run(|r| live_app(r, org, id))
    }

    /// Deletes an app with its accounts and instances, and clears its link.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_app(&self, who: &Caller, id: AppId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let app = r
                .lock_app(org, id, Lock::Update)?
                .ok_or(Error::NotFound(not_found::APP))?;
            r.apply_cascade(&CascadePlan::delete_app(org.clone(), id, at))?;
            let details = [("identity_id", Detail::from(app.identity_id().map(|i| i.to_string())))];
            self.audit(
                r,
                who,
                at,
                (Action::AppDelete, ResourceType::App, id.as_uuid(), &details),
            )
        })
    }

    // ---------------------------------------------------------------- accounts

    /// Imports an OTP account from an `otpauth://` URI into an app.
    ///
    /// # Errors
    /// `Invalid` (URI shape), `NotFound` (app), `BadRequest` (OTP parameters), storage failures.
    pub fn create_account(&self, who: &Caller, app: AppId, input: NewAccount) -> Result<Account, Error> {
        let org = who.org();
        let parsed = match OtpAuthUri::parse(&input.otpauth_uri) {
            Err(UriError::Shape(m)) => return Err(Error::invalid(&["body", "otpauth_uri"], m, "value_error")),
            other => other,
        };
        let id = AccountId::from_uuid(self.new_id());
        let now = self.now();
        self.store.transaction(|r| {
            r.lock_app(org, app, Lock::Share)?
                .ok_or(Error::NotFound(not_found::APP))?;
            let uri = parsed.as_ref().map_err(|e| Error::BadRequest(e.to_string()))?;
            let sealed = self.deps.cipher.seal(id, &uri.secret).map_err(internal)?;
            let account = Account::from_parts(AccountParts {
                id,
                org: org.clone(),
                app_id: app,
                otp_type: uri.otp_type,
                issuer: uri.issuer.clone(),
                account_name: uri.account_name.clone(),
                display_name: input.display_name.clone(),
                description: input.description.clone(),
                algorithm: uri.algorithm,
                digits: uri.digits,
                period: uri.period,
                counter: uri.counter,
                verify_window: input.verify_window,
                created_at: now,
                updated_at: now,
            });
            r.insert_account(&account, &sealed)?;
            let details = [
                ("app_id", Detail::from(app.to_string())),
                ("otp_type", Detail::from(account.otp_type().as_str())),
                ("issuer", Detail::from(account.issuer().clone())),
                ("algorithm", Detail::from(account.algorithm().as_str())),
                ("digits", Detail::from(i64::from(account.digits().get()))),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AccountCreate, ResourceType::Account, id.as_uuid(), &details),
            )?;
            Ok(account)
        })
    }

    /// The live accounts of a live app, oldest first.
    ///
    /// # Errors
    /// `NotFound` (app), storage failures.
    pub fn list_accounts(&self, who: &Caller, app: AppId) -> Result<Vec<Account>, Error> {
        let org = who.org();
        self.store
            .run(|r| r.list_accounts(org, app))?
            .ok_or(Error::NotFound(not_found::APP))
    }

    /// One live account of a live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_account(&self, who: &Caller, app: AppId, id: AccountId) -> Result<Account, Error> {
        let org = who.org();
        self.store.run(|r| live_account(r, org, app, id))
    }

    /// Changes an account's display name, description and verification window (absent keeps,
    /// null clears; a cleared window is the type's default again).
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn update_account(
        &self,
        who: &Caller,
        app: AppId,
        id: AccountId,
        patch: AccountPatch,
    ) -> Result<Account, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let mut account = locked_account(r, org, app, id)?;
            let display_name = patch.display_name.clone().apply(account.display_name().clone());
            let description = patch.description.clone().apply(account.description().clone());
            account.set_labels(display_name, description, now);
            let window = patch.verify_window.clone().apply(*account.verify_window());
            account.set_verify_window(window, now);
            r.update_account(&account)?;
            let details = [
                ("app_id", Detail::from(app.to_string())),
                (
                    "display_name",
                    Detail::from(account.display_name().as_ref().map(|d| d.as_str().to_owned())),
                ),
                (
                    "description",
                    Detail::from(account.description().as_ref().map(|d| d.as_str().to_owned())),
                ),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AccountUpdate, ResourceType::Account, id.as_uuid(), &details),
            )?;
            Ok(account)
        })
    }

    /// Deletes one account.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_account(&self, who: &Caller, app: AppId, id: AccountId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            locked_account(r, org, app, id)?;
            r.apply_cascade(&CascadePlan::delete_account(org.clone(), id, at))?;
            let details = [("app_id", Detail::from(app.to_string()))];
            self.audit(
                r,
                who,
                at,
                (Action::AccountDelete, ResourceType::Account, id.as_uuid(), &details),
            )
        })
    }

    /// Generates the account's current code. HOTP advances the counter atomically (a failure
    /// before the advance, such as an unreadable secret, leaves it unchanged).
    ///
    /// # Errors
    /// `NotFound`, `Paused`, `Conflict` (HOTP counter at its maximum), `SecretUnreadable`,
    /// storage failures.
    pub fn generate_otp(&self, who: &Caller, app: AppId, id: AccountId) -> Result<OtpCode, Error> {
        let org = who.org();
        let now = self.now();
        // No transaction: the code's one write (its event, or the HOTP advance with its event)
        // is atomic on its own.
        self.store.run(|r| {
            let material = r
                .otp_material(org, app, id)?
                .ok_or(Error::NotFound(not_found::ACCOUNT))?;
            self.code_for(r, who, &material, now)
        })
    }

    /// The code of an account whose material was just read, with its audit event.
    fn code_for(&self, r: &mut dyn Repo, who: &Caller, m: &OtpMaterial, now: Timestamp) -> Result<OtpCode, Error> {
        let org = who.org();
        if m.identity_status == Some(IdentityStatus::Paused) {
            return Err(Error::Paused);
        }
        let a = &m.account;
        let secret = self
            .deps
            .cipher
            .open(*a.id(), &m.sealed)
            .map_err(|_| Error::SecretUnreadable)?;
        let details = [
            ("app_id", Detail::from(a.app_id().to_string())),
            ("otp_type", Detail::from(a.otp_type().as_str())),
        ];
        let event = self.event(
            who,
            now,
            (Action::OtpGenerate, ResourceType::Account, a.id().as_uuid(), &details),
        );
        let (code, valid_for_seconds) = match (a.otp_type(), a.period()) {
            (OtpType::Totp, Some(period)) => {
                let t = u64::try_from(now.unix_seconds()).map_err(|_| internal("clock before 1970"))?;
                let totp = otp::totp(*a.algorithm(), secret.expose(), t, *period, *a.digits());
                // A TOTP code changes nothing: its event is the one write, atomic on its own.
                r.insert_audit_event(&event)?;
                (totp.code, Some(totp.valid_for_seconds))
            }
            // The advance and its event together (see the port), without a transaction here.
            (OtpType::Hotp, _) => match r.advance_hotp_counter(org, *a.id(), &event)? {
                HotpAdvance::Use(c) => (otp::hotp(*a.algorithm(), secret.expose(), c, *a.digits()), None),
                HotpAdvance::Exhausted => return Err(Error::Conflict("HOTP counter is at its maximum".into())),
                HotpAdvance::Missing => return Err(Error::NotFound(not_found::ACCOUNT)),
            },
            (OtpType::Totp, None) => return Err(internal("TOTP account without a period")),
        };
        Ok(OtpCode {
            code,
            valid_for_seconds,
            otp_type: *a.otp_type(),
            algorithm: *a.algorithm(),
            digits: *a.digits(),
            period: *a.period(),
        })
    }

    // ---------------------------------------------------------------- identities

    /// Creates an identity.
    ///
    /// # Errors
    /// `Conflict` (handle taken among live identities), storage failures.
    pub fn create_identity(&self, who: &Caller, handle: Handle) -> Result<Identity, Error> {
        let org = who.org();
        let now = self.now();
        let identity = Identity::from_parts(IdentityParts {
            id: IdentityId::from_uuid(self.new_id()),
            org: org.clone(),
            handle,
            status: IdentityStatus::Active,
            created_at: now,
            updated_at: now,
        });
        self.store.transaction(|r| {
            r.insert_identity(&identity)?;
            let details = [("agent_handle", Detail::from(identity.handle().as_str()))];
            self.audit(
                r,
                who,
                now,
                (
                    Action::IdentityCreate,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )
        })?;
        Ok(identity)
    }

    /// The org's live identities, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_identities(&self, who: &Caller) -> Result<Vec<Identity>, Error> {
        let org = who.org();
        Ok(self.store.run(|r| r.list_identities(org))?)
    }

    /// One identity with its app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_identity(&self, who: &Caller, handle: &Handle) -> Result<IdentityDetail, Error> {
        let org = who.org();
        self.store.run(|r| {
            let identity = live_identity(r, org, handle)?;
            let app = r.app_of_identity(org, *identity.id())?;
            Ok(IdentityDetail { identity, app })
        })
    }

    /// Renames and/or pauses/unpauses an identity.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (new handle taken), `BadRequest` (unknown status), storage failures.
    pub fn update_identity(&self, who: &Caller, handle: &Handle, patch: IdentityPatch) -> Result<Identity, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let mut identity = locked_identity(r, org, handle)?;
            if let Some(new) = &patch.handle
                && new != identity.handle()
                && r.identity_by_handle(org, new)?.is_some()
            {
                return Err(Error::Conflict("Agent handle already taken".into()));
            }
            let status = patch
                .status
                .as_deref()
                .map(IdentityStatus::parse)
                .transpose()
                .map_err(|e| Error::BadRequest(e.to_string()))?;
            let previous = identity.handle().as_str().to_owned();
            if let Some(new) = &patch.handle {
                identity.set_handle(new.clone(), now);
            }
            if let Some(s) = status {
                identity.set_status(s, now);
            }
            r.update_identity(&identity)?;
            let details = [
                ("agent_handle", Detail::from(identity.handle().as_str())),
                ("previous_handle", Detail::from(previous)),
                ("status", Detail::from(identity.status().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (
                    Action::IdentityUpdate,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )?;
            Ok(identity)
        })
    }

    /// Deletes an identity: its app is unlinked (and stays), that app's instances are revoked.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_identity(&self, who: &Caller, handle: &Handle) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, org, handle)?;
            let app = linked_app(r, org, &identity)?.map(|a| *a.id());
            r.apply_cascade(&CascadePlan::delete_identity(org.clone(), *identity.id(), app, at))?;
            let details = [
                ("agent_handle", Detail::from(identity.handle().as_str())),
                ("app_id", Detail::from(app.map(|a| a.to_string()))),
            ];
            self.audit(
                r,
                who,
                at,
                (
                    Action::IdentityDelete,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )
        })
    }

    /// Links an app to an identity (a no-op when already linked to it).
    ///
    /// # Errors
    /// `NotFound` (identity or app), `Conflict` (app linked elsewhere, or identity has another
    /// app), storage failures.
    pub fn assign_app(&self, who: &Caller, handle: &Handle, app_id: AppId) -> Result<IdentityDetail, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, org, handle)?;
            let mut app = r
                .lock_app(org, app_id, Lock::Update)?
                .ok_or(Error::NotFound(not_found::APP))?;
            match app.identity_id() {
                Some(linked) if linked == identity.id() => {
                    return Ok(IdentityDetail {
                        identity,
                        app: Some(app),
                    });
                }
                Some(_) => {
                    return Err(Error::Conflict(
                        "Authenticator app is linked to another identity".into(),
                    ));
                }
                None => {}
            }
            if r.app_of_identity(org, *identity.id())?.is_some() {
                return Err(identity_has_app());
            }
            app.set_identity(Some(*identity.id()), now);
            r.set_app_identity(&app)?;
            let details = [
                ("identity_id", Detail::from(identity.id().to_string())),
                ("agent_handle", Detail::from(identity.handle().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AppLink, ResourceType::App, app_id.as_uuid(), &details),
            )?;
            Ok(IdentityDetail {
                identity,
                app: Some(app),
            })
        })
    }

    /// Unlinks the identity's app (if any) and revokes that app's instances.
    ///
    /// # Errors
    /// `NotFound` (identity), storage failures.
    pub fn unlink_app(&self, who: &Caller, handle: &Handle) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, org, handle)?;
            if let Some(app) = linked_app(r, org, &identity)? {
                r.apply_cascade(&CascadePlan::unlink_app(org.clone(), *app.id(), at))?;
                let details = [
                    ("identity_id", Detail::from(identity.id().to_string())),
                    ("agent_handle", Detail::from(identity.handle().as_str())),
                ];
                self.audit(
                    r,
                    who,
                    at,
                    (Action::AppUnlink, ResourceType::App, app.id().as_uuid(), &details),
                )?;
            }
            Ok(())
        })
    }

    // ---------------------------------------------------------------- instances

    /// Enrolls a device for the identity the app is linked to; returns its device token once.
    ///
    /// # Errors
    /// `NotFound` (app), `Paused`, `Conflict` (app not linked), storage failures.
    pub fn enroll_instance(&self, who: &Caller, app_id: AppId, input: NewInstance) -> Result<Enrollment, Error> {
        let org = who.org();
        let now = self.now();
        let id = InstanceId::from_uuid(self.new_id());
        let device_id = input.device_id.unwrap_or_else(|| DeviceId::from_uuid(self.new_id()));
        let token = PlainToken::generate(DEVICE_TOKEN_PREFIX, self.deps.rng.as_ref()).map_err(internal)?;
        let hash = token.hash();
        let instance = self.store.transaction(|r| {
            let identity = enrollment_identity(r, org, app_id)?;
            if identity.is_paused() {
                return Err(Error::Paused);
            }
            let instance = Instance::from_parts(InstanceParts {
                id,
                org: org.clone(),
                app_id,
                identity_id: *identity.id(),
                device_id,
                device_name: input.device_name.clone(),
                platform: input.platform,
                created_at: now,
                updated_at: now,
                last_used_at: None,
                deleted_at: None,
            });
            r.insert_instance(&instance, &hash)?;
            let details = [
                ("app_id", Detail::from(app_id.to_string())),
                ("identity_id", Detail::from(identity.id().to_string())),
                ("device_id", Detail::from(device_id.to_string())),
                ("platform", Detail::from(instance.platform().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::InstanceEnroll, ResourceType::Instance, id.as_uuid(), &details),
            )?;
            Ok(instance)
        })?;
        Ok(Enrollment {
            instance,
            device_token: token,
        })
    }

    /// The live instances of a live app, oldest first.
    ///
    /// # Errors
    /// `NotFound` (app), storage failures.
    pub fn list_instances(&self, who: &Caller, app: AppId) -> Result<Vec<Instance>, Error> {
        let org = who.org();
        self.store.run(|r| {
            live_app(r, org, app)?;
            Ok(r.list_instances(org, app)?)
        })
    }

    /// One live instance of a live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_instance(&self, who: &Caller, app: AppId, id: InstanceId) -> Result<Instance, Error> {
        let org = who.org();
        self.store
            .run(|r| r.instance(org, app, id)?.ok_or(Error::NotFound(not_found::INSTANCE)))
    }

    /// Revokes an instance: its device token stops working at once.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn revoke_instance(&self, who: &Caller, app: AppId, id: InstanceId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            r.lock_instance(org, app, id)?
                .ok_or(Error::NotFound(not_found::INSTANCE))?;
            r.apply_cascade(&CascadePlan::revoke_instance(org.clone(), id, at))?;
            let details = [("app_id", Detail::from(app.to_string()))];
            self.audit(
                r,
                who,
                at,
                (Action::InstanceRevoke, ResourceType::Instance, id.as_uuid(), &details),
            )
        })
    }

    // ---------------------------------------------------------------- device API

    /// The accounts a device may see (its app's live accounts). Allowed while paused.
    ///
    /// # Errors
    /// `Unauthorized` (unknown or revoked device token), storage failures.
    pub fn device_list_accounts(&self, device_token: &str) -> Result<Vec<Account>, Error> {
        let hash = device_hash(device_token)?;
        self.store.run(|r| {
            let session = r.device_by_token(&hash)?.ok_or(Error::Unauthorized)?;
            let i = &session.instance;
            // A live instance implies a live app (deleting the app revokes its instances).
            Ok(r.list_accounts(i.org(), *i.app_id())?.unwrap_or_default())
        })
    }

    /// A code for one of the device's app's accounts; records the instance's `last_used_at`.
    ///
    /// # Errors
    /// `Unauthorized`, `NotFound`, `Paused`, `Conflict` (HOTP exhausted), `SecretUnreadable`,
    /// storage failures.
    pub fn device_generate_otp(
        &self,
        device_token: &str,
        account: AccountId,
        request_id: Option<&RequestId>,
    ) -> Result<OtpCode, Error> {
        let hash = device_hash(device_token)?;
        let now = self.now();
        // No transaction: the code's write (see `generate_otp`) and the touch are each atomic,
        // and a device fetch takes no lock for its reads.
        self.store.run(|r| {
            let session = r.device_by_token(&hash)?.ok_or(Error::Unauthorized)?;
            let i = &session.instance;
            let who = Caller::new(i.org().clone(), Actor::Device(*i.id())).with_request_id(request_id.cloned());
            let material = r
                .otp_material(i.org(), *i.app_id(), account)?
                .ok_or(Error::NotFound(not_found::ACCOUNT))?;
            let code = self.code_for(r, &who, &material, now)?;
            r.touch_instance(i.org(), *i.id(), now)?;
            Ok(code)
        })
    }

    // ---------------------------------------------------------------- OneWelcome end-user API

    /// The live instances enrolled for the user (identity handle), oldest first. A user that
    /// does not exist and a user with no instances answer alike.
    ///
    /// # Errors
    /// `NotFound` (either case), storage failures.
    pub fn user_instances(&self, who: &Caller, user: &str) -> Result<Vec<Instance>, Error> {
        let org = who.org();
        let gone = Error::NotFound(not_found::USER_APPS);
        let Ok(handle) = Handle::parse(user) else {
            return Err(gone);
        };
        self.store.run(|r| {
            let Some(identity) = r.identity_by_handle(org, &handle)? else {
                return Err(gone);
            };
            let list = r.list_identity_instances(org, *identity.id())?;
            if list.is_empty() {
                Err(Error::NotFound(not_found::USER_APPS))
            } else {
                Ok(list)
            }
        })
    }

    /// Revokes one of the user's instances; idempotent for an instance already revoked.
    ///
    /// # Errors
    /// `NotFound` when no such instance was ever enrolled for that user (or ids are malformed),
    /// storage failures.
    pub fn revoke_user_instance(&self, who: &Caller, user: &str, instance: &str) -> Result<(), Error> {
        let org = who.org();
        let gone = || Error::NotFound(not_found::USER_APP);
        let (Ok(handle), Some(id)) = (Handle::parse(user), InstanceId::parse(instance)) else {
            return Err(gone());
        };
        let at = self.now();
        self.store.transaction(|r| {
            let identity = r.identity_by_handle(org, &handle)?.ok_or_else(gone)?;
            let inst = r.identity_instance_any(org, *identity.id(), id)?.ok_or_else(gone)?;
            if inst.deleted_at().is_none() {
                r.apply_cascade(&CascadePlan::revoke_instance(org.clone(), id, at))?;
                let details = [("app_id", Detail::from(inst.app_id().to_string()))];
                self.audit(
                    r,
                    who,
                    at,
                    (Action::InstanceRevoke, ResourceType::Instance, id.as_uuid(), &details),
                )?;
            }
            Ok(())
        })
    }

    // ---------------------------------------------------------------- audit trail

    /// A page of the caller's organization's audit trail. Numbers every event committed so far
    /// first, so a change the caller just made is listed.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_audit_events(&self, who: &Caller, query: &AuditQuery) -> Result<AuditPage, Error> {
        self.store.transaction(|r| Ok::<_, Error>(r.sequence_audit_events()?))?;
        let events = self.store.run(|r| r.list_audit_events(who.org(), query))?;
        let next = events.last().and_then(|e| e.seq).or(query.after);
        Ok(AuditPage { events, next })
    }

    /// Deletes the audit events older than `retention` (numbering every committed event first;
    /// each organization's newest event stays, so its numbering goes on). Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_audit_events(&self, retention: RetentionDays) -> Result<u64, Error> {
        let before = self.now().plus_seconds(-i64::from(retention.get()) * 86_400);
        self.store.transaction(|r| {
            r.sequence_audit_events()?;
            Ok::<_, Error>(r.purge_audit_events(before)?)
        })
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
    Error::Conflict("Identity already has an authenticator app".into())
}

fn device_hash(token: &str) -> Result<TokenHash, Error> {
    if token.starts_with(DEVICE_TOKEN_PREFIX) {
        Ok(TokenHash::of(token))
    } else {
        Err(Error::Unauthorized)
    }
}

fn live_app(r: &mut dyn Repo, org: &OrgId, id: AppId) -> Result<App, Error> {
    r.app(org, id)?.ok_or(Error::NotFound(not_found::APP))
}

fn live_account(r: &mut dyn Repo, org: &OrgId, app: AppId, id: AccountId) -> Result<Account, Error> {
    r.account(org, app, id)?.ok_or(Error::NotFound(not_found::ACCOUNT))
}

/// The live identity with this handle, locked for update.
fn locked_identity(r: &mut dyn Repo, org: &OrgId, handle: &Handle) -> Result<Identity, Error> {
    r.lock_identity_by_handle(org, handle, Lock::Update)?
        .ok_or(Error::NotFound(not_found::IDENTITY))
}

/// The live account, locked for update.
fn locked_account(r: &mut dyn Repo, org: &OrgId, app: AppId, id: AccountId) -> Result<Account, Error> {
    r.lock_account(org, app, id)?.ok_or(Error::NotFound(not_found::ACCOUNT))
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

/// The identity an instance of this app is enrolled for, with the identity and then the app
/// share-locked (the port's lock order), so that neither can be deleted, paused or unlinked
/// before the enrollment commits.
///
/// The identity is known only from the app, read first without a lock. If the link changed
/// before the app's lock was had, the app is now locked (its link can no longer change) and the
/// new identity is locked after it: out of order, so on a database that detects the resulting
/// deadlock the adapter retries the whole transaction ([`Store::transaction`]).
fn enrollment_identity(r: &mut dyn Repo, org: &OrgId, app_id: AppId) -> Result<Identity, Error> {
    let not_linked = || Error::Conflict("Authenticator app is not linked to an identity".into());
    let mut linked = *live_app(r, org, app_id)?.identity_id();
    // Two rounds at most: after the first, the app is locked and its link final.
    for _ in 0..2 {
        let identity_id = linked.ok_or_else(not_linked)?;
        let identity = r.lock_identity_by_id(org, identity_id, Lock::Share)?;
        let app = r
            .lock_app(org, app_id, Lock::Share)?
            .ok_or(Error::NotFound(not_found::APP))?;
        if *app.identity_id() == Some(identity_id) {
            // Linked to an identity that is gone: not linked to a live one (deleting an
            // identity unlinks its app, so only rows written before that rule can show it).
            return identity.ok_or_else(not_linked);
        }
        linked = *app.identity_id();
    }
    Err(internal("an app's link changed while the app was locked"))
}

fn live_identity(r: &mut dyn Repo, org: &OrgId, handle: &Handle) -> Result<Identity, Error> {
    r.identity_by_handle(org, handle)?
        .ok_or(Error::NotFound(not_found::IDENTITY))
}
