package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// APIVersion is the apiVersion written in every status file.
const APIVersion = "reconciled.dev/v1"

// Kind is the kind written in every status file.
const Kind = "ProgramStatus"

// Condition types a status carries, in the order the reconciler appends them.
const (
	ConditionSpecValid   = "SpecValid"
	ConditionAvailable   = "Available"
	ConditionProgressing = "Progressing"
	// ConditionComplete is carried by one-shot programs (restartPolicy
	// OnFailure or Never): True once every instance exited with success.
	ConditionComplete = "Complete"
)

// Values of Condition.Status. They are strings, as in Kubernetes, so that a
// condition can later also be "Unknown".
const (
	ConditionTrue  = "True"
	ConditionFalse = "False"
)

// Values of Event.Type.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// ProgramStatus is the content of a NAME.status.yaml file: the observed state of
// one program, as described in docs/reference.md §4.
type ProgramStatus struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Status     Status   `json:"status"`
}

// Metadata identifies the program a status belongs to.
type Metadata struct {
	Name string `json:"name"`
}

// Status is the observed state of a program and its instances.
type Status struct {
	SpecHash        string `json:"specHash"`
	Desired         string `json:"desired"`
	Replicas        int    `json:"replicas"`
	ReadyReplicas   int    `json:"readyReplicas"`
	UpdatedReplicas int    `json:"updatedReplicas"`
	Phase           string `json:"phase"`
	// Containment says what holds an instance's processes together:
	// "cgroup" (a cgroup of its own) or "processGroup" (its process group,
	// plus the RECONCILED_* marks in the environment).
	Containment string      `json:"containment,omitempty"`
	Conditions  []Condition `json:"conditions"`
	Instances   []Instance  `json:"instances"`
	// UpdatedAt is the time of the last change of anything else in the status.
	// It is ignored when deciding whether a file needs rewriting.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Condition is one Kubernetes-style condition of a program.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Instance is the observed state of one instance (one process slot) of a program.
type Instance struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	State string `json:"state"`
	Ready bool   `json:"ready"`
	// Health is how the probes judge the running process: Healthy,
	// Unhealthy (a probe fails; status shows the state as UNHEALTHY) or
	// Unknown (no verdict yet); empty without probes or process.
	Health    string     `json:"health,omitempty"`
	Pid       int        `json:"pid,omitempty"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	Restarts  int        `json:"restarts"`
	SpecHash  string     `json:"specHash"`
	// LastExit is nil before the instance's first exit.
	LastExit *Exit `json:"lastExit,omitempty"`
	// RecentExits are the last 5 exits (every exit, also those a stop
	// caused), newest first.
	RecentExits []Exit `json:"recentExits,omitempty"`
	// NextRetryAt is set only in BACKOFF: when the next start is due.
	NextRetryAt *time.Time `json:"nextRetryAt,omitempty"`
	Message     string     `json:"message"`
}

// Exit describes how an instance's process ended.
type Exit struct {
	Code   int       `json:"code"`
	Signal string    `json:"signal"`
	At     time.Time `json:"at"`
	RanFor Duration  `json:"ranFor"`
	// Reason says why, when more is known than code and signal:
	// "OOMKilled" when the OOM killer ended it.
	Reason string `json:"reason,omitempty"`
}

// Event is one line of a NAME.events.jsonl file, as described in docs/reference.md §5.
type Event struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	Program  string    `json:"program"`
	Instance string    `json:"instance,omitempty"`
	Pid      int       `json:"pid,omitempty"`
	Message  string    `json:"message"`
	// Exit is the exit an Exited event reports, as typed data for the
	// daemon's own consumers (the exit policy); it is not written: the
	// message says the same for people.
	Exit *Exit `json:"-"`
}

// Duration is a time.Duration that is written as a Go duration string ("2.5s"),
// rounded to the millisecond, and read back from one. A bare JSON number is read
// as seconds, as docs/reference.md §2 does for durations in specs.
type Duration time.Duration

// String returns the duration as a Go duration string, such as "2.5s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a Go duration string rounded to the millisecond.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Round(time.Millisecond).String())
}

// UnmarshalJSON reads a Go duration string, or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// timeLayout is RFC 3339 with exactly three fractional digits.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// jsonTime writes a time in UTC with millisecond precision; the zero time is
// written as null, which encoding/json reads back as the zero time.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format(timeLayout) + `"`), nil
}

func optTime(t *time.Time) *jsonTime {
	if t == nil {
		return nil
	}
	jt := jsonTime(*t)
	return &jt
}

// marshalJSON is json.Marshal without HTML escaping, so that a message such as
// "exit code > 0" stays readable in the files.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// The MarshalJSON methods below spell out every field again only to change how
// times are written; the field order is the order of docs/reference.md.

// MarshalJSON writes s with times in UTC at millisecond precision, and empty
// lists as [] rather than null.
func (s Status) MarshalJSON() ([]byte, error) {
	conds, insts := s.Conditions, s.Instances
	if conds == nil {
		conds = []Condition{}
	}
	if insts == nil {
		insts = []Instance{}
	}
	return marshalJSON(struct {
		SpecHash        string      `json:"specHash"`
		Desired         string      `json:"desired"`
		Replicas        int         `json:"replicas"`
		ReadyReplicas   int         `json:"readyReplicas"`
		UpdatedReplicas int         `json:"updatedReplicas"`
		Phase           string      `json:"phase"`
		Conditions      []Condition `json:"conditions"`
		Instances       []Instance  `json:"instances"`
		UpdatedAt       jsonTime    `json:"updatedAt"`
	}{s.SpecHash, s.Desired, s.Replicas, s.ReadyReplicas, s.UpdatedReplicas, s.Phase,
		conds, insts, jsonTime(s.UpdatedAt)})
}

// MarshalJSON writes c with its time in UTC at millisecond precision.
func (c Condition) MarshalJSON() ([]byte, error) {
	return marshalJSON(struct {
		Type               string   `json:"type"`
		Status             string   `json:"status"`
		Reason             string   `json:"reason"`
		Message            string   `json:"message"`
		LastTransitionTime jsonTime `json:"lastTransitionTime"`
	}{c.Type, c.Status, c.Reason, c.Message, jsonTime(c.LastTransitionTime)})
}

// MarshalJSON writes in with its times in UTC at millisecond precision.
func (in Instance) MarshalJSON() ([]byte, error) {
	return marshalJSON(struct {
		Name        string    `json:"name"`
		Index       int       `json:"index"`
		State       string    `json:"state"`
		Ready       bool      `json:"ready"`
		Health      string    `json:"health,omitempty"`
		Pid         int       `json:"pid,omitempty"`
		StartedAt   *jsonTime `json:"startedAt,omitempty"`
		Restarts    int       `json:"restarts"`
		SpecHash    string    `json:"specHash"`
		LastExit    *Exit     `json:"lastExit,omitempty"`
		RecentExits []Exit    `json:"recentExits,omitempty"`
		NextRetryAt *jsonTime `json:"nextRetryAt,omitempty"`
		Message     string    `json:"message"`
	}{in.Name, in.Index, in.State, in.Ready, in.Health, in.Pid, optTime(in.StartedAt), in.Restarts,
		in.SpecHash, in.LastExit, in.RecentExits, optTime(in.NextRetryAt), in.Message})
}

// MarshalJSON writes e with its time in UTC at millisecond precision.
func (e Exit) MarshalJSON() ([]byte, error) {
	return marshalJSON(struct {
		Code   int      `json:"code"`
		Signal string   `json:"signal"`
		At     jsonTime `json:"at"`
		RanFor Duration `json:"ranFor"`
		Reason string   `json:"reason,omitempty"`
	}{e.Code, e.Signal, jsonTime(e.At), e.RanFor, e.Reason})
}

// MarshalJSON writes ev as one compact object with the fields in the order of
// docs/reference.md §5 and its time in UTC at millisecond precision.
func (ev Event) MarshalJSON() ([]byte, error) {
	return appendEvent(nil, ev), nil
}

// appendEvent appends ev as MarshalJSON writes it, without reflection: the
// daemon writes an event per start and per stop, thousands in a burst.
func appendEvent(b []byte, ev Event) []byte {
	b = append(b, `{"time":`...)
	if ev.Time.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = ev.Time.UTC().AppendFormat(b, timeLayout)
		b = append(b, '"')
	}
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, ev.Reason)
	b = append(b, `,"program":`...)
	b = appendJSONString(b, ev.Program)
	if ev.Instance != "" {
		b = append(b, `,"instance":`...)
		b = appendJSONString(b, ev.Instance)
	}
	if ev.Pid != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(ev.Pid), 10)
	}
	b = append(b, `,"message":`...)
	b = appendJSONString(b, clipMessage(ev.Message))
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, as marshalJSON writes it (no
// HTML escaping). Printable ASCII without quote or backslash, the usual
// case, is copied as it is; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := marshalJSON(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
