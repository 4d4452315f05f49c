package reconciler

import "github.com/reconciled/reconciled/spec"

// redactedError is a start error whose message names the command and the
// log paths as the manifest writes them (spec.Redact); it wraps the
// original, so errors.Is and errors.As still see it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactStart returns err, the failure of a start of p whose command
// expanded to argv in environment env, with every value that expansion put
// into the command or a log file's path replaced by its $(VAR) template:
// such a message goes to status, events and the daemon's log, and an
// expanded value may be a secret (docs/reference.md §1). err is returned
// as it is when it holds none.
func redactStart(err error, p *spec.Program, argv, env []string) error {
	if err == nil {
		return nil
	}
	templates := append([]string(nil), p.Spec.Command...)
	expanded := append([]string(nil), argv...)
	var lookup func(string) (string, bool)
	for _, o := range []spec.Output{p.Spec.Stdout, p.Spec.Stderr} {
		if o.Mode != spec.OutputFile {
			continue
		}
		if lookup == nil {
			lookup = spec.LookupEnv(env)
		}
		templates = append(templates, o.File)
		expanded = append(expanded, spec.Expand(o.File, lookup))
	}
	msg := err.Error()
	if red := spec.Redact(msg, templates, expanded); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}
