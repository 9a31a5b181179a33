//! Apps: `apps` rows and [`AppRepo`].

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::sql_types::Text;
use domain::audit::AuditEvent;
use domain::entities::{App, AppEdit, AppParts};
use domain::ids::{AppId, IdentityId, OrgId};
use domain::ports::{AppRepo, AuditRepo as _, Lock, StoreResult};
use time::PrimitiveDateTime;

use super::accounts::{metadata_column, metadata_from_column};
use super::audit::{InsertEvent, NewAuditEvent};
use super::{DieselRepo, lock_db, read_db, write_db};
use crate::pool::{AnyConnection, in_transaction};
use crate::schema::apps;
use crate::sql::{Key, corrupt, from_ts, static_statement, ts};
use crate::stored_ts::StoredTs;

const T: &str = "apps";

/// The live apps of the organization `org`.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live<'a>(org: &'a str) -> _ {
    apps::table
        .filter(apps::org_id.eq(org))
        .filter(apps::deleted_at.is_null())
}

/// The id of the live app `id` of `org`, as a subquery (empty when the app is not live).
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live_id<'a>(org: &'a str, id: Key<AppId>) -> _ {
    apps::table
        .filter(apps::org_id.eq(org))
        .filter(apps::id.eq(id))
        .filter(apps::deleted_at.is_null())
        .select(apps::id)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = apps)]
struct AppRow {
    id: Key<AppId>,
    org_id: String,
    identity_id: Option<Key<IdentityId>>,
    metadata: String,
    created_at: StoredTs,
    updated_at: StoredTs,
}

impl AppRow {
    fn into_entity(self) -> StoreResult<App> {
        Ok(App::from_parts(AppParts {
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            identity_id: self.identity_id.map(|k| k.0),
            metadata: metadata_from_column(&self.metadata).ok_or_else(|| corrupt(T, "metadata"))?,
            created_at: from_ts(self.created_at),
            updated_at: from_ts(self.updated_at),
        }))
    }
}

fn entity(row: Option<AppRow>) -> StoreResult<Option<App>> {
    row.map(AppRow::into_entity).transpose()
}

#[derive(Insertable)]
#[diesel(table_name = apps, treat_none_as_default_value = false)]
pub(crate) struct NewApp<'a> {
    id: Key<AppId>,
    org_id: &'a str,
    created_at: PrimitiveDateTime,
    #[diesel(embed)]
    changes: AppChanges,
}

impl<'a> NewApp<'a> {
    fn of(a: &'a App) -> StoreResult<Self> {
        Ok(Self {
            id: Key(*a.id()),
            org_id: a.org().as_str(),
            created_at: ts(*a.created_at()),
            changes: AppChanges::of(&a.edit())?,
        })
    }
}

/// The columns [`AppEdit`] writes: all of its fields, and only those. An update writes these;
/// an insert embeds them (as the accounts' do), so a new mutable field is written on insert
/// and update alike.
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = apps, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct AppChanges {
    identity_id: Option<Key<IdentityId>>,
    metadata: String,
    updated_at: PrimitiveDateTime,
}

impl AppChanges {
    fn of(edit: &AppEdit) -> StoreResult<Self> {
        // Exhaustive: a new field of the edit does not compile until it is written here.
        let AppEdit {
            identity_id,
            metadata,
            updated_at,
        } = edit;
        Ok(Self {
            identity_id: identity_id.map(Key),
            metadata: metadata_column(metadata)?,
            updated_at: ts(*updated_at),
        })
    }
}

/// PostgreSQL only: the insert of an app and of its audit event in one statement (a
/// data-modifying `WITH`), so creating an app costs one round trip and no transaction. Its
/// column lists are [`NewApp`]'s and [`InsertEvent`]'s (the schema test checks both).
pub(crate) struct InsertAppAudited<'a> {
    app: &'a NewApp<'a>,
    event: InsertEvent<'a>,
}

impl Query for InsertAppAudited<'_> {
    type SqlType = Text;
}

impl QueryFragment<Pg> for InsertAppAudited<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Nullable, Timestamp};
        let (a, c) = (self.app, &self.app.changes);
        out.push_sql(
            "WITH a AS (INSERT INTO apps (id, org_id, created_at, identity_id, metadata, updated_at) VALUES (",
        );
        out.push_bind_param::<Text, _>(&a.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(a.org_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&a.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&c.identity_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(&c.metadata)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&c.updated_at)?;
        out.push_sql(") RETURNING id), ev AS (");
        self.event.walk_ast(out.reborrow())?;
        out.push_sql(") SELECT id FROM a");
        Ok(())
    }
}

static_statement!(InsertAppAudited);

impl AppRepo for DieselRepo<'_> {
    fn insert_app(&mut self, app: &App, event: &AuditEvent) -> StoreResult<()> {
        let (row, ev) = (NewApp::of(app)?, NewAuditEvent::of(event));
        let insert = diesel::insert_into(apps::table).values(&row);
        if self.in_tx {
            write_db!(self, count, insert)?;
            return self.insert_audit_event(event);
        }
        match &mut self.conn.inner {
            // One statement, as the HOTP advance.
            AnyConnection::Postgresql(c) => {
                let both = InsertAppAudited {
                    app: &row,
                    event: InsertEvent(&ev),
                };
                let done = crate::sql::write(both).get_result::<String>(c);
                done.map_err(|e| self.conn.fail(e))?;
                Ok(())
            }
            AnyConnection::Sqlite(_) => in_transaction(self.conn, |conn| {
                let mut repo = DieselRepo::new(conn, true);
                write_db!(&mut repo, count, insert)?;
                repo.insert_audit_event(event)
            }),
        }
    }

    fn app(&mut self, org: &OrgId, id: AppId) -> StoreResult<Option<App>> {
        entity(read_db!(
            self,
            first,
            live(org.as_str())
                .filter(apps::id.eq(Key(id)))
                .select(AppRow::as_select())
        )?)
    }

    fn app_of_identity(&mut self, org: &OrgId, identity: IdentityId) -> StoreResult<Option<App>> {
        entity(read_db!(
            self,
            first,
            live(org.as_str())
                .filter(apps::identity_id.eq(Key(identity)))
                .select(AppRow::as_select())
        )?)
    }

    fn list_apps(&mut self, org: &OrgId) -> StoreResult<Vec<App>> {
        read_db!(
            self,
            all,
            live(org.as_str())
                .order((apps::created_at.asc(), apps::id.asc()))
                .select(AppRow::as_select())
        )?
        .into_iter()
        .map(AppRow::into_entity)
        .collect()
    }

    fn update_app(&mut self, org: &OrgId, id: AppId, edit: &AppEdit) -> StoreResult<()> {
        let changes = AppChanges::of(edit)?;
        write_db!(
            self,
            count,
            diesel::update(live(org.as_str()).filter(apps::id.eq(Key(id)))).set(&changes)
        )?;
        Ok(())
    }

    fn lock_app(&mut self, org: &OrgId, id: AppId, lock: Lock) -> StoreResult<Option<App>> {
        entity(lock_db!(
            self,
            lock,
            live(org.as_str())
                .filter(apps::id.eq(Key(id)))
                .select(AppRow::as_select())
        )?)
    }
}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use domain::audit::{Action, Actor, AuditEvent, Details, ResourceType};
    use domain::ids::OrgId;

    use super::*;
    use crate::sql::insert_columns;

    /// The PostgreSQL-only insert of an app with its event names the columns the `Insertable`
    /// rows do (which the schema test holds to both migration folders): a column added to
    /// `NewApp` or `NewAuditEvent` and not to the hand-written statement fails here, on the
    /// default local run, not only on PostgreSQL in CI.
    #[test]
    fn insert_app_audited_names_the_insertable_columns() {
        let org = OrgId::new("org_a").unwrap();
        let at = domain::time::Timestamp::from_unix_seconds(0).unwrap();
        let app = App::from_parts(AppParts {
            id: AppId::from_uuid(uuid::Uuid::nil()),
            org: org.clone(),
            identity_id: None,
            metadata: domain::values::Metadata::parse([("env".to_owned(), "prod".to_owned())]).unwrap(),
            created_at: at,
            updated_at: at,
        });
        let event = AuditEvent {
            id: uuid::Uuid::nil(),
            org,
            seq: None,
            at,
            actor: Actor::Cli,
            action: Action::AppCreate,
            resource_type: ResourceType::App,
            resource_id: uuid::Uuid::nil(),
            request_id: None,
            details: Details::from_stored("{}".into()),
        };
        let (row, ev) = (NewApp::of(&app).unwrap(), NewAuditEvent::of(&event));
        let audited = diesel::debug_query::<Pg, _>(&InsertAppAudited {
            app: &row,
            event: InsertEvent(&ev),
        })
        .to_string();
        let dsl_app = diesel::debug_query::<Pg, _>(&diesel::insert_into(apps::table).values(&row)).to_string();
        let dsl_event =
            diesel::debug_query::<Pg, _>(&diesel::insert_into(crate::schema::audit_events::table).values(&ev))
                .to_string();
        assert_eq!(insert_columns(&audited, "apps"), insert_columns(&dsl_app, "apps"));
        assert_eq!(
            insert_columns(&audited, "audit_events"),
            insert_columns(&dsl_event, "audit_events")
        );
    }
}
