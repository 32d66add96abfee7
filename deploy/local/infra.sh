#!/usr/bin/env bash
# Local infrastructure for development and integration tests: Kafka + ClickHouse
# on loopback, started as plain background processes (no Docker, no systemd).
#
#   deploy/local/infra.sh up       install what is missing, start both, wait until ready,
#                                  print the SHOPSTREAM_TEST_* variables
#   deploy/local/infra.sh down     stop both (data is kept)
#   deploy/local/infra.sh status   exit 0 only if both are running and answering
#   deploy/local/infra.sh env      print `export SHOPSTREAM_TEST_...=...` lines:
#                                  eval "$(deploy/local/infra.sh env)"
#   deploy/local/infra.sh purge    stop both and delete their data
#
# Each service also has its own script: deploy/local/kafka.sh, deploy/local/clickhouse.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_SH="$LOCAL_DIR/kafka.sh"
CLICKHOUSE_SH="$LOCAL_DIR/clickhouse.sh"

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

env_lines() {
  echo "SHOPSTREAM_TEST_KAFKA=127.0.0.1:${KAFKA_PORT:-9092}"
  echo "SHOPSTREAM_TEST_CLICKHOUSE=clickhouse://127.0.0.1:${CLICKHOUSE_TCP_PORT:-9000}/default"
}

cmd_up() {
  local t0
  t0=$(now_ms)
  "$KAFKA_SH" install
  "$CLICKHOUSE_SH" install
  "$KAFKA_SH" start >/dev/null
  "$CLICKHOUSE_SH" start >/dev/null
  log "infra: up in $(($(now_ms) - t0)) ms (state in $SHOPSTREAM_VAR; stop with deploy/local/infra.sh down)"
  env_lines
}

cmd_down() {
  local rc=0
  "$KAFKA_SH" stop || rc=$?
  "$CLICKHOUSE_SH" stop || rc=$?
  return "$rc"
}

cmd_status() {
  local rc=0
  "$KAFKA_SH" status || rc=1
  "$CLICKHOUSE_SH" status || rc=1
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) env_lines | sed 's/^/export /' ;;
  purge) "$KAFKA_SH" purge; "$CLICKHOUSE_SH" purge ;;
  *) usage ;;
esac
