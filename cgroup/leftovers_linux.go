package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Leftover is an instance cgroup under the root that no live Instance of
// this Root owns: left by an earlier daemon that died, or by a Remove that
// failed.
type Leftover struct {
	Program string
	Name    string   // directory name, normally PROGRAM-INDEX
	Index   int      // -1 when Name is not PROGRAM-INDEX
	Dirs    []string // its directories: v2 first when there is one, then v1
}

// Leftovers lists the instance cgroups (ROOT/NAME/*, v2 and v1) that no
// live Instance of r owns, sorted by program and name.
func (r *Root) Leftovers() ([]Leftover, error) { return r.leftoversOf(nil) }

// leftoversOf is Leftovers for the programs mine accepts (nil: every one).
func (r *Root) leftoversOf(mine func(program string) bool) ([]Leftover, error) {
	byKey := map[instanceKey]*Leftover{}
	for _, root := range r.allRoots() {
		programs, err := readSubdirs(root)
		if err != nil {
			return nil, fmt.Errorf("list leftover cgroups: %w", err)
		}
		for _, p := range programs {
			if mine != nil && !mine(p) {
				continue
			}
			names, err := readSubdirs(filepath.Join(root, p))
			if err != nil {
				return nil, fmt.Errorf("list leftover cgroups: %w", err)
			}
			for _, n := range names {
				key := instanceKey{p, n}
				l := byKey[key]
				if l == nil {
					l = &Leftover{Program: p, Name: n, Index: indexOf(p, n)}
					byKey[key] = l
				}
				l.Dirs = append(l.Dirs, filepath.Join(root, p, n))
			}
		}
	}
	r.mu.Lock()
	var out []Leftover
	for key, l := range byKey {
		if _, live := r.live[key.program+"/"+key.name]; !live {
			out = append(out, *l)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(a, b int) bool {
		if out[a].Program != out[b].Program {
			return out[a].Program < out[b].Program
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}

func indexOf(program, name string) int {
	s, ok := strings.CutPrefix(name, program+"-")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || strconv.Itoa(i) != s {
		return -1
	}
	return i
}

// readSubdirs returns the names of the directories in dir; none when dir
// does not exist.
func readSubdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// RemoveLeftovers kills the processes of every leftover and removes its
// cgroups, and then every program directory left empty. The daemon calls
// it once, before it creates any instance. Killed processes take a moment
// to exit, so it retries the removal with a growing pause (this runs once
// at start-up, not per instance) until all are gone or ctx ends. It
// returns the leftovers it found.
func (r *Root) RemoveLeftovers(ctx context.Context) ([]Leftover, error) {
	return r.RemoveLeftoversOf(ctx, nil)
}

// RemoveLeftoversOf is RemoveLeftovers for the programs mine accepts (nil:
// every one): several daemons that share a root (one status directory,
// each running some of its programs) each clean only the programs they
// own, and never a program directory of another's.
func (r *Root) RemoveLeftoversOf(ctx context.Context, mine func(program string) bool) ([]Leftover, error) {
	ls, err := r.leftoversOf(mine)
	if err != nil {
		return nil, err
	}
	pending := ls
	pause := time.Millisecond
	for len(pending) > 0 {
		var next []Leftover
		for _, l := range pending {
			if !r.removeLeftover(l) {
				next = append(next, l)
			}
		}
		if pending = next; len(pending) == 0 {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ls, fmt.Errorf("remove leftover cgroups: %s/%s and %d more still have processes: %w",
				pending[0].Program, pending[0].Name, len(pending)-1, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, root := range r.allRoots() {
		programs, _ := readSubdirs(root)
		for _, p := range programs {
			if r.refs[p] == 0 && (mine == nil || mine(p)) {
				_ = os.Remove(filepath.Join(root, p))
			}
		}
	}
	return ls, nil
}

// removeLeftover kills what is in l's cgroups and tries to remove them;
// it reports whether all are gone.
func (r *Root) removeLeftover(l Leftover) bool {
	done := true
	for _, d := range l.Dirs {
		_ = killDir(d, r.hasKill && strings.HasPrefix(d, r.v2+"/"))
		if removeTree(d) != nil {
			done = false
		}
	}
	return done
}
