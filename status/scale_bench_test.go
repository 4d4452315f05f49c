package status

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// bigStatus is a status of n running instances as the daemon writes it
// after a start of n and a few restarts: every tenth instance has exited
// once (lastExit, recentExits).
func bigStatus(n int) ProgramStatus {
	at := time.Date(2026, 12, 7, 11, 0, 1, 123000000, time.UTC)
	conds := SetCondition(nil, Condition{Type: ConditionSpecValid, Status: ConditionTrue, Reason: "Valid"}, at)
	conds = SetCondition(conds, Condition{Type: ConditionAvailable, Status: ConditionTrue, Reason: "MinimumReplicasReady",
		Message: fmt.Sprintf("%d/%d ready", n, n)}, at)
	conds = SetCondition(conds, Condition{Type: ConditionProgressing, Status: ConditionFalse, Reason: "Complete"}, at)
	st := ProgramStatus{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "bench"},
		Status: Status{SpecHash: "sha256:4f1c2b9a0d3e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", Desired: "running",
			Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, Phase: "Running", Containment: "cgroup",
			Conditions: conds, UpdatedAt: at}}
	st.Status.Instances = make([]Instance, n)
	for i := range n {
		started := at.Add(time.Duration(i) * time.Millisecond)
		in := Instance{Name: "bench-" + strconv.Itoa(i), Index: i, State: "RUNNING", Ready: true, Pid: 10000 + i,
			StartedAt: &started, SpecHash: st.Status.SpecHash}
		if i%10 == 0 {
			x := Exit{Code: -1, Signal: "KILL", At: started.Add(-time.Second), RanFor: Duration(90 * time.Second)}
			in.LastExit, in.RecentExits, in.Restarts = &x, []Exit{x}, 1
		}
		st.Status.Instances[i] = in
	}
	return st
}

var benchSizes = []int{100, 1000, 5000}

func BenchmarkMarshal(b *testing.B) {
	for _, n := range benchSizes {
		st := bigStatus(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, n := range benchSizes {
		data, _ := Marshal(bigStatus(n))
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
