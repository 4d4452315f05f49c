package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/health"
	"github.com/reconciled/reconciled/hooks"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/spec"
)

// DefaultDrain is how long Release waits, by default, for the output of a
// process that has ended to be written.
const DefaultDrain = time.Second

// OSStarter starts real processes: it builds an instance's argv, environment,
// working directory, identity and output from its spec, and hands them to a
// proc.Starter.
//
// Output: "null" is /dev/null and "inherit" the daemon's own fd, given to the
// child as they are. "auto" and file targets go through a pipe that a pump
// of Output copies into a size-rotated log file (auto: LogDir/NAME-i.STREAM.log
// at the default limits); with Terminal set (attach), the pump also copies
// every line, prefixed, to the terminal, and "inherit" then goes through a
// pump to the terminal as well, so that its lines are prefixed too.
// `stderr: stdout` gives the child's fd 2 the same pipe (or fd) as fd 1.
//
// The command is looked up on the instance's PATH once per spec (see
// commandPaths), not at every start: a program installed earlier on PATH
// later is picked up by the next spec change, or when starting the
// remembered path fails.
type OSStarter struct {
	// Procs forks and supervises the processes.
	Procs *proc.Starter
	// SpecDir is the manifests' directory: the default working directory, and
	// the base of a relative workingDir.
	SpecDir string
	// LogDir holds the "auto" output files, NAME-INDEX.stdout.log and
	// NAME-INDEX.stderr.log.
	LogDir string
	// BaseEnv is the environment every instance starts from: the daemon's.
	BaseEnv []string
	// Stdout and Stderr are the daemon's own, for "inherit".
	Stdout, Stderr *os.File
	// Output owns the pumps and the open log files; required.
	Output *output.Group
	// Terminal, when set (reconciled run --attach), also gets every
	// instance's output, each line prefixed with the instance's name.
	Terminal *output.Terminal
	// Drain bounds how long Release waits for the pumps of a process that
	// has ended to write what they still hold (default DefaultDrain). A pump
	// still busy then (a full disk, or a descendant that left the process
	// group and still holds the pipe) carries on under Output.
	Drain time.Duration
	// Sockets, when set, lends tcpSocket probes sockets to reuse.
	Sockets *health.Sockets
	// Cgroups, when set, gives every instance a cgroup of its own
	// (containment "cgroup"); nil: process groups only, and a spec with
	// resources fails to start.
	Cgroups *Cgroups
	// Sweeper, when set and Cgroups is not, finds the processes that left
	// an instance's process group by their marks (containment
	// "processGroup"); see markedProcess.
	Sweeper *sweeper

	paths commandPaths
	envs  envTemplates
}

// Start starts instance req.Index of req.Program.
func (s *OSStarter) Start(ctx context.Context, req StartRequest) (_ Process, err error) {
	p := req.Program
	name := p.Metadata.Name + "-" + strconv.Itoa(req.Index)
	env, tmpl, cred, err := s.instanceIdentity(p, req.Index)
	if err != nil {
		return nil, err
	}
	ps := proc.Spec{
		Name:       name,
		Argv:       tmpl.Command(env),
		Env:        env,
		Dir:        s.workingDir(p),
		Credential: cred,
		Umask:      p.Spec.Umask,
	}
	// The failure is reported in status and events: no expanded value.
	defer func() { err = redactStart(err, p, ps.Argv, env) }()
	if p.Spec.Nice != 0 {
		nice := p.Spec.Nice
		ps.Nice = &nice
	}
	if n := p.Spec.IONice; n != nil {
		class, _ := proc.IOClassByName(string(n.Class)) // known for a parsed spec
		ps.IONice = &proc.IONice{Class: class, Level: n.Level}
	}
	for _, l := range p.Spec.Limits {
		res, _ := proc.RlimitResource(l.Name) // known for a parsed spec
		ps.Rlimits = append(ps.Rlimits, proc.Rlimit{Resource: res, Soft: l.Soft, Hard: l.Hard})
	}
	if s.Output == nil {
		return nil, fmt.Errorf("start %s: OSStarter has no Output", name)
	}
	var cg *cgroup.Instance
	switch {
	case s.Cgroups != nil:
		if cg, err = s.Cgroups.create(p, req.Index); err != nil {
			return nil, err
		}
		ps.Cgroup = &proc.Cgroup{Dir: cg.Dir(), Procs: cg.Procs()[1:]}
		// The cgroup is the group (cgroupProcess): no zombie need pin
		// the pgid, and a stop of 1000 reaps each leader as it exits.
		ps.ReapAtExit = true
	case !p.Spec.Resources.IsZero():
		return nil, errNoCgroups
	}
	started := time.Now()
	contained := func(pr Process) Process {
		switch {
		case cg != nil:
			return newCgroupProcess(pr, cg, s.Cgroups)
		case s.Sweeper != nil:
			return newMarkedProcess(pr, s.Sweeper, p.Metadata.Name, req.Index, started)
		}
		return pr
	}
	fail := func(err error) (Process, error) {
		if cg != nil {
			if rerr := cg.Remove(); rerr != nil {
				err = fmt.Errorf("%w (and %v)", err, rerr)
			}
		}
		return nil, err
	}
	if h := p.Spec.Lifecycle.PreStart; h != nil {
		if err := s.runLifecycle(ctx, "preStart", h, p.Spec.PreStartTimeout(), ps); err != nil {
			return fail(err)
		}
	}
	outs := &outputs{s: s, program: p.Metadata.Name, instance: name, env: env, dir: ps.Dir}
	defer outs.closeChildEnds()
	if ps.Stdout, err = outs.stream("stdout", p.Spec.Stdout, s.Stdout); err != nil {
		outs.abandon()
		return fail(err)
	}
	if p.Spec.Stderr.Mode == spec.OutputStdout {
		ps.Stderr = ps.Stdout
	} else if ps.Stderr, err = outs.stream("stderr", p.Spec.Stderr, s.Stderr); err != nil {
		outs.abandon()
		return fail(err)
	}
	pr, err := s.startResolved(p, ps)
	if err != nil {
		outs.abandon()
		return fail(err)
	}
	// The child has its copies of the write ends: close ours now, so that
	// the pumps see end of file once every writer is gone.
	outs.closeChildEnds()
	pumps := outs.pumps
	if len(pumps) == 0 {
		return contained(pr), nil
	}
	drain := s.Drain
	if drain <= 0 {
		drain = DefaultDrain
	}
	return contained(&pumpedProcess{Process: pr, output: s.Output, pumps: pumps, drain: drain}), nil
}

// startResolved starts ps with its command's path as remembered for p's spec
// (see commandPaths). If that fails and a new lookup finds another path (the
// program was moved, or one earlier on PATH appeared), it starts that one.
func (s *OSStarter) startResolved(p *spec.Program, ps proc.Spec) (*proc.Process, error) {
	if len(ps.Argv) == 0 || ps.Argv[0] == "" {
		return s.Procs.Start(ps) // reports the empty command
	}
	path, cached, err := s.paths.resolve(p, ps.Argv[0], ps.Env, ps.Dir)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", ps.Name, err)
	}
	ps.Path = path
	pr, err := s.Procs.Start(ps)
	if err == nil || !cached {
		return pr, err
	}
	s.paths.forget(p)
	if again, _, lerr := s.paths.resolve(p, ps.Argv[0], ps.Env, ps.Dir); lerr == nil && again != path {
		ps.Path = again
		return s.Procs.Start(ps)
	}
	return nil, err
}

// HookContext is the context of instance idx's hooks: its environment,
// working directory and user, as it starts with them.
func (s *OSStarter) HookContext(p *spec.Program, idx int) (hooks.InstanceContext, error) {
	env, cred, err := s.identity(p, idx)
	if err != nil {
		return hooks.InstanceContext{}, err
	}
	return hooks.InstanceContext{Env: env, Dir: s.workingDir(p), Credential: cred}, nil
}

var _ HookContexter = (*OSStarter)(nil)

// identity returns the environment and the credential of instance idx of p:
// the daemon's environment, then (with a user) what `su -` sets, then the
// RECONCILED_* variables and the spec's env.
func (s *OSStarter) identity(p *spec.Program, idx int) ([]string, *proc.Credential, error) {
	env, _, cred, err := s.instanceIdentity(p, idx)
	return env, cred, err
}

// instanceIdentity is identity, plus the template the environment came from
// (for the command). Without a user the template is remembered per spec
// (see envTemplates); with one, the user database is read at every start, so
// that a changed account takes effect, and the template serves once.
func (s *OSStarter) instanceIdentity(p *spec.Program, idx int) ([]string, *spec.EnvTemplate, *proc.Credential, error) {
	if p.Spec.User == "" {
		t := s.envs.get(p, s.BaseEnv)
		return t.Env(idx), t, nil, nil
	}
	c, userEnv, err := proc.LookupUser(p.Spec.User, p.Spec.Group)
	if err != nil {
		return nil, nil, nil, err
	}
	base := append(append([]string(nil), s.BaseEnv...), userEnv...)
	t := spec.NewEnvTemplate(p, base)
	return t.Env(idx), t, &c, nil
}

// envTemplates remembers the environment templates of each program's two
// latest specs (a rollout starts instances of the new spec while instances
// of the old one may still restart), so that starting an instance copies one
// environment instead of building it from maps each time. The zero value is
// ready to use; it is safe for concurrent use.
type envTemplates struct {
	mu sync.Mutex
	m  map[string]*[2]*spec.EnvTemplate // newest first
}

// get returns the template of p with base, making it if p is a spec it has
// not seen. base must be the same for every call (OSStarter.BaseEnv).
func (e *envTemplates) get(p *spec.Program, base []string) *spec.EnvTemplate {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.m[p.Metadata.Name]
	if ts == nil {
		if e.m == nil {
			e.m = map[string]*[2]*spec.EnvTemplate{}
		}
		ts = new([2]*spec.EnvTemplate)
		e.m[p.Metadata.Name] = ts
	}
	for _, t := range ts {
		if t != nil && t.Program() == p {
			return t
		}
	}
	t := spec.NewEnvTemplate(p, base)
	ts[0], ts[1] = t, ts[0]
	return t
}

// commandPaths remembers, per program, the executable its command was found
// to be, so that the command is looked up on PATH once per spec rather than
// at every start (a lookup stats PATH's directories in turn until it finds
// the file). A new spec (another *spec.Program), command, PATH or working
// directory looks again, and so does a start that failed with the
// remembered path. Failed lookups are not remembered. The zero value is
// ready to use; it is safe for concurrent use.
type commandPaths struct {
	mu sync.Mutex
	m  map[string]commandPath // by program name: at most one entry each
}

type commandPath struct {
	prog               *spec.Program
	file, pathEnv, dir string
	pathSet            bool // PATH unset and PATH empty differ
	path               string
}

// resolve returns the executable that argv0 names for instances of p with
// environment env and working directory dir, and whether it was remembered.
func (c *commandPaths) resolve(p *spec.Program, argv0 string, env []string, dir string) (path string, cached bool, err error) {
	pathEnv, pathSet := envValue(env, "PATH")
	c.mu.Lock()
	e, ok := c.m[p.Metadata.Name]
	c.mu.Unlock()
	if ok && e.prog == p && e.file == argv0 && e.pathEnv == pathEnv && e.pathSet == pathSet && e.dir == dir {
		return e.path, true, nil
	}
	if path, err = proc.LookPath(argv0, env, dir); err != nil {
		return "", false, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]commandPath{}
	}
	c.m[p.Metadata.Name] = commandPath{prog: p, file: argv0, pathEnv: pathEnv, pathSet: pathSet, dir: dir, path: path}
	c.mu.Unlock()
	return path, false, nil
}

// forget drops what is remembered for p's program.
func (c *commandPaths) forget(p *spec.Program) {
	c.mu.Lock()
	delete(c.m, p.Metadata.Name)
	c.mu.Unlock()
}

// envValue returns the value of key in env: the first one, as getenv(3) in
// the child sees it.
func envValue(env []string, key string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key); ok && len(v) > 0 && v[0] == '=' {
			return v[1:], true
		}
	}
	return "", false
}

func (s *OSStarter) workingDir(p *spec.Program) string {
	switch d := p.Spec.WorkingDir; {
	case d == "":
		return s.SpecDir
	case filepath.IsAbs(d):
		return d
	default:
		return filepath.Join(s.SpecDir, d)
	}
}

// outputs is what Start prepares for the output of one instance.
type outputs struct {
	s                 *OSStarter
	program, instance string
	env               []string
	dir               string     // the instance's working directory
	childEnds         []*os.File // the write ends of the pipes, for the child
	pumps             []*output.Pump
}

// stream prepares the target of one stream and returns the child's end of
// it: nil for /dev/null. A stream that goes through a pipe gets its pump
// now, idle until the child writes, so that a pipe that cannot be watched
// fails the start rather than the output.
func (o *outputs) stream(stream string, out spec.Output, inherit *os.File) (*os.File, error) {
	var targets []output.Target
	switch out.Mode {
	case spec.OutputNull:
		return nil, nil
	case spec.OutputInherit:
		if o.s.Terminal == nil {
			return inherit, nil
		}
	case spec.OutputAuto:
		// In a directory of the daemon's own: created with the first
		// output, so quiet instances cost no file (and no path: the
		// target's name is the file's, made when a report needs it).
		fo := output.FileOptions{MaxSize: spec.DefaultLogMaxSize, MaxBackups: spec.DefaultLogMaxBackups, CreateDir: true}
		targets = append(targets, output.Target{W: o.s.Output.AutoLog(o.s.LogDir, o.instance, stream, fo)})
	case spec.OutputFile:
		path := spec.Expand(out.File, spec.LookupEnv(o.env))
		if !filepath.IsAbs(path) {
			path = filepath.Join(o.dir, path)
		}
		fo := output.FileOptions{MaxSize: out.MaxSize, MaxBackups: out.MaxBackups}
		if strings.Contains(out.File, "$") {
			// Expanded from the environment: what reports the file's
			// later write failures names the field, not the path.
			fo.Name = "spec." + stream + ".file " + out.File
		}
		// The user's path: a bad one fails the start, now.
		f, err := o.s.Output.OpenFile(path, fo)
		if err != nil {
			return nil, fmt.Errorf("open %s log: %w", stream, err)
		}
		targets = append(targets, output.Target{Name: cmp.Or(fo.Name, path), W: f})
	default:
		return nil, fmt.Errorf("%s: output mode %q is not supported", stream, out.Mode)
	}
	if t := o.s.Terminal; t != nil {
		targets = append(targets, output.Target{Name: "terminal", W: t.Writer(o.program, o.instance), BestEffort: true})
	}
	r, w, err := output.Pipe()
	if err != nil {
		closeTargets(targets)
		return nil, fmt.Errorf("%s: %w", stream, err)
	}
	src := output.Source{Program: o.program, Instance: o.instance, Stream: stream}
	pump, err := o.s.Output.Start(r, src, targets...) // owns r and targets from here
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", stream, err)
	}
	o.childEnds = append(o.childEnds, w)
	o.pumps = append(o.pumps, pump)
	return w, nil
}

// closeChildEnds closes the daemon's copies of the pipes' write ends.
func (o *outputs) closeChildEnds() {
	for _, w := range o.childEnds {
		w.Close()
	}
	o.childEnds = nil
}

// abandon undoes everything when the process could not be started.
func (o *outputs) abandon() {
	o.closeChildEnds()
	for _, p := range o.pumps {
		p.Abort()
	}
	o.pumps = nil
}

func closeTargets(ts []output.Target) {
	for _, t := range ts {
		if c, ok := t.W.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}

// pumpedProcess is a process whose output goes through pumps. Release
// waits, for at most drain, until the pumps have written everything the
// process group wrote, so that the log is complete when the instance is
// reported stopped and before its next process starts writing.
type pumpedProcess struct {
	*proc.Process
	output *output.Group
	pumps  []*output.Pump
	drain  time.Duration
}

func (p *pumpedProcess) Release() error {
	err := p.Process.Release()
	if errors.Is(err, proc.ErrNotExited) {
		return err
	}
	var t *time.Timer // only when a pump is still busy: usually none is
	for _, pu := range p.pumps {
		if pu.Ended() {
			continue
		}
		if t == nil {
			p.output.Drain() // an end of file that is there, taken now
			if pu.Ended() {
				continue
			}
			t = time.NewTimer(p.drain)
			defer t.Stop()
		}
		select {
		case <-pu.Done():
		case <-t.C:
			return err
		}
	}
	return err
}

var _ Process = (*pumpedProcess)(nil)
