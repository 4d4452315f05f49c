#!/usr/bin/env bash
# Benchmark the output pipeline: a child writing 1 GiB to stdout through the
# daemon into a rotating log file, against the same child writing to a file
# directly, interleaved in one run; plus the daemon's peak RSS.
#
#   hack/bench/logs.sh                 # 3 rounds of 1 GiB
#   hack/bench/logs.sh -- -rounds 5    # extra flags go to hack/bench/logs
#   BIN=/path/to/reconciled hack/bench/logs.sh   # a daemon built elsewhere (before/after)
#
# Targets (issue 4): ratio >= 0.70, daemon RSS < 64 MB throughout. Needs
# about 2 GiB free in ${TMPDIR:-/tmp}. Whatever happens, the trap kills the
# daemon's process group and removes the scratch directory (RCD_BENCH_KEEP=1
# keeps it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_args "$@"
# The daemon runs in its own process group, led by the pid in its lock dir.
bench_init rcd-bench-logs bench_kill_daemon_group

bench_build bench-logs ./hack/bench/logs
mkdir -p "$work/run"

echo "== run" >&2
bench_run 1800 "$work/bench-logs" -bin "${BIN:-$work/reconciled}" -workdir "$work/run" "${harness_args[@]}"
