#!/usr/bin/env bash
# Failover test of authd on pg_auto_failover (issue 21, item 3), against the real binary.
#
# For each scenario, under a fresh temporary directory and on free loopback ports: a
# pg_auto_failover monitor (its timeouts lowered, see MONITOR_SETTINGS), node1 (primary) and
# node2 (synchronous secondary), two `authd serve` replicas on the multi-host URI that
# `pg_autoctl show uri` prints, and a paced load through both (ha/load.py run). After a few
# seconds the failure is injected:
#   planned  `pg_autoctl perform failover`
#   crash    the primary's keeper (every pg_autoctl process of the node) and its postmaster
#            killed with SIGKILL
#   frozen   every process of the primary's node (keeper, postmaster, backends) stopped with
#            SIGSTOP: its sockets stay open, nothing answers (a hung host, a partition); once both
#            replicas serve writes again (or the probe gave up) and a few more seconds of load,
#            the processes are killed (HA_FROZEN_END=cont: resumed instead), under load
# then ha/load.py probe polls until a new primary is writable and both replicas serve writes, the
# load goes on a few seconds, stops, and ha/load.py check verifies:
#   1. every acknowledged create is readable through the API, every acknowledged delete is gone
#   2. no HOTP counter answered twice, and the stored counter past every answered one
#   3. no 5xx but 503 (and no request left without an answer)
#   4. every request answered within REQUEST_BOUND_S
#   5. both replicas serving writes again within RECOVERY_BOUND_S of the injection
#   6. the audit trail (issue 21, item 4): every request carries its own X-Request-Id, which
#      authd records in the request's audit events; per account used by the load, the
#      acknowledged (200) codes and verifications against the otp.generate / otp.verify events
#      that exist afterwards (GET /api/v1/audit/events?action=...&resource_id=..., paged). A
#      lost event of an HOTP code (committed with the counter advance) or of a verification
#      (committed with its outcome) is a violation; a lost event of a TOTP code is counted only
#      (committed with synchronous_commit off: the documented trade-off). Requests answered 503
#      that left an event anyway are counted.
# and that every 503 carried Retry-After. After a crash (and a frozen node killed), a postmortem
# of the old primary: pg_waldump of its WAL past the new primary's switch point, then its data
# directory restarted alone (read-only, on another port) to see which events it had that the
# new primary lacks: whether a lost TOTP event was in its WAL on disk (lost by replication) or
# not even there (lost with its WAL buffers). A summary table at the end;
# exit 1 when any scenario has a violation.
#
# Usage: bash ha/failover.sh [--short] [--scenario planned|crash|frozen]...
#   --short      the CI form: fewer seconds of load around each failure
#   --scenario   run only these (repeatable; default all three, in that order)
# Needs root (the PostgreSQL parts run as the `postgres` user), Debian's
# postgresql-15-auto-failover and pg-auto-failover-cli, python3, and an authd binary.
#
# Environment:
#   AUTHD_BIN          the binary under test (default target/debug/authd; copied first, so a
#                      rebuild during the run changes nothing)
#   REQUEST_BOUND_S    the longest a request may take, whatever the answer (default 7: authd's
#                      statement timeout 3 s + 1 s before a hung unit is cut, + the 2 s pool
#                      checkout timeout, + slack; measured here: planned <= 1.6 s, crash <= 2.0 s,
#                      frozen <= 6.1 s; see ha/README.md)
#   RECOVERY_BOUND_S   injection -> both replicas serving writes again (default 20; measured
#                      1.6-5.7 s planned, 5.4-12.6 s crash with MONITOR_SETTINGS below)
#   CLIENT_TIMEOUT_S   the load's client timeout per request (default 10)
#   HA_DEADLINE_S      the whole run's deadline (default 600 short, 1200 full)
#   HA_FROZEN_END      kill (default) or cont: how the frozen node ends
#   HA_MONITOR_SETTINGS  space-separated name=value, applied on the monitor after MONITOR_SETTINGS
#   HA_KEEP_TMP=1      keep the temporary directory (logs, the load's JSON reports)
#   HA_POSTMORTEM=0    skip the postmortem of the old primary (crash, frozen killed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HA_DIR="$ROOT/ha"
START_S=$SECONDS

log() { printf 'ha: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

SHORT=0
SCENARIOS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) SHORT=1 ;;
        --scenario) [[ $# -ge 2 ]] || die "--scenario needs a name"; SCENARIOS+=("$2"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=(planned crash frozen)
for s in "${SCENARIOS[@]}"; do
    case "$s" in planned|crash|frozen) ;; *) die "unknown scenario: $s" ;; esac
done

AUTHD_BIN="${AUTHD_BIN:-target/debug/authd}"
PGBIN=/usr/lib/postgresql/15/bin
REQUEST_BOUND_S="${REQUEST_BOUND_S:-7}"
RECOVERY_BOUND_S="${RECOVERY_BOUND_S:-20}"
CLIENT_TIMEOUT_S="${CLIENT_TIMEOUT_S:-10}"
if [[ $SHORT == 1 ]]; then
    LOAD_BEFORE_S=3; LOAD_AFTER_S=3; HA_DEADLINE_S="${HA_DEADLINE_S:-600}"
else
    LOAD_BEFORE_S=10; LOAD_AFTER_S=15; HA_DEADLINE_S="${HA_DEADLINE_S:-1200}"
fi
# How long the probe waits, after the injection, for a writable primary and both replicas.
PROBE_DEADLINE_S=$(( ${RECOVERY_BOUND_S%.*} + 20 ))
LOAD_THREADS=4          # per replica
LOAD_PACE_S=0.05        # pause between a load thread's requests

# The monitor's failure detection (milliseconds; defaults in parentheses). A crashed or frozen
# primary keeps writes down for about node_considered_unhealthy_timeout + primary_demote_timeout
# + a few health checks; with the defaults, about 51 s. primary_demote_timeout is how long the
# monitor waits for an unreachable primary to demote itself: keep it above the keepers'
# network_partition_timeout (20 s) in production, where a partitioned primary could still take
# writes (here synchronous replication holds them, and the test measures the detection).
MONITOR_SETTINGS=(
    "pgautofailover.health_check_period=1000"             # (5000) between health checks
    "pgautofailover.health_check_timeout=1000"            # (5000) connect timeout of one check
    "pgautofailover.health_check_max_retries=1"           # (2)
    "pgautofailover.health_check_retry_delay=500"         # (2000)
    "pgautofailover.node_considered_unhealthy_timeout=2000"  # (20000) no keeper report for this long
    "pgautofailover.primary_demote_timeout=3000"          # (30000)
    "pgautofailover.startup_grace_period=2000"            # (10000) after the monitor starts
)
# e.g. HA_MONITOR_SETTINGS="pgautofailover.primary_demote_timeout=1000": applied after these
read -r -a _extra <<<"${HA_MONITOR_SETTINGS:-}"
MONITOR_SETTINGS+=("${_extra[@]}")

[[ $(id -u) == 0 ]] || die "run as root (the PostgreSQL parts run as the postgres user)"
command -v pg_autoctl >/dev/null || die "pg_autoctl missing: apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli"
[[ -x $PGBIN/postgres ]] || die "PostgreSQL 15 missing at $PGBIN"
[[ -x $AUTHD_BIN ]] || die "authd binary not found or not executable: $AUTHD_BIN (cargo build -p server)"
command -v psql >/dev/null || die "psql missing"

# --------------------------------------------------------------------------------------------
# Process bookkeeping: everything is stopped by PID, on any exit.
# --------------------------------------------------------------------------------------------

TMP=""
WATCHDOG_PID=""
HELPER_PIDS=()   # load, probe, perform failover: our children
AUTHD_PIDS=()
KEEPER_PIDS=()   # pg_autoctl supervisors (monitor, node1, node2): our children
PGDATAS=()       # every data directory of the current scenario
FROZEN_PIDS=()   # and FROZEN_DIR, their data directory
FROZEN_DIR=""
ORPHAN_PIDS=()   # backends of a killed postmaster
SHM_IDS=()       # SysV segments of postmasters that were killed

alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; reaped when it is our child.
stop_pid() {
    local pid=$1 tries=$(( $2 * 10 ))
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        while (( tries-- > 0 )) && alive "$pid" && ! zombie "$pid"; do sleep 0.1; done
        if alive "$pid" && ! zombie "$pid"; then
            log "pid $pid did not stop on SIGTERM within $2 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

zombie() { [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }

# wait_bounded PID SECONDS: waits for our child PID up to SECONDS, then stops it; its exit code.
wait_bounded() {
    local pid=$1 tries=$(( $2 * 10 )) rc=0
    while (( tries-- > 0 )) && alive "$pid" && ! zombie "$pid"; do sleep 0.1; done
    if alive "$pid" && ! zombie "$pid"; then
        log "pid $pid still running after $2 s; stopping it"
        stop_pid "$pid" 5
        return 124
    fi
    wait "$pid" || rc=$?
    return "$rc"
}

# tree PID: PID and all its descendants (by parent PID).
tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END { q[0] = root; n = 1; for (i = 0; i < n; i++) { print q[i]; c = split(kids[q[i]], a, " ");
              for (j = 1; j <= c; j++) q[n++] = a[j] } }'
}

# postmaster PGDATA: the PID of the data directory's postmaster, when it runs.
postmaster() {
    local pid
    pid=$(head -n1 "$1/postmaster.pid" 2>/dev/null) || return 1
    [[ -n $pid ]] && alive "$pid" && grep -qa -- "$1" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# keeper PGDATA: the PID of the node's pg_autoctl supervisor (from its pid file).
keeper() {
    local f="$PGRUN/pg_autoctl$1/pg_autoctl.pid" pid
    pid=$(head -n1 "$f" 2>/dev/null) || return 1
    [[ -n $pid ]] && alive "$pid" && echo "$pid"
}

# shm_of PGDATA: the SysV shared memory id of its postmaster (postmaster.pid, line 7: key id).
shm_of() { sed -n 7p "$1/postmaster.pid" 2>/dev/null | awk '{print $2}'; }

teardown() {
    local pid d p rest
    for pid in "${HELPER_PIDS[@]}"; do stop_pid "$pid" 5; done
    HELPER_PIDS=()
    for pid in "${AUTHD_PIDS[@]}"; do stop_pid "$pid" 10; done
    AUTHD_PIDS=()
    if [[ ${#FROZEN_PIDS[@]} -gt 0 ]]; then
        SHM_IDS+=("$(shm_of "$FROZEN_DIR")")
        { kill -KILL "${FROZEN_PIDS[@]}"; for pid in "${KEEPER_PIDS[@]}"; do
              alive "$pid" && ! zombie "$pid" || wait "$pid"; done; } 2>/dev/null || true
        FROZEN_PIDS=()
    fi
    # The nodes: SIGTERM to each supervisor stops its PostgreSQL (0.5 s here); then SIGKILL
    # whatever of the node is left.
    for pid in "${KEEPER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${KEEPER_PIDS[@]}"; do stop_pid "$pid" 15; done
    KEEPER_PIDS=()
    for d in "${PGDATAS[@]}"; do
        if p=$(postmaster "$d"); then
            log "postmaster of $d ($p) still running; SIGKILL"
            rest=$(tree "$p")
            kill -KILL $rest 2>/dev/null || true
            SHM_IDS+=("$(shm_of "$d")")
        fi
    done
    PGDATAS=()
    for pid in "${ORPHAN_PIDS[@]}"; do
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]] && kill -KILL "$pid" 2>/dev/null
    done
    ORPHAN_PIDS=()
    sleep 0.2
    for id in "${SHM_IDS[@]}"; do
        [[ -n $id ]] || continue
        # only a segment of ours, owned by postgres and no longer attached
        ipcs -m | awk -v id="$id" '$2 == id && $3 == "postgres" && $6 == 0 { found = 1 } END { exit !found }' \
            && ipcrm -m "$id" 2>/dev/null || true
    done
    SHM_IDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $WATCHDOG_PID ]]; then
        pkill -P "$WATCHDOG_PID" 2>/dev/null || true
        kill "$WATCHDOG_PID" 2>/dev/null || true
        wait "$WATCHDOG_PID" 2>/dev/null || true
    fi
    teardown
    if [[ -n $TMP ]]; then
        if [[ ${HA_KEEP_TMP:-0} == 1 ]]; then
            log "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    log "total runtime $(( SECONDS - START_S )) s, exit $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated (or the ${HA_DEADLINE_S} s deadline passed)"; exit 143' TERM

TMP="$(mktemp -d "${TMPDIR:-/tmp}/authd-ha.XXXXXX")"
chmod 755 "$TMP"
( sleep "$HA_DEADLINE_S" & wait $!; kill -TERM $$ ) &
WATCHDOG_PID=$!

# Copy the binary: a rebuild by someone else during the run must not change what is tested.
cp "$AUTHD_BIN" "$TMP/authd"
AUTHD="$TMP/authd"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

now() { date +%s.%N; }

# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------

# as_pg CMD...: CMD as the postgres user, with pg_autoctl's state under the scenario's directory.
as_pg() {
    setpriv --reuid=postgres --regid=postgres --init-groups \
        env -i HOME="$PGROOT" XDG_CONFIG_HOME="$PGROOT/config" XDG_DATA_HOME="$PGROOT/data" \
        XDG_RUNTIME_DIR="$PGROOT/run" PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 "$@"
}

# msql PORT SQL: one query on a node (or the monitor) as the postgres superuser; rows a|b|c.
msql() {
    local db=${3:-authd}
    timeout 10 psql "host=127.0.0.1 port=$1 dbname=$db user=postgres sslmode=prefer connect_timeout=3" \
        -XAtqc "$2"
}

# The monitor's view: name|port|reported|goal per node.
states() { msql "$MON_PORT" "select nodename, nodeport, reportedstate, goalstate from pgautofailover.node order by nodeid" pg_auto_failover; }

# primary: name|port of the node both reported and assigned primary (or wait_primary).
primary() { states 2>/dev/null | awk -F'|' '$3 ~ /^(wait_)?primary$/ && $3 == $4 { print $1 "|" $2; exit }'; }

cluster_up() {
    local dir=$1 t start=$SECONDS mon_uri i
    PGROOT="$dir/pg"
    PGRUN="$PGROOT/run"
    mkdir -p "$PGROOT"
    chown postgres:postgres "$PGROOT"
    chmod 700 "$PGROOT"
    as_pg mkdir -p "$PGROOT/config" "$PGROOT/data" "$PGROOT/run" "$PGROOT/log"
    MON_PORT=$(free_port); N1_PORT=$(free_port); N2_PORT=$(free_port)
    MON_D="$PGROOT/mon"; N1_D="$PGROOT/node1"; N2_D="$PGROOT/node2"

    as_pg timeout 60 pg_autoctl create monitor --pgdata "$MON_D" --pgport "$MON_PORT" \
        --hostname 127.0.0.1 --auth trust --ssl-self-signed >"$PGROOT/log/monitor.create.log" 2>&1 \
        || { tail -n 20 "$PGROOT/log/monitor.create.log" >&2; die "pg_autoctl create monitor failed"; }
    as_pg pg_autoctl config set --pgdata "$MON_D" postgresql.listen_addresses 127.0.0.1 >/dev/null
    PGDATAS+=("$MON_D")
    setpriv --reuid=postgres --regid=postgres --init-groups \
        env -i HOME="$PGROOT" XDG_CONFIG_HOME="$PGROOT/config" XDG_DATA_HOME="$PGROOT/data" \
        XDG_RUNTIME_DIR="$PGROOT/run" PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 \
        pg_autoctl run --pgdata "$MON_D" >"$PGROOT/log/monitor.log" 2>&1 &
    KEEPER_PIDS+=($!)
    for i in $(seq 100); do msql "$MON_PORT" "select 1" pg_auto_failover >/dev/null 2>&1 && break; sleep 0.2; done
    msql "$MON_PORT" "select 1" pg_auto_failover >/dev/null || die "the monitor did not start"
    for kv in "${MONITOR_SETTINGS[@]}"; do
        msql "$MON_PORT" "alter system set ${kv%%=*} = ${kv#*=}" pg_auto_failover
    done
    msql "$MON_PORT" "select pg_reload_conf()" pg_auto_failover >/dev/null
    mon_uri="postgres://autoctl_node@127.0.0.1:$MON_PORT/pg_auto_failover?sslmode=require"

    start_node node1 "$N1_PORT" "$N1_D" "$mon_uri"
    for i in $(seq 120); do states 2>/dev/null | grep -q '^node1|.*|single|single$' && break; sleep 0.25; done
    states | grep -q '^node1|.*|single|single$' || die "node1 did not become single: $(states | tr '\n' ' ')"
    start_node node2 "$N2_PORT" "$N2_D" "$mon_uri"
    # node2's pg_basebackup waits for a spread checkpoint on node1 (94 s measured here): ask for
    # an immediate one until node2 is streaming.
    t=$((SECONDS + 120))
    while (( SECONDS < t )); do
        local st
        st=$(states 2>/dev/null | tr '\n' ' ')
        [[ $st == *"node1|$N1_PORT|primary|primary"*"node2|$N2_PORT|secondary|secondary"* ]] && break
        msql "$N1_PORT" "checkpoint" >/dev/null 2>&1 || true
        sleep 0.5
    done
    [[ $(states | tr '\n' ' ') == *"node1|$N1_PORT|primary|primary"*"node2|$N2_PORT|secondary|secondary"* ]] \
        || die "cluster not primary+secondary within 120 s: $(states | tr '\n' ' ')"

    # authd's own role, owner of the database pg_autoctl created.
    msql "$N1_PORT" "create role authd login; alter database authd owner to authd" >/dev/null
    DB_URI=$(as_pg pg_autoctl show uri --formation default --pgdata "$MON_D")
    DB_URI="${DB_URI/postgres:\/\//postgres://authd@}"
    CLUSTER_S=$(( SECONDS - start ))
    log "cluster up in ${CLUSTER_S} s: monitor :$MON_PORT, node1 :$N1_PORT (primary), node2 :$N2_PORT; $DB_URI"
}

# start_node NAME PORT PGDATA MONITOR_URI: `pg_autoctl create postgres --run` in the background.
start_node() {
    setpriv --reuid=postgres --regid=postgres --init-groups \
        env -i HOME="$PGROOT" XDG_CONFIG_HOME="$PGROOT/config" XDG_DATA_HOME="$PGROOT/data" \
        XDG_RUNTIME_DIR="$PGROOT/run" PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 \
        pg_autoctl create postgres --pgdata "$3" --pgport "$2" --listen 127.0.0.1 \
        --hostname 127.0.0.1 --name "$1" --dbname authd --auth trust --ssl-self-signed \
        --monitor "$4" --run >"$PGROOT/log/$1.log" 2>&1 &
    KEEPER_PIDS+=($!)
    PGDATAS+=("$3")
}

# --------------------------------------------------------------------------------------------
# authd
# --------------------------------------------------------------------------------------------

authd_up() {
    local dir=$1 i port start=$SECONDS
    AUTHD_MASTER_KEY="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
    export AUTHD_MASTER_KEY
    unset AUTHD_MASTER_KEY_FILE AUTHD_BIND AUTHD_DATABASE_URL AUTHD_POOL_SIZE AUTHD_WORKERS
    export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
    # runs the migrations, as `serve` would
    TOKEN=$(timeout 60 "$AUTHD" token create --org ha --name ha-failover --database-url "$DB_URI" 2>"$dir/token.log") \
        || { cat "$dir/token.log" >&2; die "authd token create failed"; }
    URLS=()
    for i in 1 2; do
        port=$(free_port)
        "$AUTHD" serve --bind "127.0.0.1:$port" --database-url "$DB_URI" --log-format json \
            >"$dir/authd$i.log" 2>&1 &
        AUTHD_PIDS+=($!)
        URLS+=("http://127.0.0.1:$port")
    done
    for i in 0 1; do
        python3 - "${URLS[$i]}/readyz" "${AUTHD_PIDS[$i]}" <<'PYEOF' || die "authd replica $((i + 1)) not ready (log: $dir/authd$((i + 1)).log)"
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
end = time.monotonic() + 30
while time.monotonic() < end:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"authd (pid {pid}) exited")
    try:
        with opener.open(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(f"GET {url} was not 200 within 30 s")
PYEOF
    done
    AUTHD_UP_S=$(( SECONDS - start ))
    log "authd replicas ready in ${AUTHD_UP_S} s: ${URLS[*]}"
}

# --------------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------------

node_dir() { case "$1" in node1) echo "$N1_D" ;; node2) echo "$N2_D" ;; esac; }
other_dir() { case "$1" in node1) echo "$N2_D" ;; node2) echo "$N1_D" ;; esac; }

inject() {
    local scen=$1 name=$2 d k pm pids
    d=$(node_dir "$name")
    case "$scen" in
    planned)
        setpriv --reuid=postgres --regid=postgres --init-groups \
            env -i HOME="$PGROOT" XDG_CONFIG_HOME="$PGROOT/config" XDG_DATA_HOME="$PGROOT/data" \
            XDG_RUNTIME_DIR="$PGROOT/run" PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 \
            timeout 90 pg_autoctl perform failover --pgdata "$(other_dir "$name")" \
            >"$PGROOT/log/perform-failover.log" 2>&1 &
        FAILOVER_PID=$!
        HELPER_PIDS+=("$FAILOVER_PID")
        log "injected: pg_autoctl perform failover (pid $FAILOVER_PID)"
        ;;
    crash)
        k=$(keeper "$d") || die "no keeper for $d"
        pm=$(postmaster "$d") || die "no postmaster for $d"
        # the keeper's processes (supervisor, its postgres and node-active services), not the
        # postmaster's children: those exit by themselves when their postmaster dies
        pids="$k $(ps -o pid= --ppid "$k" | tr '\n' ' ')"
        ORPHAN_PIDS+=($(ps -o pid= --ppid "$pm"))
        SHM_IDS+=("$(shm_of "$d")")
        { kill -KILL $pids "$pm"; wait "$k"; } 2>/dev/null || true   # the keeper is our child
        log "injected: SIGKILL to $name's keeper processes ($pids) and postmaster ($pm)"
        ;;
    frozen)
        k=$(keeper "$d") || die "no keeper for $d"
        pm=$(postmaster "$d") || die "no postmaster for $d"
        # top down (the supervisor first, so that nothing restarts), twice to catch a fork
        pids=$(tree "$k" | tr '\n' ' ')
        kill -STOP $pids 2>/dev/null || true
        pids=$(tree "$k" | tr '\n' ' ')
        kill -STOP $pids 2>/dev/null || true
        FROZEN_PIDS=($pids)
        FROZEN_DIR=$d
        log "injected: SIGSTOP to ${#FROZEN_PIDS[@]} processes of $name (keeper $k, postmaster $pm and its children)"
        ;;
    esac
}

# end_freeze: the frozen node's processes killed (HA_FROZEN_END=kill, the default: the host
# died at last) or resumed (cont: the partition healed; its keeper finds itself demoted).
end_freeze() {
    local pid k
    k=$(keeper "$FROZEN_DIR" || true)
    if [[ ${HA_FROZEN_END:-kill} == cont ]]; then
        kill -CONT "${FROZEN_PIDS[@]}" 2>/dev/null || true
        log "resumed the ${#FROZEN_PIDS[@]} frozen processes (SIGCONT)"
    else
        SHM_IDS+=("$(shm_of "$FROZEN_DIR")")
        { kill -KILL "${FROZEN_PIDS[@]}"; [[ -z $k ]] || wait "$k"; } 2>/dev/null || true
        log "killed the ${#FROZEN_PIDS[@]} frozen processes"
    fi
    FROZEN_PIDS=()
}

# --------------------------------------------------------------------------------------------
# Postmortem of a killed primary
# --------------------------------------------------------------------------------------------

# postmortem DIR NAME: NAME (the old primary, killed) against the new primary: its WAL past the
# new primary's switch point (pg_waldump, before anything touches it), then its data directory
# started alone on another port, read-only (crash recovery replays what it had written), and
# `ha/load.py postmortem` compares the audit events. Not on its old port: the authd replicas'
# URI lists that one, and must never find a second primary there. Failures are logged only.
postmortem() {
    local dir=$1 d p new_port line tli switch pm_port pid i pending
    d=$(node_dir "$2")
    if p=$(postmaster "$d"); then log "postmortem: the old primary's postmaster ($p) still runs"; return 1; fi
    # the killed postmaster's backends exit by themselves; its shared memory must be free
    for i in $(seq 50); do
        pending=0
        for p in "${ORPHAN_PIDS[@]}"; do
            [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == postgres ]] && pending=1
        done
        (( pending == 0 )) && break
        sleep 0.2
    done
    p=$(primary) || true
    [[ -n $p ]] || { log "postmortem: no primary"; return 1; }
    new_port=${p#*|}
    # the newest timeline history of the new primary: "<parent tli> <switch lsn> <reason>"
    line=$(msql "$new_port" "select pg_read_file('pg_wal/' || name) from pg_ls_waldir()
        where name like '%.history' order by name desc limit 1" | awk 'NF' | tail -n1) || true
    tli=$(awk '{print $1}' <<<"$line"); switch=$(awk '{print $2}' <<<"$line")
    if [[ -n $switch ]]; then
        timeout 30 "$PGBIN/pg_waldump" -p "$d/pg_wal" -t "$tli" -s "$switch" \
            >"$dir/old-primary-wal.txt" 2>&1 || true
    else
        log "postmortem: no timeline history on the new primary (:$new_port)"
        : >"$dir/old-primary-wal.txt"
    fi
    pm_port=$(free_port)
    setpriv --reuid=postgres --regid=postgres --init-groups \
        env -i HOME="$PGROOT" PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 \
        "$PGBIN/postgres" -D "$d" -p "$pm_port" -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories="$PGRUN" -c archive_mode=off \
        -c default_transaction_read_only=on >"$dir/old-primary-postmortem.log" 2>&1 &
    pid=$!
    HELPER_PIDS+=("$pid")
    for i in $(seq 150); do
        msql "$pm_port" "select 1" >/dev/null 2>&1 && break
        alive "$pid" && ! zombie "$pid" || break
        sleep 0.2
    done
    if msql "$pm_port" "select 1" >/dev/null 2>&1; then
        timeout 120 python3 "$HA_DIR/load.py" postmortem --summary "$dir/summary.json" \
            --load "$dir/load.json" --old-port "$pm_port" --new-port "$new_port" \
            --switch-lsn "$switch" --wal "$dir/old-primary-wal.txt" \
            || log "postmortem: the comparison failed"
    else
        log "postmortem: the old primary's data directory did not start (log: $dir/old-primary-postmortem.log)"
        tail -n 5 "$dir/old-primary-postmortem.log" >&2 || true
    fi
    kill -INT "$pid" 2>/dev/null || true   # fast shutdown
    wait_bounded "$pid" 15 || true
}

# --------------------------------------------------------------------------------------------
# One scenario
# --------------------------------------------------------------------------------------------

SUMMARIES=()
FAILED=()

run_scenario() {
    local scen=$1 dir="$TMP/$1" t0 p name port load_pid probe_pid rc=0 start=$SECONDS b
    local sync_commit sync_names extra
    mkdir -p "$dir"
    log "=== scenario $scen (t+$(( SECONDS - START_S )) s)"
    cluster_up "$dir"
    authd_up "$dir"
    b=()
    for u in "${URLS[@]}"; do b+=(--base "$u"); done

    python3 "$HA_DIR/load.py" run "${b[@]}" --token "$TOKEN" --tag "$scen" \
        --threads "$LOAD_THREADS" --pace "$LOAD_PACE_S" --timeout "$CLIENT_TIMEOUT_S" \
        --stop-file "$dir/stop" --max-seconds $(( HA_DEADLINE_S )) --out "$dir/load.json" \
        2>"$dir/load.log" &
    load_pid=$!
    HELPER_PIDS+=("$load_pid")
    sleep "$LOAD_BEFORE_S"
    alive "$load_pid" || { cat "$dir/load.log" >&2; die "the load stopped early"; }

    p=$(primary) || true
    [[ -n $p ]] || die "no primary before the injection: $(states | tr '\n' ' ')"
    name=${p%%|*}; port=${p#*|}
    # whether the primary waits for its standby (what the audit's figures depend on)
    sync_commit=$(msql "$port" "show synchronous_commit" 2>/dev/null) || sync_commit="?"
    sync_names=$(msql "$port" "show synchronous_standby_names" 2>/dev/null) || sync_names="?"
    t0=$(now)
    inject "$scen" "$name"

    python3 "$HA_DIR/load.py" probe "${b[@]}" --token "$TOKEN" --tag "$scen" \
        --db-uri "$DB_URI" --old-primary-port "$port" --t0 "$t0" --deadline "$PROBE_DEADLINE_S" --timeout "$CLIENT_TIMEOUT_S" \
        --out "$dir/probe.json" 2>"$dir/probe.log" &
    probe_pid=$!
    HELPER_PIDS+=("$probe_pid")
    wait_bounded "$probe_pid" $(( PROBE_DEADLINE_S + 20 )) || true
    cat "$dir/probe.log" >&2
    log "monitor: $(states | tr '\n' ' ')"
    sleep "$LOAD_AFTER_S"
    if [[ $scen == frozen ]]; then
        end_freeze
        sleep "$LOAD_AFTER_S"
    fi
    touch "$dir/stop"
    wait_bounded "$load_pid" $(( ${CLIENT_TIMEOUT_S%.*} * 2 + 15 )) || { cat "$dir/load.log" >&2; die "the load failed"; }
    cat "$dir/load.log" >&2
    if [[ $scen == planned ]]; then
        wait_bounded "$FAILOVER_PID" 60 || log "pg_autoctl perform failover exited $? (log: $PGROOT/log/perform-failover.log)"
    fi

    # the monitor's own timeline, for the record (HA_KEEP_TMP=1)
    msql "$MON_PORT" "select to_char(eventtime, 'HH24:MI:SS.MS'), nodename, reportedstate, goalstate, description
        from pgautofailover.event order by eventid" pg_auto_failover >"$dir/monitor-events.txt" 2>&1 || true
    echo "injection at $(date -d "@$t0" +%H:%M:%S.%3N)" >>"$dir/monitor-events.txt"

    extra=$(python3 -c 'import json, sys; print(json.dumps({"cluster_s": int(sys.argv[1]),
        "authd_s": int(sys.argv[2]), "synchronous_commit": sys.argv[3],
        "synchronous_standby_names": sys.argv[4]}))' "$CLUSTER_S" "$AUTHD_UP_S" "$sync_commit" "$sync_names")
    python3 "$HA_DIR/load.py" check "${b[@]}" --token "$TOKEN" --scenario "$scen" \
        --load "$dir/load.json" --probe "$dir/probe.json" --t0 "$t0" \
        --request-bound "$REQUEST_BOUND_S" --recovery-bound "$RECOVERY_BOUND_S" \
        --extra "$extra" --out "$dir/summary.json" &
    p=$!
    HELPER_PIDS+=("$p")
    wait_bounded "$p" 300 || rc=$?
    SUMMARIES+=("$dir/summary.json")
    if [[ ${HA_POSTMORTEM:-1} != 0 && -s $dir/summary.json ]] \
        && [[ $scen == crash || ( $scen == frozen && ${HA_FROZEN_END:-kill} == kill ) ]]; then
        postmortem "$dir" "$name" || log "postmortem of $name failed"
    fi
    if [[ $rc != 0 ]]; then
        FAILED+=("$scen")
        for i in 1 2; do
            log "last lines of authd replica $i's log ($dir/authd$i.log):"
            tail -n 5 "$dir/authd$i.log" | cut -c1-400 >&2 || true
        done
    fi
    teardown
    log "=== scenario $scen: $( [[ $rc == 0 ]] && echo ok || echo FAILED ) in $(( SECONDS - start )) s"
}

log "authd: $AUTHD_BIN; scenarios: ${SCENARIOS[*]}; $( [[ $SHORT == 1 ]] && echo short || echo full ) form;" \
    "REQUEST_BOUND_S=$REQUEST_BOUND_S RECOVERY_BOUND_S=$RECOVERY_BOUND_S CLIENT_TIMEOUT_S=$CLIENT_TIMEOUT_S"
for s in "${SCENARIOS[@]}"; do
    run_scenario "$s"
done

echo
echo "authd failover ($( [[ $SHORT == 1 ]] && echo short || echo full ) form; REQUEST_BOUND_S=$REQUEST_BOUND_S, RECOVERY_BOUND_S=$RECOVERY_BOUND_S; seconds from the injection)"
python3 "$HA_DIR/load.py" table "${SUMMARIES[@]}"
echo "total runtime $(( SECONDS - START_S )) s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "FAILED: ${FAILED[*]}"
    exit 1
fi
log "all scenarios passed"
