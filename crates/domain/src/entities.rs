//! Entities. Fields are private; adapters rebuild an entity from its parts
//! (`from_parts`), and everything else reads it through getters.

use crate::access::Access;
use crate::ids::{AccountId, AppId, DeviceId, IdentityId, InstanceId, OrgId, TokenId};
use crate::otp::{Algorithm, Digits, OtpKind, OtpType, VerifyWindow};
use crate::time::Timestamp;
use crate::values::{Description, DeviceName, DisplayName, Handle, IdentityStatus, Metadata, Platform, TokenName};

macro_rules! entity {
    (
        $(#[$doc:meta])* $name:ident, $parts:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $field: $ty, )*
        }

        #[doc = concat!("Every field of a [`", stringify!($name), "`], for adapters that store and rebuild it.")]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $parts {
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl $name {
            /// Rebuilds the entity from stored parts.
            #[must_use]
            pub fn from_parts(p: $parts) -> Self {
                Self { $( $field: p.$field, )* }
            }

            /// Every field, for storing.
            #[must_use]
            pub fn into_parts(self) -> $parts {
                $parts { $( $field: self.$field, )* }
            }

            $(
                $(#[$fdoc])*
                #[must_use]
                pub fn $field(&self) -> &$ty {
                    &self.$field
                }
            )*
        }
    };
}

entity!(
    /// A principal (agent or person) of an organization.
    Identity, IdentityParts {
        /// Its id.
        id: IdentityId,
        /// Its organization.
        org: OrgId,
        /// Its handle, unique among the org's live identities.
        handle: Handle,
        /// Active or paused.
        status: IdentityStatus,
        /// Creation time.
        created_at: Timestamp,
        /// Last change.
        updated_at: Timestamp,
    }
);

/// The fields of an identity a change may write: what [`crate::ports::IdentityRepo::update_identity`]
/// stores, whole. Every store writes exactly these (the in-memory one through
/// [`Identity::apply`], the SQL one through its changeset), so none can forget one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityEdit {
    /// Its handle.
    pub handle: Handle,
    /// Active or paused.
    pub status: IdentityStatus,
    /// The time of the change.
    pub updated_at: Timestamp,
}

impl Identity {
    /// Its mutable fields, as they are.
    #[must_use]
    pub fn edit(&self) -> IdentityEdit {
        IdentityEdit {
            handle: self.handle.clone(),
            status: self.status,
            updated_at: self.updated_at,
        }
    }

    /// Takes every field of `edit`.
    pub fn apply(&mut self, edit: IdentityEdit) {
        let IdentityEdit {
            handle,
            status,
            updated_at,
        } = edit;
        self.handle = handle;
        self.status = status;
        self.updated_at = updated_at;
    }

    /// Whether the identity is paused.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.status == IdentityStatus::Paused
    }
}

entity!(
    /// An organization's virtual authenticator: a container of OTP accounts.
    App, AppParts {
        /// Its id.
        id: AppId,
        /// Its organization.
        org: OrgId,
        /// The identity it is linked to, if any.
        identity_id: Option<IdentityId>,
        /// The caller's own keys and values (empty when none).
        metadata: Metadata,
        /// Creation time.
        created_at: Timestamp,
        /// Last change.
        updated_at: Timestamp,
    }
);

/// The fields of an app a change may write (see [`IdentityEdit`]). A change of one field (a
/// link, the metadata) starts from [`App::edit`], so the others are written back as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppEdit {
    /// The identity it is linked to, if any.
    pub identity_id: Option<IdentityId>,
    /// The caller's own keys and values.
    pub metadata: Metadata,
    /// The time of the change.
    pub updated_at: Timestamp,
}

impl App {
    /// Its mutable fields, as they are.
    #[must_use]
    pub fn edit(&self) -> AppEdit {
        AppEdit {
            identity_id: self.identity_id,
            metadata: self.metadata.clone(),
            updated_at: self.updated_at,
        }
    }

    /// Takes every field of `edit`.
    pub fn apply(&mut self, edit: AppEdit) {
        let AppEdit {
            identity_id,
            metadata,
            updated_at,
        } = edit;
        self.identity_id = identity_id;
        self.metadata = metadata;
        self.updated_at = updated_at;
    }
}

entity!(
    /// One OTP credential inside an app. The secret is not part of the entity: it is sealed by
    /// the cipher port and stored beside it, and only the OTP use cases ever open it.
    Account, AccountParts {
        /// Its id.
        id: AccountId,
        /// Its organization.
        org: OrgId,
        /// The app holding it.
        app_id: AppId,
        /// TOTP with its step, or HOTP with the next counter to use (as last read).
        kind: OtpKind,
        /// The issuer from the URI, if any.
        issuer: Option<String>,
        /// The account name from the URI label.
        account_name: String,
        /// A caller-chosen name.
        display_name: Option<DisplayName>,
        /// A caller-chosen description.
        description: Option<Description>,
        /// The HMAC hash.
        algorithm: Algorithm,
        /// 6 or 8.
        digits: Digits,
        /// The verification window chosen for this account; `None` for the type's default (see
        /// [`Account::effective_verify_window`]).
        verify_window: Option<VerifyWindow>,
        /// The caller's own keys and values (empty when none).
        metadata: Metadata,
        /// Creation time.
        created_at: Timestamp,
        /// Last change.
        updated_at: Timestamp,
    }
);

/// The fields of an account a change may write (see [`IdentityEdit`]): what a PATCH can
/// change. The OTP parameters and the secret never change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEdit {
    /// A caller-chosen name.
    pub display_name: Option<DisplayName>,
    /// A caller-chosen description.
    pub description: Option<Description>,
    /// The verification window; `None` for the type's default.
    pub verify_window: Option<VerifyWindow>,
    /// The caller's own keys and values.
    pub metadata: Metadata,
    /// The time of the change.
    pub updated_at: Timestamp,
}

impl Account {
    /// Its mutable fields, as they are.
    #[must_use]
    pub fn edit(&self) -> AccountEdit {
        AccountEdit {
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            verify_window: self.verify_window,
            metadata: self.metadata.clone(),
            updated_at: self.updated_at,
        }
    }

    /// Takes every field of `edit`.
    pub fn apply(&mut self, edit: AccountEdit) {
        let AccountEdit {
            display_name,
            description,
            verify_window,
            metadata,
            updated_at,
        } = edit;
        self.display_name = display_name;
        self.description = description;
        self.verify_window = verify_window;
        self.metadata = metadata;
        self.updated_at = updated_at;
    }

    /// TOTP or HOTP (the tag of [`Account::kind`]).
    #[must_use]
    pub const fn otp_type(&self) -> OtpType {
        self.kind.otp_type()
    }

    /// The window verifications of this account use: the chosen one, else the type's default
    /// (TOTP 1 step either side, HOTP 10 counters ahead).
    #[must_use]
    pub fn effective_verify_window(&self) -> VerifyWindow {
        self.verify_window
            .unwrap_or_else(|| VerifyWindow::default_for(self.kind.otp_type()))
    }
}

entity!(
    /// One installation of an app on a device, enrolled for the identity the app was linked to.
    Instance, InstanceParts {
        /// Its id.
        id: InstanceId,
        /// Its organization.
        org: OrgId,
        /// The app installed.
        app_id: AppId,
        /// The identity it was enrolled for.
        identity_id: IdentityId,
        /// The device.
        device_id: DeviceId,
        /// A human name for the device.
        device_name: DeviceName,
        /// The device's platform.
        platform: Platform,
        /// Enrollment time.
        created_at: Timestamp,
        /// Last change.
        updated_at: Timestamp,
        /// Last time the device fetched a code.
        last_used_at: Option<Timestamp>,
        /// When it was revoked; `None` while live.
        deleted_at: Option<Timestamp>,
    }
);

entity!(
    /// A service token's metadata (the token itself is shown once and stored only as a hash).
    ServiceToken, ServiceTokenParts {
        /// Its public id.
        id: TokenId,
        /// The organization it acts for.
        org: OrgId,
        /// An optional name.
        name: Option<TokenName>,
        /// Creation time.
        created_at: Timestamp,
        /// Last time it authenticated a request (written at most once a minute, so up to a minute
        /// old).
        last_used_at: Option<Timestamp>,
        /// When it was revoked.
        revoked_at: Option<Timestamp>,
        /// When it stops working (none: it lives until revoked).
        expires_at: Option<Timestamp>,
        /// What it may do: its scopes and restriction.
        access: Access,
        /// The token that minted it (none: minted by the CLI). Revoking a token revokes every
        /// token it minted, and theirs.
        parent: Option<TokenId>,
    }
);

impl ServiceToken {
    /// Whether the token has stopped working at `now` (its `expires_at` is `now` or earlier).
    #[must_use]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        (*self.expires_at()).is_some_and(|e| e <= now)
    }
}
