//! Authenticator apps: create (optionally linked to an identity), list, get, delete with its cascade.

use crate::audit::{Action, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::{App, AppParts};
use crate::error::{Error, Resource};
use crate::ids::AppId;
use crate::ports::{Lock, Repo, Store};
use crate::values::Handle;

use super::{Authd, identity_has_app, live_app, locked_identity};

impl<S: Store> Authd<S> {
    /// Creates an app, linked to the identity with `handle` when one is given.
    ///
    /// # Errors
    /// `NotFound` (identity), `Conflict` (the identity already has an app), storage failures.
    pub fn create_app(&self, who: &Caller, handle: Option<&Handle>) -> Result<App, Error> {
        let org = who.org();
        let id = AppId::from_uuid(self.new_id());
        let now = self.now();
        let new = |identity_id| {
            App::from_parts(AppParts {
                id,
                org: org.clone(),
                identity_id,
                created_at: now,
                updated_at: now,
            })
        };
        let insert = |r: &mut dyn Repo, app: &App| {
            let details = [("identity_id", Detail::from(app.identity_id().map(|i| i.to_string())))];
            let event = self.event(who, now, (Action::AppCreate, ResourceType::App, id.as_uuid(), &details));
            Ok::<_, Error>(r.insert_app(app, &event)?)
        };
        let Some(handle) = handle else {
            // An unlinked app and its event: one atomic write, no transaction needed.
            let app = new(None);
            self.store.run(|r| insert(r, &app))?;
            return Ok(app);
        };
        self.store.transaction(|r| {
            let identity = locked_identity(r, org, handle)?;
            if r.app_of_identity(org, *identity.id())?.is_some() {
                return Err(identity_has_app());
            }
            let app = new(Some(*identity.id()));
            insert(r, &app)?;
            Ok(app)
        })
    }

    /// The org's live apps, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_apps(&self, who: &Caller) -> Result<Vec<App>, Error> {
        let org = who.org();
        Ok(self.store.run(|r| r.list_apps(org))?)
    }

    /// One live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_app(&self, who: &Caller, id: AppId) -> Result<App, Error> {
        let org = who.org();
        self.store.run(|r| live_app(r, org, id))
    }

    /// Deletes an app with its accounts and instances, and clears its link.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_app(&self, who: &Caller, id: AppId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let app = r
                .lock_app(org, id, Lock::Update)?
                .ok_or(Error::NotFound(Resource::App))?;
            r.apply_cascade(&CascadePlan::delete_app(org.clone(), id, at))?;
            let details = [("identity_id", Detail::from(app.identity_id().map(|i| i.to_string())))];
            self.audit(
                r,
                who,
                at,
                (Action::AppDelete, ResourceType::App, id.as_uuid(), &details),
            )
        })
    }
}
