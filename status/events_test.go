package status

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"
)

// numbered returns events i..j of program w, all encoded to the same length.
func numbered(i, j int) []Event {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var evs []Event
	for n := i; n <= j; n++ {
		evs = append(evs, Event{Time: at.Add(time.Duration(n) * time.Millisecond), Type: EventNormal,
			Reason: "Started", Program: "w", Instance: "w-0", Pid: 1000 + n, Message: fmt.Sprintf("event %04d", n)})
	}
	return evs
}

func messages(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Message)
	}
	return out
}

func TestEventLogRotation(t *testing.T) {
	line, err := marshalJSON(numbered(1, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	lineLen := int64(len(line) + 1)
	tests := []struct {
		name    string
		batches [][]Event
	}{
		{"one at a time", func() (b [][]Event) {
			for _, ev := range numbered(1, 10) {
				b = append(b, []Event{ev})
			}
			return b
		}()},
		{"one batch", [][]Event{numbered(1, 10)}},
		{"uneven batches", [][]Event{numbered(1, 2), numbered(3, 7), numbered(8, 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log := EventLog{Dir: dir, MaxBytes: 3 * lineLen} // Three lines a file.
			for _, b := range tt.batches {
				n, err := log.Append("w", b)
				if err != nil || n != len(b) {
					t.Fatalf("Append = %d, %v; want %d, nil", n, err, len(b))
				}
			}
			// 1-3 rotated, then 4-6 replaced them, then 7-9 replaced those.
			path := EventsPath(dir, "w")
			for _, f := range []struct {
				path string
				want []string
			}{
				{path + ".1", messages(numbered(7, 9))},
				{path, messages(numbered(10, 10))},
			} {
				data, err := os.ReadFile(f.path)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(data)) > log.MaxBytes {
					t.Errorf("%s has %d bytes, more than the limit %d", f.path, len(data), log.MaxBytes)
				}
				if got := messages(ParseEvents(data)); !reflect.DeepEqual(got, f.want) {
					t.Errorf("%s holds %v, want %v", f.path, got, f.want)
				}
			}
			got, err := ReadEvents(dir, "w")
			if err != nil {
				t.Fatal(err)
			}
			if want := numbered(7, 10); !reflect.DeepEqual(got, want) {
				t.Errorf("ReadEvents:\n got %v\nwant %v", messages(got), messages(want))
			}
		})
	}
}

// TestEventLogLongLine checks that a line longer than the limit is still written,
// alone in its file.
func TestEventLogLongLine(t *testing.T) {
	dir := t.TempDir()
	log := EventLog{Dir: dir, MaxBytes: 50}
	evs := numbered(1, 3)
	if _, err := log.Append("w", evs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEvents(dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	if want := numbered(2, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadEvents = %v, want %v", messages(got), messages(want))
	}
}

// TestEventLogAppendOnly checks that records of an earlier run are kept, and that
// a line torn by a crash is skipped by readers and not glued to the next record.
func TestEventLogAppendOnly(t *testing.T) {
	dir := t.TempDir()
	if err := AppendEvents(dir, "w", numbered(1, 2)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(EventsPath(dir, "w"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-11-22T10:00:00.003Z","type":"Nor`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEvents(dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	if want := numbered(1, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadEvents with torn line = %v, want %v", messages(got), messages(want))
	}

	// A new run (a new EventLog) appends after the torn line.
	if err := AppendEvents(dir, "w", numbered(3, 4)); err != nil {
		t.Fatal(err)
	}
	got, err = ReadEvents(dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	if want := numbered(1, 4); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadEvents after restart = %v, want %v", messages(got), messages(want))
	}
}

func TestReadEventsMissing(t *testing.T) {
	got, err := ReadEvents(t.TempDir(), "nobody")
	if err != nil || len(got) != 0 {
		t.Errorf("ReadEvents of nothing = %v, %v; want none, nil", got, err)
	}
}

func TestAppendEventsInvalidName(t *testing.T) {
	if err := AppendEvents(t.TempDir(), "../x", numbered(1, 1)); err == nil {
		t.Error("AppendEvents accepted a name with a path in it")
	}
}

// TestAppendEventMatchesJSON: the hand-written encoder writes what
// encoding/json writes for the same fields, whatever the strings hold.
func TestAppendEventMatchesJSON(t *testing.T) {
	strs := []string{"", "plain", `quo"te`, `back\slash`, "exit code > 0 & <tag>", "tab\tnew\nline\r", "\x00\x01\x1f\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf8", "\b\f"}
	at := time.Date(2026, 11, 22, 9, 30, 1, 234567891, time.FixedZone("X", 3600))
	for _, tm := range []time.Time{{}, at} {
		for _, s := range strs {
			for _, pid := range []int{0, 4242} {
				ev := Event{Time: tm, Type: s, Reason: "R" + s, Program: "p", Instance: s, Pid: pid, Message: s + s}
				want, err := marshalJSON(struct {
					Time     jsonTime `json:"time"`
					Type     string   `json:"type"`
					Reason   string   `json:"reason"`
					Program  string   `json:"program"`
					Instance string   `json:"instance,omitempty"`
					Pid      int      `json:"pid,omitempty"`
					Message  string   `json:"message"`
				}{jsonTime(ev.Time), ev.Type, ev.Reason, ev.Program, ev.Instance, ev.Pid, ev.Message})
				if err != nil {
					t.Fatal(err)
				}
				if got := appendEvent(nil, ev); string(got) != string(want) {
					t.Errorf("event %+v:\n got %s\nwant %s", ev, got, want)
				}
				var back Event
				if err := json.Unmarshal(appendEvent(nil, ev), &back); err != nil {
					t.Errorf("event %+v: does not read back: %v", ev, err)
				}
			}
		}
	}
}
