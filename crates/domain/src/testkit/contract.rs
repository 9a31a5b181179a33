//! The port contract: scenarios every [`Store`] must pass, through the use cases and through
//! the [`Repo`] directly. The domain's own tests run them on [`super::InMemoryStore`];
//! `storage-diesel` runs the very same functions on SQLite and PostgreSQL.
//!
//! Each scenario takes a fresh [`Kit`] and panics (with a message) when the store breaks a rule.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "scenarios are tests run by other crates: a broken rule panics with its message"
)]

mod audit;
mod keys;
mod races;
mod tokens;
mod verify;

pub use audit::{
    audit_cursor_never_skips_concurrent_commits, audit_every_change_writes_one_event,
    audit_failed_change_writes_nothing, audit_newest_first_pages_backwards, audit_purge_keeps_recent_events,
    audit_verification_results_recorded,
};

pub use keys::{keyring_primary_and_heartbeats, sealed_values_by_key_and_conditional_replace};
pub use races::{
    race_children_vs_delete_app, race_double_deletes, race_enroll_vs_delete_identity, race_link_vs_delete_identity,
    race_links_have_one_winner, race_updates_keep_both_changes,
};
pub use tokens::{
    app_confined_token_sees_its_apps, confined_token_sees_only_its_records, last_used_is_coarse,
    minting_is_never_broader, pinned_handle_is_not_inherited, revocation_reaches_minted_tokens,
};
pub use verify::{
    verify_existence_paused_and_device, verify_hotp_look_ahead_moves_the_counter, verify_lockout_reads_the_throttle,
    verify_race_one_valid_code_one_success, verify_race_wrong_codes_lose_no_count, verify_throttle_delays_and_reset,
    verify_totp_window_and_replay,
};

use std::collections::HashMap;

use crate::Error;
use crate::audit::{Action, Actor, AuditQuery, Caller};
use crate::cascade::CascadePlan;
use crate::error::{ConflictKind, Realm};
use crate::ids::{AccountId, AppId, InstanceId, OrgId, TokenId};
use crate::otp::UriError;
use crate::otp::{self, Algorithm, Digits, OtpKind, OtpType, Period, Secret};
use crate::ports::{HotpAdvance, HotpUse, SealedSecret, Store, StoreError};
use crate::service::{AccountPatch, IdentityPatch, NewAccount, NewInstance, NewToken};
use crate::testkit::Kit;
use crate::values::{
    Description, DeviceName, DisplayName, Handle, IdentityStatus, Metadata, Patch, Platform, TokenLifetime,
};

/// A scenario: a name and a function.
pub type Scenario<S> = (&'static str, fn(&Kit<S>));

/// Every scenario, for a store type: the one list of them. Each backend's tests run every
/// scenario listed here, each on a fresh store (`crates/domain/tests/domain.rs` on the
/// in-memory store, `crates/storage-diesel/tests/storage/contract.rs` on SQLite and
/// PostgreSQL), and the domain's `every_scenario_is_in_the_one_list` fails when a scenario
/// function is missing here. Adding a scenario: its `pub fn` (re-exported above when it lives
/// in a submodule) and one line here.
#[must_use]
pub fn scenarios<S: Store>() -> Vec<Scenario<S>> {
    vec![
        (
            "handle_unique_among_live_and_freed_after_delete",
            handle_unique_among_live_and_freed_after_delete::<S>,
        ),
        (
            "identities_newest_first_apps_oldest_first",
            identities_newest_first_apps_oldest_first::<S>,
        ),
        (
            "one_app_per_identity_one_identity_per_app",
            one_app_per_identity_one_identity_per_app::<S>,
        ),
        ("org_isolation_everywhere", org_isolation_everywhere::<S>),
        (
            "delete_app_cascades_with_one_timestamp",
            delete_app_cascades_with_one_timestamp::<S>,
        ),
        (
            "unlink_revokes_instances_keeps_app_and_accounts",
            unlink_revokes_instances_keeps_app_and_accounts::<S>,
        ),
        (
            "delete_identity_unlinks_and_revokes",
            delete_identity_unlinks_and_revokes::<S>,
        ),
        (
            "delete_account_only_that_account",
            delete_account_only_that_account::<S>,
        ),
        ("hotp_sequence_and_exhaustion", hotp_sequence_and_exhaustion::<S>),
        ("hotp_advance_if_sealed_guards", hotp_advance_if_sealed_guards::<S>),
        ("totp_matches_engine", totp_matches_engine::<S>),
        ("paused_identity_rules", paused_identity_rules::<S>),
        ("account_patch_keep_clear_set", account_patch_keep_clear_set::<S>),
        ("edits_round_trip_every_field", edits_round_trip_every_field::<S>),
        (
            "app_metadata_set_cleared_and_kept_by_links",
            app_metadata_set_cleared_and_kept_by_links::<S>,
        ),
        ("service_token_lifecycle", service_token_lifecycle::<S>),
        ("service_token_expiry", service_token_expiry::<S>),
        (
            "confined_token_sees_only_its_records",
            confined_token_sees_only_its_records::<S>,
        ),
        (
            "app_confined_token_sees_its_apps",
            app_confined_token_sees_its_apps::<S>,
        ),
        ("pinned_handle_is_not_inherited", pinned_handle_is_not_inherited::<S>),
        ("minting_is_never_broader", minting_is_never_broader::<S>),
        (
            "revocation_reaches_minted_tokens",
            revocation_reaches_minted_tokens::<S>,
        ),
        ("last_used_is_coarse", last_used_is_coarse::<S>),
        ("onewelcome_user_instances", onewelcome_user_instances::<S>),
        (
            "nested_resources_belong_to_parent",
            nested_resources_belong_to_parent::<S>,
        ),
        ("device_token_lifecycle", device_token_lifecycle::<S>),
        (
            "failed_transaction_changes_nothing",
            failed_transaction_changes_nothing::<S>,
        ),
        (
            "rename_identity_checks_conflicts",
            rename_identity_checks_conflicts::<S>,
        ),
        (
            "sealed_secret_round_trip_and_no_plaintext",
            sealed_secret_round_trip_and_no_plaintext::<S>,
        ),
        ("hotp_concurrent_counters_unique", hotp_concurrent_counters_unique::<S>),
        ("timestamps_round_trip", timestamps_round_trip::<S>),
        ("keyring_primary_and_heartbeats", keyring_primary_and_heartbeats::<S>),
        (
            "sealed_values_by_key_and_conditional_replace",
            sealed_values_by_key_and_conditional_replace::<S>,
        ),
        ("race_links_have_one_winner", race_links_have_one_winner::<S>),
        ("race_children_vs_delete_app", race_children_vs_delete_app::<S>),
        ("race_enroll_vs_delete_identity", race_enroll_vs_delete_identity::<S>),
        ("race_link_vs_delete_identity", race_link_vs_delete_identity::<S>),
        ("race_double_deletes", race_double_deletes::<S>),
        ("race_updates_keep_both_changes", race_updates_keep_both_changes::<S>),
        (
            "audit_every_change_writes_one_event",
            audit_every_change_writes_one_event::<S>,
        ),
        (
            "audit_failed_change_writes_nothing",
            audit_failed_change_writes_nothing::<S>,
        ),
        (
            "audit_newest_first_pages_backwards",
            audit_newest_first_pages_backwards::<S>,
        ),
        (
            "audit_cursor_never_skips_concurrent_commits",
            audit_cursor_never_skips_concurrent_commits::<S>,
        ),
        ("audit_purge_keeps_recent_events", audit_purge_keeps_recent_events::<S>),
        (
            "audit_verification_results_recorded",
            audit_verification_results_recorded::<S>,
        ),
        ("verify_totp_window_and_replay", verify_totp_window_and_replay::<S>),
        (
            "verify_throttle_delays_and_reset",
            verify_throttle_delays_and_reset::<S>,
        ),
        (
            "verify_lockout_reads_the_throttle",
            verify_lockout_reads_the_throttle::<S>,
        ),
        (
            "verify_hotp_look_ahead_moves_the_counter",
            verify_hotp_look_ahead_moves_the_counter::<S>,
        ),
        (
            "verify_existence_paused_and_device",
            verify_existence_paused_and_device::<S>,
        ),
        (
            "verify_race_one_valid_code_one_success",
            verify_race_one_valid_code_one_success::<S>,
        ),
        (
            "verify_race_wrong_codes_lose_no_count",
            verify_race_wrong_codes_lose_no_count::<S>,
        ),
    ]
}

/// The secret of every scenario URI: "12345678901234567890" (the RFC 4226 test key).
pub const RFC_SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// An audit event about `resource` in `org` (for calling the port directly).
pub fn test_event(org: &OrgId, resource: uuid::Uuid) -> crate::audit::AuditEvent {
    crate::audit::AuditEvent {
        id: uuid::Uuid::now_v7(),
        org: org.clone(),
        seq: None,
        at: crate::time::Timestamp::from_offset(time::OffsetDateTime::from_unix_timestamp(1_773_835_200).unwrap()),
        actor: Actor::Cli,
        action: crate::audit::Action::OtpGenerate,
        resource_type: crate::audit::ResourceType::Account,
        resource_id: resource,
        request_id: None,
        details: crate::audit::Details::empty(),
    }
}

/// A caller acting for organization `s` (through a service token of its own).
fn org(s: &str) -> Caller {
    let token = TokenId::from_uuid(uuid::Uuid::from_u128(u128::from(s.len() as u64) << 64 | 0x5eed));
    Caller::new(OrgId::new(s).unwrap(), Actor::ServiceToken(token))
}

fn h(s: &str) -> Handle {
    Handle::parse(s).unwrap()
}

fn totp_uri() -> String {
    format!("otpauth://totp/GitHub:alice@example.com?secret={RFC_SECRET_B32}&issuer=GitHub")
}

fn hotp_uri(counter: u64) -> String {
    format!("otpauth://hotp/Acme:bob?secret={RFC_SECRET_B32}&counter={counter}")
}

fn new_account(uri: &str) -> NewAccount {
    NewAccount {
        otpauth_uri: uri.to_owned(),
        display_name: None,
        description: None,
        verify_window: None,
        metadata: Metadata::default(),
    }
}

/// Metadata of these entries (valid).
fn metadata(entries: &[(&str, &str)]) -> Metadata {
    Metadata::parse(entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))).unwrap()
}

fn device() -> NewInstance {
    NewInstance {
        device_name: DeviceName::parse("Pixel").unwrap(),
        platform: Platform::Android,
        device_id: None,
    }
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    match r {
        Err(Error::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn assert_conflict<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    match r {
        Err(Error::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// A linked app with one TOTP and one HOTP account and one enrolled instance.
struct Fixture {
    app: AppId,
    totp: AccountId,
    hotp: AccountId,
    instance: InstanceId,
    device_token: String,
}

fn fixture<S: Store>(k: &Kit<S>, o: &Caller, handle: &str) -> Fixture {
    let a = &k.authd;
    a.create_identity(o, h(handle)).unwrap();
    let app = *a.create_app(o, Some(&h(handle))).unwrap().id();
    let totp = *a.create_account(o, app, new_account(&totp_uri())).unwrap().id();
    let hotp = *a.create_account(o, app, new_account(&hotp_uri(0))).unwrap().id();
    let e = a.enroll_instance(o, app, device()).unwrap();
    Fixture {
        app,
        totp,
        hotp,
        instance: *e.instance.id(),
        device_token: e.device_token.expose().to_owned(),
    }
}

/// Handles are unique among an org's live identities and free again after a delete.
pub fn handle_unique_among_live_and_freed_after_delete<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let first = a.create_identity(&o, h("bot")).unwrap();
    assert_conflict(a.create_identity(&o, h("@bot")), "same handle twice");
    a.create_identity(&org("org_b"), h("bot"))
        .expect("same handle in another org");
    a.delete_identity(&o, &h("bot")).unwrap();
    assert_not_found(a.get_identity(&o, &h("bot")), "deleted identity");
    let second = a.create_identity(&o, h("bot")).expect("handle free after delete");
    assert_ne!(first.id(), second.id());
    assert_eq!(a.get_identity(&o, &h("bot")).unwrap().identity.id(), second.id());
}

/// List orders: identities newest first, apps/accounts oldest first.
pub fn identities_newest_first_apps_oldest_first<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    for name in ["one", "two", "three"] {
        a.create_identity(&o, h(name)).unwrap();
        a.create_app(&o, None).unwrap();
        k.clock.advance(1);
    }
    // Same timestamp: the id breaks the tie.
    a.create_identity(&o, h("four")).unwrap();
    a.create_identity(&o, h("five")).unwrap();
    let handles: Vec<String> = a
        .list_identities(&o)
        .unwrap()
        .iter()
        .map(|i| i.handle().to_string())
        .collect();
    assert_eq!(handles, ["five", "four", "three", "two", "one"]);
    let apps = a.list_apps(&o).unwrap();
    assert_eq!(apps.len(), 3);
    assert!(apps.windows(2).all(|w| w[0].created_at() < w[1].created_at()));
}

/// One live app per identity and one identity per app, through create and assign.
pub fn one_app_per_identity_one_identity_per_app<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    a.create_identity(&o, h("alice")).unwrap();
    a.create_identity(&o, h("bob")).unwrap();
    let app1 = a.create_app(&o, Some(&h("@alice"))).unwrap();
    assert_eq!(
        app1.identity_id().as_ref(),
        Some(a.get_identity(&o, &h("alice")).unwrap().identity.id())
    );
    assert_conflict(a.create_app(&o, Some(&h("alice"))), "second app for alice");
    assert_not_found(a.create_app(&o, Some(&h("nobody"))), "app for unknown identity");
    let app2 = a.create_app(&o, None).unwrap();
    assert_conflict(a.assign_app(&o, &h("alice"), *app2.id()), "alice already has app1");
    assert_conflict(a.assign_app(&o, &h("bob"), *app1.id()), "app1 is linked to alice");
    let same = a
        .assign_app(&o, &h("alice"), *app1.id())
        .expect("same app again is a no-op");
    assert_eq!(same.app.as_ref().map(|x| *x.id()), Some(*app1.id()));
    assert_eq!(same.app.as_ref().map(|x| *x.updated_at()), Some(*app1.updated_at()));
    let linked = a.assign_app(&o, &h("bob"), *app2.id()).unwrap();
    assert_eq!(linked.app.unwrap().identity_id().as_ref(), Some(linked.identity.id()));
    // The database-level rule: a second live app for one identity is refused by the store itself.
    let bob = a.get_identity(&o, &h("bob")).unwrap().identity;
    let mut p = app1.clone().into_parts();
    p.id = AppId::from_uuid(uuid::Uuid::now_v7());
    p.identity_id = Some(*bob.id());
    let dup = crate::entities::App::from_parts(p);
    let r = a
        .store()
        .run(|r| r.insert_app(&dup, &test_event(&o.org().clone(), dup.id().as_uuid())));
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "store must refuse a second live app: {r:?}"
    );
    a.unlink_app(&o, &h("alice")).unwrap();
    a.assign_app(&o, &h("bob"), *app2.id()).unwrap();
    assert_conflict(a.assign_app(&o, &h("alice"), *app2.id()), "app2 is bob's");
    a.assign_app(&o, &h("alice"), *app1.id())
        .expect("app1 free again after unlink");
}

/// Another org's records answer exactly like missing ones and are never changed.
pub fn org_isolation_everywhere<S: Store>(k: &Kit<S>) {
    let (a, o, x) = (&k.authd, org("org_a"), org("org_x"));
    let f = fixture(k, &o, "alice");
    assert!(a.list_apps(&x).unwrap().is_empty());
    assert!(a.list_identities(&x).unwrap().is_empty());
    assert_not_found(a.get_app(&x, f.app), "get app");
    assert_not_found(a.list_accounts(&x, f.app), "list accounts");
    assert_not_found(a.get_account(&x, f.app, f.totp), "get account");
    assert_not_found(a.generate_otp(&x, f.app, f.hotp), "generate");
    assert_not_found(
        a.update_account(&x, f.app, f.totp, AccountPatch::default()),
        "patch account",
    );
    assert_not_found(a.delete_account(&x, f.app, f.totp), "delete account");
    assert_not_found(a.create_account(&x, f.app, new_account(&totp_uri())), "create account");
    assert_not_found(a.list_instances(&x, f.app), "list instances");
    assert_not_found(a.get_instance(&x, f.app, f.instance), "get instance");
    assert_not_found(a.revoke_instance(&x, f.app, f.instance), "revoke instance");
    assert_not_found(a.enroll_instance(&x, f.app, device()), "enroll");
    assert_not_found(a.delete_app(&x, f.app), "delete app");
    assert_not_found(a.get_identity(&x, &h("alice")), "get identity");
    assert_not_found(
        a.update_identity(&x, &h("alice"), IdentityPatch::default()),
        "patch identity",
    );
    assert_not_found(a.delete_identity(&x, &h("alice")), "delete identity");
    assert_not_found(a.unlink_app(&x, &h("alice")), "unlink");
    a.create_identity(&x, h("alice")).unwrap();
    assert_not_found(a.assign_app(&x, &h("alice"), f.app), "assign foreign app");
    assert_not_found(a.user_instances(&x, "alice"), "onewelcome list");
    assert_not_found(
        a.revoke_user_instance(&x, "alice", &f.instance.to_string()),
        "onewelcome delete",
    );
    assert_not_found(a.create_app(&x, Some(&h("bob"))), "create app for foreign identity");
    // Nothing changed in org_a.
    assert_eq!(a.list_accounts(&o, f.app).unwrap().len(), 2);
    assert_eq!(a.list_instances(&o, f.app).unwrap().len(), 1);
    assert_eq!(
        a.generate_otp(&o, f.app, f.hotp).unwrap().code,
        otp::hotp(Algorithm::Sha1, b"12345678901234567890", 0, Digits::new(6).unwrap())
    );
}

/// Deleting an app deletes its accounts and instances and clears the link, all at one instant.
pub fn delete_app_cascades_with_one_timestamp<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    k.clock.advance(10);
    let at = crate::ports::Clock::now(k.clock.as_ref());
    a.delete_app(&o, f.app).unwrap();
    assert_not_found(a.get_app(&o, f.app), "app");
    assert_not_found(a.delete_app(&o, f.app), "second delete");
    assert_not_found(a.get_account(&o, f.app, f.totp), "account");
    assert_not_found(a.generate_otp(&o, f.app, f.hotp), "generate");
    assert!(a.list_apps(&o).unwrap().is_empty());
    assert!(matches!(
        a.device_list_accounts(&f.device_token),
        Err(Error::Unauthorized(Realm::Device))
    ));
    let identity = a.get_identity(&o, &h("alice")).unwrap();
    assert!(identity.app.is_none(), "link cleared");
    let inst = a
        .store()
        .run(|r| r.identity_instance_any(o.org(), *identity.identity.id(), f.instance))
        .unwrap()
        .expect("instance row kept (soft delete)");
    assert_eq!(
        *inst.deleted_at(),
        Some(at),
        "instance revoked with the cascade's timestamp"
    );
    // The identity can have a new app.
    a.create_app(&o, Some(&h("alice")))
        .expect("identity free for a new app");
}

/// Unlinking revokes the app's instances; the app and its accounts stay.
pub fn unlink_revokes_instances_keeps_app_and_accounts<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    a.unlink_app(&o, &h("alice")).unwrap();
    a.unlink_app(&o, &h("alice")).expect("unlink without an app is fine");
    let app = a.get_app(&o, f.app).unwrap();
    assert!(app.identity_id().is_none());
    assert_eq!(a.list_accounts(&o, f.app).unwrap().len(), 2);
    assert!(a.list_instances(&o, f.app).unwrap().is_empty());
    assert!(matches!(
        a.device_list_accounts(&f.device_token),
        Err(Error::Unauthorized(Realm::Device))
    ));
    assert_conflict(a.enroll_instance(&o, f.app, device()), "enroll on unlinked app");
    a.generate_otp(&o, f.app, f.totp).expect("unlinked app still generates");
}

/// Deleting an identity unlinks its app (which stays) and revokes that app's instances.
pub fn delete_identity_unlinks_and_revokes<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    a.delete_identity(&o, &h("alice")).unwrap();
    assert_not_found(a.delete_identity(&o, &h("alice")), "second delete");
    let app = a.get_app(&o, f.app).unwrap();
    assert!(app.identity_id().is_none());
    assert_eq!(a.list_accounts(&o, f.app).unwrap().len(), 2);
    assert!(a.list_instances(&o, f.app).unwrap().is_empty());
    assert!(matches!(
        a.device_list_accounts(&f.device_token),
        Err(Error::Unauthorized(Realm::Device))
    ));
    a.create_identity(&o, h("alice")).unwrap();
    assert_not_found(a.user_instances(&o, "alice"), "re-created identity is a new user");
    a.assign_app(&o, &h("alice"), f.app).expect("app reassignable");
}

/// Deleting an account deletes only it.
pub fn delete_account_only_that_account<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    a.delete_account(&o, f.app, f.totp).unwrap();
    assert_not_found(a.get_account(&o, f.app, f.totp), "deleted account");
    assert_not_found(a.delete_account(&o, f.app, f.totp), "second delete");
    let left: Vec<AccountId> = a.list_accounts(&o, f.app).unwrap().iter().map(|x| *x.id()).collect();
    assert_eq!(left, [f.hotp]);
    assert_eq!(a.list_instances(&o, f.app).unwrap().len(), 1);
    a.get_app(&o, f.app).unwrap();
}

/// HOTP codes follow the counter; an exhausted counter is a conflict and stays put.
pub fn hotp_sequence_and_exhaustion<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let app = *a.create_app(&o, None).unwrap().id();
    let acc = a
        .create_account(
            &o,
            app,
            new_account(&format!(
                "otpauth://hotp/x?secret={RFC_SECRET_B32}&counter=5&digits=8&algorithm=SHA256"
            )),
        )
        .unwrap();
    assert_eq!(*acc.kind(), OtpKind::Hotp { counter: 5 });
    for c in 5..8 {
        let code = a.generate_otp(&o, app, *acc.id()).unwrap();
        assert_eq!(
            code.code,
            otp::hotp(Algorithm::Sha256, b"12345678901234567890", c, Digits::new(8).unwrap())
        );
        assert_eq!(code.valid_for_seconds, None);
        assert_eq!(code.otp_type, OtpType::Hotp);
    }
    assert_eq!(a.get_account(&o, app, *acc.id()).unwrap().kind().counter(), Some(8));
    let max = otp::MAX_COUNTER;
    let top = a.create_account(&o, app, new_account(&hotp_uri(max - 1))).unwrap();
    a.generate_otp(&o, app, *top.id()).expect("last usable counter");
    assert_conflict(a.generate_otp(&o, app, *top.id()), "counter at max");
    assert_eq!(a.get_account(&o, app, *top.id()).unwrap().kind().counter(), Some(max));
    assert_eq!(
        a.store()
            .run(|r| r.advance_hotp_counter(o.org(), *top.id(), &test_event(o.org(), top.id().as_uuid())))
            .unwrap(),
        HotpAdvance::Exhausted
    );
    let totp = a.create_account(&o, app, new_account(&totp_uri())).unwrap();
    assert_eq!(
        a.store()
            .run(|r| r.advance_hotp_counter(o.org(), *totp.id(), &test_event(o.org(), totp.id().as_uuid())))
            .unwrap(),
        HotpAdvance::Missing
    );
}

/// The one-statement HOTP advance moves the counter, with its event, only for the exact sealed
/// value given, on a live HOTP account of a live app of the organization whose identity is
/// not paused. Through the service (whose second code of an account takes that statement), a
/// stored value that no longer opens, a paused identity and a deleted app answer as the
/// two-step path does, and the counter stays put.
pub fn hotp_advance_if_sealed_guards<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let sealed = |id: AccountId| {
        a.store()
            .run(|r| r.otp_material(o.org(), f.app, id))
            .unwrap()
            .expect("material")
            .sealed
    };
    let adv = |who: &Caller, app: AppId, id: AccountId, s: &SealedSecret| {
        a.store()
            .run(|r| r.advance_hotp_if_sealed(who.org(), app, id, s, &test_event(who.org(), id.as_uuid())))
            .unwrap()
    };
    let counter = || a.get_account(&o, f.app, f.hotp).unwrap().kind().counter().unwrap();
    let generated = || {
        let q = AuditQuery {
            action: Some(Action::OtpGenerate),
            resource_id: Some(f.hotp.as_uuid()),
            ..AuditQuery::default()
        };
        a.list_audit_events(&o, &q).unwrap().events.len()
    };
    let good = sealed(f.hotp);
    let mut bad = good.clone();
    *bad.0.last_mut().unwrap() ^= 1;
    let six = Digits::new(6).unwrap();
    let used = HotpUse {
        counter: 0,
        algorithm: Algorithm::Sha1,
        digits: six,
    };
    assert_eq!(adv(&o, f.app, f.hotp, &good), Some(used), "the exact sealed value");
    assert_eq!((counter(), generated()), (1, 1), "advanced with its event");
    assert_eq!(adv(&o, f.app, f.hotp, &bad), None, "another sealed value");
    let other_app = *a.create_app(&o, None).unwrap().id();
    assert_eq!(adv(&o, other_app, f.hotp, &good), None, "another app");
    assert_eq!(adv(&o, f.app, f.totp, &sealed(f.totp)), None, "a TOTP account");
    assert_eq!(adv(&org("org_b"), f.app, f.hotp, &good), None, "another organization");
    assert_eq!((counter(), generated()), (1, 1), "nothing moved, no event");

    let status = |s: &str| IdentityPatch {
        handle: None,
        status: Some(s.into()),
    };
    a.update_identity(&o, &h("alice"), status("paused")).unwrap();
    assert_eq!(adv(&o, f.app, f.hotp, &good), None, "paused identity");
    a.update_identity(&o, &h("alice"), status("active")).unwrap();

    let code = |c: u64| otp::hotp(Algorithm::Sha1, b"12345678901234567890", c, six);
    for c in 1..4 {
        assert_eq!(a.generate_otp(&o, f.app, f.hotp).unwrap().code, code(c), "code {c}");
    }
    let by_device = a.device_generate_otp(&f.device_token, f.hotp, None).unwrap();
    assert_eq!(by_device.code, code(4), "a device's code continues the sequence");
    a.update_identity(&o, &h("alice"), status("paused")).unwrap();
    assert!(matches!(a.generate_otp(&o, f.app, f.hotp), Err(Error::Paused)));
    a.update_identity(&o, &h("alice"), status("active")).unwrap();
    assert!(a.store().run(|r| r.replace_sealed(f.hotp, &good, &bad)).unwrap());
    assert!(matches!(
        a.generate_otp(&o, f.app, f.hotp),
        Err(Error::SecretUnreadable)
    ));
    assert!(matches!(
        a.device_generate_otp(&f.device_token, f.hotp, None),
        Err(Error::SecretUnreadable)
    ));
    assert!(a.store().run(|r| r.replace_sealed(f.hotp, &bad, &good)).unwrap());
    assert_eq!((counter(), generated()), (5, 5), "no code, no move");
    assert_eq!(a.generate_otp(&o, f.app, f.hotp).unwrap().code, code(5));
    a.delete_app(&o, f.app).unwrap();
    assert_eq!(adv(&o, f.app, f.hotp, &good), None, "deleted app");
    assert_not_found(a.generate_otp(&o, f.app, f.hotp), "deleted app");
}

/// TOTP codes are the engine's at the clock's time, with the remaining validity.
pub fn totp_matches_engine<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let app = *a.create_app(&o, None).unwrap().id();
    let acc = a
        .create_account(
            &o,
            app,
            new_account(&format!(
                "otpauth://totp/x?secret={RFC_SECRET_B32}&period=60&digits=8&algorithm=sha512"
            )),
        )
        .unwrap();
    k.clock.set(1_111_111_109);
    let code = a.generate_otp(&o, app, *acc.id()).unwrap();
    let expect = otp::totp(
        Algorithm::Sha512,
        b"12345678901234567890",
        1_111_111_109,
        Period::new(60).unwrap(),
        Digits::new(8).unwrap(),
    );
    assert_eq!(code.code, expect.code);
    assert_eq!(code.valid_for_seconds, Some(60 - (1_111_111_109 % 60)));
    assert_eq!(code.period, Period::new(60));
    assert_eq!(a.get_account(&o, app, *acc.id()).unwrap().kind().counter(), None);
}

/// A paused identity's app can neither generate codes nor enroll; listing is allowed.
pub fn paused_identity_rules<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let pause = IdentityPatch {
        handle: None,
        status: Some("paused".into()),
    };
    let updated = a.update_identity(&o, &h("alice"), pause).unwrap();
    assert_eq!(*updated.status(), IdentityStatus::Paused);
    assert!(matches!(a.generate_otp(&o, f.app, f.totp), Err(Error::Paused)));
    assert!(matches!(a.generate_otp(&o, f.app, f.hotp), Err(Error::Paused)));
    assert!(matches!(a.enroll_instance(&o, f.app, device()), Err(Error::Paused)));
    assert!(matches!(
        a.device_generate_otp(&f.device_token, f.totp, None),
        Err(Error::Paused)
    ));
    assert_eq!(a.device_list_accounts(&f.device_token).unwrap().len(), 2);
    assert_eq!(
        a.get_account(&o, f.app, f.hotp).unwrap().kind().counter(),
        Some(0),
        "paused generation does not advance"
    );
    let bad = IdentityPatch {
        handle: None,
        status: Some("deleted".into()),
    };
    assert!(matches!(
        a.update_identity(&o, &h("alice"), bad),
        Err(Error::UnknownStatus)
    ));
    let resume = IdentityPatch {
        handle: None,
        status: Some("active".into()),
    };
    a.update_identity(&o, &h("alice"), resume).unwrap();
    a.generate_otp(&o, f.app, f.hotp).expect("active again");
}

/// PATCH: absent keeps, null clears, a value sets.
pub fn account_patch_keep_clear_set<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let app = *a.create_app(&o, None).unwrap().id();
    let mut input = new_account(&totp_uri());
    input.display_name = Some(DisplayName::parse("Work").unwrap());
    input.description = Some(Description::parse("desc").unwrap());
    input.metadata = metadata(&[("customer", "c_1"), ("plan", "pro")]);
    let acc = a.create_account(&o, app, input).unwrap();
    assert_eq!(a.get_account(&o, app, *acc.id()).unwrap(), acc, "created as returned");
    k.clock.advance(5);
    let kept = a.update_account(&o, app, *acc.id(), AccountPatch::default()).unwrap();
    assert_eq!(kept.display_name().as_ref().map(DisplayName::as_str), Some("Work"));
    assert_eq!(kept.description().as_ref().map(Description::as_str), Some("desc"));
    assert_eq!(kept.metadata(), acc.metadata());
    let patch = AccountPatch {
        display_name: Patch::Clear,
        description: Patch::Set(Description::parse("new").unwrap()),
        verify_window: Patch::Keep,
        metadata: Patch::Set(metadata(&[("plan", "enterprise")])),
    };
    let changed = a.update_account(&o, app, *acc.id(), patch).unwrap();
    assert_eq!(*changed.display_name(), None);
    assert_eq!(changed.description().as_ref().map(Description::as_str), Some("new"));
    assert_eq!(
        changed.metadata().iter().collect::<Vec<_>>(),
        [("plan", "enterprise")],
        "a value replaces the whole metadata"
    );
    assert!(changed.updated_at() > acc.updated_at());
    let read = a.get_account(&o, app, *acc.id()).unwrap();
    assert_eq!(read, changed, "stored as returned");
    assert_eq!(read.issuer().as_deref(), Some("GitHub"));
    assert_eq!(read.account_name(), "alice@example.com");
    let clear = AccountPatch {
        metadata: Patch::Clear,
        ..AccountPatch::default()
    };
    let cleared = a.update_account(&o, app, *acc.id(), clear).unwrap();
    assert!(cleared.metadata().is_empty(), "null clears the metadata");
    assert_eq!(a.get_account(&o, app, *acc.id()).unwrap(), cleared);
}

/// App metadata: set on create (linked or not), replaced or cleared by `update_app` (which
/// leaves the link alone), and kept by every path that changes the link only: link, unlink,
/// deleting the identity.
pub fn app_metadata_set_cleared_and_kept_by_links<S: Store>(k: &Kit<S>) {
    use crate::service::{AppPatch, NewApp};

    let (a, o) = (&k.authd, org("org_a"));
    a.create_identity(&o, h("alice")).unwrap();
    let tags = metadata(&[("env", "prod"), ("owner", "billing")]);
    let linked = a
        .create_app_with(
            &o,
            NewApp {
                agent_handle: Some(h("alice")),
                metadata: tags.clone(),
            },
        )
        .unwrap();
    assert_eq!((linked.metadata(), linked.identity_id().is_some()), (&tags, true));
    let spare = a.create_app(&o, None).unwrap();
    assert!(spare.metadata().is_empty());
    assert_eq!(a.get_app(&o, *linked.id()).unwrap(), linked, "created as returned");

    // update_app: a value replaces, absent keeps, null clears; the link stays.
    k.clock.advance(3);
    let replaced = metadata(&[("env", "staging")]);
    let set = AppPatch {
        metadata: Patch::Set(replaced.clone()),
    };
    let updated = a.update_app(&o, *linked.id(), set).unwrap();
    assert_eq!(updated.metadata(), &replaced);
    assert_eq!(updated.identity_id(), linked.identity_id());
    assert!(updated.updated_at() > linked.updated_at());
    assert_eq!(a.get_app(&o, *linked.id()).unwrap(), updated, "stored as returned");
    let kept = a.update_app(&o, *linked.id(), AppPatch::default()).unwrap();
    assert_eq!(kept.metadata(), &replaced);

    // The link paths change the link alone.
    a.unlink_app(&o, &h("alice")).unwrap();
    let unlinked = a.get_app(&o, *linked.id()).unwrap();
    assert_eq!((unlinked.identity_id(), unlinked.metadata()), (&None, &replaced));
    a.assign_app(&o, &h("alice"), *linked.id()).unwrap();
    let relinked = a.get_app(&o, *linked.id()).unwrap();
    assert!(relinked.identity_id().is_some());
    assert_eq!(relinked.metadata(), &replaced);
    a.delete_identity(&o, &h("alice")).unwrap();
    assert_eq!(a.get_app(&o, *linked.id()).unwrap().metadata(), &replaced);

    let clear = AppPatch { metadata: Patch::Clear };
    let cleared = a.update_app(&o, *linked.id(), clear).unwrap();
    assert!(cleared.metadata().is_empty());
    assert_eq!(
        a.list_apps(&o).unwrap().iter().find(|x| x.id() == linked.id()),
        Some(&cleared)
    );
    // Another org's app is not found.
    assert_not_found(
        a.update_app(&org("org_b"), *spare.id(), AppPatch::default()),
        "update another org's app",
    );
}

/// Every field of each `*Edit` is written by `update_*` and read back by every read, on every
/// store: the in-memory store applies an edit whole, so a column the SQL adapter forgot to write
/// fails here (the trap of a new mutable field). The edits below are written as exhaustive
/// literals, each field changed from its current value: a new field does not compile until it
/// is given a value here too.
pub fn edits_round_trip_every_field<S: Store>(k: &Kit<S>) {
    use crate::entities::{AccountEdit, AppEdit, IdentityEdit};
    use crate::ports::Clock as _;
    use crate::values::IdentityStatus;

    let (a, o) = (&k.authd, org("org_a"));
    let org_id = o.org().clone();
    a.create_identity(&o, h("alice")).unwrap();
    let bob = a.create_identity(&o, h("bob")).unwrap();
    let app = *a.create_app(&o, Some(&h("alice"))).unwrap().id();
    let acc = *a.create_account(&o, app, new_account(&totp_uri())).unwrap().id();
    k.clock.advance(7);
    let now = k.clock.now();

    let identity = IdentityEdit {
        handle: h("bobby"),
        status: IdentityStatus::Paused,
        updated_at: now,
    };
    let app_edit = AppEdit {
        identity_id: Some(*bob.id()),
        metadata: metadata(&[("team", "payments"), ("k".repeat(Metadata::MAX_KEY_CHARS).as_str(), "")]),
        updated_at: now,
    };
    let account = AccountEdit {
        display_name: Some(DisplayName::parse("Work").unwrap()),
        description: Some(Description::parse("the work account").unwrap()),
        verify_window: Some(crate::otp::VerifyWindow::new(4).unwrap()),
        metadata: metadata(&[
            ("customer", "c_42"),
            ("tier", "é".repeat(Metadata::MAX_VALUE_CHARS).as_str()),
        ]),
        updated_at: now,
    };
    a.store()
        .transaction(|r| {
            r.update_identity(&org_id, *bob.id(), &identity)?;
            // Alice's app moves to bob: unlinked from alice first (one live app per identity).
            r.update_app(&org_id, app, &app_edit)?;
            r.update_account(&org_id, acc, &account)
        })
        .unwrap();

    // Read back through fresh units of work, by every read that returns the entity.
    let s = a.store();
    let by_id = s.run(|r| r.identity_by_id(&org_id, *bob.id())).unwrap().unwrap();
    let by_handle = s.run(|r| r.identity_by_handle(&org_id, &h("bobby"))).unwrap().unwrap();
    let listed = s.run(|r| r.list_identities(&org_id)).unwrap();
    for read in [&by_id, &by_handle, listed.iter().find(|i| i.id() == bob.id()).unwrap()] {
        assert_eq!(read.edit(), identity, "identity edit stored whole");
    }
    let got = s.run(|r| r.app(&org_id, app)).unwrap().unwrap();
    let of_bob = s.run(|r| r.app_of_identity(&org_id, *bob.id())).unwrap().unwrap();
    let apps = s.run(|r| r.list_apps(&org_id)).unwrap();
    for read in [&got, &of_bob, apps.iter().find(|x| *x.id() == app).unwrap()] {
        assert_eq!(read.edit(), app_edit, "app edit stored whole");
    }
    let got = s.run(|r| r.account(&org_id, app, acc)).unwrap().unwrap();
    let listed = s.run(|r| r.list_accounts(&org_id, app)).unwrap().unwrap();
    let material = s.run(|r| r.otp_material(&org_id, app, acc)).unwrap().unwrap();
    let verify = s.run(|r| r.verify_material(&org_id, app, acc)).unwrap().unwrap();
    for read in [&got, &listed[0], &material.account, &verify.otp.account] {
        assert_eq!(read.edit(), account, "account edit stored whole");
    }
    // The paused identity's status reaches the material reads too.
    assert_eq!(material.identity_status, Some(IdentityStatus::Paused));
}

/// Service tokens: create, authenticate, list without the token, revoke (refused after the
/// cache bound), revoke twice is not found.
pub fn service_token_lifecycle<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, Caller::new(OrgId::new("org_a").unwrap(), Actor::Cli));
    let (meta, plain) = a.create_service_token(&o, NewToken::admin(None, None)).unwrap();
    let (p, due) = a.authenticate_service_token(plain.expose()).unwrap();
    assert_eq!(&p.org, o.org());
    assert_eq!(
        p.access.as_ref(),
        &crate::access::Access::admin(),
        "a CLI token without flags is admin"
    );
    assert!(due, "a token never used is due to record its use");
    a.record_service_token_use(p.token_id).unwrap();
    assert!(matches!(
        a.authenticate_service_token("authd_st_nope"),
        Err(Error::Unauthorized(Realm::Service))
    ));
    assert!(matches!(
        a.authenticate_service_token(""),
        Err(Error::Unauthorized(Realm::Service))
    ));
    let listed = a.list_service_tokens(Some(o.org())).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at().is_some(), "authentication records last use");
    assert!(a.list_service_tokens(Some(org("org_b").org())).unwrap().is_empty());
    a.revoke_service_token(*meta.id(), &Actor::Cli).unwrap();
    assert_not_found(a.revoke_service_token(*meta.id(), &Actor::Cli), "second revoke");
    k.clock.advance(crate::auth::CACHE_TTL_SECONDS + 1);
    assert!(matches!(
        a.authenticate_service_token(plain.expose()),
        Err(Error::Unauthorized(Realm::Service))
    ));
    assert!(a.list_service_tokens(None).unwrap()[0].revoked_at().is_some());
}

/// A token with a lifetime works until `expires_at` (stored and read back exactly), is refused
/// as expired from then on (even though it was cached a moment before), and a token without a
/// lifetime keeps working.
pub fn service_token_expiry<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, Caller::new(OrgId::new("org_a").unwrap(), Actor::Cli));
    let created = crate::ports::Clock::now(k.clock.as_ref());
    let lifetime = TokenLifetime::from_seconds(60).unwrap();
    let (meta, plain) = a
        .create_service_token(&o, NewToken::admin(None, Some(lifetime)))
        .unwrap();
    let (_, forever) = a.create_service_token(&o, NewToken::admin(None, None)).unwrap();
    assert_eq!(*meta.expires_at(), Some(created.plus_seconds(60)));
    let listed = a.list_service_tokens(Some(o.org())).unwrap();
    let stored: Vec<_> = listed.iter().map(|t| *t.expires_at()).collect();
    assert_eq!(stored, [Some(created.plus_seconds(60)), None], "expires_at round-trips");
    let events = a
        .list_audit_events(
            &o,
            &crate::audit::AuditQuery {
                action: Some(crate::audit::Action::TokenCreate),
                ..crate::audit::AuditQuery::default()
            },
        )
        .unwrap()
        .events;
    let details: Vec<&str> = events.iter().map(|e| e.details.as_json()).collect();
    let want_expiry = format!(
        r#"{{"name":null,"scopes":"admin","identities":null,"apps":null,"expires_at":"{}"}}"#,
        created.plus_seconds(60).to_rfc3339()
    );
    assert_eq!(
        details,
        [
            want_expiry.as_str(),
            r#"{"name":null,"scopes":"admin","identities":null,"apps":null,"expires_at":null}"#
        ],
        "the mint's audit event records its expiry"
    );

    k.clock.advance(59);
    assert_eq!(
        a.authenticate_service_token(plain.expose()).unwrap().0.token_id,
        *meta.id()
    );
    assert!(
        a.cached_principal(plain.expose()).is_some(),
        "cached within its lifetime"
    );
    k.clock.advance(1);
    assert!(
        a.cached_principal(plain.expose()).is_none(),
        "the cache never serves an expired token"
    );
    assert!(matches!(
        a.authenticate_service_token(plain.expose()),
        Err(Error::TokenExpired)
    ));
    k.clock.advance(3600);
    assert!(matches!(
        a.authenticate_service_token(plain.expose()),
        Err(Error::TokenExpired)
    ));
    assert!(
        a.authenticate_service_token(forever.expose()).is_ok(),
        "no lifetime: still works"
    );
    a.revoke_service_token(*meta.id(), &Actor::Cli).unwrap();
    assert!(
        matches!(
            a.authenticate_service_token(plain.expose()),
            Err(Error::Unauthorized(Realm::Service))
        ),
        "revoked reads as revoked, not expired"
    );
}

/// OneWelcome: the user's live instances, 404 alike for unknown users and users without
/// instances, idempotent revoke, 404 for instances of someone else.
pub fn onewelcome_user_instances<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    k.clock.advance(1);
    let second = a.enroll_instance(&o, f.app, device()).unwrap();
    let list = a.user_instances(&o, "@alice").unwrap();
    let ids: Vec<InstanceId> = list.iter().map(|i| *i.id()).collect();
    assert_eq!(ids, [f.instance, *second.instance.id()], "oldest first");
    assert_not_found(a.user_instances(&o, "nobody"), "unknown user");
    assert_not_found(a.user_instances(&o, "not a handle!"), "invalid handle");
    a.create_identity(&o, h("bob")).unwrap();
    assert_not_found(a.user_instances(&o, "bob"), "user without instances");
    assert_not_found(
        a.revoke_user_instance(&o, "bob", &f.instance.to_string()),
        "someone else's instance",
    );
    assert_not_found(a.revoke_user_instance(&o, "alice", "not-a-uuid"), "bad id");
    assert_not_found(
        a.revoke_user_instance(&o, "alice", &uuid::Uuid::now_v7().to_string()),
        "never enrolled",
    );
    a.revoke_user_instance(&o, "alice", &f.instance.to_string()).unwrap();
    a.revoke_user_instance(&o, "alice", &f.instance.to_string())
        .expect("idempotent");
    assert_eq!(a.user_instances(&o, "alice").unwrap().len(), 1);
    assert_not_found(a.get_instance(&o, f.app, f.instance), "revoked instance");
    assert!(matches!(
        a.device_list_accounts(&f.device_token),
        Err(Error::Unauthorized(Realm::Device))
    ));
}

/// An account or instance of another app, under this app's path, is not found.
pub fn nested_resources_belong_to_parent<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let other = *a.create_app(&o, None).unwrap().id();
    assert_not_found(a.get_account(&o, other, f.totp), "account under other app");
    assert_not_found(a.generate_otp(&o, other, f.totp), "generate under other app");
    assert_not_found(a.delete_account(&o, other, f.totp), "delete under other app");
    assert_not_found(a.get_instance(&o, other, f.instance), "instance under other app");
    assert_not_found(a.revoke_instance(&o, other, f.instance), "revoke under other app");
    assert_not_found(
        a.list_accounts(&o, AppId::from_uuid(uuid::Uuid::now_v7())),
        "unknown app",
    );
    a.get_account(&o, f.app, f.totp).expect("still there");
}

/// Device tokens work after enrollment and stop after revocation; they see only their app.
pub fn device_token_lifecycle<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let g = fixture(k, &o, "bob");
    let mine: Vec<AccountId> = a
        .device_list_accounts(&f.device_token)
        .unwrap()
        .iter()
        .map(|x| *x.id())
        .collect();
    assert_eq!(mine, [f.totp, f.hotp]);
    assert_not_found(
        a.device_generate_otp(&f.device_token, g.totp, None),
        "other app's account",
    );
    k.clock.advance(3);
    let code = a.device_generate_otp(&f.device_token, f.hotp, None).unwrap();
    assert_eq!(
        code.code,
        otp::hotp(Algorithm::Sha1, b"12345678901234567890", 0, Digits::new(6).unwrap())
    );
    let inst = a.get_instance(&o, f.app, f.instance).unwrap();
    assert_eq!(*inst.last_used_at(), Some(crate::ports::Clock::now(k.clock.as_ref())));
    assert!(matches!(
        a.device_list_accounts("authd_dev_unknown"),
        Err(Error::Unauthorized(Realm::Device))
    ));
    assert!(matches!(
        a.device_list_accounts("authd_st_x"),
        Err(Error::Unauthorized(Realm::Device))
    ));
    a.authenticate_device(&f.device_token).expect("a live instance's token");
    assert!(matches!(
        a.authenticate_device("authd_dev_unknown"),
        Err(Error::Unauthorized(Realm::Device))
    ));
    a.revoke_instance(&o, f.app, f.instance).unwrap();
    assert!(matches!(
        a.device_generate_otp(&f.device_token, f.totp, None),
        Err(Error::Unauthorized(Realm::Device))
    ));
    assert!(matches!(
        a.authenticate_device(&f.device_token),
        Err(Error::Unauthorized(Realm::Device))
    ));
    assert!(
        a.device_list_accounts(&g.device_token).is_ok(),
        "other devices unaffected"
    );
}

/// A unit of work that fails after writing leaves nothing behind.
pub fn failed_transaction_changes_nothing<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let r: Result<(), Error> = a.store().transaction(|r| {
        r.apply_cascade(&CascadePlan::delete_app(
            o.org().clone(),
            f.app,
            crate::ports::Clock::now(k.clock.as_ref()),
        ))?;
        Err(Error::Conflict(ConflictKind::Unique))
    });
    assert!(r.is_err());
    a.get_app(&o, f.app).expect("app survives a rolled-back cascade");
    assert_eq!(a.list_accounts(&o, f.app).unwrap().len(), 2);
    assert!(a.device_list_accounts(&f.device_token).is_ok());
    // A failed HOTP generation (bad OTP params on create) inserts nothing.
    let before = a.list_accounts(&o, f.app).unwrap().len();
    assert!(matches!(
        a.create_account(&o, f.app, new_account("otpauth://totp/x?secret=GEZDGNBV&digits=7")),
        Err(Error::Uri(UriError::Parameter(_)))
    ));
    assert_eq!(a.list_accounts(&o, f.app).unwrap().len(), before);
}

/// Renaming: to a taken handle is a conflict; to itself or a free one works.
pub fn rename_identity_checks_conflicts<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    a.create_identity(&o, h("alice")).unwrap();
    a.create_identity(&o, h("bob")).unwrap();
    let to = |s: &str| IdentityPatch {
        handle: Some(h(s)),
        status: None,
    };
    assert_conflict(a.update_identity(&o, &h("alice"), to("bob")), "rename to taken");
    // Conflict wins over a bad status.
    let both = IdentityPatch {
        handle: Some(h("bob")),
        status: Some("nope".into()),
    };
    assert_conflict(a.update_identity(&o, &h("alice"), both), "409 before 400");
    a.update_identity(&o, &h("alice"), to("alice"))
        .expect("rename to itself");
    let renamed = a.update_identity(&o, &h("alice"), to("carol")).unwrap();
    assert_eq!(renamed.handle().as_str(), "carol");
    assert_not_found(a.get_identity(&o, &h("alice")), "old handle");
    a.create_identity(&o, h("alice")).expect("old handle free");
}

/// Sealed secrets are stored as given and are not the plaintext.
pub fn sealed_secret_round_trip_and_no_plaintext<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let f = fixture(k, &o, "alice");
    let m = a
        .store()
        .run(|r| r.otp_material(o.org(), f.app, f.totp))
        .unwrap()
        .expect("material");
    let plain = b"12345678901234567890";
    assert!(
        !m.sealed.0.windows(plain.len()).any(|w| w == plain),
        "secret stored in the clear"
    );
    assert!(
        !m.sealed
            .0
            .windows(RFC_SECRET_B32.len())
            .any(|w| w == RFC_SECRET_B32.as_bytes())
    );
    assert_eq!(m.identity_status, Some(IdentityStatus::Active));
    let s = Secret::from_bytes(plain.to_vec()).unwrap();
    assert_eq!(s.expose(), plain);
}

/// Many threads generating HOTP codes on one account get every counter exactly once.
pub fn hotp_concurrent_counters_unique<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let app = *a.create_app(&o, None).unwrap().id();
    let acc = *a.create_account(&o, app, new_account(&hotp_uri(0))).unwrap().id();
    let (threads, per) = (16, 25);
    let codes: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    (0..per)
                        .map(|_| a.generate_otp(&o, app, acc).unwrap().code)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let total = threads * per;
    let mut got: HashMap<String, usize> = HashMap::new();
    for c in codes {
        *got.entry(c).or_default() += 1;
    }
    let mut want: HashMap<String, usize> = HashMap::new();
    for c in 0..total {
        *want
            .entry(otp::hotp(
                Algorithm::Sha1,
                b"12345678901234567890",
                c as u64,
                Digits::new(6).unwrap(),
            ))
            .or_default() += 1;
    }
    assert_eq!(got, want, "codes are exactly HOTP(0..{total})");
    assert_eq!(
        a.get_account(&o, app, acc).unwrap().kind().counter(),
        Some(total as u64)
    );
}

/// Timestamps read back equal the ones written, with sub-second precision.
pub fn timestamps_round_trip<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_a"));
    let t = crate::time::Timestamp::from_offset(
        time::OffsetDateTime::from_unix_timestamp_nanos(1_773_835_200_123_456_000).unwrap(),
    );
    k.clock.set_to(t);
    let app = a.create_app(&o, None).unwrap();
    let read = a.get_app(&o, *app.id()).unwrap();
    assert_eq!(*read.created_at(), t);
    assert_eq!(read, app);
}
