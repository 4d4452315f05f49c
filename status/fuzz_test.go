package status

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// FuzzParseStatus feeds arbitrary bytes to the status decoder the CLI
// uses: it must never panic, and what it accepts must write and read back
// to the same file (one round trip normalises times and durations).
func FuzzParseStatus(f *testing.F) {
	good, _ := Marshal(sample("worker"))
	f.Add(good)
	f.Add([]byte(""))
	f.Add([]byte("status: {instances: [{pid: 99999999999999999999}]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("status:\n  updatedAt: not-a-time\n"))
	f.Add([]byte("status:\n  instances:\n  - lastExit: {ranFor: 1h}\n    message: \"\\u0000\"\n"))
	f.Add(bytes.Replace(good, []byte("worker"), []byte("\"w\\x00\""), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		one, err := Marshal(st)
		if err != nil {
			t.Fatalf("Marshal of a parsed status: %v", err)
		}
		back, err := Parse(one)
		if err != nil {
			t.Fatalf("what Marshal wrote does not parse: %v\n%s", err, one)
		}
		two, err := Marshal(back)
		if err != nil || !bytes.Equal(one, two) {
			t.Fatalf("write, read, write differs:\n%s\n---\n%s", one, two)
		}
	})
}

// FuzzParseEvents feeds arbitrary bytes to the events decoder: it must
// never panic, and every event it returns must write as one line that
// reads back as the same event.
func FuzzParseEvents(f *testing.F) {
	var seed []byte
	for _, ev := range []Event{
		{Time: time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC), Type: EventNormal, Reason: "Started", Program: "w", Instance: "w-0", Pid: 42, Message: "started sleep"},
		{Type: EventWarning, Reason: "BackOff", Program: "w", Message: "line\nbreak \"quoted\" \u2028 \x00"},
	} {
		seed = append(appendEvent(seed, ev), '\n')
	}
	f.Add(seed)
	f.Add([]byte("{\"time\":\"x\"}\n{\n{}\n\n  {\"pid\": 1e400}\n"))
	f.Add([]byte("{\"message\":\"\\ud800\"}"))
	f.Add([]byte{'{', 0xff, '}', '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ev := range ParseEvents(data) {
			line := appendEvent(nil, ev)
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("an event written over several lines: %s", line)
			}
			back := ParseEvents(line)
			if len(back) != 1 {
				t.Fatalf("%s reads back as %d events", line, len(back))
			}
			again := ParseEvents(appendEvent(nil, back[0]))
			if len(again) != 1 || !reflect.DeepEqual(again[0], back[0]) {
				t.Fatalf("write, read, write differs for %s: %+v vs %+v", line, back[0], again)
			}
		}
	})
}
