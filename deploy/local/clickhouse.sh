#!/usr/bin/env bash
# ClickHouse server (Debian bookworm's clickhouse-server 18.16) on loopback, run
# as a plain background process with its own config and data directories.
#
#   deploy/local/clickhouse.sh install   apt-get install clickhouse-server clickhouse-client if missing
#   deploy/local/clickhouse.sh start     start and wait until `SELECT 1` answers
#   deploy/local/clickhouse.sh stop      SIGTERM, wait, SIGKILL fallback; data is kept
#   deploy/local/clickhouse.sh restart
#   deploy/local/clickhouse.sh status    exit 0 running+ready, 1 running but not answering, 3 stopped
#   deploy/local/clickhouse.sh purge     stop and delete all data and logs
#   deploy/local/clickhouse.sh client ARGS...   clickhouse-client against this server
#
# Environment (defaults): CLICKHOUSE_TCP_PORT (9000), CLICKHOUSE_HTTP_PORT (8123) — when
# unset, the ports of the config rendered by the last start in SHOPSTREAM_VAR, so
# status/stop/start of a server started on other ports find it again;
# CLICKHOUSE_RUN_AS (unset: the current user; e.g. `clickhouse` to drop root),
# CLICKHOUSE_START_TIMEOUT (60 s), CLICKHOUSE_STOP_TIMEOUT (30 s), SHOPSTREAM_VAR.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_HOST=127.0.0.1
CVAR="$SHOPSTREAM_VAR/clickhouse"
CH_CONF="$CVAR/etc/config.xml"
# rendered_port TAG: the port the last start wrote into the config, if any.
rendered_port() { [[ -f "$CH_CONF" ]] && sed -n "s:.*<$1>\([0-9][0-9]*\)</$1>.*:\1:p" "$CH_CONF" | head -1; }
CH_TCP_PORT="${CLICKHOUSE_TCP_PORT:-$(rendered_port tcp_port || true)}"
CH_TCP_PORT="${CH_TCP_PORT:-9000}"
CH_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-$(rendered_port http_port || true)}"
CH_HTTP_PORT="${CH_HTTP_PORT:-8123}"
CH_RUN_AS="${CLICKHOUSE_RUN_AS:-}"
CH_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
CH_STOP_TIMEOUT="${CLICKHOUSE_STOP_TIMEOUT:-30}"

CH_ETC="$CVAR/etc"
CH_DATA="$CVAR/data"
CH_LOGS="$CVAR/logs"
PIDFILE="$CVAR/clickhouse.pid"
PATTERN="clickhouse-server --config-file=$CH_CONF"
DSN="clickhouse://$CH_HOST:$CH_TCP_PORT/default"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

server_bin() { command -v clickhouse-server 2>/dev/null || { [[ -x /usr/sbin/clickhouse-server ]] && echo /usr/sbin/clickhouse-server; }; }

installed() { [[ -n "$(server_bin)" ]] && command -v clickhouse-client >/dev/null 2>&1; }

cmd_install() {
  local t0
  t0=$(now_ms)
  if installed; then
    log "clickhouse: $(clickhouse-client --version 2>/dev/null | head -n1) already installed"
    return 0
  fi
  apt_install clickhouse-server clickhouse-client
  installed || die "clickhouse: clickhouse-server/clickhouse-client still missing after apt-get install"
  log "clickhouse: installed in $(($(now_ms) - t0)) ms"
}

render_conf() {
  mkdir -p "$CH_ETC" "$CH_DATA" "$CH_LOGS"
  render "$LOCAL_DIR/clickhouse/config.xml.in" "$CH_CONF" \
    HOST="$CH_HOST" TCP_PORT="$CH_TCP_PORT" HTTP_PORT="$CH_HTTP_PORT" \
    DATA_DIR="$CH_DATA" LOG_DIR="$CH_LOGS"
  cp -f "$LOCAL_DIR/clickhouse/users.xml" "$CH_ETC/users.xml"
  if [[ -n "$CH_RUN_AS" && "$(id -u)" -eq 0 ]]; then
    chown -R "$CH_RUN_AS:" "$CVAR"
  fi
}

ch_ready() {
  local out
  port_open "$CH_HOST" "$CH_TCP_PORT" || return 1
  out=$(clickhouse-client --host "$CH_HOST" --port "$CH_TCP_PORT" --connect_timeout 2 -q 'SELECT 1' 2>/dev/null) || return 1
  [[ "$out" == 1 ]]
}

wait_ready() { # PID
  local pid="$1" deadline
  deadline=$(($(now_ms) + CH_START_TIMEOUT * 1000))
  until ch_ready; do
    # kill -0, not pid_alive: right after the fork the child may not have exec'd yet.
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$CH_LOGS/clickhouse-server.err.log" 40
      show_log_tail "$CH_LOGS/stdout.log" 20
      die "clickhouse: server process $pid exited during startup (logs: $CH_LOGS)"
    fi
    if (($(now_ms) > deadline)); then
      show_log_tail "$CH_LOGS/clickhouse-server.log" 40
      show_log_tail "$CH_LOGS/stdout.log" 20
      die "clickhouse: not answering at $CH_HOST:$CH_TCP_PORT after ${CH_START_TIMEOUT}s (pid $pid, logs: $CH_LOGS)"
    fi
    sleep 0.05
  done
}

running_pid() { service_pid "$PIDFILE" "$PATTERN"; }

print_address() { echo "SHOPSTREAM_TEST_CLICKHOUSE=$DSN"; }

cmd_start() {
  local t0 pid bin p run=()
  installed || cmd_install
  mkdir -p "$CVAR"
  if pid=$(running_pid); then
    wait_ready "$pid"
    log "clickhouse: already running (pid $pid) at $CH_HOST:$CH_TCP_PORT"
    print_address
    return 0
  fi
  for p in "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
    if port_open "$CH_HOST" "$p"; then
      port_holder "$p" >&2
      die "clickhouse: $CH_HOST:$p is already in use by another process (not this checkout's server)"
    fi
  done
  render_conf
  bin=$(server_bin)
  if [[ -n "$CH_RUN_AS" && "$(id -u)" -eq 0 ]]; then
    run=(setpriv --reuid="$CH_RUN_AS" --regid="$CH_RUN_AS" --init-groups)
  fi
  t0=$(now_ms)
  # setsid: own session/process group, no inherited stdio nor lock fd (see kafka.sh).
  # Run from the data dir: the server resolves a few relative paths against cwd.
  (cd "$CH_DATA" && close_inherited_fds && exec setsid "${run[@]}" "$bin" --config-file="$CH_CONF") \
    >"$CH_LOGS/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
  log "clickhouse: ready in $(($(now_ms) - t0)) ms (pid $pid), native $CH_HOST:$CH_TCP_PORT, http http://$CH_HOST:$CH_HTTP_PORT, $(clickhouse-client --host "$CH_HOST" --port "$CH_TCP_PORT" -q 'SELECT version()' 2>/dev/null), data $CH_DATA"
  print_address
}

cmd_stop() { stop_service clickhouse "$PIDFILE" "$PATTERN" "$CH_STOP_TIMEOUT"; }

cmd_status() {
  local pid
  if ! pid=$(running_pid); then
    echo "clickhouse: stopped (data $CH_DATA)"
    return 3
  fi
  if ch_ready; then
    echo "clickhouse: running pid $pid, native $CH_HOST:$CH_TCP_PORT, http http://$CH_HOST:$CH_HTTP_PORT, version $(clickhouse-client --host "$CH_HOST" --port "$CH_TCP_PORT" -q 'SELECT version()' 2>/dev/null), data $CH_DATA, log $CH_LOGS/clickhouse-server.log"
    return 0
  fi
  echo "clickhouse: pid $pid running but $CH_HOST:$CH_TCP_PORT does not answer (log $CH_LOGS/clickhouse-server.err.log)"
  return 1
}

cmd_purge() {
  cmd_stop
  rm -rf "$CVAR"
  log "clickhouse: deleted $CVAR"
}

case "${1:-}" in
  start | stop | restart | purge) lock_service "$CVAR" ;;
esac

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  client) shift; exec clickhouse-client --host "$CH_HOST" --port "$CH_TCP_PORT" "$@" ;;
  *) usage ;;
esac
