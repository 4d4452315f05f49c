package spec

// Decoding of the containment settings: spec.resources (the instance's
// cgroup, in Kubernetes units), spec.ioNice and spec.limits (applied to the
// process before exec).

import (
	"sort"
	"strconv"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

const (
	// minMemory is the smallest resources.memory. A smaller cgroup cannot
	// hold the exec shim and a small program, so the start would end in an
	// OOM kill that looks like the program's fault; Docker refuses small
	// limits for the same reason.
	minMemory = 4 << 20
	// minMilliCPU is the smallest resources.cpu: with cgroups' usual period
	// of 100ms (Kubernetes's), 10m is a quota of 1ms, the least the kernel
	// takes.
	minMilliCPU = 10
	// maxMilliCPU, a million cores, keeps the quota far from overflowing.
	maxMilliCPU = 1_000_000_000
	// maxPids is the kernel's largest pid_max (PID_MAX_LIMIT): a pids limit
	// above it limits nothing.
	maxPids = 4 << 20
)

func (d *decoder) resources(n *yaml.Node, path string, r *Resources) {
	d.fields(n, path, []field{
		{"memory", func(k, v *yaml.Node, p string) {
			s, ok := d.scalar(k, v, p, "a quantity such as 512Mi or 1G", "!!str", "!!int", "!!float")
			if !ok {
				return
			}
			b, err := parseMemory(s)
			switch {
			case err != nil:
				d.add(k, p, "%v", err)
			case b < minMemory:
				d.add(k, p, "must be at least 4Mi: a smaller cgroup cannot even start a program")
			default:
				r.Memory = b
			}
		}},
		{"cpu", func(k, v *yaml.Node, p string) {
			s, ok := d.scalar(k, v, p, "a quantity such as 500m or 0.5", "!!str", "!!int", "!!float")
			if !ok {
				return
			}
			m, err := parseMilliCPU(s)
			switch {
			case err != nil:
				d.add(k, p, "%v", err)
			case m < minMilliCPU:
				d.add(k, p, "must be at least 10m: the kernel's smallest quota is 1ms per 100ms")
			case m > maxMilliCPU:
				d.add(k, p, "must be at most 1000000")
			default:
				r.MilliCPU = m
			}
		}},
		{"pids", func(k, v *yaml.Node, p string) {
			var n int
			before := len(d.errs)
			d.integer(k, v, p, 1, maxPids, &n)
			if len(d.errs) == before {
				r.Pids = int64(n)
			}
		}},
	})
}

// ioNice decodes {class, level} as ionice(1) takes them: level 0..7 for
// realtime and best-effort (4 when not given), none for idle.
func (d *decoder) ioNice(n *yaml.Node, path string) *IONice {
	io := &IONice{}
	var classSeen, levelSeen bool
	d.fields(n, path, []field{
		{"class", func(k, v *yaml.Node, p string) {
			classSeen = true
			d.enum(k, v, p, (*string)(&io.Class), string(IONiceBestEffort), string(IONiceIdle), string(IONiceRealtime))
		}},
		{"level", func(k, v *yaml.Node, p string) {
			levelSeen = true
			d.integer(k, v, p, 0, 7, &io.Level)
		}},
	})
	if deref(n).Kind != yaml.MappingNode {
		return nil
	}
	classPath, levelPath := join(path, "class"), join(path, "level")
	switch {
	case !classSeen:
		d.add(n, classPath, "required: best-effort, idle or realtime")
	case io.Class == IONiceIdle && levelSeen:
		d.add(d.at(levelPath), levelPath, "the idle class has no levels")
	case io.Class != IONiceIdle && !levelSeen:
		io.Level = DefaultIONiceLevel
	}
	return io
}

// rlimitUnit says how a limit's value is written.
type rlimitUnit int

const (
	unitCount        rlimitUnit = iota // a whole number
	unitBytes                          // a size
	unitSeconds                        // a duration in whole seconds (cpu)
	unitMicroseconds                   // a duration in whole microseconds (rttime)
)

// RlimitNames returns the names spec.limits takes, sorted: those of
// limits.conf(5) and docker's --ulimit, less the ones Linux ignores.
func RlimitNames() []string {
	return []string{"as", "core", "cpu", "data", "fsize", "memlock", "msgqueue", "nofile", "nproc", "rtprio", "rttime", "sigpending", "stack"}
}

func rlimitUnitOf(name string) rlimitUnit {
	switch name {
	case "as", "core", "data", "fsize", "memlock", "msgqueue", "stack":
		return unitBytes
	case "cpu":
		return unitSeconds
	case "rttime":
		return unitMicroseconds
	}
	return unitCount
}

// ignoredRlimit says why a limit Linux accepts and does not enforce is
// refused: accepting it would be a setting that does nothing.
func ignoredRlimit(name string) (string, bool) {
	switch name {
	case "rss":
		return "Linux ignores it; resources.memory limits memory", true
	case "locks":
		return "Linux ignores it since 2.4.25", true
	}
	return "", false
}

func (d *decoder) limits(n *yaml.Node, path string) []Rlimit {
	n = deref(n)
	if n.Kind == yaml.MappingNode {
		// Taken out before fields() so that they get their reason rather
		// than "unknown field".
		kept := *n
		kept.Content = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			if why, ok := ignoredRlimit(n.Content[i].Value); ok {
				d.add(n.Content[i], join(path, n.Content[i].Value), "%s", why)
				continue
			}
			kept.Content = append(kept.Content, n.Content[i], n.Content[i+1])
		}
		n = &kept
	}
	var out []Rlimit
	var fs []field
	for _, name := range RlimitNames() {
		fs = append(fs, field{name, func(k, v *yaml.Node, p string) {
			if l, ok := d.rlimit(k, v, p, name); ok {
				out = append(out, l)
			}
		}})
	}
	d.fields(n, path, fs)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// rlimit decodes one limit: a value for soft and hard alike, or {soft, hard}.
func (d *decoder) rlimit(k, v *yaml.Node, path, name string) (Rlimit, bool) {
	l := Rlimit{Name: name}
	if v.Kind != yaml.MappingNode {
		val, ok := d.rlimitValue(k, v, path, name)
		l.Soft, l.Hard = val, val
		return l, ok
	}
	var soft, hard *yaml.Node
	ok := true
	d.fields(v, path, []field{
		{"soft", func(k, v *yaml.Node, p string) {
			soft = v
			var vok bool
			l.Soft, vok = d.rlimitValue(k, v, p, name)
			ok = ok && vok
		}},
		{"hard", func(k, v *yaml.Node, p string) {
			hard = v
			var vok bool
			l.Hard, vok = d.rlimitValue(k, v, p, name)
			ok = ok && vok
		}},
	})
	for _, m := range []struct {
		key  string
		node *yaml.Node
	}{{"soft", soft}, {"hard", hard}} {
		if m.node == nil {
			d.add(v, join(path, m.key), "required (or write one value for both)")
			ok = false
		}
	}
	if ok && l.Soft > l.Hard {
		p := join(path, "soft")
		d.add(d.at(p), p, "%s is greater than hard %s", soft.Value, hard.Value)
		ok = false
	}
	return l, ok
}

// rlimitValue decodes "unlimited" or a value in the limit's unit.
func (d *decoder) rlimitValue(k, v *yaml.Node, path, name string) (uint64, bool) {
	unit := rlimitUnitOf(name)
	var want string
	switch unit {
	case unitCount:
		want = "a whole number or unlimited"
	case unitBytes:
		want = "a size such as 64Ki or 8Mi, or unlimited"
	case unitSeconds:
		want = "a duration such as 60s or 1h, or unlimited"
	case unitMicroseconds:
		want = "a duration such as 200ms, or unlimited"
	}
	s, ok := d.scalar(k, v, path, want, "!!str", "!!int", "!!float")
	if !ok {
		return 0, false
	}
	if v.Tag == "!!str" && s == "unlimited" {
		if name == "nofile" {
			d.add(k, path, "cannot be unlimited: the kernel caps open files at fs.nr_open")
			return 0, false
		}
		return Unlimited, true
	}
	switch unit {
	case unitBytes:
		n, err := parseSize(s)
		if err != nil || v.Tag == "!!float" {
			d.add(k, path, "%q is not %s", s, want)
			return 0, false
		}
		return uint64(n), true
	case unitSeconds:
		return d.wholeDuration(k, path, s, time.Second, "seconds")
	case unitMicroseconds:
		return d.wholeDuration(k, path, s, time.Microsecond, "microseconds")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v.Tag != "!!int" {
		d.add(k, path, "%q is not %s", s, want)
		return 0, false
	}
	if n == 0 && (name == "nofile" || name == "nproc") {
		d.add(k, path, "must be at least 1: with 0 the program cannot start")
		return 0, false
	}
	return n, true
}

// wholeDuration reads a duration as a whole number of steps, at least one.
func (d *decoder) wholeDuration(k *yaml.Node, path, s string, step time.Duration, steps string) (uint64, bool) {
	dur, err := parseDuration(s)
	switch {
	case err != nil:
		d.add(k, path, "%v", err)
		return 0, false
	case dur < step || dur%step != 0:
		d.add(k, path, "must be a whole number of %s, at least %v", steps, step)
		return 0, false
	}
	return uint64(dur / step), true
}
