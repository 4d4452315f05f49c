package hooks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
)

// stormScript logs the event's message to $OUT/runs, then blocks until it
// reads one byte from the FIFO $OUT/gate, which the test holds open: each
// byte the test writes lets exactly one hook end (dd reads one byte a read).
const stormScript = `echo "$RECONCILED_EVENT_REASON $RECONCILED_EVENT_MESSAGE" >> "$OUT/runs"
exec dd if="$OUT/gate" of=/dev/null bs=1 count=1 status=none`

// stormKey is what coalesces, as the test sees it.
type stormKey struct{ reason, instance string }

// A storm of events: Fire returns while MaxRunning hooks block forever on a
// pipe the test holds; no fifth hook starts; the newest event per reason and
// instance waits and runs once a slot frees; the rest are counted and
// reported in one HooksDropped per window.
func TestStorm(t *testing.T) {
	clk := fakeclock.New()
	out := t.TempDir()
	gatePath := filepath.Join(out, "gate")
	if err := syscall.Mkfifo(gatePath, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR: the open does not wait for a reader, and the hooks' reads
	// block (rather than end) while the test writes nothing.
	gate, err := os.OpenFile(gatePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	r, rec := newRunner(t, clk, Hook{
		Events:  []string{"Exited", "BackOff"},
		Exec:    &ExecAction{Command: []string{"sh", "-c", stormScript}},
		Timeout: time.Hour, // the windows stepped below must not end a hook
	})
	inst := instanceCtx("", "OUT="+out)
	runs := func() []string { return readLines(t, filepath.Join(out, "runs")) }
	newest := map[stormKey]int{}
	fire := func(i int) {
		k := stormKey{[]string{"Exited", "BackOff"}[(i/10)%2], "web-" + strconv.Itoa(i%10)}
		newest[k] = i
		r.Fire(event(k.reason, k.instance, "event "+strconv.Itoa(i)), inst)
	}

	// Four hooks start and block on the gate.
	for i := range MaxRunning {
		fire(i)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return len(runs()) == MaxRunning }, "%d hooks to start (runs: %q)", MaxRunning, runs())
	clear(newest) // those ran

	// The storm: every Fire returns while the four block.
	for i := MaxRunning; i < 1000; i++ {
		fire(i)
	}
	r.mu.Lock()
	running, waiting, dropped, peak := r.running, len(r.waiting), r.dropped, r.peak
	r.mu.Unlock()
	if running != MaxRunning || peak != MaxRunning || waiting != 20 || dropped != 1000-MaxRunning-20 {
		t.Fatalf("running %d (peak %d), waiting %d, dropped %d; want %d (peak %d), 20 (10 instances x 2 reasons), %d",
			running, peak, waiting, dropped, MaxRunning, MaxRunning, 1000-MaxRunning-20)
	}
	if n := len(runs()); n != MaxRunning {
		t.Fatalf("%d hooks started, want %d", n, MaxRunning)
	}

	// One HooksDropped when the window ends, not before.
	clk.Step(DroppedWindow - time.Nanosecond)
	if evs := rec.events(ReasonHooksDropped); len(evs) != 0 {
		t.Fatalf("HooksDropped %v before the window ended", evs)
	}
	clk.Step(time.Nanosecond)
	evs := rec.events(ReasonHooksDropped)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Message, "976 hook runs dropped: ") || evs[0].Type != "Warning" || evs[0].Program != "web" {
		t.Fatalf("HooksDropped events %v, want one warning of web that counts 976", evs)
	}

	// More drops: reported at the end of the next window, in one event.
	for i := 1000; i < 1100; i++ {
		fire(i)
	}
	clk.Step(DroppedWindow - time.Nanosecond)
	if evs := rec.events(ReasonHooksDropped); len(evs) != 1 {
		t.Fatalf("HooksDropped events %v, want still one within the window", evs)
	}
	clk.Step(time.Nanosecond)
	if evs := rec.events(ReasonHooksDropped); len(evs) != 2 || !strings.HasPrefix(evs[1].Message, "100 hook runs dropped: ") {
		t.Fatalf("HooksDropped events %v, want a second one that counts 100", evs)
	}

	// Open the gate for the four and the twenty that wait: each waiting key
	// runs once, with its newest event.
	if _, err := gate.Write(make([]byte, MaxRunning+len(newest))); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, waitTimeout, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.running == 0
	}, "every hook to end (runs: %d)", len(runs()))
	got := runs()[MaxRunning:]
	var want []string
	for k, i := range newest {
		want = append(want, fmt.Sprintf("%s event %d", k.reason, i))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("runs after the storm:\n%q\nwant the newest event of each reason and instance:\n%q", got, want)
	}
	r.mu.Lock()
	peak = r.peak
	r.mu.Unlock()
	if peak != MaxRunning {
		t.Errorf("peak %d hooks at once, want %d", peak, MaxRunning)
	}
	if evs := rec.events(ReasonHookFailed); len(evs) != 0 {
		t.Errorf("HookFailed events %v, want none", evs)
	}
}
