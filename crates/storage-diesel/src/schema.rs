//! The one schema of both backends, written by hand in SQL types both map the same way (Text,
//! BigInt, Integer, Binary, Timestamp, Nullable), so every query compiles for each backend's
//! connection. It must match `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    identities (id) {
        id -> Text,
        org_id -> Text,
        handle -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    apps (id) {
        id -> Text,
        org_id -> Text,
        identity_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        metadata -> Text,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        org_id -> Text,
        app_id -> Text,
        otp_type -> Text,
        issuer -> Nullable<Text>,
        account_name -> Text,
        display_name -> Nullable<Text>,
        description -> Nullable<Text>,
        algorithm -> Text,
        digits -> Integer,
        period -> Nullable<Integer>,
        counter -> Nullable<BigInt>,
        secret -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        verify_window -> Nullable<Integer>,
        last_verified_step -> Nullable<BigInt>,
        failed_attempts -> Integer,
        locked_until -> Nullable<Timestamp>,
        metadata -> Text,
        secret_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        org_id -> Text,
        app_id -> Text,
        identity_id -> Text,
        device_id -> Text,
        device_name -> Text,
        platform -> Text,
        token_hash -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    service_tokens (id) {
        id -> Text,
        org_id -> Text,
        name -> Nullable<Text>,
        token_hash -> Binary,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        scopes -> Text,
        restriction -> Nullable<Text>,
        parent_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        org_id -> Text,
        seq -> Nullable<BigInt>,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        request_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    org_settings (org_id) {
        org_id -> Text,
        max_token_lifetime_seconds -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    keyring (id) {
        id -> Integer,
        primary_key_id -> Nullable<Text>,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    retired_keys (key_id) {
        key_id -> Text,
        retired_at -> Timestamp,
    }
}

diesel::table! {
    replicas (id) {
        id -> Text,
        host -> Text,
        pid -> BigInt,
        started_at -> Timestamp,
        seen_at -> Timestamp,
        key_ids -> Text,
        sealing_key_id -> Text,
    }
}

diesel::table! {
    key_events (id) {
        id -> Text,
        at -> Timestamp,
        action -> Text,
        key_id -> Text,
        details -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(identities, apps, accounts, instances);

/// Index names the conflict mapping recognises (PostgreSQL reports them as the constraint).
pub(crate) const HANDLE_INDEX: &str = "identities_org_handle_live_uq";
/// See [`HANDLE_INDEX`].
pub(crate) const APP_IDENTITY_INDEX: &str = "apps_org_identity_live_uq";

#[cfg(test)]
mod tests;
