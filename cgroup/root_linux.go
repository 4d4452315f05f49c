package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// wanted returns the controllers a Root tries to enable, in this order.
func wanted() []string { return []string{ctrlMemory, ctrlCPU, ctrlPids} }

// DefaultLeaf is the v2 cgroup, under its own, that EnterLeaf moves the
// daemon into.
const DefaultLeaf = "daemon"

// ErrNoV2 means the host has no cgroup2 hierarchy in which the daemon can
// see its cgroup (a pure-v1 host): callers fall back to process groups.
var ErrNoV2 = errors.New("no cgroup v2 hierarchy is mounted")

// RootOptions configure OpenRoot and EnterLeaf. The zero value is not
// enough: either Path or Hash must be set.
type RootOptions struct {
	// Path is --cgroup-root: a cgroup path in the v2 hierarchy
	// ("/reconciled"), or a directory under its mount point
	// ("/sys/fs/cgroup/reconciled"). Empty means the default, a child
	// "reconciled-<Hash>" of the daemon's delegated cgroup.
	Path string
	// Hash names the default root (the caller's hash of its status
	// directory, so that a daemon finds its predecessor's cgroups).
	Hash string
	// Leaf is the name of the leaf EnterLeaf moves the daemon into;
	// empty means DefaultLeaf.
	Leaf string
	// NoV1MemoryAccounting skips the v1 memory cgroup of an instance
	// without a memory limit on a hybrid host: one mkdir and one write
	// less per start, but Usage then has no memory figure and OOMKills
	// fails with ErrNoMemoryCgroup.
	NoV1MemoryAccounting bool
}

func (o RootOptions) leaf() string {
	if o.Leaf == "" {
		return DefaultLeaf
	}
	return o.Leaf
}

// delegated returns the v2 cgroup the daemon may build under: its own,
// or the parent of its own when it already sits in the leaf (an earlier
// EnterLeaf, or a daemon started from there).
func delegated(h *Hierarchy, leaf string) string {
	if h.Own != "/" && path.Base(h.Own) == leaf {
		return path.Dir(h.Own)
	}
	return h.Own
}

// rootPath returns the root's cgroup path in the v2 hierarchy.
func rootPath(h *Hierarchy, o RootOptions) (string, error) {
	if o.Path == "" {
		if o.Hash == "" || strings.ContainsAny(o.Hash, "/\n") {
			return "", fmt.Errorf("cgroup root: bad hash %q", o.Hash)
		}
		return path.Join(delegated(h, o.leaf()), "reconciled-"+o.Hash), nil
	}
	p := path.Clean(o.Path)
	if !path.IsAbs(p) {
		return "", fmt.Errorf("cgroup root %q: not an absolute path", o.Path)
	}
	if rel, ok := under(p, path.Clean(h.Mount)); ok {
		return path.Join(path.Clean("/"+h.MountRoot), rel), nil
	}
	return p, nil
}

// under reports whether p is base or below it, and p relative to base.
func under(p, base string) (string, bool) {
	if p == base {
		return "/", true
	}
	if base == "/" {
		return p, true
	}
	if strings.HasPrefix(p, base+"/") {
		return p[len(base):], true
	}
	return "", false
}

// EnterLeaf moves the calling process into the v2 cgroup <own>/<leaf>
// when the root that o names lies under the daemon's own cgroup and that
// cgroup is not the hierarchy's root (in a container with a cgroup
// namespace, "/" usually is not): cgroup v2 lets a non-root cgroup
// with processes enable no controller for its children (the "no internal
// processes" rule), and systemd's delegation rules ask for processes in
// leaves only. Call it before OpenRoot, from the daemon's main, once. It
// returns the leaf's cgroup path, or "" when nothing moved. Only the
// daemon moves: never into an instance cgroup, and its children started
// later inherit the leaf.
func EnterLeaf(l Layout, o RootOptions) (string, error) {
	return enterLeaf(l, o, os.Getpid())
}

func enterLeaf(l Layout, o RootOptions, pid int) (string, error) {
	if l.V2 == nil {
		return "", ErrNoV2
	}
	h := l.V2
	root, err := rootPath(h, o)
	if err != nil {
		return "", err
	}
	own := h.Own
	if own != delegated(h, o.leaf()) {
		return "", nil
	}
	if _, ok := under(root, own); !ok {
		return "", nil
	}
	ownDir, ok := h.Dir(own)
	if !ok || isHierarchyRoot(ownDir) {
		return "", nil
	}
	leaf := path.Join(own, o.leaf())
	dir, ok := h.Dir(leaf)
	if !ok {
		return "", fmt.Errorf("enter leaf cgroup %s: outside the mount %s", leaf, h.Mount)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("enter leaf cgroup: %w", err)
	}
	if err := writeControl(dir, fileProcs, strconv.Itoa(pid)); err != nil {
		return "", fmt.Errorf("enter leaf cgroup: %w", err)
	}
	return leaf, nil
}

// isHierarchyRoot reports whether dir is the root cgroup of its
// hierarchy, which the no-internal-processes rule exempts. It is told by
// the absence of cgroup.type (every other v2 cgroup has one), not by the
// path "/": in a cgroup namespace (a container) "/" is an ordinary cgroup.
func isHierarchyRoot(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, fileType))
	return errors.Is(err, fs.ErrNotExist)
}

// Root is the daemon's cgroup for its instances, ROOT in ROOT/NAME/NAME-i,
// in the v2 hierarchy and, on a hybrid host, in each v1 hierarchy a
// controller is used from. Its methods are safe for concurrent use.
type Root struct {
	layout  Layout
	path    string            // cgroup path in v2
	v2      string            // its directory
	v1      map[string]string // controller -> root directory in its v1 hierarchy
	ctrls   map[string]Controller
	enabled []string // controllers enabled in v2 subtree_control, for NAME dirs
	hasKill bool     // cgroup.kill exists (Linux 5.14)
	noV1Mem bool

	mu   sync.Mutex
	refs map[string]int      // program -> instances created and not removed
	live map[string]struct{} // those instances, by NAME/NAME-i (Instance.rel)

	// mkdirMu lets one Create make its directories at a time. The kernel
	// makes cgroups one at a time anyway (under its cgroup mutex); a start
	// of many waiting there would hold a thread each, which the runtime
	// keeps for good, where waiting here parks a goroutine.
	mkdirMu sync.Mutex

	// fd is an O_PATH descriptor of the v2 directory while hasFD (from
	// open until Remove): the busy paths (a start's mkdir, an exit's
	// cgroup.events, a stop's cgroup.procs and rmdir) name their files
	// relative to it rather than walk from / across two mounts each time.
	// fdMu is held (read) across each use, so that Remove cannot close it
	// under one.
	fdMu  sync.RWMutex
	fd    int
	hasFD bool

	// afterMkdir, when set, runs after each cgroup mkdir: tests that lay a
	// cgroup2 tree out as plain files create the control files there.
	afterMkdir func(dir string) error
}

// OpenRoot creates (or reopens) the root in the v2 hierarchy and enables
// in cgroup.subtree_control, from the root's nearest pre-existing
// ancestor down to the root, every wanted controller (memory, cpu, pids)
// that the ancestor's cgroup.controllers offers. A controller that cannot
// be enabled is used from its v1 hierarchy when there is one; Controllers
// says which is which. The root never contains the daemon's own cgroup.
func OpenRoot(l Layout, o RootOptions) (*Root, error) {
	if l.V2 == nil {
		return nil, ErrNoV2
	}
	h := l.V2
	p, err := rootPath(h, o)
	if err != nil {
		return nil, err
	}
	if _, inside := under(h.Own, p); inside {
		return nil, fmt.Errorf("cgroup root %s: contains the daemon's own cgroup %s", p, h.Own)
	}
	dir, ok := h.Dir(p)
	if !ok {
		return nil, fmt.Errorf("cgroup root %s: outside the mount %s", p, h.Mount)
	}
	r := &Root{layout: l, path: p, v2: dir, v1: map[string]string{},
		ctrls: map[string]Controller{}, noV1Mem: o.NoV1MemoryAccounting,
		refs: map[string]int{}, live: map[string]struct{}{}}
	return r, r.open(o)
}

// instanceKey names an instance cgroup, PROGRAM/NAME-i.
type instanceKey struct{ program, name string }

// open is OpenRoot after the paths are known; a fake-tree test calls it
// with afterMkdir set.
func (r *Root) open(o RootOptions) error {
	chain, err := r.mkdirChain(r.v2)
	if err != nil {
		return fmt.Errorf("create cgroup root %s: %w", r.v2, err)
	}
	offered, err := readControllers(filepath.Join(chain[0], fileControllers))
	if err != nil {
		return fmt.Errorf("open cgroup root: %w", err)
	}
	for _, c := range wanted() {
		why := ""
		if !offered[c] {
			why = "not in " + filepath.Join(chain[0], fileControllers)
			if r.layout.V1[c] != nil {
				why += " (it is bound to a cgroup v1 hierarchy)"
			}
		} else {
			for _, d := range chain {
				if err := writeControl(d, fileSubtree, "+"+c); err != nil {
					why = err.Error()
					if errors.Is(err, unix.EBUSY) {
						why += " (cgroup v2's no-internal-processes rule: " + d + " has processes; see EnterLeaf)"
					}
					break
				}
			}
		}
		if why == "" {
			r.ctrls[c] = Controller{Name: c, Version: V2}
			r.enabled = append(r.enabled, c)
			continue
		}
		r.ctrls[c] = Controller{Name: c, Version: Unavailable, Why: why}
		if v1, ok := r.v1Root(c, o); ok {
			r.v1[c] = v1
			r.ctrls[c] = Controller{Name: c, Version: V1, Why: why}
		}
	}
	// cpu.stat is in every v2 cgroup since Linux 4.15; before that CPU
	// time comes from v1 cpuacct, at the cost of one more cgroup each.
	if _, err := os.Stat(filepath.Join(r.v2, fileCPUStat)); err != nil {
		if cpuacct, ok := r.v1Root(ctrlCPUAcct, o); ok {
			r.v1[ctrlCPUAcct] = cpuacct
		}
	}
	_, err = os.Stat(filepath.Join(r.v2, fileKill))
	r.hasKill = err == nil
	fd, err := openAt(unix.AT_FDCWD, r.v2, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open cgroup root: %w", err)
	}
	r.fd, r.hasFD = fd, true
	return nil
}

// at calls f with the root's directory fd and rel, a path below the root;
// once the root is removed, with unix.AT_FDCWD and rel's full path. Its
// result is f's.
func (r *Root) at(rel string, f func(dirfd int, p string) error) error {
	r.fdMu.RLock()
	defer r.fdMu.RUnlock()
	if !r.hasFD {
		return f(unix.AT_FDCWD, filepath.Join(r.v2, rel))
	}
	return f(r.fd, rel)
}

// mkdirChain creates dir and its missing parents (each a cgroup) and
// returns the nearest ancestor that existed, followed by every directory
// created, down to dir (which is last, and may have existed).
func (r *Root) mkdirChain(dir string) ([]string, error) {
	var missing []string
	d := dir
	for {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			return nil, fmt.Errorf("no existing ancestor of %s", dir)
		}
		d = parent
	}
	chain := []string{d}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := r.mkdir(missing[i]); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		chain = append(chain, missing[i])
	}
	if len(chain) == 1 { // dir existed: its parent is the ancestor
		chain = []string{filepath.Dir(dir), dir}
	}
	return chain, nil
}

func (r *Root) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if r.afterMkdir != nil {
		return r.afterMkdir(dir)
	}
	return nil
}

// v1Root returns the root's directory in controller c's v1 hierarchy:
// the same path below the daemon's own v1 cgroup as the root has below
// its delegated v2 cgroup, or, for a root outside it, the root's own
// cgroup path (as runc uses one path in every hierarchy).
func (r *Root) v1Root(c string, o RootOptions) (string, bool) {
	h := r.layout.V1[c]
	if h == nil {
		return "", false
	}
	p := r.path
	if rel, ok := under(r.path, delegated(r.layout.V2, o.leaf())); ok {
		p = path.Join(h.Own, rel)
	}
	return h.Dir(p)
}

// Path returns the root's cgroup path in the v2 hierarchy.
func (r *Root) Path() string { return r.path }

// Dir returns the root's directory in the v2 hierarchy.
func (r *Root) Dir() string { return r.v2 }

// Controllers reports, for memory, cpu and pids in that order, where the
// root uses each.
func (r *Root) Controllers() []Controller {
	out := make([]Controller, 0, 3)
	for _, c := range wanted() {
		out = append(out, r.ctrls[c])
	}
	return out
}

// Check returns a *ResourceError for the first limit in res whose
// controller is unavailable, and nil when Create can apply them all.
func (r *Root) Check(res Resources) error {
	for _, l := range res.limits() {
		if c := r.ctrls[l.controller]; c.Version == Unavailable {
			return &ResourceError{Field: l.field, Controller: l.controller,
				Err: &unavailableError{name: l.controller, why: c.Why}}
		}
	}
	return nil
}

// Remove removes the root's directories (v2 and v1) once they are empty:
// at shutdown, after every instance was removed. It also closes the
// root's descriptor; methods called later name their files by full path.
func (r *Root) Remove() error {
	r.fdMu.Lock()
	if r.hasFD {
		_ = unix.Close(r.fd)
		r.hasFD = false
	}
	r.fdMu.Unlock()
	var errs []error
	for _, d := range r.allRoots() {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup root: %w", err))
		}
	}
	return errors.Join(errs...)
}

// allRoots returns the v2 root and each distinct v1 root, v2 first.
func (r *Root) allRoots() []string {
	dirs := []string{r.v2}
	for _, c := range []string{ctrlMemory, ctrlCPU, ctrlCPUAcct, ctrlPids} {
		if d, ok := r.v1[c]; ok && !contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
