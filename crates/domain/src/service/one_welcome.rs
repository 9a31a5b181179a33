//! The OneWelcome end-user API: a user's authentication apps (instances), and revoking one.

use crate::audit::{Action, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::Instance;
use crate::error::{Error, Resource};
use crate::ids::InstanceId;
use crate::ports::Store;
use crate::values::Handle;

use super::Authd;

impl<S: Store> Authd<S> {
    /// The live instances enrolled for the user (identity handle), oldest first. A user that
    /// does not exist and a user with no instances answer alike.
    ///
    /// # Errors
    /// `NotFound` (either case), storage failures.
    pub fn user_instances(&self, who: &Caller, user: &str) -> Result<Vec<Instance>, Error> {
        let org = who.org();
        let gone = Error::NotFound(Resource::UserAuthenticationApps);
        let Ok(handle) = Handle::parse(user) else {
            return Err(gone);
        };
        self.store.run(|r| {
            let Some(identity) = r
                .identity_by_handle(org, &handle)?
                .filter(|i| who.access().sees_identity(i))
            else {
                return Err(gone);
            };
            let list = r.list_identity_instances(org, *identity.id())?;
            if list.is_empty() {
                Err(Error::NotFound(Resource::UserAuthenticationApps))
            } else {
                Ok(list)
            }
        })
    }

    /// Revokes one of the user's instances; idempotent for an instance already revoked.
    ///
    /// # Errors
    /// `NotFound` when no such instance was ever enrolled for that user (or ids are malformed),
    /// storage failures.
    pub fn revoke_user_instance(&self, who: &Caller, user: &str, instance: &str) -> Result<(), Error> {
        let org = who.org();
        let gone = || Error::NotFound(Resource::UserAuthenticationApp);
        let (Ok(handle), Some(id)) = (Handle::parse(user), InstanceId::parse(instance)) else {
            return Err(gone());
        };
        let at = self.now();
        self.store.transaction(|r| {
            let identity = r
                .identity_by_handle(org, &handle)?
                .filter(|i| who.access().sees_identity(i))
                .ok_or_else(gone)?;
            let inst = r.identity_instance_any(org, *identity.id(), id)?.ok_or_else(gone)?;
            if inst.deleted_at().is_none() {
                r.apply_cascade(&CascadePlan::revoke_instance(org.clone(), id, at))?;
                let details = [("app_id", Detail::from(inst.app_id().to_string()))];
                self.audit(
                    r,
                    who,
                    at,
                    (Action::InstanceRevoke, ResourceType::Instance, id.as_uuid(), &details),
                )?;
            }
            Ok(())
        })
    }
}
