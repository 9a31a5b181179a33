//! In-memory implementations of every port (feature `testkit`), honouring the rules a database
//! would: uniqueness among live rows, soft deletes, org scoping, atomic HOTP counters and
//! all-or-nothing transactions. Plus a settable clock, deterministic ids and randomness, and a
//! test cipher bound to the account id.
//!
//! [`contract`] holds the port contract scenarios that every storage adapter runs too.

pub mod contract;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, AuditQuery};
use crate::cascade::{CascadePlan, CascadeStep};
use crate::entities::{
    Account, AccountEdit, App, AppEdit, Identity, IdentityEdit, Instance, ServiceToken, ServiceTokenParts,
};
use crate::ids::{AccountId, AppId, IdentityId, InstanceId, OrgId, TokenId};
use crate::keys::{self, KeyEvent, KeyId, KeyringRecord, ReplicaBeat, SealedCounts};
use crate::otp::{MAX_COUNTER, OtpKind, OtpType, Secret};
use crate::ports::{
    AccountRepo, AppRepo, AuditRepo, CascadeRepo, CipherError, Clock, ConflictKind, FailureRecord, HotpAdvance,
    HotpUse, IdGenerator, IdentityRepo, InstanceRepo, KeyRepo, Lock, OtpMaterial, RandomError, RandomSource, Repo,
    SealedRow, SealedSecret, SecretCipher, Store, StoreError, StoreResult, SuccessRecord, TokenRepo, VerificationState,
    VerifyMaterial, VerifyRepo,
};
use crate::service::{Authd, Deps};
use crate::throttle::LockSchedule;
use crate::time::Timestamp;
use crate::token::TokenHash;
use crate::values::{Handle, IdentityStatus, TokenLifetime};

#[derive(Clone, Debug)]
struct Row<T> {
    value: T,
    deleted_at: Option<Timestamp>,
}

impl<T> Row<T> {
    fn live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

#[derive(Clone, Debug, Default)]
struct State {
    identities: Vec<Row<Identity>>,
    apps: Vec<Row<App>>,
    accounts: Vec<Row<(Account, SealedSecret)>>,
    instances: Vec<(Instance, TokenHash)>,
    tokens: Vec<(ServiceToken, TokenHash)>,
    max_token_lifetime: HashMap<OrgId, TokenLifetime>,
    events: Vec<AuditEvent>,
    keyring: KeyringRecord,
    replicas: Vec<ReplicaBeat>,
    key_events: Vec<KeyEvent>,
    /// The verification columns of each account that has been verified (the default before
    /// that); `counter` is not kept here, it is the account's.
    verification: HashMap<AccountId, VerificationState>,
}

/// An in-memory [`Store`]. `transaction` works on a copy and swaps it in on success, so a
/// failed unit of work changes nothing; the lock makes every unit of work serializable.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for InMemoryStore {
    fn run<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        let mut guard = self.lock();
        f(&mut *guard)
    }

    fn transaction<T, E: From<StoreError>>(&self, mut f: impl FnMut(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        let mut guard = self.lock();
        let mut copy = guard.clone();
        let out = f(&mut copy)?;
        *guard = copy;
        Ok(out)
    }

    fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

fn rebuild_instance(i: &Instance, f: impl FnOnce(&mut crate::entities::InstanceParts)) -> Instance {
    let mut p = i.clone().into_parts();
    f(&mut p);
    Instance::from_parts(p)
}

impl State {
    fn app_live(&self, org: &OrgId, id: AppId) -> bool {
        self.apps
            .iter()
            .any(|r| r.live() && r.value.org() == org && *r.value.id() == id)
    }

    fn identity_status(&self, org: &OrgId, app: &App) -> Option<crate::values::IdentityStatus> {
        let iid = app.identity_id().as_ref()?;
        self.identities
            .iter()
            .find(|r| r.live() && r.value.org() == org && r.value.id() == iid)
            .map(|r| *r.value.status())
    }

    fn revoke_instances(&mut self, org: &OrgId, at: Timestamp, pred: impl Fn(&Instance) -> bool) {
        for (inst, _) in &mut self.instances {
            if inst.org() == org && inst.deleted_at().is_none() && pred(inst) {
                *inst = rebuild_instance(inst, |p| {
                    p.deleted_at = Some(at);
                    p.updated_at = at;
                });
            }
        }
    }

    /// The live account `id` of `org`, if it is of `otp_type` (any type when `None`).
    fn live_account_mut(&mut self, org: &OrgId, id: AccountId, otp_type: Option<OtpType>) -> Option<&mut Account> {
        self.accounts
            .iter_mut()
            .find(|r| {
                r.live()
                    && r.value.0.org() == org
                    && *r.value.0.id() == id
                    && otp_type.is_none_or(|t| r.value.0.otp_type() == t)
            })
            .map(|r| &mut r.value.0)
    }

    fn verification_of(&self, account: &Account) -> VerificationState {
        VerificationState {
            counter: account.kind().counter(),
            ..self.verification.get(account.id()).copied().unwrap_or_default()
        }
    }

    fn set_link(&mut self, org: &OrgId, app: AppId, at: Timestamp) {
        for r in &mut self.apps {
            if r.live() && r.value.org() == org && *r.value.id() == app {
                r.value.apply(unlinked(&r.value, at));
            }
        }
    }
}

impl IdentityRepo for State {
    fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()> {
        let taken = self
            .identities
            .iter()
            .any(|r| r.live() && r.value.org() == identity.org() && r.value.handle() == identity.handle());
        if taken || self.identities.iter().any(|r| r.value.id() == identity.id()) {
            return Err(StoreError::Conflict(if taken {
                ConflictKind::HandleTaken
            } else {
                ConflictKind::Unique
            }));
        }
        self.identities.push(Row {
            value: identity.clone(),
            deleted_at: None,
        });
        Ok(())
    }

    fn identity_by_handle(&mut self, org: &OrgId, handle: &Handle) -> StoreResult<Option<Identity>> {
        Ok(self
            .identities
            .iter()
            .find(|r| r.live() && r.value.org() == org && r.value.handle() == handle)
            .map(|r| r.value.clone()))
    }

    fn identity_by_id(&mut self, org: &OrgId, id: IdentityId) -> StoreResult<Option<Identity>> {
        Ok(self
            .identities
            .iter()
            .find(|r| r.live() && r.value.org() == org && *r.value.id() == id)
            .map(|r| r.value.clone()))
    }

    fn list_identities(&mut self, org: &OrgId) -> StoreResult<Vec<Identity>> {
        let mut v: Vec<Identity> = self
            .identities
            .iter()
            .filter(|r| r.live() && r.value.org() == org)
            .map(|r| r.value.clone())
            .collect();
        v.sort_by(|a, b| (b.created_at(), b.id()).cmp(&(a.created_at(), a.id())));
        Ok(v)
    }

    fn update_identity(&mut self, org: &OrgId, id: IdentityId, edit: &IdentityEdit) -> StoreResult<()> {
        let taken = self
            .identities
            .iter()
            .any(|r| r.live() && r.value.org() == org && *r.value.handle() == edit.handle && *r.value.id() != id);
        if taken {
            return Err(StoreError::Conflict(ConflictKind::HandleTaken));
        }
        for r in &mut self.identities {
            if r.live() && r.value.org() == org && *r.value.id() == id {
                r.value.apply(edit.clone());
            }
        }
        Ok(())
    }

    // Locking reads are plain reads: the store's one mutex already runs every unit of work
    // alone (serializable), so no row can change under a decision.
    fn lock_identity_by_handle(&mut self, org: &OrgId, handle: &Handle, _lock: Lock) -> StoreResult<Option<Identity>> {
        self.identity_by_handle(org, handle)
    }

    fn lock_identity_by_id(&mut self, org: &OrgId, id: IdentityId, _lock: Lock) -> StoreResult<Option<Identity>> {
        self.identity_by_id(org, id)
    }
}

impl AppRepo for State {
    fn insert_app(&mut self, app: &App, event: &AuditEvent) -> StoreResult<()> {
        // The store's one mutex makes the pair atomic.
        if let Some(iid) = app.identity_id()
            && self
                .apps
                .iter()
                .any(|r| r.live() && r.value.org() == app.org() && r.value.identity_id().as_ref() == Some(iid))
        {
            return Err(StoreError::Conflict(ConflictKind::IdentityHasApp));
        }
        if self.apps.iter().any(|r| r.value.id() == app.id()) {
            return Err(StoreError::Conflict(ConflictKind::Unique));
        }
        self.apps.push(Row {
            value: app.clone(),
            deleted_at: None,
        });
        self.insert_audit_event(event)
    }

    fn app(&mut self, org: &OrgId, id: AppId) -> StoreResult<Option<App>> {
        Ok(self
            .apps
            .iter()
            .find(|r| r.live() && r.value.org() == org && *r.value.id() == id)
            .map(|r| r.value.clone()))
    }

    fn app_of_identity(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Option<App>> {
        Ok(self
            .apps
            .iter()
            .find(|r| r.live() && r.value.org() == org && *r.value.identity_id() == Some(identity))
            .map(|r| r.value.clone()))
    }

    fn list_apps(&mut self, org: &OrgId) -> StoreResult<Vec<App>> {
        let mut v: Vec<App> = self
            .apps
            .iter()
            .filter(|r| r.live() && r.value.org() == org)
            .map(|r| r.value.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
        Ok(v)
    }

    fn update_app(&mut self, org: &OrgId, id: AppId, edit: &AppEdit) -> StoreResult<()> {
        if let Some(iid) = edit.identity_id {
            let taken = self.apps.iter().any(|r| {
                r.live() && r.value.org() == org && *r.value.identity_id() == Some(iid) && *r.value.id() != id
            });
            if taken {
                return Err(StoreError::Conflict(ConflictKind::IdentityHasApp));
            }
        }
        for r in &mut self.apps {
            if r.live() && r.value.org() == org && *r.value.id() == id {
                r.value.apply(edit.clone());
            }
        }
        Ok(())
    }

    fn lock_app(&mut self, org: &OrgId, id: AppId, _lock: Lock) -> StoreResult<Option<App>> {
        self.app(org, id)
    }
}

impl AccountRepo for State {
    fn insert_account(&mut self, account: &Account, sealed: &SealedSecret) -> StoreResult<()> {
        if self.accounts.iter().any(|r| r.value.0.id() == account.id()) {
            return Err(StoreError::Conflict(ConflictKind::Unique));
        }
        self.accounts.push(Row {
            value: (account.clone(), sealed.clone()),
            deleted_at: None,
        });
        Ok(())
    }

    fn account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        if !self.app_live(org, app) {
            return Ok(None);
        }
        Ok(self
            .accounts
            .iter()
            .find(|r| r.live() && r.value.0.org() == org && *r.value.0.app_id() == app && *r.value.0.id() == id)
            .map(|r| r.value.0.clone()))
    }

    fn list_accounts(&mut self, org: &OrgId, app: AppId) -> StoreResult<Option<Vec<Account>>> {
        if !self.app_live(org, app) {
            return Ok(None);
        }
        let mut v: Vec<Account> = self
            .accounts
            .iter()
            .filter(|r| r.live() && r.value.0.org() == org && *r.value.0.app_id() == app)
            .map(|r| r.value.0.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
        Ok(Some(v))
    }

    fn update_account(&mut self, org: &OrgId, id: AccountId, edit: &AccountEdit) -> StoreResult<()> {
        for r in &mut self.accounts {
            if r.live() && r.value.0.org() == org && *r.value.0.id() == id {
                r.value.0.apply(edit.clone());
            }
        }
        Ok(())
    }

    fn otp_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<OtpMaterial>> {
        let Some(app_row) = self
            .apps
            .iter()
            .find(|r| r.live() && r.value.org() == org && *r.value.id() == app)
        else {
            return Ok(None);
        };
        let status = self.identity_status(org, &app_row.value);
        Ok(self
            .accounts
            .iter()
            .find(|r| r.live() && r.value.0.org() == org && *r.value.0.app_id() == app && *r.value.0.id() == id)
            .map(|r| OtpMaterial {
                account: r.value.0.clone(),
                sealed: r.value.1.clone(),
                identity_status: status,
            }))
    }

    fn advance_hotp_counter(&mut self, org: &OrgId, id: AccountId, event: &AuditEvent) -> StoreResult<HotpAdvance> {
        for r in &mut self.accounts {
            let a = &r.value.0;
            if r.deleted_at.is_none()
                && a.org() == org
                && *a.id() == id
                && let OtpKind::Hotp { counter: c } = *a.kind()
            {
                if c >= MAX_COUNTER {
                    return Ok(HotpAdvance::Exhausted);
                }
                let mut p = a.clone().into_parts();
                p.kind = OtpKind::Hotp { counter: c + 1 };
                r.value.0 = Account::from_parts(p);
                self.insert_audit_event(event)?;
                return Ok(HotpAdvance::Use(c));
            }
        }
        Ok(HotpAdvance::Missing)
    }

    fn advance_hotp_if_sealed(
        &mut self,
        org: &OrgId,
        app: AppId,
        id: AccountId,
        sealed: &SealedSecret,
        event: &AuditEvent,
    ) -> StoreResult<Option<HotpUse>> {
        let Some(m) = self.otp_material(org, app, id)? else {
            return Ok(None);
        };
        let a = &m.account;
        let OtpKind::Hotp { counter } = *a.kind() else {
            return Ok(None);
        };
        if m.sealed != *sealed || m.identity_status == Some(IdentityStatus::Paused) || counter >= MAX_COUNTER {
            return Ok(None);
        }
        let (algorithm, digits) = (*a.algorithm(), *a.digits());
        match self.advance_hotp_counter(org, id, event)? {
            HotpAdvance::Use(counter) => Ok(Some(HotpUse {
                counter,
                algorithm,
                digits,
            })),
            HotpAdvance::Exhausted | HotpAdvance::Missing => Ok(None),
        }
    }

    fn lock_account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        self.account(org, app, id)
    }
}

impl VerifyRepo for State {
    fn verify_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<VerifyMaterial>> {
        Ok(self.otp_material(org, app, id)?.map(|otp| {
            let state = self.verification_of(&otp.account);
            VerifyMaterial { otp, state }
        }))
    }

    fn verification_state(&mut self, org: &OrgId, id: AccountId) -> StoreResult<Option<VerificationState>> {
        let account = self.live_account_mut(org, id, None).map(|a| a.clone());
        Ok(account.map(|a| self.verification_of(&a)))
    }

    fn record_verify_success_totp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        step: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        if self.live_account_mut(org, id, Some(OtpType::Totp)).is_none() {
            return Ok(SuccessRecord::Refused);
        }
        let v = self.verification.entry(id).or_default();
        if v.last_verified_step.is_some_and(|last| last >= step) || v.locked_until.is_some_and(|u| u > now) {
            return Ok(SuccessRecord::Refused);
        }
        v.last_verified_step = Some(step);
        v.failed_attempts = 0;
        v.locked_until = None;
        self.insert_audit_event(event)?;
        Ok(SuccessRecord::Recorded)
    }

    fn record_verify_success_hotp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        matched: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        let locked = self
            .verification
            .get(&id)
            .is_some_and(|v| v.locked_until.is_some_and(|u| u > now));
        let Some(account) = self.live_account_mut(org, id, Some(OtpType::Hotp)) else {
            return Ok(SuccessRecord::Refused);
        };
        let next = matched.checked_add(1).filter(|n| *n <= MAX_COUNTER);
        match (*account.kind(), next) {
            (OtpKind::Hotp { counter }, Some(next)) if counter <= matched && !locked => {
                let mut p = account.clone().into_parts();
                p.kind = OtpKind::Hotp { counter: next };
                *account = Account::from_parts(p);
            }
            _ => return Ok(SuccessRecord::Refused),
        }
        let v = self.verification.entry(id).or_default();
        v.failed_attempts = 0;
        v.locked_until = None;
        self.insert_audit_event(event)?;
        Ok(SuccessRecord::Recorded)
    }

    fn record_verify_failure(
        &mut self,
        org: &OrgId,
        id: AccountId,
        schedule: &LockSchedule,
        event: &AuditEvent,
    ) -> StoreResult<FailureRecord> {
        if self.live_account_mut(org, id, None).is_none() {
            return Ok(FailureRecord::Refused);
        }
        let v = self.verification.entry(id).or_default();
        if v.locked_until.is_some_and(|u| u > schedule.now()) {
            return Ok(FailureRecord::Refused);
        }
        v.failed_attempts = v.failed_attempts.saturating_add(1);
        v.locked_until = Some(schedule.deadline_after(v.failed_attempts));
        let failed_attempts = v.failed_attempts;
        self.insert_audit_event(event)?;
        Ok(FailureRecord::Recorded { failed_attempts })
    }
}

impl InstanceRepo for State {
    fn insert_instance(&mut self, instance: &Instance, token: &TokenHash) -> StoreResult<()> {
        if self
            .instances
            .iter()
            .any(|(i, h)| i.id() == instance.id() || h == token)
        {
            return Err(StoreError::Conflict(ConflictKind::Unique));
        }
        self.instances.push((instance.clone(), *token));
        Ok(())
    }

    fn instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        if !self.app_live(org, app) {
            return Ok(None);
        }
        Ok(self
            .instances
            .iter()
            .find(|(i, _)| i.deleted_at().is_none() && i.org() == org && *i.app_id() == app && *i.id() == id)
            .map(|(i, _)| i.clone()))
    }

    fn list_instances(&mut self, org: &OrgId, app: AppId) -> StoreResult<Vec<Instance>> {
        let mut v: Vec<Instance> = self
            .instances
            .iter()
            .filter(|(i, _)| i.deleted_at().is_none() && i.org() == org && *i.app_id() == app)
            .map(|(i, _)| i.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
        Ok(v)
    }

    fn list_identity_instances(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Vec<Instance>> {
        let mut v: Vec<Instance> = self
            .instances
            .iter()
            .filter(|(i, _)| i.deleted_at().is_none() && i.org() == org && *i.identity_id() == identity)
            .map(|(i, _)| i.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
        Ok(v)
    }

    fn identity_instance_any(
        &mut self,
        org: &OrgId,
        identity: IdentityId,
        id: InstanceId,
    ) -> StoreResult<Option<Instance>> {
        Ok(self
            .instances
            .iter()
            .find(|(i, _)| i.org() == org && *i.identity_id() == identity && *i.id() == id)
            .map(|(i, _)| i.clone()))
    }

    fn device_by_token(&mut self, token: &TokenHash) -> StoreResult<Option<Instance>> {
        Ok(self
            .instances
            .iter()
            .find(|(i, h)| h == token && i.deleted_at().is_none())
            .map(|(i, _)| i.clone()))
    }

    fn touch_instance(&mut self, org: &OrgId, id: InstanceId, at: Timestamp) -> StoreResult<()> {
        for (i, _) in &mut self.instances {
            if i.org() == org && *i.id() == id && i.deleted_at().is_none() {
                *i = rebuild_instance(i, |p| p.last_used_at = Some(at));
            }
        }
        Ok(())
    }

    fn lock_instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        self.instance(org, app, id)
    }
}

impl CascadeRepo for State {
    fn apply_cascade(&mut self, plan: &CascadePlan) -> StoreResult<()> {
        let (org, at) = (plan.org().clone(), plan.at());
        for step in plan.steps() {
            match *step {
                CascadeStep::DeleteApp(app) => {
                    for r in &mut self.apps {
                        if r.live() && r.value.org() == &org && *r.value.id() == app {
                            r.value.apply(unlinked(&r.value, at));
                            r.deleted_at = Some(at);
                        }
                    }
                }
                CascadeStep::DeleteAccountsOfApp(app) => {
                    for r in &mut self.accounts {
                        if r.live() && r.value.0.org() == &org && *r.value.0.app_id() == app {
                            r.deleted_at = Some(at);
                        }
                    }
                }
                CascadeStep::DeleteAccount(id) => {
                    for r in &mut self.accounts {
                        if r.live() && r.value.0.org() == &org && *r.value.0.id() == id {
                            r.deleted_at = Some(at);
                        }
                    }
                }
                CascadeStep::RevokeInstancesOfApp(app) => self.revoke_instances(&org, at, |i| *i.app_id() == app),
                CascadeStep::RevokeInstance(id) => self.revoke_instances(&org, at, |i| *i.id() == id),
                CascadeStep::UnlinkApp(app) => self.set_link(&org, app, at),
                CascadeStep::DeleteIdentity(id) => {
                    for r in &mut self.identities {
                        if r.live() && r.value.org() == &org && *r.value.id() == id {
                            r.deleted_at = Some(at);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl TokenRepo for State {
    fn insert_service_token(&mut self, token: &ServiceToken, hash: &TokenHash) -> StoreResult<()> {
        if self.tokens.iter().any(|(t, h)| t.id() == token.id() || h == hash) {
            return Err(StoreError::Conflict(ConflictKind::Unique));
        }
        self.tokens.push((token.clone(), *hash));
        Ok(())
    }

    fn service_token_by_hash(&mut self, hash: &TokenHash) -> StoreResult<Option<ServiceToken>> {
        Ok(self
            .tokens
            .iter()
            .find(|(t, h)| h == hash && t.revoked_at().is_none())
            .map(|(t, _)| t.clone()))
    }

    fn lock_service_token(&mut self, id: TokenId) -> StoreResult<Option<ServiceToken>> {
        Ok(self
            .tokens
            .iter()
            .find(|(t, _)| *t.id() == id && t.revoked_at().is_none())
            .map(|(t, _)| t.clone()))
    }

    fn list_service_tokens(&mut self, org: Option<&OrgId>) -> StoreResult<Vec<ServiceToken>> {
        Ok(self
            .tokens
            .iter()
            .filter(|(t, _)| org.is_none_or(|o| t.org() == o))
            .map(|(t, _)| t.clone())
            .collect())
    }

    fn revoke_service_token(&mut self, id: TokenId, at: Timestamp) -> StoreResult<Option<OrgId>> {
        for (t, _) in &mut self.tokens {
            if *t.id() == id && t.revoked_at().is_none() {
                *t = rebuild_token(t, |p| p.revoked_at = Some(at));
                return Ok(Some(t.org().clone()));
            }
        }
        Ok(None)
    }

    fn touch_service_token(&mut self, id: TokenId, at: Timestamp, stale_before: Timestamp) -> StoreResult<()> {
        for (t, _) in &mut self.tokens {
            if *t.id() == id && t.last_used_at().is_none_or(|u| u < stale_before) {
                *t = rebuild_token(t, |p| p.last_used_at = Some(at));
            }
        }
        Ok(())
    }

    fn max_token_lifetime(&mut self, org: &OrgId) -> StoreResult<Option<TokenLifetime>> {
        Ok(self.max_token_lifetime.get(org).copied())
    }

    fn set_max_token_lifetime(&mut self, org: &OrgId, max: Option<TokenLifetime>, _at: Timestamp) -> StoreResult<()> {
        match max {
            Some(m) => self.max_token_lifetime.insert(org.clone(), m),
            None => self.max_token_lifetime.remove(org),
        };
        Ok(())
    }
}

impl KeyRepo for State {
    fn keyring(&mut self, _lock: Option<Lock>) -> StoreResult<KeyringRecord> {
        Ok(self.keyring.clone())
    }

    fn set_primary_key(&mut self, key: &KeyId, at: Timestamp) -> StoreResult<()> {
        self.keyring.primary = Some(key.clone());
        self.keyring.primary_since = Some(at);
        Ok(())
    }

    fn retire_key(&mut self, key: &KeyId, _at: Timestamp) -> StoreResult<()> {
        if !self.keyring.retired.contains(key) {
            self.keyring.retired.push(key.clone());
            self.keyring.retired.sort();
        }
        Ok(())
    }

    fn beat(&mut self, replica: &ReplicaBeat) -> StoreResult<()> {
        self.replicas.retain(|r| r.id != replica.id);
        self.replicas.push(replica.clone());
        self.replicas.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(())
    }

    fn forget_replicas(&mut self, id: Option<&str>, stale_before: Timestamp) -> StoreResult<()> {
        self.replicas
            .retain(|r| Some(r.id.as_str()) != id && r.seen_at >= stale_before);
        Ok(())
    }

    fn replicas(&mut self, since: Timestamp) -> StoreResult<Vec<ReplicaBeat>> {
        Ok(self.replicas.iter().filter(|r| r.seen_at >= since).cloned().collect())
    }

    fn count_sealed(&mut self) -> StoreResult<SealedCounts> {
        let mut counts = SealedCounts::default();
        for r in &self.accounts {
            match r.value.1.key_id() {
                Some(k) => match counts.by_key.iter_mut().find(|(have, _)| *have == k) {
                    Some((_, n)) => *n += 1,
                    None => counts.by_key.push((k, 1)),
                },
                None => counts.unknown += 1,
            }
        }
        counts.by_key.sort();
        Ok(counts)
    }

    fn sealed_not_under(&mut self, key: &KeyId, after: Option<AccountId>, limit: u32) -> StoreResult<Vec<SealedRow>> {
        let mut rows: Vec<SealedRow> = self
            .accounts
            .iter()
            .filter(|r| r.value.1.key_id().as_ref() != Some(key))
            .filter(|r| after.is_none_or(|a| r.value.0.id().as_uuid() > a.as_uuid()))
            .map(|r| SealedRow {
                account: *r.value.0.id(),
                org: r.value.0.org().clone(),
                sealed: r.value.1.clone(),
            })
            .collect();
        rows.sort_by_key(|r| r.account.as_uuid());
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    fn replace_sealed(&mut self, account: AccountId, old: &SealedSecret, new: &SealedSecret) -> StoreResult<bool> {
        match self
            .accounts
            .iter_mut()
            .find(|r| *r.value.0.id() == account && r.value.1 == *old)
        {
            Some(r) => {
                r.value.1 = new.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn insert_key_event(&mut self, event: &KeyEvent) -> StoreResult<()> {
        self.key_events.push(event.clone());
        Ok(())
    }

    fn key_events(&mut self, limit: u32) -> StoreResult<Vec<KeyEvent>> {
        let mut out: Vec<KeyEvent> = self.key_events.iter().rev().cloned().collect();
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(out)
    }
}

impl AuditRepo for State {
    fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        if self.events.iter().any(|e| e.id == event.id) {
            return Err(StoreError::Conflict(ConflictKind::Unique));
        }
        self.events.push(AuditEvent {
            seq: None,
            ..event.clone()
        });
        Ok(())
    }

    fn sequence_audit_events(&mut self, limit: u32) -> StoreResult<u64> {
        // Unnumbered events in id order (ids are time-ordered: the order they were written).
        let mut pending: Vec<uuid::Uuid> = self.events.iter().filter(|e| e.seq.is_none()).map(|e| e.id).collect();
        pending.sort_unstable();
        pending.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut last: HashMap<OrgId, u64> = HashMap::new();
        for e in &self.events {
            if let Some(s) = e.seq {
                let n = last.entry(e.org.clone()).or_insert(s);
                *n = (*n).max(s);
            }
        }
        for id in &pending {
            if let Some(e) = self.events.iter_mut().find(|e| e.id == *id) {
                let n = last.entry(e.org.clone()).or_insert(0);
                *n += 1;
                e.seq = Some(*n);
            }
        }
        Ok(count(pending.len()))
    }

    fn list_audit_events(&mut self, org: &OrgId, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let mut v: Vec<AuditEvent> = self
            .events
            .iter()
            .filter(|e| &e.org == org)
            .filter(|e| e.seq.is_some_and(|s| q.after.is_none_or(|a| s > a)))
            .filter(|e| e.seq.is_some_and(|s| q.before.is_none_or(|b| s < b)))
            .filter(|e| q.action.is_none_or(|a| e.action == a))
            .filter(|e| q.resource_type.is_none_or(|t| e.resource_type == t))
            .filter(|e| q.resource_id.is_none_or(|id| e.resource_id == id))
            .filter(|e| q.within.as_ref().is_none_or(|ids| ids.contains(&e.resource_id)))
            .cloned()
            .collect();
        v.sort_by_key(|e| e.seq);
        if q.newest_first {
            v.reverse();
        }
        v.truncate(usize::try_from(q.limit).unwrap_or(usize::MAX));
        Ok(v)
    }

    fn purge_audit_events(&mut self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let newest: HashMap<OrgId, u64> = self.events.iter().fold(HashMap::new(), |mut m, e| {
            if let Some(s) = e.seq {
                let n = m.entry(e.org.clone()).or_insert(s);
                *n = (*n).max(s);
            }
            m
        });
        let before_len = self.events.len();
        let mut left = limit;
        self.events.retain(|e| {
            let old = e.at < before && e.seq.is_some_and(|s| newest.get(&e.org).is_some_and(|&n| s < n));
            if old && left > 0 {
                left -= 1;
                false
            } else {
                true
            }
        });
        Ok(count(before_len - self.events.len()))
    }
}

/// `app`'s fields, unlinked at `at` (a cascade step changes the link alone).
fn unlinked(app: &App, at: Timestamp) -> AppEdit {
    let mut edit = app.edit();
    edit.identity_id = None;
    edit.updated_at = at;
    edit
}

fn rebuild_token(t: &ServiceToken, f: impl FnOnce(&mut ServiceTokenParts)) -> ServiceToken {
    let mut p = t.clone().into_parts();
    f(&mut p);
    ServiceToken::from_parts(p)
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    /// A clock at `unix_seconds`.
    #[must_use]
    pub fn at(unix_seconds: i64) -> Self {
        Self(Mutex::new(Timestamp::from_unix_seconds(unix_seconds).unwrap_or_else(
            || Timestamp::from_offset(time::OffsetDateTime::UNIX_EPOCH),
        )))
    }

    /// Moves the clock.
    pub fn set(&self, unix_seconds: i64) {
        if let Some(t) = Timestamp::from_unix_seconds(unix_seconds) {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = t;
        }
    }

    /// Sets the clock to an exact instant.
    pub fn set_to(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *g = g.plus_seconds(secs);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sequential, time-ordered UUIDs (`0190…-7…-8…-…0001`, `…0002`, …).
#[derive(Debug, Default)]
pub struct SeqIds(AtomicU64);

impl SeqIds {
    /// Ids after `n` (`n + 1`, `n + 2`, ...): a second service on the same database (another
    /// "replica" in a test) must not hand out the first one's ids.
    #[must_use]
    pub fn after(n: u64) -> Self {
        Self(AtomicU64::new(n))
    }
}

impl IdGenerator for SeqIds {
    fn new_uuid(&self) -> uuid::Uuid {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000_u128 | u128::from(n))
    }
}

/// Deterministic "randomness": SHA-256 of a counter. For tests only.
#[derive(Debug, Default)]
pub struct SeqRandom(AtomicU64);

impl RandomSource for SeqRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        for chunk in buf.chunks_mut(32) {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            let block = Sha256::digest(n.to_le_bytes());
            chunk.copy_from_slice(block.get(..chunk.len()).ok_or(RandomError)?);
        }
        Ok(())
    }
}

/// A test cipher: a keyed stream with a MAC over the account id, the envelope and the
/// ciphertext, so a wrong key, a moved value or an edited key id fails like a real AEAD would.
/// Under a keyring like the production cipher: values carry the [`crate::keys`] envelope of
/// the key that sealed them. Not for production.
pub struct TestCipher {
    keys: Vec<(KeyId, [u8; 32])>,
    primary: RwLock<KeyId>,
}

impl fmt::Debug for TestCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCipher")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Clone for TestCipher {
    fn clone(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            primary: RwLock::new(self.primary()),
        }
    }
}

impl TestCipher {
    /// A cipher under one key, `key`, with id `0`.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self::ring(&[("0", key)])
    }

    /// A cipher under a keyring, the first key primary.
    ///
    /// # Panics
    /// When the ring is empty or an id is invalid (a test's mistake).
    #[must_use]
    #[expect(clippy::expect_used, reason = "a test's own ring")]
    pub fn ring(keys: &[(&str, [u8; 32])]) -> Self {
        let keys: Vec<(KeyId, [u8; 32])> = keys
            .iter()
            .map(|(id, k)| (id.parse().expect("a valid key id"), *k))
            .collect();
        let primary = keys.first().map(|(id, _)| id.clone()).expect("a key");
        Self {
            keys,
            primary: RwLock::new(primary),
        }
    }

    fn key(&self, id: &KeyId) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    fn stream(key: &[u8; 32], account: AccountId, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = 0u32;
        while out.len() < len {
            let mut h = Sha256::new();
            h.update(key);
            h.update(account.as_uuid().as_bytes());
            h.update(i.to_le_bytes());
            out.extend_from_slice(&h.finalize());
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn tag(key: &[u8; 32], account: AccountId, header: &[u8], body: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| CipherError("key"))?;
        mac.update(account.as_uuid().as_bytes());
        mac.update(header);
        mac.update(body);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl SecretCipher for TestCipher {
    fn seal(&self, account: AccountId, secret: &Secret) -> Result<SealedSecret, CipherError> {
        let id = self.primary();
        let key = self.key(&id).ok_or(CipherError("key not in the keyring"))?;
        let plain = secret.expose();
        let mut out = keys::envelope(&id);
        let header_len = out.len();
        out.extend(
            plain
                .iter()
                .zip(Self::stream(key, account, plain.len()))
                .map(|(a, b)| a ^ b),
        );
        let (header, body) = out.split_at(header_len);
        let tag = Self::tag(key, account, header, body)?;
        out.extend(tag);
        Ok(SealedSecret(out))
    }

    fn open(&self, account: AccountId, sealed: &SealedSecret) -> Result<Secret, CipherError> {
        let bytes = &sealed.0;
        let (id, rest) = keys::split_envelope(bytes).ok_or(CipherError("unknown format"))?;
        let key = self.key(&id.id()).ok_or(CipherError("key not in the keyring"))?;
        if rest.len() < 33 {
            return Err(CipherError("too short"));
        }
        let header = bytes.get(..bytes.len() - rest.len()).unwrap_or_default();
        let (body, tag) = rest.split_at(rest.len() - 32);
        if Self::tag(key, account, header, body)? != tag {
            return Err(CipherError("authentication failed"));
        }
        let plain: Vec<u8> = body
            .iter()
            .zip(Self::stream(key, account, body.len()))
            .map(|(a, b)| a ^ b)
            .collect();
        Secret::from_bytes(plain).ok_or(CipherError("empty"))
    }

    fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| id.clone()).collect()
    }

    fn primary(&self) -> KeyId {
        self.primary.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_primary(&self, key: &KeyId) -> Result<(), CipherError> {
        self.key(key).ok_or(CipherError("key not in the keyring"))?;
        *self.primary.write().unwrap_or_else(PoisonError::into_inner) = key.clone();
        Ok(())
    }
}

/// A service with a handle on its clock, for tests and embedding.
pub struct Kit<S: Store = InMemoryStore> {
    /// The service.
    pub authd: Authd<S>,
    /// Its clock.
    pub clock: Arc<FixedClock>,
}

/// The fixed start time of [`kit`]: 2026-03-18T12:00:00Z.
pub const START: i64 = 1_773_835_200;

/// The test key of [`TestCipher`] used by [`kit_with`].
pub const TEST_KEY: [u8; 32] = [7; 32];

/// A service over `store` with a fixed clock at [`START`], sequential ids, deterministic
/// randomness and `cipher`.
pub fn kit_with<S: Store>(store: S, cipher: Arc<dyn SecretCipher>) -> Kit<S> {
    kit_with_ids(store, cipher, SeqIds::default())
}

/// [`kit_with`], with ids from `ids` (see [`SeqIds::after`]).
pub fn kit_with_ids<S: Store>(store: S, cipher: Arc<dyn SecretCipher>, ids: SeqIds) -> Kit<S> {
    let clock = Arc::new(FixedClock::at(START));
    let deps = Deps {
        clock: clock.clone(),
        ids: Arc::new(ids),
        rng: Arc::new(SeqRandom::default()),
        cipher,
    };
    Kit {
        authd: Authd::new(store, deps),
        clock,
    }
}

/// An in-memory service at [`START`] with the test cipher.
#[must_use]
pub fn kit() -> Kit {
    kit_with(InMemoryStore::new(), Arc::new(TestCipher::new(TEST_KEY)))
}

/// A number of rows, as the ports count them.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
