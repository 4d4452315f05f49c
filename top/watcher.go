package top

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/reconciled/reconciled/spec"
)

// redrawInterval is the least time between two changes the watcher hands
// to the view: it redraws at most ten times a second, however fast the
// files change.
const redrawInterval = 100 * time.Millisecond

// changes is what changed on disk since the view last looked, coalesced.
type changes struct {
	all       bool            // unknown (inotify overflowed): read everything
	manifests bool            // the manifest directory changed
	statuses  map[string]bool // programs whose status file changed
	events    map[string]bool // programs whose events file changed
	daemon    bool            // the state directory changed (pid, lock)
	logs      []string        // followed log files written, in the order of their first write
}

func (c *changes) empty() bool {
	return !c.all && !c.manifests && !c.daemon && len(c.statuses) == 0 && len(c.events) == 0 && len(c.logs) == 0
}

// watcher turns inotify events on the directories into changes. It watches
// directories, not files (editors and the daemon replace files by
// renaming), and the log directory only while a log is followed.
type watcher struct {
	fw                  *fsnotify.Watcher
	manifestDir         string
	statusDir, stateDir string
	out                 chan changes

	mu      sync.Mutex
	follow  []string // log files followed
	logDirs []string // directories watched for them
}

func newWatcher(manifestDir, statusDir, stateDir string) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &watcher{fw: fw, manifestDir: filepath.Clean(manifestDir), statusDir: filepath.Clean(statusDir),
		stateDir: filepath.Clean(stateDir), out: make(chan changes)}
	if err := fw.Add(w.manifestDir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch %s: %w", w.manifestDir, err)
	}
	if w.statusDir != w.manifestDir {
		if err := fw.Add(w.statusDir); err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch %s: %w", w.statusDir, err)
		}
	}
	_ = fw.Add(w.stateDir) // none yet: added when it appears
	return w, nil
}

// Follow makes the log files paths the ones whose writes count, watching
// their directories (and no longer those of the files followed before).
func (w *watcher) Follow(paths []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.follow = slices.Clone(paths)
	var dirs []string
	for _, p := range paths {
		if d := filepath.Dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range w.logDirs {
		if !slices.Contains(dirs, d) && !w.ownDir(d) {
			_ = w.fw.Remove(d)
		}
	}
	for _, d := range dirs {
		_ = w.fw.Add(d) // missing yet: added when the state directory sees it appear
	}
	w.logDirs = dirs
}

// ownDir reports whether d is watched for itself, not for a log.
func (w *watcher) ownDir(d string) bool {
	return d == w.manifestDir || d == w.statusDir || d == w.stateDir
}

// run hands changes to w.out, at most one per redrawInterval, until ctx
// ends; then it closes the inotify watcher.
func (w *watcher) run(ctx context.Context) {
	defer w.fw.Close()
	var pending changes
	timer := time.NewTimer(redrawInterval)
	timer.Stop()
	armed, due := false, false
	for {
		var out chan<- changes
		if due && !pending.empty() {
			out = w.out
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.classify(&pending, ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				pending.all = true
			}
		case <-timer.C:
			armed, due = false, true
			continue
		case out <- pending:
			pending, due = changes{}, false
			continue
		}
		if !armed && !due && !pending.empty() {
			timer.Reset(redrawInterval)
			armed = true
		}
	}
}

// classify adds what ev means to c.
func (w *watcher) classify(c *changes, ev fsnotify.Event) {
	dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	w.mu.Lock()
	followed := slices.Contains(w.follow, ev.Name)
	logDirs := w.logDirs
	w.mu.Unlock()
	if followed {
		if !slices.Contains(c.logs, ev.Name) {
			c.logs = append(c.logs, ev.Name)
		}
		return
	}
	switch {
	case dir == w.stateDir:
		c.daemon = true
		if slices.Contains(logDirs, ev.Name) && ev.Has(fsnotify.Create) {
			_ = w.fw.Add(ev.Name) // the log directory appeared
		}
		return
	case ev.Name == w.stateDir && ev.Has(fsnotify.Create):
		_ = w.fw.Add(w.stateDir)
		c.daemon = true
		return
	}
	if dir == w.statusDir && !strings.HasPrefix(base, ".") {
		switch {
		case strings.HasSuffix(base, ".status.yaml"):
			if c.statuses == nil {
				c.statuses = map[string]bool{}
			}
			c.statuses[strings.TrimSuffix(base, ".status.yaml")] = true
			return
		case strings.HasSuffix(base, ".events.jsonl"), strings.HasSuffix(base, ".events.jsonl.1"):
			if c.events == nil {
				c.events = map[string]bool{}
			}
			c.events[strings.TrimSuffix(strings.TrimSuffix(base, ".1"), ".events.jsonl")] = true
			return
		}
	}
	if dir == w.manifestDir {
		if kind, _ := spec.Classify(base); kind != spec.Ignored {
			c.manifests = true
		}
	}
}
