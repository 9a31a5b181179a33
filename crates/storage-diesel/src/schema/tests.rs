//! `schema.rs` against both migration folders: each table's columns, in name, type and
//! nullability, must be what the migrations create, on SQLite and on PostgreSQL. A column added
//! to one and not the other (a new NOT NULL column in a migration that `schema.rs` and so every
//! insert lacks, or a column `schema.rs` names that a migration folder never creates) fails here,
//! on the default local run (SQLite) as well as in CI (PostgreSQL too).

use diesel::query_builder::QueryFragment;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection, Table};

use super::{accounts, apps, audit_events, identities, instances, org_settings, service_tokens};
use crate::{Backend, DieselStore, PoolOptions};

/// A column as a table declares it: name, diesel SQL type (`Text`, `BigInt`, ...), nullable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    name: String,
    ty: String,
    nullable: bool,
}

/// The columns `schema.rs` declares for `T`: names from the rendered `SELECT` of all columns,
/// types from the type name of the tuple of their SQL types.
fn declared<T>(table: T) -> Vec<Column>
where
    T: Table + diesel::query_dsl::methods::SelectDsl<T::AllColumns> + Copy,
    T::AllColumns: diesel::Expression,
    <T as diesel::query_dsl::methods::SelectDsl<T::AllColumns>>::Output: QueryFragment<diesel::sqlite::Sqlite>,
{
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&table.select(T::all_columns())).to_string();
    let list = sql
        .trim_start_matches("SELECT ")
        .split(" FROM ")
        .next()
        .unwrap()
        .to_owned();
    let names: Vec<String> = list
        .split(", ")
        .map(|c| c.rsplit('.').next().unwrap().trim_matches('`').to_owned())
        .collect();
    let types = std::any::type_name::<<T::AllColumns as diesel::Expression>::SqlType>();
    let types = split_top_level(types.trim_start_matches('(').trim_end_matches(')'));
    assert_eq!(names.len(), types.len(), "{sql} / {types:?}");
    names
        .into_iter()
        .zip(types)
        .map(|(name, ty)| {
            let nullable = ty.contains("Nullable<");
            let inner = ty.rsplit("::").next().unwrap().trim_end_matches('>').to_owned();
            Column {
                name,
                ty: inner,
                nullable,
            }
        })
        .collect()
}

/// Splits `A, B<C, D>, E` at the commas outside angle brackets.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0_i32, String::new());
    for ch in s.chars() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// Whether a database's declared type is the one diesel's SQL type maps to on that backend.
fn same_type(backend: Backend, diesel_ty: &str, db_ty: &str) -> bool {
    let db_ty = db_ty.to_ascii_lowercase();
    let accepted: &[&str] = match (backend, diesel_ty) {
        (Backend::Sqlite, "Text") => &["text"],
        (Backend::Sqlite, "BigInt") => &["bigint", "integer"],
        (Backend::Sqlite, "Integer") => &["integer"],
        (Backend::Sqlite, "Binary") => &["blob"],
        (Backend::Sqlite, "Timestamp") => &["timestamp", "text"],
        (Backend::Postgres, "Text") => &["text"],
        (Backend::Postgres, "BigInt") => &["bigint"],
        (Backend::Postgres, "Integer") => &["integer"],
        (Backend::Postgres, "Binary") => &["bytea"],
        (Backend::Postgres, "Timestamp") => &["timestamp without time zone"],
        _ => &[],
    };
    accepted.contains(&db_ty.as_str())
}

/// Columns the migrations create for the adapter's own bookkeeping, which `schema.rs` leaves
/// out on purpose: SQLite's audit insertion order (`pos`, the rowid the sequencer follows).
const INTERNAL: &[(Backend, &str, &str)] = &[(Backend::Sqlite, "audit_events", "pos")];

#[derive(QueryableByName)]
struct DbColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ty: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
}

/// The columns the migrated database `url` has for `table`.
fn created(backend: Backend, url: &str, table: &str) -> Vec<DbColumn> {
    match backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
            // The store's checkpoint thread may hold the lock a moment: wait for it.
            diesel::connection::SimpleConnection::batch_execute(&mut c, "PRAGMA busy_timeout = 5000").unwrap();
            diesel::sql_query(
                "SELECT name, type AS ty, (\"notnull\" = 0 AND pk = 0) AS nullable FROM pragma_table_info(?)",
            )
            .bind::<diesel::sql_types::Text, _>(table)
            .load(&mut c)
            .unwrap()
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(url).unwrap();
            diesel::sql_query(
                "SELECT column_name::text AS name, data_type::text AS ty, is_nullable = 'YES' AS nullable \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
            )
            .bind::<diesel::sql_types::Text, _>(table)
            .load(&mut c)
            .unwrap()
        }
    }
}

/// Every table of `schema.rs` against the database the migrations made at `url`: the
/// disagreements, one line each (empty: they agree).
fn disagreements(backend: Backend, url: &str) -> Vec<String> {
    let tables = [
        ("identities", declared(identities::table)),
        ("apps", declared(apps::table)),
        ("accounts", declared(accounts::table)),
        ("instances", declared(instances::table)),
        ("service_tokens", declared(service_tokens::table)),
        ("audit_events", declared(audit_events::table)),
        ("org_settings", declared(org_settings::table)),
    ];
    let mut out = Vec::new();
    for (table, columns) in tables {
        let db = created(backend, url, table);
        if db.is_empty() {
            out.push(format!("{table}: no such table in the migrations"));
            continue;
        }
        for c in &columns {
            match db.iter().find(|d| d.name == c.name) {
                None => out.push(format!("{table}.{}: in schema.rs, not in the migrations", c.name)),
                Some(d) if !same_type(backend, &c.ty, &d.ty) => out.push(format!(
                    "{table}.{}: schema.rs says {}, the migrations {}",
                    c.name, c.ty, d.ty
                )),
                Some(d) if d.nullable != c.nullable => out.push(format!(
                    "{table}.{}: schema.rs says nullable = {}, the migrations {}",
                    c.name, c.nullable, d.nullable
                )),
                Some(_) => {}
            }
        }
        for d in &db {
            let internal = INTERNAL.contains(&(backend, table, d.name.as_str()));
            if !internal && !columns.iter().any(|c| c.name == d.name) {
                out.push(format!("{table}.{}: in the migrations, not in schema.rs", d.name));
            }
        }
    }
    out
}

fn migrated(url: &str, backend: Backend) {
    DieselStore::connect(url, PoolOptions::default_for(backend))
        .unwrap()
        .migrate()
        .unwrap();
}

#[test]
fn declared_columns_are_read_from_schema_rs() {
    let apps = declared(apps::table);
    assert_eq!(
        apps.first().map(|c| (c.name.as_str(), c.ty.as_str(), c.nullable)),
        Some(("id", "Text", false))
    );
    assert!(
        apps.iter()
            .any(|c| c.name == "identity_id" && c.nullable && c.ty == "Text")
    );
    assert!(
        declared(accounts::table)
            .iter()
            .any(|c| c.name == "counter" && c.ty == "BigInt")
    );
}

#[test]
fn schema_rs_matches_the_sqlite_migrations() {
    let db = test_db::SqliteDatabase::new();
    migrated(db.url(), Backend::Sqlite);
    let found = disagreements(Backend::Sqlite, db.url());
    assert!(
        found.is_empty(),
        "schema.rs and migrations/sqlite disagree:\n{}",
        found.join("\n")
    );
    // The check can fail: a column the migrations lack is reported.
    let mut c = SqliteConnection::establish(db.path().to_str().unwrap()).unwrap();
    diesel::sql_query("ALTER TABLE apps ADD COLUMN extra TEXT NOT NULL DEFAULT ''")
        .execute(&mut c)
        .unwrap();
    assert_eq!(
        disagreements(Backend::Sqlite, db.url()),
        ["apps.extra: in the migrations, not in schema.rs"]
    );
}

#[test]
fn schema_rs_matches_the_postgres_migrations() {
    let Some(db) = test_db::PgDatabase::migrated(|url| {
        DieselStore::connect(url, PoolOptions::default_for(Backend::Postgres))?.migrate()?;
        Ok::<(), crate::StorageError>(())
    }) else {
        return;
    };
    let found = disagreements(Backend::Postgres, db.url());
    assert!(
        found.is_empty(),
        "schema.rs and migrations/postgres disagree:\n{}",
        found.join("\n")
    );
}
