package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

// printTableTabwriter is printTable as it was written before cellTable:
// through text/tabwriter and fmt. The table must come out byte for byte
// the same.
func printTableTabwriter(w io.Writer, sts []status.ProgramStatus, wide bool, now time.Time, use usageOf, never map[string]bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "NAME\tSTATE\tREADY\tPID\tUPTIME\tRESTARTS\tMESSAGE"
	if wide {
		header += "\tAGE\tSPEC\tCPU\tMEMORY\tLAST EXIT"
	}
	fmt.Fprintln(tw, header)
	for _, st := range sts {
		s := st.Status
		msg := programMessage(s)
		if msg == "" && never[st.Metadata.Name] {
			msg = notStartedMessage
		}
		row := fmt.Sprintf("%s\t%s\t%d/%d\t\t\t\t%s", st.Metadata.Name, strings.ToUpper(s.Phase), s.ReadyReplicas, s.Replicas, msg)
		if wide {
			age := "-"
			if c, ok := status.FindCondition(s.Conditions, status.ConditionSpecValid); ok && !c.LastTransitionTime.IsZero() {
				age = humanDuration(now.Sub(c.LastTransitionTime))
			}
			row += "\t" + age + "\t" + shortHash(s.SpecHash) + "\t\t\t"
		}
		fmt.Fprintln(tw, row)
		for _, in := range s.Instances {
			pid, uptime := "-", "-"
			if in.Pid > 0 {
				pid = fmt.Sprint(in.Pid)
			}
			if in.StartedAt != nil && in.Pid > 0 {
				uptime = humanDuration(now.Sub(*in.StartedAt))
			}
			ready := "false"
			if in.Ready {
				ready = "true"
			}
			row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%d\t%s", in.Name, shownState(in), ready, pid, uptime, in.Restarts, instanceMessage(in))
			if wide {
				last := ""
				if e := in.LastExit; e != nil {
					last = fmt.Sprintf("code %d", e.Code)
					if e.Signal != "" {
						last = "signal " + e.Signal
					}
					last += " after " + time.Duration(e.RanFor).Round(time.Millisecond).String()
				}
				cpu, mem := use.cells(st.Metadata.Name, in)
				row += "\t" + instanceAge(in, now) + "\t" + shortHash(in.SpecHash) + "\t" + cpu + "\t" + mem + "\t" + last
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
}

// TestPrintTableMatchesTabwriter prints tables of programs and instances
// with ordinary and odd cells (wide characters, tabs, new lines, 0xff,
// empty messages, wide mode with usage) both ways.
func TestPrintTableMatchesTabwriter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	started := now.Add(-75 * time.Minute)
	long := now.Add(-50 * time.Hour)
	msgs := []string{"", "exited too quickly (see logs)", "ünïcode ✓ wide 字", "tab\there", "new\nline", "ff\xffbyte", "v\vtab", "form\ffeed", strings.Repeat("x", 150)}
	var sts []status.ProgramStatus
	for i, m := range msgs {
		st := status.ProgramStatus{Metadata: status.Metadata{Name: "p" + strings.Repeat("x", i)}, Status: status.Status{
			SpecHash: "sha256:0123456789abcdef", Replicas: 3, ReadyReplicas: i % 4, Phase: []string{"Running", "Degraded", "Stopped"}[i%3],
			Conditions: []status.Condition{{Type: status.ConditionSpecValid, Status: status.ConditionTrue, LastTransitionTime: long},
				{Type: status.ConditionProgressing, Status: status.ConditionTrue, Reason: "Scaling", Message: m}},
			Instances: []status.Instance{
				{Name: "a-0", State: "RUNNING", Ready: true, Pid: 12345, StartedAt: &started, Restarts: 12, SpecHash: "sha256:abc", Message: m},
				{Name: "a-1" + m, State: "BACKOFF", Restarts: 1, LastExit: &status.Exit{Code: 1, RanFor: status.Duration(1500 * time.Millisecond)}},
				{Name: "a-2", State: "RUNNING", Health: "Unhealthy", Pid: 7, StartedAt: &long, LastExit: &status.Exit{Signal: "KILL", At: long}},
				{Name: "a-3", State: "STOPPED"},
			}}}
		sts = append(sts, st)
	}
	use := usageOf(func(program string, in status.Instance) (usage.Sample, bool) {
		return usage.Sample{CPUSeconds: float64(in.Pid) / 100, MemoryBytes: int64(in.Pid) << 10}, in.Pid != 0
	})
	cases := [][]status.ProgramStatus{nil, sts[:1], sts[:2], sts}
	for _, st := range sts {
		cases = append(cases, []status.ProgramStatus{st})
	}
	for i, c := range cases {
		for _, wide := range []bool{false, true} {
			var u usageOf
			if wide && i%2 == 0 {
				u = use
			}
			never := map[string]bool{"pxx": true}
			var got, want bytes.Buffer
			printTable(&got, c, wide, now, u, never)
			printTableTabwriter(&want, c, wide, now, u, never)
			if got.String() != want.String() {
				t.Errorf("case %d (wide %v):\n got:\n%s\nwant:\n%s", i, wide, got.String(), want.String())
			}
		}
	}
}
