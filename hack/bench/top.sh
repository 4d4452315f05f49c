#!/usr/bin/env bash
# The cost of `reconciled top` left open: N instances (10 programs of N/10
# `sleep`s) under a daemon, top in tmux at 80x24, and top's CPU over IDLE
# seconds: utime+stime from /proc/PID/stat (10 ms ticks, exited threads
# included), the sum of its threads' schedstat (ns) and their context
# switches (each one a wake-up). Three windows: the programs' rows on screen
# with every instance running (CPU% and MEM columns sampled), the same with
# the usage columns hidden (u), then every program stopped. Needs tmux.
# Figures: hack/bench/top.md.
#
#   bash hack/bench/top.sh                 # N=1000, 60 s each (about 4 min)
#   N=200 IDLE=15 bash hack/bench/top.sh   # quick
#   BIN=/path/to/reconciled bash hack/bench/top.sh   # a binary built elsewhere (before/after)
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
bin=${BIN:-}
if [ -z "$bin" ]; then
  go build -o "$work/reconciled" ./cmd/reconciled
  bin="$work/reconciled"
fi
mkdir "$work/d"
per=$((N / 10))
for i in $(seq 0 9); do
  printf 'spec:\n  command: [sleep, "100000"]\n  replicas: %d\n  startSeconds: 100ms\n  stopTimeout: 1s\n' "$per" > "$work/d/p$i.yaml"
done
"$bin" run --dir "$work/d" --log-format json 2>"$work/daemon.log" &
daemon=$!
ready() { "$bin" status --dir "$work/d" -o json | grep -o '"readyReplicas": [0-9]*' | awk '{s+=$2} END {print s+0}'; }
for _ in $(seq 1 600); do [ "$(ready)" -ge "$N" ] && break; sleep 0.5; done
echo "ready: $(ready)/$N"

printf 'set -g status off\n' > "$work/tmux.conf"
tmux -L "$sock" -f "$work/tmux.conf" new-session -d -s top -x 80 -y 24 "TERM=xterm-256color '$bin' top --dir '$work/d'"
sleep 3
pid=$(tmux -L "$sock" display-message -p -t top '#{pane_pid}')
hz=$(getconf CLK_TCK)
# ticks ns switches: the process's utime+stime, its live threads' run time
# and voluntary+involuntary context switches.
sample() {
  local ticks ns=0 sw=0 t
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  for t in /proc/"$pid"/task/*; do
    ns=$((ns + $(awk '{print $1}' "$t/schedstat" 2>/dev/null || echo 0)))
    sw=$((sw + $(awk '/ctxt_switches/ {s += $2} END {print s+0}' "$t/status" 2>/dev/null || echo 0)))
  done
  echo "$ticks $ns $sw"
}
measure() {
  local a b
  a=$(sample); sleep "$IDLE"; b=$(sample)
  # shellcheck disable=SC2086
  set -- $a $b
  awk -v dt=$(($4 - $1)) -v dns=$(($5 - $2)) -v dsw=$(($6 - $3)) -v hz="$hz" -v s="$IDLE" -v what="$WHAT" \
    'BEGIN {printf "%s: over %d s: %.0f ms CPU (ticks), %.1f ms (schedstat, %.3f%% of a core), %d wake-ups\n", what, s, dt*1000/hz, dns/1e6, dns/1e7/s, dsw}'
}
WHAT="$N instances running, their programs on screen, usage columns shown" measure
tmux -L "$sock" send-keys -t top u
sleep 2
if tmux -L "$sock" capture-pane -p -t top | grep -q 'CPU%'; then
  echo "(this build has no u: the usage columns stay)"
fi
WHAT="$N instances running, their programs on screen, usage columns hidden (u)" measure
"$bin" stop --all --dir "$work/d" >/dev/null
for _ in $(seq 1 600); do [ "$(ready)" -eq 0 ] && break; sleep 0.5; done
sleep 3
WHAT="every program stopped, nothing changing" measure
tmux -L "$sock" capture-pane -p -t top | head -3
