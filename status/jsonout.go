package status

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// WriteJSON writes sts to w as json.MarshalIndent(sts, "", "  ") does,
// followed by a newline, byte for byte, but written directly and streamed:
// MarshalIndent of a status of thousands of instances builds it, compacts
// every instance's MarshalJSON output and indents the whole again.
// TestWriteJSONMatchesMarshalIndent keeps the two alike.
func WriteJSON(w io.Writer, sts []ProgramStatus) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	j := &jsonWriter{w: bw}
	if len(sts) == 0 {
		j.raw("[]\n")
		return j.flush()
	}
	j.raw("[")
	for i := range sts {
		if i > 0 {
			j.raw(",")
		}
		j.nl(1)
		j.program(&sts[i])
	}
	j.nl(0)
	j.raw("]\n")
	return j.flush()
}

// jsonWriter writes indented JSON into a buffer that it hands to w as it
// fills; the first write error sticks.
type jsonWriter struct {
	w   *bufio.Writer
	b   []byte
	err error
}

func (j *jsonWriter) raw(s string) { j.b = append(j.b, s...) }

// nl starts a new line at depth.
func (j *jsonWriter) nl(depth int) {
	j.b = append(j.b, '\n')
	for range depth {
		j.b = append(j.b, "  "...)
	}
	if len(j.b) >= 32<<10 {
		j.spill()
	}
}

func (j *jsonWriter) spill() {
	if j.err == nil {
		_, j.err = j.w.Write(j.b)
	}
	j.b = j.b[:0]
}

func (j *jsonWriter) flush() error {
	j.spill()
	if j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

// key starts a member at depth: a comma unless first, a new line, the key.
func (j *jsonWriter) key(depth int, first bool, k string) {
	if !first {
		j.b = append(j.b, ',')
	}
	j.nl(depth)
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, `": `...)
}

func (j *jsonWriter) str(depth int, first bool, k, v string) {
	j.key(depth, first, k)
	j.b = appendHTMLSafeJSONString(j.b, v)
}

func (j *jsonWriter) int(depth int, first bool, k string, v int) {
	j.key(depth, first, k)
	j.b = strconv.AppendInt(j.b, int64(v), 10)
}

func (j *jsonWriter) time(depth int, first bool, k string, t time.Time) {
	j.key(depth, first, k)
	if t.IsZero() {
		j.b = append(j.b, "null"...)
		return
	}
	j.b = append(j.b, '"')
	j.b = appendTime(j.b, t) // as jsonTime writes it
	j.b = append(j.b, '"')
}

func (j *jsonWriter) program(st *ProgramStatus) {
	j.raw("{")
	j.str(2, true, "apiVersion", st.APIVersion)
	j.str(2, false, "kind", st.Kind)
	j.key(2, false, "metadata")
	j.raw("{")
	j.str(3, true, "name", st.Metadata.Name)
	j.nl(2)
	j.raw("}")
	j.key(2, false, "status")
	j.status(&st.Status)
	j.nl(1)
	j.raw("}")
}

// status writes s as Status.MarshalJSON does (which has no containment).
func (j *jsonWriter) status(s *Status) {
	j.raw("{")
	j.str(3, true, "specHash", s.SpecHash)
	j.str(3, false, "desired", s.Desired)
	j.int(3, false, "replicas", s.Replicas)
	j.int(3, false, "readyReplicas", s.ReadyReplicas)
	j.int(3, false, "updatedReplicas", s.UpdatedReplicas)
	j.str(3, false, "phase", s.Phase)
	j.key(3, false, "conditions")
	if len(s.Conditions) == 0 {
		j.raw("[]")
	} else {
		j.raw("[")
		for i := range s.Conditions {
			c := &s.Conditions[i]
			if i > 0 {
				j.raw(",")
			}
			j.nl(4)
			j.raw("{")
			j.str(5, true, "type", c.Type)
			j.str(5, false, "status", c.Status)
			j.str(5, false, "reason", c.Reason)
			j.str(5, false, "message", c.Message)
			j.time(5, false, "lastTransitionTime", c.LastTransitionTime)
			j.nl(4)
			j.raw("}")
		}
		j.nl(3)
		j.raw("]")
	}
	j.key(3, false, "instances")
	if len(s.Instances) == 0 {
		j.raw("[]")
	} else {
		j.raw("[")
		for i := range s.Instances {
			if i > 0 {
				j.raw(",")
			}
			j.nl(4)
			j.instance(&s.Instances[i])
		}
		j.nl(3)
		j.raw("]")
	}
	j.time(3, false, "updatedAt", s.UpdatedAt)
	j.nl(2)
	j.raw("}")
}

// instance writes in as Instance.MarshalJSON does, at depth 4.
func (j *jsonWriter) instance(in *Instance) {
	const d = 5
	j.raw("{")
	j.str(d, true, "name", in.Name)
	j.int(d, false, "index", in.Index)
	j.str(d, false, "state", in.State)
	j.key(d, false, "ready")
	j.b = strconv.AppendBool(j.b, in.Ready)
	if in.Health != "" {
		j.str(d, false, "health", in.Health)
	}
	if in.Pid != 0 {
		j.int(d, false, "pid", in.Pid)
	}
	if in.StartedAt != nil {
		j.time(d, false, "startedAt", *in.StartedAt)
	}
	j.int(d, false, "restarts", in.Restarts)
	j.str(d, false, "specHash", in.SpecHash)
	if in.LastExit != nil {
		j.key(d, false, "lastExit")
		j.exit(d, in.LastExit)
	}
	if len(in.RecentExits) > 0 {
		j.key(d, false, "recentExits")
		j.raw("[")
		for i := range in.RecentExits {
			if i > 0 {
				j.raw(",")
			}
			j.nl(d + 1)
			j.exit(d+1, &in.RecentExits[i])
		}
		j.nl(d)
		j.raw("]")
	}
	if in.NextRetryAt != nil {
		j.time(d, false, "nextRetryAt", *in.NextRetryAt)
	}
	j.str(d, false, "message", in.Message)
	j.nl(d - 1)
	j.raw("}")
}

// exit writes x as Exit.MarshalJSON does, as a value at depth.
func (j *jsonWriter) exit(depth int, x *Exit) {
	j.raw("{")
	j.int(depth+1, true, "code", x.Code)
	j.str(depth+1, false, "signal", x.Signal)
	j.time(depth+1, false, "at", x.At)
	j.str(depth+1, false, "ranFor", time.Duration(x.RanFor).Round(time.Millisecond).String())
	if x.Reason != "" {
		j.str(depth+1, false, "reason", x.Reason)
	}
	j.nl(depth)
	j.raw("}")
}

// appendHTMLSafeJSONString appends s as json.Marshal writes it, with its
// HTML escaping (<, > and & as \u003c and so on). Printable ASCII without
// those, a quote or a backslash is copied as it is; anything else goes
// through encoding/json.
func appendHTMLSafeJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
