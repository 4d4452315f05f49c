package status

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Marshal returns st as the YAML of a status file, with the keys in the order
// of docs/reference.md §4. It writes the text directly: a status file with thousands
// of instances is rewritten often, and going through a YAML node tree cost the
// daemon more CPU than starting the processes. A string is written plain when
// it cannot read back as anything else, and double-quoted (JSON escaping,
// which YAML accepts) otherwise.
func Marshal(st ProgramStatus) ([]byte, error) {
	return marshal(st, nil), nil
}

// marshal is Marshal; with a cache (see encodeCache) it copies the YAML of
// the instances that have not changed since the cache's last status
// instead of encoding them again, and remembers this status.
func marshal(st ProgramStatus, c *encodeCache) []byte {
	e := &encoder{buf: c.newBuf(512 + 300*len(st.Status.Instances))}
	s := &st.Status
	e.field(0, "apiVersion", st.APIVersion)
	e.field(0, "kind", st.Kind)
	e.line(0, "metadata:")
	e.field(1, "name", st.Metadata.Name)
	e.line(0, "status:")
	e.field(1, "specHash", s.SpecHash)
	e.field(1, "desired", s.Desired)
	e.int(1, "replicas", s.Replicas)
	e.int(1, "readyReplicas", s.ReadyReplicas)
	e.int(1, "updatedReplicas", s.UpdatedReplicas)
	e.field(1, "phase", s.Phase)
	if s.Containment != "" {
		e.field(1, "containment", s.Containment)
	}
	if len(s.Conditions) == 0 {
		e.line(1, "conditions: []")
	} else {
		e.line(1, "conditions:")
	}
	for _, c := range s.Conditions {
		e.item(1, "type", c.Type)
		e.field(2, "status", c.Status)
		e.field(2, "reason", c.Reason)
		e.field(2, "message", clipMessage(c.Message))
		e.time(2, "lastTransitionTime", c.LastTransitionTime)
	}
	if len(s.Instances) == 0 {
		e.line(1, "instances: []")
	} else {
		e.line(1, "instances:")
	}
	if c == nil {
		for i := range s.Instances {
			e.instance(&s.Instances[i])
		}
	} else {
		c.instances(e, s.Instances)
	}
	e.time(1, "updatedAt", s.UpdatedAt)
	if c != nil {
		c.data = e.buf
	}
	return e.buf
}

// instance writes one element of the instances list.
func (e *encoder) instance(in *Instance) {
	e.item(1, "name", in.Name)
	e.int(2, "index", in.Index)
	e.field(2, "state", in.State)
	e.bool(2, "ready", in.Ready)
	if in.Health != "" {
		e.field(2, "health", in.Health)
	}
	if in.Pid != 0 {
		e.int(2, "pid", in.Pid)
	}
	if in.StartedAt != nil {
		e.time(2, "startedAt", *in.StartedAt)
	}
	e.int(2, "restarts", in.Restarts)
	e.field(2, "specHash", in.SpecHash)
	if x := in.LastExit; x != nil {
		e.line(2, "lastExit:")
		e.exit(3, x)
	}
	if len(in.RecentExits) > 0 {
		e.line(2, "recentExits:")
		for j := range in.RecentExits {
			e.exitItem(2, &in.RecentExits[j])
		}
	}
	if in.NextRetryAt != nil {
		e.time(2, "nextRetryAt", *in.NextRetryAt)
	}
	e.field(2, "message", clipMessage(in.Message))
}

// MaxMessage is the longest message a status or event record holds; a
// longer one (a start failure that quotes a 1 MiB command) is cut, with its
// length said, so that a hostile manifest cannot make every status write
// and every event cost megabytes.
const MaxMessage = 32 << 10

// clipMessage returns s, or its first MaxMessage bytes (whole runes) and a
// note of how long it was.
func clipMessage(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	n := MaxMessage
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// encoder appends block YAML to buf; depth counts two-space indents.
type encoder struct{ buf []byte }

// exit writes x's fields at depth.
func (e *encoder) exit(depth int, x *Exit) {
	e.int(depth, "code", x.Code)
	e.exitRest(depth, x)
}

// exitItem writes x as a list item under a key at depth.
func (e *encoder) exitItem(depth int, x *Exit) {
	e.key(depth, "- ")
	e.int(0, "code", x.Code)
	e.exitRest(depth+1, x)
}

func (e *encoder) exitRest(depth int, x *Exit) {
	e.field(depth, "signal", x.Signal)
	e.time(depth, "at", x.At)
	e.key(depth, "ranFor: ")
	e.buf = appendDuration(e.buf, time.Duration(x.RanFor).Round(time.Millisecond))
	e.buf = append(e.buf, '\n')
	if x.Reason != "" {
		e.field(depth, "reason", x.Reason)
	}
}

func (e *encoder) key(depth int, key string) {
	for range depth {
		e.buf = append(e.buf, "  "...)
	}
	e.buf = append(e.buf, key...)
}

func (e *encoder) line(depth int, text string) {
	e.key(depth, text)
	e.buf = append(e.buf, '\n')
}

// raw writes a value that needs no quoting (numbers, durations, booleans).
func (e *encoder) raw(depth int, key, value string) {
	e.key(depth, key)
	e.buf = append(e.buf, ": "...)
	e.buf = append(e.buf, value...)
	e.buf = append(e.buf, '\n')
}

func (e *encoder) field(depth int, key, value string) {
	e.key(depth, key)
	e.buf = append(e.buf, ": "...)
	e.buf = appendString(e.buf, value)
	e.buf = append(e.buf, '\n')
}

// item starts a list element whose first key is key.
func (e *encoder) item(depth int, key, value string) {
	e.key(depth, "- ")
	e.field(0, key, value)
}

func (e *encoder) int(depth int, key string, v int) {
	e.key(depth, key)
	e.buf = append(e.buf, ": "...)
	e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	e.buf = append(e.buf, '\n')
}

func (e *encoder) bool(depth int, key string, v bool) { e.raw(depth, key, strconv.FormatBool(v)) }

// time writes t in UTC at millisecond precision, quoted (plain, it would be a
// YAML 1.1 timestamp); the zero time is null, which reads back as zero.
func (e *encoder) time(depth int, key string, t time.Time) {
	if t.IsZero() {
		e.raw(depth, key, "null")
		return
	}
	e.key(depth, key)
	e.buf = append(e.buf, `: "`...)
	e.buf = appendTime(e.buf, t)
	e.buf = append(e.buf, "\"\n"...)
}

// appendTime appends t in UTC as timeLayout does (milliseconds truncated),
// by hand: a status of thousands of instances holds thousands of times, and
// AppendFormat interprets the layout for each.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDuration appends d as d.String() writes it, without allocating for
// the usual whole seconds below a minute.
func appendDuration(b []byte, d time.Duration) []byte {
	if d >= 0 && d < time.Minute && d%time.Second == 0 {
		b = strconv.AppendInt(b, int64(d/time.Second), 10)
		return append(b, 's')
	}
	return append(b, d.String()...)
}

// appendDigits appends v, at most width digits, zero-padded to width.
func appendDigits(b []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// appendString writes s plain when it reads back as the same string in YAML
// 1.1 and 1.2, else double-quoted.
func appendString(buf []byte, s string) []byte {
	if plainSafe(s) {
		return append(buf, s...)
	}
	return appendYAMLQuoted(buf, s)
}

// appendYAMLQuoted writes s as a JSON string, which YAML reads as a
// double-quoted scalar, except that the characters JSON leaves as they are
// and YAML does not allow in a stream (DEL, the C1 controls, U+FEFF, U+FFFE,
// U+FFFF) are escaped too: raw, they made the file unreadable.
func appendYAMLQuoted(buf []byte, s string) []byte {
	from := len(buf)
	buf = appendJSONString(buf, s)
	clean := true
	for _, c := range buf[from:] {
		if c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return buf
	}
	q := string(buf[from:])
	buf = buf[:from]
	for _, r := range q {
		if yamlUnprintable(r) {
			buf = append(buf, `\u`...)
			buf = append(buf, "0123456789abcdef"[r>>12&0xf], "0123456789abcdef"[r>>8&0xf], "0123456789abcdef"[r>>4&0xf], "0123456789abcdef"[r&0xf])
			continue
		}
		buf = utf8.AppendRune(buf, r)
	}
	return buf
}

// yamlUnprintable reports whether r, valid in a JSON string as it is, may
// not appear in a YAML stream (YAML 1.2 c-printable, and no byte order mark
// inside a document).
func yamlUnprintable(r rune) bool {
	return r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfeff || r == 0xfffe || r == 0xffff
}

// plainSafe is deliberately conservative: whatever might be a number, a
// boolean, null, a timestamp, an indicator or a comment is quoted. The
// decoder (decode.go) takes a plain value only when plainSafe says the
// encoder would have written it so.
func plainSafe(s string) bool {
	if s == "" || s[len(s)-1] == ' ' || s[len(s)-1] == ':' ||
		strings.IndexByte(" -?:,[]{}#&*!|>'\"%@`<=~+.0123456789\\", s[0]) >= 0 {
		return false
	}
	// Printable ASCII, the usual case, in one pass without allocating.
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return plainSafeUnicode(s)
		case c < ' ' || c == 0x7f:
			return false
		case c == ':' && i+1 < len(s) && s[i+1] == ' ', c == '#' && s[i-1] == ' ':
			return false
		}
	}
	return len(s) > 5 || !yamlWord(s)
}

// yamlWord reports whether ASCII s reads as a boolean or null in YAML 1.1
// or 1.2, in any case.
func yamlWord(s string) bool {
	for _, w := range [...]string{"true", "false", "null", "yes", "no", "on", "off", "y", "n"} {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// plainSafeUnicode is plainSafe for a string with non-ASCII characters,
// whose first character has been checked.
func plainSafeUnicode(s string) bool {
	if strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
		return false
	}
	return true
}

// Parse reads the YAML (or JSON) of a status file. Unknown fields are ignored, so
// an older reader can read a newer daemon's files.
func Parse(data []byte) (ProgramStatus, error) {
	if st, ok := parseFast(data); ok {
		return st, nil
	}
	return parseGeneric(data)
}

// parseGeneric is Parse through sigs.k8s.io/yaml, for any layout.
func parseGeneric(data []byte) (ProgramStatus, error) {
	var st ProgramStatus
	if err := yaml.Unmarshal(data, &st); err != nil {
		return ProgramStatus{}, fmt.Errorf("decode status: %w", err)
	}
	// Marshal writes empty lists as [], which decode as empty slices; make them
	// nil again so that a write and a read give back the same value.
	if len(st.Status.Conditions) == 0 {
		st.Status.Conditions = nil
	}
	if len(st.Status.Instances) == 0 {
		st.Status.Instances = nil
	}
	return st, nil
}
