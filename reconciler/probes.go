package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/reconciled/reconciled/health"
	"github.com/reconciled/reconciled/spec"
)

// BuildProbe builds probe for instance index of p: it runs with the
// instance's environment ($(VAR) expansion included), working directory and
// user.
func (s *OSStarter) BuildProbe(p *spec.Program, index int, probe *spec.Probe) (health.Prober, error) {
	env, cred, err := s.identity(p, index)
	if err != nil {
		return nil, err
	}
	return health.New(probe, health.Target{Env: env, Dir: s.workingDir(p), Credential: cred, Starter: s.Procs, Sockets: s.Sockets})
}

var _ ProbeBuilder = (*OSStarter)(nil)

// probers are the built probes of one process; nil when the spec has none.
type probers struct {
	readiness, liveness health.Prober
}

// buildProbes builds the probes of instance idx of prog; it runs on the
// spawning goroutine, before the process starts.
func (p *program) buildProbes(prog *spec.Program, idx int) (probers, error) {
	var out probers
	for _, b := range []struct {
		field string
		probe *spec.Probe
		dst   *health.Prober
	}{
		{"readinessProbe", prog.Spec.ReadinessProbe, &out.readiness},
		{"livenessProbe", prog.Spec.LivenessProbe, &out.liveness},
	} {
		if b.probe == nil {
			continue
		}
		if p.probes == nil {
			return probers{}, fmt.Errorf("%s: this daemon cannot run probes", b.field)
		}
		pr, err := p.probes.BuildProbe(prog, idx, b.probe)
		if err != nil {
			return probers{}, fmt.Errorf("%s: %w", b.field, err)
		}
		*b.dst = pr
	}
	return out, nil
}

// probeVerdict is a change of the verdict of one probe of one process.
type probeVerdict struct {
	idx, gen int
	liveness bool
	verdict  health.Verdict
}

// ProbeCounter is what a StatusSink may also be: a counter of every probe
// result, where the program hears only the changes of verdict. The program
// asks for the counter of each probe of each process as it starts its
// probes; count is then called by that probe's worker after each run, so it
// must be safe for concurrent use and return at once.
type ProbeCounter interface {
	ProbeCounter(program string, index int, liveness bool) (count func(ok bool))
}

// countedProber counts the results of the probe it wraps.
type countedProber struct {
	health.Prober
	count func(ok bool)
}

func (c countedProber) Probe(ctx context.Context) health.Result {
	r := c.Prober.Probe(ctx)
	// Cut short by the program (not a timeout): no result, as health.Run
	// treats it.
	if !errors.Is(ctx.Err(), context.Canceled) {
		c.count(r.OK)
	}
	return r
}

// startProbes runs the probes of in's new process, each in a worker of its
// own, until stopProbes. The verdicts come back as messages.
func (p *program) startProbes(in *instance, prs probers) {
	if prs.readiness == nil && prs.liveness == nil {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	in.setProbeCancel(cancel)
	idx, gen := in.idx, in.gen
	counter, _ := p.sink.(ProbeCounter)
	run := func(probe *spec.Probe, pr health.Prober, liveness bool) {
		if pr == nil {
			return
		}
		if counter != nil {
			pr = countedProber{Prober: pr, count: counter.ProbeCounter(p.name, idx, liveness)}
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			health.Run(ctx, probe, pr, p.clock, func(v health.Verdict) {
				if ctx.Err() == nil { // else the verdict is about a process the program let go
					p.post(probeVerdict{idx: idx, gen: gen, liveness: liveness, verdict: v})
				}
			})
		}()
	}
	run(in.spec.Spec.ReadinessProbe, prs.readiness, false)
	run(in.spec.Spec.LivenessProbe, prs.liveness, true)
}

// stopProbes ends the probe workers of in's process, if any: an instance
// that is not STARTING or RUNNING has no probes left.
func (p *program) stopProbes(in *instance) {
	if cancel := in.probeCancel(); cancel != nil {
		cancel()
		in.setProbeCancel(nil)
	}
}

// onProbe hands a probe's new verdict to the process it is about.
func (p *program) onProbe(m probeVerdict) {
	in := p.current(m.idx, m.gen)
	if in == nil || in.probeCancel() == nil {
		return
	}
	p.step(in, evProbe{liveness: m.liveness, passing: m.verdict.Passing, why: probeFailure(m.verdict.Result)})
}

// probeFailure says why a probe failed: its error, then what it printed.
// Never the environment: probe errors quote only the spec's own text.
func probeFailure(r health.Result) string {
	why := "failed"
	if r.Err != nil {
		why = r.Err.Error()
	}
	if r.Output != "" {
		why += ": " + r.Output
	}
	return why
}
