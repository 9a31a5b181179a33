#!/usr/bin/env python3
"""The client side of ha/failover.sh (Python 3 standard library only).

Subcommands:

  run     a bounded, paced load through every replica (--base, repeatable): per thread, in a loop,
          create an identity and its app, a TOTP and an HOTP account, generate HOTP codes (on the
          iteration's account and on one account shared by every thread of every replica),
          generate a TOTP code and verify it, and delete the app of the previous iteration every
          other iteration. Every request has a client timeout. It runs until the stop file exists
          or SIGTERM/SIGINT (or --max-seconds / --max-requests), then writes a JSON report: every
          request (replica, kind, its X-Request-Id, start, duration, status, Retry-After, body
          truncated) and what the acknowledged (2xx) writes created and deleted, the HOTP codes
          answered and the secrets of the HOTP accounts (made up here, so that a code can be
          mapped to its counter).
  probe   from the failure's injection on: polls the database (psql on the multi-host URI, a write
          that must land on another node than the old primary) and a write through each replica,
          until a new primary is writable and every replica answered --streak writes in a row
          after it, or --deadline. Writes its observations as JSON.
  check   reads the reports back through the API (after the failure was resolved) and checks:
          acknowledged creates readable, acknowledged deletes gone, no HOTP counter answered twice
          and every answered counter used up, no 5xx but 503, every request answered within
          --request-bound, every replica serving writes again within --recovery-bound; and the
          audit trail: per account, the acknowledged TOTP codes, HOTP codes and verifications
          against their otp.generate / otp.verify events (matched by request id; a lost HOTP or
          verify event is a violation, a lost TOTP event is counted: see AUDIT_KINDS). Prints
          the violations, writes a summary JSON; exit 1 when there is any.
  postmortem  the old primary's data directory restarted alone after a crash (by failover.sh):
          the audit events it has that the new primary lacks, where the lost TOTP events were,
          and its WAL past the new primary's switch point (a pg_waldump listing). Adds to the
          summary JSON.
  table   prints the summary table of several summary JSONs.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

BODY_MAX = 200

# Every request carries its own X-Request-Id (authd keeps a sane client id and records it in the
# audit events of the request), so that check can map each audit event back to its request.
RID_PREFIX = f"ha{os.getpid():x}{os.urandom(3).hex()}"
_rid = iter(range(1, 1 << 62))
_rid_lock = threading.Lock()


def new_request_id():
    with _rid_lock:
        return f"{RID_PREFIX}-{next(_rid)}"


def now():
    return time.time()


# ----------------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection to one replica; reopened after any transport error."""

    def __init__(self, base, token, timeout, replica):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.token, self.timeout, self.replica = token, timeout, replica
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def request(self, kind, method, path, body=None):
        """Returns a record: r, k, m, p, q (the X-Request-Id sent), t0, d, s (status or None),
        e (transport error or None), ra (Retry-After or None), b (body, truncated), and j (the
        parsed JSON body or None)."""
        rid = new_request_id()
        headers = {"X-Service-Token": self.token, "Connection": "keep-alive", "X-Request-Id": rid}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method == "POST":
            headers["Content-Length"] = "0"
        rec = {"r": self.replica, "k": kind, "m": method, "p": path, "q": rid, "t0": now(), "d": None,
               "s": None, "e": None, "ra": None, "b": ""}
        start = time.monotonic()
        raw = b""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            rec["s"] = resp.status
            rec["ra"] = resp.getheader("Retry-After")
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except Exception as exc:  # timeout, reset, refused: the outcome is unknown
            rec["e"] = f"{type(exc).__name__}: {exc}"[:BODY_MAX]
            self.close()
        rec["d"] = time.monotonic() - start
        rec["b"] = raw[:BODY_MAX].decode("utf-8", "replace")
        rec["j"] = None
        if raw:
            try:
                rec["j"] = json.loads(raw)
            except ValueError:
                pass
        return rec


def ok(rec):
    return rec["s"] is not None and 200 <= rec["s"] < 300


# ----------------------------------------------------------------------------------------------
# OTP
# ----------------------------------------------------------------------------------------------


def new_secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def b32decode(s):
    return base64.b32decode(s + "=" * (-len(s) % 8))


def hotp(secret_b32, counter, digits):
    mac = hmac.new(b32decode(secret_b32), counter.to_bytes(8, "big"), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = int.from_bytes(mac[off:off + 4], "big") & 0x7FFFFFFF
    return str(n % (10 ** digits)).zfill(digits)


HOTP_DIGITS = 8


def otpauth(kind, label, secret):
    if kind == "hotp":
        return (f"otpauth://hotp/ha:{label}?secret={secret}&issuer=ha&counter=0"
                f"&digits={HOTP_DIGITS}")
    return f"otpauth://totp/ha:{label}?secret={secret}&issuer=ha&digits=6&period=30"


APPS = "/api/v1/authenticator/apps"
IDENTITIES = "/api/v1/identities/"


# ----------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------


class Recorder:
    """What every thread saw, merged under a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.identities = []      # acknowledged creates: {"handle", "id"}
        self.apps = []            # {"id", "handle"}
        self.accounts = []        # {"id", "app", "type"}
        self.deleted_apps = []    # acknowledged deletes
        self.maybe_deleted = []   # a delete whose outcome is unknown (no 2xx, no 4xx)
        self.unacked_identities = []  # creates answered 503 (documented: changed nothing)
        self.hotp = []            # {"account", "app", "code", "t0", "r"}
        self.secrets = {}         # HOTP account id -> base32 secret

    def add(self, rec):
        j = rec.pop("j", None)
        with self.lock:
            self.requests.append(rec)
        return j

    def report(self, meta):
        with self.lock:
            return dict(meta, requests=self.requests, identities=self.identities, apps=self.apps,
                        accounts=self.accounts, deleted_apps=self.deleted_apps,
                        maybe_deleted_apps=self.maybe_deleted,
                        unacked_identities=self.unacked_identities, hotp=self.hotp,
                        hotp_secrets=self.secrets)


class Load:
    def __init__(self, args):
        self.args = args
        self.rec = Recorder()
        self.stop = threading.Event()
        self.deadline = now() + args.max_seconds
        self.shared = None  # (app_id, account_id) of the shared HOTP account

    def stopping(self):
        if self.stop.is_set():
            return True
        if os.path.exists(self.args.stop_file) or now() > self.deadline:
            self.stop.set()
        return self.stop.is_set()

    def call(self, client, kind, method, path, body=None):
        rec = client.request(kind, method, path, body)
        j = rec.get("j")
        self.rec.add(rec)
        return rec, j

    def create_account(self, client, kind, app_id, label):
        secret = new_secret()
        rec, j = self.call(client, f"account.create.{kind}", "POST", f"{APPS}/{app_id}/accounts",
                           {"otpauth_uri": otpauth(kind, label, secret)})
        if ok(rec) and j:
            with self.rec.lock:
                self.rec.accounts.append({"id": j["id"], "app": app_id, "type": kind})
                if kind == "hotp":
                    self.rec.secrets[j["id"]] = secret
            return j["id"]
        return None

    def hotp_generate(self, client, kind, app_id, account_id):
        rec, j = self.call(client, kind, "POST",
                           f"{APPS}/{app_id}/accounts/{account_id}/generate-otp")
        if ok(rec) and j and "otp_code" in j:
            with self.rec.lock:
                self.rec.hotp.append({"account": account_id, "app": app_id,
                                      "code": j["otp_code"], "t0": rec["t0"], "r": rec["r"]})

    def setup(self):
        """The HOTP account every thread shares (through every replica); retried until it exists."""
        client = Client(self.args.base[0], self.args.token, self.args.timeout, 0)
        handle = f"ha-{self.args.tag}-shared"
        end = now() + 60
        while now() < end and not self.stopping():
            rec, j = self.call(client, "identity.create", "POST", IDENTITIES,
                               {"agent_handle": handle})
            if ok(rec) or rec["s"] == 409:
                if ok(rec):
                    self.rec.identities.append({"handle": handle, "id": j["id"]})
                break
            time.sleep(0.5)
        while now() < end and not self.stopping():
            rec, j = self.call(client, "app.create", "POST", APPS, {"agent_handle": handle})
            if ok(rec):
                self.rec.apps.append({"id": j["id"], "handle": handle})
                app = j["id"]
                break
            time.sleep(0.5)
        else:
            sys.exit("load: could not create the shared app")
        while now() < end and not self.stopping():
            acc = self.create_account(client, "hotp", app, "shared")
            if acc:
                self.shared = (app, acc)
                break
            time.sleep(0.5)
        client.close()
        if not self.shared:
            sys.exit("load: could not create the shared HOTP account")

    def worker(self, replica, thread):
        a = self.args
        client = Client(a.base[replica], a.token, a.timeout, replica)
        rnd = random.Random(replica * 1000 + thread)
        self.stop.wait(rnd.random() * a.pace)
        prev_app = None
        n = 0
        i = 0

        def pace():
            nonlocal n
            n += 1
            if n >= a.max_requests:
                self.stop.set()
            self.stop.wait(a.pace)
            return self.stopping()

        while not self.stopping():
            i += 1
            handle = f"ha-{a.tag}-r{replica}t{thread}-{i}"
            rec, j = self.call(client, "identity.create", "POST", IDENTITIES,
                               {"agent_handle": handle})
            if ok(rec):
                with self.rec.lock:
                    self.rec.identities.append({"handle": handle, "id": j["id"]})
            elif rec["s"] == 503:
                with self.rec.lock:
                    self.rec.unacked_identities.append(handle)
            if pace() or not ok(rec):
                continue
            rec, j = self.call(client, "app.create", "POST", APPS, {"agent_handle": handle})
            if pace() or not ok(rec):
                continue
            app = j["id"]
            with self.rec.lock:
                self.rec.apps.append({"id": app, "handle": handle})
            totp = self.create_account(client, "totp", app, f"{handle}-totp")
            if pace():
                continue
            hot = self.create_account(client, "hotp", app, f"{handle}-hotp")
            if pace():
                continue
            stopped = False
            for _ in range(a.hotp_per_iteration if hot else 0):
                self.hotp_generate(client, "hotp.generate", app, hot)
                if pace():
                    stopped = True
                    break
            if stopped:
                continue
            self.hotp_generate(client, "hotp.generate.shared", *self.shared)
            if pace():
                continue
            if totp:
                rec, j = self.call(client, "totp.generate", "POST",
                                   f"{APPS}/{app}/accounts/{totp}/generate-otp")
                if pace():
                    continue
                if ok(rec) and j and "otp_code" in j:
                    self.call(client, "totp.verify", "POST",
                              f"{APPS}/{app}/accounts/{totp}/verify", {"otp_code": j["otp_code"]})
                    if pace():
                        continue
            if prev_app and i % 2 == 0:
                rec, _ = self.call(client, "app.delete", "DELETE", f"{APPS}/{prev_app}")
                with self.rec.lock:
                    if ok(rec):
                        self.rec.deleted_apps.append(prev_app)
                    elif rec["s"] is None or rec["s"] >= 500:
                        self.rec.maybe_deleted.append(prev_app)
                if pace():
                    continue
            prev_app = app
        client.close()

    def main(self):
        a = self.args
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        started = now()
        self.setup()
        threads = [threading.Thread(target=self.worker, args=(r, t), daemon=True)
                   for r in range(len(a.base)) for t in range(a.threads)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            self.stopping()
            time.sleep(0.1)
        for t in threads:
            t.join()
        rep = self.rec.report({"tag": a.tag, "replicas": a.base, "started": started,
                               "stopped": now(), "shared": self.shared,
                               "timeout": a.timeout})
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f)
        os.replace(tmp, a.out)
        print(f"load: {len(rep['requests'])} requests in {rep['stopped'] - started:.1f} s",
              file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# probe
# ----------------------------------------------------------------------------------------------


def probe(args):
    t0 = args.t0
    end = t0 + args.deadline
    out = {"t0": t0, "db": [], "replicas": {}, "new_primary_at": None, "new_primary_port": None,
           "identities": [], "done": False}
    lock = threading.Lock()
    db_done = threading.Event()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    # The other nodes of the multi-host URI, each on its own (a frozen old primary first in the
    # list would otherwise cost every poll its connect_timeout).
    u = urllib.parse.urlsplit(args.db_uri)
    userinfo, _, hosts = u.netloc.rpartition("@")
    others = [h for h in hosts.split(",") if not h.endswith(f":{args.old_primary_port}")]
    query = u.query + ("&" if u.query else "") + "connect_timeout=2"
    uris = [urllib.parse.urlunsplit((u.scheme, (userinfo + "@" if userinfo else "") + h, u.path,
                                     query, "")) for h in others]

    def db():
        while not stop.is_set() and now() < end:
            for uri in uris:
                s = now()
                port, err = None, None
                try:
                    p = subprocess.run(["psql", uri, "-XAtqc",
                                        "select inet_server_port(), txid_current()"],
                                       capture_output=True, text=True, timeout=4)
                    if p.returncode == 0:
                        port = int(p.stdout.strip().split("|")[0])
                    else:
                        err = p.stderr.strip()[-200:]
                except subprocess.TimeoutExpired:
                    err = "psql timed out (4 s)"
                e = now()
                with lock:
                    out["db"].append({"t0": s, "d": e - s, "port": port, "e": err})
                if port is not None:
                    with lock:
                        out["new_primary_at"] = e - t0
                        out["new_primary_port"] = port
                    db_done.set()
                    return
            stop.wait(args.interval)

    def replica(r, base):
        client = Client(base, args.token, args.timeout, r)
        recs = []
        with lock:
            out["replicas"][str(r)] = recs
        streak, n = 0, 0
        while not stop.is_set() and now() < end:
            n += 1
            handle = f"ha-{args.tag}-probe-r{r}-{n}"
            rec = client.request("probe.identity.create", "POST", IDENTITIES,
                                 {"agent_handle": handle})
            j = rec.pop("j", None)
            after = db_done.is_set()
            with lock:
                recs.append(rec)
                if ok(rec) and j:
                    out["identities"].append({"handle": handle, "id": j["id"]})
            streak = streak + 1 if (ok(rec) and after) else 0
            if streak >= args.streak:
                break
            stop.wait(args.interval)
        client.close()

    threads = [threading.Thread(target=db, daemon=True)]
    threads += [threading.Thread(target=replica, args=(r, b), daemon=True)
                for r, b in enumerate(args.base)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
            if now() > end + args.timeout + 5:
                break
    stop.set()
    with lock:
        out["done"] = db_done.is_set() and all(
            len(v) >= args.streak and all(ok(x) for x in v[-args.streak:])
            for v in out["replicas"].values())
        out["ended"] = now()
        with open(args.out, "w") as f:
            json.dump(out, f)
    print(f"probe: new primary writable after "
          f"{out['new_primary_at'] if out['new_primary_at'] is not None else 'NEVER'} s, "
          f"replicas serving writes: {'yes' if out['done'] else 'NO (deadline)'}",
          file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------------------


def parallel(items, fn, threads=4):
    """fn(item) for every item, on a few threads; the results in order."""
    results = [None] * len(items)
    idx = iter(range(len(items)))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                i = next(idx, None)
            if i is None:
                return
            results[i] = fn(items[i])

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


# The audit events a request of the load must leave (authd commits each with its effect):
#   totp  `otp.generate` of a TOTP account: an event that records no change, its own
#         transaction, committed on PostgreSQL with synchronous_commit off (InsertEventAsync in
#         crates/storage-diesel/src/repo/audit.rs): a crash of the primary, or a failover to a
#         standby that had not received it, may lose it. Counted, not a violation.
#   hotp  `otp.generate` of an HOTP account: in the statement that advances the counter
#         (AdvanceCounterAudited), synchronous. A lost one is a violation.
#   verify `otp.verify`: in the transaction that records the outcome (repo.rs with_event),
#         synchronous. A lost one is a violation.
AUDIT_KINDS = (
    ("totp", "otp.generate", ("totp.generate",)),
    ("hotp", "otp.generate", ("hotp.generate", "hotp.generate.shared")),
    ("verify", "otp.verify", ("totp.verify",)),
)
AUDIT_PAGE = 1000   # the API's largest page
AUDIT_IDS_MAX = 200  # request ids kept per list in the summary


def account_of(r):
    return r["p"].split("/accounts/")[1].split("/")[0]


def audit_events(get, action, account):
    """Every event of one action about one account, paging with after=next until a page is
    empty; None when a page could not be read."""
    events, after = [], None
    for _ in range(10000):
        path = (f"/api/v1/audit/events?action={action}&resource_id={account}&limit={AUDIT_PAGE}"
                + (f"&after={after}" if after is not None else ""))
        rec = get(path)
        j = rec.get("j") if rec else None
        if rec is None or rec["s"] != 200 or not isinstance(j, dict):
            return None, rec
        page = j.get("events") or []
        if not page:
            return events, rec
        events.extend(page)
        if j.get("next") is None or str(j.get("next")) == str(after):
            return events, rec
        after = j["next"]
    return events, None


def audit_check(reqs, get, t0):
    """Per kind: the acknowledged (200) requests against the events that exist now, matched by
    request id (and, as a cross-check, counted per account). Returns (summary, violations)."""
    violations = []
    out = {}
    fetch = []
    by_kind = {}
    for name, action, kinds in AUDIT_KINDS:
        mine = [r for r in reqs if r["k"] in kinds]
        by_kind[name] = mine
        for acc in sorted({account_of(r) for r in mine}):
            fetch.append((name, action, acc))
    got = parallel(fetch, lambda x: audit_events(get, x[1], x[2]), threads=8)
    events = {}  # (name, account) -> [event]
    for (name, action, acc), (evs, rec) in zip(fetch, got):
        if evs is None:
            violations.append(f"audit events of account {acc} ({action}) unreadable: "
                              f"{rec and rec['s']} {rec and (rec['e'] or rec['b'][:80])}")
            evs = []
        events[(name, acc)] = evs
    for name, action, _ in AUDIT_KINDS:
        mine = by_kind[name]
        accs = sorted({account_of(r) for r in mine})
        rids = {}
        for acc in accs:
            for e in events[(name, acc)]:
                q = e.get("request_id")
                rids[q] = rids.get(q, 0) + 1
        sent = {r["q"] for r in mine}
        acked = [r for r in mine if r["s"] == 200]
        lost = [r for r in acked if r["q"] not in rids]
        s503 = [r for r in mine if r["s"] == 503]
        noans = [r for r in mine if r["s"] is None]
        # per account: acknowledged requests against events, whatever request they came from
        by_count = 0
        for acc in accs:
            n_ack = sum(1 for r in acked if account_of(r) == acc)
            by_count += max(0, n_ack - len(events[(name, acc)]))
        out[name] = {
            "action": action,
            "accounts": len(accs),
            "requests": len(mine),
            "acked": len(acked),
            "events": sum(len(events[(name, a)]) for a in accs),
            "found": len(acked) - len(lost),
            "lost": len(lost),
            "lost_by_count": by_count,
            "s503": len(s503),
            "s503_with_event": sum(1 for r in s503 if r["q"] in rids),
            "no_answer": len(noans),
            "no_answer_with_event": sum(1 for r in noans if r["q"] in rids),
            "other_with_event": sum(1 for r in mine if r["s"] not in (200, 503, None)
                                    and r["q"] in rids),
            "events_of_no_request": sum(n for q, n in rids.items() if q not in sent),
            "request_ids_twice": sum(1 for q, n in rids.items() if n > 1 and q in sent),
            # the lost ones: request id, replica, answered at (seconds from the injection)
            "lost_requests": [{"q": r["q"], "r": r["r"], "a": round(r["t0"] + r["d"] - t0, 3)}
                              for r in lost[:AUDIT_IDS_MAX]],
            "s503_with_event_ids": [r["q"] for r in s503 if r["q"] in rids][:AUDIT_IDS_MAX],
        }
        if name != "totp" and lost:
            violations.append(f"{len(lost)} of {len(acked)} acknowledged {name} requests left no "
                              f"{action} audit event (first: {lost[0]['q']} on replica "
                              f"{lost[0]['r']}, answered at t{lost[0]['t0'] + lost[0]['d'] - t0:+.2f}s)")
    return out, violations


def audit_line(name, a):
    s = (f"{name}: {a['acked']} acknowledged, {a['found']} with their {a['action']} event, "
         f"{a['lost']} lost")
    if a["lost"]:
        s += " (answered at t" + ", t".join(f"{x['a']:+.2f}s" for x in a["lost_requests"][:10]) + ")"
    if a["lost_by_count"] != a["lost"]:
        s += f", {a['lost_by_count']} by count per account"
    s += (f"; {a['s503']} answered 503 ({a['s503_with_event']} with an event), "
          f"{a['no_answer']} without an answer ({a['no_answer_with_event']} with an event)")
    extra = []
    if a["other_with_event"]:
        extra.append(f"{a['other_with_event']} other statuses with an event")
    if a["events_of_no_request"]:
        extra.append(f"{a['events_of_no_request']} events of no request of the load")
    if a["request_ids_twice"]:
        extra.append(f"{a['request_ids_twice']} request ids with two events or more")
    if extra:
        s += "; " + ", ".join(extra)
    return s


def check(args):
    with open(args.load) as f:
        load = json.load(f)
    with open(args.probe) as f:
        prb = json.load(f)
    t0 = args.t0
    violations = []
    info = []
    reqs = load["requests"]
    probe_reqs = [r for v in prb["replicas"].values() for r in v]
    every = reqs + probe_reqs

    # Read back through the API, retrying what is not yet answered (bounded).
    local = threading.local()

    def get(path):
        if not hasattr(local, "c"):
            local.c = [Client(b, args.token, 10, i) for i, b in enumerate(args.base)]
        last = None
        for attempt in range(args.read_retries):
            c = local.c[attempt % len(local.c)]
            rec = c.request("check", "GET", path)
            if rec["s"] is not None and rec["s"] < 500:
                return rec
            last = rec
            time.sleep(1)
        return last

    deleted = set(load["deleted_apps"])
    maybe = set(load["maybe_deleted_apps"])
    idents = load["identities"] + prb["identities"]
    r_ident = parallel(idents, lambda x: get(f"{IDENTITIES}{x['handle']}"))
    for x, rec in zip(idents, r_ident):
        if rec["s"] != 200:
            violations.append(f"acknowledged identity {x['handle']} not readable: "
                              f"{rec['s']} {rec['e'] or rec['b'][:80]}")
    r_apps = parallel(load["apps"], lambda x: get(f"{APPS}/{x['id']}"))
    for x, rec in zip(load["apps"], r_apps):
        if x["id"] in maybe:
            continue
        want = 404 if x["id"] in deleted else 200
        if rec["s"] != want:
            violations.append(f"app {x['id']} ({'deleted' if want == 404 else 'created'}, "
                              f"acknowledged) answers {rec['s']} {rec['e'] or rec['b'][:80]}")
    accs = [a for a in load["accounts"] if a["app"] not in maybe]
    r_acc = parallel(accs, lambda x: get(f"{APPS}/{x['app']}/accounts/{x['id']}"))
    counters = {}
    for x, rec in zip(accs, r_acc):
        want = 404 if x["app"] in deleted else 200
        if rec["s"] != want:
            violations.append(f"{x['type']} account {x['id']} (app "
                              f"{'deleted' if want == 404 else 'live'}) answers {rec['s']} "
                              f"{rec['e'] or rec['b'][:80]}")
        elif want == 200 and x["type"] == "hotp":
            counters[x["id"]] = (rec.get("j") or {}).get("counter")
    unacked = load.get("unacked_identities", [])
    r_un = parallel(unacked, lambda h: get(f"{IDENTITIES}{h}"))
    exist_anyway = [h for h, rec in zip(unacked, r_un) if rec["s"] == 200]
    if unacked:
        info.append(f"{len(unacked)} identity creates answered 503; {len(exist_anyway)} of them "
                    f"exist anyway")

    # HOTP: every answered code mapped to its counter (the secrets are ours); no counter twice,
    # and the stored counter past every answered one.
    by_acc = {}
    attempts = {}
    for r in reqs:
        if r["k"].startswith("hotp.generate"):
            acc = r["p"].split("/accounts/")[1].split("/")[0]
            attempts[acc] = attempts.get(acc, 0) + 1
    for h in load["hotp"]:
        by_acc.setdefault(h["account"], []).append(h)
    hotp_dupes = 0
    for acc, codes in by_acc.items():
        secret = load["hotp_secrets"].get(acc)
        if not secret:
            violations.append(f"HOTP account {acc}: no secret recorded")
            continue
        table = {}
        for c in range(attempts.get(acc, 0) + 2):
            table.setdefault(hotp(secret, c, HOTP_DIGITS), c)
        seen = {}
        for h in codes:
            c = table.get(h["code"])
            if c is None:
                violations.append(f"HOTP account {acc}: code {h['code']} matches no counter "
                                  f"0..{attempts.get(acc, 0) + 1}")
                continue
            if c in seen:
                hotp_dupes += 1
                violations.append(f"HOTP account {acc}: counter {c} (code {h['code']}) answered "
                                  f"twice (replica {seen[c]['r']} and {h['r']})")
            seen[c] = h
        if seen and acc in counters:
            stored = counters[acc]
            if stored is None or stored <= max(seen):
                violations.append(f"HOTP account {acc}: stored counter {stored} but counter "
                                  f"{max(seen)} was answered (it would be answered again)")

    # The audit trail: the events of every TOTP and HOTP code and every verification.
    audit, audit_violations = audit_check(reqs, get, t0)
    violations.extend(audit_violations)

    # Statuses and durations.
    five = [r for r in every if r["s"] is not None and r["s"] >= 500]
    s503 = [r for r in five if r["s"] == 503]
    other5 = [r for r in five if r["s"] != 503]
    for r in other5[:10]:
        violations.append(f"{r['k']} on replica {r['r']} answered {r['s']}: {r['b'][:100]}")
    if len(other5) > 10:
        violations.append(f"... {len(other5) - 10} more non-503 5xx")
    transport = [r for r in every if r["s"] is None]
    for r in transport[:5]:
        violations.append(f"{r['k']} on replica {r['r']} at t{r['t0'] - t0:+.1f}s got no answer "
                          f"after {r['d']:.1f} s: {r['e']}")
    if len(transport) > 5:
        violations.append(f"... {len(transport) - 5} more requests without an answer")
    no_ra = [r for r in every if r["s"] == 503 and not r.get("ra")]
    if no_ra:
        violations.append(f"{len(no_ra)} 503s without Retry-After (first: {no_ra[0]['k']} on replica {no_ra[0]['r']})")
    max_d = max((r["d"] for r in every), default=0.0)
    slow = [r for r in every if r["d"] > args.request_bound]
    if slow:
        violations.append(f"{len(slow)} requests took longer than REQUEST_BOUND_S="
                          f"{args.request_bound:g} (max {max_d:.2f} s)")
    bad_verify = [r for r in reqs if r["k"] == "totp.verify" and r["s"] == 200
                  and '"valid":true' not in r["b"].replace(" ", "")]
    if bad_verify:
        info.append(f"{len(bad_verify)} verifications of a just generated TOTP code were not valid")

    # Recovery: per replica, the first successful write after the last failed one (from the
    # injection until the load stopped; a 4xx is an answer, not a failure).
    def failed(r):
        return r["s"] is None or r["s"] >= 500

    recov = {}
    for i in range(len(args.base)):
        mine = sorted((r for r in every if r["r"] == i and r["t0"] + r["d"] >= t0),
                      key=lambda r: r["t0"] + r["d"])
        last_fail = max((r["t0"] + r["d"] for r in mine if failed(r)), default=None)
        if last_fail is None:
            recov[i] = 0.0
            continue
        after = [r["t0"] + r["d"] for r in mine if ok(r) and r["t0"] + r["d"] > last_fail]
        recov[i] = (min(after) - t0) if after else None
    both = None if any(v is None for v in recov.values()) else max(recov.values(), default=0.0)
    if both is None:
        violations.append("a replica never served writes again after the failure: "
                          + ", ".join(f"replica {i}: {'never' if v is None else f'{v:.1f} s'}"
                                      for i, v in recov.items()))
    elif both > args.recovery_bound:
        violations.append(f"both replicas served writes again only {both:.1f} s after the "
                          f"injection (RECOVERY_BOUND_S={args.recovery_bound:g})")
    if not prb["done"]:
        violations.append("the probe gave up: no new writable primary or a replica not serving "
                          "writes within its deadline")

    per_replica = {}
    for r in every:
        per_replica[r["r"]] = per_replica.get(r["r"], 0) + 1
    summary = {
        "scenario": args.scenario,
        "requests": [per_replica.get(i, 0) for i in range(len(args.base))],
        "load_requests": len(reqs),
        "s503": len(s503),
        "s503_retry_after": sum(1 for r in s503 if r.get("ra")),
        "other_5xx": len(other5),
        "no_answer": len(transport),
        "max_request_s": round(max_d, 3),
        "max_503_s": round(max((r["d"] for r in s503), default=0.0), 3),
        "new_primary_writable_s": prb["new_primary_at"],
        "replicas_writable_s": {str(k): v for k, v in recov.items()},
        "both_replicas_writable_s": both,
        "hotp_codes": len(load["hotp"]),
        "hotp_dupes": hotp_dupes,
        "acked_creates": len(idents) + len(load["apps"]) + len(load["accounts"]),
        "acked_deletes": len(deleted),
        "audit": audit,
        "violations": violations,
        "info": info,
        "extra": args.extra and json.loads(args.extra),
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"check {args.scenario}: {summary['requests']} requests per replica, "
          f"{len(s503)} x 503 ({summary['s503_retry_after']} with Retry-After), "
          f"max request {max_d:.2f} s, max 503 {summary['max_503_s']:.2f} s, "
          f"new primary writable {prb['new_primary_at']} s, both replicas writing "
          f"{'never' if both is None else f'{both:.2f} s'}")
    for name, _, _ in AUDIT_KINDS:
        print(f"  audit {audit_line(name, audit[name])}")
    for i in info:
        print(f"  info: {i}")
    for v in violations:
        print(f"  VIOLATION: {v}")
    return 1 if violations else 0


# ----------------------------------------------------------------------------------------------
# postmortem
# ----------------------------------------------------------------------------------------------


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def psql_rows(port, sql):
    p = subprocess.run(["psql", f"host=127.0.0.1 port={port} dbname=authd user=postgres "
                        "sslmode=prefer connect_timeout=3", "-XAtq", "-F", "\t", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"psql on port {port}: {p.stderr.strip()[-300:]}")
    return [line.split("\t") for line in p.stdout.splitlines() if line]


def postmortem(args):
    """The old primary's data directory, restarted on its own after the failover (crash
    recovery replays the WAL it had written before it was killed), against the new primary:
    which events the old primary had that the new one lacks, and where the lost TOTP events
    were. Adds "postmortem" to the summary JSON."""
    with open(args.summary) as f:
        summary = json.load(f)
    with open(args.load) as f:
        load = json.load(f)
    sent = {r["q"]: (r["k"], r["s"]) for r in load["requests"] if "q" in r}
    sql = "select id, action, coalesce(request_id, '') from audit_events"
    old = {row[0]: row for row in psql_rows(args.old_port, sql)}
    new = {row[0]: row for row in psql_rows(args.new_port, sql)}
    only_old = [old[i] for i in old if i not in new]
    by = {}
    for _, action, q in only_old:
        if q in sent:
            kind, st = sent[q]
            key = f"{action} of {kind} answered {st if st is not None else 'nothing'}"
        else:
            key = f"{action} of {'a request not of the load' if q else 'no request'}"
        by[key] = by.get(key, 0) + 1
    old_rids = {row[2] for row in old.values() if row[1] == "otp.generate"}
    lost = (summary.get("audit") or {}).get("totp", {}).get("lost_requests", [])
    on_old = [x for x in lost if x["q"] in old_rids]

    # pg_waldump of the old primary's WAL from the switch point on (before its restart)
    wal = {"switch_lsn": args.switch_lsn, "records": 0, "commits": 0, "last_lsn": None,
           "bytes_after_switch": None, "end": None}
    try:
        with open(args.wal, errors="replace") as f:
            for line in f:
                if line.startswith("rmgr:"):
                    wal["records"] += 1
                    if "desc: COMMIT" in line:
                        wal["commits"] += 1
                    m = line.split("lsn: ", 1)
                    if len(m) == 2:
                        wal["last_lsn"] = m[1].split(",", 1)[0].strip()
                elif line.strip():
                    wal["end"] = line.strip()[-200:]
        if wal["last_lsn"] and args.switch_lsn:
            wal["bytes_after_switch"] = lsn(wal["last_lsn"]) - lsn(args.switch_lsn)
    except (OSError, ValueError) as exc:
        wal["end"] = f"unreadable: {exc}"
    pm = {
        "old_events": len(old),
        "new_events": len(new),
        "only_on_old": len(only_old),
        "only_on_old_by_action_and_answer": by,
        "totp_lost": len(lost),
        "totp_lost_on_old_primary": len(on_old),
        "totp_lost_on_old_primary_ids": [x["q"] for x in on_old],
        "wal": wal,
    }
    summary["postmortem"] = pm
    with open(args.summary, "w") as f:
        json.dump(summary, f, indent=1)
    for line in postmortem_lines(pm):
        print(f"postmortem {summary['scenario']}: {line}")


def postmortem_lines(pm):
    w = pm["wal"]
    lines = [
        f"its WAL after the new primary's switch point {w['switch_lsn']}: {w['records']} records, "
        f"{w['commits']} commits"
        + (f", the last one {w['bytes_after_switch']} bytes past it (at {w['last_lsn']})"
           if w["bytes_after_switch"] is not None else ""),
        f"restarted alone: {pm['old_events']} audit events, {pm['only_on_old']} of them missing "
        f"on the new primary"
        + (": " + ", ".join(f"{n} {k}" for k, n in sorted(pm["only_on_old_by_action_and_answer"].items()))
           if pm["only_on_old"] else ""),
        f"of the {pm['totp_lost']} lost TOTP events, {pm['totp_lost_on_old_primary']} are in the "
        f"old primary's WAL files (written there, never received by the standby), "
        f"{pm['totp_lost'] - pm['totp_lost_on_old_primary']} are not (only in its WAL buffers "
        f"when it was killed)",
    ]
    return lines


# ----------------------------------------------------------------------------------------------
# table
# ----------------------------------------------------------------------------------------------


def table(args):
    rows = []
    for p in args.summaries:
        with open(p) as f:
            rows.append(json.load(f))

    def fmt(v, nd=1):
        if v is None:
            return "never"
        return f"{v:.{nd}f}"

    def lost(s, name):
        a = (s.get("audit") or {}).get(name)
        return f"{a['lost']}/{a['acked']}" if a else "-"

    def with_event(s):
        a = s.get("audit") or {}
        return "/".join(str(a[n]["s503_with_event"]) if n in a else "-" for n, _, _ in AUDIT_KINDS)

    head = ["scenario", "req/replica", "503", "503+RA", "5xx!", "no-ans", "max req s",
            "max 503 s", "primary s", "replicas s", "HOTP", "dup", "TOTP ev lost",
            "HOTP ev lost", "verify ev lost", "503 ev t/h/v", "violations"]
    lines = [head]
    for s in rows:
        lines.append([s["scenario"], "/".join(str(n) for n in s["requests"]), str(s["s503"]),
                      str(s["s503_retry_after"]), str(s["other_5xx"]), str(s["no_answer"]),
                      fmt(s["max_request_s"], 2), fmt(s["max_503_s"], 2),
                      fmt(s["new_primary_writable_s"]),
                      fmt(s["both_replicas_writable_s"]), str(s["hotp_codes"]),
                      str(s["hotp_dupes"]), lost(s, "totp"), lost(s, "hotp"), lost(s, "verify"),
                      with_event(s), str(len(s["violations"]))])
    w = [max(len(r[i]) for r in lines) for i in range(len(head))]
    for n, r in enumerate(lines):
        print("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)))
        if n == 0:
            print("  ".join("-" * x for x in w))
    print("req/replica: requests of the load and the probe; 503+RA: 503s with Retry-After; "
          "5xx!: other 5xx;\nno-ans: no answer within the client timeout; primary s: injection "
          "-> a write on the new primary;\nreplicas s: injection -> both replicas serving writes "
          "again (the first success after the last failure);\nHOTP: codes answered; dup: a "
          "counter answered twice;\nTOTP/HOTP/verify ev lost: acknowledged (200) TOTP codes, "
          "HOTP codes, verifications whose otp.generate/otp.verify\naudit event is missing "
          "afterwards, of all acknowledged (TOTP: committed asynchronously, counted, not a "
          "violation;\nHOTP and verify: a violation); 503 ev: requests answered 503 that left "
          "an event anyway (not a violation)")
    for s in rows:
        extra = s.get("extra") or {}
        if extra:
            sync = ""
            if extra.get("synchronous_standby_names") is not None:
                sync = (f"; old primary: synchronous_commit={extra.get('synchronous_commit')}, "
                        f"synchronous_standby_names='{extra.get('synchronous_standby_names')}'")
            print(f"{s['scenario']}: cluster built in {extra.get('cluster_s')} s, authd up in "
                  f"{extra.get('authd_s')} s, {s['acked_creates']} acknowledged creates, "
                  f"{s['acked_deletes']} acknowledged deletes checked{sync}")
        for name, _, _ in AUDIT_KINDS:
            if name in (s.get("audit") or {}):
                print(f"  audit {audit_line(name, s['audit'][name])}")
        pm = s.get("postmortem")
        if pm:
            for line in postmortem_lines(pm):
                print(f"  old primary: {line}")
    bad = sum(1 for s in rows if s["violations"])
    print(f"failover: {len(rows) - bad} passed, {bad} failed")


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run")
    r.add_argument("--base", action="append", required=True)
    r.add_argument("--token", required=True)
    r.add_argument("--tag", required=True)
    r.add_argument("--threads", type=int, default=4, help="per replica")
    r.add_argument("--timeout", type=float, default=10.0, help="client timeout per request")
    r.add_argument("--pace", type=float, default=0.05, help="pause between a thread's requests")
    r.add_argument("--hotp-per-iteration", type=int, default=3)
    r.add_argument("--stop-file", required=True)
    r.add_argument("--max-seconds", type=float, default=600.0)
    r.add_argument("--max-requests", type=int, default=20000, help="per thread")
    r.add_argument("--out", required=True)

    p = sub.add_parser("probe")
    p.add_argument("--base", action="append", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--db-uri", required=True)
    p.add_argument("--old-primary-port", type=int, required=True)
    p.add_argument("--t0", type=float, required=True, help="the injection, epoch seconds")
    p.add_argument("--deadline", type=float, required=True, help="seconds after --t0")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--streak", type=int, default=3)
    p.add_argument("--out", required=True)

    c = sub.add_parser("check")
    c.add_argument("--base", action="append", required=True)
    c.add_argument("--token", required=True)
    c.add_argument("--scenario", required=True)
    c.add_argument("--load", required=True)
    c.add_argument("--probe", required=True)
    c.add_argument("--t0", type=float, required=True)
    c.add_argument("--request-bound", type=float, required=True)
    c.add_argument("--recovery-bound", type=float, required=True)
    c.add_argument("--read-retries", type=int, default=5)
    c.add_argument("--extra", default="", help="a JSON object copied into the summary")
    c.add_argument("--out", required=True)

    m = sub.add_parser("postmortem")
    m.add_argument("--summary", required=True, help="the scenario's summary JSON (updated)")
    m.add_argument("--load", required=True)
    m.add_argument("--old-port", type=int, required=True, help="the old primary, restarted alone")
    m.add_argument("--new-port", type=int, required=True)
    m.add_argument("--switch-lsn", default="", help="where the new primary's timeline began")
    m.add_argument("--wal", required=True, help="pg_waldump of the old primary from there on")

    t = sub.add_parser("table")
    t.add_argument("summaries", nargs="+")

    args = ap.parse_args()
    if args.cmd == "run":
        Load(args).main()
    elif args.cmd == "probe":
        probe(args)
    elif args.cmd == "check":
        sys.exit(check(args))
    elif args.cmd == "postmortem":
        postmortem(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
