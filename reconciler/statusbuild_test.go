package reconciler

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// TestStatusBuildIncremental drives a program by hand (its passes run on
// the test's goroutine) through starts, exits, scaling up and down and a
// rolling update, and after every pass requires the incremental build to
// give what a build from scratch gives.
func TestStatusBuildIncremental(t *testing.T) {
	clk, starter, sink := fakeclock.New(), &fakeStarter{}, &fakeSink{}
	p := newProgram(t.Context(), "web", programOptions{log: testr.New(t), clock: clk, starter: starter, sink: sink,
		spawnSlots: make(chan struct{}, 4)})
	t.Cleanup(func() { p.stop(); p.wg.Wait() })
	apply := func(command string, replicas int) {
		prog, errs := spec.Parse("web.yaml", []byte("spec:\n  command: "+command+"\n  replicas: "+strconv.Itoa(replicas)+
			"\n  startSeconds: 0s\n  restartDelay: 0s\n  updateStrategy: {type: RollingUpdate, maxUnavailable: 2}\n"))
		if errs != nil {
			t.Fatal(errs)
		}
		p.set(desired{prog: prog, hash: spec.Hash(prog)})
	}
	// pass runs one pass as run does, if anything arrived within a while,
	// and compares the builds.
	pass := func(step string) bool {
		select {
		case <-p.wake:
		case <-time.After(50 * time.Millisecond):
			return false
		}
		for p.take() {
		}
		p.reconcile()
		got := p.observe().Status
		saved := p.built
		p.built = statusBuild{}
		want := p.observe().Status
		p.built = saved
		if !reflect.DeepEqual(got.Instances, want.Instances) || got.ReadyReplicas != want.ReadyReplicas ||
			got.UpdatedReplicas != want.UpdatedReplicas || got.Phase != want.Phase {
			t.Fatalf("%s: the incremental build differs from one from scratch:\n got %s %d/%d %+v\nwant %s %d/%d %+v", step,
				got.Phase, got.ReadyReplicas, got.UpdatedReplicas, got.Instances, want.Phase, want.ReadyReplicas, want.UpdatedReplicas, want.Instances)
		}
		return true
	}
	settle := func(step string) {
		for pass(step) {
			clk.Step(time.Second)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	kill := func(step string, n int) {
		for range n {
			alive := starter.alive()
			if len(alive) == 0 {
				return
			}
			idx := rng.IntN(len(alive))
			for _, fp := range alive {
				if idx == 0 {
					fp.exit(proc.ExitStatus{Code: -1, Signal: syscall.SIGKILL})
					break
				}
				idx--
			}
			pass(step)
		}
		settle(step)
	}
	apply("sleep 1000", 20)
	settle("start 20")
	kill("exits", 15)
	apply("sleep 1000", 8)
	settle("scale to 8")
	apply("sleep 1000", 25)
	settle("scale to 25")
	kill("exits at 25", 10)
	apply("sleep 1001", 25)
	settle("rolling update")
	kill("exits after the update", 10)
	apply("sleep 1001", 0)
	settle("scale to 0")
}
