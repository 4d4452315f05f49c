#!/usr/bin/env bash
# The whole test suite: formatting, vet, and every test with the race detector.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go mod tidy -diff (go.mod and go.sum as tidy leaves them)"
go mod tidy -diff

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 10m "$@" ./...

# Without cgo, Start forks on Go fork threads instead of the C fork server
# (proc): test that build of the package too (-race needs cgo).
echo "== go test proc (CGO_ENABLED=0)"
CGO_ENABLED=0 go vet ./proc
CGO_ENABLED=0 go test -count=1 -timeout 5m "$@" ./proc

# Every fuzz target for a few seconds (hack/fuzz.sh).
echo "== fuzz (a few seconds each)"
FUZZTIME=${FUZZTIME:-3s} hack/fuzz.sh
