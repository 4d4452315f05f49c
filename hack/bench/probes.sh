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
source "$(dirname "$0")/lib.sh"

bench_args --modes "$@"
bench_token
bench_init rcd-probes bench_sweep   # the sweep: the daemon, its sleeps, the listener and the floor

bench_build probes ./hack/bench/probes

case "$mode" in
  quick) args=(-n 200 -window 15s -kills 5); limit=400 ;;
  full)  args=(-n 1000 -window 60s -kills 10); limit=900 ;;
esac

echo "== run ($mode)" >&2
# The harness bounds itself (-timeout); timeout(1) is the backstop.
bench_run "$limit" "$work/probes" -bin "$work/reconciled" \
  -token "$token" -workdir "$work/run" -timeout "$((limit - 30))s" "${args[@]}" "${harness_args[@]}"
