//! The master keys (see [`crate::keys`]): which key seals new values, the replicas' heartbeats,
//! promotion, retirement and the online rewrap.
//!
//! The rules:
//! - The primary is recorded in the database, so every replica seals under the same key. On a
//!   database without one, the first replica to start records the first key of its ring.
//! - A replica registers (its heartbeat: which keys it holds, which it seals under) in the same
//!   transaction as it reads the primary, holding the keyring record `Share`; a promotion holds
//!   it `Update` while it checks the live replicas. So a replica either registered before the
//!   promotion looked (and is checked), or reads the new primary (and refuses to start without
//!   it).
//! - A promotion is refused while a live replica lacks the key; a retirement while any value
//!   (of a deleted account too) is still sealed under the key, or a live replica still seals
//!   under it.
//! - The rewrap re-seals, batch by batch, every value not under the primary: it reads a batch
//!   (no lock), re-seals it in memory, then writes it in one transaction, each value only if it
//!   is still the one read ([`crate::ports::KeyRepo::replace_sealed`]). A value changed meanwhile is left
//!   for the next pass; nothing is ever written over a newer value. Killed at any point, a rerun
//!   goes on from what is committed. Each re-sealed value is an `account.rewrap` event in its
//!   organization's audit trail; promotion, retirement, initialization and a finished rewrap are
//!   system events ([`KeyEvent`]), in no organization's trail.

use std::collections::BTreeMap;

use crate::audit::{Action, Actor, Caller, Detail, Details, ResourceType};
use crate::keys::{KeyAction, KeyError, KeyEvent, KeyId, KeyStatus, REPLICA_LIVE_SECONDS, ReplicaBeat, RewrapProgress};
use crate::ports::{Lock, Repo, SealedRow, Store};
use crate::service::Authd;
use crate::time::Timestamp;

/// Passes a rewrap makes at most before giving up (each pass picks up what changed under the
/// previous one; a pass that re-seals nothing while values remain means they cannot be).
pub const MAX_REWRAP_PASSES: u32 = 10;

/// What a heartbeat found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Beat {
    /// Sealing under the recorded primary (which it switched to now, if `switched`).
    Sealing {
        /// The primary.
        primary: KeyId,
        /// Whether this beat switched to it.
        switched: bool,
    },
    /// The recorded primary is not in this ring: the replica goes on sealing under its own.
    PrimaryNotHeld {
        /// The recorded primary.
        primary: KeyId,
    },
}

impl<S: Store> Authd<S> {
    fn holds(&self) -> String {
        let ids: Vec<String> = self.deps.cipher.key_ids().iter().map(ToString::to_string).collect();
        ids.join(", ")
    }

    fn ring_has(&self, key: &KeyId) -> bool {
        self.deps.cipher.key_ids().contains(key)
    }

    /// Seals under `primary` from now on.
    ///
    /// # Errors
    /// [`KeyError::PrimaryNotHeld`] when the ring lacks it.
    fn adopt(&self, primary: &KeyId) -> Result<(), KeyError> {
        self.deps
            .cipher
            .set_primary(primary)
            .map_err(|_| KeyError::PrimaryNotHeld {
                primary: primary.clone(),
                holds: self.holds(),
            })
    }

    fn key_event(&self, at: Timestamp, action: KeyAction, key: &KeyId, details: &[(&str, Detail)]) -> KeyEvent {
        KeyEvent {
            id: self.new_id(),
            at,
            action,
            key: key.clone(),
            details: Details::of(details),
        }
    }

    /// A replica's first heartbeat, at start: records its keys and adopts the primary recorded
    /// in the database (recording the first key of the ring on a database without one).
    /// `replica`'s `keys`, `sealing` and times are filled in here.
    ///
    /// # Errors
    /// [`KeyError::PrimaryNotHeld`] when the recorded primary is not in the ring (the replica
    /// must not start: it could not read what the others seal); [`KeyError::Store`].
    pub fn register_replica(&self, replica: &mut ReplicaBeat) -> Result<KeyId, KeyError> {
        let now = self.now();
        let first = self.deps.cipher.primary();
        let primary = self.store.transaction(|r| {
            let record = r.keyring(Some(Lock::Share))?;
            let primary = match record.primary {
                Some(p) => p,
                None => {
                    // Upgrade: the record is re-read under `Update`, another replica may have
                    // initialized it meanwhile.
                    let record = r.keyring(Some(Lock::Update))?;
                    if let Some(p) = record.primary {
                        p
                    } else {
                        r.set_primary_key(&first, now)?;
                        r.insert_key_event(&self.key_event(now, KeyAction::Initialize, &first, &[]))?;
                        first.clone()
                    }
                }
            };
            if !self.ring_has(&primary) {
                return Err(KeyError::PrimaryNotHeld {
                    primary,
                    holds: self.holds(),
                });
            }
            replica.keys = self.deps.cipher.key_ids();
            replica.sealing = primary.clone();
            replica.started_at = now;
            replica.seen_at = now;
            r.beat(replica)?;
            Ok::<_, KeyError>(primary)
        })?;
        self.adopt(&primary)?;
        Ok(primary)
    }

    /// A serving replica's periodic heartbeat (every [`crate::keys::HEARTBEAT_SECONDS`]): adopts a newly
    /// promoted primary it holds, refreshes its row, and forgets replicas gone silent.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub fn heartbeat(&self, replica: &mut ReplicaBeat) -> Result<Beat, KeyError> {
        let now = self.now();
        self.store.transaction(|r| {
            let primary = r.keyring(None)?.primary;
            let cipher = &self.deps.cipher;
            let beat = match primary {
                Some(p) if self.ring_has(&p) => {
                    let switched = cipher.primary() != p;
                    if switched {
                        self.adopt(&p)?;
                    }
                    Beat::Sealing { primary: p, switched }
                }
                Some(p) => Beat::PrimaryNotHeld { primary: p },
                None => Beat::Sealing {
                    primary: cipher.primary(),
                    switched: false,
                },
            };
            replica.sealing = cipher.primary();
            replica.seen_at = now;
            r.beat(replica)?;
            r.forget_replicas(None, now.plus_seconds(-10 * REPLICA_LIVE_SECONDS))?;
            Ok(beat)
        })
    }

    /// A replica stops: its heartbeat row goes.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub fn unregister_replica(&self, id: &str) -> Result<(), KeyError> {
        let now = self.now();
        self.store
            .run(|r| r.forget_replicas(Some(id), now.plus_seconds(-10 * REPLICA_LIVE_SECONDS)))?;
        Ok(())
    }

    fn live_replicas(&self, r: &mut dyn Repo) -> Result<Vec<ReplicaBeat>, KeyError> {
        Ok(r.replicas(self.now().plus_seconds(-REPLICA_LIVE_SECONDS))?)
    }

    /// The primary, the values per key, the live replicas, the retired keys.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub fn key_status(&self) -> Result<KeyStatus, KeyError> {
        self.store.run(|r| {
            let record = r.keyring(None)?;
            Ok(KeyStatus {
                primary: record.primary,
                sealed: r.count_sealed()?,
                replicas: self.live_replicas(r)?,
                retired: record.retired,
            })
        })
    }

    /// The newest `limit` key events, newest first.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub fn key_events(&self, limit: u32) -> Result<Vec<KeyEvent>, KeyError> {
        Ok(self.store.run(|r| r.key_events(limit))?)
    }

    /// Makes `key` the primary: from the next heartbeat (within [`crate::keys::HEARTBEAT_SECONDS`]) every
    /// replica seals under it. Promoting the primary again changes nothing.
    ///
    /// # Errors
    /// [`KeyError::NotInRing`] (this process's ring lacks it), [`KeyError::Retired`],
    /// [`KeyError::ReplicasLack`] naming the live replicas without it, [`KeyError::Store`].
    pub fn promote_key(&self, key: &KeyId) -> Result<(), KeyError> {
        if !self.ring_has(key) {
            return Err(KeyError::NotInRing {
                key: key.clone(),
                holds: self.holds(),
            });
        }
        let now = self.now();
        self.store.transaction(|r| {
            let record = r.keyring(Some(Lock::Update))?;
            if record.retired.contains(key) {
                return Err(KeyError::Retired(key.clone()));
            }
            let lacking: Vec<String> = self
                .live_replicas(r)?
                .iter()
                .filter(|rep| !rep.keys.contains(key))
                .map(ReplicaBeat::name)
                .collect();
            if !lacking.is_empty() {
                return Err(KeyError::ReplicasLack {
                    key: key.clone(),
                    replicas: lacking.join(", "),
                });
            }
            if record.primary.as_ref() == Some(key) {
                return Ok(());
            }
            r.set_primary_key(key, now)?;
            let from = record.primary.as_ref().map(ToString::to_string);
            r.insert_key_event(&self.key_event(now, KeyAction::Promote, key, &[("from", Detail::from(from))]))?;
            Ok(())
        })?;
        self.adopt(key)
    }

    /// Retires `key`: it may never be primary again, and may leave every ring.
    ///
    /// # Errors
    /// [`KeyError::IsPrimary`], [`KeyError::TooSoon`] (within [`REPLICA_LIVE_SECONDS`] of the
    /// last promotion), [`KeyError::StillSealed`] (with how many),
    /// [`KeyError::ReplicasBehind`] (a live replica still seals under it),
    /// [`KeyError::Store`].
    pub fn retire_key(&self, key: &KeyId) -> Result<(), KeyError> {
        let now = self.now();
        self.store.transaction(|r| {
            let record = r.keyring(Some(Lock::Update))?;
            if record.primary.as_ref() == Some(key) {
                return Err(KeyError::IsPrimary(key.clone()));
            }
            if record.retired.contains(key) {
                return Ok(());
            }
            if let Some(since) = record.primary_since {
                let since = now.unix_seconds() - since.unix_seconds();
                if since < REPLICA_LIVE_SECONDS {
                    return Err(KeyError::TooSoon { since });
                }
            }
            let behind: Vec<String> = self
                .live_replicas(r)?
                .iter()
                .filter(|rep| rep.sealing == *key)
                .map(ReplicaBeat::name)
                .collect();
            if !behind.is_empty() {
                return Err(KeyError::ReplicasBehind {
                    key: key.clone(),
                    replicas: behind.join(", "),
                });
            }
            let count = r.count_sealed()?.under(key);
            if count > 0 {
                return Err(KeyError::StillSealed {
                    key: key.clone(),
                    count,
                });
            }
            r.retire_key(key, now)?;
            r.insert_key_event(&self.key_event(now, KeyAction::Retire, key, &[]))?;
            Ok(())
        })
    }

    /// The live replicas that do not seal under `primary` yet, as `name seals under KEY`.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub fn replicas_behind(&self, primary: &KeyId) -> Result<Vec<String>, KeyError> {
        self.store.run(|r| {
            Ok(self
                .live_replicas(r)?
                .iter()
                .filter(|rep| rep.sealing != *primary)
                .map(|rep| format!("{} seals under {}", rep.name(), rep.sealing))
                .collect())
        })
    }

    /// Re-seals every value not under the recorded primary, `batch` at a time, calling
    /// `progress` after each batch. Returns the final progress (every value under the primary).
    ///
    /// # Errors
    /// [`KeyError::NoPrimary`], [`KeyError::PrimaryNotHeld`], [`KeyError::ReplicasBehind`]
    /// (a live replica has not adopted the primary yet: wait a heartbeat and run it again),
    /// [`KeyError::Cipher`] (a value that cannot be opened: its key is missing from this ring,
    /// or it was tampered with; nothing after it is written), [`KeyError::NotConverged`],
    /// [`KeyError::Store`].
    pub fn rewrap(&self, batch: u32, progress: &mut dyn FnMut(RewrapProgress)) -> Result<RewrapProgress, KeyError> {
        let primary = self
            .store
            .run(|r| r.keyring(None))?
            .primary
            .ok_or(KeyError::NoPrimary)?;
        self.adopt(&primary)?;
        let behind = self.replicas_behind(&primary)?;
        if !behind.is_empty() {
            return Err(KeyError::ReplicasBehind {
                key: primary,
                replicas: behind.join(", "),
            });
        }
        let mut done = RewrapProgress::default();
        loop {
            let left = self.store.run(|r| r.count_sealed())?.not_under(&primary);
            if left == 0 {
                break;
            }
            if done.pass >= MAX_REWRAP_PASSES {
                return Err(KeyError::NotConverged {
                    key: primary,
                    left,
                    passes: done.pass,
                });
            }
            done.pass += 1;
            done.total = left;
            let mut after = None;
            loop {
                let rows = self.store.run(|r| r.sealed_not_under(&primary, after, batch.max(1)))?;
                let Some(last) = rows.last() else { break };
                after = Some(last.account);
                let (rewrapped, skipped) = self.rewrap_batch(&primary, &rows)?;
                done.rewrapped += rewrapped;
                done.skipped += skipped;
                progress(done);
            }
        }
        if done.rewrapped > 0 {
            let now = self.now();
            let event = self.key_event(
                now,
                KeyAction::Rewrap,
                &primary,
                &[
                    (
                        "rewrapped",
                        Detail::from(i64::try_from(done.rewrapped).unwrap_or(i64::MAX)),
                    ),
                    ("passes", Detail::from(i64::from(done.pass))),
                ],
            );
            self.store.run(|r| r.insert_key_event(&event))?;
        }
        Ok(done)
    }

    /// Re-seals `rows` in memory, then writes them in one transaction, each only if unchanged,
    /// with an `account.rewrap` event each. Returns (re-sealed, skipped).
    fn rewrap_batch(&self, primary: &KeyId, rows: &[SealedRow]) -> Result<(u64, u64), KeyError> {
        let mut fresh = Vec::with_capacity(rows.len());
        for row in rows {
            let new = self
                .deps
                .cipher
                .reseal(row.account, &row.sealed)
                .map_err(|e| KeyError::Cipher {
                    account: row.account.as_uuid(),
                    reason: e.0,
                })?;
            fresh.push(new);
        }
        let now = self.now();
        let mut callers: BTreeMap<&str, Caller> = BTreeMap::new();
        for row in rows {
            callers
                .entry(row.org.as_str())
                .or_insert_with(|| Caller::new(row.org.clone(), Actor::Cli));
        }
        self.store.transaction(|r| {
            let (mut rewrapped, mut skipped) = (0u64, 0u64);
            for (row, new) in rows.iter().zip(&fresh) {
                if !r.replace_sealed(row.account, &row.sealed, new)? {
                    skipped += 1;
                    continue;
                }
                rewrapped += 1;
                let from = row.sealed.key_id().map(|k| k.to_string());
                let details = [("from", Detail::from(from)), ("to", Detail::from(primary.to_string()))];
                if let Some(who) = callers.get(row.org.as_str()) {
                    let event = self.event(
                        who,
                        now,
                        (
                            Action::AccountRewrap,
                            ResourceType::Account,
                            row.account.as_uuid(),
                            &details,
                        ),
                    );
                    r.insert_audit_event(&event)?;
                }
            }
            Ok::<_, KeyError>((rewrapped, skipped))
        })
    }
}
