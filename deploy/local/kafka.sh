#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker + controller) on loopback,
# run from Maven Central jars: no tarball, no Docker.
#
#   deploy/local/kafka.sh install   fetch jars into the cache (once), build the CDS archive
#   deploy/local/kafka.sh start     format storage if new, start, wait until the broker answers
#   deploy/local/kafka.sh stop      SIGTERM, wait, SIGKILL fallback; data is kept
#   deploy/local/kafka.sh restart
#   deploy/local/kafka.sh status    exit 0 running+ready, 1 running but not answering, 3 stopped
#   deploy/local/kafka.sh purge     stop and delete all data and logs
#   deploy/local/kafka.sh topics ARGS...   kafka-topics  (e.g. topics --list)
#   deploy/local/kafka.sh groups ARGS...   kafka-consumer-groups (e.g. groups --describe --all-groups)
#   deploy/local/kafka.sh tool CLASS ARGS... any other Kafka tool class
#
# Environment (defaults): KAFKA_VERSION (4.4.0), KAFKA_PORT (9092),
# KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP_OPTS (-Xmx512m), KAFKA_JIT (c1 or tiered), KAFKA_JVM_OPTS,
# KAFKA_CDS (1: use an AppCDS archive for faster start), KAFKA_START_TIMEOUT (90 s),
# KAFKA_STOP_TIMEOUT (30 s), SHOPSTREAM_VAR, SHOPSTREAM_CACHE (see lib.sh).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m}"
# KAFKA_JIT: c1 (default) stops the JIT at C1: with Serial GC and AppCDS,
# ~1 s from exec to a broker that serves metadata on 2 cores instead of ~2 s,
# right for tests and dev. Under a steady load C1 code costs the broker about
# twice the CPU per record of C2 (deploy/bench/cost.sh measured 82-122 vs
# 39-67 µs per accepted webhook): `tiered` (the JVM default, what a
# production broker runs) for benchmarks, KAFKA_JIT=tiered deploy/local/kafka.sh restart.
KAFKA_JIT="${KAFKA_JIT:-c1}"
case "$KAFKA_JIT" in
  c1) _jit=(-XX:TieredStopAtLevel=1) ;;
  tiered) _jit=() ;;
  *) echo "kafka.sh: KAFKA_JIT must be c1 or tiered, not $KAFKA_JIT" >&2; exit 2 ;;
esac
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC ${_jit[*]} -XX:-UsePerfData -Djava.awt.headless=true}"
KAFKA_CDS="${KAFKA_CDS:-1}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

KAFKA_HOME="$SHOPSTREAM_CACHE/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
KVAR="$SHOPSTREAM_VAR/kafka"
DATA="$KVAR/data"
LOGS="$KVAR/logs"
CONF="$KVAR/server.properties"
PIDFILE="$KVAR/kafka.pid"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
# What identifies our broker in `ps`: the main class followed by this checkout's config.
PATTERN="kafka.Kafka $CONF"

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n1
}

# Identifies the JVM build: a CDS archive is only valid for the JVM that made it.
java_id() {
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
  printf '%s-%s' "$v" "$(readlink -f "$(command -v java)" | md5sum | cut -c1-8)"
}

cds_archive() { echo "$KAFKA_HOME/cds/kafka-$(java_id).jsa"; }

libs_fingerprint() {
  { echo "$KAFKA_VERSION"; cat "$LOCAL_DIR/kafka/pom.xml"; } | sha256sum | cut -d' ' -f1
}

libs_ok() {
  [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$KAFKA_HOME/.libs-ok" ]] &&
    [[ "$(cat "$KAFKA_HOME/.libs-ok")" == "$(libs_fingerprint)" ]]
}

ensure_tools() {
  local pkgs=()
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  command -v kcat >/dev/null 2>&1 || pkgs+=(kcat)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  local major
  major=$(java_major)
  [[ -n "$major" && "$major" -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, found: $(java -version 2>&1 | head -n1)"
}

fetch_libs() {
  if libs_ok; then
    log "kafka: $KAFKA_VERSION jars already in $LIBS"
    return 0
  fi
  local t0 work
  t0=$(now_ms)
  log "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$KAFKA_HOME"
  work="$KAFKA_HOME/fetch.$$"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$LOCAL_DIR/kafka/pom.xml" "$work/pom.xml"
  if ! (cd "$work" && mvn -q -B -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/libs") >"$work/mvn.log" 2>&1; then
    show_log_tail "$work/mvn.log" 60
    die "kafka: mvn dependency:copy-dependencies failed (log: $work/mvn.log)"
  fi
  [[ -f "$work/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
  rm -rf "$LIBS" "$KAFKA_HOME/cds"
  mv "$work/libs" "$LIBS"
  rm -rf "$work"
  libs_fingerprint >"$KAFKA_HOME/.libs-ok"
  log "kafka: $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) fetched in $(($(now_ms) - t0)) ms"
}

render_conf() { # OUT PORT CONTROLLER_PORT DATA_DIR
  render "$LOCAL_DIR/kafka/server.properties.in" "$1" \
    HOST="$KAFKA_HOST" PORT="$2" CONTROLLER_PORT="$3" DATA_DIR="$4"
}

# jvm_cmd ARRAYNAME LOGDIR CONF [extra JVM flags...]: the broker's java command line.
jvm_cmd() {
  local -n _cmd="$1"
  local logdir="$2" conf="$3" heap jvm
  shift 3
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  read -r -a jvm <<<"$KAFKA_JVM_OPTS"
  _cmd=(java "${heap[@]}" "${jvm[@]}" "$@"
    -Dkafka.logs.dir="$logdir"
    -Dlog4j2.configurationFile="$LOCAL_DIR/kafka/log4j2.xml"
    -cp "$LIBS/*" kafka.Kafka "$conf")
}

format_storage() { # CONF DATA_DIR LOGDIR
  local conf="$1" data="$2" logdir="$3" cid
  [[ -f "$data/meta.properties" ]] && return 0
  mkdir -p "$data" "$logdir"
  cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  log "kafka: formatting $data (cluster id $cid)"
  if ! java -Dkafka.logs.dir="$logdir" -Dlog4j2.configurationFile="$LOCAL_DIR/kafka/tools-log4j2.xml" \
    -cp "$LIBS/*" kafka.tools.StorageTool format --cluster-id="$cid" --config="$conf" >"$logdir/format.log" 2>&1; then
    show_log_tail "$logdir/format.log"
    die "kafka: storage format failed"
  fi
}

# broker_ready HOST:PORT: metadata answered and our broker listed (a fenced
# broker is left out of metadata, so this also means "unfenced").
broker_ready() {
  local md
  port_open "${1%:*}" "${1##*:}" || return 1
  md=$(kcat -L -b "$1" -m 3 2>/dev/null) || return 1
  [[ "$md" == *"broker 1 at"* ]]
}

# wait_ready PID BOOTSTRAP LOGDIR TIMEOUT_S
wait_ready() {
  local pid="$1" bootstrap="$2" logdir="$3" timeout="$4" deadline
  deadline=$(($(now_ms) + timeout * 1000))
  until broker_ready "$bootstrap"; do
    # kill -0, not pid_alive: right after the fork the child may not have exec'd yet.
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$logdir/server.log" 60
      show_log_tail "$logdir/kafka.out" 20
      die "kafka: broker process $pid exited during startup (logs: $logdir)"
    fi
    if (($(now_ms) > deadline)); then
      show_log_tail "$logdir/server.log" 60
      show_log_tail "$logdir/kafka.out" 20
      die "kafka: broker not ready at $bootstrap after ${timeout}s (pid $pid, logs: $logdir)"
    fi
    sleep 0.05
  done
  # After a restart, partition leaders are re-elected right after the broker
  # is unfenced; give that a moment so clients never see LEADER_NOT_AVAILABLE.
  local md
  for _ in $(seq 1 100); do
    if md=$(kcat -L -b "$bootstrap" -m 3 2>/dev/null) && [[ "$md" != *"leader -1"* ]]; then
      return 0
    fi
    sleep 0.1
  done
  log "kafka: warning: some partitions still have no leader (see kcat -L -b $bootstrap)"
}

# Pre-dump the classes the broker loads into an AppCDS archive (one throwaway
# broker on other ports, in a scratch dir). Halves the start time. Not fatal.
build_cds() {
  [[ "$KAFKA_CDS" == 1 ]] || return 0
  local jsa t0 tdir tport=19092 tcport=19093 pid cmd
  jsa=$(cds_archive)
  [[ -s "$jsa" ]] && { log "kafka: CDS archive present ($jsa)"; return 0; }
  if port_open 127.0.0.1 "$tport" || port_open 127.0.0.1 "$tcport"; then
    log "kafka: warning: ports $tport/$tcport busy, skipping the CDS archive (slower start)"
    return 0
  fi
  t0=$(now_ms)
  log "kafka: building the AppCDS archive (one-time, ~5 s)"
  mkdir -p "$(dirname "$jsa")" "$KVAR"
  tdir=$(mktemp -d "$KVAR/cds-train.XXXXXX")
  render_conf "$tdir/server.properties" "$tport" "$tcport" "$tdir/data"
  echo "auto.create.topics.enable=true" >>"$tdir/server.properties"
  if ! (format_storage "$tdir/server.properties" "$tdir/data" "$tdir"); then
    log "kafka: warning: could not format the CDS training broker, starting without the archive"
    rm -rf "$tdir"
    return 0
  fi
  jvm_cmd cmd "$tdir" "$tdir/server.properties" -XX:ArchiveClassesAtExit="$jsa.tmp"
  (close_inherited_fds; exec setsid "${cmd[@]}") >"$tdir/kafka.out" 2>&1 </dev/null &
  pid=$!
  if (wait_ready "$pid" "127.0.0.1:$tport" "$tdir" 60) 2>/dev/null; then
    # Exercise produce, fetch and a consumer group so those classes are archived too.
    printf 'k1:v1\nk2:v2\n' | kcat -P -b "127.0.0.1:$tport" -t cds-warmup -K: 2>/dev/null || true
    kcat -C -b "127.0.0.1:$tport" -t cds-warmup -e -q -o beginning >/dev/null 2>&1 || true
    timeout 10 kcat -b "127.0.0.1:$tport" -G cds-warmup-group -e -q -o beginning cds-warmup >/dev/null 2>&1 || true
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 600); do pid_alive "$pid" kafka.Kafka || break; sleep 0.05; done
  if pid_alive "$pid" kafka.Kafka; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  if [[ -s "$jsa.tmp" ]]; then
    mv -f "$jsa.tmp" "$jsa"
    log "kafka: CDS archive $(du -h "$jsa" | cut -f1) built in $(($(now_ms) - t0)) ms"
  else
    rm -f "$jsa.tmp"
    show_log_tail "$tdir/kafka.out" 10
    log "kafka: warning: CDS archive not written, starting without it"
  fi
  rm -rf "$tdir"
}

cmd_install() {
  local t0
  t0=$(now_ms)
  ensure_tools
  fetch_libs
  build_cds
  log "kafka: install done in $(($(now_ms) - t0)) ms"
}

running_pid() { service_pid "$PIDFILE" "$PATTERN"; }

print_address() { echo "SHOPSTREAM_TEST_KAFKA=$BOOTSTRAP"; }

cmd_start() {
  local t0 pid cmd jsa cds=()
  t0=$(now_ms)
  if ! libs_ok || ! command -v kcat >/dev/null 2>&1; then cmd_install; fi
  mkdir -p "$DATA" "$LOGS"
  if pid=$(running_pid); then
    wait_ready "$pid" "$BOOTSTRAP" "$LOGS" "$KAFKA_START_TIMEOUT"
    log "kafka: already running (pid $pid) at $BOOTSTRAP"
    print_address
    return 0
  fi
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$KAFKA_HOST" "$p"; then
      port_holder "$p" >&2
      die "kafka: $KAFKA_HOST:$p is already in use by another process (not this checkout's broker)"
    fi
  done
  render_conf "$CONF" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$DATA"
  format_storage "$CONF" "$DATA" "$LOGS"
  if [[ "$KAFKA_CDS" == 1 ]]; then
    jsa=$(cds_archive)
    [[ -s "$jsa" ]] && cds=(-XX:SharedArchiveFile="$jsa" -Xshare:auto)
  fi
  jvm_cmd cmd "$LOGS" "$CONF" "${cds[@]}"
  # setsid: own session and process group, immune to the caller's Ctrl-C/hangup;
  # no inherited stdio (a test harness waiting on our output never hangs) and
  # no other inherited descriptor: not the lock fd 9 (the lock must end with
  # this script) nor any lock a caller holds.
  t0=$(now_ms)
  (close_inherited_fds; exec setsid "${cmd[@]}") >"$LOGS/kafka.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid" "$BOOTSTRAP" "$LOGS" "$KAFKA_START_TIMEOUT"
  log "kafka: ready in $(($(now_ms) - t0)) ms (pid $pid) at $BOOTSTRAP, data $DATA, log $LOGS/server.log"
  print_address
}

cmd_stop() { stop_service kafka "$PIDFILE" "$PATTERN" "$KAFKA_STOP_TIMEOUT"; }

cmd_status() {
  local pid
  if ! pid=$(running_pid); then
    echo "kafka: stopped (data $DATA)"
    return 3
  fi
  if broker_ready "$BOOTSTRAP"; then
    echo "kafka: running pid $pid, bootstrap $BOOTSTRAP, controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT, Kafka $KAFKA_VERSION, data $DATA, log $LOGS/server.log"
    return 0
  fi
  echo "kafka: pid $pid running but $BOOTSTRAP does not answer metadata (log $LOGS/server.log)"
  return 1
}

cmd_purge() {
  cmd_stop
  rm -rf "$KVAR"
  log "kafka: deleted $KVAR"
}

run_tool() {
  libs_ok || die "kafka: not installed (run deploy/local/kafka.sh install)"
  exec java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$LOCAL_DIR/kafka/tools-log4j2.xml" \
    -cp "$LIBS/*" "$@"
}

case "${1:-}" in
  start | stop | restart | purge) lock_service "$KVAR" ;;
esac

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  topics) shift; run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@" ;;
  groups) shift; run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOTSTRAP" "$@" ;;
  tool) shift; [[ $# -ge 1 ]] || usage; run_tool "$@" ;;
  *) usage ;;
esac
