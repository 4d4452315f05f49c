#!/usr/bin/env bash
# Benchmark a Prometheus scrape of `reconciled run --http`: the daemon's CPU
# per GET /metrics with N instances, as one program of N replicas, as N
# programs of one, and as one program without cgroups (usage read from /proc).
#
#   hack/bench/scrape.sh            # full: N=1000, 5 rounds of 20 scrapes (~4 min)
#   hack/bench/scrape.sh --quick    # quick: N=200, 2 rounds of 10 scrapes (~1 min)
#   hack/bench/scrape.sh -- -v      # extra flags go to hack/bench/scrape
#   RCD_SCRAPE_BEFORE=main hack/bench/scrape.sh   # the daemon built from that
#                                   # revision first, then this tree's, same run
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
bins=("$work/reconciled")
if [ -n "${RCD_SCRAPE_BEFORE:-}" ]; then
  echo "== build the daemon of $RCD_SCRAPE_BEFORE" >&2
  mkdir "$work/before"
  git archive "$RCD_SCRAPE_BEFORE" | tar -x -C "$work/before"
  (cd "$work/before" && go build -o "$work/reconciled-before" ./cmd/reconciled)
  bins=("$work/reconciled-before" "$work/reconciled")
fi

case "$mode" in
  quick) args=(-n 200 -rounds 2 -scrapes 10 -idle 2s); limit=300 ;;
  full)  args=(-n 1000 -rounds 5 -scrapes 20); limit=1200 ;;
esac

for bin in "${bins[@]}"; do
  echo "== run ($mode): $(basename "$bin")" >&2
  bench_run "$limit" "$work/scrape" -bin "$bin" \
    -token "$token" -timeout "$((limit - 30))s" "${args[@]}" "${harness_args[@]}"
done
