package top

import (
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

// No tick runs without a daemon, nor when no row on screen has a process;
// with both, one tick chain runs, and a stale tick does nothing.
func TestTickOnlyWhenUseful(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.status("web", 1, 1, "")
	f.changed(changes{all: true})
	f.press("j", "k")
	if f.ticks != 0 {
		t.Fatalf("%d ticks armed with no daemon", f.ticks)
	}

	f.hold()
	f.changed(changes{daemon: true})
	f.press("j", "k", "enter")
	if f.ticks != 1 {
		t.Fatalf("%d ticks armed, want one chain", f.ticks)
	}
	f.wantScreen("daemon running (pid ")
	if l := f.line("web-0"); !strings.Contains(l, "1m30s") {
		t.Errorf("uptime: %q", l)
	}

	// A tick reads usage; the second gives CPU %.
	reads := 0
	cpu := 1.0
	f.m.newReader = func() usageReader {
		reads++
		return fakeUsage{"web-0": {CPUSeconds: cpu, MemoryBytes: 64 << 20}}
	}
	f.send(tickMsg{gen: f.m.tickGen})
	cpu = 1.5
	f.m.now = func() time.Time { return testNow.Add(time.Second) }
	f.send(tickMsg{gen: f.m.tickGen})
	if l := f.line("web-0"); !strings.Contains(l, "50") || !strings.Contains(l, "64.0Mi") || !strings.Contains(l, "1m31s") {
		t.Errorf("web-0 after two ticks: %q", l)
	}
	if f.ticks != 3 || reads != 2 {
		t.Errorf("ticks %d, reads %d, want 3 and 2", f.ticks, reads)
	}
	f.send(tickMsg{gen: f.m.tickGen - 1}) // stale
	if f.ticks != 3 || reads != 2 {
		t.Errorf("a stale tick did something: ticks %d, reads %d", f.ticks, reads)
	}

	// Nothing running on screen: the chain ends.
	f.status("web", 1, 0, "STOPPED", func(st *status.ProgramStatus) { st.Status.Phase = "Stopped" })
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.send(tickMsg{gen: f.m.tickGen})
	if f.ticks != 3 {
		t.Errorf("a tick armed with nothing running: %d", f.ticks)
	}
}

func TestSamplerRestartedInstance(t *testing.T) {
	s := newSampler()
	p := &program{name: "w", hasSt: true}
	p.st.Status.Instances = []status.Instance{{Name: "w-0", Pid: 10}}
	s.sample(fakeUsage{"w-0": {CPUSeconds: 5}}, []*program{p}, testNow)
	s.sample(fakeUsage{"w-0": {CPUSeconds: 6}}, []*program{p}, testNow.Add(2*time.Second))
	if cpu, _ := s.instanceCells("w", p.st.Status.Instances[0]); cpu != "50" {
		t.Errorf("cpu %s, want 50", cpu)
	}
	p.st.Status.Instances[0].Pid = 11 // a new process: its CPU time starts again
	s.sample(fakeUsage{"w-0": {CPUSeconds: 0.1}}, []*program{p}, testNow.Add(3*time.Second))
	if cpu, _ := s.instanceCells("w", p.st.Status.Instances[0]); cpu != "-" {
		t.Errorf("cpu after a restart %s, want -", cpu)
	}
}

// The tick is armed for the next change on screen: with the usage columns
// hidden (u), collapsed programs need none, an uptime under a minute one a
// second later, and one of two hours the next whole minute.
func TestTickAtNextChange(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.hold()
	f.status("web", 1, 1, "")
	f.changed(changes{all: true})
	f.m.newReader = func() usageReader { return fakeUsage{} }
	if f.ticks != 1 || f.tickIn != time.Second {
		t.Fatalf("with usage shown: %d ticks, the last in %v; want one in 1s", f.ticks, f.tickIn)
	}
	f.press("u")
	f.noScreen("CPU%", "MEM")
	f.send(tickMsg{gen: f.m.tickGen})
	if f.ticks != 1 {
		t.Fatalf("collapsed, usage hidden: %d ticks armed, want none more", f.ticks)
	}

	started := testNow.Add(-2*time.Hour - 10*time.Second)
	f.status("web", 1, 1, "", func(st *status.ProgramStatus) { st.Status.Instances[0].StartedAt = &started })
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.press("enter")
	f.wantScreen("2h0m")
	if f.ticks != 2 || f.tickIn != 50*time.Second {
		t.Fatalf("up 2h0m10s: %d ticks, the last in %v; want a second one in 50s", f.ticks, f.tickIn)
	}
	f.press("u")
	f.wantScreen("CPU%")
	if f.ticks != 3 || f.tickIn != time.Second {
		t.Fatalf("usage shown again: %d ticks, the last in %v; want a third (earlier) one in 1s", f.ticks, f.tickIn)
	}
}

func TestUntilShownChange(t *testing.T) {
	for _, c := range []struct{ age, want time.Duration }{
		{0, time.Second},
		{1500 * time.Millisecond, 500 * time.Millisecond},
		{59*time.Minute + 59*time.Second, time.Second},
		{time.Hour + 30*time.Second, 30 * time.Second},
		{48*time.Hour + 5*time.Minute, 55 * time.Minute},
		{-2 * time.Second, 2 * time.Second},
	} {
		if got := untilShownChange(c.age); got != c.want {
			t.Errorf("untilShownChange(%v) = %v, want %v", c.age, got, c.want)
		}
	}
}
