package reconciler

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

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
	entries, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", s.dir, err)
	}
	found = map[string]scanned{}
	files := map[string][]string{} // program name -> file names
	seen := map[string]bool{}
	for _, e := range entries {
		kind, name := spec.Classify(e.Name())
		switch kind {
		case spec.BadName:
			bad = append(bad, e.Name())
			continue
		case spec.Ignored:
			continue
		}
		files[name] = append(files[name], e.Name())
	}
	for name, fs := range files {
		sort.Strings(fs)
		if len(fs) > 1 {
			found[name] = scanned{err: fmt.Errorf("%s: both %s exist: keep one", name, joinNames(fs))}
			continue
		}
		res, ok := s.read(fs[0])
		if !ok {
			continue // vanished or not a regular file
		}
		seen[fs[0]] = true
		found[name] = res
	}
	for f := range s.cache {
		if !seen[f] {
			delete(s.cache, f)
		}
	}
	return found, bad, nil
}

// read decodes one manifest, from the cache when its key is unchanged.
func (s *scanner) read(file string) (scanned, bool) {
	path := filepath.Join(s.dir, file)
	fi, err := os.Stat(path) // follows symlinks
	if err != nil || !fi.Mode().IsRegular() {
		return scanned{}, false
	}
	key := keyOf(fi)
	if c, ok := s.cache[file]; ok && c.key == key {
		return c.res, true
	}
	f, err := os.Open(path)
	if err != nil {
		return scanned{}, false
	}
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxManifestSize+1))
	f.Close()
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

func joinNames(fs []string) string {
	out := ""
	for i, f := range fs {
		if i > 0 {
			out += " and "
		}
		out += f
	}
	return out
}
