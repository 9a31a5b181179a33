//! Identities (agents or people): create, list, get, update (rename, pause), delete with its cascade, link and unlink an app.

use crate::audit::{Action, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::{App, Identity, IdentityParts};
use crate::error::{ConflictKind, Error, Forbidden};
use crate::ids::{AppId, IdentityId};
use crate::ports::{Lock, Store};
use crate::values::{Handle, IdentityStatus};

use super::{Authd, identity_has_app, linked_app, live_identity, locked_app, locked_identity};

/// Input of [`Authd::update_identity`].
#[derive(Debug, Clone, Default)]
pub struct IdentityPatch {
    /// A new handle.
    pub handle: Option<Handle>,
    /// A new status, as given (validated here: an unknown status is a 400, after 404 and 409).
    pub status: Option<String>,
}

/// An identity with its linked app.
#[derive(Debug, Clone)]
pub struct IdentityDetail {
    /// The identity.
    pub identity: Identity,
    /// Its live app, if any.
    pub app: Option<App>,
}

impl<S: Store> Authd<S> {
    /// Creates an identity.
    ///
    /// # Errors
    /// `Conflict` (handle taken among live identities), storage failures.
    pub fn create_identity(&self, who: &Caller, handle: Handle) -> Result<Identity, Error> {
        let org = who.org();
        if who.restriction().is_some_and(|rs| !rs.may_create_identity(&handle)) {
            return Err(Error::Forbidden(Forbidden::IdentityOutside(handle)));
        }
        let now = self.now();
        let identity = Identity::from_parts(IdentityParts {
            id: IdentityId::from_uuid(self.new_id()),
            org: org.clone(),
            handle,
            status: IdentityStatus::Active,
            created_at: now,
            updated_at: now,
        });
        self.store.transaction(|r| {
            r.insert_identity(&identity)?;
            let details = [("agent_handle", Detail::from(identity.handle().as_str()))];
            self.audit(
                r,
                who,
                now,
                (
                    Action::IdentityCreate,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )
        })?;
        Ok(identity)
    }

    /// The org's live identities, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_identities(&self, who: &Caller) -> Result<Vec<Identity>, Error> {
        let org = who.org();
        let mut identities = self.store.run(|r| r.list_identities(org))?;
        identities.retain(|i| who.access().sees_identity(i));
        Ok(identities)
    }

    /// One identity with its app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_identity(&self, who: &Caller, handle: &Handle) -> Result<IdentityDetail, Error> {
        let org = who.org();
        self.store.run(|r| {
            let identity = live_identity(r, who, handle)?;
            let app = r.app_of_identity(org, *identity.id())?;
            Ok(IdentityDetail { identity, app })
        })
    }

    /// Renames and/or pauses/unpauses an identity.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (new handle taken), `UnknownStatus`, storage failures.
    pub fn update_identity(&self, who: &Caller, handle: &Handle, patch: IdentityPatch) -> Result<Identity, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let mut identity = locked_identity(r, who, handle)?;
            // A confined caller renames only within its wildcards (an identity it holds pinned
            // keeps its handle); checked before the handle's uniqueness, so a handle taken
            // outside its view is never revealed by a conflict.
            if let Some(new) = &patch.handle
                && new != identity.handle()
                && who.restriction().is_some_and(|rs| !rs.may_create_identity(new))
            {
                return Err(Error::Forbidden(Forbidden::IdentityOutside(new.clone())));
            }
            if let Some(new) = &patch.handle
                && new != identity.handle()
                && r.identity_by_handle(org, new)?.is_some()
            {
                return Err(Error::Conflict(ConflictKind::HandleTaken));
            }
            let status = patch
                .status
                .as_deref()
                .map(IdentityStatus::parse)
                .transpose()
                .map_err(|_| Error::UnknownStatus)?;
            let previous = identity.handle().as_str().to_owned();
            let mut edit = identity.edit();
            if let Some(new) = &patch.handle {
                edit.handle = new.clone();
                edit.updated_at = now;
            }
            if let Some(s) = status {
                edit.status = s;
                edit.updated_at = now;
            }
            r.update_identity(org, *identity.id(), &edit)?;
            identity.apply(edit);
            let details = [
                ("agent_handle", Detail::from(identity.handle().as_str())),
                ("previous_handle", Detail::from(previous)),
                ("status", Detail::from(identity.status().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (
                    Action::IdentityUpdate,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )?;
            Ok(identity)
        })
    }

    /// Deletes an identity: its app is unlinked (and stays), that app's instances are revoked.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_identity(&self, who: &Caller, handle: &Handle) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, who, handle)?;
            let app = linked_app(r, org, &identity)?.map(|a| *a.id());
            r.apply_cascade(&CascadePlan::delete_identity(org.clone(), *identity.id(), app, at))?;
            let details = [
                ("agent_handle", Detail::from(identity.handle().as_str())),
                ("app_id", Detail::from(app.map(|a| a.to_string()))),
            ];
            self.audit(
                r,
                who,
                at,
                (
                    Action::IdentityDelete,
                    ResourceType::Identity,
                    identity.id().as_uuid(),
                    &details,
                ),
            )
        })
    }

    /// Links an app to an identity (a no-op when already linked to it).
    ///
    /// # Errors
    /// `NotFound` (identity or app), `Conflict` (app linked elsewhere, or identity has another
    /// app), storage failures.
    pub fn assign_app(&self, who: &Caller, handle: &Handle, app_id: AppId) -> Result<IdentityDetail, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, who, handle)?;
            let mut app = locked_app(r, who, app_id, Lock::Update)?;
            match app.identity_id() {
                Some(linked) if linked == identity.id() => {
                    return Ok(IdentityDetail {
                        identity,
                        app: Some(app),
                    });
                }
                Some(_) => {
                    return Err(Error::Conflict(ConflictKind::AppLinkedElsewhere));
                }
                None => {}
            }
            if r.app_of_identity(org, *identity.id())?.is_some() {
                return Err(identity_has_app());
            }
            // The link alone changes: every other field is written back as it is.
            let mut edit = app.edit();
            edit.identity_id = Some(*identity.id());
            edit.updated_at = now;
            r.update_app(org, *app.id(), &edit)?;
            app.apply(edit);
            let details = [
                ("identity_id", Detail::from(identity.id().to_string())),
                ("agent_handle", Detail::from(identity.handle().as_str())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AppLink, ResourceType::App, app_id.as_uuid(), &details),
            )?;
            Ok(IdentityDetail {
                identity,
                app: Some(app),
            })
        })
    }

    /// Unlinks the identity's app (if any) and revokes that app's instances.
    ///
    /// # Errors
    /// `NotFound` (identity), storage failures.
    pub fn unlink_app(&self, who: &Caller, handle: &Handle) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let identity = locked_identity(r, who, handle)?;
            if let Some(app) = linked_app(r, org, &identity)? {
                r.apply_cascade(&CascadePlan::unlink_app(org.clone(), *app.id(), at))?;
                let details = [
                    ("identity_id", Detail::from(identity.id().to_string())),
                    ("agent_handle", Detail::from(identity.handle().as_str())),
                ];
                self.audit(
                    r,
                    who,
                    at,
                    (Action::AppUnlink, ResourceType::App, app.id().as_uuid(), &details),
                )?;
            }
            Ok(())
        })
    }
}
