//! Migrations: up, down (revert_all), up again gives the same schema, on both backends; the
//! read-only `pending_migrations` before, between and after.

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use domain::ports::Store;
use storage_diesel::Backend;

use crate::support::{TestDb, Which, connect, with_db};

on_both_backends!(
    up_down_up_gives_the_same_schema,
    pending_migrations_reads_without_writing,
    concurrent_migrations_take_turns
);

const VERSIONS: [&str; 2] = ["20261125000001", "20261125000002"];

const TABLES: [&str; 5] = ["accounts", "apps", "identities", "instances", "service_tokens"];

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Line {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
    #[diesel(sql_type = Text)]
    c: String,
}

/// Every schema object of the database, as comparable lines (diesel's own bookkeeping table
/// left out).
fn dump(db: &TestDb) -> Vec<String> {
    let lines: Vec<Line> = match db.backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(db.sqlite_path()).unwrap();
            diesel::sql_query(
                "SELECT type AS a, name AS b, COALESCE(sql, '') AS c FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> '__diesel_schema_migrations' ORDER BY name",
            )
            .load(&mut c)
            .unwrap()
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(&db.url).unwrap();
            let mut all: Vec<Line> = diesel::sql_query(
                "SELECT table_name::text AS a, column_name::text AS b, \
                 concat_ws(' ', data_type, is_nullable, collation_name, column_default) AS c \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, ordinal_position",
            )
            .load(&mut c)
            .unwrap();
            all.extend(
                diesel::sql_query(
                    "SELECT tablename::text AS a, indexname::text AS b, indexdef AS c FROM pg_indexes \
                     WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations' ORDER BY indexname",
                )
                .load::<Line>(&mut c)
                .unwrap(),
            );
            all.extend(
                diesel::sql_query(
                    "SELECT conrelid::regclass::text AS a, conname::text AS b, pg_get_constraintdef(oid) AS c \
                     FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
                     AND conrelid::regclass::text <> '__diesel_schema_migrations' ORDER BY 1, 2",
                )
                .load::<Line>(&mut c)
                .unwrap(),
            );
            all
        }
    };
    lines
        .into_iter()
        .map(|l| format!("{} | {} | {}", l.a, l.b, l.c))
        .collect()
}

fn up_down_up_gives_the_same_schema(which: Which) {
    with_db(which, |db| {
        let s = connect(db);
        assert!(dump(db).is_empty(), "a fresh database has no tables");
        assert_eq!(s.migrate().unwrap(), ["20261125000001", "20261125000002"]);
        assert!(s.migrate().unwrap().is_empty(), "nothing pending the second time");
        let first = dump(db);
        for t in TABLES {
            assert!(
                first
                    .iter()
                    .any(|l| l.starts_with(&format!("{t} |")) || l.contains(&format!("| {t} |"))),
                "table {t} missing from {first:#?}"
            );
        }
        for index in [
            "identities_org_handle_live_uq",
            "apps_org_id_live_uq",
            "accounts_org_id_live_uq",
        ] {
            assert!(first.iter().any(|l| l.contains(index)), "{index} missing: {first:#?}");
        }
        s.revert_all().unwrap();
        assert_eq!(dump(db), Vec::<String>::new(), "down removes everything");
        assert_eq!(s.migrate().unwrap(), ["20261125000001", "20261125000002"]);
        assert_eq!(dump(db), first, "up again gives the same schema");
        s.ping().unwrap();
    });
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Every table of the database, diesel's bookkeeping table included.
fn all_tables(db: &TestDb) -> Vec<String> {
    let rows: Vec<Name> = match db.backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(db.sqlite_path()).unwrap();
            diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .load(&mut c)
                .unwrap()
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(&db.url).unwrap();
            diesel::sql_query(
                "SELECT tablename::text AS name FROM pg_tables \
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            )
            .load(&mut c)
            .unwrap()
        }
    };
    rows.into_iter().map(|r| r.name).collect()
}

fn forget_applied(db: &TestDb, version: &str) {
    let sql = format!("DELETE FROM __diesel_schema_migrations WHERE version = '{version}'");
    let n = match db.backend {
        Backend::Sqlite => diesel::sql_query(sql).execute(&mut SqliteConnection::establish(db.sqlite_path()).unwrap()),
        Backend::Postgres => diesel::sql_query(sql).execute(&mut PgConnection::establish(&db.url).unwrap()),
    };
    assert_eq!(n.unwrap(), 1, "version {version} was recorded");
}

fn pending_migrations_reads_without_writing(which: Which) {
    with_db(which, |db| {
        let s = connect(db);
        assert_eq!(s.pending_migrations().unwrap(), VERSIONS, "a fresh database lacks all");
        assert_eq!(s.pending_migrations().unwrap(), VERSIONS, "asking changed nothing");
        assert_eq!(
            all_tables(db),
            Vec::<String>::new(),
            "not even diesel's bookkeeping table is created"
        );
        assert_eq!(s.migrate().unwrap(), VERSIONS);
        assert!(s.pending_migrations().unwrap().is_empty(), "up to date");
        s.revert_all().unwrap();
        assert_eq!(
            all_tables(db),
            ["__diesel_schema_migrations"],
            "revert_all leaves only the bookkeeping table"
        );
        assert_eq!(s.pending_migrations().unwrap(), VERSIONS, "all again after revert_all");
        assert_eq!(s.migrate().unwrap(), VERSIONS);
        forget_applied(db, VERSIONS[1]);
        assert_eq!(
            s.pending_migrations().unwrap(),
            [VERSIONS[1]],
            "only the unrecorded one"
        );
    });
}

/// Pools migrating one fresh database at once (as processes starting together do): every one
/// succeeds and each version is applied exactly once.
fn concurrent_migrations_take_turns(which: Which) {
    with_db(which, |db| {
        let stores: Vec<_> = (0..4).map(|_| connect(db)).collect();
        let barrier = std::sync::Barrier::new(stores.len());
        let mut applied: Vec<String> = std::thread::scope(|scope| {
            let runs: Vec<_> = stores
                .iter()
                .map(|s| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        s.migrate()
                    })
                })
                .collect();
            runs.into_iter()
                .flat_map(|r| {
                    r.join()
                        .unwrap()
                        .unwrap_or_else(|e| panic!("a concurrent migrate failed: {e}"))
                })
                .collect()
        });
        applied.sort();
        assert_eq!(applied, VERSIONS, "each version applied once, by one of them");
        assert!(stores[0].pending_migrations().unwrap().is_empty());
    });
}
