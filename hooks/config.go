package hooks

import "github.com/reconciled/reconciled/spec"

// The hook configuration is the manifest's (spec.hooks), decoded and
// validated by package spec; these names keep the runner's code short.
type (
	Hook           = spec.Hook
	ExecAction     = spec.ExecAction
	HTTPPostAction = spec.HTTPPostAction
)

// The reasons of the events a Runner emits about its own hooks.
const (
	ReasonHookFailed   = spec.ReasonHookFailed
	ReasonHooksDropped = spec.ReasonHooksDropped
)

// DefaultTimeout is how long a hook may run when its timeout is not set.
const DefaultTimeout = spec.DefaultHookTimeout
