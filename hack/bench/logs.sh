#!/usr/bin/env bash
# Benchmark the output pipeline: a child writing 1 GiB to stdout through the
# daemon into a rotating log file, against the same child writing to a file
# directly, interleaved in one run; plus the daemon's peak RSS.
#
#   hack/bench/logs.sh                 # 3 rounds of 1 GiB
#   hack/bench/logs.sh -- -rounds 5    # extra flags go to hack/bench/logs
#
# Targets (issue 4): ratio >= 0.70, daemon RSS < 64 MB throughout. Needs
# about 2 GiB free in ${TMPDIR:-/tmp}. Whatever happens, the trap kills the
# daemon's process group and removes the scratch directory (RCD_BENCH_KEEP=1
# keeps it).
set -euo pipefail

case "${1:-}" in
  --) shift ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [-- HARNESS-FLAGS...]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/rcd-bench-logs.XXXXXX")
harness_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$harness_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$harness_pid" 2>/dev/null || true
  fi
  # The daemon runs in its own process group, led by the pid in its lock dir.
  if [ -f "$work/run/specs/.reconciled/pid" ]; then
    kill -KILL -- "-$(cat "$work/run/specs/.reconciled/pid")" 2>/dev/null || true
  fi
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
go build -o "$work/bench-logs" ./hack/bench/logs
mkdir -p "$work/run"

echo "== run" >&2
timeout -k 20 1800 "$work/bench-logs" -bin "$work/reconciled" -workdir "$work/run" "$@" &
harness_pid=$!
wait "$harness_pid"
