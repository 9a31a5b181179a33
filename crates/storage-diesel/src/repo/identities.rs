//! Identities: `identities` rows and [`IdentityRepo`].

use diesel::prelude::*;
use domain::entities::{Identity, IdentityEdit, IdentityParts};
use domain::ids::{IdentityId, OrgId};
use domain::ports::{IdentityRepo, Lock, StoreResult};
use domain::values::{Handle, IdentityStatus};
use time::PrimitiveDateTime;

use super::{DieselRepo, lock_db, read_db, write_db};
use crate::schema::identities;
use crate::sql::{Key, corrupt, from_ts, ts};
use crate::stored_ts::StoredTs;

pub(super) const T: &str = "identities";

/// The live identities of the organization `org`.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live<'a>(org: &'a str) -> _ {
    identities::table
        .filter(identities::org_id.eq(org))
        .filter(identities::deleted_at.is_null())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = identities)]
pub(super) struct IdentityRow {
    id: Key<IdentityId>,
    org_id: String,
    handle: String,
    status: String,
    created_at: StoredTs,
    updated_at: StoredTs,
}

impl IdentityRow {
    fn into_entity(self) -> StoreResult<Identity> {
        Ok(Identity::from_parts(IdentityParts {
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            handle: Handle::parse(&self.handle).map_err(|_| corrupt(T, "handle"))?,
            status: IdentityStatus::parse(&self.status).map_err(|_| corrupt(T, "status"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = identities)]
struct NewIdentity<'a> {
    id: Key<IdentityId>,
    org_id: &'a str,
    handle: &'a str,
    status: &'static str,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// The columns [`IdentityEdit`] writes: all of its fields, and only those.
#[derive(AsChangeset)]
#[diesel(table_name = identities, treat_none_as_null = true)]
struct IdentityChanges<'a> {
    handle: &'a str,
    status: &'static str,
    updated_at: PrimitiveDateTime,
}

impl<'a> From<&'a IdentityEdit> for IdentityChanges<'a> {
    fn from(edit: &'a IdentityEdit) -> Self {
        // Exhaustive: a new field of the edit does not compile until it is written here.
        let IdentityEdit {
            handle,
            status,
            updated_at,
        } = edit;
        Self {
            handle: handle.as_str(),
            status: status.as_str(),
            updated_at: ts(*updated_at),
        }
    }
}

fn entity(row: Option<IdentityRow>) -> StoreResult<Option<Identity>> {
    row.map(IdentityRow::into_entity).transpose()
}

impl IdentityRepo for DieselRepo<'_> {
    fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()> {
        let row = NewIdentity {
            id: Key(*identity.id()),
            org_id: identity.org().as_str(),
            handle: identity.handle().as_str(),
            status: identity.status().as_str(),
            created_at: ts(*identity.created_at()),
            updated_at: ts(*identity.updated_at()),
        };
        write_db!(self, count, diesel::insert_into(identities::table).values(&row))?;
        Ok(())
    }

    fn identity_by_handle(&mut self, org: &OrgId, handle: &Handle) -> StoreResult<Option<Identity>> {
        entity(read_db!(
            self,
            first,
            live(org.as_str())
                .filter(identities::handle.eq(handle.as_str()))
                .select(IdentityRow::as_select())
        )?)
    }

    fn identity_by_id(&mut self, org: &OrgId, id: IdentityId) -> StoreResult<Option<Identity>> {
        entity(read_db!(
            self,
            first,
            live(org.as_str())
                .filter(identities::id.eq(Key(id)))
                .select(IdentityRow::as_select())
        )?)
    }

    fn list_identities(&mut self, org: &OrgId) -> StoreResult<Vec<Identity>> {
        read_db!(
            self,
            all,
            live(org.as_str())
                .order((identities::created_at.desc(), identities::id.desc()))
                .select(IdentityRow::as_select())
        )?
        .into_iter()
        .map(IdentityRow::into_entity)
        .collect()
    }

    fn update_identity(&mut self, org: &OrgId, id: IdentityId, edit: &IdentityEdit) -> StoreResult<()> {
        let changes = IdentityChanges::from(edit);
        write_db!(
            self,
            count,
            diesel::update(live(org.as_str()).filter(identities::id.eq(Key(id)))).set(&changes)
        )?;
        Ok(())
    }

    fn lock_identity_by_handle(&mut self, org: &OrgId, handle: &Handle, lock: Lock) -> StoreResult<Option<Identity>> {
        entity(lock_db!(
            self,
            lock,
            live(org.as_str())
                .filter(identities::handle.eq(handle.as_str()))
                .select(IdentityRow::as_select())
        )?)
    }

    fn lock_identity_by_id(&mut self, org: &OrgId, id: IdentityId, lock: Lock) -> StoreResult<Option<Identity>> {
        entity(lock_db!(
            self,
            lock,
            live(org.as_str())
                .filter(identities::id.eq(Key(id)))
                .select(IdentityRow::as_select())
        )?)
    }
}
