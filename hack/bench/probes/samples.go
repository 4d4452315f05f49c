package main

import (
	"fmt"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// durations is a set of samples of one figure.
type durations []time.Duration

func (s durations) quantile(q float64) time.Duration { return benchkit.Quantile(s, q) }

func (s durations) String() string { return benchkit.Join(s, fmtDur) }

// fmtDur is this table's format of a duration (daemon has its own).
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
