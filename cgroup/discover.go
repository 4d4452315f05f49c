package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// The v1 controllers the package uses. Other v1 hierarchies (cpuset,
// freezer, name=systemd, ...) are discovered but never touched.
const (
	ctrlMemory  = "memory"
	ctrlCPU     = "cpu"
	ctrlCPUAcct = "cpuacct"
	ctrlPids    = "pids"
)

// Hierarchy is one mounted cgroup hierarchy and where the daemon sits in it.
type Hierarchy struct {
	// Mount is the mount point, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified.
	Mount string
	// MountRoot is the part of the hierarchy mounted there: "/" unless a
	// container bind-mounts its own subtree (field 4 of mountinfo).
	MountRoot string
	// Own is the daemon's cgroup in this hierarchy, as /proc/self/cgroup
	// names it (a path from the hierarchy's root, e.g. /system.slice/x.service).
	Own string
	// Controllers are the controllers bound to a v1 hierarchy (e.g. cpu,
	// cpuacct); empty for cgroup2, whose controllers are per cgroup.
	Controllers []string
}

// Dir returns the directory of the cgroup at path p (a path from the
// hierarchy's root), and false when p lies outside the mounted subtree.
func (h Hierarchy) Dir(p string) (string, bool) {
	p = path.Clean("/" + p)
	root := path.Clean("/" + h.MountRoot)
	if root == "/" {
		return path.Join(h.Mount, p), true
	}
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", false
	}
	return path.Join(h.Mount, strings.TrimPrefix(p, root)), true
}

// OwnDir returns the directory of the daemon's own cgroup in this hierarchy.
func (h Hierarchy) OwnDir() (string, bool) { return h.Dir(h.Own) }

// Layout is what Discover finds: the cgroup2 hierarchy (nil when cgroup2 is
// not mounted or the daemon's cgroup is not visible in it) and the v1
// hierarchies by controller name (cpu and cpuacct share one when mounted
// together). A pure-v2 host has no V1 entries; a pure-v1 host has no V2.
type Layout struct {
	V2 *Hierarchy
	V1 map[string]*Hierarchy
}

// Mount is one cgroup or cgroup2 line of /proc/self/mountinfo.
type Mount struct {
	Point   string   // mount point, unescaped
	Root    string   // root of the mount within its hierarchy
	V2      bool     // file system type cgroup2
	Options []string // super options, e.g. rw, cpu, cpuacct, name=systemd
}

// Membership is one line of /proc/self/cgroup: a hierarchy and the
// process's cgroup in it.
type Membership struct {
	ID          string   // hierarchy ID; "0" for cgroup2
	Controllers []string // empty for cgroup2; may hold name=systemd
	Path        string
}

// ParseMountInfo returns the cgroup and cgroup2 mounts in the contents of
// /proc/self/mountinfo, in order.
func ParseMountInfo(data []byte) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("mountinfo line %d: no separator", n)
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			return nil, fmt.Errorf("mountinfo line %d: too few fields", n)
		}
		if g[0] != "cgroup" && g[0] != "cgroup2" {
			continue
		}
		mounts = append(mounts, Mount{
			Point:   unescapeMount(f[4]),
			Root:    unescapeMount(f[3]),
			V2:      g[0] == "cgroup2",
			Options: strings.Split(g[2], ","),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMount undoes the octal escapes (\040 for a space, \011, \012,
// \134) the kernel writes into mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// ParseProcCgroup returns the lines of /proc/self/cgroup.
func ParseProcCgroup(data []byte) ([]Membership, error) {
	var ms []Membership
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("/proc/self/cgroup line %d: want ID:CONTROLLERS:PATH, got %q", n+1, line)
		}
		m := Membership{ID: parts[0], Path: parts[2]}
		if parts[1] != "" {
			m.Controllers = strings.Split(parts[1], ",")
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// ErrNoCgroups means neither a cgroup2 nor a usable v1 hierarchy was found.
var ErrNoCgroups = errors.New("no cgroup hierarchy is mounted where this process can see its cgroup")

// Discover combines the contents of /proc/self/mountinfo and
// /proc/self/cgroup into a Layout. A hierarchy counts only when it is
// mounted and the daemon's cgroup lies inside the mounted subtree (a path
// starting with /.. is outside the cgroup namespace's root).
func Discover(mountinfo, selfCgroup []byte) (Layout, error) {
	mounts, err := ParseMountInfo(mountinfo)
	if err != nil {
		return Layout{}, fmt.Errorf("discover cgroups: %w", err)
	}
	members, err := ParseProcCgroup(selfCgroup)
	if err != nil {
		return Layout{}, fmt.Errorf("discover cgroups: %w", err)
	}
	l := Layout{V1: map[string]*Hierarchy{}}
	for _, m := range members {
		if strings.HasPrefix(m.Path, "/..") || !strings.HasPrefix(m.Path, "/") {
			continue
		}
		if m.ID == "0" && len(m.Controllers) == 0 {
			l.V2 = findMount(mounts, m, true)
			continue
		}
		h := findMount(mounts, m, false)
		if h == nil {
			continue
		}
		for _, c := range m.Controllers {
			if !strings.HasPrefix(c, "name=") {
				l.V1[c] = h
			}
		}
	}
	if l.V2 == nil && len(l.V1) == 0 {
		return Layout{}, ErrNoCgroups
	}
	return l, nil
}

// findMount returns the first mount of m's hierarchy that shows m.Path.
func findMount(mounts []Mount, m Membership, v2 bool) *Hierarchy {
	for _, mt := range mounts {
		if mt.V2 != v2 || (!v2 && !hasAll(mt.Options, m.Controllers)) {
			continue
		}
		h := &Hierarchy{Mount: mt.Point, MountRoot: mt.Root, Own: path.Clean(m.Path)}
		if !v2 {
			h.Controllers = m.Controllers
		}
		if _, ok := h.OwnDir(); ok {
			return h
		}
	}
	return nil
}

func hasAll(opts, want []string) bool {
	for _, w := range want {
		found := false
		for _, o := range opts {
			if o == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(want) > 0
}

// Load discovers the running process's Layout from the real files.
func Load() (Layout, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, fmt.Errorf("discover cgroups: %w", err)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Layout{}, fmt.Errorf("discover cgroups: %w", err)
	}
	return Discover(mi, cg)
}
