# shellcheck shell=bash
# Shared settings for deploy/e2e/*.sh. Sourced, never executed.
#
# Everything the end-to-end run creates lives under $E2E_VAR (default
# <repo>/var/e2e, ignored by git): the PostgreSQL cluster, the EverShop store,
# logs, pid files. Ports are fixed and chosen away from the ones shopstream's
# own tooling uses (8080, 9102, 9092, 9093, 9000, 8123, 19092); override any
# of them through the environment.
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=../local/lib.sh
source "$E2E_DIR/../local/lib.sh"   # log, die, port_open, pid helpers, REPO_ROOT, SHOPSTREAM_VAR

E2E_VAR="${E2E_VAR:-$SHOPSTREAM_VAR/e2e}"
E2E_LOGS="$E2E_VAR/logs"
mkdir -p "$E2E_LOGS"

# PostgreSQL: a private cluster run as the postgres user, on loopback only.
PG_VERSION="${PG_VERSION:-15}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/$PG_VERSION/bin}"
PG_PORT="${E2E_PG_PORT:-55432}"
PG_DATA="$E2E_VAR/pg/data"
PG_SOCK="$E2E_VAR/pg/run"
PG_DB="${E2E_PG_DB:-evershop}"
PG_USER="${E2E_PG_USER:-evershop}"
PG_PASSWORD="${E2E_PG_PASSWORD:-evershop-e2e}"

# EverShop.
EVERSHOP_VERSION="${EVERSHOP_VERSION:-2.2.1}"
STORE_DIR="$E2E_VAR/store"
STORE_PORT="${E2E_STORE_PORT:-18300}"
STORE_URL="http://127.0.0.1:$STORE_PORT"
ADMIN_EMAIL="${E2E_ADMIN_EMAIL:-admin@e2e.example.com}"
ADMIN_PASSWORD="${E2E_ADMIN_PASSWORD:-e2e-Admin-123}"
EXTENSION_DIR="$REPO_ROOT/connectors/evershop/extension"

# shopstream and the fakes.
SHOPSTREAM_PORT="${E2E_SHOPSTREAM_PORT:-18380}"
SHOPSTREAM_ADMIN_PORT="${E2E_SHOPSTREAM_ADMIN_PORT:-18381}"
SHOPSTREAM_URL="http://127.0.0.1:$SHOPSTREAM_PORT"
FAKES_PORT="${E2E_FAKES_PORT:-18390}"
FAKES_URL="http://127.0.0.1:$FAKES_PORT"
KAFKA_BROKERS="${E2E_KAFKA_BROKERS:-127.0.0.1:9092}"
PRIVATE_KAFKA_PORT="${E2E_PRIVATE_KAFKA_PORT:-19292}"   # E2E_PRIVATE_KAFKA=1 (and +1 for its controller)
WEBHOOK_SECRET="${E2E_WEBHOOK_SECRET:-e2e-webhook-secret}"
COZE_TOKEN=e2e-coze-token
COZE_DATASET=7400000000000000001
INBOX_TOKEN=e2e-inbox-token
# Store alerts (issue 12): `process` runs with both alert flags on, sending to
# the staff conversation of the inbox fake and to the fakes' signed webhook
# receiver (POST $FAKES_URL/alerts). The thresholds are the documented
# defaults, set explicitly because drive.mjs builds its cases on them. The
# digest window: an alert is sent once no other arrived for QUIET, so the 50
# price alerts of the bulk change (50 admin-API PATCHes, 8 at a time) must
# reach the digest owner less than QUIET apart to form one window; 8 s is
# many times the gap seen on a loaded 2-core machine, and MAX_WAIT bounds the
# whole burst (the drive checks it took less).
ALERT_WEBHOOK_SECRET="${E2E_ALERT_WEBHOOK_SECRET:-whsec_ZTJlLWFsZXJ0LXdlYmhvb2stc2VjcmV0}"
ALERT_STAFF_EMAIL="${E2E_ALERT_STAFF_EMAIL:-store-team@e2e.example.com}"
ALERT_LOW_STOCK=5
ALERT_PRICE_PERCENT=10
ALERT_DIGEST_MIN=5
ALERT_DIGEST_QUIET="${E2E_ALERT_DIGEST_QUIET:-8s}"
ALERT_DIGEST_MAX_WAIT="${E2E_ALERT_DIGEST_MAX_WAIT:-120s}"

# wait_http URL SECONDS: until URL answers any HTTP status.
wait_http() {
  local url="$1" secs="$2" i
  for ((i = 0; i < secs * 4; i++)); do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    sleep 0.25
  done
  return 1
}

# start_bg NAME PIDFILE LOG CMD...: run CMD in its own session (so its whole
# process group can be stopped), record its pid.
start_bg() {
  local name="$1" pidfile="$2" logf="$3"; shift 3
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "$name: started (pid $!, log $logf)"
}

# stop_bg NAME PIDFILE: SIGTERM the process group recorded in PIDFILE, wait
# up to 15 s, then SIGKILL it. Only ever touches what start_bg started.
stop_bg() {
  local name="$1" pidfile="$2" pid i
  pid=$(read_pid "$pidfile")
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "$name: stopped"
  fi
  rm -f "$pidfile"
}
