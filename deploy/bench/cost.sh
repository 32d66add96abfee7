#!/usr/bin/env bash
# Cost per event (issue 11): one Markdown table of CPU time per accepted
# webhook, processed order event and sunk outcome, from /proc, with the
# no-write ceiling and the raw producer as limits and 1-3 instances of each
# role. See the -cost comment in deploy/bench/pipeline/cost.go.
#
#   deploy/bench/cost.sh [benchmark flags...]   e.g. -cost-requests 50000 -cost-only ingress,ceiling,raw
#   deploy/bench/cost.sh -h                     every flag (the -cost-* ones are this table's)
#
# It needs the local broker and ClickHouse of deploy/local running (it reads
# their pids from `status` to count their CPU); it does not start them (make
# bench runs infra-up first). For a broker as production runs it (C2 JIT):
#   KAFKA_JIT=tiered deploy/local/kafka.sh restart
# The table says which JIT the broker ran.
#
# It deletes every evershop.* / shopstream.* topic and shopstream-* group on
# the broker first (fixed names), so it holds /tmp/shopstream-it.lock, the lock
# every user of the shared broker takes, for the whole run.
#
# Environment: KAFKA_PORT (9092) and the CLICKHOUSE_* ports of deploy/local,
# BENCH_LOCK (/tmp/shopstream-it.lock), GO (go). The table goes to stdout,
# progress to stderr; the processes' logs are kept in the directory it names.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
LOCK="${BENCH_LOCK:-/tmp/shopstream-it.lock}"
BROKERS="127.0.0.1:${KAFKA_PORT:-9092}"

for a in "$@"; do
  case "$a" in -h | -help | --help)
    "$GO" run ./deploy/bench/pipeline -h
    exit 0
    ;;
  esac
done

# -cost-profile DIR needs /debug/pprof on the admin listener: a build with the
# pprof tag (connectors/ingress/admin_pprof.go), never a release build.
tags=()
for a in "$@"; do
  case "$a" in -cost-profile | -cost-profile=* | --cost-profile | --cost-profile=*) tags=(-tags pprof) ;; esac
done

echo "building bin/shopstream${tags:+ (${tags[*]})} and bin/bench-pipeline" >&2
"$GO" build "${tags[@]}" -o bin/shopstream ./cmd/shopstream
"$GO" build -o bin/bench-pipeline ./deploy/bench/pipeline

if ! status=$(deploy/local/kafka.sh status 2>&1); then
  echo "$status" >&2
  echo "cost.sh: Kafka is not running and ready at $BROKERS; start it with deploy/local/infra.sh up (or make infra-up)" >&2
  exit 1
fi
[[ "$status" =~ running\ pid\ ([0-9]+) ]] || { echo "cost.sh: no broker pid in: $status" >&2; exit 1; }
broker_pid="${BASH_REMATCH[1]}"

ch_args=()
if status=$(deploy/local/clickhouse.sh status 2>&1) && [[ "$status" =~ running\ pid\ ([0-9]+) ]]; then
  ch_pid="${BASH_REMATCH[1]}"
  [[ "$status" =~ native\ ([0-9.]+:[0-9]+) ]] && ch_args=(-clickhouse "clickhouse://${BASH_REMATCH[1]}/default" -clickhouse-pid "$ch_pid")
else
  echo "cost.sh: ClickHouse is not running; the sink row is left out ($status)" >&2
fi

command -v flock >/dev/null || { echo "cost.sh: flock (util-linux) is required" >&2; exit 1; }
echo "waiting for $LOCK (shared broker)" >&2
exec flock "$LOCK" bin/bench-pipeline -cost -bin bin/shopstream -brokers "$BROKERS" -broker-pid "$broker_pid" "${ch_args[@]}" "$@"
