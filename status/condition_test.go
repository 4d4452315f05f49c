package status

import (
	"reflect"
	"testing"
	"time"
)

func TestSetCondition(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	now := t0.Add(time.Minute)
	cond := func(typ, status, reason string, at time.Time) Condition {
		return Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: at}
	}
	base := []Condition{
		cond(ConditionSpecValid, ConditionTrue, "Valid", t0),
		cond(ConditionAvailable, ConditionFalse, "MinimumReplicasUnavailable", t0),
	}
	tests := []struct {
		name string
		in   []Condition
		set  Condition
		want []Condition
	}{
		{
			name: "new condition into nil is appended with now",
			in:   nil,
			set:  cond(ConditionSpecValid, ConditionTrue, "Valid", time.Time{}),
			want: []Condition{cond(ConditionSpecValid, ConditionTrue, "Valid", now)},
		},
		{
			name: "new type is appended after the others",
			in:   base,
			set:  cond(ConditionProgressing, ConditionTrue, "ScalingUp", t0.Add(time.Hour)),
			want: append(base[:2:2], cond(ConditionProgressing, ConditionTrue, "ScalingUp", now)),
		},
		{
			name: "same status keeps the transition time but takes reason and message",
			in:   base,
			set:  Condition{Type: ConditionSpecValid, Status: ConditionTrue, Reason: "StillValid", Message: "m", LastTransitionTime: now},
			want: []Condition{
				{Type: ConditionSpecValid, Status: ConditionTrue, Reason: "StillValid", Message: "m", LastTransitionTime: t0},
				base[1],
			},
		},
		{
			name: "changed status sets the transition time to now in place",
			in:   base,
			set:  cond(ConditionAvailable, ConditionTrue, "MinimumReplicasReady", time.Time{}),
			want: []Condition{base[0], cond(ConditionAvailable, ConditionTrue, "MinimumReplicasReady", now)},
		},
		{
			name: "invalid spec flips SpecValid to False",
			in:   base,
			set:  Condition{Type: ConditionSpecValid, Status: ConditionFalse, Reason: "Invalid", Message: "worker.yaml:7:3: spec.replicas: bad"},
			want: []Condition{
				{Type: ConditionSpecValid, Status: ConditionFalse, Reason: "Invalid", Message: "worker.yaml:7:3: spec.replicas: bad", LastTransitionTime: now},
				base[1],
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]Condition(nil), tt.in...)
			got := SetCondition(tt.in, tt.set, now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SetCondition:\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.in, before) {
				t.Errorf("SetCondition modified its input: %+v, was %+v", tt.in, before)
			}
		})
	}
}

func TestFindCondition(t *testing.T) {
	conds := SetCondition(nil, Condition{Type: ConditionAvailable, Status: ConditionTrue}, time.Now())
	if c, ok := FindCondition(conds, ConditionAvailable); !ok || c.Status != ConditionTrue {
		t.Errorf("FindCondition(Available) = %+v, %v", c, ok)
	}
	if _, ok := FindCondition(conds, ConditionProgressing); ok {
		t.Error("FindCondition(Progressing) found a condition that was never set")
	}
}
