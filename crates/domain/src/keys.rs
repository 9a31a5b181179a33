//! Master keys: their ids, the envelope every sealed value carries (which key sealed it), the
//! replicas' heartbeats, and the refusals of the key use cases (`service/keys.rs`).
//!
//! A [`SealedSecret`] is opaque to everyone but its [`crate::ports::SecretCipher`], except for
//! its first bytes, which name the key that sealed it, so that a store can count and select
//! values by key without a key:
//!
//! - `0x01 …`: key `0` (the single bare master key of a configuration without ids);
//! - `0x02 [n] [n bytes of id] …`: the key with that id.
//!
//! Every cipher writes this envelope; anything else names no key ([`SealedSecret::key_id`] is
//! `None`) and is counted as such.

use std::fmt;
use std::str::FromStr;

use crate::ports::SealedSecret;
use crate::time::Timestamp;

/// The envelope byte of a value sealed under key `0` in the first format.
pub const LEGACY_ENVELOPE: u8 = 0x01;
/// The envelope byte of a value that names its key.
pub const KEYED_ENVELOPE: u8 = 0x02;
/// The longest key id.
pub const KEY_ID_MAX_LEN: usize = 32;

/// The stable id of a master key: 1 to 32 characters of `a-z`, `0-9` and `-`. Not secret.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

/// A string that is not a valid [`KeyId`] (the message never repeats it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key id must be 1 to 32 characters of a-z, 0-9 and -")]
pub struct InvalidKeyId;

impl KeyId {
    /// The id of the bare master key of a configuration without ids (and of `0x01` values).
    #[must_use]
    pub fn legacy() -> Self {
        Self("0".to_owned())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a valid key id.
    #[must_use]
    pub fn is_valid(s: &str) -> bool {
        (1..=KEY_ID_MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidKeyId)
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// The envelope header naming `id`: what a cipher writes before its own bytes.
///
/// # Panics
/// Never: a [`KeyId`] is at most 32 bytes.
#[must_use]
pub fn envelope(id: &KeyId) -> Vec<u8> {
    if *id == KeyId::legacy() {
        return vec![LEGACY_ENVELOPE];
    }
    let len = u8::try_from(id.0.len()).unwrap_or(u8::MAX);
    let mut out = Vec::with_capacity(2 + id.0.len());
    out.push(KEYED_ENVELOPE);
    out.push(len);
    out.extend_from_slice(id.0.as_bytes());
    out
}

/// A sealed value split at its envelope: the key id (as stored) and the cipher's bytes.
/// `None` for no known envelope (empty, unknown first byte, malformed id).
#[must_use]
pub fn split_envelope(bytes: &[u8]) -> Option<(EnvelopeKey<'_>, &[u8])> {
    match bytes.split_first()? {
        (&LEGACY_ENVELOPE, rest) => Some((EnvelopeKey::Legacy, rest)),
        (&KEYED_ENVELOPE, rest) => {
            let (&len, rest) = rest.split_first()?;
            let len = usize::from(len);
            if rest.len() < len {
                return None;
            }
            let (id, rest) = rest.split_at(len);
            let id = std::str::from_utf8(id).ok().filter(|s| KeyId::is_valid(s))?;
            Some((EnvelopeKey::Keyed(id), rest))
        }
        _ => None,
    }
}

/// The key an envelope names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKey<'a> {
    /// `0x01`: key `0`.
    Legacy,
    /// `0x02`: this id (which may be `0` too).
    Keyed(&'a str),
}

impl EnvelopeKey<'_> {
    /// The key id.
    #[must_use]
    pub fn id(self) -> KeyId {
        match self {
            Self::Legacy => KeyId::legacy(),
            Self::Keyed(s) => KeyId(s.to_owned()),
        }
    }
}

impl SealedSecret {
    /// The key that sealed this value, from its envelope; `None` when it has none.
    #[must_use]
    pub fn key_id(&self) -> Option<KeyId> {
        split_envelope(&self.0).map(|(k, _)| k.id())
    }
}

/// What the database records about the keyring: the primary (the key that seals new values,
/// the same for every replica) and the retired keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyringRecord {
    /// The primary; `None` on a database no replica has started on yet.
    pub primary: Option<KeyId>,
    /// When it became the primary.
    pub primary_since: Option<Timestamp>,
    /// Keys retired (no value sealed under them; never primary again), by id.
    pub retired: Vec<KeyId>,
}

/// One replica's heartbeat: which keys it holds and which one it seals under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaBeat {
    /// Its id (random, new at each start).
    pub id: String,
    /// Its host name and process id, for people.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it last beat.
    pub seen_at: Timestamp,
    /// The ids of its keyring, in order.
    pub keys: Vec<KeyId>,
    /// The key it seals new values under.
    pub sealing: KeyId,
}

impl ReplicaBeat {
    /// `host/pid (id)`, how a refusal names it.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{} ({})", self.host, self.pid, self.id)
    }
}

/// How many stored values (accounts, deleted ones included) are sealed under each key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedCounts {
    /// By key id, ascending.
    pub by_key: Vec<(KeyId, u64)>,
    /// Values whose envelope names no key (never written by authd).
    pub unknown: u64,
}

impl SealedCounts {
    /// How many under `key`.
    #[must_use]
    pub fn under(&self, key: &KeyId) -> u64 {
        self.by_key.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
    }

    /// How many under any key but `key` (and of no key).
    #[must_use]
    pub fn not_under(&self, key: &KeyId) -> u64 {
        self.by_key
            .iter()
            .filter(|(k, _)| k != key)
            .map(|(_, n)| *n)
            .sum::<u64>()
            + self.unknown
    }
}

/// `authd key status`: the primary, the counts, the live replicas, the retired keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    /// The recorded primary.
    pub primary: Option<KeyId>,
    /// Values per key.
    pub sealed: SealedCounts,
    /// Replicas seen within [`REPLICA_LIVE_SECONDS`].
    pub replicas: Vec<ReplicaBeat>,
    /// Retired keys.
    pub retired: Vec<KeyId>,
}

/// A system event of the keyring (not any organization's): recorded with the change it
/// describes, listed by `authd key status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// Its id (UUID v7).
    pub id: uuid::Uuid,
    /// When.
    pub at: Timestamp,
    /// What.
    pub action: KeyAction,
    /// The key it is about.
    pub key: KeyId,
    /// Counts and names; never a key.
    pub details: crate::audit::Details,
}

/// What a [`KeyEvent`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// The first replica on an empty database recorded the first key of its ring as primary.
    Initialize,
    /// A key became primary.
    Promote,
    /// A key was retired.
    Retire,
    /// A rewrap ended: every value is under the key.
    Rewrap,
}

impl KeyAction {
    /// Every value.
    pub const ALL: [Self; 4] = [Self::Initialize, Self::Promote, Self::Retire, Self::Rewrap];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "key.initialize",
            Self::Promote => "key.promote",
            Self::Retire => "key.retire",
            Self::Rewrap => "key.rewrap",
        }
    }

    /// The action with this name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// How often a serving replica beats.
pub const HEARTBEAT_SECONDS: i64 = 5;
/// A replica not seen for this long is not live (it missed several beats: stopped, killed, cut
/// off from the database).
pub const REPLICA_LIVE_SECONDS: i64 = 30;
/// How long after its last successful heartbeat a replica may seal new values: less than
/// [`REPLICA_LIVE_SECONDS`], so a replica that others no longer count as live (and that a
/// promotion therefore did not wait for) has stopped sealing under what may be an old key.
pub const SEAL_LEASE_SECONDS: i64 = REPLICA_LIVE_SECONDS - HEARTBEAT_SECONDS;

/// Why a key step was refused. Each message is one line naming what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is not in this process's keyring.
    #[error("the key `{key}` is not in this keyring (it holds: {holds})")]
    NotInRing {
        /// The key.
        key: KeyId,
        /// This ring's ids, comma-separated.
        holds: String,
    },
    /// The primary recorded in the database is not in this process's keyring.
    #[error(
        "the primary key `{primary}` recorded in the database is not in this keyring (it holds: {holds}); add it to the master key file or AUTHD_MASTER_KEY"
    )]
    PrimaryNotHeld {
        /// The recorded primary.
        primary: KeyId,
        /// This ring's ids, comma-separated.
        holds: String,
    },
    /// Live replicas lack the key (promotion).
    #[error("refused: live replicas lack the key `{key}`: {replicas}; add it to their keyring and restart them first")]
    ReplicasLack {
        /// The key.
        key: KeyId,
        /// The replicas, by name, comma-separated.
        replicas: String,
    },
    /// Live replicas still seal under another key than the primary.
    #[error("refused: live replicas still seal under another key than `{key}`: {replicas}")]
    ReplicasBehind {
        /// The primary.
        key: KeyId,
        /// The replicas, by name and the key they seal under.
        replicas: String,
    },
    /// The key was retired.
    #[error("refused: the key `{0}` is retired")]
    Retired(KeyId),
    /// The key is the primary (retire).
    #[error("refused: the key `{0}` is the primary; promote another key first")]
    IsPrimary(KeyId),
    /// The primary changed too recently for every value sealed under the previous one to be
    /// committed (retire): a replica seals under the old key until its next heartbeat, and a
    /// request that sealed may commit a few seconds later.
    #[error(
        "refused: the primary changed {since} s ago; retire a key at least {REPLICA_LIVE_SECONDS} s after a promotion (run `authd key rewrap` again first)"
    )]
    TooSoon {
        /// Seconds since the promotion.
        since: i64,
    },
    /// Values are still sealed under the key (retire).
    #[error("refused: {count} values are still sealed under the key `{key}`; run `authd key rewrap` first")]
    StillSealed {
        /// The key.
        key: KeyId,
        /// How many.
        count: u64,
    },
    /// No primary is recorded yet (no replica started).
    #[error("no primary key is recorded yet: start `authd serve` once, or promote a key")]
    NoPrimary,
    /// A value could not be opened or sealed (its key missing from the ring, or tampered with).
    #[error("the value of account {account} could not be re-sealed ({reason})")]
    Cipher {
        /// The account.
        account: uuid::Uuid,
        /// The cipher's reason (never the value).
        reason: &'static str,
    },
    /// The rewrap made no progress over several passes.
    #[error("{left} values are still not under `{key}` after {passes} passes")]
    NotConverged {
        /// The primary.
        key: KeyId,
        /// Left over.
        left: u64,
        /// Passes made.
        passes: u32,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
}

/// Progress of a rewrap, after each batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewrapProgress {
    /// Values not under the primary when the pass began (this pass's total).
    pub total: u64,
    /// Values re-sealed so far (all passes).
    pub rewrapped: u64,
    /// Values skipped because they changed (or were deleted for good) since they were read:
    /// read again by the next pass.
    pub skipped: u64,
    /// The pass (1, 2, ...).
    pub pass: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_checked() {
        for ok in ["0", "k2", "2026-12", "a", &"z".repeat(32)] {
            assert_eq!(ok.parse::<KeyId>().unwrap().as_str(), ok);
        }
        for bad in ["", "K2", "k_2", "k 2", "é", "k:2", &"z".repeat(33)] {
            assert_eq!(bad.parse::<KeyId>(), Err(InvalidKeyId), "{bad:?}");
        }
    }

    #[test]
    fn envelopes_round_trip_and_malformed_ones_name_no_key() {
        for id in ["0", "k2", &"z".repeat(32)] {
            let id: KeyId = id.parse().unwrap();
            let mut bytes = envelope(&id);
            bytes.extend_from_slice(b"rest");
            let (k, rest) = split_envelope(&bytes).unwrap();
            assert_eq!((k.id(), rest), (id.clone(), &b"rest"[..]));
            assert_eq!(SealedSecret(bytes).key_id(), Some(id));
        }
        assert_eq!(envelope(&KeyId::legacy()), [LEGACY_ENVELOPE]);
        // `0x02` naming `0` is key 0 too.
        assert_eq!(
            SealedSecret(vec![KEYED_ENVELOPE, 1, b'0', 9]).key_id(),
            Some(KeyId::legacy())
        );
        for bad in [
            vec![],
            vec![0x03, 1],
            vec![KEYED_ENVELOPE],
            vec![KEYED_ENVELOPE, 0],
            vec![KEYED_ENVELOPE, 5, b'k'],
            vec![KEYED_ENVELOPE, 2, b'K', b'2'],
            vec![KEYED_ENVELOPE, 2, 0xff, 0xfe],
        ] {
            assert_eq!(SealedSecret(bad.clone()).key_id(), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_add_up() {
        let k0 = KeyId::legacy();
        let k2: KeyId = "k2".parse().unwrap();
        let c = SealedCounts {
            by_key: vec![(k0.clone(), 3), (k2.clone(), 5)],
            unknown: 1,
        };
        assert_eq!(
            (c.under(&k0), c.under(&k2), c.not_under(&k2), c.not_under(&k0)),
            (3, 5, 4, 6)
        );
        assert_eq!(c.under(&"k9".parse().unwrap()), 0);
    }
}
