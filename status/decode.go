package status

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// parseFast decodes a status file written in exactly the layout of Marshal,
// line by line, without the generic path's YAML -> JSON -> struct round
// trip, which costs about 100 µs per instance. ok is false for anything
// else (another layout, a hand edit, an unknown field, a value Marshal
// would have written otherwise): Parse then takes the generic decoder, so
// parseFast never decides what a file means, it only reads faster what
// both decoders read alike. TestParseFastAgrees holds it to that.
//
// The strings of the result share one copy of data.
func parseFast(data []byte) (st ProgramStatus, ok bool) {
	if !utf8.Valid(data) {
		return st, false
	}
	d := &lineDecoder{s: string(data), ok: true}
	st.APIVersion = d.str("", "apiVersion")
	st.Kind = d.str("", "kind")
	d.exact("metadata:")
	st.Metadata.Name = d.str("  ", "name")
	d.exact("status:")
	s := &st.Status
	s.SpecHash = d.str("  ", "specHash")
	s.Desired = d.str("  ", "desired")
	s.Replicas = d.int("  ", "replicas")
	s.ReadyReplicas = d.int("  ", "readyReplicas")
	s.UpdatedReplicas = d.int("  ", "updatedReplicas")
	s.Phase = d.str("  ", "phase")
	if d.has("  containment: ") {
		s.Containment = d.str("  ", "containment")
	}
	if !d.maybe("  conditions: []") {
		d.exact("  conditions:")
		for d.ok && d.has("  - type: ") {
			var c Condition
			c.Type = d.str("  - ", "type")
			c.Status = d.str("    ", "status")
			c.Reason = d.str("    ", "reason")
			c.Message = d.str("    ", "message")
			c.LastTransitionTime = d.time("    ", "lastTransitionTime")
			s.Conditions = append(s.Conditions, c)
		}
	}
	if !d.maybe("  instances: []") {
		d.exact("  instances:")
		s.Instances = make([]Instance, 0, strings.Count(d.s[d.pos:], "\n  - name: "))
		for d.ok && d.has("  - name: ") {
			s.Instances = append(s.Instances, d.instance())
		}
	}
	s.UpdatedAt = d.time("  ", "updatedAt")
	if !d.ok || d.pos != len(d.s) {
		return ProgramStatus{}, false
	}
	if len(s.Instances) == 0 {
		s.Instances = nil // as Parse returns an empty list
	}
	return st, true
}

// lineDecoder reads the lines of a status file one expected line at a time.
// Once a line is not what Marshal writes there, ok is false and every
// later read returns a zero value.
type lineDecoder struct {
	s   string
	pos int // the start of the next line
	ok  bool
	// slabs for the pointers of many instances: one allocation per 256
	times slab[time.Time]
	exits slab[Exit]
}

// peek returns the next line, without its newline; ok is false at the end
// or when the line has no newline (Marshal ends every line with one).
func (d *lineDecoder) peek() (string, bool) {
	if !d.ok {
		return "", false
	}
	i := strings.IndexByte(d.s[d.pos:], '\n')
	if i < 0 {
		return "", false
	}
	return d.s[d.pos : d.pos+i], true
}

// has reports whether the next line starts with prefix.
func (d *lineDecoder) has(prefix string) bool {
	line, ok := d.peek()
	return ok && strings.HasPrefix(line, prefix)
}

// maybe takes the next line if it is line.
func (d *lineDecoder) maybe(line string) bool {
	got, ok := d.peek()
	if ok && got == line {
		d.pos += len(line) + 1
		return true
	}
	return false
}

// exact takes the next line, which must be line.
func (d *lineDecoder) exact(line string) {
	if !d.maybe(line) {
		d.ok = false
	}
}

// value takes the next line, which must be indent, key, ": " and a value,
// and returns the value.
func (d *lineDecoder) value(indent, key string) string {
	line, ok := d.peek()
	n := len(indent) + len(key)
	if !ok || len(line) < n+2 || line[:len(indent)] != indent || line[len(indent):n] != key || line[n:n+2] != ": " {
		d.ok = false
		return ""
	}
	d.pos += len(line) + 1
	return line[n+2:]
}

// str reads a string: plain as Marshal writes it (plainSafe), or a
// double-quoted JSON string.
func (d *lineDecoder) str(indent, key string) string {
	v := d.value(indent, key)
	if !d.ok {
		return ""
	}
	if v == "" || v[0] != '"' {
		if !plainSafe(v) {
			d.ok = false
			return ""
		}
		return v
	}
	if len(v) >= 2 && v[len(v)-1] == '"' {
		inner := v[1 : len(v)-1]
		simple := true
		for i := 0; i < len(inner); i++ {
			if c := inner[i]; c == '"' || c == '\\' || c < ' ' || c >= 0x7f {
				simple = false
				break
			}
		}
		if simple {
			return inner
		}
		var out string
		if yamlJSONString(inner) && json.Unmarshal([]byte(v), &out) == nil {
			return out
		}
	}
	d.ok = false
	return ""
}

// yamlJSONString reports whether the inside of a JSON string reads the same
// as a YAML double-quoted scalar: no character YAML refuses, and only the
// escapes both know (not JSON's "\/", which go-yaml refuses).
func yamlJSONString(inner string) bool {
	if strings.ContainsFunc(inner, yamlUnprintable) {
		return false
	}
	for i := 0; i < len(inner); i++ {
		if inner[i] != '\\' {
			continue
		}
		if i+1 == len(inner) || strings.IndexByte(`"\bfnrtu`, inner[i+1]) < 0 {
			return false
		}
		i++
	}
	return true
}

// int reads an integer as strconv writes it.
func (d *lineDecoder) int(indent, key string) int {
	v := d.value(indent, key)
	digits := strings.TrimPrefix(v, "-")
	if !d.ok || digits == "" || len(digits) > 18 || (digits[0] == '0' && (len(digits) > 1 || len(v) > 1)) {
		d.ok = false
		return 0
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			d.ok = false
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if len(v) > len(digits) {
		n = -n
	}
	return n
}

// bool reads true or false.
func (d *lineDecoder) bool(indent, key string) bool {
	switch d.value(indent, key) {
	case "true":
		return true
	case "false":
		return false
	}
	d.ok = false
	return false
}

// time reads a time as Marshal writes it: null (the zero time), or quoted,
// in UTC, with exactly three fractional digits.
func (d *lineDecoder) time(indent, key string) time.Time {
	v := d.value(indent, key)
	if !d.ok || v == "null" {
		return time.Time{}
	}
	t, ok := parseTime(v)
	if !ok {
		d.ok = false
	}
	return t
}

// optTime reads a time that may be absent (nil), or null (nil, as the
// generic decoder reads null into a pointer); key is the line's start, up to
// and with ": ".
func (d *lineDecoder) optTime(key string) *time.Time {
	if !d.has(key) {
		return nil
	}
	t := d.time("", key[:len(key)-2])
	if t.IsZero() {
		return nil
	}
	p := d.times.new()
	*p = t
	return p
}

// parseTime parses "YYYY-MM-DDTHH:MM:SS.mmmZ", quoted.
func parseTime(v string) (time.Time, bool) {
	const layout = `"2006-01-02T15:04:05.000Z"`
	if len(v) != len(layout) || v[0] != '"' || v[5] != '-' || v[8] != '-' || v[11] != 'T' || v[14] != ':' ||
		v[17] != ':' || v[20] != '.' || v[24] != 'Z' || v[25] != '"' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		x := 0
		for _, c := range []byte(v[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			x = x*10 + int(c-'0')
		}
		return x
	}
	year, month, day := num(1, 4), num(6, 2), num(9, 2)
	hour, minute, sec, ms := num(12, 2), num(15, 2), num(18, 2), num(21, 3)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || ms < 0 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*1e6, time.UTC), true
}

// daysIn is the number of days of month in year.
func daysIn(month time.Month, year int) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// duration reads a duration as Duration's String writes it (plain).
func (d *lineDecoder) duration(indent, key string) Duration {
	v := d.value(indent, key)
	if !d.ok || v == "" || v[len(v)-1] < 'a' || v[len(v)-1] > 'z' {
		d.ok = false
		return 0
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		d.ok = false
	}
	return Duration(x)
}

// instance reads one element of the instances list.
func (d *lineDecoder) instance() Instance {
	var in Instance
	in.Name = d.str("  - ", "name")
	in.Index = d.int("    ", "index")
	in.State = d.str("    ", "state")
	in.Ready = d.bool("    ", "ready")
	if d.has("    health: ") {
		in.Health = d.str("    ", "health")
	}
	if d.has("    pid: ") {
		in.Pid = d.int("    ", "pid")
	}
	in.StartedAt = d.optTime("    startedAt: ")
	in.Restarts = d.int("    ", "restarts")
	in.SpecHash = d.str("    ", "specHash")
	if d.maybe("    lastExit:") {
		x := d.exits.new()
		*x = d.exit("      ")
		in.LastExit = x
	}
	if d.maybe("    recentExits:") {
		var recent [8]Exit
		xs := recent[:0]
		for d.ok && d.has("    - code: ") {
			xs = append(xs, d.exit("    - "))
		}
		if len(xs) == 0 {
			d.ok = false
		}
		in.RecentExits = d.exits.take(xs)
	}
	in.NextRetryAt = d.optTime("    nextRetryAt: ")
	in.Message = d.str("    ", "message")
	return in
}

// exit reads an exit's fields: the first line after first (a list item's
// "    - " or the mapping's indent), the others at the mapping's indent.
func (d *lineDecoder) exit(first string) Exit {
	const indent = "      "
	var x Exit
	x.Code = d.int(first, "code")
	x.Signal = d.str(indent, "signal")
	x.At = d.time(indent, "at")
	x.RanFor = d.duration(indent, "ranFor")
	if d.has(indent + "reason: ") {
		x.Reason = d.str(indent, "reason")
	}
	return x
}

// slab hands out values from shared arrays, so that reading thousands of
// instances costs an allocation per 256 of their times and exits, not one
// each.
type slab[T any] struct{ buf []T }

const slabSize = 256

// new returns a pointer to a new zero T.
func (s *slab[T]) new() *T {
	if len(s.buf) == cap(s.buf) {
		s.buf = make([]T, 0, slabSize)
	}
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

// take returns a copy of xs in the slab, with no room to grow into the
// next values.
func (s *slab[T]) take(xs []T) []T {
	if cap(s.buf)-len(s.buf) < len(xs) {
		s.buf = make([]T, 0, max(slabSize, len(xs)))
	}
	from := len(s.buf)
	s.buf = append(s.buf, xs...)
	return s.buf[from:len(s.buf):len(s.buf)]
}
