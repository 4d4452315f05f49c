#!/usr/bin/env bash
# Benchmark a hook storm: a program crash-looping with restartDelay 0, plain
# and with a hook that sleeps 8.5 s on every exit, paired round by round; the
# figure is the ratio of their restart cycles (the requirement: unchanged)
# and the most hook processes seen at once (at most 4).
#
#   hack/bench/hookstorm.sh                 # 5 rounds of 5 s per variant (~2 min)
#   hack/bench/hookstorm.sh -- -rounds 9    # extra flags go to hack/bench/hookstorm
#
# Builds the daemon and the harness into a temporary directory, runs
# hack/bench/hookstorm under a timeout and prints its table. Whatever
# happens, the trap kills every process that carries this run's token and
# removes the temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_args "$@"
bench_token
bench_init rcd-hookstorm bench_sweep

bench_build hookstorm ./hack/bench/hookstorm

echo "== run" >&2
bench_run 600 "$work/hookstorm" -bin "$work/reconciled" \
  -token "$token" -timeout 570s "${harness_args[@]}"
