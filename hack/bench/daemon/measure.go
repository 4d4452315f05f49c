package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// replacement SIGKILLs one child of parent that runs argv want and returns
// the time until a new child of parent runs want. It polls every interval
// (keep it small: the target is milliseconds).
func (o *observer) replacement(parent int, want string, rng *rand.Rand, interval, timeout time.Duration) (time.Duration, int, error) {
	kids, err := o.children(parent)
	if err != nil {
		return 0, 0, err
	}
	prior := make(map[int]bool, len(kids))
	for _, pid := range kids {
		prior[pid] = true
	}
	victim := 0
	for _, i := range rng.Perm(len(kids)) {
		if o.cmdlineIs(kids[i], want) {
			victim = kids[i]
			break
		}
	}
	if victim == 0 {
		return 0, 0, fmt.Errorf("no child of %d runs %q", parent, strings.ReplaceAll(want, "\x00", " "))
	}
	t0 := time.Now()
	// A live process we just read: the pid cannot have been reused since.
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return 0, 0, fmt.Errorf("kill %d: %w", victim, err)
	}
	d, err := o.waitNewChild(parent, want, prior, t0, interval, timeout)
	return d, victim, err
}

// waitNewChild polls until a child of parent that is not in prior runs want.
func (o *observer) waitNewChild(parent int, want string, prior map[int]bool, t0 time.Time, interval, timeout time.Duration) (time.Duration, error) {
	for {
		kids, err := o.children(parent)
		if err != nil {
			return 0, fmt.Errorf("children of %d: %w", parent, err)
		}
		for _, pid := range kids {
			if !prior[pid] && o.cmdlineIs(pid, want) {
				return time.Since(t0), nil
			}
		}
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("no new %q child of %d after %v", strings.ReplaceAll(want, "\x00", " "), parent, timeout)
		}
		time.Sleep(interval)
	}
}

// waitGone waits until pid is no longer a child of parent (reaped).
func (o *observer) waitGone(parent, pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		kids, err := o.children(parent)
		if err != nil {
			return
		}
		found := false
		for _, k := range kids {
			found = found || k == pid
		}
		if !found {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// statusHead reads the head of a status file and returns its desired,
// replicas and readyReplicas (-1 when absent).
func statusHead(path string) (desired string, replicas, ready int) {
	replicas, ready = -1, -1
	f, err := os.Open(path)
	if err != nil {
		return "", -1, -1
	}
	defer f.Close()
	var buf [2048]byte
	n, _ := f.Read(buf[:])
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		t := strings.TrimSpace(line)
		if t == "conditions:" || t == "instances:" {
			break
		}
		k, v, ok := strings.Cut(t, ": ")
		if !ok {
			continue
		}
		switch k {
		case "desired":
			desired = v
		case "replicas":
			replicas, _ = strconv.Atoi(v)
		case "readyReplicas":
			ready, _ = strconv.Atoi(v)
		}
	}
	return desired, replicas, ready
}

// samples is a set of measurements of one figure.
type samples []time.Duration

func (s samples) sorted() samples {
	c := append(samples(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}

func (s samples) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := s.sorted()
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s samples) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := s.sorted()
	i := int(q*float64(len(c)-1) + 0.5)
	return c[i]
}

func (s samples) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmtDur(d)
	}
	return strings.Join(parts, " ")
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
}
