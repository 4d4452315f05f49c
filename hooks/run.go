package hooks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/reconciled/reconciled/internal/expand"
	"github.com/reconciled/reconciled/status"
)

// The variables an exec hook gets on top of the instance's environment, and
// that $(VAR) in any hook may name.
const (
	EnvEventReason  = "RECONCILED_EVENT_REASON"
	EnvEventType    = "RECONCILED_EVENT_TYPE"
	EnvEventMessage = "RECONCILED_EVENT_MESSAGE"
	EnvEventTime    = "RECONCILED_EVENT_TIME"
	EnvPid          = "RECONCILED_PID"
	EnvExitCode     = "RECONCILED_EXIT_CODE"
	EnvExitSignal   = "RECONCILED_EXIT_SIGNAL"
)

// eventTimeLayout is the events file's: RFC 3339 in UTC, milliseconds.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// failure is why a run failed, as HookFailed says it; output is the tail of
// what an exec hook wrote, or the head of an HTTP response's body.
type failure struct {
	what   string
	output string
	ended  bool // the run's context ended it: run words what from why
}

// run runs j with its timeout and reports a failure as a HookFailed event.
func (r *Runner) run(j job) {
	if r.ctx.Err() != nil {
		r.mu.Lock()
		r.dropLocked(1) // fired just as the Runner's context ended
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	timeout := j.hook.TimeoutOrDefault()
	var timedOut atomic.Bool
	t := r.clock.AfterFunc(timeout, func() {
		timedOut.Store(true)
		cancel()
	})
	env := hookEnv(j.ev, j.inst)
	var f *failure
	if j.hook.Exec != nil {
		f = r.runExec(ctx, j, env)
	} else {
		f = r.runHTTP(ctx, j, env)
	}
	t.Stop()
	if r.onRun != nil {
		r.onRun(f == nil)
	}
	log := r.log.WithValues("instance", j.ev.Instance, "reason", j.ev.Reason, "hook", j.index)
	if f == nil {
		log.V(1).Info("Hook succeeded")
		return
	}
	ended := "killed" // SIGKILL to its process group
	if j.hook.Exec == nil {
		ended = "abandoned" // the request's context ended
	}
	switch {
	case !f.ended:
	case timedOut.Load():
		f.what = "timed out after " + timeout.String() + " and was " + ended
	case r.ctx.Err() != nil:
		f.what = "was " + ended + ": the daemon is shutting down"
	}
	msg := fmt.Sprintf("hooks[%d] (%s) on %s %s", j.index, j.hook.Kind(), j.ev.Reason, f.what)
	if f.output != "" {
		msg += ": " + f.output
	}
	log.V(1).Info("Hook failed")
	r.send(status.Event{Type: status.EventWarning, Reason: ReasonHookFailed, Instance: j.ev.Instance, Message: msg})
}

// hookEnv is the instance's environment, without any variable of its own
// that has an event variable's name, followed by the event variables.
func hookEnv(ev status.Event, inst InstanceContext) []string {
	var code, signal, pid, at string
	if ev.Exit != nil {
		if ev.Exit.Signal != "" {
			signal = ev.Exit.Signal
		} else {
			code = strconv.Itoa(ev.Exit.Code)
		}
	}
	if ev.Pid != 0 {
		pid = strconv.Itoa(ev.Pid)
	}
	if !ev.Time.IsZero() {
		at = ev.Time.UTC().Format(eventTimeLayout)
	}
	vars := []string{
		EnvEventReason + "=" + ev.Reason,
		EnvEventType + "=" + ev.Type,
		EnvEventMessage + "=" + ev.Message,
		EnvEventTime + "=" + at,
		EnvPid + "=" + pid,
		EnvExitCode + "=" + code,
		EnvExitSignal + "=" + signal,
	}
	env := make([]string, 0, len(inst.Env)+len(vars))
	for _, kv := range inst.Env {
		name, _, _ := strings.Cut(kv, "=")
		if !isEventVar(name) {
			env = append(env, kv)
		}
	}
	return append(env, vars...)
}

func isEventVar(name string) bool {
	switch name {
	case EnvEventReason, EnvEventType, EnvEventMessage, EnvEventTime, EnvPid, EnvExitCode, EnvExitSignal:
		return true
	}
	return false
}

// expandAll returns args with $(VAR) expanded from env.
func expandAll(args []string, env []string) []string {
	lookup := expand.Lookup(env)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expand.String(a, lookup)
	}
	return out
}

// OutputTail bounds, in bytes, the output of a hook that HookFailed quotes:
// the end of an exec hook's output, the start of an HTTP response's body.
const OutputTail = 512

const ellipsis = "…"

// trimTail returns the text of b, the last bytes a hook wrote, trimmed of
// white space and made valid UTF-8; cut says that more came before, and
// the result then starts with "…".
func trimTail(b []byte, cut bool) string {
	s := string(b)
	if cut {
		// Drop the continuation bytes of a rune cut in half at the front.
		for i := 0; i < utf8.UTFMax-1 && s != "" && !utf8.RuneStart(s[0]); i++ {
			s = s[1:]
		}
	}
	return trimmed(s, cut, true)
}

// trimHead is trimTail for the first bytes of a text, more of which may
// follow: the result then ends with "…".
func trimHead(b []byte, cut bool) string {
	s := string(b)
	if cut {
		// Drop a rune cut in half at the end.
		for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
			if utf8.RuneStart(s[i]) {
				if !utf8.FullRuneInString(s[i:]) {
					s = s[:i]
				}
				break
			}
		}
	}
	return trimmed(s, cut, false)
}

func trimmed(s string, cut, front bool) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	switch {
	case !cut || s == "":
		return s
	case front:
		return ellipsis + s
	}
	return s + ellipsis
}
