package manifest

// The files of spec.envFrom: the store reads them for the daemon's scanner
// and for validate, wait and describe, so that all of them see the same
// variables and the same spec hash.

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/spec"
)

// EnvFile is one file of a manifest's spec.envFrom as LoadEnvFrom found it.
type EnvFile struct {
	// Path is the entry's path, joined to the manifest directory when
	// relative.
	Path string
	// Info describes the file, symbolic links followed, as it was before
	// it was read (a change after that changes it again); nil when it could
	// not be looked at.
	Info fs.FileInfo
}

// EnvPath returns the path of the spec.envFrom entry file of a manifest in
// the directory dir: relative to dir unless absolute.
func EnvPath(dir, file string) string {
	if filepath.IsAbs(file) {
		return filepath.Clean(file)
	}
	return filepath.Join(dir, file)
}

// LoadEnvFrom reads the files of prog's spec.envFrom, relative to dir, the
// manifest directory, and returns a copy of prog whose EnvFromVars hold
// their variables (spec.WithEnvFrom); a program without envFrom is returned
// as it is. file names the manifest in errors, which are located at the
// entry: a file that cannot be read, is not a regular file, fails check or
// is not valid dotenv makes the program invalid. check, when not nil, is
// called before a file is read (Policy.EnvFileCheck). The files are
// returned in the order of the entries, also with an error, so that the
// caller can tell when one changes. Values never appear in an error.
func LoadEnvFrom(dir, file string, prog *spec.Program, check func(path string) error) (*spec.Program, []EnvFile, error) {
	srcs := prog.Spec.EnvFrom
	if len(srcs) == 0 {
		return prog, nil, nil
	}
	files := make([]EnvFile, len(srcs))
	contents := make([][]byte, len(srcs))
	var errs spec.ErrorList
	var refused *TrustError
	for i, src := range srcs {
		path := EnvPath(dir, src.File)
		files[i].Path = path
		if fi, err := os.Stat(path); err == nil {
			files[i].Info = fi
		}
		if check != nil {
			if err := check(path); err != nil {
				var te *TrustError
				if errors.As(err, &te) {
					e := spec.EnvFromError(file, i, src, "%s", te.Message)
					errs = append(errs, e)
					if refused == nil {
						refused = &TrustError{Reason: te.Reason, Message: e.Error()}
					}
					continue
				}
				errs = append(errs, spec.EnvFromError(file, i, src, "cannot read %s: %v", path, cause(err)))
				continue
			}
		}
		data, err := readEnvFile(path)
		if err == nil && data == nil {
			data = []byte{} // read, and empty: not a file that could not be read
		}
		if err != nil {
			errs = append(errs, spec.EnvFromError(file, i, src, "cannot read %s: %v", path, cause(err)))
			continue
		}
		contents[i] = data
	}
	if refused != nil {
		return nil, files, refused
	}
	p, perrs := spec.WithEnvFrom(prog, file, contents)
	errs = append(errs, perrs...)
	if errs != nil {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, files, errs
	}
	return p, files, nil
}

// cause is what went wrong with a path, without the path: the caller says
// it once.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readEnvFile reads a dotenv file, at most one byte more than one may hold.
// It blocks on no FIFO: it opens without waiting and reads only a regular
// file. Symbolic links are followed (a ConfigMap volume's are).
func readEnvFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	return io.ReadAll(io.LimitReader(f, spec.MaxEnvFileSize+1))
}

// EnvFileCheck returns the check that LoadEnvFrom applies, under the
// policy, to the env files of a manifest owned by owner: whoever can write
// an env file decides the environment of what runs (LD_PRELOAD), so it is
// held to the rules of a manifest. The mode rule (Check) applies to the
// file, the symbolic links on its way and its directory, as if it were a
// manifest there; and the file must be owned by root, the daemon's user or
// the manifest's owner.
func (p Policy) EnvFileCheck(fsys StatFS, owner uint32) func(path string) error {
	return func(path string) error {
		r, err := Resolve(fsys, filepath.Dir(path), filepath.Base(path))
		if err != nil {
			return err
		}
		if !p.trusted(r.File.Stat.UID, owner) {
			return insecure("file", r.File, p.owners(owner))
		}
		return p.Check(r)
	}
}

// withEnvFrom returns prog with its env files read from beside path, the
// manifest's, for a hash that matches the daemon's; prog as it is when it
// has none or they cannot be read (the daemon then finds it invalid).
func withEnvFrom(path string, prog *spec.Program) *spec.Program {
	if len(prog.Spec.EnvFrom) == 0 || prog.EnvFromVars != nil {
		return prog
	}
	p, _, err := LoadEnvFrom(filepath.Dir(path), path, prog, nil)
	if err != nil {
		return prog
	}
	return p
}
