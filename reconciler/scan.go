package reconciler

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// scanned is what one pass found for one program name.
type scanned struct {
	prog *spec.Program
	hash string
	err  error // the file is invalid or refused: the last valid spec stays
	// data and owner are a valid manifest's bytes and its real file's
	// owner: .reconciled/lastgood keeps them (lastGood).
	data  []byte
	owner uint32
}

// fileKey identifies a file's content cheaply: a rescan re-reads only files
// whose key changed. Symlinks are followed, so a ConfigMap's ..data swap
// changes the key. Owner and mode are part of it because the owner rule
// depends on the owner (a chown also changes ctime; the key says so
// outright).
type fileKey struct {
	ino, size, dev uint64
	mtime, ctime   int64
	uid            uint32
	mode           fs.FileMode
}

type cacheEntry struct {
	key fileKey
	res scanned
	// sum is the SHA-256 of the bytes decoded, and racy says they were
	// read too soon after the file's last change to trust its key: a write
	// of the same size within the file system's timestamp granularity
	// leaves the key as it was (git's "racy clean" entries). A racy entry
	// is read again at the next pass and kept only when its bytes match.
	sum  [sha256.Size]byte
	racy bool
	// env are the files of the manifest's spec.envFrom as the decode found
	// them, and owner the manifest's owner then: a change of one of them
	// decodes the manifest again, although its own key is the same.
	env   []envKey
	owner uint32
}

// envKey is what a scan compares of one env file: its key (zero when it
// was not there) and, under the privilege policy, the policy's verdict
// ("" when allowed), which a change of a directory or a link on its way
// changes without changing the file.
type envKey struct {
	path    string
	key     fileKey
	verdict string
}

// scanner reads the directory; it remembers decoded files by fileKey.
type scanner struct {
	dir   string
	admit func(*spec.Program) (*spec.Program, error) // see Options.Admit
	// trust is the privilege policy (Options.Trust); nil applies none.
	trust *manifest.Policy
	// fsys is where the policy looks; nil is the real file system.
	fsys  manifest.StatFS
	cache map[string]cacheEntry // by file name
	// missing says the last scan found no directory.
	missing bool
}

// scan reads every manifest of the directory. A missing directory is empty.
// Names it rejects (bad names) are returned in bad for the caller to report.
func (s *scanner) scan() (found map[string]scanned, bad []string, err error) {
	l, err := manifest.NewDir(s.dir).List()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read %s: %w", s.dir, err)
	}
	s.missing = err != nil
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
// and its env files' keys are unchanged. Under the privilege policy the mode rule is checked at every
// pass, before the file is read: a directory's or a link's change leaves the
// file's key as it is.
func (s *scanner) read(f manifest.File) (scanned, bool) {
	file := f.Base
	owner := ownerOf(f.Info)
	if s.trust != nil {
		r, err := s.trust.CheckPath(s.statFS(), s.dir, file)
		if errors.Is(err, fs.ErrNotExist) {
			return scanned{}, false
		}
		if err != nil {
			return scanned{err: fmt.Errorf("%s: %w", file, err)}, true
		}
		owner = r.File.Stat.UID
	}
	key := keyOf(f.Info) // symlinks followed
	c, cached := s.cache[file]
	cached = cached && c.key == key && s.envUnchanged(c)
	if cached && !c.racy {
		return c.res, true
	}
	data, err := manifest.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return scanned{}, false
	}
	if err != nil {
		return scanned{err: fmt.Errorf("%s: %w", file, err)}, true
	}
	sum := sha256.Sum256(data)
	racy := isRacy(key, time.Now()) // the wall clock, not Options.Clock: it is compared with the kernel's timestamps
	if cached && c.sum == sum {
		c.racy = racy
		s.cache[file] = c
		return c.res, true // the same bytes: the same program, not an edit
	}
	res, env := s.decodeEnv(file, data, owner)
	// A file still being written may be caught half-way; its key changes
	// when the writer finishes, so the next pass reads it again. The same
	// holds for an env file.
	s.cache[file] = cacheEntry{key: key, res: res, env: env, owner: owner, sum: sum, racy: racy}
	return res, true
}

// racyWindow is how long after a file's last change its key is not
// trusted: above the coarsest timestamp granularity of a Linux file
// system in use (1 s on ext4 with small inodes; kernels before multigrain
// timestamps lag a clock tick).
const racyWindow = 2 * time.Second

// isRacy reports whether a file whose key is k, read at now, may change
// again without its key changing.
func isRacy(k fileKey, now time.Time) bool {
	return now.UnixNano()-max(k.ctime, k.mtime) < int64(racyWindow)
}

// decode turns the bytes of file, owned by owner, into a spec to run: parsed,
// its env files read, under the owner rule, admitted. The kept last valid
// specs go through it too.
func (s *scanner) decode(file string, data []byte, owner uint32) scanned {
	res, _ := s.decodeEnv(file, data, owner)
	return res
}

// decodeEnv is decode, and it returns the env files it read, for read to
// tell when one changes.
func (s *scanner) decodeEnv(file string, data []byte, owner uint32) (scanned, []envKey) {
	prog, errs := spec.Parse(file, data)
	if errs != nil {
		return scanned{err: errs}, nil
	}
	verdicts := map[string]string{}
	var check func(string) error
	if s.trust != nil {
		policy := s.trust.EnvFileCheck(s.statFS(), owner)
		check = func(path string) error {
			err := policy(path)
			verdicts[path] = errText(err)
			return err
		}
	}
	prog, files, err := manifest.LoadEnvFrom(s.dir, file, prog, check)
	var env []envKey
	for _, f := range files {
		k := envKey{path: f.Path, verdict: verdicts[f.Path]}
		if f.Info != nil {
			k.key = keyOf(f.Info)
		}
		env = append(env, k)
	}
	if err != nil {
		return scanned{err: err}, env // located at the entry, file included
	}
	res := s.admitted(file, data, owner, prog)
	return res, env
}

// envUnchanged reports whether the env files of c are as its decode found
// them: each is looked at (a stat, and the policy's walk) at every pass, so
// that an edit of one rolls the instances as an edit of the manifest does.
// Files in the manifest directory are noticed at once (the watcher sees
// their writes), the others at the next rescan.
func (s *scanner) envUnchanged(c cacheEntry) bool {
	for _, e := range c.env {
		var key fileKey
		if fi, err := os.Stat(e.path); err == nil {
			key = keyOf(fi)
		}
		if key != e.key {
			return false
		}
		if s.trust != nil && errText(s.trust.EnvFileCheck(s.statFS(), c.owner)(e.path)) != e.verdict {
			return false
		}
	}
	return true
}

// statFS is where the privilege policy looks.
func (s *scanner) statFS() manifest.StatFS {
	if s.fsys == nil {
		return manifest.OSFS{}
	}
	return s.fsys
}

// admitted applies the owner rule and the daemon's admission to prog, the
// valid manifest file holding data.
func (s *scanner) admitted(file string, data []byte, owner uint32, prog *spec.Program) scanned {
	if s.trust != nil {
		p, err := s.trust.Admit(file, data, owner, prog)
		if err != nil {
			return scanned{err: err} // located at the field, file included
		}
		prog = p
	}
	if s.admit != nil {
		admitted, err := s.admit(prog)
		if err != nil {
			return scanned{err: fmt.Errorf("%s: %w", file, err)}
		}
		prog = admitted
	}
	return scanned{prog: prog, hash: spec.Hash(prog), data: data, owner: owner}
}

func keyOf(fi os.FileInfo) fileKey {
	k := fileKey{size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino, k.dev, k.ctime, k.uid = st.Ino, st.Dev, st.Ctim.Nano(), st.Uid
	}
	return k
}

func ownerOf(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
