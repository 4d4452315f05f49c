package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/spec"
)

// ErrNotFound is returned when the directory has no manifest of a name.
var ErrNotFound = errors.New("no manifest")

// ErrSymlink is returned for a manifest that is a symbolic link: it belongs
// to whatever manages its target (a ConfigMap volume, a git checkout), so it
// is read but never changed.
var ErrSymlink = errors.New("is a symbolic link")

// Dir is a directory of manifests. The zero value is not usable; make one
// with NewDir.
type Dir struct {
	path   string
	policy *Policy // Apply refuses what a root daemon with it would (WithPolicy)
}

// NewDir returns the store of the manifests in the directory path. It
// touches nothing on disk.
func NewDir(path string) Dir {
	return Dir{path: path}
}

// Path returns the directory's path as given to NewDir.
func (d Dir) Path() string { return d.path }

// File is one manifest file of the directory.
type File struct {
	// Name is the program's name: the file's stem.
	Name string
	// Base is the file's base name, NAME.yaml or NAME.yml.
	Base string
	// Path is the directory's path joined with Base.
	Path string
	// Info describes the file. From List it is the file's, symbolic links
	// followed (os.Stat); from Resolve it is the directory entry's own
	// (os.Lstat), which for a manifest Resolve accepts is the same.
	Info fs.FileInfo
}

// Duplicate is a program name that has two manifests, NAME.yaml and
// NAME.yml: neither is run until one is removed.
type Duplicate struct {
	Name  string
	Bases []string // the base names, sorted
}

// Listing is what List found in the directory.
type Listing struct {
	// Files are the manifests, one per program name, sorted by name. Each is
	// a regular file, symbolic links followed.
	Files []File
	// Problems are the manifest names that cannot be read, sorted by name:
	// not a regular file (a FIFO, a socket, a device, also behind a symbolic
	// link) or not stat-able (EACCES, EIO, ELOOP). Each Err is a *FileError.
	// Such a program is not deleted: it keeps its last valid spec.
	Problems []Problem
	// Duplicates are the program names with two manifests, sorted by name,
	// whatever kind of file each is.
	Duplicates []Duplicate
	// BadNames are the base names of NAME.yaml and NAME.yml files whose NAME
	// cannot name a program, sorted.
	BadNames []string
}

// Problem is a manifest name whose file cannot be read.
type Problem struct {
	File
	Err error // a *FileError
}

// Names returns the program names of the listing, of single files, of
// duplicates and of problems alike, sorted: the programs the directory asks
// for.
func (l Listing) Names() []string {
	names := make([]string, 0, len(l.Files)+len(l.Duplicates)+len(l.Problems))
	for _, f := range l.Files {
		names = append(names, f.Name)
	}
	for _, d := range l.Duplicates {
		names = append(names, d.Name)
	}
	for _, p := range l.Problems {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// List lists the manifests of the directory, by spec.Classify. A name whose
// file vanishes while List runs, a dangling link and a directory are left
// out: nothing asks for that program. A name that is there but cannot be
// read, or is not a regular file (a FIFO, a socket, a device, a link to
// one), is a Problem: something asks for the program, and what it asks
// cannot be known, so its last valid spec stays. Nothing is opened. An
// error reading the directory itself is returned as os.ReadDir gives it (it
// names the directory; errors.Is(err, fs.ErrNotExist) when it is missing).
func (d Dir) List() (Listing, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	bases := map[string][]string{} // program name -> base names
	var names []string
	for _, e := range entries {
		switch kind, name := spec.Classify(e.Name()); kind {
		case spec.BadName:
			l.BadNames = append(l.BadNames, e.Name())
		case spec.Manifest:
			if bases[name] == nil {
				names = append(names, name)
			}
			bases[name] = append(bases[name], e.Name())
		}
	}
	slices.Sort(l.BadNames)
	slices.Sort(names)
	for _, name := range names {
		bs := bases[name]
		slices.Sort(bs)
		if len(bs) > 1 {
			l.Duplicates = append(l.Duplicates, Duplicate{Name: name, Bases: bs})
			continue
		}
		f := File{Name: name, Base: bs[0], Path: filepath.Join(d.path, bs[0])}
		fi, err := os.Stat(f.Path) // follows symbolic links
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Vanished since ReadDir, or a dangling link: the same as absent.
		case err != nil:
			l.Problems = append(l.Problems, Problem{File: f, Err: fileError(f.Path, err)})
		case fi.IsDir():
			// Sub-directories are never manifests, whatever their name.
		case !fi.Mode().IsRegular():
			f.Info = fi
			l.Problems = append(l.Problems, Problem{File: f, Err: fileError(f.Path,
				&regfile.NotRegularError{Path: f.Path, Mode: fi.Mode().Type()})})
		default:
			f.Info = fi
			l.Files = append(l.Files, f)
		}
	}
	return l, nil
}

// Resolve returns the manifest file of the program name, for reading or
// changing it. It fails when name is not a valid program name, when both
// NAME.yaml and NAME.yml exist, and when the file is not a regular file. For
// a missing manifest it returns an error wrapping ErrNotFound together with
// the File a new manifest would be (Path NAME.yaml, Info nil); for a
// symbolic link, one wrapping ErrSymlink together with the link's File,
// which may still be read.
func (d Dir) Resolve(name string) (File, error) {
	if !spec.ValidName(name) {
		return File{}, fmt.Errorf("%q is not a valid program name", name)
	}
	var found []File
	for _, base := range spec.ManifestFileNames(name) {
		path := filepath.Join(d.path, base)
		fi, err := os.Lstat(path)
		switch {
		case err == nil:
			found = append(found, File{Name: name, Base: base, Path: path, Info: fi})
		case !errors.Is(err, fs.ErrNotExist):
			return File{}, err
		}
	}
	switch len(found) {
	case 0:
		base := spec.ManifestFileNames(name)[0]
		return File{Name: name, Base: base, Path: filepath.Join(d.path, base)},
			fmt.Errorf("%w named %s in %s", ErrNotFound, name, d.path)
	case 2:
		return File{}, fmt.Errorf("both %s and %s exist in %s: remove one", found[0].Base, found[1].Base, d.path)
	}
	f := found[0]
	if f.Info.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(f.Path)
		return f, fmt.Errorf("%s %w (to %s): it is managed elsewhere (a ConfigMap volume, a git checkout), change its source instead", f.Path, ErrSymlink, target)
	}
	if !f.Info.Mode().IsRegular() {
		return File{}, fileError(f.Path, &regfile.NotRegularError{Path: f.Path, Mode: f.Info.Mode().Type()})
	}
	return f, nil
}

// Read resolves name and reads its manifest (ReadFile). It fails as Resolve
// does, also for a symbolic link.
func (d Dir) Read(name string) (File, []byte, error) {
	f, err := d.Resolve(name)
	if err != nil {
		return File{}, nil, err
	}
	data, err := ReadFile(f.Path)
	if err != nil {
		return File{}, nil, err
	}
	return f, data, nil
}

// ReadFile reads the manifest at path, in the directory or not (validate,
// apply -f), with the size cap (ReadAll). Symbolic links are followed; what
// is not a regular file is refused without being read (nor, a device,
// opened) and a FIFO never blocks the open. A missing file is an
// *fs.PathError (errors.Is fs.ErrNotExist); any other failure is a
// *FileError.
func ReadFile(path string) ([]byte, error) {
	f, err := regfile.Open(path, true)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fileError(path, err)
	}
	defer f.Close()
	data, err := ReadAll(f)
	if err != nil {
		return nil, fileError(path, &fs.PathError{Op: "read", Path: path, Err: err})
	}
	return data, nil
}

// ReadAll reads a manifest from r, at most one byte more than a manifest may
// hold (spec.MaxManifestSize): spec.Parse refuses a larger one, and it is
// never read whole.
func ReadAll(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, spec.MaxManifestSize+1))
}
