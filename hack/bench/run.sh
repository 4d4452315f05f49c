#!/usr/bin/env bash
# Benchmark reconciled against the C and Go spawn baselines in one run.
#
#   hack/bench/run.sh            # full: N=100, 1000 and 5000; 5 rounds, 20+20 kills, 20 edits, 30 s idle, 3 SIGTERMs each (~20 min)
#   hack/bench/run.sh --quick    # quick: N=100 and 1000; 2 rounds, 8+8 kills, 8 edits, 10 s idle, 2 SIGTERMs each (~3 min)
#   hack/bench/run.sh --full -- -n 1000 -setpgid -v   # extra flags go to hack/bench/daemon (the last -n wins)
#
# Builds the daemon, the C baseline (gcc) and the Go programs into a temporary
# directory, runs hack/bench/daemon under a timeout and prints its table.
# Whatever happens (failure, Ctrl-C, timeout), the trap kills every process
# that carries this run's token in its environment and removes the temp dir
# (set RCD_BENCH_KEEP=1 to keep it: daemon log, status and event files).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_args --modes "$@"
bench_token
bench_init rcd-bench bench_sweep   # the sweep: the daemon, the baselines and all their sleeps

bench_build spawn-go ./hack/bench/baseline-go bench ./hack/bench/daemon
gcc -O2 -Wall -pthread -o "$work/spawn-c" hack/bench/baseline/spawn.c

case "$mode" in
  quick) args=(-n 100,1000 -rounds 2 -kills 8 -edits 8 -status-runs 5 -shutdowns 2 -idle 10s); limit=900 ;;
  full)  args=(-n 100,1000,5000 -rounds 5 -kills 20 -edits 20 -status-runs 10 -shutdowns 3 -idle 30s); limit=3600 ;;
esac

# 5000 instances need about 15000 descriptors in the daemon (a pidfd and two
# pipes each): the soft limit goes up to the hard one (the harness does the
# same for itself and its children; it says when the hard limit is too low).
ulimit -Sn "$(ulimit -Hn)"

echo "== run ($mode)" >&2
# The harness bounds itself (-timeout); timeout(1) is the backstop.
bench_run "$limit" "$work/bench" -bin "$work/reconciled" -c "$work/spawn-c" -go "$work/spawn-go" \
  -token "$token" -workdir "$work/run" -timeout "$((limit - 30))s" "${args[@]}" "${harness_args[@]}"
