# shellcheck shell=bash
# hack/bench/lib.sh: the shell that run.sh, probes.sh and logs.sh share.
# Source it after `set -euo pipefail`; it runs nothing by itself.
#
#   bench_args [--modes] "$@"   the command line: [--quick|--full] (with
#                               --modes; default full) [-- HARNESS-FLAGS...];
#                               sets $mode and the array $harness_args;
#                               -h/--help prints the script's header comment
#   bench_init PREFIX REAP      cd to the repository root, make the scratch
#                               dir $work (PREFIX.XXXXXX under $TMPDIR) and
#                               set the cleanup trap; REAP names the function
#                               that catches what the harness leaves:
#                               bench_sweep (needs $token) or
#                               bench_kill_daemon_group
#   bench_token                 sets $token, the run's RECONCILED_BENCH_TOKEN
#   bench_build NAME PKG ...    builds cmd/reconciled and each PKG to $work/NAME
#   bench_run LIMIT CMD ...     runs the harness in the background under
#                               timeout(1) with LIMIT seconds and waits for it
#
# Whatever happens (failure, Ctrl-C, timeout), the trap stops the harness
# (SIGTERM: it cleans up after itself; SIGKILL after 10 s), runs REAP, shows
# the end of the daemon log on failure and removes $work (set
# RCD_BENCH_KEEP=1 to keep it).

bench_args() {
  local modes=""
  if [ "${1:-}" = "--modes" ]; then modes=1; shift; fi
  mode=full
  harness_args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick|--full)
        if [ -z "$modes" ]; then bench_usage_error "$modes"; fi
        mode=${1#--}; shift ;;
      --) shift; harness_args=("$@"); return 0 ;;
      -h|--help) bench_help; exit 0 ;;
      *) bench_usage_error "$modes" ;;
    esac
  done
}

# bench_usage_error MODES prints the usage line and exits 2.
bench_usage_error() {
  if [ -n "$1" ]; then
    echo "usage: $0 [--quick|--full] [-- HARNESS-FLAGS...]" >&2
  else
    echo "usage: $0 [-- HARNESS-FLAGS...]" >&2
  fi
  exit 2
}

# bench_help prints the script's header: the comment lines after the #! line.
bench_help() {
  sed -n '2,${/^#/!q;p}' "$0"
}

bench_init() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  bench_reap=$2
  harness_pid=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_token() {
  token="rcdbench-$$-$RANDOM$RANDOM"
}

# bench_sweep SIGKILLs every process whose environment carries the token: the
# daemon, its instances and whatever else the harness started (the harness
# itself does not carry it).
bench_sweep() {
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qxF "RECONCILED_BENCH_TOKEN=$token"; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

# bench_kill_daemon_group SIGKILLs the daemon's process group, led by the pid
# it registers under its state dir's daemons/ (for a harness that starts no
# token).
bench_kill_daemon_group() {
  local f
  for f in "$work"/run/specs/.reconciled/daemons/[0-9]*; do
    case "$f" in *.sock|*'[0-9]*') continue ;; esac
    kill -KILL -- "-${f##*/}" 2>/dev/null || true
  done
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true   # it cleans up after itself ...
    for _ in $(seq 1 100); do kill -0 "$harness_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$harness_pid" 2>/dev/null || true
  fi
  "$bench_reap"                                      # ... and this catches the rest
  if [ "$rc" -ne 0 ] && [ -f "$work/run/daemon.log" ]; then
    echo "== last lines of the daemon log" >&2
    tail -n 30 "$work/run/daemon.log" >&2
  fi
  if [ -n "${RCD_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}

bench_build() {
  echo "== build (into $work)" >&2
  go build -o "$work/reconciled" ./cmd/reconciled
  while [ $# -gt 0 ]; do
    go build -o "$work/$1" "$2"
    shift 2
  done
}

bench_run() {
  local limit=$1
  shift
  timeout -k 20 "$limit" "$@" &
  harness_pid=$!
  wait "$harness_pid"
}
