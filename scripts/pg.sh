#!/usr/bin/env bash
# A private PostgreSQL 15 + PostGIS cluster for riskmap's tests and for developers.
#
#   bash scripts/pg.sh start    initialise (first time) and start it, create the test database with PostGIS
#   bash scripts/pg.sh stop     stop it (fast shutdown)
#   bash scripts/pg.sh status   say whether it runs, where and on which port (exit 0 running, 3 stopped)
#   bash scripts/pg.sh dsn      print the test database's connection string (fails if it is not running)
#   bash scripts/pg.sh psql …   run psql on the test database
#
# Its files live in the clone (var/pg/: data/, run/ for the unix socket, postgres.log), so every clone
# has its own cluster. It listens on 127.0.0.1 only, with trust authentication: for tests, never for data
# that matters. fsync, synchronous_commit and full_page_writes are off for fast bulk loads.
#
# Environment:
#   RISKMAP_PG_PORT   port to use; it must be free (default: 55433, or the next free one up to 55482
#                     when another server holds it, e.g. a second clone's cluster; the port is remembered)
#   RISKMAP_PG_DIR    where the cluster lives (default: var/pg in the clone)
#   RISKMAP_PG_DB     test database (default: riskmap_test)
#   RISKMAP_PG_BIN    PostgreSQL 15 programs (default: /usr/lib/postgresql/15/bin)
#
# As root the server runs as the `postgres` user (initdb and pg_ctl refuse root). If that user cannot
# reach the clone (e.g. it lies under a private home directory) the cluster goes to
# /var/tmp/riskmap-pg-<hash of the clone's path> instead, which is said when it happens.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN="${RISKMAP_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_DB="${RISKMAP_PG_DB:-riskmap_test}"
DEFAULT_PORT=55433
PORT_RANGE=50
PG_USER=postgres # the superuser initdb creates (same name whoever runs the server)
# util-linux's runuser lives in /usr/sbin, which a non-login root PATH may lack.
RUNUSER="$(command -v runuser || echo /usr/sbin/runuser)"

if [[ -n "${RISKMAP_PG_DIR:-}" ]]; then
    PG_DIR="$(mkdir -p "$RISKMAP_PG_DIR" && cd "$RISKMAP_PG_DIR" && pwd)"
else
    PG_DIR="$REPO_ROOT/var/pg"
fi

# Run a PostgreSQL server program as the user that owns the cluster (from /, which that user can enter:
# every path given to it is absolute).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && "$RUNUSER" -u postgres -- "$@")
    else
        "$@"
    fi
}

check_binaries() {
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] ||
        die "PostgreSQL 15 not found in $PG_BIN: apt-get install postgresql-15 postgresql-15-postgis-3 (or run bash scripts/test.sh, which installs them)"
    [[ -f /usr/share/postgresql/15/extension/postgis.control ]] ||
        die "PostGIS for PostgreSQL 15 is not installed: apt-get install postgresql-15-postgis-3"
    if [[ $EUID -eq 0 ]]; then
        id -u postgres >/dev/null 2>&1 || die "no 'postgres' user: apt-get install postgresql-15"
        [[ -x "$RUNUSER" ]] || die "runuser (util-linux) is needed to run PostgreSQL as 'postgres'"
    fi
}

fallback_dir() {
    printf '/var/tmp/riskmap-pg-%s\n' "$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
}

# Set DATA, RUN and LOG. Without RISKMAP_PG_DIR, a cluster already made in the fallback place is used.
locate_dir() {
    if [[ $EUID -eq 0 && -z "${RISKMAP_PG_DIR:-}" && ! -d "$PG_DIR/data" && -d "$(fallback_dir)/data" ]]; then
        PG_DIR="$(fallback_dir)"
    fi
    DATA="$PG_DIR/data"
    RUN="$PG_DIR/run"
    LOG="$PG_DIR/postgres.log"
}

# Before a first initdb as root: leave the clone when the postgres user cannot reach it.
resolve_dir() {
    locate_dir
    if [[ $EUID -eq 0 && -z "${RISKMAP_PG_DIR:-}" && ! -d "$DATA" ]] &&
        ! "$RUNUSER" -u postgres -- test -x "$REPO_ROOT"; then
        PG_DIR="$(fallback_dir)"
        info "the postgres user cannot reach $REPO_ROOT: the cluster lives in $PG_DIR"
        locate_dir
    fi
}

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# Port of the running server, from line 4 of postmaster.pid.
running_port() {
    sed -n 4p "$DATA/postmaster.pid"
}

port_in_use() {
    # A connect that succeeds means something listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

choose_port() {
    if [[ -n "${RISKMAP_PG_PORT:-}" ]]; then
        [[ "$RISKMAP_PG_PORT" =~ ^[0-9]+$ ]] || die "RISKMAP_PG_PORT must be a number, not '$RISKMAP_PG_PORT'"
        if port_in_use "$RISKMAP_PG_PORT"; then
            die "port $RISKMAP_PG_PORT (RISKMAP_PG_PORT) is in use by another server; pick a free one or leave RISKMAP_PG_PORT unset to pick one automatically"
        fi
        printf '%s\n' "$RISKMAP_PG_PORT"
        return 0
    fi
    local first=$DEFAULT_PORT port
    [[ -f "$PG_DIR/port" ]] && first="$(cat "$PG_DIR/port")"
    for port in "$first" $(seq "$DEFAULT_PORT" $((DEFAULT_PORT + PORT_RANGE - 1))); do
        if ! port_in_use "$port"; then
            [[ "$port" != "$first" ]] && info "port $first is taken by another server: using $port"
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free port in $DEFAULT_PORT-$((DEFAULT_PORT + PORT_RANGE - 1)): set RISKMAP_PG_PORT"
}

init_cluster() {
    mkdir -p "$PG_DIR" "$RUN"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR" "$RUN"
    chmod 700 "$RUN"
    info "initdb $DATA"
    as_pg "$PG_BIN/initdb" -D "$DATA" --auth=trust --username="$PG_USER" --encoding=UTF8 --no-locale \
        >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed (log above)"
    }
    # Unix socket paths are limited to ~107 bytes: a clone deep in the tree gets TCP only.
    local sockets="$RUN"
    if ((${#RUN} > 90)); then
        sockets=""
        info "path too long for a unix socket: TCP on 127.0.0.1 only"
    fi
    as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- riskmap private test cluster (scripts/pg.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockets'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 256MB
log_min_messages = warning
EOF
}

psql_admin() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(running_port)" -U "$PG_USER" "$@"
}

cmd_start() {
    check_binaries
    resolve_dir
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        init_cluster
    fi
    if is_running; then
        info "already running on port $(running_port) ($DATA)"
    else
        local port
        port="$(choose_port)"
        info "starting PostgreSQL 15 on 127.0.0.1:$port ($DATA)"
        [[ $EUID -eq 0 ]] && touch "$LOG" && chown postgres:postgres "$LOG"
        if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port" start >/dev/null; then
            tail -n 20 "$LOG" >&2 || true
            die "PostgreSQL did not start (log above, full log in $LOG)"
        fi
        printf '%s\n' "$port" >"$PG_DIR/port"
    fi
    if [[ "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
        info "creating database $PG_DB"
        psql_admin -d postgres -c "CREATE DATABASE \"$PG_DB\""
    fi
    psql_admin -d "$PG_DB" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis"
    info "ready: $(dsn)"
}

cmd_stop() {
    locate_dir
    if is_running; then
        info "stopping PostgreSQL on port $(running_port) ($DATA)"
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    else
        info "not running ($DATA)"
    fi
}

cmd_status() {
    locate_dir
    if is_running; then
        printf 'running: port %s, data %s, dsn %s\n' "$(running_port)" "$DATA" "$(dsn)"
    elif [[ -f "$DATA/PG_VERSION" ]]; then
        printf 'stopped: data %s\n' "$DATA"
        return 3
    else
        printf 'not initialised: %s (bash scripts/pg.sh start creates it)\n' "$DATA"
        return 3
    fi
}

dsn() {
    printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$PG_USER" "$(running_port)" "$PG_DB"
}

cmd_dsn() {
    locate_dir
    is_running || die "the cluster in $DATA is not running: bash scripts/pg.sh start"
    dsn
}

cmd_psql() {
    locate_dir
    is_running || die "the cluster in $DATA is not running: bash scripts/pg.sh start"
    exec "$PG_BIN/psql" -X -h 127.0.0.1 -p "$(running_port)" -U "$PG_USER" -d "$PG_DB" "$@"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    dsn) cmd_dsn ;;
    psql) cmd_psql "$@" ;;
    *)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        [[ -z "$cmd" || "$cmd" == -h || "$cmd" == --help ]] && exit 0
        die "unknown command '$cmd'"
        ;;
    esac
}

main "$@"
