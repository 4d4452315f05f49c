package status

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/regfile"
)

const (
	statusSuffix = ".status.yaml"
	fileMode     = 0o644
	// MaxStatusFileSize is the most a status file reader takes: a status
	// of 10000 instances, each with every field filled, is about 5 MB. A
	// larger file is not ours and is refused (ErrTooLarge) unread.
	MaxStatusFileSize = 16 << 20
)

// ErrInvalidName is returned when a program name cannot be turned into a file
// name in the directory (empty, hidden, or containing a path separator).
var ErrInvalidName = errors.New("invalid program name")

// checkName refuses names that would escape dir or hide the file. The full
// naming rule belongs to package spec; this only keeps paths safe.
func checkName(name string) error {
	if name == "" || name[0] == '.' || strings.ContainsAny(name, `/\`+"\x00") {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// StatusPath returns the path of the status file of program name in dir.
func StatusPath(dir, name string) string {
	return filepath.Join(dir, name+statusSuffix)
}

// sansUpdatedAt returns the comparable form of the YAML of a status, which
// decides whether a file must be rewritten: everything but updatedAt, which
// Marshal writes last.
func sansUpdatedAt(data []byte) []byte {
	if i := bytes.LastIndex(data, []byte("\n  updatedAt:")); i >= 0 {
		return data[:i+1]
	}
	return data
}

// WriteFile writes st to dir/NAME.status.yaml atomically, unless the file
// already holds the same status apart from updatedAt. It reports whether it
// wrote. An empty APIVersion or Kind is written as APIVersion and Kind. The caller sets st.Status.UpdatedAt; because an unchanged status is not
// written, the file keeps the updatedAt of the last real change.
func WriteFile(dir string, st ProgramStatus) (changed bool, err error) {
	changed, _, err = writeStatus(dir, st, nil, nil)
	return changed, err
}

// writeStatus is WriteFile with the comparable form of the current content
// supplied by a caller that remembers it (nil: read it from the file), and
// the caller's encodeCache of the program (nil: none). It returns the
// comparable form of st for the caller to remember.
func writeStatus(dir string, st ProgramStatus, prev []byte, c *encodeCache) (changed bool, cmp []byte, err error) {
	name := st.Metadata.Name
	if err := checkName(name); err != nil {
		return false, nil, fmt.Errorf("write status: %w", err)
	}
	if st.APIVersion == "" {
		st.APIVersion = APIVersion
	}
	if st.Kind == "" {
		st.Kind = Kind
	}
	data := marshal(st, c)
	cmp = sansUpdatedAt(data)
	path := StatusPath(dir, name)
	if prev == nil {
		prev = comparableFile(path)
	}
	if prev != nil && bytes.Equal(prev, cmp) {
		// The file may be gone although we wrote it: DIR can be a symlink
		// re-pointed to another checkout (git-sync). Or something else may
		// have taken its name (a FIFO, a link): the rename replaces it.
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			return false, cmp, nil
		}
	}
	if err := writeAtomic(dir, filepath.Base(path), data); err != nil {
		return false, nil, fmt.Errorf("write status %s: %w", path, err)
	}
	return true, cmp, nil
}

// comparableFile returns the comparable form of the status in path, or nil when
// it cannot be read or parsed, in which case it is simply rewritten. What is
// not a regular file (a FIFO, a link to /dev/zero) is not read: the rename
// replaces it.
func comparableFile(path string) []byte {
	data, err := regfile.ReadFile(path, false, MaxStatusFileSize)
	if err != nil {
		return nil
	}
	// A file this package wrote compares byte for byte; anything else (an
	// older layout, a hand edit) differs and is simply rewritten.
	return sansUpdatedAt(data)
}

// writeAtomic replaces dir/base with data (atomicfile.Write), mode 0644.
func writeAtomic(dir, base string, data []byte) error {
	return atomicfile.Write(filepath.Join(dir, base), data, atomicfile.Options{Mode: fileMode})
}

// removeStaleTemps removes temp files left in dir by a writer that died between
// creating and renaming them. Only the daemon holding the directory lock may
// call it, since another writer's temp files would look the same.
func removeStaleTemps(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, atomicfile.TempGlob("*"+statusSuffix)))
	if err != nil {
		return nil, err
	}
	var errs []error
	var removed []string
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}

// ReadFile reads and parses the status file at path. Only a regular file
// of at most MaxStatusFileSize bytes is read: a symbolic link, a FIFO, a
// socket or a device in its place is refused (errors.Is
// regfile.ErrNotRegular) without blocking and unread.
func ReadFile(path string) (ProgramStatus, error) {
	data, err := regfile.ReadFile(path, false, MaxStatusFileSize)
	if err != nil {
		return ProgramStatus{}, fmt.Errorf("read status: %w", err)
	}
	st, err := Parse(data)
	if err != nil {
		return ProgramStatus{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ReadDir reads every NAME.status.yaml in dir, sorted by NAME, skipping hidden
// (temp) files, directories and files that vanish while it reads. A file that
// cannot be read or parsed (or is not a regular file: ReadFile) does not stop
// the others: ReadDir returns what it could read together with the joined
// errors.
func ReadDir(dir string) ([]ProgramStatus, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read status dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, statusSuffix) || e.IsDir() {
			continue
		}
		if stem := strings.TrimSuffix(n, statusSuffix); stem != "" {
			names = append(names, stem)
		}
	}
	// Sort by program name, not file name: "a-b.status.yaml" sorts before
	// "a.status.yaml" but "a" comes before "a-b".
	sort.Strings(names)
	var out []ProgramStatus
	var errs []error
	for _, n := range names {
		st, err := ReadFile(StatusPath(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

// RemoveFile removes the status file of program name in dir. A file that is
// already gone is not an error.
func RemoveFile(dir, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("remove status: %w", err)
	}
	if err := os.Remove(StatusPath(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove status: %w", err)
	}
	return nil
}
