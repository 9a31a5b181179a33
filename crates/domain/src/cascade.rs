//! Soft-delete cascades: which records one delete takes with it. The domain computes the plan;
//! the storage adapter applies every step in one transaction with the plan's one timestamp, so
//! a cascade can later be identified (and undone) as a unit.
//!
//! | action | steps |
//! |---|---|
//! | delete app | app deleted; its live accounts and instances deleted; its link cleared |
//! | delete account | that account |
//! | revoke instance | that instance |
//! | unlink app | link cleared; the app's live instances revoked |
//! | delete identity | identity deleted; its app unlinked and that app's live instances revoked |

use crate::ids::{AccountId, AppId, IdentityId, InstanceId, OrgId};
use crate::time::Timestamp;

/// One step of a cascade. Steps name parents rather than listing children, so a child created
/// concurrently cannot escape the cascade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CascadeStep {
    /// Soft-delete the app (and clear its identity link).
    DeleteApp(AppId),
    /// Soft-delete every live account of the app.
    DeleteAccountsOfApp(AppId),
    /// Soft-delete one account.
    DeleteAccount(AccountId),
    /// Revoke (soft-delete) every live instance of the app.
    RevokeInstancesOfApp(AppId),
    /// Revoke one instance.
    RevokeInstance(InstanceId),
    /// Clear the app's identity link (the app stays).
    UnlinkApp(AppId),
    /// Soft-delete the identity.
    DeleteIdentity(IdentityId),
}

/// A cascade: ordered steps, applied atomically with one `deleted_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CascadePlan {
    org: OrgId,
    at: Timestamp,
    steps: Vec<CascadeStep>,
}

impl CascadePlan {
    /// Deleting an app: its accounts and instances go with it, its link is cleared.
    #[must_use]
    pub fn delete_app(org: OrgId, app: AppId, at: Timestamp) -> Self {
        Self {
            org,
            at,
            steps: vec![
                CascadeStep::RevokeInstancesOfApp(app),
                CascadeStep::DeleteAccountsOfApp(app),
                CascadeStep::DeleteApp(app),
            ],
        }
    }

    /// Deleting one account.
    #[must_use]
    pub fn delete_account(org: OrgId, account: AccountId, at: Timestamp) -> Self {
        Self {
            org,
            at,
            steps: vec![CascadeStep::DeleteAccount(account)],
        }
    }

    /// Revoking one instance.
    #[must_use]
    pub fn revoke_instance(org: OrgId, instance: InstanceId, at: Timestamp) -> Self {
        Self {
            org,
            at,
            steps: vec![CascadeStep::RevokeInstance(instance)],
        }
    }

    /// Unlinking an app from its identity: the app's live instances are revoked (they were
    /// enrolled for that identity; a device must not follow the app to another principal).
    #[must_use]
    pub fn unlink_app(org: OrgId, app: AppId, at: Timestamp) -> Self {
        Self {
            org,
            at,
            steps: vec![CascadeStep::RevokeInstancesOfApp(app), CascadeStep::UnlinkApp(app)],
        }
    }

    /// Deleting an identity: its app (if any) is unlinked and that app's instances revoked; the
    /// app and its accounts stay for reassignment.
    #[must_use]
    pub fn delete_identity(org: OrgId, identity: IdentityId, app: Option<AppId>, at: Timestamp) -> Self {
        let mut steps = Vec::with_capacity(3);
        if let Some(app) = app {
            steps.push(CascadeStep::RevokeInstancesOfApp(app));
            steps.push(CascadeStep::UnlinkApp(app));
        }
        steps.push(CascadeStep::DeleteIdentity(identity));
        Self { org, at, steps }
    }

    /// The organization every step is scoped to.
    #[must_use]
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// The one timestamp of the whole cascade.
    #[must_use]
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// The steps, in order.
    #[must_use]
    pub fn steps(&self) -> &[CascadeStep] {
        &self.steps
    }
}
