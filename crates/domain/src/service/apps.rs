//! Authenticator apps: create (optionally linked to an identity), list, get, update (metadata),
//! delete with its cascade.

use crate::audit::{Action, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::{App, AppEdit, AppParts};
use crate::error::{Error, Forbidden};
use crate::ids::AppId;
use crate::ports::{Lock, Repo, Store};
use crate::time::Timestamp;
use crate::values::{Handle, Metadata, Patch};

use super::{Authd, identity_has_app, live_app, locked_app, locked_identity};

/// Input of [`Authd::create_app_with`].
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    /// Links the new app to the identity with this handle; `None`: unlinked.
    pub agent_handle: Option<Handle>,
    /// The caller's own keys and values (empty for none).
    pub metadata: Metadata,
}

/// Input of [`Authd::update_app`].
#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    /// New metadata, replacing the whole map; `Clear` (null) for none, `Keep` when absent.
    pub metadata: Patch<Metadata>,
}

impl AppPatch {
    /// `edit` with this patch applied, changed at `now` (the link is left as it is).
    fn applied_to(self, edit: AppEdit, now: Timestamp) -> AppEdit {
        let Self { metadata } = self;
        // Exhaustive: a new field of the edit does not compile until it is decided here.
        AppEdit {
            identity_id: edit.identity_id,
            metadata: metadata.apply_or_default(edit.metadata),
            updated_at: now,
        }
    }
}

impl<S: Store> Authd<S> {
    /// Creates an app without metadata, linked to the identity with `handle` when one is given
    /// (see [`Authd::create_app_with`]).
    ///
    /// # Errors
    /// `NotFound` (identity), `Conflict` (the identity already has an app), storage failures.
    pub fn create_app(&self, who: &Caller, handle: Option<&Handle>) -> Result<App, Error> {
        self.create_app_with(
            who,
            NewApp {
                agent_handle: handle.cloned(),
                metadata: Metadata::default(),
            },
        )
    }

    /// Creates an app with its metadata, linked to the identity `input.agent_handle` names when
    /// one is given. The audit event names the metadata's keys, never its values.
    ///
    /// # Errors
    /// `NotFound` (identity), `Conflict` (the identity already has an app), storage failures.
    pub fn create_app_with(&self, who: &Caller, input: NewApp) -> Result<App, Error> {
        let org = who.org();
        let id = AppId::from_uuid(self.new_id());
        let now = self.now();
        let NewApp { agent_handle, metadata } = input;
        let new = |identity_id| {
            App::from_parts(AppParts {
                id,
                org: org.clone(),
                identity_id,
                metadata: metadata.clone(),
                created_at: now,
                updated_at: now,
            })
        };
        let insert = |r: &mut dyn Repo, app: &App| {
            let details = [
                ("identity_id", Detail::from(app.identity_id().map(|i| i.to_string()))),
                ("metadata_keys", Detail::from(app.metadata().key_names())),
            ];
            let event = self.event(who, now, (Action::AppCreate, ResourceType::App, id.as_uuid(), &details));
            Ok::<_, Error>(r.insert_app(app, &event)?)
        };
        let Some(handle) = agent_handle else {
            if who.restriction().is_some() {
                return Err(Error::Forbidden(Forbidden::AppOutside));
            }
            // An unlinked app and its event: one atomic write, no transaction needed.
            let app = new(None);
            self.store.run(|r| insert(r, &app))?;
            return Ok(app);
        };
        self.store.transaction(|r| {
            let identity = locked_identity(r, who, &handle)?;
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
        self.store.run(|r| {
            let apps = r.list_apps(org)?;
            let Some(rs) = who.restriction() else {
                return Ok(apps);
            };
            let visible: Vec<_> = r
                .list_identities(org)?
                .into_iter()
                .filter(|i| rs.sees_identity(i))
                .map(|i| *i.id())
                .collect();
            Ok(apps
                .into_iter()
                .filter(|a| rs.apps.contains(a.id()) || a.identity_id().is_some_and(|i| visible.contains(&i)))
                .collect())
        })
    }

    /// One live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_app(&self, who: &Caller, id: AppId) -> Result<App, Error> {
        self.store.run(|r| live_app(r, who, id))
    }

    /// Changes an app's metadata (absent keeps, null clears it to no keys, a value replaces it
    /// whole); its link is left as it is. The audit event names the metadata's keys, never its
    /// values.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn update_app(&self, who: &Caller, id: AppId, patch: AppPatch) -> Result<App, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let mut app = locked_app(r, who, id, Lock::Update)?;
            let edit = patch.clone().applied_to(app.edit(), now);
            r.update_app(org, id, &edit)?;
            app.apply(edit);
            let details = [("metadata_keys", Detail::from(app.metadata().key_names()))];
            self.audit(
                r,
                who,
                now,
                (Action::AppUpdate, ResourceType::App, id.as_uuid(), &details),
            )?;
            Ok(app)
        })
    }

    /// Deletes an app with its accounts and instances, and clears its link.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_app(&self, who: &Caller, id: AppId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            let app = locked_app(r, who, id, Lock::Update)?;
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
