package reconciler

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reconciled/reconciled/hooks"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// ProgramHooks runs the event hooks of one program (spec.hooks);
// *hooks.Runner is one. Fire must never block.
type ProgramHooks interface {
	SetHooks([]spec.Hook)
	Fire(status.Event, hooks.InstanceContext)
	Close(context.Context) error
}

// HookRunners makes the hook runner of a program. emit records the events
// the runner reports about its hooks (HookFailed, HooksDropped).
type HookRunners func(program string, emit func(status.Event)) ProgramHooks

// HookContexter tells the identity, directory and environment an
// instance's hooks run with: the instance's own. OSStarter is one.
type HookContexter interface {
	HookContext(p *spec.Program, idx int) (hooks.InstanceContext, error)
}

// hookCloseTimeout bounds how long a program that ends waits for its hooks
// still running (a Deleted or Stopped hook) before they are killed.
const hookCloseTimeout = 2 * time.Second

// programHooks is a program's side of its hooks.
type programHooks struct {
	runner ProgramHooks
	specs  []spec.Hook // those the runner has
	gone   atomic.Bool // the program was deleted: its events file is gone
}

// setHooks hands the runner the hooks of the program's current spec,
// making the runner at the first spec that has any.
func (p *program) setHooks(hs []spec.Hook) {
	h := &p.hooks
	if h.runner == nil {
		if len(hs) == 0 || p.newHooks == nil {
			return
		}
		h.runner = p.newHooks(p.name, p.hookEvent)
	}
	if len(hs) == len(h.specs) && (len(hs) == 0 || &hs[0] == &h.specs[0]) {
		return // the same spec's
	}
	h.specs = hs
	h.runner.SetHooks(hs)
}

// hookEvent records an event the runner reports about a hook; once the
// program is deleted it goes to the daemon log only.
func (p *program) hookEvent(ev status.Event) {
	if p.hooks.gone.Load() {
		p.log.Info("Hook event of a deleted program", "reason", ev.Reason, "message", ev.Message)
		return
	}
	p.sink.Event(ev)
}

// fireHooks hands ev to the hooks that run on its reason. It costs a
// lookup when none does.
func (p *program) fireHooks(ev status.Event) {
	h := &p.hooks
	if h.runner == nil || !hooksOn(h.specs, ev.Reason) || p.cur.prog == nil || p.hookCtx == nil {
		return
	}
	ctx, err := p.hookCtx.HookContext(p.cur.prog, instanceIndex(ev.Instance))
	if err != nil {
		p.log.Error(err, "Hooks not run: no context for them", "reason", ev.Reason, "instance", ev.Instance)
		return
	}
	h.runner.Fire(ev, ctx)
}

// closeHooks lets running hooks finish, within hookCloseTimeout.
func (p *program) closeHooks(deleted bool) {
	h := &p.hooks
	if h.runner == nil {
		return
	}
	h.gone.Store(deleted)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), hookCloseTimeout)
	defer cancel()
	if err := h.runner.Close(ctx); err != nil {
		p.log.Info("Hooks still running at the program's end were killed", "error", err.Error())
	}
}

func hooksOn(hs []spec.Hook, reason string) bool {
	for i := range hs {
		for _, r := range hs[i].Events {
			if r == reason {
				return true
			}
		}
	}
	return false
}

// instanceIndex is the i of NAME-i; 0 for an event about the program.
func instanceIndex(instance string) int {
	i := strings.LastIndexByte(instance, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(instance[i+1:])
	if err != nil {
		return 0
	}
	return n
}
