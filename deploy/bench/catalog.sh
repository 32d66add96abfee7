#!/usr/bin/env bash
# Catalog burst benchmark (issue 9): burst size vs catalog regenerations for
# bursts of product events through the real ingress, with 1 and 3
# processors, idle and beside a CPU hog (stress-ng --cpu 1), and the time
# from the last accepted event to the knowledge base (the Coze fake) holding
# the new document. Prints a Markdown table.
#
#   deploy/bench/catalog.sh                       sizes 100,1000,10000; 1 and 3 processors
#   SIZES=100,1000 PROCESSORS=1 deploy/bench/catalog.sh
#
# The run resets every evershop.* / shopstream.* topic and shopstream-*
# group of the broker it is given (SHOPSTREAM_TEST_KAFKA, default
# 127.0.0.1:9092): use your own broker (deploy/local/kafka.sh start with
# KAFKA_PORT=...). Needs stress-ng for the "cpu hog" rows (apt-get install
# stress-ng); without it those rows are skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
export SHOPSTREAM_TEST_KAFKA="${SHOPSTREAM_TEST_KAFKA:-127.0.0.1:9092}"
SIZES="${SIZES:-100,1000,10000}"
PROCESSORS="${PROCESSORS:-1,3}"
OUT="$(mktemp)"
trap 'rm -f "$OUT"; [ -n "${HOG:-}" ] && kill "$HOG" 2>/dev/null || true' EXIT

run() { # label
  SHOPSTREAM_BENCH_CATALOG="$SIZES" SHOPSTREAM_BENCH_PROCESSORS="$PROCESSORS" \
    SHOPSTREAM_BENCH_LABEL="$1" SHOPSTREAM_BENCH_OUT="$OUT" \
    "$GO" test -count=1 -timeout 60m -run '^TestCatalogBurstBenchmark$' ./cmd/shopstream >&2
}

echo "catalog burst benchmark against $SHOPSTREAM_TEST_KAFKA: sizes $SIZES, processors $PROCESSORS" >&2
run idle
if command -v stress-ng >/dev/null; then
  stress-ng --cpu 1 --quiet &
  HOG=$!
  run "cpu hog"
  kill "$HOG"
  wait "$HOG" 2>/dev/null || true
  HOG=
else
  echo "stress-ng not found: no cpu hog rows" >&2
fi

echo "| load | processors | events | accepted in (s) | uploads | regenerations | last accepted -> live (s) | last accepted -> all outcomes (s) |"
echo "|---|---|---|---|---|---|---|---|"
cat "$OUT"
