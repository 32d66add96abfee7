#!/usr/bin/env bash
# The EverShop store for the e2e run, installed from npm into $E2E_VAR/store.
#   deploy/e2e/store.sh install   npm install @evershop/evershop (+ the extension copied in, built)
#   deploy/e2e/store.sh build     evershop build (skipped when nothing it depends on changed)
#   deploy/e2e/store.sh start     start on 127.0.0.1:$STORE_PORT, wait, create the admin user
#   deploy/e2e/store.sh stop
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$E2E_VAR/store.pid"
EXT_NAME=shopstreamWebhooks
EXT_DIR_IN_STORE="$STORE_DIR/extensions/shopstream-webhooks"

write_files() {
  mkdir -p "$STORE_DIR/config"
  # concat-stream: imported by @evershop/evershop 2.2.1 (modules/cms/services/
  # CustomMemoryStorage.js) but missing from its dependencies; without it
  # `evershop build` fails with ERR_MODULE_NOT_FOUND.
  cat >"$STORE_DIR/package.json" <<JSON
{
  "name": "shopstream-e2e-store",
  "version": "0.0.0",
  "private": true,
  "type": "module",
  "scripts": { "build": "evershop build", "start": "evershop start" },
  "dependencies": {
    "@evershop/evershop": "$EVERSHOP_VERSION",
    "concat-stream": "^2.0.0"
  }
}
JSON
  cat >"$STORE_DIR/config/default.json" <<JSON
{
  "shop": { "currency": "USD", "timezone": "UTC" },
  "system": {
    "cod": { "status": 1 },
    "extensions": [
      { "name": "$EXT_NAME", "resolve": "extensions/shopstream-webhooks", "enabled": true, "priority": 10 }
    ]
  }
}
JSON
  cat >"$STORE_DIR/.env" <<ENV
DB_HOST="127.0.0.1"
DB_PORT="$PG_PORT"
DB_NAME="$PG_DB"
DB_USER="$PG_USER"
DB_PASSWORD="$PG_PASSWORD"
DB_SSLMODE="disable"
PORT="$STORE_PORT"
JWT_ADMIN_SECRET="e2e-admin-secret-0123456789abcdef"
JWT_ADMIN_REFRESH_SECRET="e2e-admin-refresh-0123456789abcdef"
JWT_CUSTOMER_SECRET="e2e-customer-secret-0123456789abcdef"
JWT_CUSTOMER_REFRESH_SECRET="e2e-customer-refresh-0123456789abcdef"
SHOPSTREAM_URL="$SHOPSTREAM_URL"
EVERSHOP_WEBHOOK_SECRET="$WEBHOOK_SECRET"
SHOPSTREAM_WEBHOOK_BACKOFF_MS="500"
ENV
}

install() {
  command -v npm >/dev/null || die "store: npm not found (Node 20 + npm required)"
  write_files
  local stamp="$STORE_DIR/node_modules/.e2e-installed" want
  want="$(sha256sum "$STORE_DIR/package.json" | cut -c1-16)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "store: npm packages already installed (@evershop/evershop $EVERSHOP_VERSION)"
  else
    log "store: npm install @evershop/evershop@$EVERSHOP_VERSION"
    (cd "$STORE_DIR" && npm install --no-audit --no-fund --loglevel=error) >"$E2E_LOGS/npm-install.log" 2>&1 \
      || { show_log_tail "$E2E_LOGS/npm-install.log"; die "store: npm install failed"; }
    echo "$want" >"$stamp"
  fi
  # The extension is copied (not symlinked): Node resolves its imports of
  # @evershop/evershop and pg from the store's node_modules.
  rm -rf "$EXT_DIR_IN_STORE" && mkdir -p "$EXT_DIR_IN_STORE"
  (cd "$EXTENSION_DIR" && tar --exclude=node_modules --exclude=dist -cf - .) | (cd "$EXT_DIR_IN_STORE" && tar -xf -)
  (cd "$EXT_DIR_IN_STORE" && npm run --silent build) >/dev/null
  log "store: extension copied to $EXT_DIR_IN_STORE and built"
}

build() {
  install
  local stamp="$STORE_DIR/.evershop/e2e-build.stamp" want
  want="$( (cat "$STORE_DIR/package.json" "$STORE_DIR/config/default.json"; cd "$EXT_DIR_IN_STORE" && find src -type f | sort | xargs sha256sum) | sha256sum | cut -c1-16)"
  if [[ -f "$stamp" && -d "$STORE_DIR/.evershop/build" && "$(cat "$stamp")" == "$want" ]]; then
    log "store: build is up to date"
    return 0
  fi
  log "store: evershop build (webpack, ~1 min on 2 cores)"
  (cd "$STORE_DIR" && npx evershop build) >"$E2E_LOGS/store-build.log" 2>&1 \
    || { show_log_tail "$E2E_LOGS/store-build.log"; die "store: evershop build failed"; }
  grep -q "Compiled successfully" "$E2E_LOGS/store-build.log" \
    || { show_log_tail "$E2E_LOGS/store-build.log"; die "store: evershop build did not compile (it exits 0 on errors)"; }
  echo "$want" >"$stamp"
}

start() {
  stop_bg store "$PIDFILE"
  : >"$E2E_LOGS/store.log"
  start_bg store "$PIDFILE" "$E2E_LOGS/store.log" bash -c "cd '$STORE_DIR' && exec npx evershop start"
  wait_http "$STORE_URL/" 120 || { show_log_tail "$E2E_LOGS/store.log"; die "store: not answering on $STORE_URL"; }
  (cd "$STORE_DIR" && npx evershop user:create --name "E2E Admin" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD") >>"$E2E_LOGS/store.log" 2>&1
  log "store: up on $STORE_URL (admin $ADMIN_EMAIL)"
}

stop() { stop_bg store "$PIDFILE"; }

case "${1:-}" in
  install) install ;;
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|build|start|stop" >&2; exit 2 ;;
esac
