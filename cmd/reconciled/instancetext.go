package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/status"
)

// shownState is an instance's state as the tables show it: UNHEALTHY for
// one RUNNING while a probe of it fails (its state in the file stays
// RUNNING, with health: Unhealthy).
func shownState(in status.Instance) string {
	if in.State == "RUNNING" && in.Health == "Unhealthy" {
		return "UNHEALTHY"
	}
	return in.State
}

// exitText is one exit in words: "code 1, 3s ago (ran 2.5s)".
func exitText(e status.Exit, now time.Time) string {
	s := fmt.Sprintf("code %d", e.Code)
	if e.Signal != "" {
		s = "signal " + e.Signal
	}
	if e.Reason != "" {
		s += " " + e.Reason
	}
	return s + fmt.Sprintf(", %s ago", humanDuration(now.Sub(e.At)))
}

// describeRecentExits lists each instance's recent exits, newest first.
func describeRecentExits(w io.Writer, ins []status.Instance, now time.Time) {
	any := false
	for _, in := range ins {
		any = any || len(in.RecentExits) > 0
	}
	if !any {
		return
	}
	fmt.Fprintln(w, "Recent exits:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  INSTANCE\tEXIT\tRAN FOR")
	for _, in := range ins {
		for _, e := range in.RecentExits {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", in.Name, exitText(e, now), time.Duration(e.RanFor).Round(time.Millisecond))
		}
	}
	tw.Flush()
}
