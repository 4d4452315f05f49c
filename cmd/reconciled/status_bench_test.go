package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

// benchStatusDir writes a status of n running instances (every tenth has
// exited once) into a new directory, as the daemon writes it.
func benchStatusDir(b *testing.B, n int) string {
	dir := b.TempDir()
	at := time.Date(2026, 12, 7, 11, 0, 1, 123000000, time.UTC)
	st := status.ProgramStatus{Metadata: status.Metadata{Name: "bench"}, Status: status.Status{
		SpecHash: "sha256:4f1c2b9a0d3e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", Desired: "running",
		Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, Phase: "Running", Containment: "cgroup", UpdatedAt: at,
		Conditions: []status.Condition{{Type: status.ConditionSpecValid, Status: status.ConditionTrue, Reason: "Valid", LastTransitionTime: at},
			{Type: status.ConditionAvailable, Status: status.ConditionTrue, Reason: "MinimumReplicasReady", Message: "all ready", LastTransitionTime: at}},
		Instances: make([]status.Instance, n)}}
	for i := range n {
		started := at.Add(time.Duration(i) * time.Millisecond)
		in := status.Instance{Name: "bench-" + strconv.Itoa(i), Index: i, State: "RUNNING", Ready: true, Pid: 10000 + i,
			StartedAt: &started, SpecHash: st.Status.SpecHash}
		if i%10 == 0 {
			x := status.Exit{Code: -1, Signal: "KILL", At: started.Add(-time.Second), RanFor: status.Duration(90 * time.Second)}
			in.LastExit, in.RecentExits, in.Restarts = &x, []status.Exit{x}, 1
		}
		st.Status.Instances[i] = in
	}
	if _, err := status.WriteFile(dir, st); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkStatusCommand: `reconciled status` (table) and `status -o json`
// in-process on a status of 100, 1000 and 5000 instances: the command's
// own work, without the process start-up (hack/bench/run.sh measures the
// whole command).
//
//	go test -run '^$' -bench StatusCommand ./cmd/reconciled
func BenchmarkStatusCommand(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		dir := benchStatusDir(b, n)
		for _, out := range []string{"table", "json"} {
			b.Run(out+"/"+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := cliExec(context.Background(), "", "status", "--dir", dir, "-o", out); r.code != 0 {
						b.Fatal(r)
					}
				}
			})
		}
	}
}
