//! OTP accounts: `accounts` rows, [`AccountRepo`], the read of what code generation and
//! verification need (one join), and the HOTP counter advance.

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, HasSqlType, Integer, Nullable, Text};
use domain::audit::AuditEvent;
use domain::entities::{Account, AccountEdit, AccountParts};
use domain::ids::{AccountId, AppId, OrgId};
use domain::otp::{Algorithm, Digits, OtpKind, OtpType, Period, VerifyWindow};
use domain::ports::{
    AccountRepo, AuditRepo as _, HotpAdvance, HotpUse, OtpMaterial, SealedSecret, StoreError, StoreResult,
};
use domain::values::{Description, DisplayName, IdentityStatus, Metadata};
use time::PrimitiveDateTime;

use super::audit::{NewAuditEvent, push_event_columns_and_values};
use super::{DieselRepo, apps, identities, lock_db, read_db, write_db};
use crate::pool::{AnyConnection, in_transaction};
use crate::schema::{accounts, apps as apps_t, identities as identities_t};
use crate::sql::{Key, corrupt, from_ts, static_statement, ts};
use crate::stored_ts::StoredTs;

const T: &str = "accounts";

/// The live accounts of the organization `org`.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live<'a>(org: &'a str) -> _ {
    accounts::table
        .filter(accounts::org_id.eq(org))
        .filter(accounts::deleted_at.is_null())
}

/// The live account `id` of `org` inside the live app `app`, with the app (joined: a read) and
/// the status of the identity the app is linked to, if any (left-joined).
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live_in_app<'a>(org: &'a str, app: Key<AppId>, id: Key<AccountId>) -> _ {
    accounts::table
        .inner_join(
            apps_t::table.on(apps_t::org_id
                .eq(accounts::org_id)
                .and(apps_t::id.eq(accounts::app_id))
                .and(apps_t::deleted_at.is_null())),
        )
        .left_join(
            identities_t::table.on(identities_t::org_id
                .eq(apps_t::org_id)
                .and(identities_t::id.nullable().eq(apps_t::identity_id))
                .and(identities_t::deleted_at.is_null())),
        )
        .filter(accounts::org_id.eq(org))
        .filter(accounts::app_id.eq(app))
        .filter(accounts::id.eq(id))
        .filter(accounts::deleted_at.is_null())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(super) struct AccountRow {
    id: Key<AccountId>,
    org_id: String,
    app_id: Key<AppId>,
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
    metadata: String,
    created_at: StoredTs,
    updated_at: StoredTs,
}

impl AccountRow {
    pub(super) fn into_entity(self) -> StoreResult<Account> {
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
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            app_id: self.app_id.0,
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
            metadata: metadata_from_column(&self.metadata).ok_or_else(|| corrupt(T, "metadata"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

/// Metadata as stored: a JSON object of strings (`{}` for none), keys in order.
///
/// # Errors
/// Never for metadata the domain built (strings always serialize); an error is still passed on
/// rather than assumed away.
pub(super) fn metadata_column(m: &Metadata) -> StoreResult<String> {
    let map: std::collections::BTreeMap<&str, &str> = m.iter().collect();
    serde_json::to_string(&map).map_err(|e| StoreError::Other(domain::error::Opaque::new(e)))
}

/// The metadata of a stored column, `None` when it is not a JSON object of strings the domain
/// accepts (a corrupt row).
pub(super) fn metadata_from_column(text: &str) -> Option<Metadata> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text).ok()?;
    Metadata::parse(map).ok()
}

fn entity(row: Option<AccountRow>) -> StoreResult<Option<Account>> {
    row.map(AccountRow::into_entity).transpose()
}

/// The status column of the identity an account's app is linked to, as read by
/// [`live_in_app`]; the domain's value (`None`: unlinked).
pub(super) fn identity_status(status: Option<String>) -> StoreResult<Option<IdentityStatus>> {
    status
        .map(|s| IdentityStatus::parse(&s).map_err(|_| corrupt(identities::T, "status")))
        .transpose()
}

/// What code generation reads of an account in [`live_in_app`]: the row, its sealed secret and
/// the status of the identity its app is linked to (`None`: unlinked). Verification reads the
/// same and its own columns (`verify.rs`).
pub(super) type Material<DB> = (
    diesel::dsl::AsSelect<AccountRow, DB>,
    accounts::secret,
    diesel::dsl::Nullable<identities_t::status>,
);

/// The columns of [`Material`].
pub(super) fn material<DB: diesel::backend::Backend>() -> Material<DB>
where
    AccountRow: Selectable<DB>,
{
    (
        AccountRow::as_select(),
        accounts::secret,
        identities_t::status.nullable(),
    )
}

/// A [`Material`] row as the domain's [`OtpMaterial`].
pub(super) fn into_material(
    (account, secret, status): (AccountRow, Vec<u8>, Option<String>),
) -> StoreResult<OtpMaterial> {
    Ok(OtpMaterial {
        account: account.into_entity()?,
        sealed: SealedSecret(secret),
        identity_status: identity_status(status)?,
    })
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
struct NewAccount<'a> {
    id: Key<AccountId>,
    org_id: &'a str,
    app_id: Key<AppId>,
    otp_type: &'static str,
    issuer: Option<&'a str>,
    account_name: &'a str,
    algorithm: &'static str,
    digits: i32,
    period: Option<i32>,
    counter: Option<i64>,
    secret: &'a [u8],
    /// The key the secret's envelope names (see `domain::keys`), for counting by key.
    secret_key_id: Option<String>,
    created_at: PrimitiveDateTime,
    #[diesel(embed)]
    changes: AccountChanges<'a>,
}

impl<'a> NewAccount<'a> {
    fn of(a: &'a Account, sealed: &'a SealedSecret, edit: &'a AccountEdit) -> StoreResult<Self> {
        Ok(Self {
            id: Key(*a.id()),
            org_id: a.org().as_str(),
            app_id: Key(*a.app_id()),
            otp_type: a.otp_type().as_str(),
            issuer: a.issuer().as_deref(),
            account_name: a.account_name(),
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
            secret: &sealed.0,
            secret_key_id: sealed.key_id().map(|k| k.as_str().to_owned()),
            created_at: ts(*a.created_at()),
            changes: AccountChanges::of(edit)?,
        })
    }
}

/// The columns [`AccountEdit`] writes: all of its fields, and only those. An update writes
/// these; an insert embeds them, so a new mutable field is written on insert and update alike.
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = accounts, treat_none_as_null = true, treat_none_as_default_value = false)]
struct AccountChanges<'a> {
    display_name: Option<&'a str>,
    description: Option<&'a str>,
    verify_window: Option<i32>,
    metadata: String,
    updated_at: PrimitiveDateTime,
}

impl<'a> AccountChanges<'a> {
    fn of(edit: &'a AccountEdit) -> StoreResult<Self> {
        // Exhaustive: a new field of the edit does not compile until it is written here.
        let AccountEdit {
            display_name,
            description,
            verify_window,
            metadata,
            updated_at,
        } = edit;
        Ok(Self {
            display_name: display_name.as_ref().map(DisplayName::as_str),
            description: description.as_ref().map(Description::as_str),
            verify_window: verify_window.map(|w| i32::from(w.get())),
            metadata: metadata_column(metadata)?,
            updated_at: ts(*updated_at),
        })
    }
}

/// `UPDATE accounts SET counter = counter + 1 WHERE <live HOTP account of org> AND counter <
/// i64::MAX RETURNING counter`: one statement, so concurrent callers in any process each get
/// their own value; `updated_at` is left alone. Hand-written: diesel never caches the prepared
/// statement of an `UPDATE` built with its DSL, and this is on the hot path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdvanceCounter<'a> {
    org: &'a str,
    id: Key<AccountId>,
}

impl Query for AdvanceCounter<'_> {
    type SqlType = Nullable<BigInt>;
}

impl<DB> QueryFragment<DB> for AdvanceCounter<'_>
where
    DB: Backend + HasSqlType<Text>,
    str: ToSql<Text, DB>,
    Key<AccountId>: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET counter = counter + 1 WHERE org_id = ");
        out.push_bind_param::<Text, str>(self.org)?;
        out.push_sql(" AND id = ");
        out.push_bind_param::<Text, _>(&self.id)?;
        out.push_sql(
            " AND otp_type = 'hotp' AND deleted_at IS NULL AND counter < 9223372036854775807 RETURNING counter",
        );
        Ok(())
    }
}

/// PostgreSQL only: [`AdvanceCounter`] and the insert of its audit event in one statement (a
/// data-modifying `WITH`), so the counter never moves without its event and the hot path keeps
/// one round trip without a transaction. The event is inserted only when the counter advanced.
pub(crate) struct AdvanceCounterAudited<'a> {
    advance: AdvanceCounter<'a>,
    event: &'a NewAuditEvent<'a>,
}

impl Query for AdvanceCounterAudited<'_> {
    type SqlType = Nullable<BigInt>;
}

impl QueryFragment<Pg> for AdvanceCounterAudited<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH adv AS (");
        self.advance.walk_ast(out.reborrow())?;
        out.push_sql("), ev AS (INSERT INTO audit_events ");
        push_event_columns_and_values(&mut out, self.event, "SELECT ")?;
        out.push_sql(" FROM adv) SELECT counter FROM adv");
        Ok(())
    }
}

/// [`AccountRepo::advance_hotp_if_sealed`]'s statement: [`AdvanceCounter`] on the account of
/// this app whose sealed secret is exactly `sealed`, while its app is live and its identity
/// (if linked) is not paused, returning the counter with the algorithm and digits. The
/// account's own conditions are checked again on its latest version when another writer changed
/// it meanwhile (PostgreSQL's read committed) or hold under the write lock (SQLite); the app and
/// identity are read as of the statement's start, as the two-step path's material read was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdvanceIfSealed<'a> {
    org: &'a str,
    app: Key<AppId>,
    id: Key<AccountId>,
    sealed: &'a [u8],
}

/// The row [`AdvanceIfSealed`] returns: counter after the increment, algorithm, digits.
type UseRow = (Option<i64>, String, i32);

impl Query for AdvanceIfSealed<'_> {
    type SqlType = (Nullable<BigInt>, Text, Integer);
}

impl<DB> QueryFragment<DB> for AdvanceIfSealed<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Binary>,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    Key<AppId>: ToSql<Text, DB>,
    Key<AccountId>: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET counter = counter + 1 WHERE org_id = ");
        out.push_bind_param::<Text, str>(self.org)?;
        out.push_sql(" AND app_id = ");
        out.push_bind_param::<Text, _>(&self.app)?;
        out.push_sql(" AND id = ");
        out.push_bind_param::<Text, _>(&self.id)?;
        out.push_sql(" AND otp_type = 'hotp' AND deleted_at IS NULL AND counter < 9223372036854775807 AND secret = ");
        out.push_bind_param::<Binary, [u8]>(self.sealed)?;
        // `status` values are `IdentityStatus::as_str`'s (a test holds them together).
        out.push_sql(
            " AND EXISTS (SELECT 1 FROM apps LEFT JOIN identities ON identities.org_id = apps.org_id \
             AND identities.id = apps.identity_id AND identities.deleted_at IS NULL \
             WHERE apps.org_id = accounts.org_id AND apps.id = accounts.app_id AND apps.deleted_at IS NULL \
             AND (identities.status IS NULL OR identities.status <> 'paused')) \
             RETURNING counter, algorithm, digits",
        );
        Ok(())
    }
}

/// PostgreSQL only: [`AdvanceIfSealed`] and its audit event's insert in one statement, as
/// [`AdvanceCounterAudited`]: the HOTP code's one round trip.
pub(crate) struct AdvanceIfSealedAudited<'a> {
    advance: AdvanceIfSealed<'a>,
    event: &'a NewAuditEvent<'a>,
}

impl Query for AdvanceIfSealedAudited<'_> {
    type SqlType = (Nullable<BigInt>, Text, Integer);
}

impl QueryFragment<Pg> for AdvanceIfSealedAudited<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH adv AS (");
        self.advance.walk_ast(out.reborrow())?;
        out.push_sql("), ev AS (INSERT INTO audit_events ");
        push_event_columns_and_values(&mut out, self.event, "SELECT ")?;
        out.push_sql(" FROM adv) SELECT counter, algorithm, digits FROM adv");
        Ok(())
    }
}

static_statement!(
    AdvanceCounter,
    AdvanceCounterAudited,
    AdvanceIfSealed,
    AdvanceIfSealedAudited
);

/// The counter to use (the one before the increment) of a counter read back after an advance.
fn used_counter(next: Option<i64>) -> StoreResult<u64> {
    next.and_then(|n| n.checked_sub(1))
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| corrupt(T, "counter"))
}

impl AccountRepo for DieselRepo<'_> {
    fn insert_account(&mut self, account: &Account, sealed: &SealedSecret) -> StoreResult<()> {
        let edit = account.edit();
        let row = NewAccount::of(account, sealed, &edit)?;
        write_db!(self, count, diesel::insert_into(accounts::table).values(&row))?;
        Ok(())
    }

    fn account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        entity(read_db!(
            self,
            first,
            live_in_app(org.as_str(), Key(app), Key(id)).select(AccountRow::as_select())
        )?)
    }

    fn list_accounts(&mut self, org: &OrgId, app: AppId) -> StoreResult<Option<Vec<Account>>> {
        // One query: the app (live) left-joined with its live accounts. No row: no such app;
        // one row without an account: an app with no accounts.
        let rows = read_db!(
            self,
            all,
            apps::live(org.as_str())
                .left_join(
                    accounts::table.on(accounts::org_id
                        .eq(apps_t::org_id)
                        .and(accounts::app_id.eq(apps_t::id))
                        .and(accounts::deleted_at.is_null())),
                )
                .filter(apps_t::id.eq(Key(app)))
                .order((accounts::created_at.asc(), accounts::id.asc()))
                .select(Option::<AccountRow>::as_select())
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.into_iter()
            .flatten()
            .map(AccountRow::into_entity)
            .collect::<StoreResult<Vec<_>>>()
            .map(Some)
    }

    fn update_account(&mut self, org: &OrgId, id: AccountId, edit: &AccountEdit) -> StoreResult<()> {
        let changes = AccountChanges::of(edit)?;
        write_db!(
            self,
            count,
            diesel::update(live(org.as_str()).filter(accounts::id.eq(Key(id)))).set(&changes)
        )?;
        Ok(())
    }

    fn otp_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<OtpMaterial>> {
        read_db!(
            self,
            first,
            live_in_app(org.as_str(), Key(app), Key(id)).select(material())
        )?
        .map(into_material)
        .transpose()
    }

    fn advance_hotp_counter(&mut self, org: &OrgId, id: AccountId, event: &AuditEvent) -> StoreResult<HotpAdvance> {
        let advance = AdvanceCounter {
            org: org.as_str(),
            id: Key(id),
        };
        // One statement: concurrent callers (in any process) each get their own value. The
        // counter never passes i64::MAX (= MAX_COUNTER); updated_at is left alone. Its event
        // goes with it: in the surrounding transaction; else on PostgreSQL in the same statement,
        // on SQLite in a transaction of its own (local, so it costs no round trip).
        let advanced = if self.in_tx {
            let next = write_db!(self, first, advance)?;
            if next.is_some() {
                self.insert_audit_event(event)?;
            }
            next
        } else {
            match &mut self.conn.inner {
                AnyConnection::Postgresql(c) => {
                    let row = NewAuditEvent::of(event);
                    let both = AdvanceCounterAudited { advance, event: &row };
                    let next = crate::sql::write(both).get_result::<Option<i64>>(c).optional();
                    next.map_err(|e| self.conn.fail(e))?
                }
                AnyConnection::Sqlite(_) => in_transaction(self.conn, |conn| {
                    let mut repo = DieselRepo::new(conn, true);
                    let next = write_db!(&mut repo, first, advance)?;
                    if next.is_some() {
                        repo.insert_audit_event(event)?;
                    }
                    Ok::<_, StoreError>(next)
                })?,
            }
        };
        if let Some(next) = advanced {
            return Ok(HotpAdvance::Use(used_counter(next)?));
        }
        // Nothing changed: exhausted, or no such live HOTP account.
        let current: Option<Option<i64>> = read_db!(
            self,
            first,
            live(org.as_str())
                .filter(accounts::id.eq(Key(id)))
                .filter(accounts::otp_type.eq(OtpType::Hotp.as_str()))
                .select(accounts::counter)
        )?;
        match current {
            Some(Some(_)) => Ok(HotpAdvance::Exhausted),
            // A live HOTP row without a counter: corrupt, not a missing account.
            Some(None) => Err(corrupt(T, "counter")),
            None => Ok(HotpAdvance::Missing),
        }
    }

    fn advance_hotp_if_sealed(
        &mut self,
        org: &OrgId,
        app: AppId,
        id: AccountId,
        sealed: &SealedSecret,
        event: &AuditEvent,
    ) -> StoreResult<Option<HotpUse>> {
        let advance = AdvanceIfSealed {
            org: org.as_str(),
            app: Key(app),
            id: Key(id),
            sealed: &sealed.0,
        };
        // As `advance_hotp_counter`: on PostgreSQL outside a transaction one statement with its
        // event (one round trip), else the event in the same transaction.
        let in_tx = self.in_tx;
        let row: Option<UseRow> = match &mut self.conn.inner {
            AnyConnection::Postgresql(c) if !in_tx => {
                let row = NewAuditEvent::of(event);
                let both = AdvanceIfSealedAudited { advance, event: &row };
                let used = crate::sql::write(both).get_result::<UseRow>(c).optional();
                used.map_err(|e| self.conn.fail(e))?
            }
            _ => self.with_event(event, |repo| {
                let used: Option<UseRow> = write_db!(repo, first, advance)?;
                let changed = used.is_some();
                Ok((used, changed))
            })?,
        };
        row.map(|(next, algorithm, digits)| {
            Ok(HotpUse {
                counter: used_counter(next)?,
                algorithm: Algorithm::parse(&algorithm).ok_or_else(|| corrupt(T, "algorithm"))?,
                digits: u32::try_from(digits)
                    .ok()
                    .and_then(Digits::new)
                    .ok_or_else(|| corrupt(T, "digits"))?,
            })
        })
        .transpose()
    }

    fn lock_account(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<Account>> {
        // The app's liveness through a subquery, not a join: `FOR UPDATE` locks the rows of
        // every table in the FROM clause, and the app must stay free for other writers.
        entity(lock_db!(
            self,
            domain::ports::Lock::Update,
            live(org.as_str())
                .filter(accounts::app_id.eq(Key(app)))
                .filter(accounts::id.eq(Key(id)))
                .filter(accounts::app_id.eq_any(apps::live_id(org.as_str(), Key(app))))
                .select(AccountRow::as_select())
        )?)
    }
}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sqlite::Sqlite;

    use super::*;

    /// The values the hand-written counter advances compare with are the domain's spellings.
    #[test]
    fn advance_literals_are_the_domain_values() {
        let nil = uuid::Uuid::nil();
        let q = AdvanceIfSealed {
            org: "o",
            app: Key(AppId::from_uuid(nil)),
            id: Key(AccountId::from_uuid(nil)),
            sealed: &[1],
        };
        let hotp = format!("otp_type = '{}'", OtpType::Hotp.as_str());
        let paused = format!("identities.status <> '{}'", IdentityStatus::Paused.as_str());
        for sql in [
            diesel::debug_query::<Pg, _>(&q).to_string(),
            diesel::debug_query::<Sqlite, _>(&q).to_string(),
        ] {
            assert!(sql.contains(&hotp), "{sql}");
            assert!(sql.contains(&paused), "{sql}");
        }
        let plain = AdvanceCounter {
            org: "o",
            id: Key(AccountId::from_uuid(nil)),
        };
        assert!(diesel::debug_query::<Sqlite, _>(&plain).to_string().contains(&hotp));
    }
}
