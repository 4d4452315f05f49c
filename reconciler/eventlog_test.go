package reconciler

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/status"
)

// lineSink records every line as "LEVEL msg k=v ...", with the values of
// WithValues first.
type lineSink struct {
	lines  *[]string
	values []any
}

func (s *lineSink) Init(logr.RuntimeInfo)  {}
func (s *lineSink) Enabled(level int) bool { return level <= 1 }
func (s *lineSink) Info(level int, msg string, kv ...any) {
	s.add(fmt.Sprintf("INFO(%d)", level), msg, kv)
}
func (s *lineSink) Error(err error, msg string, kv ...any) {
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	s.add("ERROR", msg, kv)
}
func (s *lineSink) WithValues(kv ...any) logr.LogSink {
	c := *s
	c.values = append(append([]any(nil), s.values...), kv...)
	return &c
}
func (s *lineSink) WithName(string) logr.LogSink { return s }

func (s *lineSink) add(level, msg string, kv []any) {
	line := level + " " + msg
	for _, x := range [][]any{s.values, kv} {
		for i := 0; i+1 < len(x); i += 2 {
			line += fmt.Sprintf(" %v=%v", x[i], x[i+1])
		}
	}
	*s.lines = append(*s.lines, line)
}

// warnSink is a lineSink with the warning level.
type warnSink struct{ *lineSink }

func (s warnSink) Warn(msg string, kv ...any) { s.add("WARN", msg, kv) }
func (s warnSink) WithValues(kv ...any) logr.LogSink {
	return warnSink{s.lineSink.WithValues(kv...).(*lineSink)}
}

func TestLogEvent(t *testing.T) {
	exit1 := &status.Exit{Code: 1, RanFor: status.Duration(2500 * time.Millisecond)}
	killed := &status.Exit{Code: -1, Signal: "SIGKILL", RanFor: status.Duration(time.Second)}
	exit0 := &status.Exit{Code: 0, RanFor: status.Duration(75 * time.Millisecond)}
	tests := []struct {
		ev   status.Event
		want string
	}{
		{status.Event{Type: "Normal", Reason: "Started", Instance: "web-0", Pid: 1234, Message: "started sleep"},
			"INFO(0) Spawned program=web instance=web-0 pid=1234 message=started sleep"},
		{status.Event{Type: "Warning", Reason: "Exited", Instance: "web-0", Pid: 1234, Message: "exited with code 1 after 2.5s", Exit: exit1},
			"WARN Exited program=web instance=web-0 pid=1234 exitCode=1 ranFor=2.5s"},
		{status.Event{Type: "Warning", Reason: "Exited", Instance: "web-0", Pid: 1234, Exit: killed},
			"WARN Exited program=web instance=web-0 pid=1234 signal=SIGKILL ranFor=1s"},
		{status.Event{Type: "Normal", Reason: "Exited", Instance: "job-0", Pid: 7, Exit: exit0},
			"INFO(0) Exited program=web instance=job-0 pid=7 exitCode=0 ranFor=75ms"},
		{status.Event{Type: "Warning", Reason: "BackOff", Instance: "web-0", Message: "exited with code 1; restarting in 2s"},
			"WARN Back-off restarting program=web instance=web-0 reason=exited with code 1; restarting in 2s"},
		{status.Event{Type: "Warning", Reason: "Fatal", Instance: "web-0", Message: "Exited too quickly"},
			"ERROR Gave up: entered FATAL state program=web instance=web-0 reason=Exited too quickly"},
		{status.Event{Type: "Normal", Reason: "Stopped", Instance: "web-0", Pid: 9, Message: "stopped: killed by signal SIGTERM"},
			"INFO(0) Stopped program=web instance=web-0 pid=9 message=stopped: killed by signal SIGTERM"},
		{status.Event{Type: "Warning", Reason: "SpecInvalid", Message: "web.yaml:3:1: spec: required"},
			"WARN Invalid manifest: keeping the last valid spec program=web reason=web.yaml:3:1: spec: required"},
		{status.Event{Type: "Warning", Reason: "Unhealthy", Instance: "web-1", Pid: 5, Message: "liveness probe failed: refused"},
			"WARN Liveness probe failed program=web instance=web-1 pid=5 reason=liveness probe failed: refused"},
		{status.Event{Type: "Warning", Reason: "SomethingNew", Message: "m"},
			"WARN Event program=web event=SomethingNew message=m"},
		{status.Event{Type: "Normal", Reason: "AlsoNew", Message: "m"},
			"INFO(0) Event program=web event=AlsoNew message=m"},
		{status.Event{Type: "Warning", Reason: "IllegalTransition", Instance: "web-0", Message: "bug"},
			"INFO(1) Event program=web instance=web-0 event=IllegalTransition message=bug"},
	}
	for _, tt := range tests {
		var lines []string
		log := logr.New(warnSink{&lineSink{lines: &lines}}).WithValues("program", "web")
		logEvent(log, tt.ev)
		if want := []string{tt.want}; !reflect.DeepEqual(lines, want) {
			t.Errorf("%s: got %q, want %q", tt.ev.Reason, lines, want)
		}
	}
}

func TestWarnWithoutWarnLevelIsInfo(t *testing.T) {
	var lines []string
	log := logr.New(&lineSink{lines: &lines})
	logEvent(log, status.Event{Type: "Warning", Reason: "BackOff", Instance: "a-0", Message: "m"})
	want := []string{"INFO(0) Back-off restarting instance=a-0 reason=m"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got %q, want %q", lines, want)
	}
	logEvent(logr.Discard(), status.Event{Type: "Warning", Reason: "BackOff"}) // no sink: nothing, no panic
}
