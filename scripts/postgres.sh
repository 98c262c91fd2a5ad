#!/usr/bin/env bash
# Local PostgreSQL 15 (Debian package postgresql-15) for tests and local runs, without Docker:
# a throwaway cluster under .it/postgres, trust auth, fsync off, listening on 127.0.0.1 only.
#
#   bash scripts/postgres.sh start    init (once) and start (idempotent), create database tributary, print the URL
#   bash scripts/postgres.sh stop     stop (idempotent)
#   bash scripts/postgres.sh status   "running <url>" (exit 0) or "stopped" (exit 3)
#   bash scripts/postgres.sh reset    stop and delete the data
#
# Env: TRIBUTARY_POSTGRES_PORT (default 55432), TRIBUTARY_POSTGRES_DB (default tributary).
# Not installed? apt-get install -y postgresql-15
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"
P="$ROOT/.it/postgres"
DATA="$P/data"
LOG="$P/postgres.log"
HOST=127.0.0.1
PORT="${TRIBUTARY_POSTGRES_PORT:-55432}"
DB="${TRIBUTARY_POSTGRES_DB:-tributary}"
URL="postgres://postgres@$HOST:$PORT/$DB"

SVC_NAME=postgres.sh
SVC_HOME="$P"
SVC_LOCK_TIMEOUT=60
SVC_LOG="$LOG"

PGBIN="${TRIBUTARY_PGBIN:-}"
if [[ -z "$PGBIN" ]]; then
  for v in 15 16 17 14; do
    if [[ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]]; then PGBIN="/usr/lib/postgresql/$v/bin"; break; fi
  done
fi

# The server refuses to run as root: as root run its tools as the `postgres` user, else as ourselves.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_ctl_() { as_owner "$PGBIN/pg_ctl" -D "$DATA" "$@"; }

is_running() { [[ -f "$DATA/postmaster.pid" ]] && pg_ctl_ status >/dev/null 2>&1; }

running_port() { sed -n '4p' "$DATA/postmaster.pid" 2>/dev/null || true; }

ready() { "$PGBIN/pg_isready" -q -h "$HOST" -p "$1" -t 2; }

cmd_start() {
  lock
  [[ -n "$PGBIN" ]] || die "PostgreSQL server binaries not found (apt-get install -y postgresql-15)"
  local t0 ms
  t0=$(date +%s%N)
  if is_running; then
    [[ "$(running_port)" == "$PORT" ]] || die "a server started by this script already runs on port $(running_port); stop it first"
  else
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
      rm -rf "$DATA"
      mkdir -p "$DATA"
      [[ "$(id -u)" == 0 ]] && chown -R postgres:postgres "$P"
      as_owner "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$P/initdb.log" 2>&1 ||
        { cat "$P/initdb.log" >&2; die "initdb failed"; }
    fi
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$P" && touch "$LOG" && chown postgres:postgres "$LOG"
    svc_ports_free TRIBUTARY_POSTGRES_PORT "$PORT"
    # -k: the socket lives in our dir (/var/run/postgresql may not exist). fsync etc. off: test data only.
    # 9>&-: the server must not inherit the lock fd, or it would hold the lock for its whole life.
    pg_ctl_ -l "$LOG" -w -t 30 -o "-c listen_addresses=$HOST -p $PORT -k $P -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_connections=200" start >/dev/null 9>&- || { svc_tail_log 30; die "start failed"; }
  fi
  for _ in $(seq 60); do ready "$PORT" && break; sleep 0.5; done
  ready "$PORT" || die "server does not answer on $HOST:$PORT (log: $LOG)"
  if [[ "$("$PGBIN/psql" -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$DB'")" != 1 ]]; then
    "$PGBIN/psql" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -c "create database \"$DB\"" >/dev/null
  fi
  ms=$((($(date +%s%N) - t0) / 1000000))
  log "PostgreSQL ready on $HOST:$PORT after ${ms}ms (data $DATA, log $LOG)"
  echo "$URL"
}

cmd_stop_locked() {
  if is_running; then pg_ctl_ -m fast -w -t 30 stop >/dev/null; fi
  echo "stopped"
}

cmd_status() {
  if is_running; then
    local port
    port="$(running_port)"
    if ready "$port"; then
      echo "running postgres://postgres@$HOST:$port/$DB"
      return 0
    fi
    echo "starting (port $port, not ready yet)"
    return 3
  fi
  echo "stopped"
  return 3
}

cmd_reset() { svc_reset "$DATA"; }

svc_main "start stop status reset" "${1:-}"
