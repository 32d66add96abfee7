#!/usr/bin/env bash
# End-to-end pipeline benchmark: builds bin/shopstream and the benchmark
# (deploy/bench/pipeline), checks the local Kafka broker, then runs serve +
# process against it with the inbox and Coze fakes and prints a Markdown
# table: product events per catalog sync, and order.updated notification
# latency (ingress 200 OK -> inbox stored) at a steady open-loop rate.
#
#   deploy/bench/pipeline.sh [benchmark flags...]    e.g. -rate 300 -duration 30s
#   deploy/bench/pipeline.sh -h                      every flag and its default
#
# The run deletes every evershop.* / shopstream.* topic and shopstream-* group
# on the broker first (fixed names), so it holds /tmp/shopstream-it.lock, the
# lock every user of the shared broker takes, for the whole run.
#
# Environment: SHOPSTREAM_KAFKA_BROKERS (127.0.0.1:9092), BENCH_LOCK
# (/tmp/shopstream-it.lock), GO (go). The table goes to stdout, progress to
# stderr; serve.log and process.log are kept in the directory it names.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
BROKERS="${SHOPSTREAM_KAFKA_BROKERS:-127.0.0.1:9092}"
LOCK="${BENCH_LOCK:-/tmp/shopstream-it.lock}"

for a in "$@"; do
  case "$a" in -h | -help | --help)
    "$GO" run ./deploy/bench/pipeline -h
    exit 0
    ;;
  esac
done

echo "building bin/shopstream and bin/bench-pipeline" >&2
"$GO" build -o bin/shopstream ./cmd/shopstream
"$GO" build -o bin/bench-pipeline ./deploy/bench/pipeline

# The broker must be up and answering; this script does not start it (make
# bench runs infra-up first; by hand: deploy/local/infra.sh up).
broker_pid=0
if [[ "$BROKERS" == 127.0.0.1:9092 || "$BROKERS" == localhost:9092 ]]; then
  if ! status=$(deploy/local/kafka.sh status 2>&1); then
    echo "$status" >&2
    echo "pipeline.sh: Kafka is not running and ready at $BROKERS; start it with deploy/local/infra.sh up (or make infra-up)" >&2
    exit 1
  fi
  echo "$status" >&2
  # "kafka: running pid N, ...": the table shows the broker's CPU share.
  if [[ "$status" =~ running\ pid\ ([0-9]+) ]]; then broker_pid="${BASH_REMATCH[1]}"; fi
else
  host="${BROKERS%%,*}"
  if ! timeout 5 bash -c "exec 3<>/dev/tcp/${host%:*}/${host##*:}" 2>/dev/null; then
    echo "pipeline.sh: no broker answers at $host" >&2
    exit 1
  fi
fi

command -v flock >/dev/null || { echo "pipeline.sh: flock (util-linux) is required" >&2; exit 1; }
echo "waiting for $LOCK (shared broker)" >&2
exec flock "$LOCK" bin/bench-pipeline -bin bin/shopstream -brokers "$BROKERS" -broker-pid "$broker_pid" "$@"
