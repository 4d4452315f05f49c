package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// ownersFS is the real file system with the owners of some paths made up,
// so that the owner rule is tested without root.
type ownersFS struct {
	manifest.OSFS
	mu   *sync.Mutex
	uids map[string]uint32
}

func newOwnersFS(uids map[string]uint32) ownersFS {
	return ownersFS{mu: &sync.Mutex{}, uids: uids}
}

func (f ownersFS) Lstat(path string) (manifest.Stat, error) {
	st, err := f.OSFS.Lstat(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if uid, ok := f.uids[path]; ok {
		st.UID = uid
	}
	return st, err
}

func (f ownersFS) chown(path string, uid uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uids[path] = uid
}

// ctrl is a Reconciler with fake processes on a real directory.
type ctrl struct {
	t       *testing.T
	dir     string
	trig    chan struct{}
	sink    *multiSink
	starter *fakeStarter
	r       *Reconciler
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

// startCtrl runs a Reconciler on dir; setup may adjust it before it runs.
func startCtrl(t *testing.T, dir string, opts Options, setup func(*Reconciler)) *ctrl {
	t.Helper()
	c := &ctrl{t: t, dir: dir, trig: make(chan struct{}, 1), sink: &multiSink{st: map[string]status.ProgramStatus{}}, starter: &fakeStarter{}, done: make(chan error, 1)}
	opts.Dir, opts.Trigger, opts.Starter, opts.Sink, opts.Log = dir, c.trig, c.starter, c.sink, testr.New(t)
	c.r = New(opts)
	if setup != nil {
		setup(c.r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	c.cancel = cancel
	go func() { c.done <- c.r.Run(ctx) }()
	t.Cleanup(c.stop)
	return c
}

// stop cancels the reconciler and waits for Run to return (once).
func (c *ctrl) stop() {
	c.once.Do(func() {
		c.cancel()
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			c.t.Error("the reconciler did not stop")
		}
	})
}

func (c *ctrl) write(name, body string, mode os.FileMode) {
	c.t.Helper()
	path := filepath.Join(c.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		c.t.Fatal(err)
	}
}

func (c *ctrl) rescan() { c.trig <- struct{}{} }

// specValid waits until name's SpecValid condition has status and reason
// and a message that holds msg.
func (c *ctrl) specValid(name, want, reason, msg string) {
	c.t.Helper()
	var got *status.Condition
	waitfor.Condition(c.t, waitTimeout, func() bool {
		got = findCondition(c.sink.get(name).Status.Conditions, status.ConditionSpecValid)
		return got != nil && got.Status == want && got.Reason == reason && strings.Contains(got.Message, msg)
	}, "%s: SpecValid %s %s %q (have %+v)", name, want, reason, msg, got)
}

// running waits until name has n ready instances and returns their hashes.
func (c *ctrl) running(name string, n int) []string {
	c.t.Helper()
	waitfor.Condition(c.t, waitTimeout, func() bool {
		st := c.sink.get(name).Status
		return st.Phase == "Running" && st.ReadyReplicas == n
	}, "%s: %d running", name, n)
	var hashes []string
	for _, p := range c.starter.alive() {
		hashes = append(hashes, p.hash)
	}
	return hashes
}

const trustBody = "spec:\n  command: sleep 1000\n  startSeconds: 0\n"

// Under the policy, a manifest that turns insecure keeps its last valid spec
// running (SpecValid False, InsecureFile), and runs again once fixed,
// untouched; one owned by another user runs as that user and may not name
// root (UserNotAllowed).
func TestPolicyInTheLoop(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.yaml")
	fsys := newOwnersFS(map[string]uint32{dir: 0, path: 0})
	c := startCtrl(t, dir, Options{Trust: &manifest.Policy{}}, func(r *Reconciler) { r.scanner.fsys = fsys })
	c.write("x", trustBody, 0o644)
	c.rescan()
	c.specValid("x", status.ConditionTrue, "Valid", "")
	first := c.running("x", 1)

	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	c.rescan()
	c.specValid("x", status.ConditionFalse, manifest.ReasonInsecureFile, "x.yaml: file "+path+": mode 0666 owner uid 0: writable by group or other")
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c.rescan()
	c.specValid("x", status.ConditionFalse, manifest.ReasonInsecureFile, "x.yaml: directory "+dir+": mode 0777 owner uid 0: writable by group or other")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.rescan()
	c.specValid("x", status.ConditionTrue, "Valid", "")
	if again := c.running("x", 1); len(c.starter.all()) != 1 || again[0] != first[0] {
		t.Fatalf("the instance was replaced: %d starts", len(c.starter.all()))
	}

	// nobody's manifest: the same content now runs as uid 65534.
	fsys.chown(path, 65534)
	c.write("x", trustBody+"  replicas: 1\n", 0o644) // a new key (ctime) for the cache
	c.rescan()
	nobody, _ := spec.Parse("x.yaml", []byte(trustBody+"  replicas: 1\n  user: \"65534\"\n"))
	waitfor.Condition(t, waitTimeout, func() bool {
		alive := c.starter.alive()
		return len(alive) == 1 && alive[0].hash == spec.Hash(nobody)
	}, "x running as 65534")
	c.write("x", trustBody+"  user: root\n", 0o644)
	c.rescan()
	c.specValid("x", status.ConditionFalse, manifest.ReasonUserNotAllowed, "x.yaml:4:3: spec.user: names uid 0")
	if alive := c.starter.alive(); len(alive) != 1 || alive[0].hash != spec.Hash(nobody) {
		t.Errorf("the last valid spec no longer runs")
	}
}

// --trust-all-owners: nobody's manifest may name root; without user: it
// runs as the daemon's user.
func TestPolicyTrustAllOwners(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.yaml")
	fsys := newOwnersFS(map[string]uint32{dir: 0, path: 65534})
	c := startCtrl(t, dir, Options{Trust: &manifest.Policy{TrustAllOwners: true}}, func(r *Reconciler) { r.scanner.fsys = fsys })
	c.write("x", trustBody, 0o644)
	c.rescan()
	plain, _ := spec.Parse("x.yaml", []byte(trustBody))
	if h := c.running("x", 1); h[0] != spec.Hash(plain) {
		t.Errorf("nobody's manifest without user: runs as someone else than the daemon's user")
	}
	c.write("x", trustBody+"  user: root\n", 0o644)
	c.rescan()
	c.specValid("x", status.ConditionTrue, "Valid", "")
	if err := os.Chmod(path, 0o664); err != nil {
		t.Fatal(err)
	}
	c.rescan()
	c.specValid("x", status.ConditionFalse, manifest.ReasonInsecureFile, "mode 0664")
}
