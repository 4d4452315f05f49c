package status

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sample returns a status that uses every field, with times that are not in UTC
// and not on a millisecond, to exercise the normalisation.
func sample(name string) ProgramStatus {
	zone := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 22, 11, 0, 1, 123456789, zone)
	started := at.Add(-time.Hour)
	retry := at.Add(1500 * time.Millisecond)
	conds := SetCondition(nil, Condition{Type: ConditionSpecValid, Status: ConditionTrue, Reason: "Valid"}, at)
	conds = SetCondition(conds, Condition{Type: ConditionAvailable, Status: ConditionTrue, Reason: "MinimumReplicasReady"}, at)
	conds = SetCondition(conds, Condition{Type: ConditionProgressing, Status: ConditionFalse, Reason: "Complete"}, at)
	return ProgramStatus{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata:   Metadata{Name: name},
		Status: Status{
			SpecHash:        "sha256:4f1c",
			Desired:         "running",
			Replicas:        2,
			ReadyReplicas:   1,
			UpdatedReplicas: 2,
			Phase:           "Degraded",
			Conditions:      conds,
			Instances: []Instance{
				{Name: name + "-0", Index: 0, State: "RUNNING", Ready: true, Health: "Healthy", Pid: 41237, StartedAt: &started,
					Restarts: 1, SpecHash: "sha256:4f1c",
					LastExit: &Exit{Code: 1, At: at.Add(-time.Hour), RanFor: Duration(2500*time.Millisecond + 300*time.Microsecond)},
					RecentExits: []Exit{
						{Code: 1, At: at.Add(-time.Hour), RanFor: Duration(2500*time.Millisecond + 300*time.Microsecond)},
						{Code: -1, Signal: "KILL", At: at.Add(-2 * time.Hour), RanFor: Duration(time.Second), Reason: "OOMKilled"},
					}},
				{Name: name + "-1", Index: 1, State: "BACKOFF", Restarts: 3, SpecHash: "sha256:4f1c",
					LastExit:    &Exit{Signal: "SIGKILL", At: at, RanFor: Duration(20 * time.Millisecond)},
					NextRetryAt: &retry, Message: "exited too quickly (see logs)"},
			},
			UpdatedAt: at,
		},
	}
}

// normalized returns what st reads back as: times in UTC truncated to the
// millisecond, durations rounded to the millisecond.
func normalized(st ProgramStatus) ProgramStatus {
	st = st.DeepCopy()
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Truncate(time.Millisecond).UTC()
	}
	st.Status.UpdatedAt = ms(st.Status.UpdatedAt)
	for i := range st.Status.Conditions {
		st.Status.Conditions[i].LastTransitionTime = ms(st.Status.Conditions[i].LastTransitionTime)
	}
	for i := range st.Status.Instances {
		in := &st.Status.Instances[i]
		if in.StartedAt != nil {
			*in.StartedAt = ms(*in.StartedAt)
		}
		if in.NextRetryAt != nil {
			*in.NextRetryAt = ms(*in.NextRetryAt)
		}
		if in.LastExit != nil {
			in.LastExit.At = ms(in.LastExit.At)
			in.LastExit.RanFor = Duration(time.Duration(in.LastExit.RanFor).Round(time.Millisecond))
		}
		for j := range in.RecentExits {
			x := &in.RecentExits[j]
			x.At, x.RanFor = ms(x.At), Duration(time.Duration(x.RanFor).Round(time.Millisecond))
		}
	}
	return st
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		st   ProgramStatus
	}{
		{"every field", sample("worker")},
		{"empty", ProgramStatus{Metadata: Metadata{Name: "idle"}}},
		{"stopped", ProgramStatus{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "db"},
			Status: Status{Desired: "stopped", Phase: "Stopped", Instances: []Instance{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, data)
			}
			want := normalized(tt.st)
			if len(want.Status.Instances) == 0 {
				want.Status.Instances = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v\nyaml:\n%s", got, want, data)
			}
		})
	}
}

// TestMarshalStrings checks that strings which look like something else in
// YAML 1.1 or 1.2 are quoted, and that odd characters survive.
func TestMarshalStrings(t *testing.T) {
	odd := []string{
		"", " ", "yes", "no", "on", "Off", "y", "N", "true", "True", "FALSE", "null", "~", "Null",
		"1", "-1", "+1", "0777", "0x1F", "0b101", "0o17", "1_000", "1e3", ".5", ".inf", "-.Inf", ".nan",
		"1:20", "190:20:30.15", "2026-11-22", "2026-11-22T10:00:00Z", "-", "- x", "a: b", "a:b", "#x", "x #y",
		"[x]", "{x: y}", "*a", "&a", "!t", "%x", "@x", "`x", "|", ">", "'", `"`, `\`, "?", ",", "x\n", "\ty",
		"line1\nline2", "trailing ", " leading", "ünïcode ✓", "exit code > 0 && <1", "sha256:4f1c",
		"\x00\x01ctrl", "=", "<<",
	}
	for _, s := range odd {
		st := ProgramStatus{Metadata: Metadata{Name: "w"}, Status: Status{
			Desired: s, Phase: s,
			Conditions: []Condition{{Type: s, Status: s, Reason: s, Message: s}},
			Instances:  []Instance{{Name: s, State: s, Message: s, LastExit: &Exit{Signal: s}}},
		}}
		data, err := Marshal(st)
		if err != nil {
			t.Errorf("Marshal(%q): %v", s, err)
			continue
		}
		got, err := Parse(data)
		if err != nil {
			t.Errorf("Parse of %q: %v\n%s", s, err, data)
			continue
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v\nyaml:\n%s", s, got, st, data)
		}
	}
}

func TestMarshalLayout(t *testing.T) {
	data, err := Marshal(sample("worker"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)
	// Keys in the order of DESIGN.md §4, not alphabetical.
	order := []string{
		"apiVersion: reconciled.dev/v1\n", "kind: ProgramStatus\n", "metadata:\n", "  name: worker\n", "status:\n",
		"  specHash:", "  desired:", "  replicas:", "  readyReplicas:", "  updatedReplicas:", "  phase:",
		"  conditions:\n", "  - type: SpecValid\n", "    status: \"True\"\n", "    reason:", "    message: \"\"\n",
		"    lastTransitionTime: \"2026-11-22T10:00:01.123Z\"\n",
		"  instances:\n", "  - name: worker-0\n", "    index: 0\n", "    state: RUNNING\n", "    ready: true\n",
		"    pid: 41237\n", "    startedAt: \"2026-11-22T09:00:01.123Z\"\n", "    restarts: 1\n", "    specHash:",
		"    lastExit:\n", "      code: 1\n", "      signal: \"\"\n", "      at:", "      ranFor: 2.5s\n", "    message:",
		"  - name: worker-1\n", "    nextRetryAt: \"2026-11-22T10:00:02.623Z\"\n",
		"  updatedAt: \"2026-11-22T10:00:01.123Z\"\n",
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(out[pos:], want)
		if i < 0 {
			t.Fatalf("want %q after offset %d in:\n%s", want, pos, out)
		}
		pos += i + len(want)
	}
	if strings.Contains(out, "  - name: worker-1\n    index: 1\n    state: BACKOFF\n    ready: false\n    pid:") {
		t.Errorf("pid 0 should be omitted:\n%s", out)
	}
}

func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 11, 0, 1, 123999999, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"instance event", Event{Time: at, Type: EventNormal, Reason: "Started", Program: "worker", Instance: "worker-0", Pid: 41237, Message: "a < b & c"},
			`{"time":"2026-11-22T10:00:01.123Z","type":"Normal","reason":"Started","program":"worker","instance":"worker-0","pid":41237,"message":"a < b & c"}`},
		{"program event", Event{Time: at, Type: EventWarning, Reason: "SpecInvalid", Program: "worker"},
			`{"time":"2026-11-22T10:00:01.123Z","type":"Warning","reason":"SpecInvalid","program":"worker","message":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := marshalJSON(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var back Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			want := tt.ev
			want.Time = want.Time.Truncate(time.Millisecond).UTC()
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip: got %+v, want %+v", back, want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
	}{
		{`"2.5s"`, Duration(2500 * time.Millisecond)},
		{`"1m30s"`, Duration(90 * time.Second)},
		{`3`, Duration(3 * time.Second)},
		{`null`, 0},
	}
	for _, tt := range tests {
		var d Duration
		if err := json.Unmarshal([]byte(tt.in), &d); err != nil || d != tt.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.in, d, err, tt.want)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error(`Unmarshal("soon") succeeded`)
	}
}
