//! The command line on a fresh database, before `serve` ever ran (issue #12): `check-config`
//! reports the pending migrations without applying them; the token commands apply them first,
//! as `serve` does, and several of them started together on a fresh database all succeed; a
//! token minted that way is then accepted by `serve`.
//!
//! And what a person reads (issue #19): a one-shot command logs only warnings unless `RUST_LOG`
//! asks for more; `token list` and `audit tail` print JSON when piped and a table under a header
//! with `--format table` (the default on a terminal, which tests do not have); `audit tail
//! --follow` streams its rows under one header; a reader that leaves (`| head`) ends it quietly.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    APPS, Cli, PgDb, Proc, ServeOpts, Server, authd_command, have_sqlite3, new_master_key, psql, run_with_deadline,
};

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

/// The titles of `token list --format table`.
const LIST_TITLES: [&str; 9] = [
    "ID",
    "ORG",
    "NAME",
    "CREATED",
    "EXPIRES",
    "LAST_USED",
    "REVOKED",
    "SCOPES",
    "RESTRICTION",
];

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

// ---------------------------------------------------------------------------------------------
// Issue #19: what a person reads
// ---------------------------------------------------------------------------------------------

/// `authd ARGS --database-url URL` as [`Cli::run`] runs it, but with the master key from the
/// SQLite default file (`<db dir>/master.key`, created by the first run) and `RUST_LOG` when
/// given.
fn run_keyless(cli: &Cli, args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = authd_command(&cli.master_key, &cli.cwd);
    cmd.env_remove("AUTHD_MASTER_KEY")
        .args(args)
        .arg("--database-url")
        .arg(&cli.db_url);
    if let Some(l) = rust_log {
        cmd.env("RUST_LOG", l);
    }
    let out = run_with_deadline(cmd, Duration::from_secs(60), &format!("authd {}", args.join(" ")));
    assert!(
        out.status.success(),
        "authd {args:?} (RUST_LOG={rust_log:?}) failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    out
}

/// The (level, message) of each line of a command's stderr: JSON log lines, as `authd_command`
/// asks for, and nothing else.
fn log_lines(stderr: &[u8]) -> Vec<(String, String)> {
    text(stderr)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a stderr line that is not a JSON log line ({e}): {l:?}"));
            let field = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("a log line without `{k}`: {l}"))
                    .to_owned()
            };
            (field("level"), field("message"))
        })
        .collect()
}

#[test]
fn sqlite_one_shot_commands_log_only_warnings_unless_rust_log_asks_for_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());

    // The first command creates the key file and the schema: both are warnings, and show; the
    // pool and the rest at info do not.
    let first = run_keyless(&cli, &["token", "create", "--org", "acme", "--name", "ci"], None);
    let logs = log_lines(&first.stderr);
    assert!(
        logs.iter().all(|(level, _)| level == "WARN"),
        "warnings only by default: {logs:?}"
    );
    for want in ["created a new master key file", "applied migrations"] {
        assert!(
            logs.iter().any(|(_, m)| m.starts_with(want)),
            "the warning `{want}` shows by default: {logs:?}"
        );
    }
    assert!(text(&first.stdout).starts_with("authd_st_"));
    // However verbose the log, a new token is on stdout only.
    let traced = run_keyless(&cli, &["token", "create", "--org", "acme"], Some("trace"));
    let token = text(&traced.stdout);
    let token = token.trim_end();
    assert!(token.starts_with("authd_st_"), "{token:?}");
    let secret = token.trim_start_matches("authd_st_");
    let log = text(&traced.stderr);
    assert!(
        log.contains("created service token") && !log.contains(secret),
        "RUST_LOG=trace logs the creation, never the token: {log}"
    );

    for args in [
        &["token", "list"][..],
        &["token", "list", "--json"],
        &["audit", "tail", "--org", "acme"],
        &["audit", "tail", "--org", "acme", "--format", "table"],
        &["audit", "purge", "--older-than-days", "1"],
        &["check-config"],
        &["migrate"],
    ] {
        // Nothing to warn about: stderr stays empty.
        let quiet = run_keyless(&cli, args, None);
        assert_eq!(
            log_lines(&quiet.stderr),
            Vec::<(String, String)>::new(),
            "authd {args:?} logs nothing below warn by default"
        );
        // RUST_LOG still asks for more, and gets it.
        let loud = run_keyless(&cli, args, Some("info"));
        let logs = log_lines(&loud.stderr);
        for want in ["database pool ready", "database schema is up to date"] {
            if want.contains("schema") && args == ["check-config"] {
                continue; // read-only: it does not migrate
            }
            assert!(
                logs.iter().any(|(level, m)| level == "INFO" && m == want),
                "authd {args:?} with RUST_LOG=info logs `{want}` at INFO: {logs:?}"
            );
        }
        // Logs never land in the results.
        assert_eq!(
            text(&loud.stdout),
            text(&quiet.stdout),
            "authd {args:?}: the same stdout"
        );
    }
}

/// The start of each column in a table's header line (each title begins a column).
fn column_starts(header: &str) -> Vec<usize> {
    let b = header.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] != b' ' && (i == 0 || b[i - 1] == b' '))
        .collect()
}

/// A table: its header's titles, and each row cut into cells at the header's columns (a cell
/// ends where the next column begins). Asserts that every row lines up under the header: a
/// (left-aligned) cell begins exactly where its title does, after a blank.
fn parse_table(out: &str, right_aligned: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_else(|| panic!("no header line: {out:?}"));
    let starts = column_starts(header);
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    assert_eq!(starts.len(), titles.len(), "{header:?}");
    let rows = lines
        .map(|row| {
            let cells: Vec<String> = starts
                .iter()
                .enumerate()
                .map(|(k, &at)| {
                    let end = starts.get(k + 1).map_or(row.len(), |&next| next.min(row.len()));
                    let cell = row.get(at.min(row.len())..end).unwrap_or_else(|| panic!("{row:?}"));
                    if !right_aligned.contains(&titles[k].as_str()) {
                        assert!(
                            !cell.starts_with(' ') && (at == 0 || row.as_bytes().get(at - 1) == Some(&b' ')),
                            "column {} does not line up with its title in\n{header}\n{row}",
                            titles[k]
                        );
                    }
                    cell.trim().to_owned()
                })
                .collect();
            cells
        })
        .collect();
    (titles, rows)
}

#[test]
fn sqlite_token_list_and_audit_tail_print_json_when_piped_and_a_table_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    let named = cli.token_create("acme", Some("ci deploy"));
    let unnamed = cli.token_create("acme", None);
    let other = cli.token_create("org_other", Some("elsewhere"));
    let tokens = cli.token_list_json();
    let id_of = |name: Option<&str>| -> String {
        tokens
            .iter()
            .find(|t| t["org"] == "acme" && t["name"].as_str() == name)
            .and_then(|t| t["id"].as_str())
            .unwrap_or_else(|| panic!("token {name:?} in {tokens:?}"))
            .to_owned()
    };
    let (named_id, unnamed_id) = (id_of(Some("ci deploy")), id_of(None));
    cli.ok(&["token", "revoke", &named_id]);
    let secrets = [named, unnamed, other];

    // token list, piped: the JSON array of --json.
    let piped = cli.ok(&["token", "list"]);
    assert_eq!(
        piped,
        cli.ok(&["token", "list", "--json"]),
        "token list piped prints JSON"
    );
    assert_eq!(piped, cli.ok(&["token", "list", "--format", "json"]));
    // token list --format table.
    let table = cli.ok(&["token", "list", "--org", "acme", "--format", "table"]);
    let (titles, rows) = parse_table(&table, &[]);
    assert_eq!(titles, LIST_TITLES, "{table}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    ids.sort_unstable();
    let mut want = vec![named_id.as_str(), unnamed_id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "one row per token of acme:\n{table}");
    for r in &rows {
        assert_eq!(r[1], "acme");
        let (name, revoked) = if r[0] == named_id {
            ("ci deploy", true)
        } else {
            ("-", false)
        };
        assert_eq!(r[2], name, "{table}");
        assert!(r[3].len() == 20 && r[3].ends_with('Z'), "CREATED to the second: {r:?}");
        assert_eq!(r[4], "-", "no lifetime: {r:?}");
        assert_eq!(r[5], "-", "never used: {r:?}");
        assert_eq!(r[6] != "-", revoked, "REVOKED: {r:?}");
        assert_eq!(r[7..], ["admin", "-"], "no --scope: admin, not confined: {r:?}");
    }

    // audit tail, piped (and with --json, --format json): today's JSON lines.
    let piped = cli.ok(&["audit", "tail", "--org", "acme"]);
    assert_eq!(piped, cli.ok(&["audit", "tail", "--org", "acme", "--json"]));
    assert_eq!(piped, cli.ok(&["audit", "tail", "--org", "acme", "--format", "json"]));
    let events: Vec<Value> = piped
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        k.sort();
        k
    };
    for e in &events {
        assert_eq!(
            keys(e),
            [
                "action",
                "actor",
                "at",
                "details",
                "id",
                "org",
                "request_id",
                "resource",
                "seq"
            ],
            "{e}"
        );
        assert_eq!(e["org"], "acme");
        assert_eq!(e["actor"], serde_json::json!({"kind": "cli", "id": null}));
    }
    let summary: Vec<(u64, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap_or_default(),
                e["action"].as_str().unwrap_or_default(),
                e["resource"]["id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "token.create", named_id.as_str()),
            (2, "token.create", unnamed_id.as_str()),
            (3, "token.revoke", named_id.as_str())
        ],
        "{piped}"
    );

    // audit tail --format table: a header, then one row per event, lined up.
    let table = cli.ok(&["audit", "tail", "--org", "acme", "--format", "table"]);
    let (titles, rows) = parse_table(&table, &["SEQ"]);
    assert_eq!(
        titles,
        ["SEQ", "AT", "ACTOR", "ACTION", "RESOURCE", "RESOURCE_ID", "DETAILS"],
        "{table}"
    );
    assert_eq!(rows.len(), events.len(), "one row per event:\n{table}");
    for (row, e) in rows.iter().zip(&events) {
        let at = e["at"].as_str().unwrap_or_default();
        let want = [
            e["seq"].to_string(),
            format!("{}Z", &at[..19]),
            "cli".to_owned(),
            e["action"].as_str().unwrap_or_default().to_owned(),
            "service_token".to_owned(),
            e["resource"]["id"].as_str().unwrap_or_default().to_owned(),
        ];
        assert_eq!(row[..6], want, "row of event {e}:\n{table}");
    }
    // The details of a mint are cut in the table (48 characters); the JSON lines have them all.
    let details: Vec<&str> = rows.iter().map(|r| r[6].as_str()).collect();
    assert!(
        details[0].starts_with(r#"name="ci deploy" scopes=admin identities=null"#)
            && details[1].starts_with("name=null scopes=admin identities=null")
            && details[2] == "-",
        "DETAILS:\n{table}"
    );
    assert_eq!(
        events[0]["details"],
        serde_json::json!({"name": "ci deploy", "scopes": "admin", "identities": null, "apps": null, "expires_at": null}),
        "{piped}"
    );
    // The JSON form only with --format json: nothing JSON-like in the table.
    assert!(!table.contains('{'), "{table}");
    assert_eq!(
        cli.ok(&["audit", "tail", "--org", "acme", "--format", "table", "--after", "3"])
            .lines()
            .count(),
        1,
        "nothing after seq 3: the header alone"
    );

    // No token in any of it.
    for out in [&piped, &table, &cli.ok(&["token", "list", "--format", "table"])] {
        for t in &secrets {
            assert!(!out.contains(t.as_str()), "a token was printed:\n{out}");
        }
        assert!(!out.contains("authd_st_"), "{out}");
    }

    // --json and --format together are refused (exit 2).
    let both = cli.run(&["audit", "tail", "--org", "acme", "--json", "--format", "table"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
}

#[test]
fn sqlite_token_create_expires_in_is_listed_and_a_bad_lifetime_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    let out = cli.run(&[
        "token",
        "create",
        "--org",
        "acme",
        "--name",
        "short",
        "--expires-in",
        "30d",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    cli.token_create("acme", Some("forever"));
    let tokens = cli.token_list_json();
    let expires = |name: &str| -> Value {
        tokens
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["expires_at"].clone())
            .unwrap_or_else(|| panic!("token {name:?} in {tokens:?}"))
    };
    assert_eq!(expires("forever"), Value::Null);
    let short = tokens.iter().find(|t| t["name"] == "short").expect("short");
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let lifetime = parse(&short["expires_at"]) - parse(&short["created_at"]);
    assert_eq!(lifetime, time::Duration::days(30), "{short}");

    let table = cli.ok(&["token", "list", "--format", "table"]);
    let (titles, rows) = parse_table(&table, &[]);
    let col = titles.iter().position(|t| t == "EXPIRES").expect("EXPIRES column");
    let cells: Vec<(&str, &str)> = rows.iter().map(|r| (r[2].as_str(), r[col].as_str())).collect();
    for (name, cell) in cells {
        if name == "short" {
            assert!(
                cell.len() == 20 && cell.ends_with('Z'),
                "EXPIRES to the second: {table}"
            );
        } else {
            assert_eq!(cell, "-", "{table}");
        }
    }

    for bad in ["30", "30w", "0d", "59s", "3651d", "-1h", ""] {
        let out = cli.run(&["token", "create", "--org", "acme", "--expires-in", bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--expires-in {bad:?}: {err}");
        assert!(err.contains("--expires-in"), "--expires-in {bad:?} not named: {err}");
        assert!(out.stdout.is_empty(), "no token printed for {bad:?}");
    }
    assert_eq!(
        cli.token_list_json().len(),
        2,
        "no token created by a refused --expires-in"
    );
}

/// `audit tail --follow` with its stdout on a pipe: lines as they come, with a deadline.
fn follow(cli: &Cli, extra: &[&str]) -> (Proc, mpsc::Receiver<String>) {
    let mut cmd = authd_command(&cli.master_key, &cli.cwd);
    cmd.args(["audit", "tail", "--org", "acme", "--follow"])
        .args(extra)
        .arg("--database-url")
        .arg(&cli.db_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn authd audit tail --follow");
    let out = child.stdout.take().expect("stdout");
    let proc = Proc::new(child, "authd audit tail --follow");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (proc, rx)
}

fn next_line(rx: &mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("audit tail --follow: no {what} within 30 s ({e})"))
}

#[test]
fn sqlite_audit_tail_follow_streams_rows_under_one_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    cli.token_create("acme", Some("first"));

    for format in ["table", "json"] {
        // Start at the last event already there.
        let seen = cli.ok(&["audit", "tail", "--org", "acme"]).lines().count();
        let after = (seen - 1).to_string();
        let (proc, rx) = follow(&cli, &["--format", format, "--after", &after]);
        let mut lines = Vec::new();
        if format == "table" {
            let header = next_line(&rx, "header");
            assert!(header.trim_start().starts_with("SEQ  AT"), "{header:?}");
        }
        lines.push(next_line(&rx, "the last event"));
        // An event made while it runs shows up (it polls every second), and nothing else.
        let name = format!("later-{format}");
        cli.token_create("acme", Some(&name));
        let later = next_line(&rx, "the event made while following");
        assert!(later.contains(&name), "{format}: the new event, got {later:?}");
        lines.push(later);
        std::thread::sleep(Duration::from_millis(1500));
        let rest: Vec<String> = rx.try_iter().collect();
        assert!(rest.is_empty(), "{format}: no second header, no event twice: {rest:#?}");
        drop(proc);
        for (l, seq) in lines.iter().zip([seen, seen + 1]) {
            if format == "json" {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"));
                assert_eq!(
                    (v["seq"].as_u64(), v["action"].as_str()),
                    (Some(seq as u64), Some("token.create")),
                    "{l}"
                );
            } else {
                let cells: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(cells.first(), Some(&seq.to_string().as_str()), "a row: {l:?}");
                assert_eq!(cells.get(3), Some(&"token.create"), "a row: {l:?}");
            }
        }
    }
}

/// Runs `authd ARGS` with its stdout on a pipe whose reader is gone before the first line is
/// written (`authd ... | head -0`): its exit status and stderr.
fn run_into_a_closed_pipe(cli: &Cli, args: &[&str], log: &Path) -> (std::process::ExitStatus, String) {
    let mut cmd = authd_command(&cli.master_key, &cli.cwd);
    cmd.args(args)
        .arg("--database-url")
        .arg(&cli.db_url)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"));
    let mut child = cmd.spawn().expect("spawn authd");
    drop(child.stdout.take());
    let mut proc = Proc::new(child, format!("authd {}", args.join(" ")));
    let status = proc
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("authd {args:?} did not end within 60 s"));
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

#[test]
fn sqlite_a_closed_stdout_ends_audit_tail_quietly_and_fails_token_create_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    cli.token_create("acme", None);
    let log = dir.path().join("stderr.log");

    // A reader that left has all it wanted: exit 0, nothing to say.
    for args in [&["audit", "tail", "--org", "acme"][..], &["token", "list"]] {
        let (status, err) = run_into_a_closed_pipe(&cli, args, &log);
        assert!(
            status.success(),
            "authd {args:?}: a reader that left is not a failure ({status}): {err}"
        );
        assert_eq!(err, "", "authd {args:?}: and nothing to say about it");
    }

    // But a token nobody could read is lost: exit 1, its id (never the token) to revoke it.
    let (status, err) = run_into_a_closed_pipe(&cli, &["token", "create", "--org", "acme"], &log);
    assert_eq!(status.code(), Some(1), "token create into a closed pipe: {err}");
    let tokens = cli.token_list_json();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(err.contains("was created but could not be printed"), "{err}");
    assert!(
        tokens
            .iter()
            .filter_map(|t| t["id"].as_str())
            .any(|id| err.contains(&format!("revoke it with `authd token revoke {id}`"))),
        "the lost token's id, to revoke it: {err}"
    );
    assert!(!err.contains("authd_st_"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Scoped tokens and the organization's maximum token lifetime
// ---------------------------------------------------------------------------------------------

/// Runs `authd ARGS`, which must fail with `code` and print nothing on stdout: its stderr.
fn refused(cli: &Cli, args: &[&str], code: i32) -> String {
    let out = cli.run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "authd {args:?}: {err}");
    assert!(out.stdout.is_empty(), "authd {args:?} printed {:?}", text(&out.stdout));
    err
}

/// `authd token create ARGS`: the token, the only line on stdout.
fn token_create_with(cli: &Cli, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = cli.ok(&all);
    let token = out.trim_end_matches('\n');
    assert!(
        token.starts_with("authd_st_") && !token.contains(char::is_whitespace) && out == format!("{token}\n"),
        "token create must print only the token on one line, got {out:?}"
    );
    token.to_owned()
}

/// The token of `token list --json` named `name`.
fn listed<'a>(tokens: &'a [Value], name: &str) -> &'a Value {
    tokens
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("token {name:?} in {tokens:#?}"))
}

/// `--scope`, `--identity` and `--app` on one database: minted (the identity created through
/// the HTTP API with an admin token), listed in JSON and in the table, honoured by `serve`;
/// refused values are value errors (exit 2) naming the valid scopes; a handle or an app that
/// does not exist is a one-line error (exit 1). No refused command mints a token.
fn scoped_tokens(cli: &Cli, backend: &str, dir: &Path) {
    let admin = cli.token_create("acme", Some("admin"));
    let server = Server::start(&ServeOpts::new(&cli.db_url, &cli.master_key, dir, backend));
    let api = server.api(&admin);
    api.create_identity("bot");
    let bot_app = api.create_app(Some("bot"));
    let other_app = api.create_app(None);
    let loose_app = api.create_app(None);

    let scoped = token_create_with(
        cli,
        &[
            "--org",
            "acme",
            "--name",
            "bot reader",
            "--scope",
            "apps:read",
            "--scope",
            "otp:generate",
            "--identity",
            "bot",
        ],
    );
    token_create_with(
        cli,
        &[
            "--org",
            "acme",
            "--name",
            "sales",
            "--scope",
            "identities:read,apps:read",
            "--identity",
            "sales-*",
            "--app",
            &loose_app,
        ],
    );
    token_create_with(
        cli,
        &[
            "--org",
            "acme",
            "--name",
            "one app",
            "--scope",
            "apps:read",
            "--app",
            &loose_app,
        ],
    );

    // token list --json: the scopes and the restriction beside the other fields.
    let tokens = cli.token_list_json();
    assert_eq!(tokens.len(), 4, "{tokens:#?}");
    for t in &tokens {
        let mut keys: Vec<&str> = t
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "apps",
                "created_at",
                "expires_at",
                "id",
                "identities",
                "last_used_at",
                "name",
                "org",
                "revoked_at",
                "scopes"
            ],
            "{t}"
        );
    }
    let access = |name: &str| {
        let t = listed(&tokens, name);
        (t["scopes"].clone(), t["identities"].clone(), t["apps"].clone())
    };
    assert_eq!(
        access("admin"),
        (serde_json::json!(["admin"]), Value::Null, Value::Null)
    );
    assert_eq!(
        access("bot reader"),
        (
            serde_json::json!(["apps:read", "otp:generate"]),
            serde_json::json!(["bot"]),
            Value::Null
        )
    );
    assert_eq!(
        access("sales"),
        (
            serde_json::json!(["apps:read", "identities:read"]),
            serde_json::json!(["sales-*"]),
            serde_json::json!([loose_app])
        )
    );
    assert_eq!(
        access("one app"),
        (
            serde_json::json!(["apps:read"]),
            Value::Null,
            serde_json::json!([loose_app])
        )
    );

    // token list --format table: SCOPES and RESTRICTION columns.
    let table = cli.ok(&["token", "list", "--format", "table"]);
    let (titles, rows) = parse_table(&table, &[]);
    assert_eq!(titles, LIST_TITLES, "{table}");
    let mut cells: Vec<[&str; 3]> = rows
        .iter()
        .map(|r| [r[2].as_str(), r[7].as_str(), r[8].as_str()])
        .collect();
    cells.sort_unstable();
    let loose = format!("app:{loose_app}");
    let sales = format!("sales-* app:{loose_app}");
    assert_eq!(
        cells,
        [
            ["admin", "admin", "-"],
            ["bot reader", "apps:read,otp:generate", "bot"],
            ["one app", "apps:read", loose.as_str()],
            ["sales", "apps:read,identities:read", sales.as_str()],
        ],
        "{table}"
    );

    // serve honours what the command line minted.
    let bot = server.api(&scoped);
    let me = bot.get("/api/v1/tokens/self").expect(200, "GET /tokens/self");
    assert_eq!(me["scopes"], serde_json::json!(["apps:read", "otp:generate"]), "{me}");
    assert_eq!(me["identities"], serde_json::json!(["bot"]), "{me}");
    let apps = bot.get(APPS).expect(200, "the confined token lists apps");
    let ids: Vec<&str> = apps
        .as_array()
        .unwrap_or_else(|| panic!("GET {APPS} is an array: {apps}"))
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, [bot_app.as_str()], "only the app of bot: {apps}");
    assert_eq!(
        bot.get(&format!("{APPS}/{other_app}")).status,
        404,
        "outside: as if missing"
    );
    let write = bot.post(APPS, &serde_json::json!({}));
    assert_eq!(write.status, 403, "no apps:write: {}", write.text());

    // Refused values: clap value errors, exit 2, naming the flag (and, for a scope, every
    // valid scope).
    let err = refused(
        cli,
        &["token", "create", "--org", "acme", "--scope", "apps:read,nope"],
        2,
    );
    assert!(err.contains("--scope") && err.contains("nope"), "{err}");
    for scope in [
        "apps:read",
        "apps:write",
        "identities:read",
        "identities:write",
        "otp:generate",
        "otp:verify",
        "instances:read",
        "instances:write",
        "audit:read",
        "tokens:write",
        "admin",
    ] {
        assert!(err.contains(scope), "the valid scope {scope} is not listed: {err}");
    }
    for (flag, bad) in [
        ("--scope", ""),
        ("--identity", "a*b"),
        ("--identity", "two words"),
        ("--app", "not-a-uuid"),
    ] {
        let err = refused(cli, &["token", "create", "--org", "acme", flag, bad], 2);
        assert!(err.contains(flag), "{flag} {bad:?} not named: {err}");
    }
    // A handle or an app that does not exist: one line, exit 1.
    let err = refused(cli, &["token", "create", "--org", "acme", "--identity", "nobody"], 1);
    assert!(
        err.contains("--identity") && err.contains("nobody") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    let missing = "0190a5b4-7c3e-7def-8abc-0123456789ab";
    let err = refused(cli, &["token", "create", "--org", "acme", "--app", missing], 1);
    assert!(
        err.contains("--app") && err.contains(missing) && err.trim_end().lines().count() == 1,
        "{err}"
    );
    // bot's app is not an app of another organization.
    let err = refused(cli, &["token", "create", "--org", "org_other", "--app", &bot_app], 1);
    assert!(err.contains(&bot_app), "{err}");
    assert_eq!(cli.token_list_json().len(), 4, "no token minted by a refused command");
}

#[test]
fn sqlite_token_create_scopes_and_restriction_are_listed_and_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = sqlite_cli(dir.path());
    scoped_tokens(&cli, "sqlite", dir.path());
}

#[test]
fn postgres_token_create_scopes_and_restriction_are_listed_and_honoured() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    scoped_tokens(&pg_cli(&db, dir.path()), "postgres", dir.path());
}

/// An RFC 3339 timestamp of `token list --json`.
fn timestamp(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// `expires_at - created_at` of the token named `name` (`None`: it never expires).
fn lifetime_of(cli: &Cli, name: &str) -> Option<time::Duration> {
    let tokens = cli.token_list_json();
    let t = listed(&tokens, name);
    (!t["expires_at"].is_null()).then(|| timestamp(&t["expires_at"]) - timestamp(&t["created_at"]))
}

/// `org set --max-token-lifetime` and `org show`: a token minted without `--expires-in` lives
/// that long, a longer `--expires-in` is refused, other organizations are untouched, the change
/// is audited, `none` lifts it.
fn org_max_token_lifetime(cli: &Cli) {
    let show = |org: &str| -> Value {
        let out = cli.ok(&["org", "show", "--org", org]);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("org show prints JSON when piped ({e}): {out:?}"))
    };
    assert_eq!(
        show("acme"),
        serde_json::json!({"org": "acme", "max_token_lifetime_seconds": null})
    );
    assert_eq!(
        cli.ok(&["org", "set", "--org", "acme", "--max-token-lifetime", "1h"]),
        ""
    );
    assert_eq!(
        show("acme"),
        serde_json::json!({"org": "acme", "max_token_lifetime_seconds": 3600})
    );
    assert_eq!(
        show("acme"),
        serde_json::from_str::<Value>(cli.ok(&["org", "show", "--org", "acme", "--json"]).trim()).expect("JSON")
    );
    assert_eq!(show("org_other")["max_token_lifetime_seconds"], Value::Null);
    let table = cli.ok(&["org", "show", "--org", "acme", "--format", "table"]);
    let (titles, rows) = parse_table(&table, &[]);
    assert_eq!(titles, ["ORG", "MAX_TOKEN_LIFETIME"], "{table}");
    assert_eq!(rows, [["acme", "1h"]], "{table}");

    // Without --expires-in: an hour from now.
    let before = time::OffsetDateTime::now_utc();
    cli.token_create("acme", Some("capped"));
    let after = time::OffsetDateTime::now_utc();
    assert_eq!(lifetime_of(cli, "capped"), Some(time::Duration::hours(1)));
    let tokens = cli.token_list_json();
    let expires = timestamp(&listed(&tokens, "capped")["expires_at"]);
    let slack = time::Duration::seconds(1);
    assert!(
        before + time::Duration::hours(1) - slack <= expires && expires <= after + time::Duration::hours(1) + slack,
        "expires_at about an hour out: {expires} (minted between {before} and {after})"
    );
    // Longer: refused, in one line naming the flag and the maximum.
    let err = refused(
        cli,
        &[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "too long",
            "--expires-in",
            "2h",
        ],
        1,
    );
    assert!(
        err.contains("--expires-in 2h") && err.contains("maximum token lifetime") && err.contains("1h"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // Shorter, or as long: as asked.
    token_create_with(cli, &["--org", "acme", "--name", "half", "--expires-in", "30m"]);
    assert_eq!(lifetime_of(cli, "half"), Some(time::Duration::minutes(30)));
    token_create_with(cli, &["--org", "acme", "--name", "full", "--expires-in", "60m"]);
    assert_eq!(lifetime_of(cli, "full"), Some(time::Duration::hours(1)));
    // Another organization has no maximum.
    token_create_with(cli, &["--org", "org_other", "--name", "other", "--expires-in", "2h"]);
    assert_eq!(lifetime_of(cli, "other"), Some(time::Duration::hours(2)));
    cli.token_create("org_other", Some("other forever"));
    assert_eq!(lifetime_of(cli, "other forever"), None);

    // `none` lifts it.
    assert_eq!(
        cli.ok(&["org", "set", "--org", "acme", "--max-token-lifetime", "none"]),
        ""
    );
    assert_eq!(show("acme")["max_token_lifetime_seconds"], Value::Null);
    token_create_with(cli, &["--org", "acme", "--name", "long", "--expires-in", "2h"]);
    assert_eq!(lifetime_of(cli, "long"), Some(time::Duration::hours(2)));
    cli.token_create("acme", Some("forever"));
    assert_eq!(lifetime_of(cli, "forever"), None);

    // Both changes are in acme's trail, by the command line.
    let updates: Vec<Value> = cli
        .ok(&["audit", "tail", "--org", "acme"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .filter(|e| e["action"] == "org.update")
        .collect();
    let seen: Vec<(Value, Value)> = updates
        .iter()
        .map(|e| {
            (
                e["actor"]["kind"].clone(),
                e["details"]["max_token_lifetime_seconds"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Value::from("cli"), Value::from(3600)),
            (Value::from("cli"), Value::Null)
        ],
        "{updates:#?}"
    );

    // Bad values: value errors naming the flag; nothing changes.
    for bad in ["1w", "", "0d", "None", "3651d"] {
        let err = refused(cli, &["org", "set", "--org", "acme", "--max-token-lifetime", bad], 2);
        assert!(err.contains("--max-token-lifetime"), "{bad:?}: {err}");
    }
    refused(cli, &["org", "set", "--org", "acme"], 2);
    assert_eq!(show("acme")["max_token_lifetime_seconds"], Value::Null);
    assert_eq!(cli.token_list_json().len(), 7, "no token minted by a refused command");
}

#[test]
fn sqlite_org_max_token_lifetime_bounds_new_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    org_max_token_lifetime(&sqlite_cli(dir.path()));
}

#[test]
fn postgres_org_max_token_lifetime_bounds_new_tokens() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    org_max_token_lifetime(&pg_cli(&db, dir.path()));
}

/// A one-shot command on PostgreSQL exits cleanly, every time: nothing of the pool is still
/// connecting when the process exits (a background reconnect racing libpq's and OpenSSL's exit
/// handlers crashed about one command in seven, `SIGSEGV` after the output was printed).
#[test]
fn postgres_one_shot_commands_exit_cleanly() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = pg_cli(&db, dir.path());
    for round in 0..40 {
        let out = cli.run(&["org", "show", "--org", "acme"]);
        assert!(
            out.status.success(),
            "round {round}: `authd org show` ended with {} (stderr: {})",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
