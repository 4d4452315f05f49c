#!/usr/bin/env bash
# Benchmark a Prometheus scrape of `reconciled run --http`: the daemon's CPU
# per GET /metrics with N instances, as one program of N replicas, as N
# programs of one, and as one program without cgroups (usage read from /proc).
#
#   hack/bench/scrape.sh            # full: N=1000, 5 rounds of 20 scrapes (~4 min)
#   hack/bench/scrape.sh --quick    # quick: N=200, 2 rounds of 10 scrapes (~1 min)
#   hack/bench/scrape.sh -- -v      # extra flags go to hack/bench/scrape
#
# Builds the daemon and the harness into a temporary directory, runs
# hack/bench/scrape under a timeout and prints its table. Whatever happens,
# the trap kills every process that carries this run's token and removes the
# temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_args --modes "$@"
bench_token
bench_init rcd-scrape bench_sweep

bench_build scrape ./hack/bench/scrape

case "$mode" in
  quick) args=(-n 200 -rounds 2 -scrapes 10 -idle 2s); limit=300 ;;
  full)  args=(-n 1000 -rounds 5 -scrapes 20); limit=900 ;;
esac

echo "== run ($mode)" >&2
bench_run "$limit" "$work/scrape" -bin "$work/reconciled" \
  -token "$token" -timeout "$((limit - 30))s" "${args[@]}" "${harness_args[@]}"
