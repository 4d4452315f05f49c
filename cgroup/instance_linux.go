package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/rawsys"
)

// ErrNoMemoryCgroup is returned by OOMKills for an instance that has no
// memory cgroup (memory is neither in v2 nor, for this instance, in v1).
var ErrNoMemoryCgroup = errors.New("the instance has no memory cgroup")

// Instance is the cgroup of one instance, ROOT/NAME/NAME-i, in the v2
// hierarchy and, on a hybrid host, in the v1 hierarchies its resources
// need. Methods are safe for concurrent use; after Remove succeeded only
// the accessors may be called.
//
// There is one per instance: its names are parts of one string, v2, where
// it can (see Create).
type Instance struct {
	root    *Root
	program string
	rel     string            // NAME/NAME-i: the v2 directory below the root
	v2      string            // v2 directory
	v1      map[string]string // controller -> v1 directory; nil: none
	v1Dirs  []string          // distinct v1 directories, in creation order

	mu      sync.Mutex
	removed bool
}

// Create makes the cgroup of instance index of program, fresh (one left
// from an earlier run is removed first, and is an error when it still has
// processes), and applies res. A limit whose controller is unavailable or
// cannot be written fails with a *ResourceError, before anything starts.
func (r *Root) Create(program string, index int, res Resources) (_ *Instance, err error) {
	if program == "" || program == "." || program == ".." || strings.ContainsAny(program, "/\n") {
		return nil, fmt.Errorf("create cgroup: bad program name %q", program)
	}
	if err := r.Check(res); err != nil {
		return nil, err
	}
	rel := program + "/" + program + "-" + strconv.Itoa(index)
	v2 := filepath.Join(r.v2, rel)
	if n := len(v2) - len(rel); n > 0 && v2[n-1] == '/' && v2[n:] == rel {
		rel = v2[n:] // the same bytes: keep one string
	}
	i := &Instance{root: r, program: program, rel: rel, v2: v2}
	name := i.Name()
	if err := r.acquire(program, rel); err != nil {
		return nil, fmt.Errorf("create cgroup for %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			i.undo()
			r.release(program, rel)
		}
	}()
	if err := r.mkdirs(i, res); err != nil {
		return nil, err
	}
	if err := i.apply(res); err != nil {
		return nil, err
	}
	return i, nil
}

// mkdirs makes the v2 directory of i and the v1 ones that res needs, one
// Create at a time (mkdirMu).
func (r *Root) mkdirs(i *Instance, res Resources) error {
	r.mkdirMu.Lock()
	defer r.mkdirMu.Unlock()
	name := i.Name()
	if err := r.mkdirFreshV2(i.rel, i.v2); err != nil {
		return fmt.Errorf("create cgroup for %s: %w", name, err)
	}
	for _, c := range r.v1Needed(res) {
		dir := filepath.Join(r.v1[c], i.program, name)
		if i.v1 == nil {
			i.v1 = map[string]string{}
		}
		i.v1[c] = dir
		if contains(i.v1Dirs, dir) { // cpu and cpuacct mounted together
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create cgroup for %s: %w", name, err)
		}
		if err := r.mkdirFresh(dir); err != nil {
			return fmt.Errorf("create cgroup for %s: %w", name, err)
		}
		i.v1Dirs = append(i.v1Dirs, dir)
	}
	return nil
}

// v1Needed returns the controllers for which an instance with res gets a
// v1 cgroup: those res limits and that live in v1, memory for usage and
// OOM counts unless turned off, and cpuacct where v2 has no cpu.stat.
func (r *Root) v1Needed(res Resources) []string {
	var cs []string
	if r.ctrls[ctrlMemory].Version == V1 && (res.MemoryBytes > 0 || !r.noV1Mem) {
		cs = append(cs, ctrlMemory)
	}
	if r.ctrls[ctrlCPU].Version == V1 && res.CPUMillis > 0 {
		cs = append(cs, ctrlCPU)
	}
	if _, ok := r.v1[ctrlCPUAcct]; ok {
		cs = append(cs, ctrlCPUAcct)
	}
	if r.ctrls[ctrlPids].Version == V1 && res.Pids > 0 {
		cs = append(cs, ctrlPids)
	}
	return cs
}

// apply writes the limits of res into the v2 or v1 cgroup of each.
func (i *Instance) apply(res Resources) error {
	for _, l := range res.limits() {
		dir, files := i.v2, l.v2
		if i.root.ctrls[l.controller].Version == V1 {
			dir, files = i.v1[l.controller], l.v1
		}
		for _, f := range files {
			if err := writeControl(dir, f.file, f.value); err != nil {
				return &ResourceError{Field: l.field, Controller: l.controller, Err: err}
			}
		}
	}
	return nil
}

// mkdirFreshV2 is mkdirFresh of the v2 directory dir, rel below the root,
// made relative to the root's descriptor.
func (r *Root) mkdirFreshV2(rel, dir string) error {
	mkdir := func() error {
		err := r.at(rel, func(dirfd int, p string) error { return unix.Mkdirat(dirfd, p, 0o755) })
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
		}
		if r.afterMkdir != nil {
			return r.afterMkdir(dir)
		}
		return nil
	}
	err := mkdir()
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := r.rmdirV2(rel, dir); err != nil {
		return fmt.Errorf("cgroup %s is left from an earlier run and cannot be removed: %w", dir, err)
	}
	return mkdir()
}

// rmdirV2 removes the v2 directory dir, rel below the root, relative to
// the root's descriptor; it is gone already: nil.
func (r *Root) rmdirV2(rel, dir string) error {
	err := r.at(rel, func(dirfd int, p string) error { return rawsys.Rmdirat(dirfd, p) })
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return &fs.PathError{Op: "remove", Path: dir, Err: err}
}

// mkdirFresh creates the cgroup dir; one left from an earlier run is
// removed and made again, so that no old limit or counter carries over.
func (r *Root) mkdirFresh(dir string) error {
	err := r.mkdir(dir)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cgroup %s is left from an earlier run and cannot be removed: %w", dir, err)
	}
	return r.mkdir(dir)
}

// acquire counts the instance rel (NAME/NAME-i) of program in, creating
// its NAME directory (with the root's v2 controllers enabled for its
// children) for the first.
func (r *Root) acquire(program, rel string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[rel]; ok {
		return fmt.Errorf("cgroup %s exists already", rel)
	}
	if r.refs[program] == 0 {
		dir := filepath.Join(r.v2, program)
		if err := r.mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		for _, c := range r.enabled {
			if err := writeControl(dir, fileSubtree, "+"+c); err != nil {
				return err
			}
		}
	}
	r.refs[program]++
	r.live[rel] = struct{}{}
	return nil
}

// release counts the instance rel of program out and removes the
// program's directories after the last (failing quietly: a leftover still
// inside keeps them, and the next start's clean-up takes them).
func (r *Root) release(program, rel string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, rel)
	if r.refs[program]--; r.refs[program] > 0 {
		return
	}
	delete(r.refs, program)
	for _, root := range r.allRoots() {
		_ = os.Remove(filepath.Join(root, program))
	}
}

// undo removes what a failed Create made.
func (i *Instance) undo() {
	for _, d := range append([]string{i.v2}, i.v1Dirs...) {
		_ = rmdir(d)
	}
}

// Program returns the program the instance belongs to.
func (i *Instance) Program() string { return i.program }

// Name returns the instance's name, NAME-i.
func (i *Instance) Name() string { return i.rel[len(i.program)+1:] }

// Dir returns the instance's v2 directory.
func (i *Instance) Dir() string { return i.v2 }

// OpenFD opens an O_PATH descriptor of the v2 directory, for clone3's
// CLONE_INTO_CGROUP (syscall.SysProcAttr.UseCgroupFD and CgroupFD); the
// caller closes it. None is kept open per instance: at thousands of
// instances every descriptor counts.
func (i *Instance) OpenFD() (int, error) {
	fd := -1
	err := i.root.at(i.rel, func(dirfd int, p string) (err error) {
		fd, err = openAt(dirfd, p, unix.O_PATH|unix.O_DIRECTORY)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", i.v2, err)
	}
	return fd, nil
}

// Procs returns the cgroup.procs files, v2 first, that a child writes "0"
// into before it execs, when it is not cloned into the v2 cgroup (then only
// the v1 ones remain to write: Procs()[1:]). Made at each call (once a
// start), not kept: thousands of instances would each hold the paths.
func (i *Instance) Procs() []string {
	procs := make([]string, 0, 1+len(i.v1Dirs))
	procs = append(procs, filepath.Join(i.v2, fileProcs))
	for _, d := range i.v1Dirs {
		procs = append(procs, filepath.Join(d, fileProcs))
	}
	return procs
}

// Kill sends SIGKILL to every process in the cgroup and its descendants:
// through cgroup.kill (Linux 5.14), or else by signalling each member until
// no new one appears. It does not wait: Populated, or an EmptyWatcher,
// tells when they are gone.
func (i *Instance) Kill() error {
	if err := killDir(i.v2, i.root.hasKill); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", i.Name(), err)
	}
	return nil
}

// Signal sends sig to every process in the cgroup and its descendants
// (e.g. the stop signal). Processes that leave the cgroup meanwhile may be
// missed; Kill at the stop timeout takes the rest.
func (i *Instance) Signal(sig unix.Signal) error {
	return i.SignalExcept(sig, nil)
}

// SignalExcept sends sig to the processes of the cgroup itself, not of
// cgroups a program made below it, except those skip reports: the caller
// signalled them otherwise (kill(-pgid) reaches a process group in one
// call), and a process must get the signal once, not twice (a second
// SIGINT or SIGTERM means "now" to many programs). Only the rest cost a
// pidfd each. It is the stop signal's path, taken for every instance of a
// stop of thousands: one read of cgroup.procs, where Signal also lists
// the directory for cgroups below; Kill reaches those at the stop timeout.
func (i *Instance) SignalExcept(sig unix.Signal, skip func(pid int) bool) error {
	read := func() (pids []int, err error) {
		err = i.root.at(i.rel+"/"+fileProcs, func(dirfd int, p string) (err error) {
			pids, err = readPidsAt(dirfd, p)
			return err
		})
		return pids, err
	}
	if err := signalMembers(read, i.v2, sig, skip); err != nil {
		return fmt.Errorf("signal cgroup %s: %w", i.Name(), err)
	}
	return nil
}

// Populated reports whether any process is in the cgroup or below it
// (cgroup.events). It runs once per exit: one open, read and close.
func (i *Instance) Populated() (bool, error) {
	var n uint64
	var ok bool
	err := i.root.at(i.rel+"/"+fileEvents, func(dirfd int, p string) (err error) {
		n, ok, err = readKeyedRawAt(dirfd, p, "populated")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read cgroup events: %w", err)
	}
	if !ok {
		return false, fmt.Errorf("read cgroup events: no populated key in %s", i.v2)
	}
	return n != 0, nil
}

// Remove removes the instance's directories (v2 and v1, and cgroups a
// program made below its own) and, after the program's last instance,
// the program's directory. It fails while processes remain; it can then
// be called again.
func (i *Instance) Remove() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.removed {
		return nil
	}
	var errs []error
	// The v2 directory in one rmdir, relative to the root; the walk of
	// removeTree only when a program made cgroups below it.
	if err := i.root.rmdirV2(i.rel, i.v2); err != nil {
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			errs = append(errs, err)
		} else if err := removeTree(i.v2); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range i.v1Dirs {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove cgroup %s: %w", i.Name(), errors.Join(errs...))
	}
	i.removed = true
	i.root.release(i.program, i.rel)
	return nil
}

// RemoveEmpty is Remove for an instance that may still have processes,
// without the cost of finding out first: one rmdir of the v2 directory,
// which the kernel refuses while the cgroup has a process or a cgroup
// below it. Refused, it reports false and leaves everything as it was;
// otherwise it removes the rest as Remove does and reports true: the
// cgroup was empty (or gone already). An error with true is a v1
// directory that could not be removed; Remove may be called again.
func (i *Instance) RemoveEmpty() (bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.removed {
		return true, nil
	}
	if err := i.root.rmdirV2(i.rel, i.v2); err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
			return false, nil
		}
		return false, fmt.Errorf("remove cgroup %s: %w", i.Name(), err)
	}
	var errs []error
	for _, d := range i.v1Dirs {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return true, fmt.Errorf("remove cgroup %s: %w", i.Name(), errors.Join(errs...))
	}
	i.removed = true
	i.root.release(i.program, i.rel)
	return true, nil
}

// OOMKills returns how many processes of the cgroup the OOM killer has
// killed (v2 memory.events oom_kill, v1 memory.oom_control oom_kill).
func (i *Instance) OOMKills() (uint64, error) {
	var p string
	switch {
	case i.root.ctrls[ctrlMemory].Version == V2:
		p = filepath.Join(i.v2, fileMemoryEvents)
	case i.v1[ctrlMemory] != "":
		p = filepath.Join(i.v1[ctrlMemory], fileV1OOMControl)
	default:
		return 0, fmt.Errorf("oom kills of %s: %w", i.Name(), ErrNoMemoryCgroup)
	}
	n, _, err := readKeyed(p, "oom_kill")
	if err != nil {
		return 0, fmt.Errorf("oom kills of %s: %w", i.Name(), err)
	}
	return n, nil
}
