//! The three statements that record the outcome of a verification, hand-written like the HOTP
//! advance (`accounts.rs`): fixed SQL with a static query id, so each pooled connection prepares
//! each one once, and the same text on SQLite and PostgreSQL.
//!
//! Each is **one conditional `UPDATE`** of the account row whose `WHERE` is what the use case's
//! decision assumed (the step or counter still unused, the account not locked), and whose `SET`
//! computes from the row itself (`failed_attempts + 1`, the lock deadline chosen by the stored
//! count), never from a value read earlier. On PostgreSQL a concurrent `UPDATE` of the same row
//! waits for the first to commit and then re-checks the `WHERE` on the new row, so of two
//! verifications of one code exactly one changes the row; on SQLite writers take turns anyway.
//! The row count (or `RETURNING`) tells the use case whether its outcome was recorded.
//!
//! Timestamps compare correctly on SQLite too: they are stored as UTC text
//! (`YYYY-MM-DD HH:MM:SS[.f...]`), which sorts like the instants it names.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Integer, Text, Timestamp};
use domain::audit::AuditEvent;
use domain::ids::{AccountId, AppId, OrgId};
use domain::ports::{FailureRecord, StoreResult, SuccessRecord, VerificationState, VerifyMaterial, VerifyRepo};
use domain::throttle::{LOCK_STEPS, LockSchedule};
use time::PrimitiveDateTime;

use super::accounts::{into_material, live, live_in_app, material};
use super::{DieselRepo, read_db, write_db};
use crate::schema::accounts;
use crate::sql::{Key, corrupt, from_ts, out_of_range, static_statement, ts};
use crate::stored_ts::StoredTs;

/// The `CASE failed_attempts` arms before its `ELSE`: one per lock duration below the cap (fixed
/// text, so the statement is the same for every schedule and is prepared once).
const WHEN_ARMS: [&str; LOCK_STEPS - 1] = [
    " WHEN 0 THEN ",
    " WHEN 1 THEN ",
    " WHEN 2 THEN ",
    " WHEN 3 THEN ",
    " WHEN 4 THEN ",
    " WHEN 5 THEN ",
    " WHEN 6 THEN ",
    " WHEN 7 THEN ",
    " WHEN 8 THEN ",
    " WHEN 9 THEN ",
];

/// `... AND (locked_until IS NULL OR locked_until <= now)`: not locked at `now`.
fn push_unlocked<'b, DB>(out: &mut AstPass<'_, 'b, DB>, now: &'b PrimitiveDateTime) -> QueryResult<()>
where
    DB: Backend + HasSqlType<Timestamp>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
{
    out.push_sql(" AND (locked_until IS NULL OR locked_until <= ");
    out.push_bind_param::<Timestamp, PrimitiveDateTime>(now)?;
    out.push_sql(")");
    Ok(())
}

/// `WHERE org_id = .. AND id = .. AND deleted_at IS NULL`: the live account.
fn push_live_account<'b, DB>(out: &mut AstPass<'_, 'b, DB>, org: &'b str, id: &'b Key<AccountId>) -> QueryResult<()>
where
    DB: Backend + HasSqlType<Text>,
    str: ToSql<Text, DB>,
    Key<AccountId>: ToSql<Text, DB>,
{
    out.push_sql(" WHERE org_id = ");
    out.push_bind_param::<Text, str>(org)?;
    out.push_sql(" AND id = ");
    out.push_bind_param::<Text, _>(id)?;
    out.push_sql(" AND deleted_at IS NULL");
    Ok(())
}

/// `UPDATE accounts SET <column> = value, failed_attempts = 0, locked_until = NULL WHERE <live
/// account of the kind> AND <the value still unused> AND <not locked at now>`: the accepted TOTP
/// step, or the HOTP counter after the matched one. One struct, one statement text per
/// [`SuccessKind`] (so each has its own static query id).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordSuccess<'a, K> {
    pub(crate) org: &'a str,
    pub(crate) id: Key<AccountId>,
    pub(crate) value: i64,
    pub(crate) now: PrimitiveDateTime,
    pub(crate) kind: std::marker::PhantomData<K>,
}

/// The SQL that differs between a TOTP and an HOTP success.
pub(crate) trait SuccessKind {
    /// `SET <this> = value`.
    const COLUMN: &'static str;
    /// `AND otp_type = ... AND <guard before the value> value <guard after it>`.
    const GUARD: (&'static str, &'static str);
}

/// A TOTP success: `last_verified_step = step`, when no step at or after it was accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Totp {}

impl SuccessKind for Totp {
    const COLUMN: &'static str = "last_verified_step";
    const GUARD: (&'static str, &'static str) = (
        " AND otp_type = 'totp' AND (last_verified_step IS NULL OR last_verified_step < ",
        ")",
    );
}

/// An HOTP success: `counter = next` (the matched counter plus one), when the counter is below it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hotp {}

impl SuccessKind for Hotp {
    const COLUMN: &'static str = "counter";
    const GUARD: (&'static str, &'static str) = (" AND otp_type = 'hotp' AND counter < ", "");
}

/// [`RecordSuccess`] of a TOTP step.
pub(crate) type RecordTotpSuccess<'a> = RecordSuccess<'a, Totp>;
/// [`RecordSuccess`] of an HOTP counter.
pub(crate) type RecordHotpSuccess<'a> = RecordSuccess<'a, Hotp>;

/// `UPDATE accounts SET failed_attempts = failed_attempts + 1, locked_until = CASE
/// failed_attempts WHEN 0 THEN d0 ... WHEN 9 THEN d9 ELSE d10 END WHERE <live account> AND <not
/// locked at now> RETURNING failed_attempts` (`d` being the domain's `LockSchedule`; `SET`
/// expressions see the row as it was, so the `CASE` picks the deadline of the new count).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordFailure<'a> {
    pub(crate) org: &'a str,
    pub(crate) id: Key<AccountId>,
    pub(crate) now: PrimitiveDateTime,
    pub(crate) deadlines: [PrimitiveDateTime; LOCK_STEPS],
}

static_statement!(RecordTotpSuccess, RecordHotpSuccess, RecordFailure);

impl Query for RecordFailure<'_> {
    type SqlType = Integer;
}

impl<DB, K: SuccessKind> QueryFragment<DB> for RecordSuccess<'_, K>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    Key<AccountId>: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET ");
        out.push_sql(K::COLUMN);
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, i64>(&self.value)?;
        out.push_sql(", failed_attempts = 0, locked_until = NULL");
        push_live_account(&mut out, self.org, &self.id)?;
        let (before, after) = K::GUARD;
        out.push_sql(before);
        out.push_bind_param::<BigInt, i64>(&self.value)?;
        out.push_sql(after);
        push_unlocked(&mut out, &self.now)
    }
}

impl<DB> QueryFragment<DB> for RecordFailure<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    Key<AccountId>: ToSql<Text, DB>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET failed_attempts = failed_attempts + 1, locked_until = CASE failed_attempts");
        let [each @ .., last] = &self.deadlines;
        for (arm, deadline) in WHEN_ARMS.iter().zip(each) {
            out.push_sql(arm);
            out.push_bind_param::<Timestamp, PrimitiveDateTime>(deadline)?;
        }
        out.push_sql(" ELSE ");
        out.push_bind_param::<Timestamp, PrimitiveDateTime>(last)?;
        out.push_sql(" END");
        push_live_account(&mut out, self.org, &self.id)?;
        push_unlocked(&mut out, &self.now)?;
        out.push_sql(" RETURNING failed_attempts");
        Ok(())
    }
}

/// The verification columns of an account row (and its counter), as stored.
type VerificationColumns = (Option<i64>, i32, Option<StoredTs>, Option<i64>);

/// The columns of [`VerificationColumns`].
fn verification_columns() -> (
    accounts::last_verified_step,
    accounts::failed_attempts,
    accounts::locked_until,
    accounts::counter,
) {
    (
        accounts::last_verified_step,
        accounts::failed_attempts,
        accounts::locked_until,
        accounts::counter,
    )
}

/// The domain's view of [`VerificationColumns`].
fn verification_state((step, failed, locked, counter): VerificationColumns) -> StoreResult<VerificationState> {
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

impl VerifyRepo for DieselRepo<'_> {
    fn verify_material(&mut self, org: &OrgId, app: AppId, id: AccountId) -> StoreResult<Option<VerifyMaterial>> {
        // `otp_material`'s one query, with the verification columns.
        read_db!(self, first, {
            let (account, secret, status) = material();
            live_in_app(org.as_str(), Key(app), Key(id)).select((account, secret, status, verification_columns()))
        })?
        .map(|(account, secret, status, columns)| {
            Ok(VerifyMaterial {
                otp: into_material((account, secret, status))?,
                state: verification_state(columns)?,
            })
        })
        .transpose()
    }

    fn verification_state(&mut self, org: &OrgId, id: AccountId) -> StoreResult<Option<VerificationState>> {
        read_db!(
            self,
            first,
            live(org.as_str())
                .filter(accounts::id.eq(Key(id)))
                .select(verification_columns())
        )?
        .map(verification_state)
        .transpose()
    }

    fn record_verify_success_totp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        step: u64,
        now: domain::time::Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        let statement = RecordTotpSuccess {
            org: org.as_str(),
            id: Key(id),
            value: i64::try_from(step).map_err(|_| out_of_range("time step"))?,
            now: ts(now),
            kind: std::marker::PhantomData,
        };
        self.with_event(event, |repo| success(write_db!(repo, count, statement)?))
    }

    fn record_verify_success_hotp(
        &mut self,
        org: &OrgId,
        id: AccountId,
        matched: u64,
        now: domain::time::Timestamp,
        event: &AuditEvent,
    ) -> StoreResult<SuccessRecord> {
        let next = matched
            .checked_add(1)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| out_of_range("HOTP counter"))?;
        let statement = RecordHotpSuccess {
            org: org.as_str(),
            id: Key(id),
            value: next,
            now: ts(now),
            kind: std::marker::PhantomData,
        };
        self.with_event(event, |repo| success(write_db!(repo, count, statement)?))
    }

    fn record_verify_failure(
        &mut self,
        org: &OrgId,
        id: AccountId,
        schedule: &LockSchedule,
        event: &AuditEvent,
    ) -> StoreResult<FailureRecord> {
        let statement = RecordFailure {
            org: org.as_str(),
            id: Key(id),
            now: ts(schedule.now()),
            deadlines: schedule.deadlines().map(ts),
        };
        self.with_event(event, |repo| match write_db!(repo, first, statement)?.map(|n: i32| n) {
            Some(n) => {
                let failed_attempts = u32::try_from(n).map_err(|_| corrupt("accounts", "failed_attempts"))?;
                Ok((FailureRecord::Recorded { failed_attempts }, true))
            }
            None => Ok((FailureRecord::Refused, false)),
        })
    }
}

/// A success statement's outcome from the rows it changed (and whether it changed one).
fn success(changed: usize) -> StoreResult<(SuccessRecord, bool)> {
    Ok(if changed > 0 {
        (SuccessRecord::Recorded, true)
    } else {
        (SuccessRecord::Refused, false)
    })
}
