"""Master key rotation against the real binary: promotion, online rewrap under load, a SIGKILL
mid-rewrap, and the codes afterwards checked with an independent generator (pyotp).

Run by e2e/rotation.sh (which builds the virtualenv): each test starts its own `authd serve`
processes on a fresh database, one replica on SQLite, two on PostgreSQL
(ROTATION_BACKEND=postgres, ROTATION_PG_URL: a role that may create databases).

Environment:
  AUTHD_BIN          the authd binary (default target/debug/authd)
  ROTATION_BACKEND   sqlite (default) or postgres
  ROTATION_PG_URL    postgres://... of a role that may create databases (postgres backend)
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pyotp
import pytest

BIN = os.path.abspath(os.environ.get("AUTHD_BIN", "target/debug/authd"))
BACKEND = os.environ.get("ROTATION_BACKEND", "sqlite")
PG_URL = os.environ.get("ROTATION_PG_URL", "")
ORG = "rotation"
APPS = "/api/v1/authenticator/apps"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


K0, K2 = new_key(), new_key()
OLD_RING = f"0:{K0}"
BOTH_RING = f"0:{K0},k2:{K2}"
NEW_RING = f"k2:{K2}"


# --------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(db: str, ring: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    env.update(AUTHD_DATABASE_URL=db, AUTHD_MASTER_KEY=ring, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env


@dataclass
class Replica:
    proc: subprocess.Popen
    url: str
    log: str


def start(db: str, ring: str, tmp: str) -> Replica:
    port = free_port()
    log = os.path.join(tmp, f"authd-{port}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([BIN, "serve", "--bind", f"127.0.0.1:{port}"], env=env_for(db, ring),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"authd exited with {proc.returncode}: {open(log).read()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Replica(proc, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"authd did not become healthy: {open(log).read()[-2000:]}")


def stop(r: Replica) -> None:
    if r.proc.poll() is None:
        r.proc.send_signal(signal.SIGTERM)
        r.proc.wait(timeout=30)


def cli(db: str, ring: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([BIN, *args], env=env_for(db, ring), capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"authd {' '.join(args)}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def key_status(db: str, ring: str) -> dict:
    return json.loads(cli(db, ring, "key", "status", "--json").stdout)


def wait_until(what: str, cond, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------------------
# the API


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-Service-Token": token}, timeout=30)


@dataclass
class Account:
    app: str
    id: str
    secret: str
    kind: str  # totp | hotp
    counter: int = 0  # hotp: the next counter
    display_name: str | None = None
    deleted: bool = False


def create_app(c: httpx.Client) -> str:
    r = c.post(APPS, json={})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def create_account(c: httpx.Client, app: str, kind: str, counter: int = 0) -> Account:
    secret = pyotp.random_base32()
    uri = (f"otpauth://totp/Rot:{uuid.uuid4().hex[:8]}?secret={secret}&issuer=Rot" if kind == "totp"
           else f"otpauth://hotp/Rot:{uuid.uuid4().hex[:8]}?secret={secret}&counter={counter}")
    r = c.post(f"{APPS}/{app}/accounts", json={"otpauth_uri": uri})
    assert r.status_code == 201, r.text
    return Account(app, r.json()["id"], secret, kind, counter)


def generate(c: httpx.Client, a: Account) -> tuple[httpx.Response, float, float]:
    t0 = time.time()
    r = c.post(f"{APPS}/{a.app}/accounts/{a.id}/generate-otp")
    return r, t0, time.time()


def totp_ok(a: Account, code: str, t0: float, t1: float) -> bool:
    t = pyotp.TOTP(a.secret)
    return code in {t.at(t0), t.at(t1)}


def check_codes(c: httpx.Client, accounts: list[Account]) -> None:
    """Every live account's next code equals pyotp's (HOTP: at its expected counter)."""
    for a in accounts:
        if a.deleted:
            continue
        r, t0, t1 = generate(c, a)
        assert r.status_code == 200, f"{a.id}: {r.status_code} {r.text}"
        code = r.json()["otp_code"]
        if a.kind == "totp":
            assert totp_ok(a, code, t0, t1), f"TOTP of {a.id} differs from pyotp"
        else:
            assert code == pyotp.HOTP(a.secret).at(a.counter), f"HOTP of {a.id} at {a.counter} differs from pyotp"
            a.counter += 1


def audit_rewraps(c: httpx.Client) -> list[str]:
    """The resource ids of every account.rewrap event of the organization."""
    ids, after = [], None
    while True:
        params = {"action": "account.rewrap", "limit": 1000}
        if after is not None:
            params["after"] = after
        r = c.get("/api/v1/audit/events", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [e["resource"]["id"] for e in page["events"]]
        if not page["events"]:
            return ids
        after = page["next"]


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def db():
    tmp = tempfile.mkdtemp(prefix="authd-rotation.")
    if BACKEND == "postgres":
        assert PG_URL, "ROTATION_PG_URL is required for the postgres backend"
        name = f"authd_rot_{uuid.uuid4().hex[:12]}"
        subprocess.run(["psql", PG_URL, "-qc", f"CREATE DATABASE {name}"], check=True)
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        yield url, tmp
        subprocess.run(["psql", PG_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    else:
        yield f"sqlite://{tmp}/authd.sqlite", tmp


REPLICAS = 2 if BACKEND == "postgres" else 1


# --------------------------------------------------------------------------------------
# the load


@dataclass
class Load:
    """Threads generating (TOTP, HOTP), verifying (HOTP), creating, patching and deleting through every replica
    while the key rotates; every answer checked, every failure kept."""

    urls: list[str]
    token: str
    totp: list[Account]
    verify: list[Account]
    hotp: Account
    apps: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    hotp_codes: list[str] = field(default_factory=list)
    created: list[Account] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def clients(self) -> list[httpx.Client]:
        return [client(u, self.token) for u in self.urls]

    def totp_worker(self, seed: int) -> None:
        rnd, cs = random.Random(seed), self.clients()
        while not self.stop.is_set():
            a = rnd.choice(self.totp)
            r, t0, t1 = generate(rnd.choice(cs), a)
            if r.status_code != 200:
                self.fail(f"generate {a.id}: {r.status_code} {r.text}")
            elif not totp_ok(a, r.json()["otp_code"], t0, t1):
                self.fail(f"generate {a.id}: a code pyotp does not give")
            self.count("totp")

    def hotp_worker(self, seed: int) -> None:
        rnd, cs = random.Random(seed), self.clients()
        while not self.stop.is_set():
            r, _, _ = generate(rnd.choice(cs), self.hotp)
            if r.status_code != 200:
                self.fail(f"hotp: {r.status_code} {r.text}")
            else:
                with self.lock:
                    self.hotp_codes.append(r.json()["otp_code"])
            self.count("hotp")

    def verify_worker(self, idx: int) -> None:
        """Verifies each next HOTP code of its own account: every one must be accepted (a
        refused code would be counted as a failure and throttle the account)."""
        cs, a = self.clients(), self.verify[idx]
        while not self.stop.is_set():
            code = pyotp.HOTP(a.secret).at(a.counter)
            r = cs[idx % len(cs)].post(f"{APPS}/{a.app}/accounts/{a.id}/verify", json={"otp_code": code})
            if r.status_code != 200:
                self.fail(f"verify {a.id}: {r.status_code} {r.text}")
            elif r.json().get("valid") is not True:
                self.fail(f"verify {a.id}: the code at counter {a.counter} refused: {r.json()}")
            a.counter += 1
            self.count("verify")
            self.stop.wait(0.1)

    def mutate_worker(self, seed: int) -> None:
        rnd, cs = random.Random(seed), self.clients()
        while not self.stop.is_set():
            c = rnd.choice(cs)
            kind = rnd.choice(["totp", "hotp"])
            try:
                a = create_account(c, rnd.choice(self.apps), kind)
            except AssertionError as e:
                self.fail(f"create: {e}")
                continue
            with self.lock:
                self.created.append(a)
            for n in range(1, 4):
                name = f"v{n}-{seed}"
                r = rnd.choice(cs).patch(f"{APPS}/{a.app}/accounts/{a.id}", json={"display_name": name})
                if r.status_code != 200:
                    self.fail(f"patch {a.id}: {r.status_code} {r.text}")
                a.display_name = name
            r = rnd.choice(cs).get(f"{APPS}/{a.app}/accounts/{a.id}")
            if r.status_code != 200 or r.json().get("display_name") != a.display_name:
                self.fail(f"read {a.id} after patches: {r.status_code} {r.text}")
            if rnd.random() < 0.5:
                r = rnd.choice(cs).delete(f"{APPS}/{a.app}/accounts/{a.id}")
                if r.status_code != 204:
                    self.fail(f"delete {a.id}: {r.status_code} {r.text}")
                a.deleted = True
            self.count("mutate")

    def run(self, during) -> None:
        threads = [threading.Thread(target=self.totp_worker, args=(1,)),
                   threading.Thread(target=self.hotp_worker, args=(2,)),
                   threading.Thread(target=self.hotp_worker, args=(3,)),
                   threading.Thread(target=self.mutate_worker, args=(4,)),
                   threading.Thread(target=self.mutate_worker, args=(5,))]
        threads += [threading.Thread(target=self.verify_worker, args=(i,)) for i in range(len(self.verify))]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            during()
            time.sleep(1.5)
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=60)


# --------------------------------------------------------------------------------------
# the tests


def test_rotation_under_load(db):
    url, tmp = db
    replicas = [start(url, OLD_RING, tmp) for _ in range(REPLICAS)]
    token = cli(url, OLD_RING, "token", "create", "--org", ORG).stdout.strip()
    c = client(replicas[0].url, token)
    apps = [create_app(c) for _ in range(4)]
    totp = [create_account(c, apps[i % 4], "totp") for i in range(24)]
    verify = [create_account(c, apps[i % 4], "hotp", counter=500) for i in range(2)]
    others = [create_account(c, apps[i % 4], "hotp", counter=i * 7) for i in range(6)]
    hotp = create_account(c, apps[0], "hotp", counter=1000)
    st = key_status(url, OLD_RING)
    assert st["primary"] == "0" and st["sealed"] == {"0": 33}, st

    # Roll the new key out: replicas restart one at a time with both keys. Until the last has,
    # promotion is refused, naming the replica that lacks it.
    stop(replicas[0])
    replicas[0] = start(url, BOTH_RING, tmp)
    if REPLICAS > 1:
        refused = cli(url, BOTH_RING, "key", "promote", "k2", check=False)
        assert refused.returncode != 0
        lacking = replicas[1].proc.pid
        assert f"/{lacking} (" in refused.stderr and "lack the key `k2`" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1, f"one line: {refused.stderr!r}"
        assert f"/{replicas[0].proc.pid} (" not in refused.stderr
        stop(replicas[1])
        replicas[1] = start(url, BOTH_RING, tmp)
    assert key_status(url, BOTH_RING)["primary"] == "0", "nothing promoted by a refusal"
    c = client(replicas[0].url, token)

    load = Load([r.url for r in replicas], token, totp, verify, hotp, apps)
    rewrap_out: list[str] = []
    promoted_at: list[float] = []

    def rotate() -> None:
        cli(url, BOTH_RING, "key", "promote", "k2")
        promoted_at.append(time.monotonic())
        done = cli(url, BOTH_RING, "key", "rewrap", "--batch-size", "7")
        rewrap_out.append(done.stdout)

    load.run(rotate)
    assert load.errors == [], "\n".join(load.errors[:20])
    assert all(load.counts.get(k, 0) > 0 for k in ("totp", "hotp", "verify", "mutate")), load.counts
    out = rewrap_out[0]
    assert re.search(r"; 0 values not under k2$", out.strip()), out
    rewrapped = int(re.search(r"rewrapped (\d+) values", out).group(1))

    # Every value is under k2 (deleted accounts' too); every replica seals under it.
    total = 33 + len(load.created)
    wait_until("every replica to seal under k2",
               lambda: all(r["sealing"] == "k2" for r in key_status(url, BOTH_RING)["replicas"]))
    st = key_status(url, BOTH_RING)
    assert st["primary"] == "k2" and st["sealed"] == {"k2": total} and st["unknown"] == 0, (st, total)
    assert len(st["replicas"]) == REPLICAS
    # Each value re-sealed once, each an event of the organization.
    ids = audit_rewraps(c)
    assert len(ids) == rewrapped == len(set(ids)), (len(ids), rewrapped)
    assert rewrapped >= 33

    # Every HOTP counter handed out exactly once, in any order.
    n = len(load.hotp_codes)
    assert n > 0
    expected = sorted(pyotp.HOTP(hotp.secret).at(1000 + i) for i in range(n))
    assert sorted(load.hotp_codes) == expected, "an HOTP counter was lost or handed out twice"
    hotp.counter = 1000 + n

    # No lost update: each account's last PATCH is what it holds.
    for a in load.created:
        r = c.get(f"{APPS}/{a.app}/accounts/{a.id}")
        if a.deleted:
            assert r.status_code == 404, r.text
        else:
            assert r.status_code == 200 and r.json()["display_name"] == a.display_name, r.text

    # The old key retires, not within 30 s of the promotion (a value sealed under it just before
    # a replica switched may still be committing); the replicas restart with the new key alone,
    # and every account's code is pyotp's.
    early = cli(url, BOTH_RING, "key", "retire", "0", check=False)
    assert early.returncode == 1 and "refused: the primary changed" in early.stderr, early.stderr
    time.sleep(max(0.0, 31 - (time.monotonic() - promoted_at[0])))
    assert cli(url, BOTH_RING, "key", "rewrap").stdout.startswith("rewrapped 0 values")
    retired = cli(url, BOTH_RING, "key", "retire", "0")
    assert "0 is retired" in retired.stdout
    for r in replicas:
        stop(r)
    fresh = start(url, NEW_RING, tmp)
    try:
        # Its /metrics show the primary and the values under each key.
        def metrics() -> str:
            return httpx.get(fresh.url + "/metrics", timeout=5).text
        wait_until("the sealed-value gauges", lambda: "authd_sealed_values{" in metrics())
        m = metrics()
        assert 'authd_key_primary_info{key_id="k2"} 1' in m, m
        assert f'authd_sealed_values{{key_id="k2"}} {total}' in m, m
        assert 'authd_sealed_values{key_id="0"}' not in m, m
        fc = client(fresh.url, token)
        check_codes(fc, totp + verify + others + [hotp] + load.created)
    finally:
        stop(fresh)

    # A replica with only the old key is refused at start, with one line naming the key.
    refused = subprocess.run([BIN, "serve", "--bind", f"127.0.0.1:{free_port()}"], env=env_for(url, OLD_RING),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("authd: refusing to start: the primary key `k2` recorded in the database is not in this keyring"), last
    assert K0 not in refused.stderr + refused.stdout and K2 not in refused.stderr + refused.stdout


def test_rewrap_killed_mid_run_resumes_without_loss(db):
    url, tmp = db
    replica = start(url, OLD_RING, tmp)
    token = cli(url, OLD_RING, "token", "create", "--org", ORG).stdout.strip()
    apps = [create_app(client(replica.url, token)) for _ in range(4)]
    accounts: list[Account] = []
    lock = threading.Lock()

    def make(i: int) -> None:
        c = client(replica.url, token)
        for j in range(75):
            a = create_account(c, apps[(i + j) % 4], "hotp" if j % 5 == 0 else "totp", counter=j)
            with lock:
                accounts.append(a)

    workers = [threading.Thread(target=make, args=(i,)) for i in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    total = len(accounts)
    assert total == 600
    stop(replica)
    replica = start(url, BOTH_RING, tmp)
    cli(url, BOTH_RING, "key", "promote", "k2")
    wait_until("the replica to seal under k2",
               lambda: all(r["sealing"] == "k2" for r in key_status(url, BOTH_RING)["replicas"]))

    # SIGKILL the rewrap once it has committed its first batch, somewhere in a later one.
    # No pause between batches: the kill lands inside one (a read, the re-sealing, the
    # transaction) rather than in a pause.
    proc = subprocess.Popen([BIN, "key", "rewrap", "--batch-size", "5", "--pause-ms", "0"],
                            env=env_for(url, BOTH_RING), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert line.startswith("rewrap: pass 1: "), line
    time.sleep(random.uniform(0.0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_output = line + proc.stdout.read() + proc.stderr.read()
    mid = key_status(url, BOTH_RING)
    assert mid["sealed"].get("0", 0) > 0 and mid["sealed"].get("k2", 0) > 0, f"not killed mid-run: {mid}"
    assert sum(mid["sealed"].values()) == total and mid["unknown"] == 0

    # The rerun re-seals exactly what is left; nothing is lost, nothing sealed twice.
    done = cli(url, BOTH_RING, "key", "rewrap", "--batch-size", "50")
    second = int(re.search(r"rewrapped (\d+) values", done.stdout).group(1))
    assert second == mid["sealed"]["0"], (second, mid)
    st = key_status(url, BOTH_RING)
    assert st["sealed"] == {"k2": total}, st
    c = client(replica.url, token)
    ids = audit_rewraps(c)
    assert len(ids) == total == len(set(ids)), "each value re-sealed exactly once"
    assert set(ids) == {a.id for a in accounts}
    again = cli(url, BOTH_RING, "key", "rewrap")
    assert again.stdout.startswith("rewrapped 0 values"), again.stdout
    # No seed reaches the rewrap's output.
    outputs = killed_output + done.stdout + done.stderr + again.stdout + again.stderr
    assert not [a.id for a in accounts if a.secret in outputs]

    stop(replica)
    fresh = start(url, NEW_RING, tmp)
    try:
        check_codes(client(fresh.url, token), accounts)
    finally:
        stop(fresh)


def test_a_replica_paused_past_a_promotion_seals_nothing(db):
    """A replica that stops beating (here: SIGSTOP) drops out of the live replicas after 30 s, so a
    promotion no longer waits for it; it must then seal nothing under its old key: its seal lease
    ran out 25 s after its last heartbeat, and its first heartbeat after waking finds the new
    primary missing from its keyring. It still opens what it can."""
    url, tmp = db
    old = start(url, OLD_RING, tmp)
    both = start(url, BOTH_RING, tmp)
    try:
        token = cli(url, OLD_RING, "token", "create", "--org", ORG).stdout.strip()
        c_old, c_both = client(old.url, token), client(both.url, token)
        app = create_app(c_both)
        before = create_account(c_old, app, "totp")
        os.kill(old.proc.pid, signal.SIGSTOP)
        try:
            wait_until("the paused replica to drop out of the live ones",
                       lambda: len(key_status(url, BOTH_RING)["replicas"]) == 1, seconds=45)
            cli(url, BOTH_RING, "key", "promote", "k2")
        finally:
            os.kill(old.proc.pid, signal.SIGCONT)
        body = {"otpauth_uri": f"otpauth://totp/Rot:late?secret={pyotp.random_base32()}"}
        r = c_old.post(f"{APPS}/{app}/accounts", json=body)
        assert r.status_code == 500 and r.json() == {"detail": "Internal server error"}, r.text
        time.sleep(6)  # a heartbeat later: the primary is not in its ring, it still seals nothing
        r = c_old.post(f"{APPS}/{app}/accounts", json=body)
        assert r.status_code == 500, r.text
        assert "not in this replica's keyring" in open(old.log).read()
        r, t0, t1 = generate(c_old, before)
        assert r.status_code == 200 and totp_ok(before, r.json()["otp_code"], t0, t1), r.text
        create_account(c_both, app, "totp")
        st = key_status(url, BOTH_RING)
        assert st["sealed"] == {"0": 1, "k2": 1}, st
    finally:
        stop(old)
        stop(both)
