package top

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// program is what the view knows of one program: its manifest (as far as it
// parses) and the daemon's last status of it.
type program struct {
	name string
	// path is the manifest's path; "" when the directory has none (a
	// deleted program whose status is still there).
	path   string
	spec   *spec.Program  // nil when missing or invalid
	errs   spec.ErrorList // the manifest's errors, when invalid
	labels map[string]string
	st     status.ProgramStatus
	hasSt  bool
}

// desired is what the manifest wants (running or stopped), else what the
// daemon last applied.
func (p *program) desired() spec.Desired {
	if p.spec != nil {
		return p.spec.Spec.Desired
	}
	return spec.Desired(p.st.Status.Desired)
}

// source reads the directory: manifests, status files and the daemon's
// state. It keeps the manifests it parsed, so that a status change does
// not parse every manifest again.
type source struct {
	manifests manifest.Dir
	statusDir string
	stateDir  string
	selector  labels.Selector // nil: every program

	specs    map[string]*program // by name: the manifest part
	statuses map[string]status.ProgramStatus
	// parsed keeps each manifest's parse by path with the file's identity
	// when parsed: a manifest is parsed again only when it changed, so an
	// edit of one of a thousand programs parses one.
	parsed map[string]parsedManifest
	// now is the clock of the racy rule (see racyWindow).
	now func() time.Time
}

// racyWindow is how recently a manifest may have changed for its parse not
// to be kept. File times move in clock ticks (a few milliseconds; seconds on
// some filesystems), so a write in place of the same size in the same tick
// as the one parsed leaves the identity unchanged: a file that changed this
// close to its read is parsed again next time (git's "racy" rule, as the
// daemon's scan does).
const racyWindow = 2 * time.Second

// parsedManifest is a manifest's parse and the identity of the file parsed.
type parsedManifest struct {
	id fileID
	p  *program
}

// fileID tells a file's versions apart: a rename over it changes the
// inode, a write in place the size or the change time.
type fileID struct {
	ino, size    int64
	mtime, ctime int64
}

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{ino: int64(st.Ino), size: st.Size, mtime: fi.ModTime().UnixNano(),
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec}, true
}

func newSource(dir, statusDir string, sel labels.Selector) *source {
	return &source{
		manifests: manifest.NewDir(dir),
		statusDir: statusDir,
		stateDir:  filepath.Join(statusDir, reconciler.StateDirName),
		selector:  sel,
		specs:     map[string]*program{},
		statuses:  map[string]status.ProgramStatus{},
		parsed:    map[string]parsedManifest{},
		now:       time.Now,
	}
}

// readManifests lists the manifests again and parses those that changed.
func (s *source) readManifests() error {
	racy := s.now().Add(-racyWindow).UnixNano()
	l, err := s.manifests.List()
	if err != nil {
		return err
	}
	specs := map[string]*program{}
	parsed := make(map[string]parsedManifest, len(l.Files))
	for _, f := range l.Files {
		id, known := idOf(f.Info)
		if old, ok := s.parsed[f.Path]; ok && known && old.id == id && old.p.name == f.Name {
			specs[f.Name] = old.p
			parsed[f.Path] = old
			continue
		}
		p := &program{name: f.Name, path: f.Path}
		if data, err := manifest.ReadFile(f.Path); err == nil {
			p.spec, p.errs = spec.Parse(f.Path, data)
		}
		if p.spec != nil {
			p.labels = p.spec.Metadata.Labels
		} else {
			p.labels = manifest.Labels(f.Path)
		}
		specs[f.Name] = p
		if known && id.mtime < racy && id.ctime < racy {
			parsed[f.Path] = parsedManifest{id: id, p: p}
		}
	}
	s.parsed = parsed
	for _, d := range l.Duplicates {
		specs[d.Name] = &program{name: d.Name, path: filepath.Join(s.manifests.Path(), d.Bases[0]),
			errs: spec.ErrorList{{File: d.Bases[0], Message: "two manifests: " + d.Bases[0] + " and " + d.Bases[1]}}}
	}
	s.specs = specs
	return nil
}

// readStatuses reads every status file again.
func (s *source) readStatuses() error {
	all, err := status.ReadDir(s.statusDir)
	s.statuses = make(map[string]status.ProgramStatus, len(all))
	for _, st := range all {
		s.statuses[st.Metadata.Name] = st
	}
	return err
}

// readStatus reads the status file of name again: gone is gone.
func (s *source) readStatus(name string) {
	st, err := status.ReadFile(status.StatusPath(s.statusDir, name))
	switch {
	case err == nil:
		s.statuses[name] = st
	case errors.Is(err, fs.ErrNotExist):
		delete(s.statuses, name)
	}
	// Another error (a file being replaced): keep what we had.
}

// programs returns every program the manifests or the status files name
// and the selector matches, sorted by name.
func (s *source) programs() []*program {
	out := make([]*program, 0, len(s.specs)+len(s.statuses))
	for name, p := range s.specs {
		q := *p
		q.st, q.hasSt = s.statuses[name]
		out = append(out, &q)
	}
	for name, st := range s.statuses {
		if _, ok := s.specs[name]; !ok {
			out = append(out, &program{name: name, st: st, hasSt: true})
		}
	}
	if s.selector != nil {
		kept := out[:0]
		for _, p := range out {
			if s.selector.Matches(labels.Set(p.labels)) {
				kept = append(kept, p)
			}
		}
		out = kept
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// daemon says whether a daemon holds the directory, and its pid.
func (s *source) daemon() (held bool, pid int) {
	return reconciler.Held(s.stateDir)
}

// logPath is the file that holds stream (stdout or stderr) of instance
// index of p, and "" with the reason when there is none to follow.
func (s *source) logPath(p *program, index int, stream string) (path, why string) {
	if p.spec != nil {
		out := p.spec.Spec.Stdout
		if stream == "stderr" {
			out = p.spec.Spec.Stderr
		}
		switch out.Mode {
		case spec.OutputFile:
			return out.File, ""
		case spec.OutputNull, spec.OutputInherit, spec.OutputStdout:
			return "", stream + ": " + string(out.Mode)
		}
	}
	return filepath.Join(s.stateDir, "logs", logBase(p.name, index, stream)), ""
}
