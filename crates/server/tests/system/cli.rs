//! The command line on a fresh database, before `serve` ever ran (issue #12): `check-config`
//! reports the pending migrations without applying them; the token commands apply them first,
//! as `serve` does, and several of them started together on a fresh database all succeed; a
//! token minted that way is then accepted by `serve`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{APPS, Cli, PgDb, ServeOpts, Server, have_sqlite3, new_master_key, psql, run_with_deadline};

/// The versions embedded in the binary for `backend` (`sqlite` or `postgres`), oldest first:
/// the migration folder names without their dashes, up to the `_`, as diesel stamps them.
fn embedded_versions(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            let name = e.expect("dir entry").file_name().into_string().expect("UTF-8 name");
            let stamp = name.split('_').next().expect("a version stamp").replace('-', "");
            assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "odd migration folder {name}");
            stamp
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no migrations under {}", dir.display());
    v
}

/// The tables of the database, or `None` (after a loud SKIPPED) when the SQLite CLI needed to
/// look is not installed.
type Tables<'a> = &'a dyn Fn() -> Option<Vec<String>>;

fn sqlite_tables(path: &Path) -> Option<Vec<String>> {
    if !have_sqlite3() {
        eprintln!(
            "\n*** SKIPPED ASSERTION: sqlite3 CLI not installed; the tables of {} not listed ***\n",
            path.display()
        );
        return None;
    }
    let mut cmd = Command::new("sqlite3");
    cmd.arg(path)
        .arg("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;")
        .stdin(Stdio::null());
    let out = run_with_deadline(cmd, Duration::from_secs(30), "sqlite3 tables");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn pg_tables(url: &str) -> Option<Vec<String>> {
    let out = psql(
        url,
        "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .unwrap_or_else(|e| panic!("list tables: {e}"));
    Some(out.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `authd check-config`: exit 0; its `migrations:` and `status:` values.
fn check_config(cli: &Cli) -> (String, String) {
    let out = cli.ok(&["check-config"]);
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no `{key}` line in check-config's output:\n{out}"))
            .to_owned()
    };
    assert!(
        out.trim_end().lines().last().is_some_and(|l| l.starts_with("status: ")),
        "status is the last line:\n{out}"
    );
    (value("migrations: "), value("status: "))
}

/// The whole story of issue #12 on one fresh database.
fn provision_before_first_start(cli: &Cli, backend: &str, tables: Tables<'_>, dir: &Path) {
    let versions = embedded_versions(backend);
    let pending = format!(
        "{} pending ({}); run `authd migrate` or start `authd serve`",
        versions.len(),
        versions.join(", ")
    );

    // check-config reports, and changes nothing (twice the same answer, still no table).
    for _ in 0..2 {
        assert_eq!(check_config(cli), (pending.clone(), "migrations pending".to_owned()));
    }
    if let Some(t) = tables() {
        assert_eq!(t, Vec::<String>::new(), "check-config created tables");
    }

    // token create migrates first: stdout is the token line and nothing else; the log (stderr)
    // names the versions applied.
    let out = cli.run(&["token", "create", "--org", "acme", "--name", "provisioned"]);
    assert!(
        out.status.success(),
        "token create on a fresh database failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("authd_st_") && stdout == format!("{}\n", lines[0]),
        "token create must print exactly one line, the token: {stdout:?}"
    );
    let token = lines[0].to_owned();
    let log = text(&out.stderr);
    assert!(
        log.contains("applied migrations") && versions.iter().all(|v| log.contains(v.as_str())),
        "the log names the migrations applied: {log}"
    );
    if let Some(t) = tables() {
        assert!(
            t.iter().any(|n| n == "service_tokens"),
            "migrated by token create: {t:?}"
        );
    }

    let list = cli.token_list_json();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["org"], Value::from("acme"));
    assert_eq!(list[0]["name"], Value::from("provisioned"));
    assert!(list[0]["revoked_at"].is_null());

    assert_eq!(check_config(cli), ("up to date".to_owned(), "ok".to_owned()));

    // The service started afterwards accepts the token.
    let server = Server::start(&ServeOpts::new(&cli.db_url, &cli.master_key, dir, backend));
    let apps = server.api(&token).get(APPS);
    assert_eq!(apps.status, 200, "GET {APPS}: {}", apps.text());
    let created = server.api(&token).create_app(None);
    assert!(!created.is_empty());
    assert!(
        server.log().contains("database schema is up to date"),
        "serve found nothing left to migrate: {}",
        server.log()
    );
}

/// `token list` on a fresh database migrates first and lists nothing.
fn list_migrates_first(cli: &Cli) {
    let out = cli.run(&["token", "list", "--json"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "token list on a fresh database failed: {err}");
    assert_eq!(text(&out.stdout), "[]\n");
    assert!(err.contains("applied migrations"), "list migrated first: {err}");
    assert_eq!(check_config(cli), ("up to date".to_owned(), "ok".to_owned()));
}

/// `token revoke` on a fresh database migrates first: an unknown id is then a plain "not
/// found" (exit 1), not a missing table.
fn revoke_migrates_first(cli: &Cli) {
    let out = cli.run(&["token", "revoke", "0190a5b4-7c3e-7def-8abc-0123456789ab"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "revoke of an unknown id: {err}");
    assert!(
        !err.contains("no such table") && !err.contains("does not exist") && !err.contains("internal error"),
        "revoke on a fresh database: {err}"
    );
    assert!(err.contains("applied migrations"), "revoke migrated first: {err}");
    assert_eq!(check_config(cli), ("up to date".to_owned(), "ok".to_owned()));
}

/// `n` token commands started together on one fresh database: they take turns migrating, and
/// every one succeeds.
fn concurrent_token_creates(cli: &Cli, n: usize) {
    let handles: Vec<std::thread::JoinHandle<Output>> = (0..n)
        .map(|i| {
            let cli = cli.clone();
            std::thread::spawn(move || cli.run(&["token", "create", "--org", &format!("org_{i}")]))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.join().expect("thread");
        assert!(
            out.status.success(),
            "concurrent token create #{i} failed ({}): {}",
            out.status,
            text(&out.stderr)
        );
        assert!(text(&out.stdout).starts_with("authd_st_"));
    }
    assert_eq!(cli.token_list_json().len(), n);
    assert_eq!(check_config(cli), ("up to date".to_owned(), "ok".to_owned()));
}

/// A CLI on `dir/authd.sqlite` (not created yet), working in `dir` (created).
fn sqlite_cli(dir: &Path) -> Cli {
    std::fs::create_dir_all(dir).expect("create the test folder");
    Cli {
        db_url: format!("sqlite://{}", dir.join("authd.sqlite").display()),
        master_key: new_master_key(),
        cwd: dir.to_owned(),
    }
}

fn pg_cli(db: &PgDb, dir: &Path) -> Cli {
    Cli {
        db_url: db.url.clone(),
        master_key: new_master_key(),
        cwd: dir.to_owned(),
    }
}

#[test]
fn sqlite_token_commands_migrate_a_fresh_database_and_check_config_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    let file = dir.path().join("authd.sqlite");
    provision_before_first_start(&cli, "sqlite", &|| sqlite_tables(&file), dir.path());
}

#[test]
fn postgres_token_commands_migrate_a_fresh_database_and_check_config_reports() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = pg_cli(&db, dir.path());
    provision_before_first_start(&cli, "postgres", &|| pg_tables(&db.url), dir.path());
}

#[test]
fn sqlite_token_list_and_revoke_migrate_a_fresh_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    list_migrates_first(&sqlite_cli(&dir.path().join("list")));
    revoke_migrates_first(&sqlite_cli(&dir.path().join("revoke")));
}

#[test]
fn postgres_token_list_and_revoke_migrate_a_fresh_database() {
    let (Some(a), Some(b)) = (PgDb::create(), PgDb::create()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    list_migrates_first(&pg_cli(&a, dir.path()));
    revoke_migrates_first(&pg_cli(&b, dir.path()));
}

#[test]
fn sqlite_concurrent_token_creates_on_a_fresh_database_all_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    concurrent_token_creates(&sqlite_cli(dir.path()), 4);
}

#[test]
fn postgres_concurrent_token_creates_on_a_fresh_database_all_succeed() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    concurrent_token_creates(&pg_cli(&db, dir.path()), 4);
}
