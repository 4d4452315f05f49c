package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/spec"
)

// ErrChanged means the file was changed by someone else (an editor, which
// takes no lock) between reading it and writing it back, too often to
// retry.
var ErrChanged = errors.New("the file changed while it was being edited")

// editAttempts bounds how often Edit starts again when the file changes
// behind its back.
const editAttempts = 6

// InvalidError is a manifest that is not valid: the one in the directory
// that Edit refuses to change, or the content Apply refuses to write.
type InvalidError struct {
	Path string         // the manifest's path
	Errs spec.ErrorList // its located errors
}

func (e *InvalidError) Error() string {
	return e.Errs.Error() + "\n" + e.Path + " is invalid: nothing was changed"
}

// Result is what Edit or Apply did to one manifest.
type Result struct {
	Name string // the program's name
	Path string // the manifest's path
	// Program is the manifest's content after the change, parsed.
	Program *spec.Program
	// Changed is false when the file already held the content: nothing was
	// written.
	Changed bool
	// Created is true when Apply wrote a new file.
	Created bool
}

// Lock takes the edit lock of the directory, waiting for it: an exclusive
// flock on the directory itself, so that two changes of one directory (by
// any reconciled command) never lose each other's write. Locking the
// directory rather than a file in it creates nothing in a directory that may
// be owned by something else. The lock is released by calling unlock, or
// when the process ends.
func (d Dir) Lock() (unlock func(), err error) {
	fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d.path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", d.path, err)
	}
	return func() { unix.Close(fd) }, nil
}

// Edit changes the manifest of name with f, under the edit lock. f gets the
// file's content and returns the new content (spec.SetField and its
// relatives keep comments and layout). Edit refuses a manifest that is
// invalid now (*InvalidError), a symbolic link (ErrSymlink) and a result that
// would be invalid; it writes nothing when f changes nothing. When the file
// is replaced or rewritten behind its back between reading and writing,
// Edit starts again from the new content; after a few such conflicts it
// gives up with ErrChanged.
func (d Dir) Edit(name string, f func([]byte) ([]byte, error)) (Result, error) {
	unlock, err := d.Lock()
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		file, data, err := d.Read(name)
		if err != nil {
			return Result{}, err
		}
		if _, errs := spec.Parse(file.Path, data); errs != nil {
			return Result{}, &InvalidError{Path: file.Path, Errs: errs}
		}
		out, err := f(data)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", file.Path, err)
		}
		p, errs := spec.Parse(file.Path, out)
		if errs != nil {
			// The editor checks its work; this is a bug if it happens.
			return Result{}, fmt.Errorf("%s: the edit would make the manifest invalid, nothing was changed:\n%v", file.Path, errs)
		}
		res := Result{Name: name, Path: file.Path, Program: p, Changed: !bytes.Equal(out, data)}
		if !res.Changed {
			return res, nil
		}
		err = write(file, out, data)
		if errors.Is(err, ErrChanged) && attempt < editAttempts {
			continue
		}
		return res, err
	}
}

// Apply places data as the manifest of name, under the edit lock: a new
// NAME.yaml, or over the existing NAME.yaml or NAME.yml. data must be a
// valid manifest of a program named name, else Apply returns an
// *InvalidError whose errors name the file data would become. An existing
// file that already holds data is not written (Changed false). A symbolic
// link is refused (ErrSymlink), and so is, with a *TrustError, what a root
// daemon would refuse under the store's policy (WithPolicy). If the file appears, vanishes or changes
// while Apply runs, it returns ErrChanged and writes nothing.
func (d Dir) Apply(name string, data []byte) (Result, error) {
	if !spec.ValidName(name) {
		return Result{}, fmt.Errorf("%q is not a valid program name", name)
	}
	// Validate as the file it will be: its stem is the program's name.
	target := filepath.Join(d.path, spec.ManifestFileNames(name)[0])
	p, errs := spec.Parse(target, data)
	if errs != nil {
		return Result{}, &InvalidError{Path: target, Errs: errs}
	}
	unlock, err := d.Lock()
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	file, err := d.Resolve(name)
	var old []byte
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Result{}, err
	default:
		if old, err = ReadFile(file.Path); err != nil {
			old = nil // unreadable: replaced whatever it holds
		} else if bytes.Equal(old, data) {
			return Result{Name: name, Path: file.Path, Program: p}, nil
		}
	}
	if err := d.checkPolicy(file, data, p); err != nil {
		return Result{}, err
	}
	if err := write(file, data, old); err != nil {
		return Result{}, err
	}
	return Result{Name: name, Path: file.Path, Program: p, Changed: true, Created: file.Info == nil}, nil
}

// Delete removes the manifest of name, under the edit lock. A symbolic link
// is refused (ErrSymlink); a missing manifest is an error wrapping
// ErrNotFound.
func (d Dir) Delete(name string) error {
	unlock, err := d.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	file, err := d.Resolve(name)
	if err != nil {
		return err
	}
	if err := os.Remove(file.Path); err != nil {
		return err
	}
	return atomicfile.SyncDir(d.path)
}

// write replaces file with data atomically, with the old file's mode and,
// when running as root, its owner (0644 for a new file, file.Info nil). Just
// before the rename it checks that the file is still the one resolved
// (still absent for a new one) and, when old is not nil, still holds old;
// otherwise it writes nothing and returns ErrChanged.
func write(file File, data, old []byte) error {
	o := atomicfile.Options{Mode: 0o644}
	if file.Info != nil {
		o.Mode = file.Info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if st, ok := file.Info.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			o.Owner = &[2]int{int(st.Uid), int(st.Gid)}
		}
	}
	o.BeforeRename = func() error {
		if !unchanged(file, old) {
			return ErrChanged
		}
		return nil
	}
	return atomicfile.Write(file.Path, data, o)
}

// unchanged reports whether file is as it was resolved and, when old is not
// nil, still holds old. Identity and times catch a replacement by rename and
// most rewrites; the content catches a rewrite of the same size within the
// file system's timestamp granularity.
func unchanged(file File, old []byte) bool {
	now, err := os.Lstat(file.Path)
	if file.Info == nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	if err != nil || !sameFile(file.Info, now) {
		return false
	}
	if old == nil {
		return true
	}
	data, err := ReadFile(file.Path)
	return err == nil && bytes.Equal(data, old)
}

func sameFile(a, b fs.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Ino == sb.Ino && sa.Dev == sb.Dev && a.Size() == b.Size() &&
		a.ModTime().Equal(b.ModTime()) && sa.Ctim == sb.Ctim
}
