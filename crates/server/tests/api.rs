//! API tests: the whole HTTP contract (`docs/HTTP-API.md`), in-process through
//! `actix_web::test`, over the app composed exactly as the server composes it.
//!
//! Every scenario is an `async fn name<S: Store>(kit: Kit<S>)` in [`scenarios`], so the same
//! scenarios run against every storage backend: [`api_tests!`] instantiates all of them for one
//! backend as `#[actix_web::test]`s in a module of that name:
//!
//! ```ignore
//! api_tests!(memory, || domain::testkit::kit());
//! api_tests!(sqlite, crate::api::backends::sqlite);   // `Fn() -> Kit<S>` or `Fn() -> (Kit<S>, Guard)`
//! ```
//!
//! The one list of scenarios is [`for_each_scenario!`]; `every_scenario_is_listed` fails when
//! a `pub async fn` of the scenario files is missing from it.

#![expect(
    clippy::tests_outside_test_module,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a failing check panics with its message"
)]

mod api {
    pub mod backends;
    pub mod failing_store;
    pub mod scenarios;
    pub mod support;
}

use api::{scenarios, support};

/// Calls `$m!($args ; <every scenario name>)`. Add new scenarios here.
macro_rules! for_each_scenario {
    ($m:ident ! ($($args:tt)*)) => {
        $m! {
            $($args)* ;
            // scoped and confined tokens, the token API
            scopes_and_restrictions_table,
            token_api_mint_list_self_revoke,
            // apps
            apps_create_get_list,
            apps_create_linked_by_handle,
            apps_delete_cascades,
            apps_path_ids,
            apps_metadata_create_read_patch,
            apps_patch_errors,
            // accounts
            accounts_create_totp_shape,
            accounts_create_hotp_shape,
            accounts_list_get_and_parent_app,
            accounts_patch_null_clears_absent_keeps,
            accounts_patch_errors,
            accounts_delete,
            accounts_otpauth_400_vs_422,
            accounts_body_shape_422,
            accounts_metadata_create_read_patch,
            accounts_metadata_422,
            // OTP generation
            generate_totp_matches_domain,
            generate_hotp_consecutive,
            generate_hotp_counter_maximum,
            generate_paused_identity_403,
            generate_secret_unreadable_500,
            // verification (authd extension)
            verify_totp_bodies_replay_and_429,
            verify_hotp_moves_the_counter,
            verify_window_on_create_and_patch,
            verify_shape_422_is_not_counted,
            verify_precedence,
            verify_on_the_device,
            verify_lockout_read,
            // identities
            identities_create_both_paths,
            identities_create_errors,
            identities_list_newest_first,
            identities_get_detail,
            identities_patch,
            identities_patch_precedence,
            identities_delete,
            identities_assign_and_unlink,
            identities_assign_errors,
            // instances
            instances_enroll_shape,
            instances_enroll_errors,
            instances_list_get_revoke,
            // device API
            device_lists_and_generates,
            device_token_dies_with_its_instance,
            device_token_realms,
            device_paused_identity,
            device_generate_errors,
            // OneWelcome
            one_welcome_list,
            one_welcome_not_found_and_401,
            one_welcome_delete_idempotent,
            one_welcome_recreated_user_is_new,
            // cross-cutting
            auth_401s,
            expired_token_401,
            cross_org_is_404,
            method_not_allowed_405,
            unknown_path_404,
            body_too_large_413,
            body_json_shape_422,
            nul_in_strings_422,
            health_and_readiness,
            request_log_uses_route_patterns,
            auth_failures_are_counted,
            // audit trail
            audit_events_shape_cursor_and_filters,
            audit_events_record_devices_and_codes,
            audit_events_newest_first,
        }
    };
}

/// One `#[actix_web::test]` per scenario, in `mod $backend`, each on a fresh kit from `$make`:
/// any `Fn() -> Kit<S>`, or `Fn() -> (Kit<S>, Guard)` where the guard (a temporary directory,
/// a database to drop) lives until the scenario ends. Scenarios expect a fresh, empty store per
/// kit, with the kit's fixed clock.
macro_rules! api_tests {
    ($backend:ident, $make:expr) => {
        for_each_scenario!(api_tests_for!($backend, $make));
    };
}

macro_rules! api_tests_for {
    ($backend:ident, $make:expr ; $($name:ident),* $(,)?) => {
        mod $backend {
            $(
                #[actix_web::test]
                async fn $name() {
                    let make = $make;
                    let Some((kit, _guard)) = crate::support::Fixture::try_parts(make()) else { return };
                    crate::scenarios::$name(kit).await;
                }
            )*
        }
    };
}

macro_rules! scenario_names {
    (; $($name:ident),* $(,)?) => {
        /// Every scenario the macro instantiates.
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

for_each_scenario!(scenario_names!());

api_tests!(memory, || domain::testkit::kit());
api_tests!(sqlite, crate::api::backends::sqlite);
api_tests!(postgres, crate::api::backends::postgres);

/// The scenario sources, to check that every scenario is listed.
const SCENARIO_SOURCES: &[&str] = &[
    include_str!("api/scenarios/apps.rs"),
    include_str!("api/scenarios/accounts.rs"),
    include_str!("api/scenarios/generate.rs"),
    include_str!("api/scenarios/identities.rs"),
    include_str!("api/scenarios/instances.rs"),
    include_str!("api/scenarios/device.rs"),
    include_str!("api/scenarios/one_welcome.rs"),
    include_str!("api/scenarios/cross_cutting.rs"),
    include_str!("api/scenarios/audit.rs"),
    include_str!("api/scenarios/verify.rs"),
    include_str!("api/scenarios/tokens.rs"),
];

#[test]
fn every_scenario_is_listed() {
    let mut defined: Vec<&str> = SCENARIO_SOURCES
        .iter()
        .flat_map(|src| src.lines())
        .filter_map(|l| l.trim_start().strip_prefix("pub async fn "))
        .map(|rest| rest.split(['<', '(']).next().unwrap_or_default())
        .collect();
    let mut listed = NAMES.to_vec();
    defined.sort_unstable();
    listed.sort_unstable();
    assert_eq!(defined, listed, "for_each_scenario! must list exactly the scenarios");
    let mut unique = listed.clone();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "a scenario is listed twice");
}

#[test]
fn scenario_files_are_all_checked() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/scenarios");
    let files = std::fs::read_dir(dir).expect("scenario dir").count();
    assert_eq!(
        files,
        SCENARIO_SOURCES.len(),
        "add new scenario files to SCENARIO_SOURCES"
    );
}

#[test]
fn a_backend_factory_may_return_a_guard() {
    let (_kit, guard) = support::Fixture::into_parts((domain::testkit::kit(), 5_u8));
    assert_eq!(guard.downcast_ref::<u8>(), Some(&5));
}
