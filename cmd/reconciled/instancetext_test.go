package main

import (
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

func TestShownState(t *testing.T) {
	for _, tt := range []struct{ state, health, want string }{
		{"RUNNING", "Unhealthy", "UNHEALTHY"},
		{"RUNNING", "Healthy", "RUNNING"},
		{"RUNNING", "", "RUNNING"},
		{"STARTING", "Unhealthy", "STARTING"},
	} {
		if got := shownState(status.Instance{State: tt.state, Health: tt.health}); got != tt.want {
			t.Errorf("%s/%s: %s, want %s", tt.state, tt.health, got, tt.want)
		}
	}
}

func TestDescribeRecentExits(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	describeRecentExits(&b, []status.Instance{{Name: "web-0"}}, now)
	if b.Len() != 0 {
		t.Errorf("without exits: %q", b.String())
	}
	describeRecentExits(&b, []status.Instance{{Name: "web-0", RecentExits: []status.Exit{
		{Code: -1, Signal: "KILL", Reason: "OOMKilled", At: now.Add(-3 * time.Second), RanFor: status.Duration(2500 * time.Millisecond)},
		{Code: 1, At: now.Add(-time.Minute), RanFor: status.Duration(time.Second)},
	}}}, now)
	want := "Recent exits:\n  INSTANCE  EXIT                           RAN FOR\n  web-0     signal KILL OOMKilled, 3s ago  2.5s\n  web-0     code 1, 1m0s ago               1s\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestProgramMessageFlapping(t *testing.T) {
	s := status.Status{Conditions: []status.Condition{
		{Type: status.ConditionSpecValid, Status: status.ConditionTrue},
		{Type: "Flapping", Status: status.ConditionTrue, Message: "web-0 restarted 5 times within 1m0s"},
	}}
	if got := programMessage(s); got != "Flapping: web-0 restarted 5 times within 1m0s" {
		t.Errorf("got %q", got)
	}
	s.Conditions[1].Status = status.ConditionFalse
	if got := programMessage(s); got != "" {
		t.Errorf("stable: got %q", got)
	}
}
