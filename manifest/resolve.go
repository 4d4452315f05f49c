package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/regfile"
)

// Stat is what the privilege policy needs to know of one directory entry,
// symbolic links not followed.
type Stat struct {
	Mode fs.FileMode // type and permission bits, as fs.FileInfo.Mode gives them
	UID  uint32      // the owner
}

// StatFS is the file system as the privilege policy sees it. OSFS is the
// real one; tests give fakes, so that the rules are tested on any owner and
// mode without root.
type StatFS interface {
	// Lstat describes path without following a final symbolic link.
	Lstat(path string) (Stat, error)
	// Readlink returns the target of the symbolic link path.
	Readlink(path string) (string, error)
	// ReadOnly reports whether path is on a file system mounted read-only.
	ReadOnly(path string) (bool, error)
}

// OSFS is the real file system.
type OSFS struct{}

// Lstat implements StatFS.
func (OSFS) Lstat(path string) (Stat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Stat{}, err
	}
	st := Stat{Mode: fi.Mode()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.UID = sys.Uid
	}
	return st, nil
}

// Readlink implements StatFS.
func (OSFS) Readlink(path string) (string, error) { return os.Readlink(path) }

// ReadOnly implements StatFS.
func (OSFS) ReadOnly(path string) (bool, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return false, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	return s.Flags&unix.ST_RDONLY != 0, nil
}

// Entry is one directory entry met on the way from the spec directory to a
// manifest's data.
type Entry struct {
	Path string // as resolved: every symbolic link before it followed
	Stat Stat
	// ReadOnly is true when the entry is on a read-only file system, so
	// that its write bits grant nothing. It is only looked up for entries
	// whose mode lets group or other write.
	ReadOnly bool
	// For a directory of Route.Dirs: Outside is true when it is neither the
	// real spec directory nor below it (a link led out of it), and
	// Children are the owners of the entries looked up in it.
	Outside  bool
	Children []uint32
}

// Route is how the name of a manifest resolves to its data, as the kernel
// resolves it: every entry whose owner or mode decides what the daemon
// reads.
type Route struct {
	// Links are the symbolic links followed, in order: the spec
	// directory's own name if it is one (git-sync re-points it), then any
	// on the way to the file (a ConfigMap volume's NAME.yaml and ..data).
	Links []Entry
	// Dirs are the real directories a name was looked up in, from the spec
	// directory (after symbolic links) on, each once: whoever may write one
	// of them may replace what the name leads to. Directories met while
	// resolving the spec directory's own path are above it and not listed.
	Dirs []Entry
	// File is the real file; its Path is empty when Resolve was given no
	// name (the spec directory alone).
	File Entry
}

// maxLinks bounds the symbolic links one resolution follows, as Linux does
// (ELOOP).
const maxLinks = 40

// Markers in the queue of path components; a NUL never occurs in a name.
const (
	markLinks = "\x00links" // from here on, symbolic links are recorded
	markDirs  = "\x00dirs"  // from here on (the real spec directory), lookup directories are
)

// Resolve resolves the entry name of the spec directory dir the way the
// kernel would, one component at a time, and returns its Route. With name
// "" it resolves dir alone (Route.File is then empty). The final entry must
// be a regular file. Errors are those of the file system (a missing
// component is fs.ErrNotExist), or say what is wrong with the path.
func Resolve(fsys StatFS, dir, name string) (Route, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Route{}, fmt.Errorf("resolve %s: %w", dir, err)
	}
	if strings.Contains(name, "/") {
		return Route{}, fmt.Errorf("resolve %s: %q is not a name in the directory", dir, name)
	}
	parent, base := filepath.Dir(abs), filepath.Base(abs)
	if abs == "/" {
		base = "."
	}
	todo := append(components(parent), markLinks, base, markDirs)
	if name != "" {
		todo = append(todo, name)
	}
	var r Route
	var recLinks, recDirs bool
	seen := map[string]int{} // index in r.Dirs
	realDir := ""
	cur := "/"
	var last Stat
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		case markLinks:
			recLinks = true
			continue
		case markDirs:
			recDirs, realDir = true, cur
			if _, err := r.addDir(fsys, cur, realDir, seen); err != nil {
				return Route{}, err
			}
			continue
		}
		dirAt := -1
		if recDirs {
			if dirAt, err = r.addDir(fsys, cur, realDir, seen); err != nil {
				return Route{}, err
			}
		}
		p := filepath.Join(cur, c)
		st, err := fsys.Lstat(p)
		if err != nil {
			return Route{}, err
		}
		if dirAt >= 0 {
			r.Dirs[dirAt].Children = append(r.Dirs[dirAt].Children, st.UID)
		}
		switch {
		case st.Mode&fs.ModeSymlink != 0:
			if links++; links > maxLinks {
				return Route{}, &fs.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
			}
			if recLinks {
				r.Links = append(r.Links, Entry{Path: p, Stat: st})
			}
			target, err := fsys.Readlink(p)
			if err != nil {
				return Route{}, err
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(components(target), todo...)
		case !st.Mode.IsDir() && more(todo):
			return Route{}, &fs.PathError{Op: "resolve", Path: p, Err: unix.ENOTDIR}
		default:
			cur, last = p, st
		}
	}
	if name == "" {
		return r, nil
	}
	if !last.Mode.IsRegular() {
		return Route{}, fileError(cur, &regfile.NotRegularError{Path: cur, Mode: last.Mode.Type()})
	}
	r.File = Entry{Path: cur, Stat: last}
	if err := r.File.lookReadOnly(fsys); err != nil {
		return Route{}, err
	}
	return r, nil
}

// addDir records the directory path once, and returns its index in r.Dirs.
// realDir is the real spec directory.
func (r *Route) addDir(fsys StatFS, path, realDir string, seen map[string]int) (int, error) {
	if i, ok := seen[path]; ok {
		return i, nil
	}
	st, err := fsys.Lstat(path)
	if err != nil {
		return -1, err
	}
	if !st.Mode.IsDir() {
		return -1, &fs.PathError{Op: "resolve", Path: path, Err: unix.ENOTDIR}
	}
	e := Entry{Path: path, Stat: st, Outside: path != realDir && !strings.HasPrefix(path, strings.TrimSuffix(realDir, "/")+"/")}
	if err := e.lookReadOnly(fsys); err != nil {
		return -1, err
	}
	seen[path] = len(r.Dirs)
	r.Dirs = append(r.Dirs, e)
	return len(r.Dirs) - 1, nil
}

// lookReadOnly sets ReadOnly for an entry that group or other could write.
func (e *Entry) lookReadOnly(fsys StatFS) error {
	if e.Stat.Mode.Perm()&0o022 == 0 {
		return nil
	}
	ro, err := fsys.ReadOnly(e.Path)
	if err != nil {
		return err
	}
	e.ReadOnly = ro
	return nil
}

// components splits a path into names; a leading "/" gives an empty first
// one, which Resolve skips.
func components(path string) []string {
	return strings.Split(path, "/")
}

// more reports whether todo still holds a name to look up.
func more(todo []string) bool {
	for _, c := range todo {
		if c != "" && c != "." && c != markLinks && c != markDirs {
			return true
		}
	}
	return false
}
