package main

import (
	"fmt"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// samples is a set of measurements of one figure.
type samples []time.Duration

func (s samples) median() time.Duration { return benchkit.Median(s) }

func (s samples) quantile(q float64) time.Duration { return benchkit.Quantile(s, q) }

func (s samples) String() string { return benchkit.Join(s, fmtDur) }

// fmtDur is this table's format of a duration (probes has its own).
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
