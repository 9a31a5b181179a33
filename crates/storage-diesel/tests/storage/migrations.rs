//! Migrations, on both backends: up, down (revert_all), up again gives the same schema; the
//! read-only `pending_migrations` before, between and after; the data repair
//! (`2026-12-02-000003_repair_orphans`) applies the missing part of every cascade to a database
//! left inconsistent by an earlier version, and changes nothing else; tokens minted before scopes
//! existed (`2026-12-05-000010_token_scopes`) keep full access; the rebuild of SQLite's `apps`
//! (`2026-12-06-000012_sqlite_apps_without_rowid`) keeps every row and every reference.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use domain::ports::Store;
use storage_diesel::Backend;

use crate::support::{TestDb, Which, connect, with_db};

on_both_backends!(
    up_down_up_gives_the_same_schema,
    repair_orphans_applies_the_missing_cascades,
    pending_migrations_reads_without_writing,
    concurrent_migrations_take_turns,
    tokens_minted_before_scopes_keep_full_access,
    secrets_sealed_before_the_keyring_are_counted_by_key,
    apps_without_rowid_keeps_rows_and_references
);

/// Every migration, oldest first.
const ALL: [&str; 12] = [
    "20261125000001",
    "20261125000002",
    "20261202000003",
    "20261202000004",
    "20261202000005",
    "20261205000006",
    "20261205000007",
    "20261205000008",
    "20261205000009",
    "20261205000010",
    "20261206000011",
    "20261206000012",
];

const TABLES: [&str; 11] = [
    "accounts",
    "apps",
    "audit_events",
    "identities",
    "instances",
    "key_events",
    "keyring",
    "org_settings",
    "replicas",
    "retired_keys",
    "service_tokens",
];

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
        assert_eq!(s.migrate().unwrap(), ALL);
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
            // The `(org_id, id)` lookup indexes are PostgreSQL's (its generic plans); on SQLite
            // the primary key serves those lookups and 2026-12-05-000008 drops them.
            let expected = matches!(which, Which::Postgres) || index == "identities_org_handle_live_uq";
            assert_eq!(
                first.iter().any(|l| l.contains(index)),
                expected,
                "{index} present: {expected} expected, {first:#?}"
            );
        }
        s.revert_all().unwrap();
        assert_eq!(dump(db), Vec::<String>::new(), "down removes everything");
        assert_eq!(s.migrate().unwrap(), ALL);
        assert_eq!(dump(db), first, "up again gives the same schema");
        s.ping().unwrap();
    });
}

/// A raw connection (no pool, no pragmas, foreign keys as the backend defaults), to build a
/// database at an older schema version and fill it with rows the application never writes.
enum Raw {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// One row of any table, as the repair sees it (timestamps as text on both backends).
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct Rec {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    org_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    identity_id: Option<String>,
    #[diesel(sql_type = Text)]
    updated_at: String,
    #[diesel(sql_type = Nullable<Text>)]
    deleted_at: Option<String>,
}

const SNAPSHOT: &str = "\
    SELECT 'identities' AS t, id, org_id, CAST(NULL AS TEXT) AS identity_id, \
           CAST(updated_at AS TEXT) AS updated_at, CAST(deleted_at AS TEXT) AS deleted_at FROM identities \
    UNION ALL SELECT 'apps', id, org_id, identity_id, CAST(updated_at AS TEXT), CAST(deleted_at AS TEXT) FROM apps \
    UNION ALL SELECT 'accounts', id, org_id, CAST(NULL AS TEXT), CAST(updated_at AS TEXT), CAST(deleted_at AS TEXT) \
              FROM accounts \
    UNION ALL SELECT 'instances', id, org_id, identity_id, CAST(updated_at AS TEXT), CAST(deleted_at AS TEXT) \
              FROM instances \
    ORDER BY 1, 2";

impl Raw {
    fn open(db: &TestDb) -> Raw {
        match db.backend {
            Backend::Sqlite => Raw::Sqlite(SqliteConnection::establish(db.sqlite_path()).unwrap()),
            Backend::Postgres => Raw::Pg(PgConnection::establish(&db.url).unwrap()),
        }
    }

    /// Applies the migrations before the repair, one at a time, from the migrations folder.
    fn migrate_to_before_repair(&mut self) {
        self.migrate_first(2);
    }

    /// Applies the first `n` migrations, one at a time, from the migrations folder.
    fn migrate_first(&mut self, n: usize) {
        let folder = |b: &str| {
            FileBasedMigrations::from_path(format!("{}/../../migrations/{b}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        for expected in &ALL[..n] {
            let v = match self {
                Raw::Sqlite(c) => c.run_next_migration(folder("sqlite")).unwrap().to_string(),
                Raw::Pg(c) => c.run_next_migration(folder("postgres")).unwrap().to_string(),
            };
            assert_eq!(&v, expected);
        }
    }

    fn exec(&mut self, sql: &str) {
        match self {
            Raw::Sqlite(c) => c.batch_execute(sql).unwrap(),
            Raw::Pg(c) => c.batch_execute(sql).unwrap(),
        }
    }

    fn snapshot(&mut self) -> Vec<Rec> {
        match self {
            Raw::Sqlite(c) => diesel::sql_query(SNAPSHOT).load(c).unwrap(),
            Raw::Pg(c) => diesel::sql_query(SNAPSHOT).load(c).unwrap(),
        }
    }

    /// A 32-byte value of `byte`s, as a literal of this backend.
    fn bytes(&self, byte: u8) -> String {
        let hex = format!("{byte:02x}").repeat(32);
        match self {
            Raw::Sqlite(_) => format!("X'{hex}'"),
            Raw::Pg(_) => format!("'\\x{hex}'::bytea"),
        }
    }
}

const T0: &str = "2026-01-01 00:00:00";
/// When `app-deleted` was deleted.
const APP_DELETED_AT: &str = "2026-02-01 09:00:00";
/// When `id-deleted` was deleted.
const IDENTITY_DELETED_AT: &str = "2026-03-01 10:00:00";
/// When `app-unlinked` was unlinked.
const UNLINKED_AT: &str = "2026-04-01 08:00:00";
/// When `app-elsewhere` was linked to `id-dave`.
const RELINKED_AT: &str = "2026-05-01 07:00:00";
/// When the already-deleted children of `app-deleted` were deleted, each on its own.
const OWN_DELETE: &str = "2026-01-15 12:00:00";

fn repair_orphans_applies_the_missing_cascades(which: Which) {
    with_db(which, |db| {
        let mut raw = Raw::open(db);
        raw.migrate_to_before_repair();

        let identity = |id: &str, deleted_at: Option<&str>| {
            let (updated, deleted) = match deleted_at {
                Some(d) => (d.to_owned(), format!("'{d}'")),
                None => (T0.to_owned(), "NULL".to_owned()),
            };
            format!(
                "INSERT INTO identities (id, org_id, handle, status, created_at, updated_at, deleted_at) \
                 VALUES ('{id}', 'org-1', '{id}', 'active', '{T0}', '{updated}', {deleted});"
            )
        };
        let app = |id: &str, identity: Option<&str>, updated: &str, deleted: Option<&str>| {
            let identity = identity.map_or("NULL".to_owned(), |i| format!("'{i}'"));
            let deleted = deleted.map_or("NULL".to_owned(), |d| format!("'{d}'"));
            format!(
                "INSERT INTO apps (id, org_id, identity_id, created_at, updated_at, deleted_at) \
                 VALUES ('{id}', 'org-1', {identity}, '{T0}', '{updated}', {deleted});"
            )
        };
        let account = |id: &str, org: &str, app: &str, deleted: Option<&str>, raw: &Raw| {
            let (updated, deleted) =
                deleted.map_or((T0.to_owned(), "NULL".to_owned()), |d| (d.to_owned(), format!("'{d}'")));
            format!(
                "INSERT INTO accounts (id, org_id, app_id, otp_type, account_name, algorithm, digits, period, \
                 secret, created_at, updated_at, deleted_at) VALUES ('{id}', '{org}', '{app}', 'totp', '{id}', \
                 'sha1', 6, 30, {}, '{T0}', '{updated}', {deleted});",
                raw.bytes(0xaa)
            )
        };
        let mut hash = 0u8;
        let mut instance = |id: &str, app: &str, identity: &str, deleted: Option<&str>, raw: &Raw| {
            hash += 1;
            let (updated, deleted) =
                deleted.map_or((T0.to_owned(), "NULL".to_owned()), |d| (d.to_owned(), format!("'{d}'")));
            format!(
                "INSERT INTO instances (id, org_id, app_id, identity_id, device_id, device_name, platform, \
                 token_hash, created_at, updated_at, deleted_at) VALUES ('{id}', 'org-1', '{app}', '{identity}', \
                 'dev-{id}', 'phone', 'IOS', {}, '{T0}', '{updated}', {deleted});",
                raw.bytes(hash)
            )
        };

        let mut sql = vec![
            identity("id-alice", None),
            identity("id-deleted", Some(IDENTITY_DELETED_AT)),
            identity("id-carol", None),
            identity("id-dave", None),
            // A deleted app (its link was cleared with it).
            app("app-deleted", None, APP_DELETED_AT, Some(APP_DELETED_AT)),
            // Control: live, linked to its live identity.
            app("app-alice", Some("id-alice"), T0, None),
            // (d) live, still linked to a deleted identity.
            app("app-of-deleted", Some("id-deleted"), T0, None),
            // Live, unlinked; live, linked to another identity than its instance's.
            app("app-unlinked", None, UNLINKED_AT, None),
            app("app-elsewhere", Some("id-dave"), RELINKED_AT, None),
            // (a) a live account of the deleted app.
            account("acc-orphan", "org-1", "app-deleted", None, &raw),
            // Control: the deleted app's account deleted before it keeps its own deleted_at.
            account("acc-dead", "org-1", "app-deleted", Some(OWN_DELETE), &raw),
            // Control: a live account of a live app.
            account("acc-alice", "org-1", "app-alice", None, &raw),
            // Control: another org's account naming the deleted app's id (only (org_id, id) joins).
            account("acc-other-org", "org-2", "app-deleted", None, &raw),
        ];
        sql.extend([
            // (b) a live instance of the deleted app (its identity is live).
            instance("ins-of-deleted-app", "app-deleted", "id-alice", None, &raw),
            // Control: the deleted app's instance revoked before it keeps its own deleted_at.
            instance("ins-dead", "app-deleted", "id-alice", Some(OWN_DELETE), &raw),
            // (c) a live instance of the deleted identity.
            instance("ins-of-deleted-identity", "app-of-deleted", "id-deleted", None, &raw),
            // (e) after (d): a live instance of app-of-deleted for another identity; revoked when
            // (d) unlinks the app, at the identity's deleted_at.
            instance("ins-after-unlink", "app-of-deleted", "id-carol", None, &raw),
            // (e) a live instance of an unlinked app.
            instance("ins-of-unlinked", "app-unlinked", "id-carol", None, &raw),
            // (e) a live instance of an app linked to another identity.
            instance("ins-linked-elsewhere", "app-elsewhere", "id-carol", None, &raw),
            // Controls: live instances of correctly linked apps.
            instance("ins-alice", "app-alice", "id-alice", None, &raw),
            instance("ins-dave", "app-elsewhere", "id-dave", None, &raw),
        ]);
        raw.exec(&sql.concat());
        let before = raw.snapshot();
        drop(raw);

        let s = connect(db);
        assert_eq!(s.migrate().unwrap(), ALL[2..], "only the repair is pending");

        let mut expected = before.clone();
        let mut set = |t: &str, id: &str, f: &dyn Fn(&mut Rec)| {
            let r = expected
                .iter_mut()
                .find(|r| r.t == t && r.id == id)
                .expect("a row of the fixture");
            f(r);
        };
        let deleted_at = |at: &'static str| {
            move |r: &mut Rec| {
                r.updated_at = at.to_owned();
                r.deleted_at = Some(at.to_owned());
            }
        };
        set("accounts", "acc-orphan", &deleted_at(APP_DELETED_AT));
        set("instances", "ins-of-deleted-app", &deleted_at(APP_DELETED_AT));
        set("instances", "ins-of-deleted-identity", &deleted_at(IDENTITY_DELETED_AT));
        set("apps", "app-of-deleted", &|r| {
            r.identity_id = None;
            r.updated_at = IDENTITY_DELETED_AT.to_owned();
        });
        set("instances", "ins-after-unlink", &deleted_at(IDENTITY_DELETED_AT));
        set("instances", "ins-of-unlinked", &deleted_at(UNLINKED_AT));
        set("instances", "ins-linked-elsewhere", &deleted_at(RELINKED_AT));

        let after = Raw::open(db).snapshot();
        assert_eq!(after.len(), 21, "every row of the fixture: {after:#?}");
        for (a, e) in after.iter().zip(&expected) {
            assert_eq!(a, e, "{} {}", e.t, e.id);
        }
        assert_eq!(after, expected);

        assert!(s.migrate().unwrap().is_empty(), "nothing pending afterwards");
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
        assert_eq!(s.pending_migrations().unwrap(), ALL, "a fresh database lacks all");
        assert_eq!(s.pending_migrations().unwrap(), ALL, "asking changed nothing");
        assert_eq!(
            all_tables(db),
            Vec::<String>::new(),
            "not even diesel's bookkeeping table is created"
        );
        assert_eq!(s.migrate().unwrap(), ALL);
        assert!(s.pending_migrations().unwrap().is_empty(), "up to date");
        s.revert_all().unwrap();
        assert_eq!(
            all_tables(db),
            ["__diesel_schema_migrations"],
            "revert_all leaves only the bookkeeping table"
        );
        assert_eq!(s.pending_migrations().unwrap(), ALL, "all again after revert_all");
        assert_eq!(s.migrate().unwrap(), ALL);
        forget_applied(db, ALL[ALL.len() - 1]);
        assert_eq!(
            s.pending_migrations().unwrap(),
            [ALL[ALL.len() - 1]],
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
        assert_eq!(applied, ALL, "each version applied once, by one of them");
        assert!(stores[0].pending_migrations().unwrap().is_empty());
    });
}

/// A token row written before `2026-12-05-000010_token_scopes` reads, once migrated, as a token
/// with every scope and no restriction; the organization has no maximum lifetime.
fn tokens_minted_before_scopes_keep_full_access(which: Which) {
    with_db(which, |db| {
        let mut raw = Raw::open(db);
        let scopes = ALL.iter().position(|v| *v == "20261205000010").unwrap();
        raw.migrate_first(scopes);
        let token = "0190a000-0000-7000-8000-000000000001";
        let sql = format!(
            "INSERT INTO service_tokens (id, org_id, name, token_hash, created_at, last_used_at, revoked_at, \
             expires_at) VALUES ('{token}', 'org-1', 'old', {}, '{T0}', NULL, NULL, NULL);",
            raw.bytes(0x42)
        );
        raw.exec(&sql);
        drop(raw);

        let s = connect(db);
        assert_eq!(s.migrate().unwrap(), ALL[scopes..], "the scopes and later are pending");
        let org = domain::ids::OrgId::new("org-1").unwrap();
        let tokens = s.run(|r| r.list_service_tokens(Some(&org))).unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].id().to_string(), token);
        assert_eq!(tokens[0].access(), &domain::access::Access::admin());
        assert_eq!(s.run(|r| r.max_token_lifetime(&org)).unwrap(), None);
    });
}

/// Values sealed before the keyring columns existed are counted under the key their envelope
/// names (`0x01`: key 0; `0x02 [n] [id]`: that id; anything else: no key), and the keyring
/// record starts empty.
fn secrets_sealed_before_the_keyring_are_counted_by_key(which: Which) {
    with_db(which, |db| {
        let mut raw = Raw::open(db);
        let keyring = ALL.iter().position(|v| *v == "20261206000011").unwrap();
        raw.migrate_first(keyring);
        let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
        let blob = |raw: &Raw, b: &[u8]| match raw {
            Raw::Sqlite(_) => format!("X'{}'", hex(b)),
            Raw::Pg(_) => format!("'\\x{}'::bytea", hex(b)),
        };
        raw.exec(&format!(
            "INSERT INTO apps (id, org_id, identity_id, created_at, updated_at, deleted_at) \
             VALUES ('app-1', 'org-1', NULL, '{T0}', '{T0}', NULL);"
        ));
        let values: [(&str, Vec<u8>); 4] = [
            ("acc-1", [&[0x01][..], &[0xaa; 40]].concat()),
            ("acc-2", [&[0x02, 2][..], b"k2", &[0xbb; 40]].concat()),
            ("acc-3", [&[0x02, 2][..], b"k2", &[0xcc; 40]].concat()),
            ("acc-4", [&[0x09][..], &[0xdd; 40]].concat()),
        ];
        for (id, value) in &values {
            raw.exec(&format!(
                "INSERT INTO accounts (id, org_id, app_id, otp_type, account_name, algorithm, digits, period, \
                 secret, created_at, updated_at, deleted_at) VALUES ('{id}', 'org-1', 'app-1', 'totp', '{id}', \
                 'sha1', 6, 30, {}, '{T0}', '{T0}', NULL);",
                blob(&raw, value)
            ));
        }
        drop(raw);
        let s = connect(db);
        assert_eq!(s.migrate().unwrap(), ALL[keyring..]);
        let counts = s.run(|r| r.count_sealed()).unwrap();
        let by_key: Vec<(String, u64)> = counts.by_key.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(by_key, [("0".to_owned(), 1), ("k2".to_owned(), 2)]);
        assert_eq!(counts.unknown, 1);
        let record = s.run(|r| r.keyring(None)).unwrap();
        assert_eq!((record.primary, record.retired.len()), (None, 0));
    });
}

/// Rebuilding SQLite's `apps` as a `WITHOUT ROWID` table keeps every row (deleted and linked
/// ones, metadata) and every reference to it, and the references are still enforced after.
/// (On PostgreSQL the migration changes nothing; the same checks hold.)
fn apps_without_rowid_keeps_rows_and_references(which: Which) {
    with_db(which, |db| {
        let mut raw = Raw::open(db);
        let rebuild = ALL.iter().position(|v| *v == "20261206000012").unwrap();
        raw.migrate_first(rebuild);
        raw.exec(&format!(
            "INSERT INTO identities (id, org_id, handle, status, created_at, updated_at, deleted_at) \
             VALUES ('id-1', 'org-1', 'alice', 'active', '{T0}', '{T0}', NULL); \
             INSERT INTO apps (id, org_id, identity_id, created_at, updated_at, deleted_at, metadata) \
             VALUES ('app-1', 'org-1', 'id-1', '{T0}', '{T0}', NULL, '{{\"env\":\"prod\"}}'); \
             INSERT INTO apps (id, org_id, identity_id, created_at, updated_at, deleted_at) \
             VALUES ('app-2', 'org-1', NULL, '{T0}', '{APP_DELETED_AT}', '{APP_DELETED_AT}'); \
             INSERT INTO accounts (id, org_id, app_id, otp_type, account_name, algorithm, digits, period, \
             secret, created_at, updated_at, deleted_at) VALUES ('acc-1', 'org-1', 'app-1', 'totp', 'a', \
             'sha1', 6, 30, {}, '{T0}', '{T0}', NULL);",
            raw.bytes(1)
        ));
        let before = raw.snapshot();
        drop(raw);
        let s = connect(db);
        assert_eq!(s.migrate().unwrap(), ALL[rebuild..]);
        let mut raw = Raw::open(db);
        assert_eq!(raw.snapshot(), before, "every row kept");
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let dangling = "SELECT count(*) AS n FROM pragma_foreign_key_check";
        let orphan = format!(
            "INSERT INTO accounts (id, org_id, app_id, otp_type, account_name, algorithm, digits, period, \
             secret, created_at, updated_at, deleted_at) VALUES ('acc-2', 'org-1', 'no-such-app', 'totp', 'b', \
             'sha1', 6, 30, {}, '{T0}', '{T0}', NULL)",
            raw.bytes(2)
        );
        match &mut raw {
            Raw::Sqlite(c) => {
                assert_eq!(
                    diesel::sql_query(dangling).get_result::<N>(c).unwrap().n,
                    0,
                    "no reference dangles"
                );
                let sql: Vec<Line> =
                    diesel::sql_query("SELECT name AS a, type AS b, sql AS c FROM sqlite_master WHERE name = 'apps'")
                        .load(c)
                        .unwrap();
                assert!(sql[0].c.ends_with("WITHOUT ROWID"), "{}", sql[0].c);
                c.batch_execute("PRAGMA foreign_keys = ON").unwrap();
                assert!(c.batch_execute(&orphan).is_err(), "the reference to apps is enforced");
            }
            Raw::Pg(c) => assert!(c.batch_execute(&orphan).is_err(), "the reference to apps is enforced"),
        }
    });
}
