//! Contract scenarios of the keyring records, the heartbeats and the sealed values by key
//! ([`crate::ports::KeyRepo`]), through the use cases and the port. The kit's cipher holds one
//! key, `0`; values under other keys are written through the port with their envelope.

use crate::keys::{KEYED_ENVELOPE, KeyAction, KeyError, KeyId, ReplicaBeat, SealedCounts};
use crate::ports::{Clock, SealedSecret, Store};
use crate::service::Beat;
use crate::testkit::Kit;
use crate::time::Timestamp;

use super::{fixture, org};

fn key(s: &str) -> KeyId {
    s.parse().unwrap()
}

fn beat(id: &str, keys: &[&str], seen_at: Timestamp) -> ReplicaBeat {
    ReplicaBeat {
        id: id.to_owned(),
        host: "host".to_owned(),
        pid: 42,
        started_at: seen_at,
        seen_at,
        keys: keys.iter().map(|s| key(s)).collect(),
        sealing: key(keys[0]),
    }
}

/// `bytes` behind the envelope of `key`.
fn under(id: &str, bytes: &[u8]) -> SealedSecret {
    let mut out = vec![KEYED_ENVELOPE, u8::try_from(id.len()).unwrap()];
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(bytes);
    SealedSecret(out)
}

/// The first replica records the first key of its ring as primary (once, a system event);
/// heartbeats are listed while live and forgotten when stale or stopped; a replica whose ring
/// lacks the recorded primary is refused, and one already serving reports it.
pub fn keyring_primary_and_heartbeats<S: Store>(k: &Kit<S>) {
    let a = &k.authd;
    let now = k.clock.now();
    let record = a.store().run(|r| r.keyring(None)).unwrap();
    assert_eq!(
        (record.primary, record.retired.len()),
        (None, 0),
        "a new database records no key"
    );
    let mut one = beat("r1", &["0"], now);
    assert_eq!(a.register_replica(&mut one).unwrap(), KeyId::legacy());
    let mut two = beat("r2", &["0"], now);
    assert_eq!(a.register_replica(&mut two).unwrap(), KeyId::legacy());
    let events = a.key_events(10).unwrap();
    assert_eq!(events.len(), 1, "initialized once: {events:?}");
    assert_eq!(
        (events[0].action, events[0].key.clone()),
        (KeyAction::Initialize, KeyId::legacy())
    );
    let status = a.key_status().unwrap();
    assert_eq!(status.primary, Some(KeyId::legacy()));
    let ids: Vec<&str> = status.replicas.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    assert_eq!(status.replicas[0].keys, [KeyId::legacy()]);
    assert_eq!(status.replicas[0].sealing, KeyId::legacy());

    // A replica that stops is gone at once; one that goes silent stops being live.
    a.unregister_replica("r2").unwrap();
    k.clock.advance(crate::keys::REPLICA_LIVE_SECONDS + 1);
    assert!(a.key_status().unwrap().replicas.is_empty(), "r1 went silent");
    assert!(matches!(
        a.heartbeat(&mut one).unwrap(),
        Beat::Sealing { switched: false, .. }
    ));
    let ids: Vec<String> = a.key_status().unwrap().replicas.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["r1"], "a beat makes it live again");

    // Promotion and retirement checks that need no second key.
    assert!(matches!(a.promote_key(&key("k9")), Err(KeyError::NotInRing { .. })));
    assert!(matches!(a.retire_key(&KeyId::legacy()), Err(KeyError::IsPrimary(_))));
    a.promote_key(&KeyId::legacy()).unwrap();
    assert_eq!(
        a.key_events(10).unwrap().len(),
        1,
        "promoting the primary again records nothing"
    );

    // Retirement of a key nothing is sealed under, recorded once; a retired key is never
    // promoted.
    a.retire_key(&key("old")).unwrap();
    a.retire_key(&key("old")).unwrap();
    assert_eq!(a.key_status().unwrap().retired, [key("old")]);
    let events = a.key_events(10).unwrap();
    assert_eq!(events[0].action, KeyAction::Retire, "newest first: {events:?}");
    assert_eq!(events.len(), 2);

    // The database names a primary this ring lacks: a running replica says so and keeps
    // sealing under its own; a starting one is refused.
    let at = k.clock.now();
    a.store().transaction(|r| r.set_primary_key(&key("k7"), at)).unwrap();
    assert_eq!(
        a.heartbeat(&mut one).unwrap(),
        Beat::PrimaryNotHeld { primary: key("k7") }
    );
    let mut three = beat("r3", &["0"], at);
    let refused = a.register_replica(&mut three).unwrap_err();
    assert!(matches!(refused, KeyError::PrimaryNotHeld { .. }), "{refused:?}");
    assert!(
        refused.to_string().contains("`k7`") && refused.to_string().contains("holds: 0"),
        "{refused}"
    );
    assert!(
        a.key_status().unwrap().replicas.iter().all(|r| r.id != "r3"),
        "a refused replica is not registered"
    );
}

/// Sealed values are counted by the key their envelope names (deleted accounts' too), listed
/// by account id past a cursor, and replaced only while still the value read, touching
/// nothing else.
pub fn sealed_values_by_key_and_conditional_replace<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let gone = *a
        .create_account(&o, f.app, super::new_account(&super::totp_uri()))
        .unwrap()
        .id();
    a.delete_account(&o, f.app, gone).unwrap();
    let counts = a.store().run(|r| r.count_sealed()).unwrap();
    assert_eq!(
        counts,
        SealedCounts {
            by_key: vec![(KeyId::legacy(), 3)],
            unknown: 0
        },
        "the deleted account's value counts too"
    );

    let material = |id| {
        a.store()
            .run(|r| r.otp_material(o.org(), f.app, id))
            .unwrap()
            .expect("material")
    };
    let totp = material(f.totp);
    let hotp = material(f.hotp);
    // HOTP advanced after its value was read: the replace must not undo the advance.
    a.generate_otp(&o, f.app, f.hotp).unwrap();
    let before = a.get_account(&o, f.app, f.hotp).unwrap();

    let k2_totp = under("k2", &[1; 40]);
    let k2_hotp = under("k2", &[2; 40]);
    a.store()
        .transaction(|r| {
            assert!(r.replace_sealed(f.totp, &totp.sealed, &k2_totp)?);
            assert!(
                !r.replace_sealed(f.totp, &totp.sealed, &under("k3", &[9; 40]))?,
                "no longer the value read"
            );
            assert!(r.replace_sealed(f.hotp, &hotp.sealed, &k2_hotp)?);
            Ok::<_, crate::ports::StoreError>(())
        })
        .unwrap();
    assert_eq!(material(f.totp).sealed, k2_totp);
    let after = a.get_account(&o, f.app, f.hotp).unwrap();
    assert_eq!(
        after.kind().counter(),
        before.kind().counter(),
        "the HOTP counter is kept"
    );
    assert_eq!(after.updated_at(), before.updated_at(), "updated_at is kept");
    assert_eq!(after, before);

    let counts = a.store().run(|r| r.count_sealed()).unwrap();
    assert_eq!((counts.under(&KeyId::legacy()), counts.under(&key("k2"))), (1, 2));

    // Not under k2: the deleted one. Not under 0: both, by id, a page at a time.
    let rows = a.store().run(|r| r.sealed_not_under(&key("k2"), None, 10)).unwrap();
    assert_eq!(rows.iter().map(|r| r.account).collect::<Vec<_>>(), [gone]);
    assert_eq!(rows[0].org, *o.org());
    let mut ids = [f.totp, f.hotp];
    ids.sort_by_key(|id| id.as_uuid());
    let first = a
        .store()
        .run(|r| r.sealed_not_under(&KeyId::legacy(), None, 1))
        .unwrap();
    assert_eq!(first.iter().map(|r| r.account).collect::<Vec<_>>(), [ids[0]]);
    let next = a
        .store()
        .run(|r| r.sealed_not_under(&KeyId::legacy(), Some(ids[0]), 5))
        .unwrap();
    assert_eq!(next.iter().map(|r| r.account).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(
        next[0].sealed,
        if ids[1] == f.totp {
            k2_totp.clone()
        } else {
            k2_hotp.clone()
        }
    );

    // A value with no known envelope is counted apart, and selected under any key.
    let odd = SealedSecret(vec![0x09, 1, 2, 3]);
    assert!(a.store().run(|r| r.replace_sealed(f.totp, &k2_totp, &odd)).unwrap());
    let counts = a.store().run(|r| r.count_sealed()).unwrap();
    assert_eq!((counts.unknown, counts.not_under(&key("k2"))), (1, 2));
    let rows = a.store().run(|r| r.sealed_not_under(&key("k2"), None, 10)).unwrap();
    assert_eq!(rows.len(), 2);

    // The rewrap cannot open it: it stops on it, naming the account, and writes nothing after.
    let mut me = beat("r1", &["0"], k.clock.now());
    a.register_replica(&mut me).unwrap();
    match a.rewrap(10, &mut |_| {}) {
        Err(KeyError::Cipher { account, .. }) => assert!(account == f.totp.as_uuid() || account == f.hotp.as_uuid()),
        other => panic!("expected a cipher refusal, got {other:?}"),
    }
}
