package benchkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Workspace is a harness's scratch directory: the daemon's spec directory,
// a staging directory beside it where spec files are written before the
// rename, and the daemon's log.
type Workspace struct {
	Root  string
	Specs string // ROOT/specs: the daemon's --dir
	Stage string // ROOT/stage
	Log   string // ROOT/daemon.log
	// Wait bounds Remove's wait for the daemon.
	Wait time.Duration

	dispose bool // Dispose removes Root
}

// NewWorkspace makes the directories of a Workspace in root, or in a new
// directory under $TMPDIR named after tempPrefix when root is empty. Dispose
// removes a directory it made, unless keep is set (it removes it at once if
// it fails).
func NewWorkspace(root, tempPrefix string, keep bool, wait time.Duration) (*Workspace, error) {
	made := false
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, err
		}
		made = true
	}
	w := &Workspace{
		Root:    root,
		Specs:   filepath.Join(root, "specs"),
		Stage:   filepath.Join(root, "stage"),
		Log:     filepath.Join(root, "daemon.log"),
		Wait:    wait,
		dispose: made && !keep,
	}
	for _, d := range []string{w.Specs, w.Stage} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			if made {
				os.RemoveAll(root)
			}
			return nil, err
		}
	}
	return w, nil
}

// Dispose removes the directory if NewWorkspace made it and was not asked to
// keep it. w may be nil: there is nothing to remove then.
func (w *Workspace) Dispose() {
	if w != nil && w.dispose {
		os.RemoveAll(w.Root)
	}
}

// StatusPath is the path of NAME.status.yaml.
func (w *Workspace) StatusPath(name string) string {
	return filepath.Join(w.Specs, name+".status.yaml")
}

// Place writes body to a staging file and renames it to NAME.yaml in the
// spec directory; it returns the time just before the rename.
func (w *Workspace) Place(name, body string) (time.Time, error) {
	tmp := filepath.Join(w.Stage, name+".yaml")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	if err := os.Rename(tmp, filepath.Join(w.Specs, name+".yaml")); err != nil {
		return time.Time{}, err
	}
	return t0, nil
}

// Remove deletes NAME.yaml and waits, polling every 5 ms, until the daemon
// removed its status file (it has stopped every instance of it).
func (w *Workspace) Remove(name string) error {
	if err := os.Remove(filepath.Join(w.Specs, name+".yaml")); err != nil {
		return err
	}
	st := w.StatusPath(name)
	deadline := time.Now().Add(w.Wait)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(st); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s still there %v after deleting the spec", st, w.Wait)
}

// StatusHead is the head of a NAME.status.yaml, the fields before
// conditions, parsed crudely; absent numbers are -1.
type StatusHead struct {
	SpecHash, Desired        string
	Replicas, Ready, Updated int
}

// ReadStatusHead reads the first 2 KiB of a status file (the head is a few
// hundred bytes; the instances after it, with N in the thousands, are not
// read: the harnesses poll this every few milliseconds). ok is false when
// the file cannot be opened.
func ReadStatusHead(path string) (s StatusHead, ok bool) {
	s = StatusHead{Replicas: -1, Ready: -1, Updated: -1}
	f, err := os.Open(path)
	if err != nil {
		return s, false
	}
	defer f.Close()
	var buf [2048]byte
	n, _ := f.Read(buf[:])
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		t := strings.TrimSpace(line)
		if t == "conditions:" || t == "instances:" {
			break
		}
		k, v, ok := strings.Cut(t, ": ")
		if !ok {
			continue
		}
		switch k {
		case "specHash":
			s.SpecHash = v
		case "desired":
			s.Desired = v
		case "replicas":
			s.Replicas, _ = strconv.Atoi(v)
		case "readyReplicas":
			s.Ready, _ = strconv.Atoi(v)
		case "updatedReplicas":
			s.Updated, _ = strconv.Atoi(v)
		}
	}
	return s, true
}
