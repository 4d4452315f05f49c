package reconciler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// scanned is what one pass found for one program name.
type scanned struct {
	prog *spec.Program
	hash string
	err  error // the file is invalid: the last valid spec stays
}

// fileKey identifies a file's content cheaply: a rescan re-reads only files
// whose key changed. Symlinks are followed, so a ConfigMap's ..data swap
// changes the key.
type fileKey struct {
	ino, size, dev uint64
	mtime, ctime   int64
}

type cacheEntry struct {
	key fileKey
	res scanned
}

// scanner reads the directory; it remembers decoded files by fileKey.
type scanner struct {
	dir   string
	admit func(*spec.Program) (*spec.Program, error) // see Options.Admit
	cache map[string]cacheEntry                      // by file name
}

// scan reads every manifest of the directory. A missing directory is empty.
// Names it rejects (bad names) are returned in bad for the caller to report.
func (s *scanner) scan() (found map[string]scanned, bad []string, err error) {
	l, err := manifest.NewDir(s.dir).List()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", s.dir, err)
	}
	found = map[string]scanned{}
	for _, d := range l.Duplicates {
		found[d.Name] = scanned{err: fmt.Errorf("%s: both %s exist: keep one", d.Name, strings.Join(d.Bases, " and "))}
	}
	for _, p := range l.Problems {
		// There but unreadable (not a regular file, EACCES, EIO): not a
		// deletion, the last valid spec stays.
		found[p.Name] = scanned{err: p.Err}
	}
	seen := map[string]bool{}
	for _, f := range l.Files {
		res, ok := s.read(f)
		if !ok {
			continue // vanished since it was listed
		}
		seen[f.Base] = true
		found[f.Name] = res
	}
	for f := range s.cache {
		if !seen[f] {
			delete(s.cache, f)
		}
	}
	return found, l.BadNames, nil
}

// read decodes one manifest the store listed, from the cache when its key
// is unchanged.
func (s *scanner) read(f manifest.File) (scanned, bool) {
	file := f.Base
	key := keyOf(f.Info) // symlinks followed
	if c, ok := s.cache[file]; ok && c.key == key {
		return c.res, true
	}
	data, err := manifest.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return scanned{}, false
	}
	if err != nil {
		return scanned{err: fmt.Errorf("%s: %w", file, err)}, true
	}
	var res scanned
	prog, errs := spec.Parse(file, data)
	switch {
	case errs != nil:
		res.err = errs
	case s.admit != nil:
		admitted, err := s.admit(prog)
		if err != nil {
			res.err = fmt.Errorf("%s: %w", file, err)
			break
		}
		res.prog, res.hash = admitted, spec.Hash(admitted)
	default:
		res.prog, res.hash = prog, spec.Hash(prog)
	}
	// A file still being written may be caught half-way; its key changes
	// when the writer finishes, so the next pass reads it again.
	s.cache[file] = cacheEntry{key: key, res: res}
	return res, true
}

func keyOf(fi os.FileInfo) fileKey {
	k := fileKey{size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino, k.dev, k.ctime = st.Ino, st.Dev, st.Ctim.Nano()
	}
	return k
}
