package reconciler

// Integration tests: the real daemon (RunDaemon) on a t.TempDir(), real
// fsnotify, real processes. Helpers are prefixed "it".
//
// The tests do not call t.Parallel: RunDaemon creates its own proc.Starter,
// whose reaper reaps every zombie child of the process that is not one of its
// own leaders, and the proc package allows one Starter per process. Two
// daemons in one test binary at the same time would reap each other's
// leaders. itStart holds itDaemonMu while a daemon runs to make sure of it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// itDaemonDirEnv makes the test binary run a daemon on that directory (see
// TestMain): the SIGKILL test needs the daemon in a process of its own.
const itDaemonDirEnv = "RECONCILED_IT_DAEMON_DIR"

// itDaemonCgroupEnv is the child daemon's --cgroup-root.
const itDaemonCgroupEnv = "RECONCILED_IT_DAEMON_CGROUP_ROOT"

// itDaemonOnlyEnv and itDaemonExcludeEnv are the child daemon's --only and
// --exclude (comma-separated).
const (
	itDaemonOnlyEnv    = "RECONCILED_IT_DAEMON_ONLY"
	itDaemonExcludeEnv = "RECONCILED_IT_DAEMON_EXCLUDE"
)

// waitTimeout bounds every wait of these tests for an outcome: generous for
// a loaded 2-core machine under -race; a passing test never waits that long.
const waitTimeout = 20 * time.Second

// itOwnerEnv marks the processes of this test binary's daemons: a daemon
// hands its own environment down to its instances (and they to theirs), so
// every instance carries it, also those of a child daemon and their orphans.
// The leftover check (itKillPrograms) takes only processes with our mark:
// go test runs packages in parallel, and another test binary (cmd/reconciled,
// or a second run of this package) runs instances named web or worker too.
const itOwnerEnv = "RECONCILED_IT_OWNER"

// itOwner is the value of itOwnerEnv in this test binary's processes.
var itOwner string

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	if dir := os.Getenv(itDaemonDirEnv); dir != "" {
		os.Exit(itDaemonMain(dir)) // keeps the mark of the test that started it
	}
	itOwner = strconv.Itoa(os.Getpid())
	if err := os.Setenv(itOwnerEnv, itOwner); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// itDaemonMain is the daemon as a child process: RunDaemon until SIGTERM.
func itDaemonMain(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	names := func(env string) []string {
		if v := os.Getenv(env); v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	if err := RunDaemon(ctx, DaemonOptions{Dir: dir, Log: log, Stdout: os.Stdout, Stderr: os.Stderr, CgroupRoot: os.Getenv(itDaemonCgroupEnv),
		Only: names(itDaemonOnlyEnv), Exclude: names(itDaemonExcludeEnv)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// itDaemonMu is held while an in-process daemon runs (one Starter per process).
var itDaemonMu sync.Mutex

// itLogBuf collects the daemon's log lines.
type itLogBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *itLogBuf) logger(verbosity int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.b.WriteString(prefix)
		l.b.WriteByte(' ')
		l.b.WriteString(args)
		l.b.WriteByte('\n')
	}, funcr.Options{Verbosity: verbosity})
}

func (l *itLogBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// itDaemon is one in-process RunDaemon.
type itDaemon struct {
	t      *testing.T
	dir    string // the manifests (and, unless statusDir is set, the status files)
	status string // where status and event files are
	log    *itLogBuf
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	names   []string // program names, for the leftover check
	stopped bool
	err     error
}

type itOpts struct {
	dir        string        // default t.TempDir()
	statusDir  string        // default dir
	resync     time.Duration // default 30s (the daemon's)
	verbosity  int           // log verbosity; default 1 (events are logged at V(1))
	cgroupRoot string        // --cgroup-root; default: the daemon's default
}

// itStart runs RunDaemon in a goroutine. At cleanup it shuts the daemon down,
// fails the test if it does not return nil in time, and then checks that no
// process of the test's programs is left (killing any that is).
func itStart(t *testing.T, o itOpts) *itDaemon {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.verbosity == 0 {
		o.verbosity = 1
	}
	itDaemonMu.Lock()
	d := &itDaemon{t: t, dir: o.dir, status: o.dir, log: &itLogBuf{}, reload: make(chan struct{}, 1), done: make(chan error, 1)}
	if o.statusDir != "" {
		d.status = o.statusDir
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		d.done <- RunDaemon(ctx, DaemonOptions{
			Dir: o.dir, StatusDir: o.statusDir, Resync: o.resync, Reload: d.reload,
			Stdout: os.Stdout, Stderr: os.Stderr, Log: d.log.logger(o.verbosity), CgroupRoot: o.cgroupRoot,
		})
	}()
	t.Cleanup(func() {
		d.Stop()
		itDaemonMu.Unlock()
		d.mu.Lock()
		names := d.names
		d.mu.Unlock()
		if left := itKillPrograms(names...); len(left) > 0 {
			t.Errorf("processes left running after the daemon returned: %v", left)
		}
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", itTail(d.log.String(), 150))
		}
	})
	return d
}

// Stop cancels the daemon and waits for RunDaemon to return (once).
func (d *itDaemon) Stop() error {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return d.err
	}
	d.stopped = true
	d.cancel()
	select {
	case d.err = <-d.done:
		if d.err != nil {
			d.t.Errorf("RunDaemon returned %v", d.err)
		}
	case <-time.After(waitTimeout):
		d.err = errors.New("RunDaemon did not return")
		d.t.Errorf("RunDaemon did not return within %v of its context being cancelled", waitTimeout)
	}
	return d.err
}

// name returns a program name unique to this test, and remembers it for the
// leftover check.
func (d *itDaemon) name(base string) string {
	n := fmt.Sprintf("%s-%04x", base, rand.IntN(0x10000))
	d.mu.Lock()
	d.names = append(d.names, n)
	d.mu.Unlock()
	return n
}

// track adds program names made elsewhere to the leftover check.
func (d *itDaemon) track(names ...string) {
	d.mu.Lock()
	d.names = append(d.names, names...)
	d.mu.Unlock()
}

func itTail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// --- manifests ---

// itSpec returns a manifest: command (YAML) plus the test defaults, with
// fields ("key: value" lines at spec level) replacing a default of the same
// key or added.
func itSpec(command string, fields ...string) string {
	keys := []string{"command", "startSeconds", "stopTimeout", "restartDelay"}
	vals := map[string]string{"command": command, "startSeconds": "100ms", "stopTimeout": "500ms", "restartDelay": "20ms"}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, ":")
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = strings.TrimSpace(v)
	}
	var b strings.Builder
	b.WriteString("spec:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, vals[k])
	}
	return b.String()
}

// itWrite writes dir/name.yaml atomically: a hidden temp file renamed into
// place, so the daemon never reads half a file.
func itWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".yaml.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

func itRemove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

// --- status and events ---

// itWaitStatus waits until NAME.status.yaml exists and satisfies cond.
func itWaitStatus(t *testing.T, dir, name, what string, cond func(status.ProgramStatus) bool) status.ProgramStatus {
	t.Helper()
	var st status.ProgramStatus
	var err error
	if !waitfor.Until(waitTimeout, func() bool {
		st, err = status.ReadFile(status.StatusPath(dir, name))
		return err == nil && cond(st)
	}) {
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", name, what, err)
		}
		t.Fatalf("%s: timed out waiting for %s; last status:\n%s", name, what, itDump(st))
	}
	return st
}

func itDump(st status.ProgramStatus) string {
	b, err := status.Marshal(st)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// itReady is the condition "n instances, all RUNNING and ready, on the
// status's spec hash, phase Running".
func itReady(n int) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		s := st.Status
		if s.Replicas != n || s.ReadyReplicas != n || s.UpdatedReplicas != n || len(s.Instances) != n || s.Phase != "Running" {
			return false
		}
		for _, in := range s.Instances {
			if in.State != string(Running) || !in.Ready || in.Pid <= 0 || in.SpecHash != s.SpecHash {
				return false
			}
		}
		return true
	}
}

// itOrFatal is cond, or any instance FATAL (then the test fails at once
// rather than at the deadline).
func itOrFatal(t *testing.T, cond func(status.ProgramStatus) bool) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		if cond(st) {
			return true
		}
		for _, in := range st.Status.Instances {
			if in.State == string(Fatal) {
				t.Fatalf("%s is FATAL: %s", in.Name, in.Message)
			}
		}
		return false
	}
}

// itPids returns index -> pid of the instances that have a pid.
func itPids(st status.ProgramStatus) map[int]int {
	m := map[int]int{}
	for _, in := range st.Status.Instances {
		if in.Pid > 0 {
			m[in.Index] = in.Pid
		}
	}
	return m
}

func itInstance(st status.ProgramStatus, idx int) (status.Instance, bool) {
	for _, in := range st.Status.Instances {
		if in.Index == idx {
			return in, true
		}
	}
	return status.Instance{}, false
}

func itCondition(st status.ProgramStatus, typ string) status.Condition {
	c, _ := status.FindCondition(st.Status.Conditions, typ)
	return c
}

func itEvents(t *testing.T, dir, name string) []status.Event {
	t.Helper()
	evs, err := status.ReadEvents(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// itWaitEvents waits until the events of name satisfy cond.
func itWaitEvents(t *testing.T, dir, name, what string, cond func([]status.Event) bool) []status.Event {
	t.Helper()
	var evs []status.Event
	if !waitfor.Until(waitTimeout, func() bool {
		evs, _ = status.ReadEvents(dir, name)
		return cond(evs)
	}) {
		t.Fatalf("%s: timed out waiting for %s; events:\n%s", name, what, itEventsString(evs))
	}
	return evs
}

func itHasReason(reason, instance string) func([]status.Event) bool {
	return func(evs []status.Event) bool { return itCount(evs, reason, instance) > 0 }
}

// itCount counts events of reason (for instance, unless it is "*").
func itCount(evs []status.Event, reason, instance string) int {
	n := 0
	for _, ev := range evs {
		if ev.Reason == reason && (instance == "*" || ev.Instance == instance) {
			n++
		}
	}
	return n
}

func itEventsString(evs []status.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %-7s %-10s %-12s pid=%d %s\n", ev.Time.Format("15:04:05.000"), ev.Type, ev.Reason, ev.Instance, ev.Pid, ev.Message)
	}
	return b.String()
}

// --- processes, from /proc ---

type itStat struct {
	state      byte
	ppid, pgid int
	nice       int
	start      uint64 // clock ticks since boot
}

func itReadStat(pid int) (itStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return itStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return itStat{}, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 20 {
		return itStat{}, false
	}
	var st itStat
	st.state = f[0][0]
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgid, _ = strconv.Atoi(f[2])
	st.nice, _ = strconv.Atoi(f[16])
	st.start, _ = strconv.ParseUint(f[19], 10, 64)
	return st, true
}

// itProc is a process identity: pid plus start time, so a reused pid is not
// mistaken for the process.
type itProc struct {
	pid   int
	start uint64
}

func itRef(t *testing.T, pid int) itProc {
	t.Helper()
	st, ok := itReadStat(pid)
	if !ok || st.state == 'Z' {
		t.Fatalf("process %d is not alive", pid)
	}
	return itProc{pid, st.start}
}

func (p itProc) alive() bool {
	st, ok := itReadStat(p.pid)
	return ok && st.state != 'Z' && st.start == p.start
}

func itAlive(pid int) bool {
	st, ok := itReadStat(pid)
	return ok && st.state != 'Z'
}

// itWaitGone waits until none of procs is alive.
func itWaitGone(t *testing.T, what string, procs ...itProc) {
	t.Helper()
	if !waitfor.Until(waitTimeout, func() bool {
		for _, p := range procs {
			if p.alive() {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("%s: still alive after %v: %v", what, waitTimeout, procs)
	}
}

func itListPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// itGroup returns the live members of process group pgid.
func itGroup(pgid int) []int {
	var out []int
	for _, pid := range itListPids() {
		if st, ok := itReadStat(pid); ok && st.pgid == pgid && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// itWaitGroup waits until group pgid has at least n live members and returns
// them as identities.
func itWaitGroup(t *testing.T, pgid, n int) []itProc {
	t.Helper()
	var pids []int
	if !waitfor.Until(waitTimeout, func() bool {
		pids = itGroup(pgid)
		return len(pids) >= n
	}) {
		t.Fatalf("group %d: want %d members, have %v", pgid, n, pids)
	}
	var out []itProc
	for _, pid := range pids {
		if st, ok := itReadStat(pid); ok {
			out = append(out, itProc{pid, st.start})
		}
	}
	return out
}

func itCmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func itEnvValue(pid int, key string) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", false
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// itKillPrograms SIGKILLs every live process whose environment marks it as an
// instance (or descendant of one) of one of names, started by a daemon of
// this test binary (itOwnerEnv), reaps those that are our children, and
// returns what it found as "pid(program)".
func itKillPrograms(names ...string) []string {
	if len(names) == 0 {
		return nil
	}
	var found []string
	var killed []int
	for _, pid := range itListPids() {
		if pid == os.Getpid() || !itAlive(pid) {
			continue
		}
		prog, ok := itEnvValue(pid, "RECONCILED_PROGRAM")
		if !ok || !slices.Contains(names, prog) {
			continue
		}
		if owner, _ := itEnvValue(pid, itOwnerEnv); owner != itOwner {
			continue // another test binary's: not ours to report or kill
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if itAlive(pid) {
			found = append(found, fmt.Sprintf("%d(%s %s)", pid, prog, strings.Join(itCmdline(pid), " ")))
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			killed = append(killed, pid)
		}
		unix.Close(fd)
	}
	// Reap our own zombies among them; no daemon runs now, so no reaper
	// competes and none of them is a registered leader.
	for _, pid := range killed {
		waitfor.Until(waitTimeout, func() bool {
			st, ok := itReadStat(pid)
			return !ok || st.state == 'Z'
		})
		if st, ok := itReadStat(pid); ok && st.ppid == os.Getpid() {
			_, _ = unix.Wait4(pid, nil, unix.WNOHANG, nil)
		}
	}
	return found
}

// itZombies returns our zombie children.
func itZombies() []int {
	var out []int
	self := os.Getpid()
	for _, pid := range itListPids() {
		if st, ok := itReadStat(pid); ok && st.ppid == self && st.state == 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

func itFdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
