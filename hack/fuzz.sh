#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 3s: the CI smoke run),
# one at a time on one worker, so that a shared machine is not starved.
# Their seed corpora also run as ordinary tests in `go test`.
#   FUZZTIME=10m hack/fuzz.sh      # the long run (docs/internals.md, "Fuzzing")
#
# Go 1.26's fuzz coordinator may end a run that found nothing with a bare
# "context deadline exceeded" at the -fuzztime boundary (golang/go#75804,
# fixed in Go 1.27). A failure counts only when it wrote a reproducer to
# testdata/fuzz/TARGET; the other is reported as that flake.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
targets=(
  "./spec FuzzParse"
  "./spec FuzzEdit"
  "./spec FuzzClassify"
  "./manifest FuzzList"
  "./status FuzzParseStatus"
  "./status FuzzParseEvents"
)
# count prints how many reproducers the corpus directory $1 holds.
count() { { find "$1" -type f 2>/dev/null || true; } | wc -l; }
failed=0
for t in "${targets[@]}"; do
  set -- $t
  pkg=$1 target=$2 corpus="$1/testdata/fuzz/$2"
  echo "== fuzz $target ($pkg, $fuzztime)"
  before=$(count "$corpus")
  out=$(mktemp)
  if go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" -fuzzminimizetime=10s -parallel=1 "$pkg" 2>&1 | tee "$out" | grep -v '^fuzz: elapsed'; then
    :
  elif [ "$(count "$corpus")" -eq "$before" ] && grep -q 'context deadline exceeded' "$out"; then
    echo "   (no reproducer written: the Go 1.26 fuzz deadline flake, golang/go#75804)"
  else
    failed=1
  fi
  grep '^fuzz: elapsed' "$out" | tail -1 || true
  rm -f "$out"
done
exit $failed
