#!/usr/bin/env bash
# A private PostgreSQL cluster for the e2e store (Debian's postgresql package).
#   deploy/e2e/postgres.sh install   apt-get install postgresql when missing
#   deploy/e2e/postgres.sh start     initdb on first use, start, create role + database
#   deploy/e2e/postgres.sh stop
#   deploy/e2e/postgres.sh reset     drop and recreate the store database
#   deploy/e2e/postgres.sh psql ARGS...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

as_pg() { runuser -u postgres -- "$@"; }

install() {
  if [[ -x "$PG_BIN/pg_ctl" ]]; then return 0; fi
  log "postgres: installing from Debian"
  [[ $(id -u) -eq 0 ]] || die "postgres: need root for apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  [[ -x "$PG_BIN/pg_ctl" ]] || die "postgres: $PG_BIN/pg_ctl missing after install (set PG_VERSION?)"
}

psql_() { as_pg "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  install
  mkdir -p "$E2E_VAR/pg" "$PG_SOCK"
  chown postgres:postgres "$E2E_VAR/pg" "$PG_SOCK"
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$E2E_LOGS/initdb.log" 2>&1 \
      || { show_log_tail "$E2E_LOGS/initdb.log"; die "initdb failed"; }
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    touch "$E2E_LOGS/postgres.log" && chown postgres "$E2E_LOGS/postgres.log"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$E2E_LOGS/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null \
      || { show_log_tail "$E2E_LOGS/postgres.log"; die "postgres: start failed"; }
  fi
  log "postgres: up on 127.0.0.1:$PG_PORT"
  if [[ -z $(psql_ -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'") ]]; then
    psql_ -d postgres -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
  fi
  if [[ -z $(psql_ -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'") ]]; then
    psql_ -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  fi
}

stop() {
  if [[ -s "$PG_DATA/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    log "postgres: stopped"
  fi
}

reset() {
  start
  psql_ -d postgres -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)"
  psql_ -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  log "postgres: database $PG_DB recreated"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  reset) reset ;;
  psql) shift; psql_ -d "$PG_DB" "$@" ;;
  *) echo "usage: $0 install|start|stop|reset|psql ARGS" >&2; exit 2 ;;
esac
