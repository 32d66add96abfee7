#!/usr/bin/env bash
# Ingress benchmark: how many signed webhooks per second `shopstream serve`
# accepts with a durable write (Kafka acks=all) per request, against the
# ceiling of the same HTTP stack with a publisher that does nothing.
#
#   deploy/bench/ingress.sh [loadgen flags...]   e.g. -duration 30s -conns 64
#   deploy/bench/ingress.sh -h                   the load generator's flags
#
# Two runs of deploy/bench/loadgen (signed, distinct webhooks, 64 keep-alive
# connections, 15 s after a 2 s warm-up by default):
#   (a) bin/shopstream serve on the real broker at $SHOPSTREAM_TEST_KAFKA,
#       after bin/shopstream topics, logs at info (the production default);
#   (b) the same ingress.Server handler in a process of its own
#       (loadgen -serve-noop), no Kafka at all.
# It prints a Markdown table (setup | req/s | p50 | p99 | errors) and the
# ratio serve/ceiling to stdout; progress and logs go to stderr. Everything
# it starts is stopped when it exits. Load generator, server and broker share
# this machine's CPUs: read the figures with that in mind (the note under
# the table says how many there are).
#
# It writes to the production topic names (evershop.*) of the broker, so it
# holds /tmp/shopstream-it.lock, the lock of every run that must not share
# the broker (deploy/bench/pipeline.sh, the broker outage test), while it runs.
#
# Environment: SHOPSTREAM_TEST_KAFKA (127.0.0.1:9092), BENCH_HTTP_PORT
# (18080), BENCH_ADMIN_PORT (18102), BENCH_CEILING_PORT (18081), BENCH_LOCK
# (/tmp/shopstream-it.lock), GO (go).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
BROKERS="${SHOPSTREAM_TEST_KAFKA:-127.0.0.1:9092}"
HTTP_PORT="${BENCH_HTTP_PORT:-18080}"
ADMIN_PORT="${BENCH_ADMIN_PORT:-18102}"
CEILING_PORT="${BENCH_CEILING_PORT:-18081}"
LOCK="${BENCH_LOCK:-/tmp/shopstream-it.lock}"
LOADGEN=bin/bench-loadgen

log() { printf '[%s] ingress.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for a in "$@"; do
  case "$a" in -h | -help | --help)
    "$GO" run ./deploy/bench/loadgen -h
    exit 0
    ;;
  esac
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$HTTP_PORT" "$ADMIN_PORT" "$CEILING_PORT"; do
  port_open "$p" && die "port $p is in use (set BENCH_HTTP_PORT, BENCH_ADMIN_PORT, BENCH_CEILING_PORT)"
done
host="${BROKERS%%,*}"
if ! timeout 5 bash -c "exec 3<>/dev/tcp/${host%:*}/${host##*:}" 2>/dev/null; then
  die "no Kafka broker answers at $host (start it: deploy/local/kafka.sh start, or make infra-up)"
fi
command -v flock >/dev/null || die "flock (util-linux) is required"
command -v curl >/dev/null || die "curl is required"

log "building bin/shopstream and $LOADGEN"
"$GO" build -o bin/shopstream ./cmd/shopstream
"$GO" build -o "$LOADGEN" ./deploy/bench/loadgen

WORK="$(mktemp -d "${TMPDIR:-/tmp}/shopstream-bench-ingress.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if ((rc == 0)); then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID: SIGTERM and wait for it (both servers drain and exit on it).
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# wait_http URL PID NAME LOG: until URL answers 200 (30 s), or PID died.
wait_http() {
  local url="$1" pid="$2" name="$3" logf="$4" i
  for i in $(seq 1 300); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" == 200 ]]; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then tail -n 20 "$logf" >&2; die "$name exited during startup (log $logf)"; fi
    sleep 0.1
  done
  tail -n 20 "$logf" >&2
  die "$name not ready at $url after 30 s (log $logf)"
}

exec 8>"$LOCK"
log "waiting for $LOCK (shared broker)"
flock -w 900 8 || die "$LOCK still held after 15 min"

SECRET="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export EVERSHOP_WEBHOOK_SECRET="$SECRET"
LOAD_AVG_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# (a) shopstream serve on the real broker.
log "bin/shopstream topics ($BROKERS)"
SHOPSTREAM_KAFKA_BROKERS="$BROKERS" SHOPSTREAM_LOG_LEVEL=warn bin/shopstream topics >"$WORK/topics.log" 2>&1 8>&- ||
  { cat "$WORK/topics.log" >&2; die "bin/shopstream topics failed"; }
SHOPSTREAM_KAFKA_BROKERS="$BROKERS" SHOPSTREAM_LOG_LEVEL=info \
  SHOPSTREAM_HTTP_ADDR="127.0.0.1:$HTTP_PORT" SHOPSTREAM_ADMIN_ADDR="127.0.0.1:$ADMIN_PORT" \
  bin/shopstream serve >"$WORK/serve.log" 2>&1 8>&- &
SERVE=$!
PIDS+=("$SERVE")
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" "$SERVE" "shopstream serve" "$WORK/serve.log"
log "shopstream serve ready (pid $SERVE); loading it"
ROW_SERVE="$("$LOADGEN" -url "http://127.0.0.1:$HTTP_PORT" -label "shopstream serve → Kafka (acks=all)" "$@" 8>&-)"
stop "$SERVE"

# (b) the same handler, no Kafka.
"$LOADGEN" -serve-noop "127.0.0.1:$CEILING_PORT" >"$WORK/ceiling.log" 2>&1 8>&- &
CEILING=$!
PIDS+=("$CEILING")
# Any HTTP answer means it listens; GET / is a JSON 404 from the router.
for i in $(seq 1 300); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CEILING_PORT/" 2>/dev/null)" == 404 ]] && break
  kill -0 "$CEILING" 2>/dev/null || { cat "$WORK/ceiling.log" >&2; die "ceiling server exited"; }
  sleep 0.1
done
log "ceiling server ready (pid $CEILING); loading it"
ROW_CEILING="$("$LOADGEN" -url "http://127.0.0.1:$CEILING_PORT" -label "same handler, no-op publisher (ceiling)" "$@" 8>&-)"
stop "$CEILING"
LOAD_AVG_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# Rows are: label, req/s, p50 ms, p99 ms, errors, requests.
{
  echo "| setup | req/s | p50 | p99 | errors |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  printf '%s\n%s\n' "$ROW_SERVE" "$ROW_CEILING" |
    awk -F'\t' '{ printf "| %s | %.0f | %.1f ms | %.1f ms | %d of %d |\n", $1, $2, $3, $4, $5, $5 + $6 }'
  echo
  printf '%s\n%s\n' "$ROW_SERVE" "$ROW_CEILING" |
    awk -F'\t' 'NR == 1 { s = $2 } NR == 2 { c = $2 } END { if (c > 0) printf "serve/ceiling: %.0f %% of the ceiling'"'"'s throughput\n", 100 * s / c }'
  echo
  echo "$(nproc) CPUs shared by the load generator, the server and (run a) the Kafka broker;" \
    "load average $LOAD_AVG_BEFORE before, $LOAD_AVG_AFTER after."
}
