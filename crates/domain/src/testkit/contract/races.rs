//! Concurrency scenarios of the port contract: the use cases called from many threads at once
//! (released together by a barrier, many rounds), then the store read back. On a store whose
//! transactions run side by side (PostgreSQL) they fail unless the use cases lock what they
//! decide on and the adapter honours [`crate::ports::Lock`]; on a store that runs one unit of
//! work at a time (the in-memory store, SQLite) they must pass too.
//!
//! Each scenario counts its violations over every round and panics at the end with examples.

use std::sync::Barrier;

use crate::Error;
use crate::audit::Caller;
use crate::error::Realm;
use crate::ids::AppId;
use crate::ports::{HotpAdvance, Store};
use crate::service::{AccountPatch, IdentityPatch};
use crate::testkit::Kit;
use crate::values::{DisplayName, IdentityStatus, Patch};

use super::{device, h, hotp_uri, new_account, org, totp_uri};

/// Rounds per scenario: enough for the interleavings to show up on a two-core machine, few
/// enough for a fresh-database-per-scenario suite.
const ROUNDS: usize = 12;

/// One racing task.
type Task<'a, R> = Box<dyn FnOnce() -> R + Send + 'a>;

/// Runs `tasks` on as many threads, released together; returns their results in task order.
fn race<R: Send>(tasks: Vec<Task<'_, R>>) -> Vec<R> {
    let barrier = Barrier::new(tasks.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|task| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    task()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a racing task panicked"))
            .collect()
    })
}

/// Violations of one scenario, reported together at the end.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self, scenario: &str) {
        assert!(
            self.0.is_empty(),
            "{scenario}: {} violation(s) in {ROUNDS} rounds, e.g. {:?}",
            self.0.len(),
            &self.0[..self.0.len().min(5)]
        );
    }
}

fn is_not_found<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::NotFound(_)))
}

fn is_conflict<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

fn linked_app<S: Store>(k: &Kit<S>, o: &Caller, handle: &str) -> AppId {
    k.authd.create_identity(o, h(handle)).unwrap();
    *k.authd.create_app(o, Some(&h(handle))).unwrap().id()
}

/// Two identities link the same unlinked app at once: one wins, the other is told 409, and the
/// app is linked to the winner. Many links of one app to one identity are all no-op successes.
pub fn race_links_have_one_winner<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    for round in 0..ROUNDS {
        let (x, y) = (format!("x{round}"), format!("y{round}"));
        a.create_identity(&o, h(&x)).unwrap();
        a.create_identity(&o, h(&y)).unwrap();
        let app = *a.create_app(&o, None).unwrap().id();
        let r = race(vec![
            Box::new(|| a.assign_app(&o, &h(&x), app)),
            Box::new(|| a.assign_app(&o, &h(&y), app)),
        ]);
        let wins = r.iter().filter(|r| r.is_ok()).count();
        let conflicts = r.iter().filter(|r| is_conflict(r)).count();
        v.check(wins == 1 && conflicts == 1, || {
            format!("round {round}: {wins} links succeeded, {conflicts} conflicted: {r:?}")
        });
        let winner = if r[0].is_ok() { &x } else { &y };
        let winner_id = *a.get_identity(&o, &h(winner)).unwrap().identity.id();
        let linked = *a.get_app(&o, app).unwrap().identity_id();
        v.check(linked == Some(winner_id), || {
            format!("round {round}: app linked to {linked:?}, the winner is {winner_id}")
        });

        let same = format!("s{round}");
        a.create_identity(&o, h(&same)).unwrap();
        let app = *a.create_app(&o, None).unwrap().id();
        let r = race(
            (0..4)
                .map(|_| Box::new(|| a.assign_app(&o, &h(&same), app)) as Box<_>)
                .collect(),
        );
        v.check(r.iter().all(Result::is_ok), || {
            format!("round {round}: linking one app to one identity 4 times at once: {r:?}")
        });
    }
    v.assert_none("race_links_have_one_winner");
}

/// Instances enrolled and accounts created while the app is deleted: each creation succeeds or
/// is 404, and no live child of the deleted app remains (no device token minted in the race
/// works, no HOTP account created in the race can be advanced).
pub fn race_children_vs_delete_app<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    for round in 0..ROUNDS {
        let app = linked_app(k, &o, &format!("c{round}"));
        let mut tasks: Vec<Task<'_, Outcome>> = Vec::new();
        for _ in 0..3 {
            tasks.push(Box::new(|| Outcome::Enroll(a.enroll_instance(&o, app, device()))));
            tasks.push(Box::new(|| {
                Outcome::Account(a.create_account(&o, app, new_account(&hotp_uri(0))))
            }));
        }
        tasks.push(Box::new(|| Outcome::Delete(a.delete_app(&o, app))));
        for outcome in race(tasks) {
            match outcome {
                Outcome::Enroll(Ok(e)) => {
                    let token = e.device_token.expose().to_owned();
                    let works = a.device_list_accounts(&token);
                    v.check(matches!(works, Err(Error::Unauthorized(Realm::Device))), || {
                        format!("round {round}: a device token enrolled in the race still works: {works:?}")
                    });
                }
                Outcome::Account(Ok(acc)) => {
                    let adv = a.store().run(|r| {
                        r.advance_hotp_counter(o.org(), *acc.id(), &super::test_event(o.org(), acc.id().as_uuid()))
                    });
                    v.check(matches!(adv, Ok(HotpAdvance::Missing)), || {
                        format!("round {round}: an account created in the race is still live: {adv:?}")
                    });
                }
                Outcome::Enroll(r) => v.check(is_not_found(&r), || format!("round {round}: enroll: {r:?}")),
                Outcome::Account(r) => v.check(is_not_found(&r), || format!("round {round}: account: {r:?}")),
                Outcome::Delete(r) => v.check(r.is_ok(), || format!("round {round}: delete app: {r:?}")),
            }
        }
        let left = a.store().run(|r| r.list_instances(o.org(), app)).unwrap();
        v.check(left.is_empty(), || {
            format!("round {round}: {} live instance(s) of the deleted app", left.len())
        });
    }
    v.assert_none("race_children_vs_delete_app");
}

enum Outcome {
    Enroll(Result<crate::service::Enrollment, Error>),
    Account(Result<crate::entities::Account, Error>),
    Delete(Result<(), Error>),
}

/// Instances enrolled while the identity is deleted: afterwards the app is unlinked and no
/// instance of it is live, whatever the interleaving.
pub fn race_enroll_vs_delete_identity<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    for round in 0..ROUNDS {
        let handle = format!("e{round}");
        let app = linked_app(k, &o, &handle);
        let mut tasks: Vec<Task<'_, Result<Option<String>, Error>>> = (0..4)
            .map(|_| {
                Box::new(|| {
                    a.enroll_instance(&o, app, device())
                        .map(|e| Some(e.device_token.expose().to_owned()))
                }) as Box<_>
            })
            .collect();
        tasks.push(Box::new(|| a.delete_identity(&o, &h(&handle)).map(|()| None)));
        let r = race(tasks);
        v.check(r[4].is_ok(), || format!("round {round}: delete identity: {:?}", r[4]));
        for e in &r[..4] {
            match e {
                Ok(Some(token)) => {
                    let works = a.device_list_accounts(token);
                    v.check(matches!(works, Err(Error::Unauthorized(Realm::Device))), || {
                        format!("round {round}: a device enrolled in the race still works: {works:?}")
                    });
                }
                other => v.check(is_conflict(other), || format!("round {round}: enroll: {other:?}")),
            }
        }
        let app_now = a.get_app(&o, app).unwrap();
        v.check(app_now.identity_id().is_none(), || {
            format!("round {round}: the app is still linked: {app_now:?}")
        });
        let left = a.store().run(|r| r.list_instances(o.org(), app)).unwrap();
        v.check(left.is_empty(), || {
            format!(
                "round {round}: {} live instance(s) after the identity's delete",
                left.len()
            )
        });
    }
    v.assert_none("race_enroll_vs_delete_identity");
}

/// Linking an app while its identity is deleted: the app never stays linked to the deleted
/// identity, and it can be linked again to an identity re-created under the same handle.
pub fn race_link_vs_delete_identity<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    for round in 0..ROUNDS {
        let handle = format!("l{round}");
        a.create_identity(&o, h(&handle)).unwrap();
        let app = *a.create_app(&o, None).unwrap().id();
        let r = race(vec![
            Box::new(|| a.assign_app(&o, &h(&handle), app).map(|_| ())),
            Box::new(|| a.delete_identity(&o, &h(&handle))),
        ]);
        v.check(r[0].is_ok() || is_not_found(&r[0]), || {
            format!("round {round}: link: {:?}", r[0])
        });
        v.check(r[1].is_ok(), || format!("round {round}: delete: {:?}", r[1]));
        let linked = *a.get_app(&o, app).unwrap().identity_id();
        v.check(linked.is_none(), || {
            format!("round {round}: the app stays linked to the deleted identity {linked:?}")
        });
        a.create_identity(&o, h(&handle)).unwrap();
        let again = a.assign_app(&o, &h(&handle), app);
        v.check(again.is_ok(), || {
            format!("round {round}: linking to the re-created identity: {again:?}")
        });
    }
    v.assert_none("race_link_vs_delete_identity");
}

/// Two deletes of one record at once: one succeeds, the other finds nothing (404), for apps,
/// identities, accounts and instances.
pub fn race_double_deletes<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    let mut one_of_two = |what: &str, round: usize, r: Vec<Result<(), Error>>| {
        let ok = r.iter().filter(|r| r.is_ok()).count();
        let gone = r.iter().filter(|r| is_not_found(r)).count();
        v.check(ok == 1 && gone == 1, || {
            format!("round {round}: two deletes of one {what}: {r:?}")
        });
    };
    for round in 0..ROUNDS {
        let handle = format!("d{round}");
        let app = linked_app(k, &o, &handle);
        let acc = *a.create_account(&o, app, new_account(&totp_uri())).unwrap().id();
        let inst = *a.enroll_instance(&o, app, device()).unwrap().instance.id();
        let r = race(vec![
            Box::new(|| a.delete_account(&o, app, acc)),
            Box::new(|| a.delete_account(&o, app, acc)),
        ]);
        one_of_two("account", round, r);
        let r = race(vec![
            Box::new(|| a.revoke_instance(&o, app, inst)),
            Box::new(|| a.revoke_instance(&o, app, inst)),
        ]);
        one_of_two("instance", round, r);
        let r = race(vec![
            Box::new(|| a.delete_identity(&o, &h(&handle))),
            Box::new(|| a.delete_identity(&o, &h(&handle))),
        ]);
        one_of_two("identity", round, r);
        let r = race(vec![
            Box::new(|| a.delete_app(&o, app)),
            Box::new(|| a.delete_app(&o, app)),
        ]);
        one_of_two("app", round, r);
    }
    v.assert_none("race_double_deletes");
}

/// Two updates of different fields of one record at once: both changes are kept (no update is
/// lost), for an identity (rename and pause) and an account (display name and description).
pub fn race_updates_keep_both_changes<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_race"));
    let mut v = Violations::default();
    for round in 0..ROUNDS {
        let (old, new) = (format!("u{round}"), format!("renamed{round}"));
        a.create_identity(&o, h(&old)).unwrap();
        let rename = IdentityPatch {
            handle: Some(h(&new)),
            status: None,
        };
        let pause = IdentityPatch {
            handle: None,
            status: Some("paused".into()),
        };
        let r = race(vec![
            Box::new(|| a.update_identity(&o, &h(&old), rename).map(|_| ())),
            Box::new(|| a.update_identity(&o, &h(&old), pause).map(|_| ())),
        ]);
        // The pause may come after the rename and then not find the old handle: 404 is right.
        v.check(r[0].is_ok() && (r[1].is_ok() || is_not_found(&r[1])), || {
            format!("round {round}: rename and pause: {r:?}")
        });
        let now = a.get_identity(&o, &h(&new)).map(|d| *d.identity.status());
        let want = if r[1].is_ok() {
            IdentityStatus::Paused
        } else {
            IdentityStatus::Active
        };
        v.check(matches!(&now, Ok(s) if *s == want), || {
            format!("round {round}: after rename and pause ({r:?}): {now:?}, want {want:?}")
        });

        let app = *a.create_app(&o, None).unwrap().id();
        let acc = *a.create_account(&o, app, new_account(&totp_uri())).unwrap().id();
        let name = AccountPatch {
            display_name: Patch::Set(DisplayName::parse("Work").unwrap()),
            description: Patch::Keep,
            verify_window: Patch::Keep,
            metadata: Patch::Keep,
        };
        let desc = AccountPatch {
            display_name: Patch::Keep,
            description: Patch::Set(crate::values::Description::parse("the laptop").unwrap()),
            verify_window: Patch::Keep,
            metadata: Patch::Keep,
        };
        let r = race(vec![
            Box::new(|| a.update_account(&o, app, acc, name).map(|_| ())),
            Box::new(|| a.update_account(&o, app, acc, desc).map(|_| ())),
        ]);
        v.check(r.iter().all(Result::is_ok), || {
            format!("round {round}: two PATCHes: {r:?}")
        });
        let got = a.get_account(&o, app, acc).unwrap();
        v.check(
            got.display_name().as_ref().map(DisplayName::as_str) == Some("Work")
                && got.description().as_ref().map(|d| d.as_str()) == Some("the laptop"),
            || format!("round {round}: one PATCH was lost: {got:?}"),
        );
    }
    v.assert_none("race_updates_keep_both_changes");
}
