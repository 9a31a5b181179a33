//! The [`Repo`] port on one pooled connection. Every request-path operation is one statement
//! (the HOTP advance adds a second only when the first changed nothing; so does a verification
//! record, see `verify.rs`), every query is
//! scoped by `org_id` (token look-ups excepted: they find the org from the hash), and only live
//! rows are seen unless the port says otherwise.

use diesel::dsl::{Eq, Filter, IsNull};
use diesel::prelude::*;
use domain::audit::{AuditEvent, AuditQuery};
use domain::cascade::{CascadePlan, CascadeStep};
use domain::entities::{Account, App, Identity, Instance, ServiceToken};
use domain::error::Opaque;
use domain::ids::{AccountId, AppId, IdentityId, InstanceId, OrgId, TokenId};
use domain::otp::OtpType;
use domain::ports::{
    DeviceSession, FailureRecord, HotpAdvance, Lock, OtpMaterial, Repo, SealedSecret, StoreError, StoreResult,
    SuccessRecord, VerificationState, VerifyMaterial,
};
use domain::throttle::LockSchedule;
use domain::time::Timestamp;
use domain::token::TokenHash;
use domain::values::{Description, DisplayName, Handle, IdentityStatus};

use crate::pool::{AnyConnection, Conn, in_transaction};
use crate::rows::{
    AccountRow, AppRow, AuditRow, IdentityRow, InstanceRow, NewAccount, NewApp, NewAuditEvent, NewIdentity,
    NewInstance, NewServiceToken, ServiceTokenRow, VerificationColumns, corrupt, id_text, ts, verification_state,
};
use crate::schema::{accounts, apps, audit_events, identities, instances, service_tokens};
use crate::verify::{RecordFailure, RecordHotpSuccess, RecordTotpSuccess};

/// The operations of one unit of work on one connection.
pub(crate) struct DieselRepo<'c> {
    conn: &'c mut Conn,
    /// Whether a transaction surrounds this unit of work (`Store::transaction`), or every
    /// statement commits on its own (`Store::run`).
    in_tx: bool,
}

impl<'c> DieselRepo<'c> {
    pub(crate) fn new(conn: &'c mut Conn, in_tx: bool) -> Self {
        Self { conn, in_tx }
    }

    /// Runs `record` (one conditional statement) and, when it recorded something, inserts
    /// `event`: both in the surrounding transaction, or in one of their own (so a recorded
    /// outcome never lacks its event).
    fn with_event<T: Recorded>(
        &mut self,
        event: &AuditEvent,
        record: impl Fn(&mut DieselRepo<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let both = |repo: &mut DieselRepo<'_>| {
            let outcome = record(repo)?;
            if outcome.recorded() {
                repo.insert_audit_event(event)?;
            }
            Ok::<_, domain::ports::StoreError>(outcome)
        };
        if self.in_tx {
            both(self)
        } else {
            in_transaction(self.conn, |conn| both(&mut DieselRepo::new(conn, true)))
        }
    }
}

/// Whether a conditional statement changed its row.
trait Recorded {
    fn recorded(&self) -> bool;
}

impl Recorded for SuccessRecord {
    fn recorded(&self) -> bool {
        matches!(self, Self::Recorded)
    }
}

impl Recorded for FailureRecord {
    fn recorded(&self) -> bool {
        matches!(self, Self::Recorded { .. })
    }
}

/// Runs one statement on the concrete connection (`SqliteConnection` or `PgConnection`; the
/// body is compiled once for each), mapping its error and noting a lost connection.
///
/// (There is deliberately no common `Connection` over the two: diesel's `MultiConnection`, which
/// an earlier version used, renders a statement's SQL text again on every execution and
/// converts every value through its own row types; docs/PERFORMANCE.md has the cost.) On the
/// concrete connection a statement with a static query id is found in the prepared-statement
/// cache by its type alone.
macro_rules! db {
    ($repo:expr, |$c:ident| $body:expr) => {{
        let repo: &mut DieselRepo<'_> = $repo;
        let result = match &mut repo.conn.inner {
            AnyConnection::Sqlite($c) => $body,
            AnyConnection::Postgresql($c) => $body,
        };
        result.map_err(|e| repo.conn.fail(e))
    }};
}

/// [`db!`] for a statement that writes: in this process's turn to write (SQLite) when no
/// transaction (which took the turn already) surrounds it.
macro_rules! write_db {
    ($repo:expr, |$c:ident| $body:expr) => {{
        let repo: &mut DieselRepo<'_> = $repo;
        let gate = if repo.in_tx { None } else { repo.conn.gate() };
        let _turn = Conn::write_turn(gate.as_ref());
        db!(repo, |$c| $body)
    }};
}

/// A locking read of one row (see [`Lock`]): `FOR SHARE` or `FOR UPDATE` on PostgreSQL, where
/// the row stays locked until the transaction ends (and a row changed meanwhile by the holder of
/// a conflicting lock is read again after it commits). On SQLite a plain read: a transaction
/// there holds the database's one write lock from its `BEGIN IMMEDIATE` on, so no other writer
/// of any process runs until it ends, and what it read cannot change under it.
macro_rules! lock_db {
    ($repo:expr, $lock:expr, |$c:ident| $query:expr) => {{
        let repo: &mut DieselRepo<'_> = $repo;
        let result = match &mut repo.conn.inner {
            AnyConnection::Sqlite($c) => $query.get_result($c).optional(),
            AnyConnection::Postgresql($c) => match $lock {
                Lock::Share => $query.for_share().get_result($c).optional(),
                Lock::Update => $query.for_update().get_result($c).optional(),
            },
        };
        result.map_err(|e| repo.conn.fail(e))
    }};
}

/// Taken by the audit sequencer on PostgreSQL, released when its transaction ends.
const SEQUENCER_LOCK: &str = "SELECT pg_advisory_xact_lock(7306296906616530946)";

/// Numbers every unnumbered event (PostgreSQL): per organization, after its highest number, by
/// id (UUID v7: creation order).
const SEQUENCE_EVENTS: &str = "UPDATE audit_events SET seq = numbered.seq \
    FROM (SELECT e.id AS id, \
                 COALESCE((SELECT MAX(m.seq) FROM audit_events m WHERE m.org_id = e.org_id), 0) \
                   + ROW_NUMBER() OVER (PARTITION BY e.org_id ORDER BY e.id) AS seq \
          FROM audit_events e WHERE e.seq IS NULL) AS numbered \
    WHERE audit_events.id = numbered.id";

/// [`SEQUENCE_EVENTS`] on SQLite: the unnumbered events are those after the sequencer's place,
/// numbered in rowid (= commit) order.
const SEQUENCE_EVENTS_SQLITE: &str = "UPDATE audit_events SET seq = numbered.seq \
    FROM (SELECT e.pos AS pos, \
                 COALESCE((SELECT MAX(m.seq) FROM audit_events m WHERE m.org_id = e.org_id), 0) \
                   + ROW_NUMBER() OVER (PARTITION BY e.org_id ORDER BY e.pos) AS seq \
          FROM audit_events e WHERE e.pos > (SELECT last_pos FROM audit_sequencer)) AS numbered \
    WHERE audit_events.pos = numbered.pos";

/// Moves the SQLite sequencer's place past every event (all are numbered now).
const ADVANCE_SEQUENCER_SQLITE: &str =
    "UPDATE audit_sequencer SET last_pos = COALESCE((SELECT MAX(pos) FROM audit_events), last_pos)";

/// Deletes numbered events older than the bound, except each organization's newest.
const PURGE_EVENTS: &str = "DELETE FROM audit_events WHERE seq IS NOT NULL AND at < $1 \
    AND seq < (SELECT MAX(m.seq) FROM audit_events m WHERE m.org_id = audit_events.org_id)";

/// `accounts` filtered by org and id.
type AccountById<'a> = Filter<Filter<accounts::table, Eq<accounts::org_id, &'a str>>, Eq<accounts::id, &'a str>>;
/// [`AccountById`], live and HOTP.
type LiveHotp<'a> = Filter<Filter<AccountById<'a>, Eq<accounts::otp_type, &'static str>>, IsNull<accounts::deleted_at>>;

/// `apps` filtered by org and id, live.
type LiveAppById<'a> =
    Filter<Filter<Filter<apps::table, Eq<apps::org_id, &'a str>>, Eq<apps::id, &'a str>>, IsNull<apps::deleted_at>>;

/// The id of the live app `id` of `org` (as a subquery: empty when the app is not live).
fn live_app_id<'a>(org: &'a OrgId, id: &'a str) -> diesel::dsl::Select<LiveAppById<'a>, apps::id> {
    apps::table
        .filter(apps::org_id.eq(org.as_str()))
        .filter(apps::id.eq(id))
        .filter(apps::deleted_at.is_null())
        .select(apps::id)
}

/// The live HOTP account `id` of `org`.
fn hotp_filter<'a>(org: &'a OrgId, id: &'a str) -> LiveHotp<'a> {
    accounts::table
        .filter(accounts::org_id.eq(org.as_str()))
        .filter(accounts::id.eq(id))
        .filter(accounts::otp_type.eq(OtpType::Hotp.as_str()))
        .filter(accounts::deleted_at.is_null())
}

impl Repo for DieselRepo<'_> {
    // ------------------------------------------------------------ identities

    fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()> {
        let row = NewIdentity::of(identity);
        write_db!(self, |c| diesel::insert_into(identities::table).values(&row).execute(c))?;
        Ok(())
    }

    fn identity_by_handle(&mut self, org: &OrgId, handle: &Handle) -> StoreResult<Option<Identity>> {
        db!(self, |c| {
            identities::table
                .filter(identities::org_id.eq(org.as_str()))
                .filter(identities::handle.eq(handle.as_str()))
                .filter(identities::deleted_at.is_null())
                .select(IdentityRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(IdentityRow::into_entity)
        .transpose()
    }

    fn identity_by_id(&mut self, org: &OrgId, id: IdentityId) -> StoreResult<Option<Identity>> {
        let id = id_text(id.as_uuid());
        db!(self, |c| {
            identities::table
                .filter(identities::org_id.eq(org.as_str()))
                .filter(identities::id.eq(&id))
                .filter(identities::deleted_at.is_null())
                .select(IdentityRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(IdentityRow::into_entity)
        .transpose()
    }

    fn list_identities(&mut self, org: &OrgId) -> StoreResult<Vec<Identity>> {
        db!(self, |c| {
            identities::table
                .filter(identities::org_id.eq(org.as_str()))
                .filter(identities::deleted_at.is_null())
                .order((identities::created_at.desc(), identities::id.desc()))
                .select(IdentityRow::as_select())
                .load(c)
        })?
        .into_iter()
        .map(IdentityRow::into_entity)
        .collect()
    }

    fn update_identity(&mut self, identity: &Identity) -> StoreResult<()> {
        let id = id_text(identity.id().as_uuid());
        write_db!(self, |c| {
            diesel::update(
                identities::table
                    .filter(identities::org_id.eq(identity.org().as_str()))
                    .filter(identities::id.eq(&id))
                    .filter(identities::deleted_at.is_null()),
            )
            .set((
                identities::handle.eq(identity.handle().as_str()),
                identities::status.eq(identity.status().as_str()),
                identities::updated_at.eq(ts(*identity.updated_at())),
            ))
            .execute(c)
        })?;
        Ok(())
    }

    // ------------------------------------------------------------ locking reads

    fn lock_identity_by_handle(&mut self, org: &OrgId, handle: &Handle, lock: Lock) -> StoreResult<Option<Identity>> {
        lock_db!(self, lock, |c| {
            identities::table
                .filter(identities::org_id.eq(org.as_str()))
                .filter(identities::handle.eq(handle.as_str()))
                .filter(identities::deleted_at.is_null())
                .select(IdentityRow::as_select())
        })?
        .map(IdentityRow::into_entity)
        .transpose()
    }

    fn lock_identity_by_id(&mut self, org: &OrgId, id: IdentityId, lock: Lock) -> StoreResult<Option<Identity>> {
        let id = id_text(id.as_uuid());
        lock_db!(self, lock, |c| {
            identities::table
                .filter(identities::org_id.eq(org.as_str()))
                .filter(identities::id.eq(&id))
                .filter(identities::deleted_at.is_null())
                .select(IdentityRow::as_select())
        })?
        .map(IdentityRow::into_entity)
        .transpose()
    }

    fn lock_app(&mut self, org: &OrgId, id: AppId, lock: Lock) -> StoreResult<Option<App>> {
        let id = id_text(id.as_uuid());
        lock_db!(self, lock, |c| {
            apps::table
                .filter(apps::org_id.eq(org.as_str()))
                .filter(apps::id.eq(&id))
                .filter(apps::deleted_at.is_null())
                .select(AppRow::as_select())
        })?
        .map(AppRow::into_entity)
        .transpose()
    }

    fn lock_account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        // The app's liveness through a subquery, not a join: `FOR UPDATE` locks the rows of
        // every table in the FROM clause, and the app must stay free for other writers.
        lock_db!(self, Lock::Update, |c| {
            accounts::table
                .filter(accounts::org_id.eq(org.as_str()))
                .filter(accounts::app_id.eq(&app))
                .filter(accounts::id.eq(&id))
                .filter(accounts::deleted_at.is_null())
                .filter(accounts::app_id.eq_any(live_app_id(org, &app)))
                .select(AccountRow::as_select())
        })?
        .map(AccountRow::into_entity)
        .transpose()
    }

    fn lock_instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        lock_db!(self, Lock::Update, |c| {
            instances::table
                .filter(instances::org_id.eq(org.as_str()))
                .filter(instances::app_id.eq(&app))
                .filter(instances::id.eq(&id))
                .filter(instances::deleted_at.is_null())
                .filter(instances::app_id.eq_any(live_app_id(org, &app)))
                .select(InstanceRow::as_select())
        })?
        .map(InstanceRow::into_entity)
        .transpose()
    }

    // ------------------------------------------------------------ apps

    fn insert_app_with_event(&mut self, app: &App, event: &AuditEvent) -> StoreResult<()> {
        if self.in_tx {
            self.insert_app(app)?;
            return self.insert_audit_event(event);
        }
        match &mut self.conn.inner {
            // One statement (a data-modifying `WITH`), as the HOTP advance.
            AnyConnection::Postgresql(c) => {
                let (row, ev) = (NewApp::of(app), NewAuditEvent::of(event));
                let done = crate::advance::InsertAppAudited { app: &row, event: &ev }.get_result::<String>(c);
                done.map_err(|e| self.conn.fail(e))?;
                Ok(())
            }
            AnyConnection::Sqlite(_) => in_transaction(self.conn, |conn| {
                let mut repo = DieselRepo::new(conn, true);
                repo.insert_app(app)?;
                repo.insert_audit_event(event)
            }),
        }
    }

    fn insert_app(&mut self, app: &App) -> StoreResult<()> {
        let row = NewApp::of(app);
        write_db!(self, |c| diesel::insert_into(apps::table).values(&row).execute(c))?;
        Ok(())
    }

    fn app(&mut self, org: &OrgId, id: AppId) -> StoreResult<Option<App>> {
        let id = id_text(id.as_uuid());
        db!(self, |c| {
            apps::table
                .filter(apps::org_id.eq(org.as_str()))
                .filter(apps::id.eq(&id))
                .filter(apps::deleted_at.is_null())
                .select(AppRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(AppRow::into_entity)
        .transpose()
    }

    fn app_of_identity(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Option<App>> {
        let identity = id_text(identity.as_uuid());
        db!(self, |c| {
            apps::table
                .filter(apps::org_id.eq(org.as_str()))
                .filter(apps::identity_id.eq(&identity))
                .filter(apps::deleted_at.is_null())
                .select(AppRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(AppRow::into_entity)
        .transpose()
    }

    fn list_apps(&mut self, org: &OrgId) -> StoreResult<Vec<App>> {
        db!(self, |c| {
            apps::table
                .filter(apps::org_id.eq(org.as_str()))
                .filter(apps::deleted_at.is_null())
                .order((apps::created_at.asc(), apps::id.asc()))
                .select(AppRow::as_select())
                .load(c)
        })?
        .into_iter()
        .map(AppRow::into_entity)
        .collect()
    }

    fn set_app_identity(&mut self, app: &App) -> StoreResult<()> {
        let id = id_text(app.id().as_uuid());
        let identity = app.identity_id().map(|i| id_text(i.as_uuid()));
        write_db!(self, |c| {
            diesel::update(
                apps::table
                    .filter(apps::org_id.eq(app.org().as_str()))
                    .filter(apps::id.eq(&id))
                    .filter(apps::deleted_at.is_null()),
            )
            .set((
                apps::identity_id.eq(identity.as_deref()),
                apps::updated_at.eq(ts(*app.updated_at())),
            ))
            .execute(c)
        })?;
        Ok(())
    }

    // ------------------------------------------------------------ accounts

    fn insert_account(&mut self, account: &Account, sealed: &SealedSecret) -> StoreResult<()> {
        let row = NewAccount::of(account, &sealed.0)?;
        write_db!(self, |c| diesel::insert_into(accounts::table).values(&row).execute(c))?;
        Ok(())
    }

    fn account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        db!(self, |c| {
            accounts::table
                .inner_join(
                    apps::table.on(apps::org_id
                        .eq(accounts::org_id)
                        .and(apps::id.eq(accounts::app_id))
                        .and(apps::deleted_at.is_null())),
                )
                .filter(accounts::org_id.eq(org.as_str()))
                .filter(accounts::app_id.eq(&app))
                .filter(accounts::id.eq(&id))
                .filter(accounts::deleted_at.is_null())
                .select(AccountRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(AccountRow::into_entity)
        .transpose()
    }

    fn list_accounts(&mut self, org: &OrgId, app: AppId) -> StoreResult<Option<Vec<Account>>> {
        let app = id_text(app.as_uuid());
        // One query: the app (live) left-joined with its live accounts. No row: no such app;
        // one row without an account: an app with no accounts.
        let rows = db!(self, |c| {
            apps::table
                .left_join(
                    accounts::table.on(accounts::org_id
                        .eq(apps::org_id)
                        .and(accounts::app_id.eq(apps::id))
                        .and(accounts::deleted_at.is_null())),
                )
                .filter(apps::org_id.eq(org.as_str()))
                .filter(apps::id.eq(&app))
                .filter(apps::deleted_at.is_null())
                .order((accounts::created_at.asc(), accounts::id.asc()))
                .select(Option::<AccountRow>::as_select())
                .load::<Option<AccountRow>>(c)
        })?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.into_iter()
            .flatten()
            .map(AccountRow::into_entity)
            .collect::<StoreResult<Vec<_>>>()
            .map(Some)
    }

    fn update_account(&mut self, account: &Account) -> StoreResult<()> {
        let id = id_text(account.id().as_uuid());
        write_db!(self, |c| {
            diesel::update(
                accounts::table
                    .filter(accounts::org_id.eq(account.org().as_str()))
                    .filter(accounts::id.eq(&id))
                    .filter(accounts::deleted_at.is_null()),
            )
            .set((
                accounts::display_name.eq(account.display_name().as_ref().map(DisplayName::as_str)),
                accounts::description.eq(account.description().as_ref().map(Description::as_str)),
                accounts::verify_window.eq(account.verify_window().map(|w| i32::from(w.get()))),
                accounts::updated_at.eq(ts(*account.updated_at())),
            ))
            .execute(c)
        })?;
        Ok(())
    }

    fn otp_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<OtpMaterial>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        let row = db!(self, |c| {
            accounts::table
                .inner_join(
                    apps::table.on(apps::org_id
                        .eq(accounts::org_id)
                        .and(apps::id.eq(accounts::app_id))
                        .and(apps::deleted_at.is_null())),
                )
                .left_join(
                    identities::table.on(identities::org_id
                        .eq(apps::org_id)
                        .and(identities::id.nullable().eq(apps::identity_id))
                        .and(identities::deleted_at.is_null())),
                )
                .filter(accounts::org_id.eq(org.as_str()))
                .filter(accounts::app_id.eq(&app))
                .filter(accounts::id.eq(&id))
                .filter(accounts::deleted_at.is_null())
                .select((AccountRow::as_select(), accounts::secret, identities::status.nullable()))
                .get_result::<(AccountRow, Vec<u8>, Option<String>)>(c)
                .optional()
        })?;
        let Some((account, secret, status)) = row else {
            return Ok(None);
        };
        let identity_status = status
            .map(|s| IdentityStatus::parse(&s).map_err(|_| corrupt("identities", "status")))
            .transpose()?;
        Ok(Some(OtpMaterial {
            account: account.into_entity()?,
            sealed: SealedSecret(secret),
            identity_status,
        }))
    }

    fn advance_hotp_counter(&mut self, org: &OrgId, id: AccountId, event: &AuditEvent) -> StoreResult<HotpAdvance> {
        let id = id_text(id.as_uuid());
        let row = NewAuditEvent::of(event);
        let advance = crate::advance::AdvanceCounter {
            org: org.as_str(),
            id: &id,
        };
        // One statement: concurrent callers (in any process) each get their own value. The
        // counter never passes i64::MAX (= MAX_COUNTER); updated_at is left alone. Its event
        // goes with it: in the surrounding transaction; else on PostgreSQL in the same statement,
        // on SQLite in a transaction of its own (local, so it costs no round trip).
        let advanced = if self.in_tx {
            let next = db!(self, |c| advance.get_result::<Option<i64>>(c).optional())?;
            if next.is_some() {
                self.insert_audit_event(event)?;
            }
            next
        } else {
            match &mut self.conn.inner {
                AnyConnection::Postgresql(c) => {
                    let both = crate::advance::AdvanceCounterAudited { advance, event: &row };
                    let next = both.get_result::<Option<i64>>(c).optional();
                    next.map_err(|e| self.conn.fail(e))?
                }
                AnyConnection::Sqlite(_) => in_transaction(self.conn, |conn| {
                    let mut repo = DieselRepo::new(conn, true);
                    let next = db!(&mut repo, |c| advance.get_result::<Option<i64>>(c).optional())?;
                    if next.is_some() {
                        repo.insert_audit_event(event)?;
                    }
                    Ok::<_, domain::ports::StoreError>(next)
                })?,
            }
        };
        if let Some(next) = advanced {
            let used = next
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| corrupt("accounts", "counter"))?;
            return Ok(HotpAdvance::Use(used));
        }
        // Nothing changed: exhausted, or no such live HOTP account.
        let current = db!(self, |c| {
            hotp_filter(org, &id)
                .select(accounts::counter)
                .get_result::<Option<i64>>(c)
                .optional()
        })?;
        match current {
            Some(Some(_)) => Ok(HotpAdvance::Exhausted),
            // A live HOTP row without a counter: corrupt, not a missing account.
            Some(None) => Err(corrupt("accounts", "counter")),
            None => Ok(HotpAdvance::Missing),
        }
    }

    // ------------------------------------------------------------ verification

    fn verify_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<VerifyMaterial>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        // `otp_material`'s one query, with the verification columns.
        let row = db!(self, |c| {
            accounts::table
                .inner_join(
                    apps::table.on(apps::org_id
                        .eq(accounts::org_id)
                        .and(apps::id.eq(accounts::app_id))
                        .and(apps::deleted_at.is_null())),
                )
                .left_join(
                    identities::table.on(identities::org_id
                        .eq(apps::org_id)
                        .and(identities::id.nullable().eq(apps::identity_id))
                        .and(identities::deleted_at.is_null())),
                )
                .filter(accounts::org_id.eq(org.as_str()))
                .filter(accounts::app_id.eq(&app))
                .filter(accounts::id.eq(&id))
                .filter(accounts::deleted_at.is_null())
                .select((
                    AccountRow::as_select(),
                    accounts::secret,
                    identities::status.nullable(),
                    (
                        accounts::last_verified_step,
                        accounts::failed_attempts,
                        accounts::locked_until,
                        accounts::counter,
                    ),
                ))
                .get_result::<(AccountRow, Vec<u8>, Option<String>, VerificationColumns)>(c)
                .optional()
        })?;
        let Some((account, secret, status, columns)) = row else {
            return Ok(None);
        };
        let identity_status = status
            .map(|s| IdentityStatus::parse(&s).map_err(|_| corrupt("identities", "status")))
            .transpose()?;
        Ok(Some(VerifyMaterial {
            otp: OtpMaterial {
                account: account.into_entity()?,
                sealed: SealedSecret(secret),
                identity_status,
            },
            state: verification_state(columns)?,
        }))
    }

    fn verification_state(&mut self, org: &OrgId, id: AccountId) -> StoreResult<Option<VerificationState>> {
        let id = id_text(id.as_uuid());
        db!(self, |c| {
            accounts::table
                .filter(accounts::org_id.eq(org.as_str()))
                .filter(accounts::id.eq(&id))
                .filter(accounts::deleted_at.is_null())
                .select((
                    accounts::last_verified_step,
                    accounts::failed_attempts,
                    accounts::locked_until,
                    accounts::counter,
                ))
                .get_result::<VerificationColumns>(c)
                .optional()
        })?
        .map(verification_state)
        .transpose()
    }

    fn record_verify_success_totp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        step: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        let id = id_text(id.as_uuid());
        let step = i64::try_from(step).map_err(|_| out_of_range("time step"))?;
        let statement = RecordTotpSuccess {
            org: org.as_str(),
            id: &id,
            step,
            now: ts(now),
        };
        self.with_event(event, |repo| {
            let changed = db!(repo, |c| statement.execute(c))?;
            Ok(if changed > 0 {
                SuccessRecord::Recorded
            } else {
                SuccessRecord::Refused
            })
        })
    }

    fn record_verify_success_hotp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        matched: u64,
        now: Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        let id = id_text(id.as_uuid());
        let next = matched
            .checked_add(1)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| out_of_range("HOTP counter"))?;
        let statement = RecordHotpSuccess {
            org: org.as_str(),
            id: &id,
            next,
            now: ts(now),
        };
        self.with_event(event, |repo| {
            let changed = db!(repo, |c| statement.execute(c))?;
            Ok(if changed > 0 {
                SuccessRecord::Recorded
            } else {
                SuccessRecord::Refused
            })
        })
    }

    fn record_verify_failure(
        &mut self,
        org: &OrgId,
        id: AccountId,
        schedule: &LockSchedule,
        event: &AuditEvent,
    ) -> StoreResult<FailureRecord> {
        let id = id_text(id.as_uuid());
        let statement = RecordFailure {
            org: org.as_str(),
            id: &id,
            now: ts(schedule.now()),
            deadlines: schedule.deadlines().map(ts),
        };
        self.with_event(event, |repo| {
            let counted = db!(repo, |c| statement.get_result::<i32>(c).optional())?;
            match counted {
                Some(n) => Ok(FailureRecord::Recorded {
                    failed_attempts: u32::try_from(n).map_err(|_| corrupt("accounts", "failed_attempts"))?,
                }),
                None => Ok(FailureRecord::Refused),
            }
        })
    }

    // ------------------------------------------------------------ instances

    fn insert_instance(&mut self, instance: &Instance, token: &TokenHash) -> StoreResult<()> {
        let row = NewInstance::of(instance, token);
        write_db!(self, |c| diesel::insert_into(instances::table).values(&row).execute(c))?;
        Ok(())
    }

    fn instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        let (app, id) = (id_text(app.as_uuid()), id_text(id.as_uuid()));
        db!(self, |c| {
            instances::table
                .inner_join(
                    apps::table.on(apps::org_id
                        .eq(instances::org_id)
                        .and(apps::id.eq(instances::app_id))
                        .and(apps::deleted_at.is_null())),
                )
                .filter(instances::org_id.eq(org.as_str()))
                .filter(instances::app_id.eq(&app))
                .filter(instances::id.eq(&id))
                .filter(instances::deleted_at.is_null())
                .select(InstanceRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(InstanceRow::into_entity)
        .transpose()
    }

    fn list_instances(&mut self, org: &OrgId, app: AppId) -> StoreResult<Vec<Instance>> {
        let app = id_text(app.as_uuid());
        db!(self, |c| {
            instances::table
                .filter(instances::org_id.eq(org.as_str()))
                .filter(instances::app_id.eq(&app))
                .filter(instances::deleted_at.is_null())
                .order((instances::created_at.asc(), instances::id.asc()))
                .select(InstanceRow::as_select())
                .load(c)
        })?
        .into_iter()
        .map(InstanceRow::into_entity)
        .collect()
    }

    fn list_identity_instances(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Vec<Instance>> {
        let identity = id_text(identity.as_uuid());
        db!(self, |c| {
            instances::table
                .filter(instances::org_id.eq(org.as_str()))
                .filter(instances::identity_id.eq(&identity))
                .filter(instances::deleted_at.is_null())
                .order((instances::created_at.asc(), instances::id.asc()))
                .select(InstanceRow::as_select())
                .load(c)
        })?
        .into_iter()
        .map(InstanceRow::into_entity)
        .collect()
    }

    fn identity_instance_any(
        &mut self,
        org: &OrgId,
        identity: IdentityId,
        id: InstanceId,
    ) -> StoreResult<Option<Instance>> {
        let (identity, id) = (id_text(identity.as_uuid()), id_text(id.as_uuid()));
        db!(self, |c| {
            instances::table
                .filter(instances::org_id.eq(org.as_str()))
                .filter(instances::identity_id.eq(&identity))
                .filter(instances::id.eq(&id))
                .select(InstanceRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(InstanceRow::into_entity)
        .transpose()
    }

    fn device_by_token(&mut self, token: &TokenHash) -> StoreResult<Option<DeviceSession>> {
        let hash: &[u8] = token.as_bytes();
        db!(self, |c| {
            instances::table
                .filter(instances::token_hash.eq(hash))
                .filter(instances::deleted_at.is_null())
                .select(InstanceRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(|r| r.into_entity().map(|instance| DeviceSession { instance }))
        .transpose()
    }

    fn touch_instance(&mut self, org: &OrgId, id: InstanceId, at: Timestamp) -> StoreResult<()> {
        let id = id_text(id.as_uuid());
        write_db!(self, |c| {
            diesel::update(
                instances::table
                    .filter(instances::org_id.eq(org.as_str()))
                    .filter(instances::id.eq(&id))
                    .filter(instances::deleted_at.is_null()),
            )
            .set(instances::last_used_at.eq(ts(at)))
            .execute(c)
        })?;
        Ok(())
    }

    // ------------------------------------------------------------ cascades

    fn apply_cascade(&mut self, plan: &CascadePlan) -> StoreResult<()> {
        if self.in_tx {
            return apply_steps(self.conn, plan);
        }
        if plan.steps().len() <= 1 {
            let gate = self.conn.gate();
            let _turn = Conn::write_turn(gate.as_ref());
            return apply_steps(self.conn, plan);
        }
        // Outside a unit-of-work transaction a cascade is still all-or-nothing.
        in_transaction(self.conn, |c| apply_steps(c, plan))
    }

    // ------------------------------------------------------------ service tokens

    fn insert_service_token(&mut self, token: &ServiceToken, hash: &TokenHash) -> StoreResult<()> {
        let row = NewServiceToken::of(token, hash);
        write_db!(self, |c| diesel::insert_into(service_tokens::table)
            .values(&row)
            .execute(c))?;
        Ok(())
    }

    fn service_token_by_hash(&mut self, hash: &TokenHash) -> StoreResult<Option<ServiceToken>> {
        let hash: &[u8] = hash.as_bytes();
        db!(self, |c| {
            service_tokens::table
                .filter(service_tokens::token_hash.eq(hash))
                .filter(service_tokens::revoked_at.is_null())
                .select(ServiceTokenRow::as_select())
                .get_result(c)
                .optional()
        })?
        .map(ServiceTokenRow::into_entity)
        .transpose()
    }

    fn list_service_tokens(&mut self, org: Option<&OrgId>) -> StoreResult<Vec<ServiceToken>> {
        let rows = match org {
            Some(org) => db!(self, |c| {
                service_tokens::table
                    .filter(service_tokens::org_id.eq(org.as_str()))
                    .order((service_tokens::created_at.asc(), service_tokens::id.asc()))
                    .select(ServiceTokenRow::as_select())
                    .load(c)
            })?,
            None => db!(self, |c| {
                service_tokens::table
                    .order((service_tokens::created_at.asc(), service_tokens::id.asc()))
                    .select(ServiceTokenRow::as_select())
                    .load(c)
            })?,
        };
        rows.into_iter().map(ServiceTokenRow::into_entity).collect()
    }

    fn revoke_service_token(&mut self, id: TokenId, at: Timestamp) -> StoreResult<Option<OrgId>> {
        let id = id_text(id.as_uuid());
        let org = write_db!(self, |c| {
            diesel::update(
                service_tokens::table
                    .filter(service_tokens::id.eq(&id))
                    .filter(service_tokens::revoked_at.is_null()),
            )
            .set(service_tokens::revoked_at.eq(ts(at)))
            .returning(service_tokens::org_id)
            .get_result::<String>(c)
            .optional()
        })?;
        org.map(|o| OrgId::new(o).map_err(|_| corrupt("service_tokens", "org_id")))
            .transpose()
    }

    // ------------------------------------------------------------ audit trail

    fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        let row = NewAuditEvent::of(event);
        let insert = crate::advance::InsertEvent(&row);
        if !self.in_tx
            && let AnyConnection::Postgresql(c) = &mut self.conn.inner
        {
            // An event of no change (see the port): its own transaction, committed without
            // waiting for the WAL flush.
            let done = crate::advance::InsertEventAsync(insert).get_result::<String>(c);
            done.map_err(|e| self.conn.fail(e))?;
            return Ok(());
        }
        write_db!(self, |c| insert.execute(c))?;
        Ok(())
    }

    fn sequence_audit_events(&mut self) -> StoreResult<u64> {
        // One sequencer at a time across processes: on PostgreSQL an advisory lock held until
        // the transaction ends; on SQLite the transaction already holds the write lock.
        let n = match &mut self.conn.inner {
            AnyConnection::Postgresql(c) => diesel::sql_query(SEQUENCER_LOCK)
                .execute(c)
                .and_then(|_| diesel::sql_query(SEQUENCE_EVENTS).execute(c)),
            // One writer at a time: the events after the sequencer's place, by rowid, are the
            // unnumbered ones, in commit order.
            AnyConnection::Sqlite(c) => diesel::sql_query(SEQUENCE_EVENTS_SQLITE)
                .execute(c)
                .and_then(|n| diesel::sql_query(ADVANCE_SEQUENCER_SQLITE).execute(c).map(|_| n)),
        };
        Ok(rows(n.map_err(|e| self.conn.fail(e))?))
    }

    fn list_audit_events(&mut self, org: &OrgId, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let after = q.after.map(|a| i64::try_from(a).unwrap_or(i64::MAX)).unwrap_or(0);
        let resource = q.resource_id.map(id_text);
        db!(self, |c| {
            let mut query = audit_events::table
                .filter(audit_events::org_id.eq(org.as_str()))
                .filter(audit_events::seq.gt(after))
                .into_boxed();
            if let Some(a) = q.action {
                query = query.filter(audit_events::action.eq(a.as_str()));
            }
            if let Some(t) = q.resource_type {
                query = query.filter(audit_events::resource_type.eq(t.as_str()));
            }
            if let Some(id) = &resource {
                query = query.filter(audit_events::resource_id.eq(id.as_str()));
            }
            query
                .order(audit_events::seq.asc())
                .limit(i64::from(q.limit))
                .select(AuditRow::as_select())
                .load(c)
        })?
        .into_iter()
        .map(AuditRow::into_event)
        .collect()
    }

    fn purge_audit_events(&mut self, before: Timestamp) -> StoreResult<u64> {
        let n = write_db!(self, |c| {
            diesel::sql_query(PURGE_EVENTS)
                .bind::<diesel::sql_types::Timestamp, _>(ts(before))
                .execute(c)
        })?;
        Ok(rows(n))
    }

    fn touch_service_token(&mut self, id: TokenId, at: Timestamp) -> StoreResult<()> {
        let id = id_text(id.as_uuid());
        write_db!(self, |c| {
            diesel::update(service_tokens::table.filter(service_tokens::id.eq(&id)))
                .set(service_tokens::last_used_at.eq(ts(at)))
                .execute(c)
        })?;
        Ok(())
    }
}

/// Applies every step of a plan, in order, with the plan's one timestamp: `deleted_at = at`
/// and `updated_at = at` on every row a step deletes or changes.
fn apply_steps(conn: &mut Conn, plan: &CascadePlan) -> StoreResult<()> {
    let org = plan.org().as_str();
    let at = ts(plan.at());
    // The live rows of `$table` in the plan's org whose `$key` is `$value`, set to `$changes`.
    macro_rules! update_live {
        ($c:expr, $table:ident, $key:ident = $value:expr, $changes:expr) => {
            diesel::update(
                $table::table
                    .filter($table::org_id.eq(org))
                    .filter($table::$key.eq(&id_text($value.as_uuid())))
                    .filter($table::deleted_at.is_null()),
            )
            .set($changes)
            .execute($c)
        };
    }
    // Soft delete: `deleted_at` and `updated_at` both take the plan's one timestamp.
    macro_rules! soft_delete {
        ($c:expr, $table:ident, $key:ident = $value:expr) => {
            update_live!(
                $c,
                $table,
                $key = $value,
                ($table::updated_at.eq(at), $table::deleted_at.eq(at))
            )
        };
    }
    // The step's statement, on the concrete connection `$c` (see `db!`).
    macro_rules! step {
        ($c:ident, $step:expr) => {
            match *$step {
                CascadeStep::DeleteApp(app) => update_live!(
                    $c,
                    apps,
                    id = app,
                    (
                        apps::identity_id.eq(None::<&str>),
                        apps::updated_at.eq(at),
                        apps::deleted_at.eq(at)
                    )
                ),
                CascadeStep::UnlinkApp(app) => {
                    update_live!(
                        $c,
                        apps,
                        id = app,
                        (apps::identity_id.eq(None::<&str>), apps::updated_at.eq(at))
                    )
                }
                CascadeStep::DeleteAccountsOfApp(app) => soft_delete!($c, accounts, app_id = app),
                CascadeStep::DeleteAccount(id) => soft_delete!($c, accounts, id = id),
                CascadeStep::RevokeInstancesOfApp(app) => soft_delete!($c, instances, app_id = app),
                CascadeStep::RevokeInstance(id) => soft_delete!($c, instances, id = id),
                CascadeStep::DeleteIdentity(id) => soft_delete!($c, identities, id = id),
            }
        };
    }
    for step in plan.steps() {
        let done = match &mut conn.inner {
            AnyConnection::Sqlite(c) => step!(c, step),
            AnyConnection::Postgresql(c) => step!(c, step),
        };
        done.map_err(|e| conn.fail(e))?;
    }
    Ok(())
}

/// A value the domain handed over that the database's column cannot hold (never happens for
/// values the domain produces: steps and counters stay far below `i64::MAX`).
fn out_of_range(what: &'static str) -> StoreError {
    StoreError::Other(Opaque::new(format!("{what} out of the stored range")))
}

/// A number of rows diesel reports, as the ports count them.
fn rows(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
