//! Migrations: up, down (revert_all), up again gives the same schema, on both backends.

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use domain::ports::Store;
use storage_diesel::Backend;

use crate::support::{TestDb, Which, connect, with_db};

on_both_backends!(up_down_up_gives_the_same_schema);

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
        assert_eq!(
            s.migrate().unwrap(),
            ["20261125000001", "20261125000002", "20261202000004"]
        );
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
        assert_eq!(
            s.migrate().unwrap(),
            ["20261125000001", "20261125000002", "20261202000004"]
        );
        assert_eq!(dump(db), first, "up again gives the same schema");
        s.ping().unwrap();
    });
}
