package reconciler

// Several daemons, one directory (vagga's two terminals: `run --only web`
// and `run --exclude web`). What each holds in STATUSDIR/.reconciled/:
//
//	lock             flock on the directory: exclusive for a daemon without
//	                 --only/--exclude (it owns every program), shared for one
//	                 with them; a conflict refuses the daemon as a whole
//	daemons/PID      flock, exclusive, held by daemon PID for its life: the
//	                 registry of live daemons (reload, shutdown, status)
//	daemons/PID.sock its control socket (signal, restart NAME-i)
//	locks/NAME       flock, exclusive, held by the daemon that owns program
//	                 NAME, with its pid; taken before anything of NAME is
//	                 started, adopted or cleaned, removed when NAME is gone
//
// A name under daemons/ or locks/ is created by renaming a file already
// locked into place (registration) or checked after locking against the
// name (claims), and removed by its holder while it still holds the lock,
// so a lock always belongs to the file that the name names. Nothing but
// daemons ever flocks a file under locks/: the command line reads their
// holders from /proc/locks, so it can never make a claim fail.

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/spec"
)

// The names in the state directory that claims.go manages.
const (
	dirLockName = "lock"
	daemonsDir  = "daemons"
	locksDir    = "locks"
)

// ErrLocked means another daemon holds the directory.
var ErrLocked = errors.New("another reconciled daemon holds the directory")

// registration is a daemon's hold on a state directory: the directory lock
// and its entry under daemons/.
type registration struct {
	stateDir string
	dirLock  *os.File
	self     *os.File
	path     string
}

// register takes the directory lock (exclusive, or shared with other
// daemons that run a subset of the programs) and enters this process under
// daemons/. A conflict is an error wrapping ErrLocked that names the pids
// of the daemons in the way.
func register(stateDir string, exclusive bool) (*registration, error) {
	path := filepath.Join(stateDir, dirLockName)
	// Not through a link, never blocking on a FIFO (internal/regfile).
	f, err := regfile.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, lockedError(stateDir, exclusive)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	reg := &registration{stateDir: stateDir, dirLock: f}
	if err := reg.enter(); err != nil {
		f.Close()
		return nil, err
	}
	return reg, nil
}

// lockedError names the daemons that hold the directory.
func lockedError(stateDir string, exclusive bool) error {
	dir := filepath.Dir(stateDir)
	pids := Daemons(stateDir)
	hint := "a daemon without --only/--exclude owns every program"
	if !exclusive {
		hint = "it runs without --only/--exclude and owns every program"
	}
	if len(pids) == 0 {
		return fmt.Errorf("%w: %s (%s)", ErrLocked, dir, hint)
	}
	return fmt.Errorf("%w (pid %s): %s (%s)", ErrLocked, pidList(pids), dir, hint)
}

// pidList spells pids as "12, 34".
func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// enter creates daemons/PID, locked before it appears under that name, and
// removes the entries of daemons that are gone.
func (reg *registration) enter() error {
	dir := filepath.Join(reg.stateDir, daemonsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	pruneDaemons(dir)
	pid := strconv.Itoa(os.Getpid())
	tmp, err := os.CreateTemp(dir, ".daemon-")
	if err != nil {
		return fmt.Errorf("register the daemon: %w", err)
	}
	fail := func(err error) error {
		os.Remove(tmp.Name())
		tmp.Close()
		return fmt.Errorf("register the daemon: %w", err)
	}
	if err := unix.Flock(int(tmp.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	if _, err := tmp.WriteString(pid + "\n"); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	reg.path = filepath.Join(dir, pid)
	if err := os.Rename(tmp.Name(), reg.path); err != nil {
		return fail(err)
	}
	reg.self = tmp
	return nil
}

// pruneDaemons removes the entries (and sockets) of daemons that died
// without removing them: an entry nobody holds.
func pruneDaemons(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := regfile.Open(path, false)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f, path) {
			os.Remove(path + ".sock")
			os.Remove(path)
		}
		f.Close()
	}
}

// alone reports whether no other daemon holds the directory. It is asked
// once, at exit, before removing what the daemons share (the cgroup root):
// it trades the shared lock for an exclusive one, which fails while another
// daemon holds it (and may drop the shared one: the daemon is leaving).
func (reg *registration) alone() bool {
	return unix.Flock(int(reg.dirLock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// close leaves the registry and releases the directory.
func (reg *registration) close() {
	os.Remove(reg.path)
	reg.self.Close()
	reg.dirLock.Close()
}

// Lock takes the directory lock of stateDir exclusively and registers this
// process as its daemon, as `reconciled run` without --only/--exclude does,
// and returns the function that releases both. If another daemon holds the
// directory it returns an error wrapping ErrLocked that names its pid.
func Lock(stateDir string) (func(), error) {
	reg, err := register(stateDir, true)
	if err != nil {
		return nil, err
	}
	return reg.close, nil
}

// Daemons returns the pids of the live daemons of stateDir, lowest first:
// the entries under daemons/ that their daemon still holds.
func Daemons(stateDir string) []int {
	dir := filepath.Join(stateDir, daemonsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if held(filepath.Join(dir, e.Name())) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// held reports whether some process holds a flock on the file at path.
// Only for files that their holder never locks again (daemons/PID): the
// probe holds a shared lock for an instant.
func held(path string) bool {
	f, err := regfile.Open(path, false)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// Held reports whether a daemon holds stateDir, and the pid of one (the
// lowest, when several run a subset of the programs each).
func Held(stateDir string) (bool, int) {
	pids := Daemons(stateDir)
	if len(pids) == 0 {
		return false, 0
	}
	return true, pids[0]
}

// DaemonPath is daemon pid's entry in stateDir: the file it holds locked
// for its life; its control socket is the same path plus ".sock".
func DaemonPath(stateDir string, pid int) string {
	return filepath.Join(stateDir, daemonsDir, strconv.Itoa(pid))
}

// ProgramOwner returns the pid of the live daemon that owns program in
// stateDir, or 0 when none does: the holder of its lock, as /proc/locks
// shows it, else as the lock file says when that pid is a live daemon of
// stateDir.
func ProgramOwner(stateDir, program string) int {
	path := filepath.Join(stateDir, locksDir, program)
	if holders, err := FlockHolders(path); err == nil {
		return holders[0]
	}
	b, err := regfile.ReadFile(path, false, 64)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 0 && slices.Contains(Daemons(stateDir), pid) {
		return pid
	}
	return 0
}

// FlockHolders returns the pids that /proc/locks shows holding an
// exclusive flock on path, lowest first, or an error when it shows none
// (see errNoLockLine). Reading /proc/locks takes no lock, so asking never
// gets in the way of a daemon's claim.
func FlockHolders(path string) ([]int, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 25378 fe:00:9994417 0 EOF"
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != id {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/locks: %w", err)
	}
	if len(pids) == 0 {
		// Nobody holds it, or /proc/locks names the file's device other
		// than stat does (btrfs subvolumes, overlayfs without xino): the
		// caller cannot tell, and falls back to what the file says.
		return nil, errNoLockLine
	}
	slices.Sort(pids)
	return pids, nil
}

// errNoLockLine: /proc/locks has no lock of the file.
var errNoLockLine = errors.New("no lock of the file in /proc/locks")

// sameFile reports whether f is the file that path names now.
func sameFile(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// claims are the program locks of one daemon (locks/NAME). Taken at
// start-up and by the loop; the mutex only keeps the map whole.
type claims struct {
	dir string
	pid int
	mu  sync.Mutex
	own map[string]*os.File
}

func newClaims(stateDir string) (*claims, error) {
	dir := filepath.Join(stateDir, locksDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return &claims{dir: dir, pid: os.Getpid(), own: map[string]*os.File{}}, nil
}

// has reports whether this daemon owns name.
func (c *claims) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.own[name] != nil
}

// claim takes the lock of program name, or reports the pid of the daemon
// that holds it (0 when it cannot be told). Claiming a name already owned
// succeeds.
func (c *claims) claim(name string) (ok bool, owner int, err error) {
	if !spec.ValidName(name) {
		// Names also come from processes' environments (marked leftovers):
		// never a path.
		return false, 0, fmt.Errorf("claim %q: not a program name", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own[name] != nil {
		return true, 0, nil
	}
	path := filepath.Join(c.dir, name)
	// The holder before may remove the name between our open and our
	// lock; then the lock is on a file nobody finds: try again.
	for range 5 {
		f, err := regfile.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			// The status directory is a link that was re-pointed (git-sync):
			// the new target gets a locks/ of its own.
			if err = os.MkdirAll(c.dir, 0o755); err == nil {
				f, err = regfile.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
			}
		}
		if err != nil {
			return false, 0, fmt.Errorf("claim %s: %w", name, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return false, c.ownerOf(path), nil
			}
			return false, 0, fmt.Errorf("claim %s: %w", name, err)
		}
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(c.pid)+"\n"), 0)
		}
		c.own[name] = f
		return true, 0, nil
	}
	return false, 0, fmt.Errorf("claim %s: %s keeps being replaced", name, path)
}

// ownerOf is the holder of the lock at path: from /proc/locks, else from
// the pid the holder wrote into it.
func (c *claims) ownerOf(path string) int {
	if pids, err := FlockHolders(path); err == nil && len(pids) > 0 {
		return pids[0]
	}
	b, err := regfile.ReadFile(path, false, 64)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// release gives up the lock of name: its name goes first, while it is
// still held.
func (c *claims) release(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.own[name]
	if f == nil {
		return
	}
	delete(c.own, name)
	os.Remove(filepath.Join(c.dir, name))
	f.Close()
}

// releaseAll gives up every lock (the daemon exits).
func (c *claims) releaseAll() {
	c.mu.Lock()
	names := make([]string, 0, len(c.own))
	for name := range c.own {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		c.release(name)
	}
}
