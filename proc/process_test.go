package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		sig  syscall.Signal // sent to the leader once started
		want ExitStatus
		str  string
	}{
		{"zero", []string{"sh", "-c", "exit 0"}, 0, ExitStatus{Code: 0}, "exit code 0"},
		{"code", []string{"sh", "-c", "exit 3"}, 0, ExitStatus{Code: 3}, "exit code 3"},
		{"term", []string{"sleep", "1000"}, syscall.SIGTERM, ExitStatus{Code: -1, Signal: syscall.SIGTERM}, "signal TERM"},
		{"kill", []string{"sleep", "1000"}, syscall.SIGKILL, ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "signal KILL"},
		{"self-kill", []string{"sh", "-c", "kill -USR1 $$"}, 0, ExitStatus{Code: -1, Signal: syscall.SIGUSR1}, "signal USR1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, Spec{Argv: tt.argv})
			if tt.sig != 0 {
				if err := p.Signal(tt.sig); err != nil {
					t.Fatalf("Signal: %v", err)
				}
			}
			st, err := p.Wait(testCtx(t))
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if st != tt.want || st.String() != tt.str {
				t.Errorf("Wait = %+v (%q), want %+v (%q)", st, st, tt.want, tt.str)
			}
		})
	}
}

func TestWaitDoesNotReap(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sh", "-c", "exit 7"}})
	ctx := testCtx(t)
	st, err := p.Wait(ctx)
	if err != nil || st.Code != 7 {
		t.Fatalf("Wait = %v, %v; want exit code 7", st, err)
	}
	// Still a zombie child of ours: its pid, and so its pgid, is pinned.
	s, err := readStat(p.Pid())
	if err != nil {
		t.Fatalf("stat after Wait: %v", err)
	}
	if s.state != 'Z' || s.ppid != os.Getpid() || s.pgid != p.Pid() {
		t.Errorf("after Wait: state %c ppid %d pgid %d; want Z, %d, %d", s.state, s.ppid, s.pgid, os.Getpid(), p.Pid())
	}
	// A reaper pass leaves registered leaders alone.
	testStarter.reap(true)
	if s, err := readStat(p.Pid()); err != nil || s.state != 'Z' {
		t.Fatalf("after reaper pass: %+v, %v; want a zombie", s, err)
	}
	// Wait again: same status, at once.
	if st2, err := p.Wait(ctx); err != nil || st2 != st {
		t.Errorf("second Wait = %v, %v; want %v", st2, err, st)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
	// The group is only the zombie leader: kill(-pgid) finds no live member.
	if err := p.SignalGroup(0); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SignalGroup on a zombie leader = %v", err)
	}
	if err := p.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if s, err := readStat(p.Pid()); err == nil && s.ppid == os.Getpid() {
		t.Errorf("after Release pid %d is still our child: %+v", p.Pid(), s)
	}
	if err := p.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := p.SignalGroup(syscall.SIGTERM); !errors.Is(err, ErrReleased) {
		t.Errorf("SignalGroup after Release = %v, want ErrReleased", err)
	}
}

// TestReapAtExit: with Spec.ReapAtExit the leader is reaped when its exit
// is observed (by the exit watcher, or by Exited when it asks first), and
// from then on SignalGroup refuses (the pgid is no longer pinned) while
// Release only closes the pidfd.
func TestReapAtExit(t *testing.T) {
	ctx := testCtx(t)
	for _, killed := range []bool{false, true} {
		argv := []string{"sh", "-c", "exit 7"}
		if killed {
			argv = []string{"sleep", "1000"}
		}
		p := start(t, Spec{Argv: argv, ReapAtExit: true})
		if killed {
			if err := p.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitfor.Condition(t, waitTimeout, p.Exited, "Exited")
		}
		st, err := p.Wait(ctx)
		if err != nil || (!killed && st.Code != 7) || (killed && st.Signal != syscall.SIGKILL) {
			t.Fatalf("Wait = %+v, %v", st, err)
		}
		if s, err := readStat(p.Pid()); err == nil && s.ppid == os.Getpid() {
			t.Errorf("after the exit was observed pid %d is still our child: %+v (want reaped)", p.Pid(), s)
		}
		if testStarter.protected(p.Pid()) {
			t.Errorf("pid %d still registered as a leader after its reap", p.Pid())
		}
		if err := p.SignalGroup(syscall.SIGTERM); !errors.Is(err, ErrReleased) {
			t.Errorf("SignalGroup after the reap = %v, want ErrReleased", err)
		}
		if err := p.Release(); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if err := p.Release(); err != nil {
			t.Errorf("second Release: %v", err)
		}
	}
}

func TestReleaseRunning(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "1000"}})
	if err := p.Release(); !errors.Is(err, ErrNotExited) {
		t.Fatalf("Release of a running process = %v, want ErrNotExited", err)
	}
	if !p.groupAlive() {
		t.Errorf("groupAlive = false for a running leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with an expiring ctx = %v, want DeadlineExceeded", err)
	}
}

// TestExited: Exited asks the kernel, and an exit it finds counts as
// observed (Wait returns at once, OnExit's callbacks have run).
func TestExited(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "1000"}})
	if p.Exited() {
		t.Fatal("Exited = true for a running leader")
	}
	ran := make(chan struct{})
	p.OnExit(func() { close(ran) })
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, p.Exited, "Exited after SIGKILL")
	select {
	case <-p.Done():
	default:
		t.Error("Exited = true, and the exit not observed")
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Error("OnExit's callback did not run")
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Error("Exited = false after Release")
	}
}

// TestWaitParksOnEpoll checks that Wait parks on the netpoller: the pidfd is
// in Go's epoll set, and the waitid callback runs once before parking and once
// when the exit makes the pidfd readable, not in a loop.
func TestWaitParksOnEpoll(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "0.3"}})
	pidfd := p.pidfd
	if !inEpollSet(t, pidfd) {
		t.Errorf("pidfd %d is in no epoll set of this process", pidfd)
	}
	st, err := p.Wait(testCtx(t)) // a status is proof that the process exited
	if err != nil || !st.Success() {
		t.Fatalf("Wait = %v, %v", st, err)
	}
	if n := p.wakeups.Load(); n < 1 || n > 3 {
		t.Errorf("waitid callback ran %d times, want 2 (one check, one wake-up)", n)
	}
	t.Logf("waitid callback ran %d times", p.wakeups.Load())
}

// TestWaitersDoNotSpin parks many waiters and checks that none of them
// spins: each one's waitid callback runs once before parking and once when
// its process exits, not in a loop. (What parked waiters cost in CPU is
// BenchmarkParkedWaiters's figure.)
func TestWaitersDoNotSpin(t *testing.T) {
	const n = 100
	ps := make([]*Process, n)
	for i := range ps {
		ps[i] = start(t, Spec{Argv: []string{"sleep", "0.5"}})
	}
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			if _, err := p.Wait(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, p := range ps {
		if w := p.wakeups.Load(); w < 1 || w > 3 {
			t.Errorf("pid %d: waitid callback ran %d times, want 2 (one check, one wake-up)", p.Pid(), w)
		}
	}
}

// inEpollSet reports whether fd is a target of an epoll instance of ours.
func inEpollSet(t *testing.T, fd int) bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tfd: %8d ", fd)
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err == nil && strings.Contains(string(info), want) {
			return true
		}
	}
	return false
}

func TestSignalGroupReachesGrandchild(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", "sleep 1000 & echo $!; wait"}, Stdout: w})
	gc, _ := strconv.Atoi(readLines(t, r, 1)[0])
	ticks := startTicksOf(t, gc)
	killLater(t, gc)
	if s, _ := readStat(gc); s.pgid != p.Pid() {
		t.Fatalf("grandchild pgid %d, want %d", s.pgid, p.Pid())
	}
	if err := p.SignalGroup(syscall.SIGTERM); err != nil {
		t.Fatalf("SignalGroup: %v", err)
	}
	ctx := testCtx(t)
	st, err := p.Wait(ctx)
	if err != nil || st.Signal != syscall.SIGTERM {
		t.Errorf("leader: %v, %v; want signal TERM", st, err)
	}
	if err := p.WaitGroupEmpty(ctx); err != nil {
		t.Fatalf("WaitGroupEmpty: %v", err)
	}
	if alive(gc, ticks) {
		st, _ := readStat(gc)
		kids, _ := testStarter.lister.children()
		t.Errorf("grandchild %d survived SignalGroup: %+v, listed %v, groupAlive now %v", gc, st, slices.Contains(kids, gc), p.groupAlive())
	}
}

func TestTerminateKillsTermIgnorer(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", `trap "" TERM; echo ready; sleep 1000`}, Stdout: w})
	readLines(t, r, 1)
	const timeout = 300 * time.Millisecond
	t0 := time.Now()
	st, err := terminate(testCtx(t), p, syscall.SIGTERM, timeout)
	if err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	// A lower bound, not a speed: the process had its grace period before
	// the KILL. A slow machine only makes the call take longer.
	if d := time.Since(t0); d < timeout {
		t.Errorf("Terminate took %v, less than the %v timeout", d, timeout)
	}
	if st.Signal != syscall.SIGKILL {
		t.Errorf("exit = %v, want signal KILL", st)
	}
	if err := p.SignalGroup(0); !errors.Is(err, ErrReleased) {
		t.Errorf("Terminate did not release: SignalGroup = %v", err)
	}
}

// TestTerminateGraceful: terminate returns when a process that dies on TERM
// has died, not at the timeout: the timeout is an hour, and the test's
// context, far shorter, would end a terminate that waited for it (with an
// error).
func TestTerminateGraceful(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "1000"}})
	st, err := terminate(testCtx(t), p, syscall.SIGTERM, time.Hour)
	if err != nil || st.Signal != syscall.SIGTERM {
		t.Fatalf("Terminate = %v, %v; want signal TERM", st, err)
	}
}

// TestTerminateKillsLeftovers: the leader exits at once, leaving a grandchild
// that ignores TERM in its group. It is reparented to us, the group stays
// alive, and Terminate SIGKILLs it at the timeout.
func TestTerminateKillsLeftovers(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", `(trap "" TERM; exec sleep 1000) & echo $!`}, Stdout: w})
	gc, _ := strconv.Atoi(readLines(t, r, 1)[0])
	killLater(t, gc)
	ctx := testCtx(t)
	if st, err := p.Wait(ctx); err != nil || !st.Success() {
		t.Fatalf("leader: %v, %v; want exit code 0", st, err)
	}
	// Once it is sleep, the trap is set (ignored signals survive exec).
	waitfor.Condition(t, waitTimeout, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", gc))
		return err == nil && string(b) == "sleep\n"
	}, "grandchild execs sleep")
	ticks := startTicksOf(t, gc)
	if s, _ := readStat(gc); s.ppid != os.Getpid() || s.pgid != p.Pid() {
		t.Fatalf("grandchild ppid %d pgid %d; want reparented to us (%d) in group %d", s.ppid, s.pgid, os.Getpid(), p.Pid())
	}
	if !p.groupAlive() {
		t.Fatal("groupAlive = false with a live grandchild in the group")
	}
	st, err := terminate(ctx, p, syscall.SIGTERM, 200*time.Millisecond)
	if err != nil || !st.Success() {
		t.Fatalf("Terminate = %v, %v; want the leader's exit code 0", st, err)
	}
	if alive(gc, ticks) {
		t.Errorf("grandchild %d survived Terminate", gc)
	}
	if p.groupAlive() {
		t.Errorf("groupAlive = true after Terminate")
	}
}

func TestOrphansReaped(t *testing.T) {
	r, w := pipe(t)
	// Five orphans in the group and one that left it (setsid), all exit soon.
	script := `for i in 1 2 3 4 5; do sleep 0.2 & echo $!; done; setsid sleep 0.2 & echo $!`
	p := start(t, Spec{Argv: []string{"sh", "-c", script}, Stdout: w})
	pids := readLines(t, r, 6)
	ctx := testCtx(t)
	if err := p.WaitGroupEmpty(ctx); err != nil {
		t.Fatalf("WaitGroupEmpty: %v", err)
	}
	// The leader exits at once; the group is empty only once the five in
	// it have exited too.
	for _, s := range pids[:5] {
		pid, _ := strconv.Atoi(s)
		if st, err := readStat(pid); err == nil && st.pgid == p.Pid() && !st.dead() {
			t.Errorf("WaitGroupEmpty returned with %d alive in the group", pid)
		}
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return len(zombieChildren(t)) == 0 }, "no zombie children")
	for _, s := range pids {
		pid, _ := strconv.Atoi(s)
		waitfor.Condition(t, waitTimeout, func() bool {
			st, err := readStat(pid)
			return err != nil || st.ppid != os.Getpid()
		}, "orphan %s reaped", s)
	}
}

func TestEnvDirUmask(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, umask := range []uint32{0o027, 0o002} {
		t.Run(fmt.Sprintf("%04o", umask), func(t *testing.T) {
			r, w := pipe(t)
			p := start(t, Spec{
				Argv:   []string{"sh", "-c", `echo "$FOO"; pwd; umask`},
				Env:    []string{testPath, "FOO=bar baz"},
				Dir:    dir,
				Umask:  &umask,
				Stdout: w,
			})
			if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
				t.Fatalf("Wait = %v, %v", st, err)
			}
			got := readAllOutput(t, r, w)
			want := fmt.Sprintf("bar baz\n%s\n%04o\n", real, umask)
			if got != want {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

func TestNice(t *testing.T) {
	for _, nice := range []int{7, -3} {
		t.Run(strconv.Itoa(nice), func(t *testing.T) {
			if nice < 0 && !isRoot() {
				t.Skip("negative nice needs root")
			}
			spec := Spec{Argv: []string{"sleep", "1000"}, Nice: &nice}
			if nice < 0 {
				// With a credential: nice is applied before privileges drop.
				cred, _, err := LookupUser("nobody", "")
				if err != nil {
					t.Fatal(err)
				}
				spec.Credential = &cred
			}
			p := start(t, spec)
			waitfor.Condition(t, waitTimeout, func() bool {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
				return err == nil && string(b) == "sleep\n"
			}, "shim execs sleep")
			s, err := readStat(p.Pid())
			if err != nil {
				t.Fatal(err)
			}
			if s.nice != nice {
				t.Errorf("nice = %d, want %d", s.nice, nice)
			}
			if s.pgid != p.Pid() {
				t.Errorf("pgid = %d, want %d (own group through the shim)", s.pgid, p.Pid())
			}
		})
	}
}

func TestShimExecFailure(t *testing.T) {
	umask := uint32(0o22)
	r, w := pipe(t)
	// An absolute Argv[0] is not checked before the fork: the shim reports.
	p := start(t, Spec{Argv: []string{"/"}, Umask: &umask, Stderr: w})
	st, err := p.Wait(testCtx(t))
	if err != nil || st.Code != 127 {
		t.Fatalf("Wait = %v, %v; want exit code 127", st, err)
	}
	if out := readAllOutput(t, r, w); !strings.Contains(out, "reconciled-exec-shim: exec /: permission denied") {
		t.Errorf("stderr %q", out)
	}
}

func TestCredential(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root")
	}
	cred, env, err := LookupUser("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	umask := uint32(0o077)
	for _, viaShim := range []bool{false, true} {
		t.Run(fmt.Sprintf("shim=%v", viaShim), func(t *testing.T) {
			r, w := pipe(t)
			spec := Spec{
				Argv:       []string{"sh", "-c", `id -u; id -g; id -G; echo "$HOME $USER $LOGNAME $SHELL"`},
				Env:        append([]string{testPath}, env...),
				Credential: &cred,
				Stdout:     w,
			}
			if viaShim {
				spec.Umask = &umask
			}
			p := start(t, spec)
			if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
				t.Fatalf("Wait = %v, %v", st, err)
			}
			got := readAllOutput(t, r, w)
			vals := make([]string, len(env))
			for i, kv := range env {
				vals[i] = kv[strings.IndexByte(kv, '=')+1:]
			}
			want := fmt.Sprintf("%d\n%d\n%d\n%s\n", cred.UID, cred.GID, cred.GID, strings.Join(vals, " "))
			if got != want {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

func TestLookupUser(t *testing.T) {
	nobody, env, err := LookupUser("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	if nobody.UID != 65534 || nobody.GID != 65534 || len(nobody.Groups) != 1 || nobody.Groups[0] != 65534 {
		t.Errorf("nobody = %+v", nobody)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := "HOME=" + u.HomeDir + " USER=nobody LOGNAME=nobody SHELL=" + loginShell("nobody")
	if strings.Join(env, " ") != wantEnv {
		t.Errorf("env = %q, want %q", env, wantEnv)
	}
	if c, _, err := LookupUser("65534", ""); err != nil || c.UID != 65534 || c.GID != 65534 {
		t.Errorf("LookupUser(65534) = %+v, %v", c, err)
	}
	if c, _, err := LookupUser("nobody", "root"); err != nil || c.GID != 0 || len(c.Groups) != 2 {
		t.Errorf("LookupUser(nobody, root) = %+v, %v; want gid 0 and groups [65534 0]", c, err)
	}
	if c, _, err := LookupUser("nobody", "4321"); err != nil || c.GID != 4321 {
		t.Errorf("LookupUser(nobody, 4321) = %+v, %v", c, err)
	}
	if c, env, err := LookupUser("4242", ""); err != nil || c.UID != 4242 || c.GID != 4242 || len(c.Groups) != 0 || env[0] != "HOME=/" {
		t.Errorf("LookupUser(4242) = %+v, %v, %v", c, env, err)
	}
	if _, _, err := LookupUser("no-such-user-xyz", ""); err == nil {
		t.Error("LookupUser of an unknown name succeeded")
	}
	if _, _, err := LookupUser("nobody", "no-such-group-xyz"); err == nil {
		t.Error("LookupUser with an unknown group succeeded")
	}
}

func TestStartLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho hello-$1\n"
	if err := os.WriteFile(filepath.Join(bin, "hello"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, spec Spec) string {
		r, w := pipe(t)
		spec.Stdout = w
		p := start(t, spec)
		if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
			t.Fatalf("Wait = %v, %v", st, err)
		}
		return readAllOutput(t, r, w)
	}
	t.Run("instance PATH", func(t *testing.T) {
		got := run(t, Spec{Argv: []string{"hello", "a"}, Env: []string{"PATH=/nonexistent:" + bin}})
		if got != "hello-a\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("relative PATH entry", func(t *testing.T) {
		got := run(t, Spec{Argv: []string{"hello", "b"}, Env: []string{"PATH=bin"}, Dir: dir})
		if got != "hello-b\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("relative to Dir", func(t *testing.T) {
		got := run(t, Spec{Argv: []string{"./bin/hello", "c"}, Dir: dir})
		if got != "hello-c\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("not in the daemon's PATH", func(t *testing.T) {
		_, err := testStarter.Start(Spec{Argv: []string{"hello"}, Env: []string{testPath}})
		want := `start hello: exec: "hello": executable file not found in $PATH`
		if err == nil || err.Error() != want {
			t.Errorf("Start error %v, want %q", err, want)
		}
		if !errors.Is(err, exec.ErrNotFound) {
			t.Errorf("error %v is not exec.ErrNotFound", err)
		}
	})
	t.Run("named", func(t *testing.T) {
		_, err := testStarter.Start(Spec{Name: "worker-0", Argv: []string{"x"}, Env: []string{"PATH=" + bin}})
		want := `start worker-0: exec: "x": executable file not found in $PATH`
		if err == nil || err.Error() != want {
			t.Errorf("Start error %v, want %q", err, want)
		}
	})
	t.Run("missing Dir", func(t *testing.T) {
		_, err := testStarter.Start(Spec{Argv: []string{"/bin/true"}, Dir: filepath.Join(dir, "nope")})
		if err == nil || !strings.Contains(err.Error(), "chdir") || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Start error %v, want a chdir error", err)
		}
	})
	t.Run("not executable", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := testStarter.Start(Spec{Argv: []string{"./data"}, Dir: dir})
		if err == nil || !errors.Is(err, os.ErrPermission) {
			t.Errorf("Start error %v, want permission denied", err)
		}
	})
	if z := zombieChildren(t); len(z) != 0 {
		t.Errorf("failed starts left zombies %v", z)
	}
}

// TestConcurrentStarts starts many processes from several goroutines while the
// reaper runs, and checks that the reaper took none of the leaders.
func TestConcurrentStarts(t *testing.T) {
	sleep, err := lookPath("sleep", []string{testPath}, "")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	procs := make(chan *Process, 2*workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				p, err := testStarter.Start(Spec{Argv: []string{sleep, "1000"}})
				if err != nil {
					t.Error(err)
					return
				}
				procs <- p
				// Churn: a short-lived process whose exit runs the reaper.
				q, err := testStarter.Start(Spec{Argv: []string{"/bin/true"}})
				if err != nil {
					t.Error(err)
					return
				}
				procs <- q
			}
		})
	}
	wg.Wait()
	close(procs)
	ctx := testCtx(t)
	var all []*Process
	for p := range procs {
		all = append(all, p)
		t.Cleanup(func() { cleanup(t, p) })
	}
	for _, p := range all {
		if err := p.SignalGroup(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SignalGroup %d: %v", p.Pid(), err)
		}
	}
	for _, p := range all {
		st, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait %d: %v (reaped by someone else?)", p.Pid(), err)
		}
		if st.Signal != syscall.SIGKILL && !st.Success() {
			t.Errorf("pid %d: %v", p.Pid(), st)
		}
		if err := p.Release(); err != nil {
			t.Errorf("Release %d: %v", p.Pid(), err)
		}
	}
	waitfor.Condition(t, waitTimeout, func() bool { return len(zombieChildren(t)) == 0 }, "no zombie children")
}

// TestStartUnmanaged shows why other code must start children in new process
// groups through startUnmanaged: without it the reaper takes their exit.
func TestStartUnmanaged(t *testing.T) {
	run := func(t *testing.T, managed bool) error {
		cmd := exec.Command("sh", "-c", "exit 3")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		startFn := func() (int, error) {
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			return cmd.Process.Pid, nil
		}
		var pid int
		if managed {
			done, err := testStarter.startUnmanaged(startFn)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			pid = cmd.Process.Pid
		} else {
			var err error
			if pid, err = startFn(); err != nil {
				t.Fatal(err)
			}
		}
		waitfor.Condition(t, waitTimeout, func() bool {
			st, err := readStat(pid)
			return err != nil || st.state == 'Z'
		}, "child exits")
		testStarter.reap(true)
		return cmd.Wait()
	}
	t.Run("managed", func(t *testing.T) {
		err := run(t, true)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("Wait = %v, want exit status 3", err)
		}
	})
	t.Run("unprotected", func(t *testing.T) {
		err := run(t, false)
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Skip("the reaper did not get there first this time")
		}
		t.Logf("as expected, cmd.Wait = %v", err)
	})
	t.Run("own group", func(t *testing.T) {
		// os/exec children in our own group are left to their starter.
		cmd := exec.Command("sh", "-c", "exit 4")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		waitfor.Condition(t, waitTimeout, func() bool {
			st, err := readStat(pid)
			return err != nil || st.state == 'Z'
		}, "child exits")
		testStarter.reap(true)
		var ee *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 4 {
			t.Errorf("Wait = %v, want exit status 4", err)
		}
	})
}

func TestParentDeathSignal(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"direct", "shim"} {
		t.Run(mode, func(t *testing.T) {
			r, w := pipe(t)
			helper := start(t, Spec{
				Argv:   []string{self, "-test.run=^$"},
				Env:    []string{testPath, helperEnv + "=" + mode},
				Stdout: w,
			})
			pid, err := strconv.Atoi(readLines(t, r, 1)[0])
			if err != nil {
				t.Fatal(err)
			}
			waitfor.Condition(t, waitTimeout, func() bool {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				return err == nil && string(b) == "sleep\n"
			}, "helper's child execs sleep")
			ticks := startTicksOf(t, pid)
			killLater(t, pid)
			if err := helper.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if st, err := helper.Wait(testCtx(t)); err != nil || st.Signal != syscall.SIGKILL {
				t.Fatalf("helper: %v, %v", st, err)
			}
			waitfor.Condition(t, waitTimeout, func() bool { return !alive(pid, ticks) }, "the helper's sleep dies with it")
		})
	}
}

func TestParseStat(t *testing.T) {
	line := "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 0 0 0 0 0 0 0 0 20 -5 1 0 98765 0 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'S' || st.ppid != 1 || st.pgid != 1234 || st.nice != -5 || st.startTicks != 98765 {
		t.Errorf("parseStat = %+v", st)
	}
	if _, err := parseStat([]byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat parsed")
	}
}

func TestOnExit(t *testing.T) {
	p := start(t, Spec{Argv: []string{"/bin/sh", "-c", "exit 7"}})
	got := make(chan ExitStatus, 2)
	p.OnExit(func() {
		st, _ := p.Wait(testCtx(t))
		got <- st
	})
	select {
	case st := <-got:
		if st.Code != 7 {
			t.Fatalf("exit %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not called")
	}
	// Registered after the exit: called at once.
	p.OnExit(func() { got <- ExitStatus{Code: 8} })
	select {
	case st := <-got:
		if st.Code != 8 {
			t.Fatalf("late OnExit: %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("late OnExit not called")
	}
}

// TestExitWatcherOneGoroutine checks that waiting for many processes takes
// one goroutine in all, not one per process, and that every exit is seen.
func TestExitWatcherOneGoroutine(t *testing.T) {
	const n = 40
	base := runtime.NumGoroutine()
	ps := make([]*Process, n)
	for i := range ps {
		ps[i] = start(t, Spec{Argv: []string{"sleep", "1000"}})
		ps[i].OnExit(func() {}) // a supervisor's callback, as the reconciler's
	}
	if g := runtime.NumGoroutine() - base; g > 3 {
		t.Errorf("%d more goroutines while %d processes run, want at most 3", g, n)
	}
	for _, p := range ps {
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps {
		st, err := p.Wait(testCtx(t))
		if err != nil || st.Signal != syscall.SIGKILL {
			t.Fatalf("Wait = %+v, %v", st, err)
		}
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
	}
}

// OnGroupEmpty calls back once, after the leader's exit and its group's
// last member are gone, whether registered before the exit or after it.
func TestOnGroupEmpty(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", "sleep 0.3 & echo $!; exec sleep 0.1"}, Stdout: w})
	gc, _ := strconv.Atoi(readLines(t, r, 1)[0])
	killLater(t, gc)
	calls := make(chan string, 4)
	onEmpty := func(who string) func() {
		return func() {
			if st, err := readStat(gc); err == nil && !st.dead() {
				who += fmt.Sprintf(" with %d alive in the group", gc)
			}
			calls <- who
		}
	}
	p.OnGroupEmpty(onEmpty("before the exit"))
	ctx := testCtx(t)
	if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	p.OnGroupEmpty(onEmpty("after the exit"))
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case who := <-calls:
			if got[who] {
				t.Fatalf("called twice: %s", who)
			}
			got[who] = true
		case <-ctx.Done():
			t.Fatalf("called back: %v; want both", got)
		}
	}
	if !got["before the exit"] || !got["after the exit"] {
		t.Fatalf("called back: %v; want each once, with the group gone", got)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
}

// GroupGone is never true while a member of the group lives, and becomes
// true, without anyone waiting, once the reaper has seen the group empty.
func TestGroupGone(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", "sleep 0.3 & echo $!"}, Stdout: w})
	gc, _ := strconv.Atoi(readLines(t, r, 1)[0])
	ticks := startTicksOf(t, gc)
	killLater(t, gc)
	ctx := testCtx(t)
	if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for alive(gc, ticks) {
		if p.GroupGone() {
			if st, err := readStat(gc); err == nil && !st.dead() {
				t.Fatalf("GroupGone with %d alive in the group", gc)
			}
		}
		time.Sleep(time.Millisecond) // makes time pass: GroupGone is sampled for as long as the grandchild lives (a negative check)
	}
	waitfor.Condition(t, waitTimeout, p.GroupGone, "GroupGone once the grandchild is gone")
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
}
