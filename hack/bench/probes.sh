#!/usr/bin/env bash
# Benchmark reconciled's readiness probes: N instances with a tcpSocket probe
# at period 1s against a local listener, against the same N without probes
# and a minimal Go loop making the same connections, then with 50 instances
# whose probes time out.
#
#   hack/bench/probes.sh            # full: N=1000, 60 s windows, 10 kills (~4.5 min)
#   hack/bench/probes.sh --quick    # quick: N=200, 15 s windows, 5 kills (~1.5 min)
#   hack/bench/probes.sh -- -v      # extra flags go to hack/bench/probes
#
# Builds the daemon and the harness into a temporary directory, runs
# hack/bench/probes under a timeout and prints its table. Whatever happens
# (failure, Ctrl-C, timeout), the trap kills every process that carries this
# run's token in its environment and removes the temp dir (set
# RCD_BENCH_KEEP=1 to keep it: daemon log, status and event files).
set -euo pipefail

mode=full
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; shift ;;
    --full) mode=full; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--quick|--full] [-- HARNESS-FLAGS...]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/rcd-probes.XXXXXX")
token="rcdbench-$$-$RANDOM$RANDOM"
harness_pid=""

# sweep SIGKILLs every process whose environment carries the token: the
# daemon, its sleeps, the listener and the floor (the harness itself does not
# carry it).
sweep() {
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qxF "RECONCILED_BENCH_TOKEN=$token"; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true   # it cleans up after itself ...
    for _ in $(seq 1 100); do kill -0 "$harness_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$harness_pid" 2>/dev/null || true
  fi
  sweep                                              # ... and this catches the rest
  if [ "$rc" -ne 0 ] && [ -f "$work/run/daemon.log" ]; then
    echo "== last lines of the daemon log" >&2
    tail -n 30 "$work/run/daemon.log" >&2
  fi
  if [ -n "${RCD_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build (into $work)" >&2
go build -o "$work/reconciled" ./cmd/reconciled
go build -o "$work/probes" ./hack/bench/probes

case "$mode" in
  quick) args=(-n 200 -window 15s -kills 5); limit=400 ;;
  full)  args=(-n 1000 -window 60s -kills 10); limit=900 ;;
esac

echo "== run ($mode)" >&2
# The harness bounds itself (-timeout); timeout(1) is the backstop.
timeout -k 20 "$limit" "$work/probes" -bin "$work/reconciled" \
  -token "$token" -workdir "$work/run" -timeout "$((limit - 30))s" "${args[@]}" "$@" &
harness_pid=$!
wait "$harness_pid"
