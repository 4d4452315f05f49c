package usage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/regfile"
)

// RecordName is the record's file name in the daemon's state directory.
const RecordName = "cgroup"

// maxRecordSize bounds a read of the record: a few lines of paths.
const maxRecordSize = 64 << 10

// keyV2 names the v2 root's line; the other lines are named by their v1
// controller.
const keyV2 = "v2"

// RecordPath returns the record's path in stateDir.
func RecordPath(stateDir string) string { return filepath.Join(stateDir, RecordName) }

// WriteRecord writes where the daemon's instance cgroups are, one
// "KEY DIRECTORY" line each: "v2" for the root's v2 directory, then one
// line per v1 controller it uses on a hybrid host. Written atomically, so
// a command line reading it never sees half of it.
func WriteRecord(stateDir string, d cgroup.Dirs) error {
	var b bytes.Buffer
	add := func(key, dir string) error {
		if !filepath.IsAbs(dir) || strings.ContainsAny(dir, "\n") {
			return fmt.Errorf("record cgroup root: %s directory %q is not an absolute path on one line", key, dir)
		}
		fmt.Fprintf(&b, "%s %s\n", key, dir)
		return nil
	}
	if err := add(keyV2, d.V2); err != nil {
		return err
	}
	ctrls := make([]string, 0, len(d.V1))
	for c := range d.V1 {
		ctrls = append(ctrls, c)
	}
	sort.Strings(ctrls)
	for _, c := range ctrls {
		if c == keyV2 || c == "" || strings.ContainsAny(c, " \n") {
			return fmt.Errorf("record cgroup root: bad controller name %q", c)
		}
		if err := add(c, d.V1[c]); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(RecordPath(stateDir), b.Bytes(), atomicfile.Options{Mode: 0o644}); err != nil {
		return fmt.Errorf("record cgroup root: %w", err)
	}
	return nil
}

// RemoveRecord removes the record, if there is one: the daemon runs
// without cgroups, and one left from an earlier run must not send the
// command line to cgroups no instance uses.
func RemoveRecord(stateDir string) error {
	if err := os.Remove(RecordPath(stateDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cgroup record: %w", err)
	}
	return nil
}

// ReadRecord reads what WriteRecord wrote. The error wraps fs.ErrNotExist
// when there is no record: the daemon runs without cgroups.
func ReadRecord(stateDir string) (cgroup.Dirs, error) {
	// Not through a link, not from a FIFO, bounded (internal/regfile).
	data, err := regfile.ReadFile(RecordPath(stateDir), false, maxRecordSize)
	if err != nil {
		return cgroup.Dirs{}, fmt.Errorf("read cgroup record: %w", err)
	}
	d, err := parseRecord(data)
	if err != nil {
		return cgroup.Dirs{}, fmt.Errorf("read cgroup record %s: %w", RecordPath(stateDir), err)
	}
	return d, nil
}

func parseRecord(data []byte) (cgroup.Dirs, error) {
	d := cgroup.Dirs{V1: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		key, dir, ok := strings.Cut(sc.Text(), " ")
		if !ok || key == "" || !filepath.IsAbs(dir) {
			return cgroup.Dirs{}, fmt.Errorf("line %d: want KEY DIRECTORY, got %q", n, sc.Text())
		}
		if key == keyV2 {
			d.V2 = dir
		} else {
			d.V1[key] = dir
		}
	}
	if err := sc.Err(); err != nil {
		return cgroup.Dirs{}, err
	}
	if d.V2 == "" {
		return cgroup.Dirs{}, errors.New("no v2 line")
	}
	return d, nil
}
