package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// MaxOutput bounds Result.Output, in bytes.
const MaxOutput = 1024

// ErrTimeout is wrapped by Result.Err when a probe did not finish within its
// timeout.
var ErrTimeout = errors.New("probe timed out")

// Result is the outcome of one probe call.
type Result struct {
	// OK tells that the probe succeeded.
	OK bool
	// Output is what an exec probe's command printed (stdout and stderr
	// together), trimmed of surrounding white space and cut to at most
	// MaxOutput bytes; empty for tcpSocket and httpGet probes.
	Output string
	// Err is nil when OK, and otherwise says why the probe failed: "exit code
	// 1", "HTTP status 500", a dial error, or an error wrapping ErrTimeout.
	Err error
}

// Prober is one probe of one instance, ready to run.
type Prober interface {
	// Probe runs the probe once. ctx carries the timeout; Probe returns
	// soon after ctx is done, with an error wrapping ErrTimeout if it was
	// cut short. Probers are safe for concurrent use.
	Probe(ctx context.Context) Result
}

// ExecStarter starts an exec probe's command; *proc.Starter is one.
type ExecStarter interface {
	Start(spec proc.Spec) (*proc.Process, error)
}

// Target is the instance a probe checks.
type Target struct {
	// Env is the instance's environment ("K=V" entries): $(VAR) in the probe
	// is expanded from it, and an exec probe's command runs with it.
	Env []string
	// Dir is the instance's working directory, for an exec probe.
	Dir string
	// Credential, when not nil, is the identity an exec probe runs as.
	Credential *proc.Credential
	// Starter starts exec probes; it is needed only for them.
	Starter ExecStarter
	// Sockets, when not nil, lends tcpSocket probes to IP addresses sockets
	// to reuse (see Sockets). The daemon shares one among all probes.
	Sockets *Sockets
}

// New builds the Prober of p for target. It expands $(VAR) from target.Env in
// an exec command, in an HTTP path and in hosts and ports, and fails if a port
// does not expand to a number between 1 and 65535 or if p does not have
// exactly one action. Expansion follows spec.Expand (Kubernetes's rules): $$
// is a literal $, so a shell's own $$ is written $$$$ in an exec command.
//
// An exec probe's command is started by target.Starter in its own process
// group; the grandchildren that a probe kills are orphans, reaped by the
// starter's reaper (proc.Starter.Run) in the daemon.
func New(p *spec.Probe, target Target) (Prober, error) {
	if p == nil {
		return nil, errors.New("no probe")
	}
	n := 0
	for _, set := range []bool{p.Exec != nil, p.TCPSocket != nil, p.HTTPGet != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("probe needs exactly one of exec, tcpSocket and httpGet")
	}
	lookup := spec.LookupEnv(target.Env)
	switch {
	case p.Exec != nil:
		return newExec(p.Exec, target, lookup)
	case p.TCPSocket != nil:
		return newTCP(p.TCPSocket, lookup, target.Sockets)
	default:
		return newHTTP(p.HTTPGet, lookup)
	}
}

// expandPort expands $(VAR) in port and checks the result. The error quotes
// the raw text only: an expanded value may come from the environment.
func expandPort(port string, lookup func(string) (string, bool)) (int, error) {
	s := spec.Expand(port, lookup)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		if s != port {
			return 0, fmt.Errorf("port %q does not expand to a port number between 1 and 65535", port)
		}
		return 0, fmt.Errorf("port %q: must be a number between 1 and 65535", port)
	}
	return n, nil
}

// expandHost expands $(VAR) in host; empty means the default host.
func expandHost(host string, lookup func(string) (string, bool)) string {
	h := spec.Expand(host, lookup)
	if h == "" {
		h = spec.DefaultProbeHost
	}
	return h
}

// trimOutput turns captured output into Result.Output: trimmed of white
// space, valid UTF-8, at most MaxOutput bytes. truncated tells that more was
// written than captured; the result then ends with "…".
func trimOutput(b []byte, truncated bool) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	const ellipsis = "…"
	if len(s) > MaxOutput {
		truncated = true
	}
	if !truncated {
		return s
	}
	limit := MaxOutput - len(ellipsis)
	if len(s) > limit {
		s = s[:limit]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1] // drop a rune cut in half
		}
	}
	return strings.TrimRightFunc(s, isSpace) + ellipsis
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// timeoutError is the error of a probe started at start that ran out of
// time: "probe timed out after 1s". A cancelled ctx gives its own error.
func timeoutError(ctx context.Context, start time.Time) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err() // the worker drops this result
	}
	if deadline, ok := ctx.Deadline(); ok {
		return fmt.Errorf("%w after %s", ErrTimeout, deadline.Sub(start).Round(time.Millisecond))
	}
	return ErrTimeout
}
