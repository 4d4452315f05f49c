package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/reconciled/reconciled/reconciler/proc"
	"github.com/reconciled/reconciled/spec"
)

// OSStarter starts real processes: it builds an instance's argv, environment,
// working directory, identity and output files from its spec, and hands them
// to a proc.Starter.
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
}

// Start starts instance req.Index of req.Program.
func (s *OSStarter) Start(_ context.Context, req StartRequest) (Process, error) {
	p := req.Program
	name := p.Metadata.Name + "-" + strconv.Itoa(req.Index)
	base := s.BaseEnv
	var cred *proc.Credential
	if p.Spec.User != "" {
		c, userEnv, err := proc.LookupUser(p.Spec.User, p.Spec.Group)
		if err != nil {
			return nil, err
		}
		cred = &c
		base = append(append([]string(nil), base...), userEnv...)
	}
	env := spec.InstanceEnv(p, req.Index, base)
	ps := proc.Spec{
		Name:       name,
		Argv:       spec.InstanceCommand(p, env),
		Env:        env,
		Dir:        s.workingDir(p),
		Credential: cred,
		Umask:      p.Spec.Umask,
	}
	if p.Spec.Nice != 0 {
		nice := p.Spec.Nice
		ps.Nice = &nice
	}
	var err error
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	if ps.Stdout, err = s.output(p.Spec.Stdout, name, "stdout", s.Stdout, &closers); err != nil {
		return nil, err
	}
	if p.Spec.Stderr.Mode == spec.OutputStdout {
		ps.Stderr = ps.Stdout
	} else if ps.Stderr, err = s.output(p.Spec.Stderr, name, "stderr", s.Stderr, &closers); err != nil {
		return nil, err
	}
	pr, err := s.Procs.Start(ps)
	if err != nil {
		return nil, err
	}
	return pr, nil
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

// output opens the target of one stream; files it opens are added to closers
// (the child keeps its own copy).
func (s *OSStarter) output(o spec.Output, name, stream string, inherit *os.File, closers *[]*os.File) (*os.File, error) {
	switch o.Mode {
	case spec.OutputNull:
		return nil, nil
	case spec.OutputInherit:
		return inherit, nil
	case spec.OutputAuto:
		path := filepath.Join(s.LogDir, name+"."+stream+".log")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			// The directory went away, or DIR is a symlink re-pointed to a
			// checkout that has no .reconciled/ yet.
			if err = os.MkdirAll(s.LogDir, 0o755); err == nil {
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("open %s log: %w", stream, err)
		}
		*closers = append(*closers, f)
		return f, nil
	}
	return nil, fmt.Errorf("%s: output mode %q is not supported", stream, o.Mode)
}
