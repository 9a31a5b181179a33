//! The master keyring's records: the `keyring` row (the primary), `retired_keys`, the
//! `replicas` heartbeats, `key_events`, and the sealed values of `accounts` by key
//! (`secret_key_id`), as [`KeyRepo`].

use diesel::prelude::*;
use domain::audit::Details;
use domain::ids::{AccountId, OrgId};
use domain::keys::{KeyAction, KeyEvent, KeyId, KeyringRecord, ReplicaBeat, SealedCounts};
use domain::ports::{KeyRepo, Lock, SealedRow, SealedSecret, StoreResult};
use domain::time::Timestamp;
use uuid::Uuid;

use super::{DieselRepo, lock_db, read_db, write_db};
use crate::schema::{accounts, key_events, keyring, replicas, retired_keys};
use crate::sql::{Key, corrupt, from_ts, ts};
use crate::stored_ts::StoredTs;

/// The one `keyring` row.
const RECORD: i32 = 1;

fn key_id(s: &str, table: &'static str, column: &'static str) -> StoreResult<KeyId> {
    s.parse().map_err(|_| corrupt(table, column))
}

/// A `replicas` row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = replicas)]
struct ReplicaRow {
    id: String,
    host: String,
    pid: i64,
    started_at: StoredTs,
    seen_at: StoredTs,
    key_ids: String,
    sealing_key_id: String,
}

impl ReplicaRow {
    fn into_beat(self) -> StoreResult<ReplicaBeat> {
        const T: &str = "replicas";
        Ok(ReplicaBeat {
            id: self.id,
            host: self.host,
            pid: u32::try_from(self.pid).map_err(|_| corrupt(T, "pid"))?,
            started_at: from_ts(self.started_at),
            seen_at: from_ts(self.seen_at),
            keys: self
                .key_ids
                .split(',')
                .map(|k| key_id(k, T, "key_ids"))
                .collect::<StoreResult<_>>()?,
            sealing: key_id(&self.sealing_key_id, T, "sealing_key_id")?,
        })
    }
}

/// A `key_events` row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = key_events)]
struct KeyEventRow {
    id: Key<Uuid>,
    at: StoredTs,
    action: String,
    key_id: String,
    details: String,
}

impl KeyEventRow {
    fn into_event(self) -> StoreResult<KeyEvent> {
        const T: &str = "key_events";
        Ok(KeyEvent {
            id: self.id.0,
            at: from_ts(self.at),
            action: KeyAction::parse(&self.action).ok_or_else(|| corrupt(T, "action"))?,
            key: key_id(&self.key_id, T, "key_id")?,
            details: Details::from_stored(self.details),
        })
    }
}

/// Accounts whose value is not under `key` (of another key, or of none).
macro_rules! not_under {
    ($key:expr) => {
        accounts::table.filter(accounts::secret_key_id.ne($key).or(accounts::secret_key_id.is_null()))
    };
}

impl KeyRepo for DieselRepo<'_> {
    fn keyring(&mut self, lock: Option<Lock>) -> StoreResult<KeyringRecord> {
        let record = keyring::table
            .filter(keyring::id.eq(RECORD))
            .select((keyring::primary_key_id, keyring::updated_at));
        let row: Option<(Option<String>, Option<StoredTs>)> = match lock {
            None => read_db!(self, first, record)?,
            Some(lock) => lock_db!(self, lock, record)?,
        };
        let (primary, since) = row.ok_or_else(|| corrupt("keyring", "id"))?;
        let primary = primary.map(|p| key_id(&p, "keyring", "primary_key_id")).transpose()?;
        let retired: Vec<String> = read_db!(
            self,
            all,
            retired_keys::table
                .order(retired_keys::key_id.asc())
                .select(retired_keys::key_id)
        )?;
        Ok(KeyringRecord {
            primary,
            primary_since: since.map(from_ts),
            retired: retired
                .iter()
                .map(|k| key_id(k, "retired_keys", "key_id"))
                .collect::<StoreResult<_>>()?,
        })
    }

    fn set_primary_key(&mut self, key: &KeyId, at: Timestamp) -> StoreResult<()> {
        write_db!(
            self,
            count,
            diesel::update(keyring::table.filter(keyring::id.eq(RECORD)))
                .set((keyring::primary_key_id.eq(key.as_str()), keyring::updated_at.eq(ts(at)),))
        )?;
        Ok(())
    }

    fn retire_key(&mut self, key: &KeyId, at: Timestamp) -> StoreResult<()> {
        write_db!(
            self,
            count,
            diesel::insert_into(retired_keys::table)
                .values((
                    retired_keys::key_id.eq(key.as_str()),
                    retired_keys::retired_at.eq(ts(at))
                ))
                .on_conflict_do_nothing()
        )?;
        Ok(())
    }

    fn beat(&mut self, replica: &ReplicaBeat) -> StoreResult<()> {
        let keys: Vec<&str> = replica.keys.iter().map(KeyId::as_str).collect();
        let keys = keys.join(",");
        write_db!(
            self,
            count,
            diesel::insert_into(replicas::table)
                .values((
                    replicas::id.eq(&replica.id),
                    replicas::host.eq(&replica.host),
                    replicas::pid.eq(i64::from(replica.pid)),
                    replicas::started_at.eq(ts(replica.started_at)),
                    replicas::seen_at.eq(ts(replica.seen_at)),
                    replicas::key_ids.eq(&keys),
                    replicas::sealing_key_id.eq(replica.sealing.as_str()),
                ))
                .on_conflict(replicas::id)
                .do_update()
                .set((
                    replicas::seen_at.eq(ts(replica.seen_at)),
                    replicas::key_ids.eq(&keys),
                    replicas::sealing_key_id.eq(replica.sealing.as_str()),
                ))
        )?;
        Ok(())
    }

    fn forget_replicas(&mut self, id: Option<&str>, stale_before: Timestamp) -> StoreResult<()> {
        if let Some(id) = id {
            write_db!(self, count, diesel::delete(replicas::table.filter(replicas::id.eq(id))))?;
        }
        write_db!(
            self,
            count,
            diesel::delete(replicas::table.filter(replicas::seen_at.lt(ts(stale_before))))
        )?;
        Ok(())
    }

    fn replicas(&mut self, since: Timestamp) -> StoreResult<Vec<ReplicaBeat>> {
        let rows: Vec<ReplicaRow> = read_db!(
            self,
            all,
            replicas::table
                .filter(replicas::seen_at.ge(ts(since)))
                .order(replicas::id.asc())
                .select(ReplicaRow::as_select())
        )?;
        rows.into_iter().map(ReplicaRow::into_beat).collect()
    }

    fn count_sealed(&mut self) -> StoreResult<SealedCounts> {
        let rows: Vec<(Option<String>, i64)> = read_db!(
            self,
            all,
            accounts::table
                .group_by(accounts::secret_key_id)
                .select((accounts::secret_key_id, diesel::dsl::count_star()))
        )?;
        let mut counts = SealedCounts::default();
        for (key, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match key {
                Some(k) => counts.by_key.push((key_id(&k, "accounts", "secret_key_id")?, n)),
                None => counts.unknown += n,
            }
        }
        counts.by_key.sort();
        Ok(counts)
    }

    fn sealed_not_under(&mut self, key: &KeyId, after: Option<AccountId>, limit: u32) -> StoreResult<Vec<SealedRow>> {
        let columns = (accounts::id, accounts::org_id, accounts::secret);
        let limit = i64::from(limit);
        let rows: Vec<(Key<AccountId>, String, Vec<u8>)> = match after {
            None => read_db!(
                self,
                all,
                not_under!(key.as_str())
                    .order(accounts::id.asc())
                    .limit(limit)
                    .select(columns)
            )?,
            Some(after) => read_db!(
                self,
                all,
                not_under!(key.as_str())
                    .filter(accounts::id.gt(Key(after)))
                    .order(accounts::id.asc())
                    .limit(limit)
                    .select(columns)
            )?,
        };
        rows.into_iter()
            .map(|(id, org, sealed)| {
                Ok(SealedRow {
                    account: id.0,
                    org: OrgId::new(org).map_err(|_| corrupt("accounts", "org_id"))?,
                    sealed: SealedSecret(sealed),
                })
            })
            .collect()
    }

    fn replace_sealed(&mut self, account: AccountId, old: &SealedSecret, new: &SealedSecret) -> StoreResult<bool> {
        let changed = write_db!(
            self,
            count,
            diesel::update(
                accounts::table
                    .filter(accounts::id.eq(Key(account)))
                    .filter(accounts::secret.eq(&old.0)),
            )
            .set((
                accounts::secret.eq(&new.0),
                accounts::secret_key_id.eq(new.key_id().map(|k| k.as_str().to_owned())),
            ))
        )?;
        Ok(changed == 1)
    }

    fn insert_key_event(&mut self, event: &KeyEvent) -> StoreResult<()> {
        write_db!(
            self,
            count,
            diesel::insert_into(key_events::table).values((
                key_events::id.eq(Key(event.id)),
                key_events::at.eq(ts(event.at)),
                key_events::action.eq(event.action.as_str()),
                key_events::key_id.eq(event.key.as_str()),
                key_events::details.eq(event.details.as_json()),
            ))
        )?;
        Ok(())
    }

    fn key_events(&mut self, limit: u32) -> StoreResult<Vec<KeyEvent>> {
        let rows: Vec<KeyEventRow> = read_db!(
            self,
            all,
            key_events::table
                .order((key_events::at.desc(), key_events::id.desc()))
                .limit(i64::from(limit))
                .select(KeyEventRow::as_select())
        )?;
        rows.into_iter().map(KeyEventRow::into_event).collect()
    }
}
