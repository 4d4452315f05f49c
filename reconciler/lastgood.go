package reconciler

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/manifest"
)

// LastGoodDirName is the directory under .reconciled/ that keeps the last
// valid spec of each program.
const LastGoodDirName = "lastgood"

// lastGood keeps the last valid spec of each program as
// .reconciled/lastgood/NAME.yaml (docs/reference.md §3), so that a daemon that starts
// while a manifest is invalid (or refused) runs that program's last valid
// spec rather than nothing.
//
// A copy holds the manifest's bytes, mode 0600 in a 0700 directory (a
// manifest may hold secrets). A root daemon gives it the manifest's owner,
// so that the owner rule treats the copy as it treated the manifest: a copy
// never runs as anyone its manifest could not. A copy is written only when
// the valid spec changed (what it holds is remembered, and read back once
// after a start), removed when its program's manifest is deleted, and the
// copies of manifests gone while no daemon ran are removed at the first
// scan that finds the directory.
//
// Only the loop's goroutine uses it; its zero value with dir "" keeps
// nothing.
type lastGood struct {
	dir   string // "" keeps nothing
	chown bool   // give each copy its manifest's owner (the daemon is root)
	log   logr.Logger

	held     map[string][sha256.Size]byte // what each copy holds, once known
	recalled map[string]bool              // names whose copy was read at recall
	dirReady bool
	pruned   bool
}

func newLastGood(dir string, log logr.Logger) *lastGood {
	return &lastGood{dir: dir, chown: os.Geteuid() == 0, log: log,
		held: map[string][sha256.Size]byte{}, recalled: map[string]bool{}}
}

func (g *lastGood) path(name string) string { return filepath.Join(g.dir, name+".yaml") }

// digest says what a copy holds: its bytes and, when the daemon gives
// copies their manifest's owner, that owner.
func (g *lastGood) digest(owner uint32, data []byte) [sha256.Size]byte {
	if !g.chown {
		owner = 0
	}
	h := sha256.New()
	_ = binary.Write(h, binary.LittleEndian, owner)
	h.Write(data)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// save keeps res, a valid result of name's manifest, unless its copy holds
// it already. A failure is logged: the copy only matters at the next start.
func (g *lastGood) save(name string, res scanned) {
	if g.dir == "" || res.data == nil {
		return
	}
	sum := g.digest(res.owner, res.data)
	held, known := g.held[name]
	if !known {
		if data, owner, err := g.read(name); err == nil {
			held, known = g.digest(owner, data), true
		}
	}
	if known && held == sum {
		g.held[name] = sum
		return
	}
	err := g.prepare()
	if err == nil {
		o := atomicfile.Options{Mode: 0o600}
		if g.chown {
			o.Owner = &[2]int{int(res.owner), 0}
		}
		err = atomicfile.Write(g.path(name), res.data, o)
	}
	if err != nil {
		delete(g.held, name)
		g.log.Error(err, "Cannot keep the last valid spec: a restart while the manifest is invalid will not run it", "program", name, "path", g.path(name))
		return
	}
	g.held[name] = sum
}

// recall returns the copy of name that an earlier daemon kept, once per
// program: the caller remembers what it made of it.
func (g *lastGood) recall(name string) (data []byte, owner uint32, ok bool) {
	if g.dir == "" || g.recalled[name] {
		return nil, 0, false
	}
	g.recalled[name] = true
	data, owner, err := g.read(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.log.Error(err, "Cannot read the last valid spec", "program", name, "path", g.path(name))
		}
		return nil, 0, false
	}
	g.held[name] = g.digest(owner, data)
	return data, owner, true
}

// remove drops the copy of name: its manifest was deleted.
func (g *lastGood) remove(name string) {
	if g.dir == "" {
		return
	}
	delete(g.held, name)
	delete(g.recalled, name)
	if err := os.Remove(g.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		g.log.Error(err, "Cannot remove the last valid spec of a deleted program", "program", name, "path", g.path(name))
	}
}

// prune removes, once, the copies whose manifest is not there (deleted
// while no daemon ran) and the temp files of a write a crash cut short.
func (g *lastGood) prune(present map[string]scanned) {
	if g.dir == "" || g.pruned {
		return
	}
	g.pruned = true
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.log.Error(err, "Cannot list the last valid specs", "path", g.dir)
		}
		return
	}
	for _, e := range entries {
		name, isCopy := strings.CutSuffix(e.Name(), ".yaml")
		temp := strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), atomicfile.TempInfix)
		if _, ok := present[name]; (isCopy && !ok) || temp {
			if err := os.Remove(filepath.Join(g.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				g.log.Error(err, "Cannot remove a stale last valid spec", "path", filepath.Join(g.dir, e.Name()))
			}
		}
	}
}

// prepare makes the directory, 0700, once.
func (g *lastGood) prepare() error {
	if g.dirReady {
		return nil
	}
	if err := os.Mkdir(g.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(g.dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", g.dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(g.dir, 0o700); err != nil {
			return err
		}
	}
	g.dirReady = true
	return nil
}

// read reads the copy of name and its owner. It opens no link and blocks on
// no FIFO, and reads at most what a manifest may hold.
func (g *lastGood) read(name string) ([]byte, uint32, error) {
	path := g.path(name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, 0, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := manifest.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	return data, st.Uid, nil
}

// recallLastGood gives each program whose manifest is not valid now, and
// that has had no valid spec since the daemon started, the copy an earlier
// daemon kept: the program runs it, with SpecValid False. The copy goes
// through the same decoding, owner rule and admission as a manifest.
func (r *Reconciler) recallLastGood(found map[string]scanned) {
	for name, res := range found {
		if res.prog != nil {
			continue
		}
		if _, ok := r.lastValid[name]; ok {
			continue
		}
		data, owner, ok := r.lastGood.recall(name)
		if !ok {
			continue
		}
		last := r.scanner.decode(name+".yaml", data, owner)
		if last.prog == nil {
			r.opts.Log.Error(last.err, "Ignoring the kept last valid spec: it is not valid now", "program", name, "path", r.lastGood.path(name))
			continue
		}
		r.opts.Log.Info("Manifest not valid at start: running its last valid spec", "program", name, "specHash", last.hash)
		r.lastValid[name] = last
	}
}

// keepValid records res, name's valid result this pass, as its last valid
// spec, and reports whether it changed: the pass then keeps a copy
// (keepCopies), once every program has been told.
func (r *Reconciler) keepValid(name string, res scanned) bool {
	changed := r.lastValid[name].prog != res.prog
	r.lastValid[name] = res
	return changed
}

// keepCopies keeps a copy of the last valid spec of each of names. A pass
// calls it after it told every program what to do: the copy is written
// and synced to disk, a few milliseconds that no start or stop waits for.
// A daemon killed in between has the earlier copy, which it reads only
// while the manifest is not valid.
func (r *Reconciler) keepCopies(names []string) {
	for _, name := range names {
		r.lastGood.save(name, r.lastValid[name])
	}
}
