//! Audit-trail scenarios of the port contract: one event per change, written with the change
//! (a failed change leaves none), numbered per organization without gaps, paged by a cursor
//! that never skips an event committed late, purged without touching recent events.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;
use crate::audit::{Action, Actor, AuditEvent, AuditQuery, Caller, RequestId, ResourceType};
use crate::error::{ConflictKind, Resource};
use crate::ids::{OrgId, TokenId};
use crate::otp::UriError;
use crate::ports::Store;
use crate::service::{AccountPatch, IdentityPatch, NewToken, RetentionDays};
use crate::testkit::Kit;
use crate::values::{DisplayName, Patch};

use super::{RFC_SECRET_B32, device, h, hotp_uri, new_account, org, totp_uri};

fn all_events<S: Store>(k: &Kit<S>, who: &Caller) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = k
            .authd
            .list_audit_events(
                who,
                &AuditQuery {
                    after,
                    limit: 7,
                    ..AuditQuery::default()
                },
            )
            .unwrap();
        if page.events.is_empty() {
            return out;
        }
        after = page.next;
        out.extend(page.events);
    }
}

fn actions(events: &[AuditEvent]) -> Vec<Action> {
    events.iter().map(|e| e.action).collect()
}

/// Every mutation writes exactly one event, with the caller, the request id and the record;
/// reads write none; no event carries a secret or a token.
pub fn audit_every_change_writes_one_event<S: Store>(k: &Kit<S>) {
    let a = &k.authd;
    let token = TokenId::from_uuid(uuid::Uuid::from_u128(42));
    let who = Caller::new(OrgId::new("org_audit").unwrap(), Actor::ServiceToken(token))
        .with_request_id(RequestId::parse("req-1"));
    let bob = a.create_identity(&who, h("bob")).unwrap();
    let app = *a.create_app(&who, Some(&h("bob"))).unwrap().id();
    let spare = *a.create_app(&who, None).unwrap().id();
    let tags = crate::service::AppPatch {
        metadata: Patch::Set(crate::values::Metadata::parse([("env".to_owned(), "prod".to_owned())]).unwrap()),
    };
    a.update_app(&who, spare, tags).unwrap();
    let totp = *a.create_account(&who, app, new_account(&totp_uri())).unwrap().id();
    let hotp = *a.create_account(&who, app, new_account(&hotp_uri(0))).unwrap().id();
    let patch = AccountPatch {
        display_name: Patch::Set(DisplayName::parse("Work").unwrap()),
        description: Patch::Keep,
        verify_window: Patch::Keep,
        metadata: Patch::Keep,
    };
    a.update_account(&who, app, totp, patch).unwrap();
    a.generate_otp(&who, app, totp).unwrap();
    a.generate_otp(&who, app, hotp).unwrap();
    let enrolled = a.enroll_instance(&who, app, device()).unwrap();
    let device_token = enrolled.device_token.expose().to_owned();
    a.device_generate_otp(&device_token, hotp, RequestId::parse("req-dev").as_ref())
        .unwrap();
    // Reads write nothing.
    a.get_app(&who, app).unwrap();
    a.list_accounts(&who, app).unwrap();
    a.device_list_accounts(&device_token).unwrap();
    a.user_instances(&who, "bob").unwrap();
    a.revoke_instance(&who, app, *enrolled.instance.id()).unwrap();
    a.delete_account(&who, app, totp).unwrap();
    let rename = IdentityPatch {
        handle: Some(h("robert")),
        status: Some("paused".into()),
    };
    a.update_identity(&who, &h("bob"), rename).unwrap();
    a.unlink_app(&who, &h("robert")).unwrap();
    a.assign_app(&who, &h("robert"), spare).unwrap();
    a.delete_app(&who, app).unwrap();
    a.delete_identity(&who, &h("robert")).unwrap();
    let (meta, plain) = a
        .create_service_token(&Caller::new(who.org().clone(), Actor::Cli), NewToken::admin(None, None))
        .unwrap();
    a.revoke_service_token(*meta.id(), &Actor::Cli).unwrap();

    let events = all_events(k, &who);
    use Action::*;
    assert_eq!(
        actions(&events),
        [
            IdentityCreate,
            AppCreate,
            AppCreate,
            AppUpdate,
            AccountCreate,
            AccountCreate,
            AccountUpdate,
            OtpGenerate,
            OtpGenerate,
            InstanceEnroll,
            OtpGenerate,
            InstanceRevoke,
            AccountDelete,
            IdentityUpdate,
            AppUnlink,
            AppLink,
            AppDelete,
            IdentityDelete,
            TokenCreate,
            TokenRevoke,
        ],
        "one event per change, in order: {events:#?}"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "numbered 1..n");
    for e in &events {
        assert_eq!(e.org, *who.org());
        let (actor, request) = match e.action {
            TokenCreate | TokenRevoke => (Actor::Cli, None),
            OtpGenerate if e.request_id.as_ref().map(RequestId::as_str) == Some("req-dev") => {
                (Actor::Device(*enrolled.instance.id()), RequestId::parse("req-dev"))
            }
            _ => (Actor::ServiceToken(token), RequestId::parse("req-1")),
        };
        assert_eq!((&e.actor, &e.request_id), (&actor, &request), "{e:?}");
        for secret in [
            RFC_SECRET_B32,
            "12345678901234567890",
            device_token.as_str(),
            plain.expose(),
        ] {
            assert!(!e.details.as_json().contains(secret), "a secret in {e:?}");
        }
    }
    let first = &events[0];
    assert_eq!(
        (first.resource_type, first.resource_id),
        (ResourceType::Identity, bob.id().as_uuid())
    );
    assert!(
        first.details.as_json().contains("\"agent_handle\":\"bob\""),
        "{first:?}"
    );
    let tagged = &events[3];
    assert_eq!(
        (tagged.resource_type, tagged.resource_id),
        (ResourceType::App, spare.as_uuid())
    );
    assert_eq!(
        tagged.details.as_json(),
        r#"{"metadata_keys":["env"]}"#,
        "keys, never values"
    );
    let linked = &events[15];
    assert_eq!(
        (linked.resource_type, linked.resource_id),
        (ResourceType::App, spare.as_uuid())
    );
    // Filters.
    let only = |q: AuditQuery| k.authd.list_audit_events(&who, &q).unwrap().events;
    assert_eq!(
        actions(&only(AuditQuery {
            action: Some(OtpGenerate),
            ..AuditQuery::default()
        })),
        [OtpGenerate; 3]
    );
    let about_hotp = only(AuditQuery {
        resource_id: Some(hotp.as_uuid()),
        ..AuditQuery::default()
    });
    assert_eq!(actions(&about_hotp), [AccountCreate, OtpGenerate, OtpGenerate]);
    let tokens = only(AuditQuery {
        resource_type: Some(ResourceType::ServiceToken),
        ..AuditQuery::default()
    });
    assert_eq!(actions(&tokens), [TokenCreate, TokenRevoke]);
    // Another organization sees none of it.
    assert!(all_events(k, &org("org_other")).is_empty());
}

/// Newest first: a page is the newest `limit` events below `before`, highest number first;
/// `next` is the last one listed, so `before=next` pages backwards to the first event without
/// skipping or repeating one; `after` and `before` bound the range together, filters apply;
/// an empty page keeps the cursor it was given.
pub fn audit_newest_first_pages_backwards<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_n"));
    for i in 0..5 {
        let handle = format!("bot-{i}");
        a.create_identity(&o, h(&handle)).unwrap();
        a.create_app(&o, Some(&h(&handle))).unwrap();
    }
    let oldest_first = all_events(k, &o);
    assert_eq!(oldest_first.len(), 10);
    let page = |q: AuditQuery| a.list_audit_events(&o, &q).unwrap();
    let desc = |limit, before| AuditQuery {
        newest_first: true,
        before,
        limit,
        ..AuditQuery::default()
    };
    let seqs = |events: &[AuditEvent]| events.iter().map(|e| e.seq.unwrap()).collect::<Vec<_>>();

    let first = page(desc(3, None));
    assert_eq!(seqs(&first.events), [10, 9, 8]);
    assert_eq!(first.next, Some(8));
    let mut backwards = first.events;
    let mut cursor = first.next;
    loop {
        let p = page(desc(3, cursor));
        if p.events.is_empty() {
            assert_eq!(p.next, cursor, "an empty page keeps the cursor");
            break;
        }
        cursor = p.next;
        backwards.extend(p.events);
    }
    let mut forwards = oldest_first.clone();
    forwards.reverse();
    assert_eq!(seqs(&backwards), seqs(&forwards));
    assert_eq!(
        backwards.iter().map(|e| e.id).collect::<Vec<_>>(),
        forwards.iter().map(|e| e.id).collect::<Vec<_>>()
    );

    // Both bounds, both orders.
    let between = |newest_first| AuditQuery {
        after: Some(3),
        before: Some(7),
        newest_first,
        ..AuditQuery::default()
    };
    assert_eq!(seqs(&page(between(false)).events), [4, 5, 6]);
    assert_eq!(seqs(&page(between(true)).events), [6, 5, 4]);
    assert_eq!(page(between(true)).next, Some(4));
    // Filters, newest first.
    let apps = page(AuditQuery {
        action: Some(Action::AppCreate),
        ..desc(2, None)
    });
    assert_eq!(actions(&apps.events), [Action::AppCreate; 2]);
    assert_eq!(seqs(&apps.events), [10, 8]);
    // A new event is newest: the first page shows it first.
    a.create_identity(&o, h("late")).unwrap();
    assert_eq!(page(desc(1, None)).events[0].action, Action::IdentityCreate);
    assert_eq!(page(desc(1, None)).next, Some(11));
}

/// A change that fails writes no event.
pub fn audit_failed_change_writes_nothing<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    a.create_identity(&o, h("alice")).unwrap();
    let app = *a.create_app(&o, Some(&h("alice"))).unwrap().id();
    let before = all_events(k, &o).len();
    assert!(matches!(a.create_identity(&o, h("alice")), Err(Error::Conflict(_))));
    assert!(matches!(
        a.create_app(&o, Some(&h("nobody"))),
        Err(Error::NotFound(Resource::Identity))
    ));
    assert!(matches!(
        a.create_app(&o, Some(&h("alice"))),
        Err(Error::Conflict(ConflictKind::IdentityHasApp))
    ));
    let bad = new_account("otpauth://totp/x?secret=!!!");
    assert!(matches!(
        a.create_account(&o, app, bad),
        Err(Error::Uri(UriError::Parameter(_)))
    ));
    let top = *a
        .create_account(&o, app, new_account(&hotp_uri(crate::otp::MAX_COUNTER)))
        .unwrap()
        .id();
    let after_create = all_events(k, &o).len();
    assert_eq!(after_create, before + 1, "only the account that was created");
    assert!(matches!(a.generate_otp(&o, app, top), Err(Error::Conflict(_))));
    let pause = IdentityPatch {
        handle: None,
        status: Some("paused".into()),
    };
    a.update_identity(&o, &h("alice"), pause).unwrap();
    assert!(matches!(a.generate_otp(&o, app, top), Err(Error::Paused)));
    assert!(matches!(a.enroll_instance(&o, app, device()), Err(Error::Paused)));
    a.delete_app(&o, app).unwrap();
    assert!(matches!(a.delete_app(&o, app), Err(Error::NotFound(_))));
    let events = all_events(k, &o);
    assert_eq!(
        actions(&events[after_create..]),
        [Action::IdentityUpdate, Action::AppDelete],
        "failed changes left no event"
    );
}

/// Numbers are per organization and without gaps, and a reader paging with a cursor while many
/// writers commit sees every event exactly once (none skipped, none twice).
pub fn audit_cursor_never_skips_concurrent_commits<S: Store>(k: &Kit<S>) {
    let a = &k.authd;
    let (o1, o2) = (org("org_one"), org("org_two"));
    let writers = 6;
    let per = 15;
    let done = AtomicBool::new(false);
    // Two readers, so two sequencers run side by side too.
    let seen: Vec<Vec<AuditEvent>> = std::thread::scope(|s| {
        let read = || {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                // Read the flag before the page: when it is set, every write has committed, so
                // an empty page after it means the reader is through.
                let finished = done.load(Ordering::SeqCst);
                let page = a
                    .list_audit_events(
                        &o1,
                        &AuditQuery {
                            after,
                            limit: 5,
                            ..AuditQuery::default()
                        },
                    )
                    .unwrap();
                if page.events.is_empty() && finished {
                    return seen;
                }
                after = page.next;
                seen.extend(page.events);
            }
        };
        let readers = [s.spawn(read), s.spawn(read)];
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (o1, o2) = (&o1, &o2);
                s.spawn(move || {
                    for i in 0..per {
                        a.create_identity(o1, h(&format!("w{w}-{i}"))).unwrap();
                        if i % 3 == 0 {
                            a.create_app(o2, None).unwrap();
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        readers.map(|r| r.join().unwrap()).into_iter().collect()
    });
    let total = writers * per;
    assert_eq!(seen[0], seen[1], "both readers read the same trail");
    let seen = &seen[0];
    let mut ids: HashMap<uuid::Uuid, usize> = HashMap::new();
    for e in seen {
        *ids.entry(e.id).or_default() += 1;
    }
    assert!(ids.values().all(|&n| n == 1), "an event was read twice");
    assert_eq!(seen.len(), total, "the reader saw every event of its organization");
    let seqs: BTreeSet<u64> = seen.iter().map(|e| e.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=total as u64).collect(), "numbers 1..n without a gap");
    let in_order: Vec<u64> = seen.iter().map(|e| e.seq.unwrap()).collect();
    assert!(in_order.windows(2).all(|w| w[0] < w[1]), "read in number order");
    let other: Vec<u64> = all_events(k, &o2).iter().map(|e| e.seq.unwrap()).collect();
    assert_eq!(other, (1..=(writers * per.div_ceil(3)) as u64).collect::<Vec<_>>());
}

/// A purge removes only events older than the retention, keeps each organization's newest
/// event, and numbering goes on after it.
pub fn audit_purge_keeps_recent_events<S: Store>(k: &Kit<S>) {
    let (a, o, other) = (&k.authd, org("org_a"), org("org_b"));
    let start = crate::time::Timestamp::from_offset(time::OffsetDateTime::from_unix_timestamp(1_773_835_200).unwrap());
    k.clock.set_to(start);
    a.create_identity(&o, h("old1")).unwrap();
    a.create_identity(&o, h("old2")).unwrap();
    a.create_identity(&other, h("only")).unwrap();
    k.clock.advance(40 * 86_400);
    a.create_identity(&o, h("recent")).unwrap();
    k.clock.advance(86_400);
    let days = RetentionDays::new(30).unwrap();
    assert_eq!(a.purge_audit_events(days).unwrap(), 2, "the two old events of org_a");
    let left: Vec<(u64, String)> = all_events(k, &o)
        .iter()
        .map(|e| (e.seq.unwrap(), e.details.as_json().to_owned()))
        .collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, 3);
    let kept = all_events(k, &other);
    assert_eq!(kept.len(), 1, "the newest event of an organization stays, however old");
    a.create_identity(&o, h("after")).unwrap();
    let seqs: Vec<u64> = all_events(k, &o).iter().map(|e| e.seq.unwrap()).collect();
    assert_eq!(seqs, [3, 4], "numbering goes on after a purge");
    assert_eq!(a.purge_audit_events(days).unwrap(), 0, "a second purge finds nothing");
    assert!(RetentionDays::new(0).is_none());
}

/// Every recorded verification outcome is in the trail with its result; a refusal while locked
/// (which changes nothing) is not.
pub fn audit_verification_results_recorded<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let app = *a.create_app(&o, None).unwrap().id();
    let acc = *a.create_account(&o, app, new_account(&totp_uri())).unwrap().id();
    let code = a.generate_otp(&o, app, acc).unwrap().code;
    let typed = crate::otp::CodeInput::parse(&code).unwrap();
    let before = all_events(k, &o).len();
    a.verify_otp(&o, app, acc, &typed).unwrap();
    a.verify_otp(&o, app, acc, &typed).unwrap();
    assert!(matches!(
        a.verify_otp(&o, app, acc, &typed),
        Err(Error::TooManyAttempts { .. })
    ));
    let events = all_events(k, &o);
    let verified: Vec<&AuditEvent> = events[before..].iter().collect();
    assert_eq!(
        actions(&events[before..]),
        [Action::OtpVerify, Action::OtpVerify],
        "a valid and a replayed verification; the locked refusal wrote nothing"
    );
    assert!(
        verified[0].details.as_json().contains("\"result\":\"valid\""),
        "{verified:?}"
    );
    assert!(
        verified[1].details.as_json().contains("\"result\":\"replayed\""),
        "{verified:?}"
    );
    assert!(
        !verified.iter().any(|e| e.details.as_json().contains(&code)),
        "the code is not in the trail"
    );
}
