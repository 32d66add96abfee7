#!/usr/bin/env bash
# End-to-end: a real EverShop (npm) on a real PostgreSQL (Debian) with the
# shopstream-webhooks extension, shopstream serve + process on the real Kafka,
# the knowledge base and inbox played by deploy/e2e/fakes. See README.md here.
#
#   deploy/e2e/run.sh            run once, stop what it started, exit non-zero on any failed check
#   E2E_KEEP=1 deploy/e2e/run.sh leave everything running afterwards (stop with deploy/e2e/run.sh stop)
#   deploy/e2e/run.sh stop
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVE_PID="$E2E_VAR/serve.pid"
PROCESS_PID="$E2E_VAR/process.pid"
FAKES_PID="$E2E_VAR/fakes.pid"
BIN="$REPO_ROOT/bin/shopstream"
FAKES_BIN="$REPO_ROOT/bin/e2e-fakes"

stop_all() {
  "$E2E_DIR/store.sh" stop || true
  stop_bg "shopstream process" "$PROCESS_PID"
  stop_bg "shopstream serve" "$SERVE_PID"
  stop_bg fakes "$FAKES_PID"
  "$E2E_DIR/postgres.sh" stop || true
  if [[ "${E2E_PRIVATE_KAFKA:-1}" == 1 ]]; then
    KAFKA_PORT="$PRIVATE_KAFKA_PORT" KAFKA_CONTROLLER_PORT="$((PRIVATE_KAFKA_PORT + 1))" SHOPSTREAM_VAR="$E2E_VAR/private" \
      "$REPO_ROOT/deploy/local/kafka.sh" stop >/dev/null 2>&1 || true
  fi
}

if [[ "${1:-}" == stop ]]; then stop_all; exit 0; fi

T0=$(now_ms)
declare -a PHASES=()
phase() { local now; now=$(now_ms); PHASES+=("$(printf '%-26s %6.1f s' "$1" "$(( now - ${PT:-$T0} ))e-3")"); PT=$now; }
PT=$T0
report() {
  local rc=$?
  if [[ "${E2E_KEEP:-0}" != 1 ]]; then stop_all >/dev/null 2>&1 || true; fi
  {
    echo "---- e2e phases ----"
    printf '%s\n' "${PHASES[@]}"
    printf 'total                      %6.1f s  (exit %d)\n' "$(( $(now_ms) - T0 ))e-3" "$rc"
  } >&2
  if [[ $rc -ne 0 ]]; then
    echo "e2e FAILED; logs in $E2E_LOGS" >&2
    for f in store.log serve.log process.log fakes.log; do show_log_tail "$E2E_LOGS/$f" 25; done
  fi
}
trap report EXIT

command -v kcat >/dev/null || { log "installing kcat from Debian"; apt-get install -y -qq kcat >/dev/null; }
command -v node >/dev/null || die "node (20) is required"

# 1. Infrastructure: PostgreSQL with a fresh store database, the shared Kafka.
"$E2E_DIR/postgres.sh" reset
phase "postgres (fresh db)"
if [[ "${E2E_PRIVATE_KAFKA:-1}" == 1 ]]; then
  # A broker of our own (same scripts, own data dir and ports): shopstream's
  # topic and consumer group names are fixed, so on the shared broker other
  # runs of `process` (integration tests, benchmarks) join the same groups
  # and may consume this run's records.
  # Emptied every run, like the store's database: EverShop numbers products
  # from 1 again, and the last run's alert state for "product 5" (its
  # cooldowns, its last stock) must not meet this run's product 5.
  KAFKA_PORT="$PRIVATE_KAFKA_PORT" KAFKA_CONTROLLER_PORT="$((PRIVATE_KAFKA_PORT + 1))" SHOPSTREAM_VAR="$E2E_VAR/private" \
    "$REPO_ROOT/deploy/local/kafka.sh" purge >/dev/null
  KAFKA_PORT="$PRIVATE_KAFKA_PORT" KAFKA_CONTROLLER_PORT="$((PRIVATE_KAFKA_PORT + 1))" SHOPSTREAM_VAR="$E2E_VAR/private" \
    "$REPO_ROOT/deploy/local/kafka.sh" start >/dev/null
  KAFKA_BROKERS="127.0.0.1:$PRIVATE_KAFKA_PORT"
  phase "kafka (private, start)"
else
  "$REPO_ROOT/deploy/local/kafka.sh" start >/dev/null
  phase "kafka (shared, start/verify)"
fi

# 2. Binaries.
(cd "$REPO_ROOT" && go build -o "$BIN" ./cmd/shopstream && go build -o "$FAKES_BIN" ./deploy/e2e/fakes)
phase "go build"

# 3. EverShop from npm, the extension copied in, webpack build when needed.
"$E2E_DIR/store.sh" build
phase "evershop install+build"

# 4. Fakes, shopstream.
stop_bg fakes "$FAKES_PID"; rm -f "$E2E_VAR/fakes.env"
start_bg fakes "$FAKES_PID" "$E2E_LOGS/fakes.log" "$FAKES_BIN" -addr "127.0.0.1:$FAKES_PORT" -urls "$E2E_VAR/fakes.env" \
  -coze-token "$COZE_TOKEN" -coze-dataset "$COZE_DATASET" -inbox-token "$INBOX_TOKEN" -alert-secret "$ALERT_WEBHOOK_SECRET" -kafka "$KAFKA_BROKERS"
wait_http "$FAKES_URL/healthz" 30 || die "fakes did not start"
for _ in $(seq 50); do [[ -s "$E2E_VAR/fakes.env" ]] && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$E2E_VAR/fakes.env"

export EVERSHOP_WEBHOOK_SECRET="$WEBHOOK_SECRET" SHOPSTREAM_KAFKA_BROKERS="$KAFKA_BROKERS"
export EVERSHOP_API_URL="$STORE_URL" EVERSHOP_ADMIN_EMAIL="$ADMIN_EMAIL" EVERSHOP_ADMIN_PASSWORD="$ADMIN_PASSWORD"
export COZE_API_URL COZE_API_TOKEN="$COZE_TOKEN" COZE_DATASET_ID="$COZE_DATASET"
export INBOX_API_URL INBOX_API_TOKEN="$INBOX_TOKEN"
export SHOPSTREAM_LOG_LEVEL="${SHOPSTREAM_LOG_LEVEL:-info}"
"$BIN" topics >"$E2E_LOGS/topics.log" 2>&1 || { show_log_tail "$E2E_LOGS/topics.log"; die "shopstream topics failed"; }
stop_bg "shopstream serve" "$SERVE_PID"; stop_bg "shopstream process" "$PROCESS_PID"
: >"$E2E_LOGS/serve.log"; : >"$E2E_LOGS/process.log"
SHOPSTREAM_HTTP_ADDR="127.0.0.1:$SHOPSTREAM_PORT" SHOPSTREAM_ADMIN_ADDR="127.0.0.1:$SHOPSTREAM_ADMIN_PORT" \
  start_bg "shopstream serve" "$SERVE_PID" "$E2E_LOGS/serve.log" "$BIN" serve
WEBHOOK_INVENTORY_ALERTS=true WEBHOOK_PRICE_ALERTS=true \
SHOPSTREAM_ALERT_STAFF_EMAIL="$ALERT_STAFF_EMAIL" SHOPSTREAM_ALERT_WEBHOOK_URL="$ALERT_WEBHOOK_URL" \
SHOPSTREAM_ALERT_WEBHOOK_SECRET="$ALERT_WEBHOOK_SECRET" SHOPSTREAM_ALERT_LOW_STOCK="$ALERT_LOW_STOCK" \
SHOPSTREAM_ALERT_PRICE_PERCENT="$ALERT_PRICE_PERCENT" SHOPSTREAM_ALERT_DIGEST_MIN="$ALERT_DIGEST_MIN" \
SHOPSTREAM_ALERT_DIGEST_QUIET="$ALERT_DIGEST_QUIET" SHOPSTREAM_ALERT_DIGEST_MAX_WAIT="$ALERT_DIGEST_MAX_WAIT" \
SHOPSTREAM_HTTP_ADDR="127.0.0.1:$((SHOPSTREAM_PORT + 2))" SHOPSTREAM_ADMIN_ADDR="127.0.0.1:$((SHOPSTREAM_ADMIN_PORT + 1))" \
  start_bg "shopstream process" "$PROCESS_PID" "$E2E_LOGS/process.log" "$BIN" process
for _ in $(seq 120); do
  curl -sf -o /dev/null "http://127.0.0.1:$SHOPSTREAM_ADMIN_PORT/readyz" && break; sleep 0.25
done
curl -sf -o /dev/null "http://127.0.0.1:$SHOPSTREAM_ADMIN_PORT/readyz" || die "shopstream serve not ready"
phase "fakes + shopstream up"

# 5. The store (runs its migrations, the extension's included, on start).
"$E2E_DIR/store.sh" start
phase "evershop start"

# 6. Drive it and check.
STORE_URL="$STORE_URL" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" FAKES_URL="$FAKES_URL" \
  KAFKA_BROKERS="$KAFKA_BROKERS" E2E_DIR="$E2E_DIR" RUN_ID="${RUN_ID:-$(date +%s)}" \
  ALERT_STAFF_EMAIL="$ALERT_STAFF_EMAIL" ALERT_LOW_STOCK="$ALERT_LOW_STOCK" ALERT_PRICE_PERCENT="$ALERT_PRICE_PERCENT" \
  ALERT_DIGEST_MIN="$ALERT_DIGEST_MIN" ALERT_DIGEST_MAX_WAIT="$ALERT_DIGEST_MAX_WAIT" \
  node "$E2E_DIR/drive.mjs" | tee "$E2E_VAR/result.json"
phase "drive + assertions"
log "e2e PASSED"
