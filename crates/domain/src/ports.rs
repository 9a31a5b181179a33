//! Ports: what the domain needs from the outside world. Every port is synchronous; the HTTP
//! adapter runs one whole use case (and so one unit of work) in one blocking task.
//!
//! Error contracts are part of each method's documentation (`# Errors`): an adapter that
//! returns another variant than the one documented breaks the domain's rules (a unique
//! violation that is not reported as [`StoreError::Conflict`] would surface as a 500 instead of
//! a 409).

use std::fmt;

use crate::audit::{AuditEvent, AuditQuery};
use crate::cascade::CascadePlan;
use crate::entities::{Account, AccountEdit, App, AppEdit, Identity, IdentityEdit, Instance, ServiceToken};
use crate::error::Opaque;
use crate::ids::{AccountId, AppId, IdentityId, InstanceId, OrgId, TokenId};
use crate::keys::{KeyEvent, KeyId, KeyringRecord, ReplicaBeat, SealedCounts};
use crate::otp::{Algorithm, Digits, Secret};
use crate::throttle::LockSchedule;
use crate::time::Timestamp;
use crate::token::TokenHash;
use crate::values::{Handle, IdentityStatus, TokenLifetime};

pub use crate::error::ConflictKind;

/// Failures of the storage port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (a unique violation in SQL terms): one of
    /// [`ConflictKind::HandleTaken`], [`ConflictKind::IdentityHasApp`] or
    /// [`ConflictKind::Unique`], never a state rule.
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    /// The database cannot be reached, no connection could be had in time, or a lock could not
    /// be had in time (SQLite's busy timeout): the request may succeed if retried.
    #[error("storage unavailable: {0}")]
    Unavailable(Opaque),
    /// Anything else (a bug, a corrupt row, a failed statement).
    #[error("storage failure: {0}")]
    Other(Opaque),
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(kind) => Self::Conflict(kind),
            StoreError::Unavailable(o) => Self::Unavailable(o),
            StoreError::Other(o) => Self::Internal(o),
        }
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// An encrypted account secret, opaque to everyone but the [`SecretCipher`].
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(pub Vec<u8>);

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// Everything OTP generation needs about one account, read in one go.
#[derive(Clone, Debug)]
pub struct OtpMaterial {
    /// The account.
    pub account: Account,
    /// Its sealed secret.
    pub sealed: SealedSecret,
    /// The status of the identity the account's app is linked to (`None` when unlinked).
    pub identity_status: Option<IdentityStatus>,
}

/// What [`AccountRepo::advance_hotp_if_sealed`] gives when it advanced the counter: the value
/// to use and what the code is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotpUse {
    /// The counter value to use (the one before the increment).
    pub counter: u64,
    /// The account's algorithm.
    pub algorithm: Algorithm,
    /// The account's digits.
    pub digits: Digits,
}

/// Outcome of [`AccountRepo::advance_hotp_counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotpAdvance {
    /// The counter was advanced; use this value (the one before the increment).
    Use(u64),
    /// The counter is at its maximum and was not changed.
    Exhausted,
    /// No live HOTP account has this id.
    Missing,
}

/// The verification state of an account (authd's columns of the account row): what replay
/// protection and throttling decide on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VerificationState {
    /// TOTP: the last time step a verification accepted; it and every earlier step are never
    /// accepted again. `None` before the first success (and always for HOTP).
    pub last_verified_step: Option<u64>,
    /// Failed verifications since the last success.
    pub failed_attempts: u32,
    /// Verifications are refused until then; `None` when never locked or unlocked by a success.
    pub locked_until: Option<Timestamp>,
    /// HOTP: the stored counter, the next one to be used (verification and generation share
    /// it); `None` for TOTP.
    pub counter: Option<u64>,
}

/// Everything a verification needs about one account, read in one go.
#[derive(Clone, Debug)]
pub struct VerifyMaterial {
    /// The account, its sealed secret and its identity's status.
    pub otp: OtpMaterial,
    /// Its verification state.
    pub state: VerificationState,
}

/// Outcome of [`VerifyRepo::record_verify_success_totp`] and [`VerifyRepo::record_verify_success_hotp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuccessRecord {
    /// The success was recorded (the step or counter is now used, the failures reset).
    Recorded,
    /// Nothing changed: the account is locked, the step or counter was used meanwhile, or no
    /// live account of that type has this id. Read [`VerifyRepo::verification_state`] to tell which.
    Refused,
}

/// Outcome of [`VerifyRepo::record_verify_failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureRecord {
    /// The failure was counted and the account locked by the schedule.
    Recorded {
        /// Consecutive failures, this one included.
        failed_attempts: u32,
    },
    /// Nothing changed: the account is locked (or no live account has this id). Read
    /// [`VerifyRepo::verification_state`] to tell which.
    Refused,
}

/// How a locking read ([`AppRepo::lock_app`] and the other `lock_*` methods) holds the row it
/// returns until the surrounding [`Store::transaction`] ends.
///
/// The use cases decide on what they read; on a database where transactions run side by side
/// (PostgreSQL, read committed, any number of replicas) a decision is only sound while the rows
/// it was taken on cannot change. Two modes are enough:
///
/// | mode | others may | used by |
/// |---|---|---|
/// | `Share` | read it, share-lock it; not change or update-lock it | adding children under a parent (accounts, instances) |
/// | `Update` | read it; not lock or change it | changing or deleting the row, linking, unlinking |
///
/// Lock order, so that two transactions never wait on each other in a circle: identities, then
/// apps, then accounts and instances. A use case that needs several rows locks them in that
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Keep the row as it is (it may be share-locked by others too).
    Share,
    /// Keep the row as it is and keep every other locker out.
    Update,
}

/// The operations of one unit of work. Every method is scoped by organization (except the
/// token look-ups, which find the org from a token hash) and sees only live records unless its
/// documentation says otherwise.
///
/// Unless stated, methods return only [`StoreError::Unavailable`] or [`StoreError::Other`] as
/// errors.
///
/// One trait per resource, mirroring `service/`: an adapter implements each in its module of
/// that resource. Updates take the resource's `*Edit` (e.g. [`AccountEdit`]): every mutable
/// field, written whole, so two stores cannot disagree on which columns an update writes.
pub trait Repo:
    IdentityRepo + AppRepo + AccountRepo + VerifyRepo + InstanceRepo + CascadeRepo + TokenRepo + AuditRepo + KeyRepo
{
}

impl<
    T: ?Sized
        + IdentityRepo
        + AppRepo
        + AccountRepo
        + VerifyRepo
        + InstanceRepo
        + CascadeRepo
        + TokenRepo
        + AuditRepo
        + KeyRepo,
> Repo for T
{
}

/// Identities (`service/identities.rs`). Part of [`Repo`].
pub trait IdentityRepo {
    /// Inserts a new identity.
    ///
    /// # Errors
    /// [`StoreError::Conflict`]`(HandleTaken)` when a live identity of the org has the handle.
    fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()>;
    /// The live identity with this handle.
    ///
    /// # Errors
    /// Infrastructure only.
    fn identity_by_handle(&mut self, org: &OrgId, handle: &Handle) -> StoreResult<Option<Identity>>;
    /// The live identity with this id.
    ///
    /// # Errors
    /// Infrastructure only.
    fn identity_by_id(&mut self, org: &OrgId, id: IdentityId) -> StoreResult<Option<Identity>>;
    /// The org's live identities, newest first (by creation time, then id).
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_identities(&mut self, org: &OrgId) -> StoreResult<Vec<Identity>>;
    /// Writes every field of `edit` (and nothing else) to the live identity `id`: the one
    /// description of an identity change, so that no store writes a column another forgets.
    ///
    /// # Errors
    /// [`StoreError::Conflict`]`(HandleTaken)` when another live identity has the new handle.
    fn update_identity(&mut self, org: &OrgId, id: IdentityId, edit: &IdentityEdit) -> StoreResult<()>;
    /// The live identity with this handle, locked (see [`Lock`]) until the transaction ends.
    ///
    /// Locking reads, all of them: inside [`Store::transaction`] they return the row as last
    /// committed, waiting first for any transaction holding a conflicting lock (a row deleted or
    /// renamed meanwhile is then `None`), and no other transaction can change the row until
    /// this one ends. Outside a transaction ([`Store::run`]) they are plain reads.
    ///
    /// # Errors
    /// Infrastructure only (a deadlock among lockers is the adapter's to retry, see
    /// [`Store::transaction`]).
    fn lock_identity_by_handle(&mut self, org: &OrgId, handle: &Handle, lock: Lock) -> StoreResult<Option<Identity>>;
    /// The live identity with this id, locked (see [`IdentityRepo::lock_identity_by_handle`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn lock_identity_by_id(&mut self, org: &OrgId, id: IdentityId, lock: Lock) -> StoreResult<Option<Identity>>;
}

/// Apps (`service/apps.rs`). Part of [`Repo`].
pub trait AppRepo {
    /// Inserts a new app and its audit `event`: both or neither, inside a transaction or not
    /// (outside one the adapter makes the pair atomic itself, as for
    /// [`AccountRepo::advance_hotp_counter`]).
    ///
    /// # Errors
    /// [`StoreError::Conflict`]`(IdentityHasApp)` when it is linked to an identity that already
    /// has a live app.
    fn insert_app(&mut self, app: &App, event: &AuditEvent) -> StoreResult<()>;
    /// The live app with this id.
    ///
    /// # Errors
    /// Infrastructure only.
    fn app(&mut self, org: &OrgId, id: AppId) -> StoreResult<Option<App>>;
    /// The live app linked to this identity.
    ///
    /// # Errors
    /// Infrastructure only.
    fn app_of_identity(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Option<App>>;
    /// The org's live apps, oldest first.
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_apps(&mut self, org: &OrgId) -> StoreResult<Vec<App>>;
    /// Writes every field of `edit` (and nothing else) to the live app `id` (see
    /// [`IdentityRepo::update_identity`]).
    ///
    /// # Errors
    /// [`StoreError::Conflict`]`(IdentityHasApp)` when the identity already has another live app.
    fn update_app(&mut self, org: &OrgId, id: AppId, edit: &AppEdit) -> StoreResult<()>;
    /// The live app with this id, locked (see [`IdentityRepo::lock_identity_by_handle`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn lock_app(&mut self, org: &OrgId, id: AppId, lock: Lock) -> StoreResult<Option<App>>;
}

/// OTP accounts and code generation (`service/accounts.rs`). Part of [`Repo`].
pub trait AccountRepo {
    /// Inserts an account with its sealed secret.
    ///
    /// # Errors
    /// Infrastructure only.
    fn insert_account(&mut self, account: &Account, sealed: &SealedSecret) -> StoreResult<()>;
    /// The live account with this id inside this live app.
    ///
    /// # Errors
    /// Infrastructure only.
    fn account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>>;
    /// The live accounts of a live app, oldest first; `None` when the app is not live (one
    /// query answers both, so a list costs one round trip).
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_accounts(&mut self, org: &OrgId, app: AppId) -> StoreResult<Option<Vec<Account>>>;
    /// Writes every field of `edit` (and nothing else) to the live account `id` (see
    /// [`IdentityRepo::update_identity`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn update_account(&mut self, org: &OrgId, id: AccountId, edit: &AccountEdit) -> StoreResult<()>;
    /// The account (live, inside this live app), its sealed secret and its identity's status.
    ///
    /// # Errors
    /// Infrastructure only.
    fn otp_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<OtpMaterial>>;
    /// Atomically advances a live HOTP account's counter by one, in one statement, unless it is
    /// already at [`crate::otp::MAX_COUNTER`], and records `event` with it: both or neither,
    /// inside a transaction or not (outside one, the adapter makes the pair atomic itself). Two
    /// concurrent calls (from any number of processes) never get the same value. Does not change
    /// `updated_at` (using an account is not editing it). No event is written when the counter
    /// did not move.
    ///
    /// # Errors
    /// Infrastructure only.
    fn advance_hotp_counter(&mut self, org: &OrgId, id: AccountId, event: &AuditEvent) -> StoreResult<HotpAdvance>;
    /// The HOTP code's one statement, for an account whose sealed secret the caller has opened
    /// before: when the live account `id` inside the live app `app` is a HOTP account whose
    /// sealed secret is exactly `sealed`, whose app's identity (if linked) is not paused, and
    /// whose counter is below [`crate::otp::MAX_COUNTER`], advances the counter and records
    /// `event` as [`Self::advance_hotp_counter`] does (atomically, in one statement on
    /// PostgreSQL, so one round trip in all), and returns the value to use. Otherwise changes
    /// nothing and returns `None`: the caller reads the material to tell why. Because the
    /// sealed value must equal one that opened, a secret that cannot be opened never moves the
    /// counter.
    ///
    /// # Errors
    /// Infrastructure only.
    fn advance_hotp_if_sealed(
        &mut self,
        org: &OrgId,
        app: AppId,
        id: AccountId,
        sealed: &SealedSecret,
        event: &AuditEvent,
    ) -> StoreResult<Option<HotpUse>>;
    /// The live account with this id inside this live app, locked for update (the app is not
    /// locked; see [`IdentityRepo::lock_identity_by_handle`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn lock_account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>>;
}

/// Code verification: replay protection and throttling (`service/verify.rs`). Part of [`Repo`].
pub trait VerifyRepo {
    /// What [`AccountRepo::otp_material`] reads, and the account's [`VerificationState`], in one read.
    ///
    /// # Errors
    /// Infrastructure only.
    fn verify_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<VerifyMaterial>>;
    /// The verification state of a live account (its app is not looked at: deleting an app
    /// deletes its accounts). Read again after a `record_verify_*` call was refused.
    ///
    /// # Errors
    /// Infrastructure only.
    fn verification_state(&mut self, org: &OrgId, id: AccountId) -> StoreResult<Option<VerificationState>>;
    /// Records an accepted TOTP time step in **one conditional statement**: on the live TOTP
    /// account, when no step at or after `step` was accepted before and the account is not
    /// locked at `now` (`locked_until` null or `<= now`), sets `last_verified_step = step`,
    /// `failed_attempts = 0`, `locked_until = null`; otherwise changes nothing. So of any number
    /// of concurrent calls for one step (from any number of processes), at most one is
    /// `Recorded`. Does not change `updated_at` (using an account is not editing it). When
    /// `Recorded`, `event` is written with it, atomically (see [`AccountRepo::advance_hotp_counter`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn record_verify_success_totp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        step: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord>;
    /// Records an accepted HOTP counter in **one conditional statement**: on the live HOTP
    /// account, when its counter is still at most `matched` and it is not locked at `now`, sets
    /// `counter = matched + 1`, `failed_attempts = 0`, `locked_until = null`; otherwise changes
    /// nothing. `matched` is below [`crate::otp::MAX_COUNTER`]. Of concurrent calls for one
    /// counter, at most one is `Recorded`; a generation racing it gets a counter the success did
    /// not use, or finds it moved past. Does not change `updated_at`. When `Recorded`, `event`
    /// is written with it, atomically.
    ///
    /// # Errors
    /// Infrastructure only.
    fn record_verify_success_hotp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        matched: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord>;
    /// Counts a failed verification in **one conditional statement**: on the live account, when
    /// it is not locked at `schedule.now()`, adds one to `failed_attempts` and sets
    /// `locked_until` to `schedule.deadline_after(new count)` (entry `min(old count, 10)` of
    /// [`LockSchedule::deadlines`]), returning the new count; otherwise changes nothing. The
    /// count is the database's (never a value read earlier), so concurrent failures are never
    /// lost: each is either `Recorded` with its own count or `Refused` because an earlier one
    /// locked the account. Does not change `updated_at`. When `Recorded`, `event` is written
    /// with it, atomically.
    ///
    /// # Errors
    /// Infrastructure only.
    fn record_verify_failure(
        &mut self,
        org: &OrgId,
        id: AccountId,
        schedule: &LockSchedule,
        event: &AuditEvent,
    ) -> StoreResult<FailureRecord>;
}

/// App instances and device sessions (`service/instances.rs`, `service/device.rs`). Part of [`Repo`].
pub trait InstanceRepo {
    /// Inserts an instance and the hash of its device token.
    ///
    /// # Errors
    /// Infrastructure only.
    fn insert_instance(&mut self, instance: &Instance, token: &TokenHash) -> StoreResult<()>;
    /// The live instance with this id inside this live app.
    ///
    /// # Errors
    /// Infrastructure only.
    fn instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>>;
    /// The live instances of an app, oldest first.
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_instances(&mut self, org: &OrgId, app: AppId) -> StoreResult<Vec<Instance>>;
    /// The live instances enrolled for an identity, oldest first.
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_identity_instances(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Vec<Instance>>;
    /// An instance ever enrolled for this identity, revoked or not.
    ///
    /// # Errors
    /// Infrastructure only.
    fn identity_instance_any(
        &mut self,
        org: &OrgId,
        identity: IdentityId,
        id: InstanceId,
    ) -> StoreResult<Option<Instance>>;
    /// The live instance whose device token has this hash (in any org).
    ///
    /// # Errors
    /// Infrastructure only.
    fn device_by_token(&mut self, token: &TokenHash) -> StoreResult<Option<Instance>>;
    /// Sets a live instance's `last_used_at`.
    ///
    /// # Errors
    /// Infrastructure only.
    fn touch_instance(&mut self, org: &OrgId, id: InstanceId, at: Timestamp) -> StoreResult<()>;
    /// The live instance with this id inside this live app, locked for update (the app is not
    /// locked; see [`IdentityRepo::lock_identity_by_handle`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn lock_instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>>;
}

/// Soft-delete cascades (`cascade.rs`). Part of [`Repo`].
pub trait CascadeRepo {
    /// Applies a soft-delete cascade: every step, with the plan's one timestamp.
    ///
    /// # Errors
    /// Infrastructure only.
    fn apply_cascade(&mut self, plan: &CascadePlan) -> StoreResult<()>;
}

/// Service tokens (`service/tokens.rs`). Part of [`Repo`].
pub trait TokenRepo {
    /// Inserts a service token's metadata and hash.
    ///
    /// # Errors
    /// Infrastructure only.
    fn insert_service_token(&mut self, token: &ServiceToken, hash: &TokenHash) -> StoreResult<()>;
    /// The unrevoked service token with this hash.
    ///
    /// # Errors
    /// Infrastructure only.
    fn service_token_by_hash(&mut self, hash: &TokenHash) -> StoreResult<Option<ServiceToken>>;
    /// The unrevoked service token with this id, locked against revocation until the unit of
    /// work ends (`FOR SHARE`: a revocation waits, then sees what was minted under the lock).
    ///
    /// # Errors
    /// Infrastructure only.
    fn lock_service_token(&mut self, id: TokenId) -> StoreResult<Option<ServiceToken>>;
    /// Every service token (revoked ones too), of one org or of all, oldest first.
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_service_tokens(&mut self, org: Option<&OrgId>) -> StoreResult<Vec<ServiceToken>>;
    /// Revokes a token (one conditional statement); its organization, or `None` when no
    /// unrevoked token has this id (so of two concurrent revocations one gets `None`).
    ///
    /// # Errors
    /// Infrastructure only.
    fn revoke_service_token(&mut self, id: TokenId, at: Timestamp) -> StoreResult<Option<OrgId>>;
    /// Sets a token's `last_used_at` to `at` when it is unset or before `stale_before` (one
    /// conditional statement, so replicas racing to record a use write it once).
    ///
    /// # Errors
    /// Infrastructure only.
    fn touch_service_token(&mut self, id: TokenId, at: Timestamp, stale_before: Timestamp) -> StoreResult<()>;
    /// The organization's maximum token lifetime, if one is set.
    ///
    /// # Errors
    /// Infrastructure only (a stored value out of bounds is a corrupt row).
    fn max_token_lifetime(&mut self, org: &OrgId) -> StoreResult<Option<TokenLifetime>>;
    /// Sets (or with `None` clears) the organization's maximum token lifetime.
    ///
    /// # Errors
    /// Infrastructure only.
    fn set_max_token_lifetime(&mut self, org: &OrgId, max: Option<TokenLifetime>, at: Timestamp) -> StoreResult<()>;
}

/// The audit trail (`service/audit.rs`). Part of [`Repo`].
pub trait AuditRepo {
    /// Inserts an audit event, unnumbered (its `seq` is ignored). Called inside the unit of work
    /// of the change it records, so both commit or neither does. Outside a transaction it is a
    /// unit of work of its own, for an event that records no change (a TOTP code handed out):
    /// committed when this returns, but an adapter may commit it without waiting for the
    /// database's durable flush (PostgreSQL's asynchronous commit), so a crash of the database
    /// server may lose the last fraction of a second of such events. A change's event is never
    /// written this way.
    ///
    /// # Errors
    /// Infrastructure only.
    fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()>;
    /// Numbers every committed, unnumbered event: per organization, continuing after its highest
    /// number without a gap, oldest (by id) first. Runs inside [`Store::transaction`], one
    /// sequencer at a time across every process (on PostgreSQL an advisory transaction lock, on
    /// SQLite the write lock), so numbers are never given twice and an event committed late is
    /// numbered after every event numbered before it. Returns how many were numbered.
    ///
    /// # Errors
    /// Infrastructure only.
    ///
    /// At most `limit` events are numbered per call, the oldest first: a caller numbers a
    /// backlog in several units of work, each short.
    fn sequence_audit_events(&mut self, limit: u32) -> StoreResult<u64>;
    /// The organization's numbered events matching the query (numbered after `after` and
    /// before `before`), by number: oldest first, or newest first when `newest_first` (then
    /// the page is the `limit` highest numbers of the range).
    ///
    /// # Errors
    /// Infrastructure only.
    fn list_audit_events(&mut self, org: &OrgId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes at most `limit` numbered events older than `before`, except each organization's
    /// newest one (which keeps its numbering going); unnumbered events are never deleted.
    /// Returns how many (fewer than `limit`: none is left to delete).
    ///
    /// # Errors
    /// Infrastructure only.
    fn purge_audit_events(&mut self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// One stored sealed value, as the rewrap reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRow {
    /// The account (live or deleted).
    pub account: AccountId,
    /// Its organization.
    pub org: OrgId,
    /// Its sealed secret, as read.
    pub sealed: SealedSecret,
}

/// The keyring's records and the sealed values by key (`service/keys.rs`). Part of [`Repo`].
///
/// Every account's sealed secret counts, deleted accounts' included: a deleted account's value
/// is still a value under its key.
pub trait KeyRepo {
    /// The recorded primary and retired keys. With `lock`, inside a transaction, the record is
    /// locked (PostgreSQL `FOR SHARE`/`FOR UPDATE` of its one row; SQLite: the write lock every
    /// transaction holds), so a promotion and a replica's registration never interleave.
    ///
    /// # Errors
    /// Infrastructure only.
    fn keyring(&mut self, lock: Option<Lock>) -> StoreResult<KeyringRecord>;
    /// Records `key` as the primary.
    ///
    /// # Errors
    /// Infrastructure only.
    fn set_primary_key(&mut self, key: &KeyId, at: Timestamp) -> StoreResult<()>;
    /// Records `key` as retired.
    ///
    /// # Errors
    /// Infrastructure only.
    fn retire_key(&mut self, key: &KeyId, at: Timestamp) -> StoreResult<()>;
    /// Inserts or refreshes a replica's heartbeat (by its id).
    ///
    /// # Errors
    /// Infrastructure only.
    fn beat(&mut self, replica: &ReplicaBeat) -> StoreResult<()>;
    /// Removes a replica's heartbeat (it stops), and every heartbeat last seen before
    /// `stale_before` (replicas gone without a word).
    ///
    /// # Errors
    /// Infrastructure only.
    fn forget_replicas(&mut self, id: Option<&str>, stale_before: Timestamp) -> StoreResult<()>;
    /// The replicas seen at or after `since`, by id.
    ///
    /// # Errors
    /// Infrastructure only.
    fn replicas(&mut self, since: Timestamp) -> StoreResult<Vec<ReplicaBeat>>;
    /// How many sealed values name each key (by their envelope, see [`crate::keys`]).
    ///
    /// # Errors
    /// Infrastructure only.
    fn count_sealed(&mut self) -> StoreResult<SealedCounts>;
    /// At most `limit` sealed values not under `key` (of any key, or of none), with an account
    /// id greater than `after`, by account id.
    ///
    /// # Errors
    /// Infrastructure only.
    fn sealed_not_under(&mut self, key: &KeyId, after: Option<AccountId>, limit: u32) -> StoreResult<Vec<SealedRow>>;
    /// Replaces `account`'s sealed value by `new` if it is still `old` (one conditional
    /// statement: a value changed since it was read is left alone). Returns whether it was
    /// replaced. Touches nothing else (not `updated_at`, not the HOTP counter).
    ///
    /// # Errors
    /// Infrastructure only.
    fn replace_sealed(&mut self, account: AccountId, old: &SealedSecret, new: &SealedSecret) -> StoreResult<bool>;
    /// Records a system event of the keyring (a promotion, a retirement, a rewrap's end): not
    /// an organization's, so not in any organization's audit trail.
    ///
    /// # Errors
    /// Infrastructure only.
    fn insert_key_event(&mut self, event: &KeyEvent) -> StoreResult<()>;
    /// The newest `limit` key events, newest first.
    ///
    /// # Errors
    /// Infrastructure only.
    fn key_events(&mut self, limit: u32) -> StoreResult<Vec<KeyEvent>>;
}

/// The unit-of-work boundary.
///
/// - `transaction` runs its closure in one transaction that commits when the closure returns
///   `Ok` and rolls back (changing nothing) when it returns `Err`. On SQLite the transaction
///   takes the write lock up front (`BEGIN IMMEDIATE`), so it never fails on upgrade. Every use
///   case that writes more than one statement, or decides on what it read, uses it, and locks
///   the rows it decides on (the `lock_*` reads of [`Repo`]): that is what makes it correct
///   when transactions of many processes run side by side.
///
///   When the database aborts the transaction because it lost a race it cannot wait out (a
///   deadlock among lockers, a serialization failure), the adapter rolls back and runs the
///   closure again, a bounded number of times, before answering
///   [`StoreError::Unavailable`]. So the closure must have no effect outside the [`Repo`] it is
///   given (it is `FnMut` for that reason).
/// - `run` gives the same operations without a surrounding transaction: every statement is
///   atomic on its own (autocommit). It serves reads and single-statement writes (the HOTP
///   counter advance, `last_used_at` touches, the verification records), saving the
///   `BEGIN`/`COMMIT` round trips on the hot path. A cascade belongs in `transaction` (adapters must still apply a multi-step
///   cascade atomically if called from `run`).
pub trait Store: Send + Sync + 'static {
    /// Runs `f` on one connection, each statement committing on its own.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Unavailable`] (converted) when no connection can be had.
    fn run<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E>;
    /// Runs `f` in one transaction.
    ///
    /// # Errors
    /// Whatever `f` returns (after rolling back), or a [`StoreError`] (converted) when the
    /// transaction cannot begin or commit.
    fn transaction<T, E: From<StoreError>>(&self, f: impl FnMut(&mut dyn Repo) -> Result<T, E>) -> Result<T, E>;
    /// Checks that the database answers (for readiness probes).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    fn ping(&self) -> StoreResult<()>;
}

/// A shared store is a store: several services (replicas, in tests) over one database.
impl<S: Store> Store for std::sync::Arc<S> {
    fn run<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        (**self).run(f)
    }

    fn transaction<T, E: From<StoreError>>(&self, f: impl FnMut(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        (**self).transaction(f)
    }

    fn ping(&self) -> StoreResult<()> {
        (**self).ping()
    }
}

/// The current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, truncated to microseconds.
    fn now(&self) -> Timestamp;
}

/// New identifiers (UUID v7 in production, deterministic in tests).
pub trait IdGenerator: Send + Sync + 'static {
    /// A fresh, unique UUID.
    fn new_uuid(&self) -> uuid::Uuid;
}

/// Cryptographically secure randomness.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `buf`.
    ///
    /// # Errors
    /// [`RandomError`] when the system has no randomness to give.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The system's randomness failed.
#[derive(Debug, thiserror::Error)]
#[error("randomness unavailable")]
pub struct RandomError;

/// Encrypts account secrets at rest, bound to their account (associated data), so a ciphertext
/// moved to another row does not open.
pub trait SecretCipher: Send + Sync + 'static {
    /// Seals a secret for this account.
    ///
    /// # Errors
    /// [`CipherError`] when encryption is impossible (no randomness).
    fn seal(&self, account: AccountId, secret: &Secret) -> Result<SealedSecret, CipherError>;
    /// Opens a sealed secret of this account.
    ///
    /// # Errors
    /// [`CipherError`] when the key is wrong, the value was tampered with or moved from another
    /// account, or the key version is unknown.
    fn open(&self, account: AccountId, sealed: &SealedSecret) -> Result<Secret, CipherError>;
    /// The ids of the keyring, in configuration order.
    fn key_ids(&self) -> Vec<KeyId>;
    /// The key that seals new values.
    fn primary(&self) -> KeyId;
    /// Makes `key` the one that seals new values (the primary recorded in the database).
    ///
    /// # Errors
    /// [`CipherError`] when `key` is not in the ring (nothing changes).
    fn set_primary(&self, key: &KeyId) -> Result<(), CipherError>;
    /// Opens a value and seals it again under the primary; the plaintext never leaves the
    /// cipher's call.
    ///
    /// # Errors
    /// As [`SecretCipher::open`] and [`SecretCipher::seal`].
    fn reseal(&self, account: AccountId, sealed: &SealedSecret) -> Result<SealedSecret, CipherError> {
        let secret = self.open(account, sealed)?;
        self.seal(account, &secret)
    }
}

/// A secret could not be sealed or opened. Carries no detail that could help an attacker.
#[derive(Debug, thiserror::Error)]
#[error("secret cipher failure: {0}")]
pub struct CipherError(pub &'static str);
