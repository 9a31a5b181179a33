//! The domain's port contract, every scenario on both backends, each on a fresh database.

use domain::testkit::{Kit, contract};
use storage_diesel::DieselStore;

use crate::support::{Which, kit, store, with_migrated_db};

fn run(which: Which, scenario: fn(&Kit<DieselStore>)) {
    with_migrated_db(which, |db| scenario(&kit(store(db))));
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[test]
                fn $name() {
                    run(Which::Sqlite, contract::$name::<DieselStore>);
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[test]
                fn $name() {
                    run(Which::Postgres, contract::$name::<DieselStore>);
                }
            )*
        }

        #[test]
        fn every_scenario_is_listed_here() {
            let listed: Vec<&str> = contract::scenarios::<DieselStore>().iter().map(|(n, _)| *n).collect();
            let here = [$(stringify!($name)),*];
            assert_eq!(listed, here, "add new contract scenarios to this list");
        }
    };
}

contract_tests!(
    handle_unique_among_live_and_freed_after_delete,
    identities_newest_first_apps_oldest_first,
    one_app_per_identity_one_identity_per_app,
    org_isolation_everywhere,
    delete_app_cascades_with_one_timestamp,
    unlink_revokes_instances_keeps_app_and_accounts,
    delete_identity_unlinks_and_revokes,
    delete_account_only_that_account,
    hotp_sequence_and_exhaustion,
    totp_matches_engine,
    paused_identity_rules,
    account_patch_keep_clear_set,
    service_token_lifecycle,
    onewelcome_user_instances,
    nested_resources_belong_to_parent,
    device_token_lifecycle,
    failed_transaction_changes_nothing,
    rename_identity_checks_conflicts,
    sealed_secret_round_trip_and_no_plaintext,
    hotp_concurrent_counters_unique,
    timestamps_round_trip,
    race_links_have_one_winner,
    race_children_vs_delete_app,
    race_enroll_vs_delete_identity,
    race_link_vs_delete_identity,
    race_double_deletes,
    race_updates_keep_both_changes,
    audit_every_change_writes_one_event,
    audit_failed_change_writes_nothing,
    audit_cursor_never_skips_concurrent_commits,
    audit_purge_keeps_recent_events,
    audit_verification_results_recorded,
    verify_totp_window_and_replay,
    verify_throttle_delays_and_reset,
    verify_hotp_look_ahead_moves_the_counter,
    verify_existence_paused_and_device,
    verify_race_one_valid_code_one_success,
    verify_race_wrong_codes_lose_no_count,
);
