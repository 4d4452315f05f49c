package reconciler

import (
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/status"
)

// warner is a logr.LogSink with a warning level between info and error
// (logr has only those two): the daemon's zap logger is one (see
// cmd/reconciled). Warnings logged to a sink without it come out at info.
type warner interface {
	Warn(msg string, keysAndValues ...any)
}

// warn logs msg at the warning level.
func warn(log logr.Logger, msg string, keysAndValues ...any) {
	if w, ok := log.GetSink().(warner); ok {
		w.Warn(msg, keysAndValues...)
		return
	}
	log.Info(msg, keysAndValues...)
}

// callerless is a logr.LogSink whose lines can leave out the caller
// (file:line): the daemon's zap logger is one (see cmd/reconciled).
type callerless interface {
	WithoutCaller() logr.LogSink
}

// eventLogger is log for the lines of events: every one is written by
// logEvent, so the caller its lines would name is always the same line of
// this file and tells nothing, while finding it (runtime.Callers and a
// frame lookup, per line) is a good part of what a line costs.
func eventLogger(log logr.Logger) logr.Logger {
	if s, ok := log.GetSink().(callerless); ok {
		return log.WithSink(s.WithoutCaller())
	}
	return log
}

// eventLevel is how loud an event's line is.
type eventLevel int

const (
	levelInfo eventLevel = iota
	levelWarn
	levelError
	levelDebug // said elsewhere already: only at V(1)
)

// eventLine is how one event reason is told in the daemon's log.
type eventLine struct {
	level eventLevel
	msg   string
	// why: the event's message says why (key "reason"), not what happened
	// (key "message").
	why bool
}

// lineOf says how an event of reason and type kind is logged, in the
// manner of supervisord's log ("spawned: 'web-0' with pid 1234", "exited:
// web-0 (exit status 1; not expected)", "gave up: web-0 entered FATAL
// state"): one line per event, Normal events at info, Warning ones at warn,
// an instance given up on at error.
func lineOf(reason, kind string) eventLine {
	switch reason {
	case "Started":
		return eventLine{msg: "Spawned"}
	case "Ready":
		return eventLine{msg: "Ready"}
	case "NotReady":
		return eventLine{levelWarn, "Readiness probe failed", true}
	case "Exited":
		if kind == status.EventNormal {
			return eventLine{msg: "Exited"}
		}
		return eventLine{level: levelWarn, msg: "Exited"}
	case "BackOff":
		return eventLine{levelWarn, "Back-off restarting", true}
	case "Fatal":
		return eventLine{levelError, "Gave up: entered FATAL state", true}
	case "Unhealthy":
		return eventLine{levelWarn, "Liveness probe failed", true}
	case "Killed":
		return eventLine{levelWarn, "Killed: did not stop in time", true}
	case reasonOOMKilled:
		return eventLine{levelWarn, "Killed by the OOM killer", true}
	case "Stopping":
		return eventLine{msg: "Stopping"}
	case "Stopped":
		return eventLine{msg: "Stopped"}
	case "Signalled":
		return eventLine{msg: "Signalled"}
	case "SpecChanged":
		return eventLine{msg: "Manifest changed"}
	case "Scaled":
		return eventLine{msg: "Scaled"}
	case "SpecInvalid":
		return eventLine{levelWarn, "Invalid manifest: keeping the last valid spec", true}
	case "SpecWarning":
		return eventLine{levelWarn, "Manifest accepted with a warning", true}
	case "Deleted":
		return eventLine{msg: "Deleted"}
	case "Flapping":
		return eventLine{levelWarn, "Flapping", true}
	case "Stable":
		return eventLine{msg: "Stable"}
	case "HookFailed":
		return eventLine{levelWarn, "Hook failed", true}
	case "HooksDropped":
		return eventLine{levelWarn, "Hooks dropped", true}
	case "IllegalTransition":
		// The executor logs it as an error, with the event that caused it.
		return eventLine{level: levelDebug, msg: "Event"}
	}
	if kind == status.EventWarning {
		return eventLine{level: levelWarn, msg: "Event"}
	}
	return eventLine{msg: "Event"}
}

// logEvent writes ev, an event of the program log is named for, to the
// daemon's log as one line, so that journalctl tells the same story as the
// events file. The keys are STYLE.md's: instance, pid, exitCode, signal,
// reason; an unnamed reason adds "event". Its facts come from the event's
// typed fields; its message is written as it is, never parsed.
func logEvent(log logr.Logger, ev status.Event) {
	line := lineOf(ev.Reason, ev.Type)
	kv := make([]any, 0, 10)
	if ev.Instance != "" {
		kv = append(kv, "instance", ev.Instance)
	}
	if ev.Pid > 0 {
		kv = append(kv, "pid", ev.Pid)
	}
	switch {
	case ev.Reason == "Exited" && ev.Exit != nil:
		if ev.Exit.Signal != "" {
			kv = append(kv, "signal", ev.Exit.Signal)
		} else {
			kv = append(kv, "exitCode", ev.Exit.Code)
		}
		kv = append(kv, "ranFor", time.Duration(ev.Exit.RanFor).Round(time.Millisecond).String())
	case line.msg == "Event":
		kv = append(kv, "event", ev.Reason, "message", ev.Message)
	case line.why:
		kv = append(kv, "reason", ev.Message)
	case ev.Message != "":
		kv = append(kv, "message", ev.Message)
	}
	switch line.level {
	case levelInfo:
		log.Info(line.msg, kv...)
	case levelWarn:
		warn(log, line.msg, kv...)
	case levelError:
		log.Error(nil, line.msg, kv...)
	default:
		log.V(1).Info(line.msg, kv...)
	}
}
