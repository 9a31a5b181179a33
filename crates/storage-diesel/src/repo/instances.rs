//! App instances and device sessions: `instances` rows and [`InstanceRepo`].

use diesel::prelude::*;
use domain::entities::{Instance, InstanceParts};
use domain::ids::{AppId, DeviceId, IdentityId, InstanceId, OrgId};
use domain::ports::{InstanceRepo, Lock, StoreResult};
use domain::time::Timestamp;
use domain::token::TokenHash;
use domain::values::{DeviceName, Platform};
use time::PrimitiveDateTime;

use super::{DieselRepo, apps, lock_db, read_db, write_db};
use crate::schema::{apps as apps_t, instances};
use crate::sql::{Key, corrupt, from_ts, ts};
use crate::stored_ts::StoredTs;

const T: &str = "instances";

/// The instances of the organization `org`, revoked ones too.
#[diesel::dsl::auto_type(no_type_alias)]
fn of_org<'a>(org: &'a str) -> _ {
    instances::table.filter(instances::org_id.eq(org))
}

/// The live instances of the organization `org`.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live<'a>(org: &'a str) -> _ {
    instances::table
        .filter(instances::org_id.eq(org))
        .filter(instances::deleted_at.is_null())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = instances)]
struct InstanceRow {
    id: Key<InstanceId>,
    org_id: String,
    app_id: Key<AppId>,
    identity_id: Key<IdentityId>,
    device_id: Key<DeviceId>,
    device_name: String,
    platform: String,
    created_at: StoredTs,
    updated_at: StoredTs,
    last_used_at: Option<StoredTs>,
    deleted_at: Option<StoredTs>,
}

impl InstanceRow {
    fn into_entity(self) -> StoreResult<Instance> {
        Ok(Instance::from_parts(InstanceParts {
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            app_id: self.app_id.0,
            identity_id: self.identity_id.0,
            device_id: self.device_id.0,
            device_name: DeviceName::parse(self.device_name).map_err(|_| corrupt(T, "device_name"))?,
            platform: Platform::parse(&self.platform).map_err(|_| corrupt(T, "platform"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
            last_used_at: self.last_used_at.map(from_ts),
            deleted_at: self.deleted_at.map(from_ts),
        }))
    }
}

fn entity(row: Option<InstanceRow>) -> StoreResult<Option<Instance>> {
    row.map(InstanceRow::into_entity).transpose()
}

fn entities(rows: Vec<InstanceRow>) -> StoreResult<Vec<Instance>> {
    rows.into_iter().map(InstanceRow::into_entity).collect()
}

#[derive(Insertable)]
#[diesel(table_name = instances, treat_none_as_default_value = false)]
struct NewInstance<'a> {
    id: Key<InstanceId>,
    org_id: &'a str,
    app_id: Key<AppId>,
    identity_id: Key<IdentityId>,
    device_id: Key<DeviceId>,
    device_name: &'a str,
    platform: &'static str,
    token_hash: &'a [u8],
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
    last_used_at: Option<PrimitiveDateTime>,
    deleted_at: Option<PrimitiveDateTime>,
}

impl InstanceRepo for DieselRepo<'_> {
    fn insert_instance(&mut self, i: &Instance, token: &TokenHash) -> StoreResult<()> {
        let row = NewInstance {
            id: Key(*i.id()),
            org_id: i.org().as_str(),
            app_id: Key(*i.app_id()),
            identity_id: Key(*i.identity_id()),
            device_id: Key(*i.device_id()),
            device_name: i.device_name().as_str(),
            platform: i.platform().as_str(),
            token_hash: token.as_bytes(),
            created_at: ts(*i.created_at()),
            updated_at: ts(*i.updated_at()),
            last_used_at: i.last_used_at().map(ts),
            deleted_at: i.deleted_at().map(ts),
        };
        write_db!(self, count, diesel::insert_into(instances::table).values(&row))?;
        Ok(())
    }

    fn instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        entity(read_db!(
            self,
            first,
            live(org.as_str())
                .inner_join(
                    apps_t::table.on(apps_t::org_id
                        .eq(instances::org_id)
                        .and(apps_t::id.eq(instances::app_id))
                        .and(apps_t::deleted_at.is_null())),
                )
                .filter(instances::app_id.eq(Key(app)))
                .filter(instances::id.eq(Key(id)))
                .select(InstanceRow::as_select())
        )?)
    }

    fn list_instances(&mut self, org: &OrgId, app: AppId) -> StoreResult<Vec<Instance>> {
        entities(read_db!(
            self,
            all,
            live(org.as_str())
                .filter(instances::app_id.eq(Key(app)))
                .order((instances::created_at.asc(), instances::id.asc()))
                .select(InstanceRow::as_select())
        )?)
    }

    fn list_identity_instances(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Vec<Instance>> {
        entities(read_db!(
            self,
            all,
            live(org.as_str())
                .filter(instances::identity_id.eq(Key(identity)))
                .order((instances::created_at.asc(), instances::id.asc()))
                .select(InstanceRow::as_select())
        )?)
    }

    fn identity_instance_any(
        &mut self,
        org: &OrgId,
        identity: IdentityId,
        id: InstanceId,
    ) -> StoreResult<Option<Instance>> {
        entity(read_db!(
            self,
            first,
            of_org(org.as_str())
                .filter(instances::identity_id.eq(Key(identity)))
                .filter(instances::id.eq(Key(id)))
                .select(InstanceRow::as_select())
        )?)
    }

    fn device_by_token(&mut self, token: &TokenHash) -> StoreResult<Option<Instance>> {
        let hash: &[u8] = token.as_bytes();
        entity(read_db!(
            self,
            first,
            instances::table
                .filter(instances::token_hash.eq(hash))
                .filter(instances::deleted_at.is_null())
                .select(InstanceRow::as_select())
        )?)
    }

    fn touch_instance(&mut self, org: &OrgId, id: InstanceId, at: Timestamp) -> StoreResult<()> {
        write_db!(
            self,
            count,
            diesel::update(live(org.as_str()).filter(instances::id.eq(Key(id))))
                .set(instances::last_used_at.eq(ts(at)))
        )?;
        Ok(())
    }

    fn lock_instance(&mut self, org: &OrgId, app: AppId, id: InstanceId) -> StoreResult<Option<Instance>> {
        entity(lock_db!(
            self,
            Lock::Update,
            live(org.as_str())
                .filter(instances::app_id.eq(Key(app)))
                .filter(instances::id.eq(Key(id)))
                .filter(instances::app_id.eq_any(apps::live_id(org.as_str(), Key(app))))
                .select(InstanceRow::as_select())
        )?)
    }
}
