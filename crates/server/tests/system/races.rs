//! Concurrency scenarios (issue #12): every mutation of the real `authd` binary must be
//! race-free, on PostgreSQL with two replicas sharing one database and master key (thread `i`
//! talks to replica `i % 2`) and on one SQLite server.
//!
//! Each scenario runs a number of rounds. A round creates fresh records (unique handles), then
//! starts N threads that wait on one [`Barrier`] and each send one request; the statuses and
//! bodies are checked against the contract (docs/HTTP-API.md, docs/PRODUCT.md), then the state is read
//! back through the API, the device API and the database itself. Violations are counted per
//! scenario across all rounds (a round does not stop at the first one); after every scenario the
//! global invariants of the data are checked straight in the database. One summary line per
//! scenario is printed (`--nocapture`), and the test fails at the end when any scenario has a
//! violation or a 5xx, listing examples.
//!
//! `AUTHD_RACES_ROUNDS` overrides the number of rounds per scenario (default 20).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::replicas::{Pair, start_pair};
use crate::support::{
    APPS, Api, Cli, HttpError, PgDb, Req, Resp, Server, SqliteServer, have_sqlite3, psql, random_suffix, skip_or_fail,
    sqlite3, str_field,
};

/// Rounds per scenario, unless `AUTHD_RACES_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 20;
/// A scenario stops starting new rounds after this long (the rounds done are reported).
const SCENARIO_BUDGET: Duration = Duration::from_secs(30);
/// Threads of the "many at once" scenarios.
const MANY: usize = 8;
/// Creations of each kind racing one delete.
const CHILDREN: usize = 4;
/// Timeout of every request.
const REQ_TIMEOUT: Duration = Duration::from_secs(15);
/// Examples kept per kind of violation.
const EXAMPLES: usize = 2;

const IDENTITIES: &str = "/api/v1/identities";
const DEVICE_ACCOUNTS: &str = "/api/v1/device/accounts";
const TOTP_URI: &str = "otpauth://totp/X:y?secret=JBSWY3DPEHPK3PXP";

fn rounds() -> usize {
    std::env::var("AUTHD_RACES_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_ROUNDS)
}

fn identity_path(h: &str) -> String {
    format!("{IDENTITIES}/{h}")
}

fn link_path(h: &str) -> String {
    format!("{IDENTITIES}/{h}/authenticator_app")
}

fn one_welcome_path(h: &str) -> String {
    format!("/oauth/api/v1/users/{h}/authentication/apps")
}

fn app_path(app: &str) -> String {
    format!("{APPS}/{app}")
}

/// Links the identity `h` to `app`.
fn link_req(h: &str, app: &str) -> Req {
    Req::post(link_path(h)).json(&json!({ "authenticator_app_id": app }))
}

/// Creates an identity with the handle `h`.
fn identity_req(h: &str) -> Req {
    Req::post(format!("{IDENTITIES}/")).json(&json!({ "agent_handle": h }))
}

/// Renames the identity `h` to `new`.
fn rename_req(h: &str, new: &str) -> Req {
    Req::patch(identity_path(h)).json(&json!({ "agent_handle": new }))
}

fn enroll_req(app: &str) -> Req {
    Req::post(format!("{APPS}/{app}/instances")).json(&json!({"device_name": "d", "platform": "ANDROID"}))
}

fn account_req(app: &str) -> Req {
    Req::post(format!("{APPS}/{app}/accounts")).json(&json!({ "otpauth_uri": TOTP_URI }))
}

/// A UUID from a response, checked before it goes into SQL text.
fn sql_id(id: &str) -> &str {
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
        "not an id: {id:?}"
    );
    id
}

// ---------------------------------------------------------------------------------------------
// Outcomes and tallies
// ---------------------------------------------------------------------------------------------

/// One response (status 0: no complete response, the transport error in `body`).
#[derive(Clone, Debug)]
struct Out {
    status: u16,
    body: String,
}

impl Out {
    fn from_result(r: Result<Resp, HttpError>) -> Self {
        match r {
            Ok(r) => Self {
                status: r.status,
                body: r.text(),
            },
            Err(e) => Self {
                status: 0,
                body: format!("no response: {e:?}"),
            },
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A string field of the JSON body, or "".
    fn field(&self, key: &str) -> String {
        self.json()[key].as_str().unwrap_or_default().to_owned()
    }

    fn short(&self) -> String {
        let b: String = self.body.chars().take(160).collect();
        format!("{} {b}", self.status)
    }
}

fn statuses(outs: &[Out]) -> Vec<u16> {
    outs.iter().map(|o| o.status).collect()
}

fn sorted_statuses(outs: &[Out]) -> Vec<u16> {
    let mut s = statuses(outs);
    s.sort_unstable();
    s
}

fn count(outs: &[Out], status: u16) -> usize {
    outs.iter().filter(|o| o.status == status).count()
}

/// The string field `key` of the first outcome with `status`, or "".
fn field_of_first(outs: &[Out], status: u16, key: &str) -> String {
    outs.iter()
        .find(|o| o.status == status)
        .map(|o| o.field(key))
        .unwrap_or_default()
}

/// The results of one scenario on one backend.
struct Tally {
    name: &'static str,
    rounds: usize,
    violations: usize,
    /// Violations by kind: how many, and the first examples.
    kinds: BTreeMap<String, (usize, Vec<String>)>,
    statuses: BTreeMap<u16, usize>,
    server_errors: usize,
    server_error_examples: Vec<String>,
    started: Instant,
    cut_short: bool,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            rounds: 0,
            violations: 0,
            kinds: BTreeMap::new(),
            statuses: BTreeMap::new(),
            server_errors: 0,
            server_error_examples: Vec::new(),
            started: Instant::now(),
            cut_short: false,
        }
    }

    /// Whether round `round` should run (bounded in count and in time).
    fn more(&mut self, round: usize, total: usize) -> bool {
        if round >= total {
            return false;
        }
        if self.started.elapsed() > SCENARIO_BUDGET {
            self.cut_short = true;
            return false;
        }
        self.rounds = round + 1;
        true
    }

    /// Records the statuses of the racing requests (5xx and missing responses separately).
    fn record(&mut self, round: usize, outs: &[Out]) {
        for o in outs {
            *self.statuses.entry(o.status).or_default() += 1;
            if o.status >= 500 || o.status == 0 {
                self.server_errors += 1;
                if self.server_error_examples.len() < EXAMPLES {
                    self.server_error_examples.push(format!("round {round}: {}", o.short()));
                }
            }
        }
    }

    /// Counts a violation of kind `kind`.
    fn fail(&mut self, round: usize, kind: &str, msg: String) {
        self.fail_many(kind, 1, format!("round {round}: {msg}"));
    }

    /// Counts `n` violations of kind `kind` (e.g. `n` bad rows) with one example.
    fn fail_many(&mut self, kind: &str, n: usize, example: String) {
        self.violations += n;
        let (count, examples) = self.kinds.entry(kind.to_owned()).or_default();
        *count += n;
        if examples.len() < EXAMPLES {
            examples.push(example);
        }
    }

    /// Counts a violation of kind `kind` unless `ok`.
    fn check(&mut self, ok: bool, round: usize, kind: &str, msg: impl FnOnce() -> String) -> bool {
        if !ok {
            self.fail(round, kind, msg());
        }
        ok
    }

    /// A response of a read-back must have `want` (the kind of violation is `what`).
    fn expect(&mut self, out: &Out, want: u16, round: usize, what: &str) -> bool {
        self.expect_as(out, want, round, what, what)
    }

    /// A response must have `want`; the kind of violation is `kind`, the message names `what`.
    fn expect_as(&mut self, out: &Out, want: u16, round: usize, kind: &str, what: &str) -> bool {
        self.check(out.status == want, round, kind, || {
            format!("{what}: expected {want}, got {}", out.short())
        })
    }

    /// A read-back (`what`) must be 200 and, when it is, `holds` must be true; otherwise a
    /// violation of kind `kind`: `claim` and the response.
    fn expect_200_and(&mut self, out: &Out, round: usize, what: &str, holds: bool, kind: &str, claim: &str) -> bool {
        self.expect(out, 200, round, what) && self.check(holds, round, kind, || format!("{claim}: {}", out.short()))
    }

    /// `MANY` racing requests (`what` they are, after the count) must get one `one` and the rest
    /// `rest`.
    fn one_and_rest(&mut self, round: usize, outs: &[Out], (one, rest): (u16, u16), what: &str) -> bool {
        self.check(
            count(outs, one) == 1 && count(outs, rest) == MANY - 1,
            round,
            &format!("not one {one} and the rest {rest}"),
            || {
                format!(
                    "{MANY} {what}: one {one} and {} {rest} expected, got {:?}",
                    MANY - 1,
                    statuses(outs)
                )
            },
        )
    }

    /// `kind: count` of every kind of violation seen.
    fn kinds_summary(&self) -> String {
        let parts: Vec<String> = self.kinds.iter().map(|(k, (n, _))| format!("{k}: {n}")).collect();
        parts.join("; ")
    }

    fn clean(&self) -> bool {
        self.violations == 0 && self.server_errors == 0
    }
}

// ---------------------------------------------------------------------------------------------
// The servers under test and their database
// ---------------------------------------------------------------------------------------------

/// What the suite runs on. It owns the servers and their database, which go in this order: the
/// servers are killed before the database is dropped.
enum Backend {
    /// Two replicas on one PostgreSQL database.
    Pg(Box<Pair>),
    /// One server on SQLite, read with the `sqlite3` CLI.
    Sqlite(SqliteServer),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Pg(_) => "postgres (2 replicas)",
            Self::Sqlite(_) => "sqlite",
        }
    }

    fn servers(&self) -> Vec<&Server> {
        match self {
            Self::Pg(p) => vec![&p.a, &p.b],
            Self::Sqlite(s) => vec![&s.server],
        }
    }

    fn cli(&self) -> &Cli {
        match self {
            Self::Pg(p) => &p.cli,
            Self::Sqlite(s) => &s.cli,
        }
    }
}

/// The servers of one backend, one service token of a new organization.
struct Env {
    backend: Backend,
    /// Where the servers listen.
    addrs: Vec<SocketAddr>,
    token: String,
    run: String,
}

impl Env {
    fn new(backend: Backend) -> Self {
        let addrs = backend.servers().iter().map(|s| s.addr).collect();
        let token = backend.cli().token_create("org_races", None);
        Self {
            backend,
            addrs,
            token,
            run: random_suffix(),
        }
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i % self.addrs.len()]
    }

    /// A service-token client of server `i % n` (for the set-up of a round).
    fn api(&self, i: usize) -> Api {
        Api {
            addr: self.addr(i),
            token: self.token.clone(),
        }
    }

    /// A handle unique to this run, scenario tag and round.
    fn handle(&self, tag: &str, round: usize, n: usize) -> String {
        format!("{tag}-{round}-{n}-{}", self.run)
    }

    /// A new identity with the handle `handle(tag, round, n)`: the handle and the id.
    fn identity(&self, tag: &str, round: usize, n: usize) -> (String, String) {
        let h = self.handle(tag, round, n);
        let id = str_field(&self.api(round).create_identity(&h), "id");
        (h, id)
    }

    /// A new identity (`handle(tag, round, 0)`) with an app linked to it: the handle and the app.
    fn linked_app(&self, tag: &str, round: usize) -> (String, String) {
        let api = self.api(round);
        let h = self.handle(tag, round, 0);
        api.create_identity(&h);
        let app = api.create_app(Some(&h));
        (h, app)
    }

    /// Sends `req` as it is to server `i % n`.
    fn raw(&self, i: usize, req: Req) -> Out {
        Out::from_result(req.timeout(REQ_TIMEOUT).send(self.addr(i)))
    }

    /// Sends `req` with the service token to server `i % n`.
    fn call(&self, i: usize, req: Req) -> Out {
        self.raw(i, req.token(&self.token))
    }

    fn get(&self, i: usize, path: &str) -> Out {
        self.call(i, Req::get(path))
    }

    /// The race: request `i` goes to server `i % n` from its own thread; all threads wait on one
    /// barrier, then send at once. The outcomes in request order.
    fn race(&self, reqs: Vec<Req>) -> Vec<Out> {
        let barrier = Barrier::new(reqs.len());
        std::thread::scope(|s| {
            let threads: Vec<_> = reqs
                .into_iter()
                .enumerate()
                .map(|(i, req)| {
                    let req = req.token(&self.token).timeout(REQ_TIMEOUT);
                    let addr = self.addr(i);
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        Out::from_result(req.send(addr))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("race thread panicked"))
                .collect()
        })
    }

    /// Races creations (`creations`, each with what it is for the messages) against one
    /// DELETE (`deleted` names it), put at position `round % (creations + 1)`: the DELETE must
    /// be 204 and each creation one of `allowed` (`noun` names the creations in the kind of
    /// violation); every 201 enrollment must carry a device token, and none of them may work
    /// after the race. The outcomes and the DELETE's position.
    fn race_a_delete(
        &self,
        t: &mut Tally,
        round: usize,
        creations: Vec<(&str, Req)>,
        (delete, deleted): (Req, &str),
        (noun, allowed): (&str, [u16; 2]),
    ) -> (Vec<Out>, usize) {
        let del_at = round % (creations.len() + 1);
        let (mut whats, mut reqs): (Vec<&str>, Vec<Req>) = creations.into_iter().unzip();
        whats.insert(del_at, deleted);
        reqs.insert(del_at, delete);
        let outs = self.race(reqs);
        t.record(round, &outs);
        let mut tokens = Vec::new();
        for (i, (o, what)) in outs.iter().zip(whats).enumerate() {
            if i == del_at {
                t.expect_as(o, 204, round, &format!("{deleted} not 204"), deleted);
                continue;
            }
            let [a, b] = allowed;
            t.check(
                o.status == a || o.status == b,
                round,
                &format!("{noun} neither {a} nor {b}"),
                || format!("{what} racing {deleted}: expected {a} or {b}, got {}", o.short()),
            );
            if o.status == 201 && what == "enroll" {
                let tok = o.field("device_token");
                t.check(
                    tok.starts_with("authd_dev_"),
                    round,
                    "201 enrollment without device token",
                    || format!("a 201 enrollment carries a device token: {}", o.short()),
                );
                tokens.push(tok);
            }
        }
        self.tokens_refused(t, round, &tokens, deleted);
        (outs, del_at)
    }

    /// One SQL statement against the database (psql or the sqlite3 CLI); the rows of its output,
    /// columns split on `|`, as integers.
    fn counts(&self, sql: &str) -> Vec<i64> {
        let out = match &self.backend {
            Backend::Pg(p) => psql(&p.cli.db_url, sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Sqlite(s) => sqlite3(&s.file(), sql, Duration::from_secs(30)),
        };
        out.trim()
            .split(['|', '\n'])
            .map(|c| {
                c.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{sql}: not a count: {c:?} in {out:?}"))
            })
            .collect()
    }

    fn count1(&self, sql: &str) -> i64 {
        let v = self.counts(sql);
        assert_eq!(v.len(), 1, "{sql}: one value expected, got {v:?}");
        v[0]
    }

    /// Exactly one live identity must have the handle `h` in the database.
    fn one_live_handle(&self, t: &mut Tally, round: usize, h: &str) {
        let live = self.count1(&format!(
            "SELECT count(*) FROM identities WHERE handle = '{h}' AND deleted_at IS NULL"
        ));
        t.check(live == 1, round, "live identities with the handle in the DB", || {
            format!("{live} live identities with handle {h}")
        });
    }

    /// Every device token must be refused (401) by every server.
    fn tokens_refused(&self, t: &mut Tally, round: usize, tokens: &[String], why: &str) {
        for (k, tok) in tokens.iter().enumerate() {
            let answers: Vec<Out> = (0..self.addrs.len())
                .map(|i| self.raw(i, Req::get(DEVICE_ACCOUNTS).bearer(tok)))
                .collect();
            t.check(
                answers.iter().all(|r| r.status == 401),
                round,
                "device token still works",
                || {
                    format!(
                        "device token #{k} minted during the race is not 401 after {why} (per server: {:?})",
                        answers.iter().map(Out::short).collect::<Vec<_>>()
                    )
                },
            );
        }
    }

    /// The live accounts and instances of one app, from the database.
    fn live_children(&self, app: &str) -> (i64, i64) {
        let app = sql_id(app);
        let v = self.counts(&format!(
            "SELECT (SELECT count(*) FROM accounts WHERE app_id = '{app}' AND deleted_at IS NULL), \
                    (SELECT count(*) FROM instances WHERE app_id = '{app}' AND deleted_at IS NULL)"
        ));
        (v[0], v[1])
    }
}

// ---------------------------------------------------------------------------------------------
// Global invariants
// ---------------------------------------------------------------------------------------------

/// The invariants of the data, each a count that must be 0, checked in one statement (the same
/// SQL on both backends).
const INVARIANTS: [(&str, &str); 7] = [
    (
        "live accounts of a deleted app",
        "SELECT count(*) FROM accounts c JOIN apps a ON a.id = c.app_id \
         WHERE c.deleted_at IS NULL AND a.deleted_at IS NOT NULL",
    ),
    (
        "live instances of a deleted app",
        "SELECT count(*) FROM instances i JOIN apps a ON a.id = i.app_id \
         WHERE i.deleted_at IS NULL AND a.deleted_at IS NOT NULL",
    ),
    (
        "live instances whose identity is deleted",
        "SELECT count(*) FROM instances i JOIN identities d ON d.id = i.identity_id \
         WHERE i.deleted_at IS NULL AND d.deleted_at IS NOT NULL",
    ),
    (
        "live instances of a live app not linked to their identity",
        "SELECT count(*) FROM instances i JOIN apps a ON a.id = i.app_id \
         WHERE i.deleted_at IS NULL AND a.deleted_at IS NULL \
         AND (a.identity_id IS NULL OR a.identity_id <> i.identity_id)",
    ),
    (
        "live apps linked to a deleted identity",
        "SELECT count(*) FROM apps a JOIN identities d ON d.id = a.identity_id \
         WHERE a.deleted_at IS NULL AND d.deleted_at IS NOT NULL",
    ),
    (
        "identities with two live apps",
        "SELECT count(*) FROM (SELECT org_id, identity_id FROM apps \
         WHERE deleted_at IS NULL AND identity_id IS NOT NULL \
         GROUP BY org_id, identity_id HAVING count(*) > 1) t",
    ),
    (
        "handles of two live identities",
        "SELECT count(*) FROM (SELECT org_id, handle FROM identities WHERE deleted_at IS NULL \
         GROUP BY org_id, handle HAVING count(*) > 1) t",
    ),
];

fn invariant_counts(env: &Env) -> Vec<i64> {
    let parts: Vec<String> = INVARIANTS.iter().map(|(_, q)| format!("({q})")).collect();
    let v = env.counts(&format!("SELECT {}", parts.join(", ")));
    assert_eq!(v.len(), INVARIANTS.len(), "one count per invariant: {v:?}");
    v
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

struct Suite {
    env: Env,
    rounds: usize,
    tallies: Vec<Tally>,
    /// The invariant counts after the previous scenario: a scenario is charged with what it adds.
    baseline: Vec<i64>,
}

impl Suite {
    /// Runs the rounds of scenario `name` (bounded in count and in time) and ends it; `round_fn`
    /// gets the servers, the scenario's tally and the round.
    fn scenario(&mut self, name: &'static str, mut round_fn: impl FnMut(&Env, &mut Tally, usize)) {
        let mut t = Tally::new(name);
        let mut round = 0;
        while t.more(round, self.rounds) {
            round_fn(&self.env, &mut t, round);
            round += 1;
        }
        self.finish(t);
    }

    /// Ends a scenario: the global invariants (what it added), the summary line.
    fn finish(&mut self, mut t: Tally) {
        let now = invariant_counts(&self.env);
        for (k, (what, _)) in INVARIANTS.iter().enumerate() {
            let added = now[k] - self.baseline[k];
            if added > 0 {
                t.fail_many(
                    &format!("global invariant, rows: {what}"),
                    usize::try_from(added).unwrap_or(usize::MAX),
                    format!(
                        "after the {} rounds: {added} more {what} in the database (now {})",
                        t.rounds, now[k]
                    ),
                );
            }
        }
        self.baseline = now;
        eprintln!(
            "races: {:<28} backend={:<22} rounds={:<3} violations={:<3} 5xx/no-response={:<3} statuses={:?} ({:.1?}{})",
            t.name,
            self.env.backend.name(),
            t.rounds,
            t.violations,
            t.server_errors,
            t.statuses,
            t.started.elapsed(),
            if t.cut_short {
                ", cut short by the time budget"
            } else {
                ""
            }
        );
        if !t.kinds.is_empty() {
            eprintln!(
                "races:   {} on {}: {}",
                t.name,
                self.env.backend.name(),
                t.kinds_summary()
            );
        }
        self.tallies.push(t);
    }
}

fn run_suite(backend: Backend) {
    let env = Env::new(backend);
    let started = Instant::now();
    let baseline = invariant_counts(&env);
    assert!(
        baseline.iter().all(|&c| c == 0),
        "a fresh database violates no invariant: {baseline:?}"
    );
    let mut s = Suite {
        env,
        rounds: rounds(),
        tallies: Vec::new(),
        baseline,
    };
    let scenarios: [fn(&mut Suite); 13] = [
        link_race,
        create_children_vs_delete_app,
        enroll_vs_delete_identity,
        link_vs_delete_identity,
        double_delete_app,
        double_delete_identity,
        double_delete_account,
        double_delete_instance,
        same_link_many,
        same_handle_creates,
        one_app_per_identity,
        rename_many_to_one,
        rename_one_to_many,
    ];
    for run in scenarios {
        run(&mut s);
    }
    eprintln!(
        "races: backend={} done in {:.1?}",
        s.env.backend.name(),
        started.elapsed()
    );
    let mut report = String::new();
    for t in s.tallies.iter().filter(|t| !t.clean()) {
        let _ = writeln!(
            report,
            "\n{} on {}: {} violation(s), {} 5xx/no response in {} rounds",
            t.name,
            s.env.backend.name(),
            t.violations,
            t.server_errors,
            t.rounds
        );
        for (kind, (n, examples)) in &t.kinds {
            let _ = writeln!(report, "  {kind}: {n}");
            for e in examples {
                let _ = writeln!(report, "    {e}");
            }
        }
        if t.server_errors > 0 {
            let _ = writeln!(report, "  5xx/no response: {}", t.server_errors);
            for e in &t.server_error_examples {
                let _ = writeln!(report, "    {e}");
            }
        }
    }
    assert!(
        report.is_empty(),
        "races on {}: every scenario must have zero violations and zero 5xx:{report}",
        s.env.backend.name()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// 1. Two identities link the same unlinked app at once: one 200, one 409, and the app is the
///    winner's.
fn link_race(s: &mut Suite) {
    s.scenario("link_race", |env, t, round| {
        let (handles, ids): (Vec<String>, Vec<String>) = (0..2).map(|k| env.identity("link", round, k)).unzip();
        let app = env.api(round).create_app(None);
        let outs = env.race(handles.iter().map(|h| link_req(h, &app)).collect());
        t.record(round, &outs);
        let winner = match statuses(&outs)[..] {
            [200, 409] => Some(0),
            [409, 200] => Some(1),
            _ => None,
        };
        let Some(w) = winner else {
            t.fail(
                round,
                "not one 200 and one 409",
                format!(
                    "two links of one app: expected one 200 and one 409, got {:?}",
                    outs.iter().map(Out::short).collect::<Vec<_>>()
                ),
            );
            return;
        };
        let l = 1 - w;
        let linked = outs[w].json()["authenticator_app"]["id"].as_str().map(str::to_owned);
        t.check(
            linked.as_deref() == Some(app.as_str()),
            round,
            "winner's 200 body",
            || format!("the winner's 200 shows the app linked: {}", outs[w].short()),
        );
        let a = env.get(round + 1, &app_path(&app));
        let claim = format!("the app is linked to the winner {}", ids[w]);
        let holds = a.field("identity_id") == ids[w];
        t.expect_200_and(
            &a,
            round,
            "GET app after the race",
            holds,
            "app linked to the winner",
            &claim,
        );
        let loser = env.get(round, &identity_path(&handles[l]));
        let holds = loser.json()["authenticator_app"].is_null();
        t.expect_200_and(
            &loser,
            round,
            "GET loser identity",
            holds,
            "loser shows an app",
            "the loser has no app",
        );
        let win = env.get(round + 1, &identity_path(&handles[w]));
        let holds = win.json()["authenticator_app"]["id"] == app.as_str();
        let claim = "the winner shows the app";
        t.expect_200_and(&win, round, "GET winner identity", holds, "winner shows the app", claim);
    });
}

/// 2. Enrollments and account imports race the delete of their (linked) app: each creation is
///    201 or 404, and nothing created survives the delete.
fn create_children_vs_delete_app(s: &mut Suite) {
    s.scenario("create_children_vs_delete_app", |env, t, round| {
        let (h, app) = env.linked_app("chdel", round);
        // CHILDREN enrollments, then CHILDREN imports; the delete at a varying position.
        let creations = (0..CHILDREN)
            .map(|_| ("enroll", enroll_req(&app)))
            .chain((0..CHILDREN).map(|_| ("create account", account_req(&app))))
            .collect();
        let delete = (Req::delete(app_path(&app)), "DELETE app");
        let (outs, del_at) = env.race_a_delete(t, round, creations, delete, ("creation", [201, 404]));
        let g = env.get(round + 1, &app_path(&app));
        t.expect(&g, 404, round, "GET deleted app");
        let ow = env.get(round, &one_welcome_path(&h));
        t.expect(&ow, 404, round, "OneWelcome GET of the user whose app was deleted");
        let (accounts, instances) = env.live_children(&app);
        t.check(
            accounts == 0 && instances == 0,
            round,
            "live children of the deleted app in the DB",
            || {
                format!(
                    "the deleted app has {accounts} live account(s) and {instances} live instance(s) \
                     in the database (race statuses {:?}, delete at {del_at})",
                    statuses(&outs)
                )
            },
        );
    });
}

/// 3. Enrollments race the delete of the identity the app is linked to: the app ends unlinked,
///    no enrolled device survives.
fn enroll_vs_delete_identity(s: &mut Suite) {
    const ENROLLS: usize = 6;
    s.scenario("enroll_vs_delete_identity", |env, t, round| {
        let (h, app) = env.linked_app("endel", round);
        let creations = (0..ENROLLS).map(|_| ("enroll", enroll_req(&app))).collect();
        let delete = (Req::delete(identity_path(&h)), "DELETE identity");
        // After the delete the app is alive but unlinked: 409.
        let (outs, del_at) = env.race_a_delete(t, round, creations, delete, ("enroll", [201, 409]));
        let g = env.get(round + 1, &app_path(&app));
        t.expect_200_and(
            &g,
            round,
            "GET app after its identity was deleted",
            g.json()["identity_id"].is_null(),
            "app of a deleted identity still linked",
            "the app of a deleted identity is unlinked",
        );
        let ow = env.get(round, &one_welcome_path(&h));
        t.expect(&ow, 404, round, "OneWelcome GET of the deleted user");
        let (_, instances) = env.live_children(&app);
        t.check(instances == 0, round, "live instances of the app in the DB", || {
            format!(
                "{instances} live instance(s) of the app remain in the database after DELETE identity \
                 (race statuses {:?}, delete at {del_at})",
                statuses(&outs)
            )
        });
    });
}

/// 4. A link races the delete of the identity: the app never stays linked to a deleted identity,
///    and the handle re-created can take it.
fn link_vs_delete_identity(s: &mut Suite) {
    s.scenario("link_vs_delete_identity", |env, t, round| {
        let (h, old_id) = env.identity("lndel", round, 0);
        let app = env.api(round).create_app(None);
        let link = link_req(&h, &app);
        let del = Req::delete(identity_path(&h));
        let (reqs, link_at) = if round % 2 == 0 {
            (vec![link, del], 0)
        } else {
            (vec![del, link], 1)
        };
        let outs = env.race(reqs);
        t.record(round, &outs);
        let (lo, dl) = (&outs[link_at], &outs[1 - link_at]);
        t.check(
            matches!(lo.status, 200 | 404),
            round,
            "link neither 200 nor 404",
            || format!("link racing DELETE identity: expected 200 or 404, got {}", lo.short()),
        );
        t.expect_as(
            dl,
            204,
            round,
            "DELETE identity not 204",
            "DELETE identity racing a link",
        );
        let g = env.get(round + 1, &app_path(&app));
        if t.expect(&g, 200, round, "GET app") {
            let linked = g.json()["identity_id"].as_str().map(str::to_owned);
            if let Some(id) = linked {
                let live = env.count1(&format!(
                    "SELECT count(*) FROM identities WHERE id = '{}' AND deleted_at IS NULL",
                    sql_id(&id)
                ));
                t.check(live == 1, round, "app linked to a deleted identity", || {
                    format!(
                        "the app is linked to a deleted identity {id} (the deleted one: {}); link {}, delete {}",
                        id == old_id,
                        lo.short(),
                        dl.status
                    )
                });
            }
        }
        // The handle again, a new identity: the app can be linked to it.
        let again = env.call(round, identity_req(&h));
        if t.expect(&again, 201, round, "re-create the deleted handle") {
            let new_id = again.field("id");
            let relink = env.call(round + 1, link_req(&h, &app));
            t.expect_200_and(
                &relink,
                round,
                "link the app to the re-created identity",
                relink.json()["authenticator_app"]["identity_id"] == new_id.as_str(),
                "re-created identity does not show the app",
                "the re-created identity shows the app",
            );
        }
    });
}

/// Two DELETEs of the same path at once: one 204, one 404. `setup` creates the record and
/// returns its path (and a device token that must stop working, for instances).
fn double_delete(s: &mut Suite, name: &'static str, setup: impl Fn(&Env, usize) -> (String, Option<String>)) {
    s.scenario(name, |env, t, round| {
        let (path, token) = setup(env, round);
        if let Some(tok) = &token {
            // The control: the device API accepts the token before the delete, so the 401
            // afterwards is the delete's doing.
            let before = env.raw(round, Req::get(DEVICE_ACCOUNTS).bearer(tok));
            t.expect(&before, 200, round, "device token before the delete");
        }
        let outs = env.race(vec![Req::delete(&path), Req::delete(&path)]);
        t.record(round, &outs);
        t.check(
            sorted_statuses(&outs) == [204, 404],
            round,
            "not one 204 and one 404",
            || {
                format!(
                    "two DELETE {path}: expected one 204 and one 404, got {:?}",
                    outs.iter().map(Out::short).collect::<Vec<_>>()
                )
            },
        );
        let g = env.get(round + 1, &path);
        t.expect(&g, 404, round, "GET after the deletes");
        if let Some(tok) = token {
            env.tokens_refused(t, round, &[tok], "DELETE instance");
        }
    });
}

/// 5a. Two DELETEs of one app.
fn double_delete_app(s: &mut Suite) {
    double_delete(s, "double_delete_app", |env, round| {
        let (_, app) = env.linked_app("ddapp", round);
        env.api(round).create_account(&app, TOTP_URI);
        (app_path(&app), None)
    });
}

/// 5b. Two DELETEs of one identity.
fn double_delete_identity(s: &mut Suite) {
    double_delete(s, "double_delete_identity", |env, round| {
        let (h, _) = env.linked_app("ddid", round);
        (identity_path(&h), None)
    });
}

/// 5c. Two DELETEs of one account.
fn double_delete_account(s: &mut Suite) {
    double_delete(s, "double_delete_account", |env, round| {
        let api = env.api(round);
        let app = api.create_app(None);
        let acc = api.account_id(&app, TOTP_URI);
        (format!("{APPS}/{app}/accounts/{acc}"), None)
    });
}

/// 5d. Two DELETEs of one instance; its device token stops working.
fn double_delete_instance(s: &mut Suite) {
    double_delete(s, "double_delete_instance", |env, round| {
        let (_, app) = env.linked_app("ddinst", round);
        let inst = env.api(round).enroll(&app, "d");
        let (id, tok) = (str_field(&inst, "id"), str_field(&inst, "device_token"));
        (format!("{APPS}/{app}/instances/{id}"), Some(tok))
    });
}

/// 6. N links of the same app to the same identity at once: all 200 (the same app again is a
///    no-op).
fn same_link_many(s: &mut Suite) {
    s.scenario("same_link_many", |env, t, round| {
        let (h, id) = env.identity("slink", round, 0);
        let app = env.api(round).create_app(None);
        let outs = env.race((0..MANY).map(|_| link_req(&h, &app)).collect());
        t.record(round, &outs);
        t.check(count(&outs, 200) == MANY, round, "not all 200", || {
            format!(
                "{MANY} links of the same app to the same identity: all 200 expected, got {:?}; e.g. {}",
                statuses(&outs),
                outs.iter()
                    .find(|o| o.status != 200)
                    .map(Out::short)
                    .unwrap_or_default()
            )
        });
        let g = env.get(round + 1, &app_path(&app));
        let claim = format!("the app is linked to {id}");
        t.expect_200_and(
            &g,
            round,
            "GET app",
            g.field("identity_id") == id,
            "app linked elsewhere",
            &claim,
        );
    });
}

/// 7. N creations of one handle at once: one 201, the rest 409.
fn same_handle_creates(s: &mut Suite) {
    s.scenario("same_handle_creates", |env, t, round| {
        let h = env.handle("shand", round, 0);
        let outs = env.race((0..MANY).map(|_| identity_req(&h)).collect());
        t.record(round, &outs);
        let ok = t.one_and_rest(round, &outs, (201, 409), "creations of one handle");
        let g = env.get(round + 1, &identity_path(&h));
        if t.expect(&g, 200, round, "GET the created identity") && ok {
            let winner = field_of_first(&outs, 201, "id");
            t.check(
                g.field("id") == winner,
                round,
                "handle resolves to another identity",
                || format!("the handle resolves to the 201's identity {winner}: {}", g.short()),
            );
        }
        env.one_live_handle(t, round, &h);
    });
}

/// 8. N app creations for one identity at once: one 201, the rest 409, and exactly one live app
///    (the 409s created nothing).
fn one_app_per_identity(s: &mut Suite) {
    // The live apps of the database: nothing but the race of a round adds any, so each round
    // must add exactly one (the 409s create nothing).
    let mut before = s.env.count1("SELECT count(*) FROM apps WHERE deleted_at IS NULL");
    s.scenario("one_app_per_identity", |env, t, round| {
        let (h, id) = env.identity("oneapp", round, 0);
        let outs = env.race(
            (0..MANY)
                .map(|_| Req::post(APPS).json(&json!({ "agent_handle": h })))
                .collect(),
        );
        t.record(round, &outs);
        let ok = t.one_and_rest(round, &outs, (201, 409), "app creations for one identity");
        let v = env.counts(&format!(
            "SELECT (SELECT count(*) FROM apps WHERE identity_id = '{}' AND deleted_at IS NULL), \
                    (SELECT count(*) FROM apps WHERE deleted_at IS NULL)",
            sql_id(&id)
        ));
        let (linked, after) = (v[0], v[1]);
        t.check(linked == 1, round, "live apps linked to the identity in the DB", || {
            format!("{linked} live apps linked to {h}")
        });
        t.check(after - before == 1, round, "live apps added in the DB", || {
            format!(
                "{} live apps were added by one 201 (statuses {:?})",
                after - before,
                statuses(&outs)
            )
        });
        before = after;
        let g = env.get(round + 1, &identity_path(&h));
        if t.expect(&g, 200, round, "GET identity") && ok {
            let winner = field_of_first(&outs, 201, "id");
            t.check(
                g.json()["authenticator_app"]["id"] == winner.as_str(),
                round,
                "identity shows another app",
                || format!("the identity shows the 201's app {winner}: {}", g.short()),
            );
        }
    });
}

/// 9a. N identities renamed at once to the same new handle: one 200, the rest 409.
fn rename_many_to_one(s: &mut Suite) {
    s.scenario("rename_many_to_one", |env, t, round| {
        let (olds, ids): (Vec<String>, Vec<String>) = (0..MANY).map(|k| env.identity("rnm", round, k)).unzip();
        let new = env.handle("rnm-new", round, 0);
        let outs = env.race(olds.iter().map(|h| rename_req(h, &new)).collect());
        t.record(round, &outs);
        t.one_and_rest(round, &outs, (200, 409), "renames to one handle");
        let g = env.get(round + 1, &identity_path(&new));
        if t.expect(&g, 200, round, "GET the new handle") {
            let owner = g.field("id");
            if let Some(w) = outs.iter().position(|o| o.status == 200) {
                t.check(
                    owner == ids[w],
                    round,
                    "new handle resolves to another identity",
                    || {
                        format!(
                            "the new handle resolves to the renamed identity {}: {}",
                            ids[w],
                            g.short()
                        )
                    },
                );
            }
            // Every other identity keeps its old handle; the renamed one has lost it.
            for (k, h) in olds.iter().enumerate() {
                let want = if ids[k] == owner { 404 } else { 200 };
                let r = env.get(round + k, &identity_path(h));
                t.expect_as(
                    &r,
                    want,
                    round,
                    "old handle resolves wrongly",
                    &format!("GET old handle #{k}"),
                );
            }
        }
        env.one_live_handle(t, round, &new);
    });
}

/// 9b. One identity renamed at once to N different handles: one 200, the rest 404 (the old
///     handle is gone once one rename commits); exactly one new handle resolves.
fn rename_one_to_many(s: &mut Suite) {
    s.scenario("rename_one_to_many", |env, t, round| {
        let (old, id) = env.identity("rn1", round, 0);
        let news: Vec<String> = (0..MANY).map(|k| env.handle("rn1-new", round, k)).collect();
        let outs = env.race(news.iter().map(|n| rename_req(&old, n)).collect());
        t.record(round, &outs);
        t.one_and_rest(round, &outs, (200, 404), "renames of one identity");
        let resolving: Vec<usize> = (0..MANY)
            .filter(|&k| {
                let r = env.get(round + k, &identity_path(&news[k]));
                if r.status == 200 {
                    t.check(
                        r.field("id") == id,
                        round,
                        "new handle resolves to another identity",
                        || format!("new handle #{k} resolves to another identity: {}", r.short()),
                    );
                } else {
                    t.check(r.status == 404, round, "GET a new handle", || {
                        format!("GET new handle #{k}: expected 200 or 404, got {}", r.short())
                    });
                }
                r.status == 200
            })
            .collect();
        t.check(
            resolving.len() == 1,
            round,
            "not exactly one new handle resolves",
            || {
                format!(
                    "exactly one new handle resolves, got {resolving:?} (statuses {:?})",
                    statuses(&outs)
                )
            },
        );
        // With exactly one 200 (else counted above), the handle that resolves must be its.
        if let (1, Some(w), [k]) = (
            count(&outs, 200),
            outs.iter().position(|o| o.status == 200),
            &resolving[..],
        ) {
            t.check(w == *k, round, "resolving handle is not the 200's", || {
                format!("the handle that resolves (#{k}) is the one whose rename got 200 (#{w})")
            });
        }
        let g = env.get(round + 1, &identity_path(&old));
        t.expect(&g, 404, round, "GET the old handle");
    });
}

// ---------------------------------------------------------------------------------------------
// The two backends
// ---------------------------------------------------------------------------------------------

#[test]
fn races_postgres_two_replicas() {
    let Some(db) = PgDb::create() else { return };
    // One after the other: the first one migrates.
    run_suite(Backend::Pg(Box::new(start_pair(db))));
}

#[test]
fn races_sqlite() {
    if !have_sqlite3() {
        skip_or_fail("the sqlite3 CLI is not installed: the races suite reads the SQLite database with it");
        return;
    }
    run_suite(Backend::Sqlite(SqliteServer::start("races-sqlite")));
}
