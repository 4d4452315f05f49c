package top

import (
	"time"

	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

// usageReader reads one instance's CPU time and memory (package usage's
// Reader, or a fake in tests). A reader is used for one sample: it scans
// /proc at most once.
type usageReader interface {
	Read(program, instance string, pid int) (usage.Sample, error)
}

// cpuMark is an instance's CPU time at one sample.
type cpuMark struct {
	pid     int
	seconds float64
	at      time.Time
}

// sampler turns samples of CPU time into CPU % (the time used between two
// samples over the time between them) and keeps the last memory figures.
// It samples when the tick asks (at most once a second, and only while the
// usage columns are shown), only the programs the tick names (those on
// screen).
type sampler struct {
	last map[string]cpuMark // by program/instance
	cpu  map[string]float64 // percent of one CPU
	mem  map[string]int64
}

func newSampler() *sampler {
	return &sampler{last: map[string]cpuMark{}, cpu: map[string]float64{}, mem: map[string]int64{}}
}

func usageKey(program, instance string) string { return program + "/" + instance }

// sample reads every instance with a process of the programs ps with r,
// at now; instances gone or restarted since start again.
func (s *sampler) sample(r usageReader, ps []*program, now time.Time) {
	seen := map[string]bool{}
	for _, p := range ps {
		for _, in := range p.st.Status.Instances {
			if in.Pid <= 0 {
				continue
			}
			k := usageKey(p.name, in.Name)
			u, err := r.Read(p.name, in.Name, in.Pid)
			if err != nil {
				continue
			}
			seen[k] = true
			s.mem[k] = u.MemoryBytes
			if prev, ok := s.last[k]; ok && prev.pid == in.Pid && now.After(prev.at) {
				s.cpu[k] = max(u.CPUSeconds-prev.seconds, 0) / now.Sub(prev.at).Seconds() * 100
			} else {
				delete(s.cpu, k)
			}
			s.last[k] = cpuMark{pid: in.Pid, seconds: u.CPUSeconds, at: now}
		}
	}
	for k := range s.last {
		if !seen[k] {
			delete(s.last, k)
			delete(s.cpu, k)
			delete(s.mem, k)
		}
	}
}

// instanceCells are the CPU % and MEM cells of an instance: "-" for none.
func (s *sampler) instanceCells(program string, in status.Instance) (cpu, mem string) {
	k := usageKey(program, in.Name)
	cpu, mem = "-", "-"
	if v, ok := s.cpu[k]; ok && in.Pid > 0 {
		cpu = formatPercent(v)
	}
	if v, ok := s.mem[k]; ok && in.Pid > 0 {
		mem = usage.FormatMemory(v)
	}
	return cpu, mem
}

// programCells are the sums over the program's instances.
func (s *sampler) programCells(p *program) (cpu, mem string) {
	cpu, mem = "-", "-"
	var c float64
	var m int64
	any := false
	for _, in := range p.st.Status.Instances {
		k := usageKey(p.name, in.Name)
		if v, ok := s.cpu[k]; ok && in.Pid > 0 {
			c += v
			any = true
		}
		if v, ok := s.mem[k]; ok && in.Pid > 0 {
			m += v
		}
	}
	if any {
		cpu = formatPercent(c)
	}
	if m > 0 {
		mem = usage.FormatMemory(m)
	}
	return cpu, mem
}

func (s *sampler) programCPU(p *program) float64 {
	var c float64
	for _, in := range p.st.Status.Instances {
		c += s.cpu[usageKey(p.name, in.Name)]
	}
	return c
}

func (s *sampler) programMemory(p *program) int64 {
	var m int64
	for _, in := range p.st.Status.Instances {
		m += s.mem[usageKey(p.name, in.Name)]
	}
	return m
}

// formatPercent prints a CPU share: 0.4, 12, 250.
func formatPercent(v float64) string {
	if v < 10 {
		return fmtFloat(v, 1)
	}
	return fmtFloat(v, 0)
}
