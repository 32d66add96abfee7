# shellcheck shell=bash
# Shared helpers for deploy/local/*.sh. Sourced, never executed.
#
# Layout (all overridable through the environment):
#   SHOPSTREAM_VAR    runtime state: data, logs, pid files   (default <repo>/var)
#   SHOPSTREAM_CACHE  downloaded artefacts kept between runs (default ~/.cache/shopstream)

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$LOCAL_DIR/../.." && pwd -P)"
SHOPSTREAM_VAR="${SHOPSTREAM_VAR:-$REPO_ROOT/var}"
SHOPSTREAM_CACHE="${SHOPSTREAM_CACHE:-${HOME:-/root}/.cache/shopstream}"

# Keep runtime state out of git without touching the repo's .gitignore.
if [[ ! -e "$SHOPSTREAM_VAR/.gitignore" ]]; then
  mkdir -p "$SHOPSTREAM_VAR" && printf '# created by deploy/local: runtime state, never commit\n*\n' >"$SHOPSTREAM_VAR/.gitignore"
fi
# A go.mod makes it a module of its own: `go vet/test ./...` and golangci-lint
# then never walk broker data that changes under them.
[[ -e "$SHOPSTREAM_VAR/go.mod" ]] || printf 'module shopstream.local/var\n' >"$SHOPSTREAM_VAR/go.mod"

_ts() { date +%H:%M:%S; }
log() { printf '[%s] %s\n' "$(_ts)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(_ts)" "$*" >&2; exit 1; }

# now_ms: wall clock in milliseconds (no bc needed).
now_ms() { local n; n=$(date +%s%N); echo $((n / 1000000)); }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_holder PORT: best-effort description of who listens on PORT.
port_holder() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/^/    /'
  fi
}

# show_log_tail FILE [LINES]: print the end of a service log to stderr.
show_log_tail() {
  local f="$1" n="${2:-40}"
  if [[ -s "$f" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
    printf -- '----- end of %s -----\n' "$f" >&2
  fi
}

# cmdline_of PID: set REPLY to the command line of PID, arguments joined by
# spaces (empty for a zombie). No fork: find_pids calls it for every process.
cmdline_of() {
  local -a parts
  REPLY=
  mapfile -d '' -t parts 2>/dev/null <"/proc/$1/cmdline" || return 1
  REPLY="${parts[*]}"
}

# pid_alive PID PATTERN: PID exists and its command line contains PATTERN
# (guards against a recycled pid).
pid_alive() {
  local pid="$1" pattern="$2" cmd
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline_of "$pid" || return 1
  cmd="$REPLY"
  [[ -n "$cmd" && "$cmd" == *"$pattern"* ]]
}

# read_pid FILE: pid stored in FILE, or empty.
read_pid() {
  local p=
  [[ -r "$1" ]] && read -r p <"$1" || true
  [[ "$p" =~ ^[0-9]+$ ]] && echo "$p" || true
}

# stop_pid NAME PIDFILE PATTERN TIMEOUT_S: SIGTERM, wait, then SIGKILL the
# whole process group (services are started with setsid, so pgid == pid).
stop_pid() {
  local name="$1" pidfile="$2" pattern="$3" timeout="$4" pid t0 deadline
  pid=$(read_pid "$pidfile")
  if ! pid_alive "$pid" "$pattern"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  t0=$(now_ms)
  deadline=$((t0 + timeout * 1000))
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid" "$pattern"; do
    if (($(now_ms) > deadline)); then
      log "$name: still running after ${timeout}s, sending SIGKILL to process group $pid"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do pid_alive "$pid" "$pattern" || break; sleep 0.05; done
      pid_alive "$pid" "$pattern" && die "$name: pid $pid survived SIGKILL"
      break
    fi
    sleep 0.05
  done
  # Anything else left in the group (there should be nothing).
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "$name: stopped pid $pid in $(($(now_ms) - t0)) ms"
}

APT_UPDATED=0
# apt_install PKG...: install Debian packages that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
  fi
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}

# find_pids PATTERN: pids whose full command line contains PATTERN (exact
# substring, not a regex), excluding this shell. Used to find a service whose
# pid file was lost; PATTERN always includes this checkout's config path.
find_pids() {
  local pattern="$1" d pid cmd
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    cmdline_of "$pid" || continue
    cmd="$REPLY"
    [[ -n "$cmd" && "$cmd" == *"$pattern"* ]] && echo "$pid"
  done
  return 0
}

# render TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT replacing @KEY@ by VALUE.
render() {
  local tmpl="$1" out="$2" text kv
  shift 2
  text=$(<"$tmpl")
  for kv in "$@"; do
    text="${text//@${kv%%=*}@/${kv#*=}}"
  done
  printf '%s\n' "$text" >"$out.tmp.$$"
  mv -f "$out.tmp.$$" "$out"
}

# lock_service DIR: serialize start/stop/purge of one service across processes
# (parallel `go test` packages may call the scripts at the same time). The lock
# is held until the calling script exits.
lock_service() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if ! flock -w 180 9; then
    die "could not lock $1/.lock within 180 s (another start/stop is stuck?)"
  fi
}

# close_inherited_fds closes every descriptor above stderr in the calling
# (sub)shell. Services are started through it so they never keep a file a
# caller had open: a broker started by a test that runs under `flock FILE go
# test` would otherwise hold that lock for as long as it lives.
close_inherited_fds() {
  local p n
  for p in /proc/$BASHPID/fd/*; do
    n=${p##*/}
    if [[ $n =~ ^[0-9]+$ ]] && ((n > 2)); then
      eval "exec ${n}>&-" 2>/dev/null || true
    fi
  done
}

# service_pid PIDFILE PATTERN prints the pid of a running service: the one in
# its pid file if alive, else (pid file lost or stale) the process whose
# command line matches PATTERN, which is then written back to the pid file.
service_pid() {
  local pidfile=$1 pattern=$2 pid
  pid=$(read_pid "$pidfile")
  if pid_alive "$pid" "$pattern"; then echo "$pid"; return 0; fi
  pid=$(find_pids "$pattern" | head -n1)
  if [[ -n "$pid" ]]; then echo "$pid" >"$pidfile"; echo "$pid"; return 0; fi
  return 1
}

# stop_service NAME PIDFILE PATTERN TIMEOUT stops a service and any other
# process of this checkout matching PATTERN (there should be none), and
# returns only once they are gone.
stop_service() {
  local name=$1 pidfile=$2 pattern=$3 timeout=$4 pid
  if pid=$(service_pid "$pidfile" "$pattern"); then
    echo "$pid" >"$pidfile"
    stop_pid "$name" "$pidfile" "$pattern" "$timeout"
  else
    rm -f "$pidfile"
    log "$name: not running"
  fi
  for pid in $(find_pids "$pattern"); do
    echo "$pid" >"$pidfile"
    stop_pid "$name" "$pidfile" "$pattern" "$timeout"
  done
}
