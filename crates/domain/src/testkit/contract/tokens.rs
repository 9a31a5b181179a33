//! Confined service tokens, through the use cases and the store: the restriction stored and
//! read back, every use case answering "not found" outside it, lists filtered, creation inside
//! it only, pinned handles never inherited, minting never broader, the organization's maximum
//! lifetime, and `last_used_at` written at most once a minute.

use crate::Error;
use crate::access::{HandlePattern, Scope, Scopes, TooBroad};
use crate::audit::{Action, Actor, AuditQuery, Caller};
use crate::entities::ServiceToken;
use crate::error::Forbidden;
use crate::ids::AppId;
use crate::ports::{Clock, Store};
use crate::service::{AccountPatch, AppPatch, IdentityPatch, NewToken};
use crate::testkit::Kit;
use crate::token::PlainToken;
use crate::values::TokenLifetime;

use super::{assert_not_found, device, fixture, h, new_account, totp_uri};

/// The CLI acting for organization `s` (a mint by the CLI has no parent token).
fn cli(s: &str) -> Caller {
    Caller::new(crate::ids::OrgId::new(s).unwrap(), Actor::Cli)
}

fn scopes(names: &[Scope]) -> Scopes {
    Scopes::of(names)
}

fn confined(scopes: Scopes, patterns: &[&str], apps: &[AppId]) -> NewToken {
    NewToken {
        name: None,
        scopes,
        identities: patterns.iter().map(|p| HandlePattern::parse(p).unwrap()).collect(),
        apps: apps.to_vec(),
        lifetime: None,
    }
}

/// Mints `input` as `by` and returns the caller the new token acts as, authenticated through
/// the store (so the stored scopes and restriction are what it gets).
fn mint<S: Store>(k: &Kit<S>, by: &Caller, input: NewToken) -> Caller {
    mint_token(k, by, input).0
}

/// [`mint`], with the minted token's record and the token itself.
fn mint_token<S: Store>(k: &Kit<S>, by: &Caller, input: NewToken) -> (Caller, ServiceToken, PlainToken) {
    let (meta, plain) = k.authd.create_service_token(by, input).unwrap();
    let (p, _) = k.authd.authenticate_service_token(plain.expose()).unwrap();
    let caller = Caller::new(p.org, Actor::ServiceToken(p.token_id)).with_access(p.access, p.expires_at);
    (caller, meta, plain)
}

/// The organization's `token.revoke` events, oldest first.
fn revocations<S: Store>(k: &Kit<S>, who: &Caller) -> Vec<crate::audit::AuditEvent> {
    let query = AuditQuery {
        action: Some(Action::TokenRevoke),
        ..AuditQuery::default()
    };
    k.authd.list_audit_events(who, &query).unwrap().events
}

fn assert_forbidden<T: std::fmt::Debug>(r: Result<T, Error>, want: &Forbidden, what: &str) {
    match r {
        Err(Error::Forbidden(f)) if &f == want => {}
        other => panic!("{what}: expected Forbidden({want:?}), got {other:?}"),
    }
}

/// A token confined to `sales-*` sees its identities, their apps, accounts, instances and audit
/// events, answers "not found" for every other record through every use case, and creates only
/// inside its patterns.
pub fn confined_token_sees_only_its_records<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    let inside = fixture(k, &admin, "sales-1");
    let outside = fixture(k, &admin, "bot");
    let unlinked = *a.create_app(&admin, None).unwrap().id();
    let t = mint(k, &admin, confined(Scopes::ADMIN, &["sales-*"], &[]));

    // Reads inside.
    assert_eq!(
        a.list_apps(&t).unwrap().iter().map(|x| *x.id()).collect::<Vec<_>>(),
        [inside.app]
    );
    let handles: Vec<String> = a
        .list_identities(&t)
        .unwrap()
        .iter()
        .map(|i| i.handle().to_string())
        .collect();
    assert_eq!(handles, ["sales-1"]);
    a.get_app(&t, inside.app).unwrap();
    a.get_identity(&t, &h("sales-1")).unwrap();
    assert_eq!(a.list_accounts(&t, inside.app).unwrap().len(), 2);
    a.generate_otp(&t, inside.app, inside.totp).unwrap();
    a.account_lockout(&t, inside.app, inside.totp).unwrap();
    a.get_instance(&t, inside.app, inside.instance).unwrap();
    assert_eq!(a.user_instances(&t, "sales-1").unwrap().len(), 1);

    // Every use case outside answers like a missing record.
    let o = &outside;
    assert_not_found(a.get_app(&t, o.app), "get app");
    assert_not_found(a.get_app(&t, unlinked), "get unlinked app");
    assert_not_found(a.update_app(&t, o.app, AppPatch::default()), "update app");
    assert_not_found(a.delete_app(&t, o.app), "delete app");
    assert_not_found(a.list_accounts(&t, o.app), "list accounts");
    assert_not_found(a.get_account(&t, o.app, o.totp), "get account");
    assert_not_found(a.create_account(&t, o.app, new_account(&totp_uri())), "create account");
    assert_not_found(
        a.update_account(&t, o.app, o.totp, AccountPatch::default()),
        "update account",
    );
    assert_not_found(a.generate_otp(&t, o.app, o.totp), "generate");
    assert_not_found(a.generate_otp(&t, o.app, o.hotp), "generate HOTP");
    let code = crate::otp::CodeInput::parse("000000").unwrap();
    assert_not_found(a.verify_otp(&t, o.app, o.totp, &code), "verify");
    assert_not_found(a.account_lockout(&t, o.app, o.totp), "lockout");
    assert_not_found(a.delete_account(&t, o.app, o.totp), "delete account");
    assert_not_found(a.list_instances(&t, o.app), "list instances");
    assert_not_found(a.get_instance(&t, o.app, o.instance), "get instance");
    assert_not_found(a.enroll_instance(&t, o.app, device()), "enroll");
    assert_not_found(a.enroll_instance(&t, unlinked, device()), "enroll on unlinked app");
    assert_not_found(a.revoke_instance(&t, o.app, o.instance), "revoke instance");
    assert_not_found(a.get_identity(&t, &h("bot")), "get identity");
    assert_not_found(
        a.update_identity(&t, &h("bot"), IdentityPatch::default()),
        "update identity",
    );
    assert_not_found(a.delete_identity(&t, &h("bot")), "delete identity");
    assert_not_found(a.unlink_app(&t, &h("bot")), "unlink");
    assert_not_found(a.assign_app(&t, &h("sales-1"), unlinked), "assign an app outside");
    assert_not_found(a.user_instances(&t, "bot"), "OneWelcome list");
    assert_not_found(
        a.revoke_user_instance(&t, "bot", &o.instance.to_string()),
        "OneWelcome revoke",
    );
    // Nothing outside changed, and the HOTP counter did not move.
    assert_eq!(a.list_accounts(&admin, o.app).unwrap().len(), 2);
    assert_eq!(a.list_instances(&admin, o.app).unwrap().len(), 1);

    // Creation: only inside the patterns, apps only linked.
    assert_forbidden(
        a.create_identity(&t, h("bot-2")),
        &Forbidden::IdentityOutside(h("bot-2")),
        "identity outside",
    );
    assert_forbidden(a.create_app(&t, None), &Forbidden::AppOutside, "unlinked app");
    assert_not_found(a.create_app(&t, Some(&h("bot"))), "app linked outside");
    a.create_identity(&t, h("sales-2")).unwrap();
    let new_app = *a.create_app(&t, Some(&h("sales-2"))).unwrap().id();
    a.create_account(&t, new_app, new_account(&totp_uri())).unwrap();
    let rename = IdentityPatch {
        handle: Some(h("bot-3")),
        status: None,
    };
    assert_forbidden(
        a.update_identity(&t, &h("sales-2"), rename),
        &Forbidden::IdentityOutside(h("bot-3")),
        "rename out of the patterns",
    );
    assert!(
        a.get_identity(&admin, &h("sales-2")).is_ok(),
        "the refused rename changed nothing"
    );
    let onto_taken = IdentityPatch {
        handle: Some(h("bot")),
        status: None,
    };
    assert_forbidden(
        a.update_identity(&t, &h("sales-2"), onto_taken),
        &Forbidden::IdentityOutside(h("bot")),
        "a handle taken outside is not revealed by a conflict",
    );

    // Audit: only events about records it sees.
    let events = a.list_audit_events(&t, &AuditQuery::default()).unwrap().events;
    assert!(!events.is_empty());
    let outside_ids = [
        o.app.as_uuid(),
        o.totp.as_uuid(),
        o.hotp.as_uuid(),
        o.instance.as_uuid(),
    ];
    assert!(
        events.iter().all(|e| !outside_ids.contains(&e.resource_id)),
        "a confined token reads no event about records outside"
    );
    assert!(events.iter().any(|e| e.resource_id == inside.totp.as_uuid()));
    let all = a.list_audit_events(&admin, &AuditQuery::default()).unwrap().events;
    assert!(all.len() > events.len());
}

/// A token confined to listed apps sees those apps only (and no identity).
pub fn app_confined_token_sees_its_apps<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    let mine = fixture(k, &admin, "bot");
    let other = fixture(k, &admin, "other");
    let t = mint(
        k,
        &admin,
        confined(scopes(&[Scope::AppsRead, Scope::OtpGenerate]), &[], &[mine.app]),
    );
    assert_eq!(
        a.list_apps(&t).unwrap().iter().map(|x| *x.id()).collect::<Vec<_>>(),
        [mine.app]
    );
    a.generate_otp(&t, mine.app, mine.hotp).unwrap();
    assert_not_found(a.generate_otp(&t, other.app, other.hotp), "other app");
    assert!(a.list_identities(&t).unwrap().is_empty());
    assert_not_found(a.get_identity(&t, &h("bot")), "identities are outside");
    assert_forbidden(a.create_app(&t, None), &Forbidden::AppOutside, "new app");
}

/// A literal handle is pinned to the identity that had it when the token was minted: after
/// that identity is deleted, a new identity with the same handle is not the token's.
pub fn pinned_handle_is_not_inherited<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    let old = fixture(k, &admin, "bot");
    let t = mint(k, &admin, confined(Scopes::ADMIN, &["bot"], &[]));
    a.generate_otp(&t, old.app, old.totp).unwrap();
    let rename = IdentityPatch {
        handle: Some(h("bot-renamed")),
        status: None,
    };
    assert_forbidden(
        a.update_identity(&t, &h("bot"), rename),
        &Forbidden::IdentityOutside(h("bot-renamed")),
        "a pinned identity keeps its handle",
    );
    a.delete_identity(&admin, &h("bot")).unwrap();
    let new = fixture(k, &admin, "bot");
    assert_not_found(a.get_identity(&t, &h("bot")), "the successor identity");
    assert_not_found(a.generate_otp(&t, new.app, new.totp), "the successor's codes");
    assert!(a.list_apps(&t).unwrap().is_empty());
    assert_forbidden(
        a.create_identity(&t, h("bot-2")),
        &Forbidden::IdentityOutside(h("bot-2")),
        "a pinned handle creates nothing",
    );
    assert_not_found(
        a.create_service_token(&admin, confined(Scopes::ADMIN, &["nobody"], &[])),
        "pinning a handle nobody has",
    );
    // Its old handle now names the successor, or nobody: either way too broad, never a probe.
    let too_broad = Forbidden::TooBroad(TooBroad::Identity("bot".to_owned()));
    assert_forbidden(
        a.create_service_token(&t, confined(scopes(&[Scope::OtpGenerate]), &["bot"], &[])),
        &too_broad,
        "minting for the successor",
    );
    a.delete_identity(&admin, &h("bot")).unwrap();
    assert_forbidden(
        a.create_service_token(&t, confined(scopes(&[Scope::OtpGenerate]), &["bot"], &[])),
        &too_broad,
        "minting for a handle nobody has any more",
    );
}

/// A token mints only tokens no broader than itself (scopes, identities, apps, lifetime),
/// lists and revokes only those, and sees itself; the organization's maximum lifetime bounds
/// every mint.
pub fn minting_is_never_broader<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    let now = k.clock.now();
    let sales = fixture(k, &admin, "sales-1");
    let bot = fixture(k, &admin, "bot");
    let mut parent_input = confined(
        scopes(&[Scope::AppsRead, Scope::OtpGenerate, Scope::TokensWrite]),
        &["sales-*"],
        &[],
    );
    parent_input.lifetime = Some(TokenLifetime::from_seconds(3600).unwrap());
    let parent = mint(k, &admin, parent_input);
    let too_broad = |r: Result<_, Error>, want: TooBroad, what: &str| {
        assert_forbidden(
            r.map(|_: (crate::entities::ServiceToken, _)| ()),
            &Forbidden::TooBroad(want),
            what,
        );
    };
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::OtpVerify]), &["sales-*"], &[])),
        TooBroad::Scope(Scope::OtpVerify),
        "scope",
    );
    too_broad(
        a.create_service_token(&parent, confined(Scopes::ADMIN, &["sales-*"], &[])),
        TooBroad::Scope(Scope::Admin),
        "admin",
    );
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &[], &[])),
        TooBroad::Unrestricted,
        "unrestricted",
    );
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &["*"], &[])),
        TooBroad::Identity("*".to_owned()),
        "wider pattern",
    );
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &["bot"], &[])),
        TooBroad::Identity("bot".to_owned()),
        "an identity outside",
    );
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &[], &[bot.app])),
        TooBroad::App(bot.app),
        "an app outside",
    );
    // Outside its view, missing and existing records are refused alike: minting probes nothing.
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &["nobody"], &[])),
        TooBroad::Identity("nobody".to_owned()),
        "a handle nobody has, outside",
    );
    let ghost = AppId::from_uuid(uuid::Uuid::from_u128(0xdead));
    too_broad(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &[], &[ghost])),
        TooBroad::App(ghost),
        "an app nobody has, outside",
    );
    assert_not_found(
        a.create_service_token(&parent, confined(scopes(&[Scope::AppsRead]), &["sales-9"], &[])),
        "a missing handle inside its view",
    );
    let mut longer = confined(scopes(&[Scope::AppsRead]), &["sales-*"], &[]);
    longer.lifetime = Some(TokenLifetime::from_seconds(7200).unwrap());
    too_broad(a.create_service_token(&parent, longer), TooBroad::Lifetime, "lifetime");
    // Narrower in every way: minted, expiring with its parent when no lifetime is asked.
    let (child, _) = a
        .create_service_token(
            &parent,
            confined(scopes(&[Scope::OtpGenerate]), &["sales-1"], &[sales.app]),
        )
        .unwrap();
    assert_eq!(*child.expires_at(), Some(now.plus_seconds(3600)));
    // Listing and revoking: only what the parent covers.
    let listed: Vec<_> = a.list_tokens(&parent).unwrap().iter().map(|t| *t.id()).collect();
    let Actor::ServiceToken(parent_id) = parent.actor().clone() else {
        unreachable!()
    };
    assert_eq!(listed, [parent_id, *child.id()]);
    assert_eq!(a.list_tokens(&admin).unwrap().len(), 2);
    assert_eq!(*a.token_self(&parent).unwrap().id(), parent_id);
    let admin_token = mint(k, &admin, NewToken::admin(None, None));
    let Actor::ServiceToken(admin_id) = admin_token.actor().clone() else {
        unreachable!()
    };
    assert_not_found(a.revoke_token(&parent, admin_id), "revoking a broader token");
    assert_eq!(*child.parent(), Some(parent_id), "a minted token records its parent");
    a.revoke_token(&parent, *child.id()).unwrap();
    assert_not_found(a.revoke_token(&parent, *child.id()), "revoked twice");
    let revoke_events = revocations(k, &admin);
    assert_eq!(revoke_events.len(), 1, "a revocation is an audit event");
    assert_eq!(revoke_events[0].actor, Actor::ServiceToken(parent_id));

    // No lifetime asked: the tightest bound that applies (here the parent's expiry).
    let two_hours = TokenLifetime::from_seconds(7200).unwrap();
    a.set_max_token_lifetime(&admin, Some(two_hours)).unwrap();
    let (t, _) = a
        .create_service_token(&parent, confined(scopes(&[Scope::OtpGenerate]), &["sales-1"], &[]))
        .unwrap();
    assert_eq!(*t.expires_at(), Some(now.plus_seconds(3600)));
    // The organization's maximum lifetime: the default, and a bound.
    let hour = TokenLifetime::from_seconds(3600).unwrap();
    a.set_max_token_lifetime(&admin, Some(hour)).unwrap();
    assert_eq!(a.max_token_lifetime(admin.org()).unwrap(), Some(hour));
    let (t, _) = a.create_service_token(&admin, NewToken::admin(None, None)).unwrap();
    assert_eq!(*t.expires_at(), Some(now.plus_seconds(3600)));
    assert_forbidden(
        a.create_service_token(
            &admin,
            NewToken::admin(None, Some(TokenLifetime::from_seconds(3601).unwrap())),
        ),
        &Forbidden::LifetimeOverMax(hour),
        "over the maximum",
    );
    a.set_max_token_lifetime(&admin, None).unwrap();
    assert_eq!(a.max_token_lifetime(admin.org()).unwrap(), None);
    assert_eq!(a.max_token_lifetime(cli("org_b").org()).unwrap(), None);
}

/// Revoking a token revokes every token it minted, and theirs (a compromised agent cannot keep
/// access through a child minted before its revocation); a revoked token mints nothing.
pub fn revocation_reaches_minted_tokens<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    fixture(k, &admin, "bot");
    let all = scopes(&[Scope::OtpGenerate, Scope::TokensWrite]);
    let (parent, parent_meta, _) = mint_token(k, &admin, confined(all, &["bot"], &[]));
    let (child_caller, child, _) = mint_token(k, &parent, confined(all, &["bot"], &[]));
    let (grandchild, grandchild_plain) = a
        .create_service_token(&child_caller, confined(scopes(&[Scope::OtpGenerate]), &["bot"], &[]))
        .unwrap();
    let (sibling, _) = a.create_service_token(&admin, confined(all, &["bot"], &[])).unwrap();

    a.revoke_service_token(*parent_meta.id(), &Actor::Cli).unwrap();
    let tokens = a.list_service_tokens(Some(admin.org())).unwrap();
    let revoked = |id| tokens.iter().find(|t| *t.id() == id).unwrap().revoked_at().is_some();
    assert!(revoked(*parent_meta.id()));
    assert!(revoked(*child.id()), "the child goes with its parent");
    assert!(revoked(*grandchild.id()), "and the grandchild");
    assert!(!revoked(*sibling.id()), "a token minted elsewhere stays");
    let events = revocations(k, &admin);
    assert_eq!(events.len(), 3, "one revocation event per token");
    assert!(events[1].details.as_json().contains(&parent_meta.id().to_string()));
    // This process forgot them at once; a revoked token mints nothing even while cached
    // elsewhere (its own row is checked under a lock).
    assert!(matches!(
        a.authenticate_service_token(grandchild_plain.expose()),
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        a.create_service_token(&child_caller, confined(scopes(&[Scope::OtpGenerate]), &["bot"], &[])),
        Err(Error::Unauthorized(_))
    ));
}

/// `last_used_at` is written once a minute at most, whatever the number of look-ups.
pub fn last_used_is_coarse<S: Store>(k: &Kit<S>) {
    let (a, admin) = (&k.authd, cli("org_a"));
    let (meta, plain) = a.create_service_token(&admin, NewToken::admin(None, None)).unwrap();
    let first = k.clock.now();
    let (p, due) = a.authenticate_service_token(plain.expose()).unwrap();
    assert!(due);
    a.record_service_token_use(p.token_id).unwrap();
    let used = |k: &Kit<S>| {
        *k.authd
            .list_service_tokens(Some(admin.org()))
            .unwrap()
            .into_iter()
            .find(|t| t.id() == meta.id())
            .unwrap()
            .last_used_at()
    };
    assert_eq!(used(k), Some(first));
    k.clock.advance(30);
    a.record_service_token_use(p.token_id).unwrap();
    assert_eq!(used(k), Some(first), "not rewritten within the minute");
    k.clock.advance(3);
    let (_, due) = a.authenticate_service_token(plain.expose()).unwrap();
    assert!(!due, "a look-up within the minute records nothing");
    k.clock.advance(30);
    let (_, due) = a.authenticate_service_token(plain.expose()).unwrap();
    assert!(due);
    a.record_service_token_use(p.token_id).unwrap();
    assert_eq!(used(k), Some(first.plus_seconds(63)));
}
