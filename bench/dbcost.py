#!/usr/bin/env python3
"""The driver of bench/dbcost.sh (run it through that script, which starts the private
PostgreSQL and authd and passes their coordinates in the environment).

For each request kind: N requests against authd, and around them what PostgreSQL counted:
pg_stat_statements (reset before), pg_stat_database and pg_stat_wal (read after their lazy
flush), the WAL insert position, `pg_waldump --stats` over that WAL range, the CPU time of the
PostgreSQL backends serving authd's pool and of authd itself. Then the audit sequencer on a
backlog, wrk's load on five kinds (CPU of the whole instance and of authd per request), and the
tables' sizes. Prints one table of per-request figures, per kind the statements that ran, and
the rest. Python standard library only.

Environment (set by dbcost.sh): DBCOST_BASE, DBCOST_TOKEN, DBCOST_TOKEN_LIST, DBCOST_AUTHD_PID,
DBCOST_PGPORT, DBCOST_PGDATA, DBCOST_PGBIN, DBCOST_PG_PID, DBCOST_RUN; knobs N, WARM, CONC,
SEED_APPS, LIST_APPS, STATS_WAIT, KINDS, OUT_JSON, LOAD, LOAD_SECS, LOAD_CONNS, BACKLOG, HOLD
(see dbcost.sh).
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

BASE = os.environ["DBCOST_BASE"]
TOKEN = os.environ["DBCOST_TOKEN"]
TOKEN_LIST = os.environ["DBCOST_TOKEN_LIST"]
AUTHD_PID = int(os.environ["DBCOST_AUTHD_PID"])
PGPORT = os.environ["DBCOST_PGPORT"]
PGDATA = os.environ["DBCOST_PGDATA"]
PGBIN = os.environ["DBCOST_PGBIN"]
N = int(os.environ.get("N", "500"))
WARM = int(os.environ.get("WARM", "16"))
CONC = int(os.environ.get("CONC", "1"))
SEED_APPS = int(os.environ.get("SEED_APPS", "10000"))
LIST_APPS = int(os.environ.get("LIST_APPS", "10"))
STATS_WAIT = float(os.environ.get("STATS_WAIT", "11"))
KINDS = os.environ.get("KINDS", "").split()
OUT_JSON = os.environ.get("OUT_JSON", "")
LOAD = os.environ.get("LOAD", "1") == "1"
LOAD_SECS = int(os.environ.get("LOAD_SECS", "8"))
LOAD_CONNS = int(os.environ.get("LOAD_CONNS", "64"))
PG_PID = int(os.environ.get("DBCOST_PG_PID", "0"))
BACKLOG = [int(x) for x in os.environ.get("BACKLOG", "2000 5000 10000").split()]
RUN_DIR = os.environ.get("DBCOST_RUN", "/tmp")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB = "authd"
SECRET = "JBSWY3DPEHPK3PXP"
APPS = "/api/v1/authenticator/apps"
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[dbcost] {msg}", file=sys.stderr, flush=True)


# --- HTTP -------------------------------------------------------------------------------------

_local = threading.local()


def conn():
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    return c


def call(method, path, body=None, token=TOKEN):
    """One request on this thread's keep-alive connection: (status, parsed JSON or None)."""
    headers = {"X-Service-Token": token}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    for attempt in (0, 1):
        try:
            c = conn()
            c.request(method, path, data, headers)
            r = c.getresponse()
            raw = r.read()
            break
        except (http.client.HTTPException, ConnectionError):
            _local.c = None
            if attempt:
                raise
    parsed = None
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    return r.status, parsed


def must(status, want, what):
    if status != want:
        raise SystemExit(f"[dbcost] setup: {what} answered {status}, expected {want}")


def create(path, body, token=TOKEN):
    s, b = call("POST", path, body, token)
    must(s, 201, f"POST {path}")
    return b


def parallel(items, fn, threads=4):
    """fn over items on a few threads (setup only); results in order."""
    out = [None] * len(items)
    idx = iter(range(len(items)))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                i = next(idx, None)
            if i is None:
                return
            out[i] = fn(items[i])

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


# --- OTP (for valid codes) --------------------------------------------------------------------

def totp(t, step=30, digits=6):
    key = base64.b32decode(SECRET)
    h = hmac.new(key, struct.pack(">Q", int(t) // step), hashlib.sha1).digest()
    o = h[-1] & 0x0F
    return f"{(struct.unpack('>I', h[o:o + 4])[0] & 0x7FFFFFFF) % 10 ** digits:0{digits}d}"


def wrong_code():
    """A code that matches none of the steps a window of 1 accepts now."""
    now = time.time()
    taken = {totp(now + d) for d in (-60, -30, 0, 30, 60)}
    c = 0
    while f"{c:06d}" in taken:
        c += 1
    return f"{c:06d}"


# --- PostgreSQL -------------------------------------------------------------------------------

SEP = "\x1f"


def psql(sql, db="postgres"):
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", SEP, "-h", "127.0.0.1", "-p", PGPORT, "-U", "postgres", "-d", db,
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split(SEP) for line in out.splitlines() if line]


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


STAT_COLS = ["xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted",
             "wal_records", "wal_fpi", "wal_bytes", "wal_write", "wal_sync"]


def db_stats():
    row = psql(
        "SELECT pg_current_wal_insert_lsn(), d.xact_commit, d.xact_rollback, d.tup_inserted, d.tup_updated,"
        " d.tup_deleted, w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_write, w.wal_sync"
        f" FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = '{DB}'")[0]
    stats = dict(zip(STAT_COLS, (float(x) for x in row[1:])))
    stats["lsn"] = lsn(row[0])
    return stats


def backend_pids():
    return [int(r[0]) for r in psql(
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB}' AND backend_type = 'client backend'")]


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_of(pids):
    return {p: cpu_ticks(p) for p in pids}


def cpu_delta_us(before, after):
    ticks = 0
    for p, b in before.items():
        a = after.get(p)
        if a is not None and b is not None:
            ticks += a - b
    return ticks * 1e6 / TICK


PGSS = ("SELECT s.queryid, s.calls, s.rows, s.total_exec_time, s.total_plan_time, s.plans,"
        " s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,"
        " s.wal_records, s.wal_fpi, s.wal_bytes, regexp_replace(s.query, '\\s+', ' ', 'g')"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        f" WHERE d.datname = '{DB}' ORDER BY s.calls DESC, s.total_exec_time DESC")
PGSS_COLS = ["queryid", "calls", "rows", "exec_ms", "plan_ms", "plans", "hit", "read", "dirtied", "written",
             "wal_records", "wal_fpi", "wal_bytes"]


def statements():
    out = []
    for r in psql(PGSS):
        s = {k: float(v) for k, v in zip(PGSS_COLS, r[:len(PGSS_COLS)])}
        s["query"] = r[len(PGSS_COLS)]
        out.append(s)
    return out


def waldump(start, end):
    """(record bytes, FPI bytes) of the WAL between two positions, from pg_waldump --stats."""
    if end <= start:
        return 0, 0
    fmt = lambda x: f"{x >> 32:X}/{x & 0xFFFFFFFF:X}"
    try:
        out = subprocess.run(
            [f"{PGBIN}/pg_waldump", "-p", f"{PGDATA}/pg_wal", "-s", fmt(start), "-e", fmt(end), "--stats"],
            capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    for line in out.splitlines():
        if line.startswith("Total"):
            nums = [int(x) for x in line.replace("[", " ").replace("]", " ").split()
                    if x.isdigit()]
            # Total <records> <record bytes> [pct] <FPI bytes> [pct] <combined bytes> [100%]
            if len(nums) >= 4:
                return nums[1], nums[2]
    return None, None


# --- the request kinds ------------------------------------------------------------------------

class Ctx:
    """Fixtures shared by the kinds (ids made in setup and by earlier kinds)."""

    def __init__(self):
        self.seed_apps = []
        self.totp_paths = []
        self.hotp_paths = []
        self.list_app = None
        self.handles = []
        self.linked_apps = []
        self.accounts = []  # (app, account) pairs in the linked apps
        self.confined_token = None
        self.confined_paths = []
        self.audit_top = 0


def kinds(ctx):
    """Each kind: name, what it is, the number of items it needs, and the request of item i
    (warm-up items first, then the measured ones) as (method, path, body, token, expected
    status, on_ok)."""
    total = WARM + N

    def identity(i):
        return "POST", "/api/v1/identities", {"agent_handle": ctx.handles[i]}, TOKEN, 201, None

    def app_linked(i):
        def keep(b):
            ctx.linked_apps[i] = b["id"]
        return "POST", APPS, {"agent_handle": ctx.handles[i]}, TOKEN, 201, keep

    def account(i):
        app = ctx.linked_apps[i]

        def keep(b):
            ctx.accounts[i] = (app, b["id"])
        uri = f"otpauth://totp/DbCost:u{i}?secret={SECRET}&issuer=DbCost"
        return "POST", f"{APPS}/{app}/accounts", {"otpauth_uri": uri}, TOKEN, 201, keep

    def app_unlinked(i):
        return "POST", APPS, {}, TOKEN, 201, None

    def gen(paths, token=TOKEN):
        return lambda i: ("POST", random.choice(paths), None, token, 200, None)

    def verify(valid):
        def req(i):
            app, acc = ctx.accounts[i]
            code = totp(time.time()) if valid else wrong_code()

            def check(b):
                if b.get("valid") is not valid:
                    raise SystemExit(f"[dbcost] verify answered {b}, expected valid={valid}")
            return "POST", f"{APPS}/{app}/accounts/{acc}/verify", {"otp_code": code}, TOKEN, 200, check
        return req

    def get_app(i):
        return "GET", f"{APPS}/{random.choice(ctx.seed_apps)}", None, TOKEN, 200, None

    def list_accounts(i):
        return "GET", f"{APPS}/{ctx.list_app}/accounts", None, TOKEN, 200, None

    def list_apps(i):
        return "GET", APPS, None, TOKEN_LIST, 200, None

    def token_self(i):
        return "GET", "/api/v1/tokens/self", None, TOKEN, 200, None

    def delete_app(i):
        return "DELETE", f"{APPS}/{ctx.linked_apps[i]}", None, TOKEN, 204, None

    def audit_page(i):
        after = random.randint(0, max(0, ctx.audit_top - 100))
        return "GET", f"/api/v1/audit/events?after={after}&limit=100", None, TOKEN, 200, None

    def audit_catchup(i):
        return "GET", f"/api/v1/audit/events?after={ctx.audit_top}&limit=100", None, TOKEN, 200, None

    return [
        ("create_identity", "POST /identities", total, identity),
        ("create_app_linked", "POST /apps {agent_handle} (the identity above)", total, app_linked),
        ("create_account_totp", "POST /apps/{id}/accounts, TOTP, one per linked app", total, account),
        ("create_app", "POST /apps {} (unlinked; bench/run.sh create_app)", total, app_unlinked),
        ("generate_totp", "POST .../generate-otp, TOTP, random of 200", total, gen(ctx.totp_paths)),
        ("audit_catchup", "GET /audit/events: the sequencer numbers the events of the 5 kinds above", 1,
         audit_catchup),
        ("generate_hotp", "POST .../generate-otp, HOTP, random of 200", total, gen(ctx.hotp_paths)),
        ("verify_valid", "POST .../verify, TOTP, right code, distinct accounts", total, verify(True)),
        ("verify_wrong", "POST .../verify, wrong code (first failure of each account)", total, verify(False)),
        ("get_app", f"GET /apps/{{id}}, random of {SEED_APPS}", total, get_app),
        ("list_accounts_10", "GET /apps/{id}/accounts (10 accounts)", total, list_accounts),
        ("list_apps", f"GET /apps (an organization of {LIST_APPS} apps)", total, list_apps),
        ("token_self", "GET /api/v1/tokens/self", total, token_self),
        ("generate_confined", "generate-otp TOTP with a confined token (identities conf-*)", total,
         lambda i: gen(ctx.confined_paths, ctx.confined_token)(i)),
        ("delete_app", "DELETE /apps/{id} (linked, one account)", total, delete_app),
        ("audit_page", "GET /audit/events?after=<random>&limit=100 (nothing to number)", total, audit_page),
    ]


def setup(ctx):
    t0 = time.time()
    log(f"setup: {SEED_APPS} apps, 200 TOTP + 200 HOTP accounts, a 10-account app, {LIST_APPS} apps in a "
        "second organization, a confined token")
    # In chunks, each followed by a read of the audit trail: its sequencer numbers the events
    # of a whole backlog in one statement whose time grows with the square of the backlog
    # (docs/SCALING.md), and past ~8,000 events that outlives authd's statement timeout.
    for start in range(0, SEED_APPS, 1000):
        chunk = list(range(start, min(SEED_APPS, start + 1000)))
        ctx.seed_apps += [b["id"] for b in parallel(chunk, lambda _: create(APPS, {}))]
        number_all(ctx)
    otp_app = create(APPS, {})["id"]
    base = f"{APPS}/{otp_app}/accounts"
    for kind, store in (("totp", ctx.totp_paths), ("hotp", ctx.hotp_paths)):
        ids = parallel(list(range(200)), lambda i, k=kind: create(
            base, {"otpauth_uri": f"otpauth://{k}/Bench:{k}{i}?secret={SECRET}"})["id"])
        store.extend(f"{base}/{a}/generate-otp" for a in ids)
    number_all(ctx)
    ctx.list_app = create(APPS, {})["id"]
    for i in range(10):
        create(f"{APPS}/{ctx.list_app}/accounts",
               {"otpauth_uri": f"otpauth://totp/Bench:l{i}?secret={SECRET}&issuer=Bench"})
    for _ in range(LIST_APPS):
        create(APPS, {}, TOKEN_LIST)
    create("/api/v1/identities", {"agent_handle": "conf-bot"})
    capp = create(APPS, {"agent_handle": "conf-bot"})["id"]
    for i in range(20):
        acc = create(f"{APPS}/{capp}/accounts", {"otpauth_uri": f"otpauth://totp/Conf:c{i}?secret={SECRET}"})["id"]
        ctx.confined_paths.append(f"{APPS}/{capp}/accounts/{acc}/generate-otp")
    ctx.confined_token = create("/api/v1/tokens", {"scopes": ["otp:generate"], "identities": ["conf-*"],
                                                   "name": "dbcost confined"})["token"]
    run_id = f"{int(time.time()) % 100000:05d}"
    ctx.handles = [f"dbc-{run_id}-{i}" for i in range(WARM + N)]
    ctx.linked_apps = [None] * (WARM + N)
    ctx.accounts = [None] * (WARM + N)
    number_all(ctx)
    analyze()
    log(f"setup done in {time.time() - t0:.1f} s")


def run_items(req, items):
    """Runs the requests of these item indexes (CONC threads); returns (latencies in ms, statuses)."""
    lat, statuses, errors = [], {}, []
    lock = threading.Lock()
    chunks = [items[k::CONC] for k in range(CONC)]

    def work(chunk):
        for i in chunk:
            method, path, body, token, want, on_ok = req(i)
            t = time.perf_counter()
            s, b = call(method, path, body, token)
            dt = (time.perf_counter() - t) * 1e3
            with lock:
                lat.append(dt)
                statuses[s] = statuses.get(s, 0) + 1
            if s != want:
                with lock:
                    errors.append(f"{method} {path} -> {s} {b}")
            elif on_ok is not None:
                on_ok(b)

    ts = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit(f"[dbcost] {len(errors)} unexpected answers, first: {errors[0]}")
    return lat, statuses


def number_all(ctx):
    """Numbers every event so far (outside any measurement) and notes the highest number."""
    after = ctx.audit_top
    while True:
        s, b = call("GET", f"/api/v1/audit/events?after={after}&limit=1000")
        must(s, 200, "GET /api/v1/audit/events")
        if not b["events"]:
            break
        after = b["events"][-1]["seq"]
    ctx.audit_top = after


def analyze():
    """What autovacuum's auto-analyze would have done by now (it is off on this instance, so that
    its WAL does not mix with authd's): fresh statistics, so that the cached generic plans of
    the prepared statements are those of the tables as they are. Its own counters reach
    pg_stat_database when its backend exits, before the CHECKPOINT that follows."""
    psql("ANALYZE", db=DB)


def measure(name, what, count, req, ctx):
    items = list(range(WARM, WARM + N)) if count > 1 else [0]
    n = len(items)
    analyze()
    psql("CHECKPOINT")
    before = db_stats()
    pids = backend_pids()
    cpu_b, authd_b = cpu_of(pids), cpu_ticks(AUTHD_PID)
    psql("SELECT pg_stat_statements_reset()")
    t0 = time.perf_counter()
    lat, statuses = run_items(req, items)
    wall = time.perf_counter() - t0
    lsn_end = lsn(psql("SELECT pg_current_wal_insert_lsn()")[0][0])
    cpu_a, authd_a = cpu_of(pids), cpu_ticks(AUTHD_PID)
    stmts = statements()
    time.sleep(STATS_WAIT)  # the backends flush pg_stat_database / pg_stat_wal when idle this long
    after = db_stats()
    rec_bytes, fpi_bytes = waldump(before["lsn"], lsn_end)
    d = {k: after[k] - before[k] for k in STAT_COLS}
    tot = lambda key: sum(s[key] for s in stmts)
    r = {
        "kind": name, "what": what, "n": n, "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "stmts": tot("calls") / n, "distinct": sum(1 for s in stmts if s["calls"] > 0),
        "xacts": d["xact_commit"] / n, "rollbacks": d["xact_rollback"] / n,
        "rows": tot("rows") / n,
        "rows_written": (d["tup_inserted"] + d["tup_updated"] + d["tup_deleted"]) / n,
        "wal_bytes": (lsn_end - before["lsn"]) / n,
        "wal_fpi_bytes": None if fpi_bytes is None else fpi_bytes / n,
        "wal_records": d["wal_records"] / n, "wal_fsyncs": d["wal_sync"] / n,
        "hit": tot("hit") / n, "read": tot("read") / n, "dirtied": tot("dirtied") / n,
        "written": tot("written") / n,
        "db_us": (tot("exec_ms") + tot("plan_ms")) * 1e3 / n,
        "pg_cpu_us": cpu_delta_us(cpu_b, cpu_a) / n,
        "authd_cpu_us": (None if authd_a is None or authd_b is None else (authd_a - authd_b) * 1e6 / TICK / n),
        "lat_mean_ms": statistics.fmean(lat), "lat_p50_ms": statistics.median(lat),
        "lat_max_ms": max(lat), "wall_s": wall,
        "statements": [
            {"calls": s["calls"] / n, "rows": s["rows"] / n, "mean_us": (s["exec_ms"] * 1e3 / s["calls"]) if s["calls"] else 0,
             "plans": s["plans"] / n, "wal_bytes": s["wal_bytes"] / n, "wal_fpi": s["wal_fpi"] / n,
             "hit": s["hit"] / n, "dirtied": s["dirtied"] / n, "query": s["query"]}
            for s in stmts],
    }
    log(f"{name}: {n} requests in {wall:.2f} s, {r['stmts']:.2f} statements and {r['wal_bytes']:.0f} WAL bytes each")
    return r


def instance_ticks():
    """CPU ticks of every process of the PostgreSQL instance (the postmaster and its children)."""
    total = cpu_ticks(PG_PID) or 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == PG_PID:
            total += int(fields[11]) + int(fields[12])
    return total


def load(ctx):
    """bench/run.sh's wrk load (its authd.lua, -t2 -c64) on a few kinds: requests per second on
    this machine, and what the whole PostgreSQL instance and authd spent per request meanwhile."""
    files = {"get_app": ("AUTHD_IDS", ctx.seed_apps), "totp": ("AUTHD_PATHS", ctx.totp_paths),
             "hotp": ("AUTHD_PATHS", ctx.hotp_paths)}
    env_base = dict(os.environ, AUTHD_TOKEN=TOKEN)
    for mode, (_, lines) in files.items():
        with open(f"{RUN_DIR}/{mode}.txt", "w") as f:
            f.write("\n".join(lines) + "\n")
    out = []
    for mode in ("get_app", "totp", "list_accounts", "create_app", "hotp"):
        env = dict(env_base, AUTHD_MODE=mode, AUTHD_LABEL=mode)
        if mode in files:
            env[files[mode][0]] = f"{RUN_DIR}/{mode}.txt"
        if mode == "list_accounts":
            env["AUTHD_PATH"] = f"{APPS}/{ctx.list_app}/accounts"
        analyze()
        psql("CHECKPOINT")
        before = db_stats()
        pg_b, authd_b, t0 = instance_ticks(), cpu_ticks(AUTHD_PID), time.perf_counter()
        res = subprocess.run(
            ["timeout", "-s", "INT", "-k", "3", str(LOAD_SECS + 5), "wrk", "-t2", f"-c{LOAD_CONNS}",
             f"-d{LOAD_SECS}s", "--timeout", "5s", "--latency", "-s", f"{ROOT}/bench/authd.lua", BASE],
            env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        pg_a, authd_a = instance_ticks(), cpu_ticks(AUTHD_PID)
        lsn_end = lsn(psql("SELECT pg_current_wal_insert_lsn()")[0][0])
        line = next((x for x in res.stdout.splitlines() if x.startswith(f"{mode} rps=")), None)
        if line is None:
            log(f"load {mode}: no result line from wrk: {res.stdout[-300:]} {res.stderr[-300:]}")
            continue
        kv = dict(x.split("=", 1) for x in line.split()[1:])
        time.sleep(STATS_WAIT)
        after = db_stats()
        d = {k: after[k] - before[k] for k in STAT_COLS}
        reqs = float(kv["rps"]) * LOAD_SECS
        r = {"mode": mode, "rps": float(kv["rps"]), "p50_ms": float(kv["p50_ms"]), "p99_ms": float(kv["p99_ms"]),
             "errors": int(kv["errors"]), "requests": reqs,
             "pg_cores": (pg_a - pg_b) / TICK / wall, "authd_cores": (authd_a - authd_b) / TICK / wall,
             "pg_cpu_us": (pg_a - pg_b) * 1e6 / TICK / reqs, "authd_cpu_us": (authd_a - authd_b) * 1e6 / TICK / reqs,
             "wal_bytes": (lsn_end - before["lsn"]) / reqs, "xacts": d["xact_commit"] / reqs,
             "wal_fsyncs": d["wal_sync"] / reqs}
        log(f"load {mode}: {r['rps']:.0f} rps, PostgreSQL {r['pg_cores']:.2f} cores, authd {r['authd_cores']:.2f}")
        out.append(r)
    return out


def report_load(rows):
    print()
    print(f"# under load: wrk -t2 -c{LOAD_CONNS} -d{LOAD_SECS}s with bench/authd.lua (wrk, authd and PostgreSQL "
          f"on the same {os.cpu_count()} cores); per request unless said")
    print(f"{'mode':<14} {'rps':>7} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'PG cores':>8} {'PG µs':>6} "
          f"{'authd cores':>11} {'authd µs':>8} {'WAL B':>6} {'xacts':>5} {'fsync':>6}")
    for r in rows:
        print(f"{r['mode']:<14} {r['rps']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>4} "
              f"{r['pg_cores']:>8.2f} {r['pg_cpu_us']:>6.0f} {r['authd_cores']:>11.2f} {r['authd_cpu_us']:>8.0f} "
              f"{r['wal_bytes']:>6.0f} {r['xacts']:>5.2f} {r['wal_fsyncs']:>6.3f}")


def table_sizes():
    """Rows (live and soft-deleted alike) and bytes on disk of each table, indexes included."""
    psql("VACUUM ANALYZE", db=DB)
    out = []
    for name, rows, heap, total in psql(
            "SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid), pg_total_relation_size(c.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE '\\_\\_%'"
            " ORDER BY pg_total_relation_size(c.oid) DESC", db=DB):
        out.append({"table": name, "rows": int(rows), "heap": int(heap), "total": int(total)})
    return out


def report_sizes(sizes):
    print()
    print("# table sizes at the end (after VACUUM ANALYZE): rows, heap and heap+indexes+TOAST bytes per row")
    for t in sizes:
        per = lambda b: f"{b / t['rows']:.0f}" if t["rows"] > 0 else "-"
        print(f"{t['table']:<16} {t['rows']:>8} rows {per(t['heap']):>6} B/row heap {per(t['total']):>6} B/row total")


def backlog(ctx):
    """How long the audit sequencer takes to number a backlog of unnumbered events in one go,
    through authd (its statement timeout applies): n events inserted unnumbered by SQL after the
    statistics were taken (as when nobody read the trail for a while), then one audit read.
    Sizes in increasing order; stops at the first that fails."""
    out = []
    for n in BACKLOG:
        psql("INSERT INTO audit_events (id, org_id, seq, at, actor_kind, actor_id, action, resource_type,"
             " resource_id, request_id, details) SELECT gen_random_uuid()::text, 'dbcost', NULL,"
             " now() AT TIME ZONE 'UTC', 'cli', NULL, 'org.update', 'org',"
             f" '00000000-0000-0000-0000-000000000000', NULL, '{{}}' FROM generate_series(1, {n})", db=DB)
        psql("SELECT pg_stat_statements_reset()")
        t = time.perf_counter()
        status, _ = call("GET", f"/api/v1/audit/events?after={ctx.audit_top}&limit=1")
        ms = (time.perf_counter() - t) * 1e3
        # A statement cancelled by the timeout has an entry (it was planned) without a call.
        upd = [x for x in statements() if x["query"].startswith("UPDATE audit_events SET seq") and x["calls"] > 0]
        r = {"events": n, "status": status, "request_ms": ms,
             "sequencer_ms": upd[0]["exec_ms"] / upd[0]["calls"] if upd else None}
        log(f"backlog {n}: {status} in {ms:.0f} ms")
        out.append(r)
        if status != 200:
            break
        number_all(ctx)
    return out


def after_load(ctx):
    """The load phase's events are never numbered by it: how many are waiting, and what one
    audit read does with them."""
    waiting = int(psql("SELECT count(*) FROM audit_events WHERE seq IS NULL", db=DB)[0][0])
    t = time.perf_counter()
    status, _ = call("GET", f"/api/v1/audit/events?after={ctx.audit_top}&limit=1")
    ms = (time.perf_counter() - t) * 1e3
    log(f"after the load: {waiting} events unnumbered; an audit read answered {status} in {ms:.0f} ms")
    return {"events": waiting, "status": status, "request_ms": ms}


def report_backlog(rows):
    print()
    print("# the audit sequencer on a backlog (events inserted unnumbered after the statistics were taken, "
          "then one GET /api/v1/audit/events)")
    for r in rows:
        seq = "n/a (cancelled)" if r["sequencer_ms"] is None else f"{r['sequencer_ms']:.0f} ms"
        print(f"{r['events']:>7} events: HTTP {r['status']} after {r['request_ms']:.0f} ms; the numbering statement {seq}")


def fmt(v, digits=2):
    if v is None:
        return "n/a"
    if isinstance(v, float) and abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def report(results, meta):
    print(f"# dbcost {meta['date']} commit {meta['commit']} {meta['postgres']}")
    print(f"# authd {meta['authd']} (pool {meta['pool']}), N={N} per kind after {WARM} warm-up requests, "
          f"CONC={CONC}, {SEED_APPS} apps seeded; load average {meta['loadavg']}; per request:")
    cols = [("kind", 20), ("n", 4), ("stmts", 6), ("dist", 4), ("xacts", 5), ("rows", 6), ("w.rows", 6),
            ("WAL B", 6), ("FPI B", 6), ("fsync", 5), ("hit", 6), ("read", 5), ("dirt", 5), ("wrtn", 5),
            ("DB µs", 6), ("PGcpu", 6), ("authd", 6), ("lat ms", 6)]
    print(" ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(cols)))
    for r in results:
        vals = [r["kind"], str(r["n"]), fmt(r["stmts"]), str(r["distinct"]), fmt(r["xacts"]), fmt(r["rows"]),
                fmt(r["rows_written"]), fmt(r["wal_bytes"], 0), fmt(r["wal_fpi_bytes"], 0), fmt(r["wal_fsyncs"]),
                fmt(r["hit"], 1), fmt(r["read"]), fmt(r["dirtied"]), fmt(r["written"]), fmt(r["db_us"], 0),
                fmt(r["pg_cpu_us"], 0), fmt(r["authd_cpu_us"], 0), fmt(r["lat_mean_ms"])]
        print(" ".join(f"{v:>{w}}" if i else f"{v:<{w}}" for i, (v, (_, w)) in enumerate(zip(vals, cols))))
    print()
    print("# statements per kind: calls/request, rows/call, mean exec µs, WAL bytes/request, query")
    for r in results:
        print(f"## {r['kind']}: {r['what']}; answers {r['statuses']}")
        for s in r["statements"]:
            rows = s["rows"] / s["calls"] if s["calls"] else 0
            q = s["query"] if len(s["query"]) <= 150 else s["query"][:147] + "..."
            print(f"  {s['calls']:7.3f} {rows:6.1f} {s['mean_us']:8.1f} {s['wal_bytes']:7.0f}  {q}")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    load_start = loadavg()
    ctx = Ctx()
    setup(ctx)
    todo = [k for k in kinds(ctx) if not KINDS or k[0] in KINDS]
    log(f"warm-up: {WARM} requests of each kind (prepares every statement on the pool's connections)")
    number_all(ctx)
    for name, _, count, req in todo:
        if count > 1 and WARM:
            run_items(req, list(range(WARM)))
    number_all(ctx)
    time.sleep(STATS_WAIT)
    results = []
    for name, what, count, req in todo:
        if name == "audit_page":
            # Its requests find nothing to number: the events of the kinds before are numbered
            # first, outside the measurement.
            number_all(ctx)
            time.sleep(STATS_WAIT)
        results.append(measure(name, what, count, req, ctx))
        if name == "audit_catchup":
            number_all(ctx)
            time.sleep(STATS_WAIT)
    backlogged = backlog(ctx) if BACKLOG else []
    loaded, probe = [], None
    if LOAD:
        if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode == 0:
            loaded = load(ctx)
            probe = after_load(ctx)
        else:
            log("wrk not found: no load phase (apt-get install wrk, or LOAD=0)")
    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": os.environ.get("DBCOST_COMMIT", "?"),
        "postgres": psql("SELECT version()")[0][0].split(" on ")[0],
        "authd": os.environ.get("DBCOST_AUTHD_BIN", "?"),
        "pool": os.environ.get("DBCOST_POOL", "8"),
        "loadavg": f"{load_start} at the start, {loadavg()} at the end",
    }
    sizes = table_sizes()
    report(results, meta)
    if loaded:
        report_load(loaded)
    report_sizes(sizes)
    if backlogged:
        report_backlog(backlogged)
    if probe:
        print(f"after the load phase: {probe['events']} events unnumbered; one GET /api/v1/audit/events answered "
              f"HTTP {probe['status']} after {probe['request_ms']:.0f} ms")
    if OUT_JSON:
        with open(OUT_JSON, "w") as f:
            json.dump({"meta": meta, "n": N, "conc": CONC, "results": results, "load": loaded, "sizes": sizes,
                       "backlog": backlogged, "after_load": probe}, f, indent=1)
    hold = min(float(os.environ.get("HOLD", "0")), 1800.0)
    if hold > 0:
        log(f"holding for {hold:.0f} s: psql -h 127.0.0.1 -p {PGPORT} -U postgres -d {DB}; authd at {BASE}, "
            f"token {TOKEN}")
        sys.stdout.flush()
        time.sleep(hold)


if __name__ == "__main__":
    main()
