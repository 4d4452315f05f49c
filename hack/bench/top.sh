#!/usr/bin/env bash
# The cost of `reconciled top` left open: N instances (10 programs of N/10
# `sleep`s) under a daemon, top in tmux at 80x24, and top's CPU time (utime
# + stime from /proc) over IDLE seconds, first with the programs' rows on
# screen (the once-a-second tick samples their usage), then with every
# program stopped (nothing ticks). Needs tmux. Figures: hack/bench/top.md.
#
#   bash hack/bench/top.sh            # N=1000, 60 s each
#   N=200 IDLE=15 bash hack/bench/top.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}
IDLE=${IDLE:-60}
work=$(mktemp -d)
sock="rcd-top-bench-$$"
daemon=""
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
go build -o "$work/reconciled" ./cmd/reconciled
mkdir "$work/d"
per=$((N / 10))
for i in $(seq 0 9); do
  printf 'spec:\n  command: [sleep, "100000"]\n  replicas: %d\n  startSeconds: 100ms\n  stopTimeout: 1s\n' "$per" > "$work/d/p$i.yaml"
done
"$work/reconciled" run --dir "$work/d" --log-format json 2>"$work/daemon.log" &
daemon=$!
ready() { "$work/reconciled" status --dir "$work/d" -o json | grep -o '"readyReplicas": [0-9]*' | awk '{s+=$2} END {print s+0}'; }
for _ in $(seq 1 600); do [ "$(ready)" -ge "$N" ] && break; sleep 0.5; done
echo "ready: $(ready)/$N"

printf 'set -g status off\n' > "$work/tmux.conf"
tmux -L "$sock" -f "$work/tmux.conf" new-session -d -s top -x 80 -y 24 "TERM=xterm-256color '$work/reconciled' top --dir '$work/d'"
sleep 3
pid=$(tmux -L "$sock" display-message -p -t top '#{pane_pid}')
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }   # clock ticks
hz=$(getconf CLK_TCK)

measure() {
  local a b
  a=$(cpu); sleep "$IDLE"; b=$(cpu)
  awk -v d=$((b - a)) -v hz="$hz" -v s="$IDLE" -v what="$1" \
    'BEGIN {printf "%s: %.0f ms CPU over %d s (%.3f%% of a core)\n", what, d*1000/hz, s, d*100/hz/s}'
}
measure "$N instances running, their programs on screen"
"$work/reconciled" stop --all --dir "$work/d" >/dev/null
for _ in $(seq 1 600); do [ "$(ready)" -eq 0 ] && break; sleep 0.5; done
sleep 3
measure "every program stopped, nothing changing"
go test -run XXX -bench . -benchtime 2s ./top | grep Benchmark
