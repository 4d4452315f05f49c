package spec

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// DefaultHookTimeout is how long a hook may run when its timeout is not set.
const DefaultHookTimeout = 10 * time.Second

// Hook is one entry of spec.hooks: an action run when an event whose reason
// is in Events happens. Exactly one of Exec and HTTPPost is set.
//
//	hooks:
//	- events: [Exited, Fatal]
//	  exec: {command: ["notify-send", "$(RECONCILED_EVENT_REASON)"]}
//	  timeout: 10s
//	- events: [Fatal]
//	  httpPost: {url: "http://127.0.0.1:9000/alert", headers: {X-Token: "$(TOKEN)"}}
type Hook struct {
	// Events are event reasons (docs/reference.md §5), each at most once.
	Events []string `json:"events"`
	// Exec runs a command: argv, with $(VAR) expanded from the instance's
	// environment and the RECONCILED_EVENT_* variables, not through a
	// shell (write ["sh", "-c", "..."] for one).
	Exec *ExecAction `json:"exec,omitempty"`
	// HTTPPost posts the event's JSON line to a URL.
	HTTPPost *HTTPPostAction `json:"httpPost,omitempty"`
	// Timeout bounds one run; 0 means DefaultHookTimeout. An exec hook's process
	// group is then killed with SIGKILL; an HTTP request is abandoned.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// HTTPPostAction is a POST of the event's JSON line to URL. $(VAR) in the URL
// and in header values is expanded as in an exec hook's command.
type HTTPPostAction struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// TimeoutOrDefault returns the hook's timeout, with the default applied.
func (h *Hook) TimeoutOrDefault() time.Duration {
	if h.Timeout <= 0 {
		return DefaultHookTimeout
	}
	return h.Timeout
}

// CommandOrNil is the command of an exec action, nil for none.
func (a *ExecAction) CommandOrNil() []string {
	if a == nil {
		return nil
	}
	return a.Command
}

// Kind names the hook's action for messages: "exec" or "httpPost".
func (h *Hook) Kind() string {
	if h.Exec != nil {
		return "exec"
	}
	return "httpPost"
}

// HookError is one problem in a hook list, located by the path of its
// field ("spec.hooks[0].events[1]"), which the decoder turns into a line and
// column. Its message never holds a header value, which may be a secret.
type HookError struct {
	Field   string
	Message string
}

// Error prints "spec.hooks[0].timeout: must be positive".
func (e HookError) Error() string { return e.Field + ": " + e.Message }

// ValidateHooks checks hooks, the list at path (say "spec.hooks"), and returns
// every problem found, in field order; nil means valid. It checks what
// decoding cannot: events named and known, exactly one action, a command,
// an http or https URL, header names, a positive timeout.
func ValidateHooks(hooks []Hook, path string) []HookError {
	var errs []HookError
	add := func(field, format string, args ...any) {
		errs = append(errs, HookError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for i := range hooks {
		h := &hooks[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		if len(h.Events) == 0 {
			add(p+".events", "must name at least one event reason (known: %s)", strings.Join(knownReasons(), ", "))
		}
		seen := map[string]bool{}
		for j, r := range h.Events {
			ep := fmt.Sprintf("%s.events[%d]", p, j)
			switch {
			case r == ReasonHookFailed || r == ReasonHooksDropped:
				add(ep, "a hook cannot run on %s: it would run on its own failures", r)
			case !isKnownReason(r):
				add(ep, "unknown event reason %q%s", r, suggestReason(r))
			case seen[r]:
				add(ep, "duplicate event reason %q", r)
			}
			seen[r] = true
		}
		switch {
		case h.Exec == nil && h.HTTPPost == nil:
			add(p, "must set one of exec, httpPost")
		case h.Exec != nil && h.HTTPPost != nil:
			add(p, "must set only one of exec, httpPost")
		}
		if h.Exec != nil {
			switch {
			case len(h.Exec.Command) == 0:
				add(p+".exec.command", "must not be empty")
			case h.Exec.Command[0] == "":
				add(p+".exec.command[0]", "must not be empty")
			}
		}
		if h.HTTPPost != nil {
			validateHTTPPost(h.HTTPPost, p+".httpPost", add)
		}
		if h.Timeout < 0 {
			add(p+".timeout", "must be positive, not %s", h.Timeout)
		}
	}
	return errs
}

func validateHTTPPost(a *HTTPPostAction, p string, add func(field, format string, args ...any)) {
	switch {
	case a.URL == "":
		add(p+".url", "must not be empty")
	case strings.HasPrefix(a.URL, "$("):
		// The scheme and host come from a variable: checked at each run.
	default:
		scheme, _, _ := strings.Cut(a.URL, "://")
		scheme = strings.ToLower(scheme)
		if scheme != "http" && scheme != "https" {
			add(p+".url", "must be an http:// or https:// URL")
			break
		}
		if strings.Contains(a.URL, "$(") {
			break // the host may come from a variable
		}
		if u, err := url.Parse(a.URL); err != nil || u.Host == "" {
			add(p+".url", "must be an http:// or https:// URL with a host")
		}
	}
	names := make([]string, 0, len(a.Headers))
	for name := range a.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !isToken(name) {
			add(p+".headers."+name, "is not a valid header name")
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), as a header
// name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
