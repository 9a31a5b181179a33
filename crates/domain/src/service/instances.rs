//! App instances (devices): enroll (one device token, shown once), list, get, revoke.

use crate::audit::{Action, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::{Identity, Instance, InstanceParts};
use crate::error::{ConflictKind, Error, Resource};
use crate::ids::{AppId, DeviceId, InstanceId};
use crate::ports::{Lock, Repo, Store};
use crate::token::{DEVICE_TOKEN_PREFIX, PlainToken};
use crate::values::{DeviceName, Platform};

use super::{Authd, confine_app, internal, live_app};

/// Input of [`Authd::enroll_instance`].
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The device's name.
    pub device_name: DeviceName,
    /// Its platform.
    pub platform: Platform,
    /// The device id, generated when absent.
    pub device_id: Option<DeviceId>,
}

/// A new instance and its device token (shown once).
#[derive(Debug)]
pub struct Enrollment {
    /// The instance.
    pub instance: Instance,
    /// The device credential.
    pub device_token: PlainToken,
}

impl<S: Store> Authd<S> {
    /// Enrolls a device for the identity the app is linked to; returns its device token once.
    ///
    /// # Errors
    /// `NotFound` (app), `Paused`, `Conflict` (app not linked), storage failures.
    pub fn enroll_instance(&self, who: &Caller, app_id: AppId, input: NewInstance) -> Result<Enrollment, Error> {
        let org = who.org();
        let now = self.now();
        let id = InstanceId::from_uuid(self.new_id());
        let device_id = input.device_id.unwrap_or_else(|| DeviceId::from_uuid(self.new_id()));
        let token = PlainToken::generate(DEVICE_TOKEN_PREFIX, self.deps.rng.as_ref()).map_err(internal)?;
        let hash = token.hash();
        let instance = self.store.transaction(|r| {
            let identity = enrollment_identity(r, who, app_id)?;
            if identity.is_paused() {
                return Err(Error::Paused);
            }
            let instance = Instance::from_parts(InstanceParts {
                id,
                org: org.clone(),
                app_id,
                identity_id: *identity.id(),
                device_id,
                device_name: input.device_name.clone(),
                platform: input.platform,
                created_at: now,
                updated_at: now,
                last_used_at: None,
                deleted_at: None,
            });
            r.insert_instance(&instance, &hash)?;
            let details = [
                ("app_id", Detail::from(app_id.to_string())),
                ("identity_id", Detail::from(identity.id().to_string())),
                ("device_id", Detail::from(device_id.to_string())),
                ("platform", Detail::from(instance.platform().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::InstanceEnroll, ResourceType::Instance, id.as_uuid(), &details),
            )?;
            Ok(instance)
        })?;
        Ok(Enrollment {
            instance,
            device_token: token,
        })
    }

    /// The live instances of a live app, oldest first.
    ///
    /// # Errors
    /// `NotFound` (app), storage failures.
    pub fn list_instances(&self, who: &Caller, app: AppId) -> Result<Vec<Instance>, Error> {
        let org = who.org();
        self.store.run(|r| {
            live_app(r, who, app)?;
            Ok(r.list_instances(org, app)?)
        })
    }

    /// One live instance of a live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_instance(&self, who: &Caller, app: AppId, id: InstanceId) -> Result<Instance, Error> {
        let org = who.org();
        self.store.run(|r| {
            confine_app(r, who, app, Resource::Instance)?;
            r.instance(org, app, id)?.ok_or(Error::NotFound(Resource::Instance))
        })
    }

    /// Revokes an instance: its device token stops working at once.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn revoke_instance(&self, who: &Caller, app: AppId, id: InstanceId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            confine_app(r, who, app, Resource::Instance)?;
            r.lock_instance(org, app, id)?
                .ok_or(Error::NotFound(Resource::Instance))?;
            r.apply_cascade(&CascadePlan::revoke_instance(org.clone(), id, at))?;
            let details = [("app_id", Detail::from(app.to_string()))];
            self.audit(
                r,
                who,
                at,
                (Action::InstanceRevoke, ResourceType::Instance, id.as_uuid(), &details),
            )
        })
    }
}

/// The identity an instance of this app is enrolled for, with the identity and then the app
/// share-locked (the port's lock order), so that neither can be deleted, paused or unlinked
/// before the enrollment commits.
///
/// The identity is known only from the app, read first without a lock. If the link changed
/// before the app's lock was had, the app is now locked (its link can no longer change) and the
/// new identity is locked after it: out of order, so on a database that detects the resulting
/// deadlock the adapter retries the whole transaction ([`Store::transaction`]).
///
/// A confined caller must see the app (checked first, so an app outside answers `NotFound`
/// whatever its link) and, once both are locked, still see it through the locked identity.
fn enrollment_identity(r: &mut dyn Repo, who: &Caller, app_id: AppId) -> Result<Identity, Error> {
    let org = who.org();
    let not_linked = || Error::Conflict(ConflictKind::AppNotLinked);
    let mut linked = *live_app(r, who, app_id)?.identity_id();
    // Two rounds at most: after the first, the app is locked and its link final.
    for _ in 0..2 {
        let identity_id = linked.ok_or_else(not_linked)?;
        let identity = r.lock_identity_by_id(org, identity_id, Lock::Share)?;
        let app = r
            .lock_app(org, app_id, Lock::Share)?
            .ok_or(Error::NotFound(Resource::App))?;
        if *app.identity_id() == Some(identity_id) {
            // Linked to an identity that is gone: not linked to a live one (deleting an
            // identity unlinks its app, so only rows written before that rule can show it).
            let identity = identity.ok_or_else(not_linked)?;
            return match who.restriction() {
                Some(rs) if !rs.apps.contains(&app_id) && !rs.sees_identity(&identity) => {
                    Err(Error::NotFound(Resource::App))
                }
                _ => Ok(identity),
            };
        }
        linked = *app.identity_id();
    }
    Err(internal("an app's link changed while the app was locked"))
}
