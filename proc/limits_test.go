package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
	"golang.org/x/sys/unix"
)

// startSleep starts `sleep 1000` with spec's settings and waits until the
// shim has exec'd it.
func startSleep(t *testing.T, s Spec) *Process {
	t.Helper()
	s.Argv = []string{"sleep", "1000"}
	p := start(t, s)
	waitfor.Condition(t, waitTimeout, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
		return err == nil && string(b) == "sleep\n"
	}, "shim execs sleep")
	return p
}

// readLimits returns pid's soft and hard limits by resource from
// /proc/PID/limits, whose lines after the header are in RLIMIT_* order.
func readLimits(t *testing.T, pid int) map[int][2]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	limits := map[int][2]string{}
	for res := -1; sc.Scan(); res++ {
		if res < 0 {
			continue // the header
		}
		// "Max open files            1024                 4096                 files"
		fields := strings.Fields(sc.Text()[len("Max realtime timeout      "):])
		if len(fields) < 2 {
			t.Fatalf("/proc/%d/limits: line %q", pid, sc.Text())
		}
		limits[res] = [2]string{fields[0], fields[1]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return limits
}

func currentHard(t *testing.T, res int) uint64 {
	t.Helper()
	var l unix.Rlimit
	if err := unix.Getrlimit(res, &l); err != nil {
		t.Fatal(err)
	}
	return l.Max
}

// TestRlimits sets every limit a Spec may set, below the daemon's hard
// limits so that no privilege is needed, and reads them back from
// /proc/PID/limits. as and data are tight: the shim, which runs under them
// between setrlimit and exec, must get to exec all the same.
func TestRlimits(t *testing.T) {
	want := []Rlimit{
		{unix.RLIMIT_AS, 64 << 20, 64 << 20},
		{unix.RLIMIT_CORE, 0, 0},
		{unix.RLIMIT_CPU, 3600, currentHard(t, unix.RLIMIT_CPU)},
		{unix.RLIMIT_DATA, 16 << 20, 32 << 20},
		{unix.RLIMIT_FSIZE, 1 << 30, currentHard(t, unix.RLIMIT_FSIZE)},
		{unix.RLIMIT_MEMLOCK, 64 << 10, 64 << 10},
		{unix.RLIMIT_MSGQUEUE, 8192, 8192},
		{unix.RLIMIT_NOFILE, 100, 200},
		{unix.RLIMIT_NPROC, 500, 1000},
		{unix.RLIMIT_RTPRIO, 0, 0},
		{unix.RLIMIT_RTTIME, 200000, currentHard(t, unix.RLIMIT_RTTIME)},
		{unix.RLIMIT_SIGPENDING, 100, 100},
		{unix.RLIMIT_STACK, 4 << 20, currentHard(t, unix.RLIMIT_STACK)},
	}
	if len(want) != len(rlimitNames()) {
		t.Fatalf("the test covers %d limits, Spec takes %d", len(want), len(rlimitNames()))
	}
	p := startSleep(t, Spec{Rlimits: want})
	got := readLimits(t, p.Pid())
	for _, l := range want {
		name, _ := rlimitName(l.Resource)
		if w := [2]string{rlimitValue(l.Soft), rlimitValue(l.Hard)}; got[l.Resource] != w {
			t.Errorf("%s: soft, hard = %v, want %v", name, got[l.Resource], w)
		}
	}
}

// TestRlimitsWithCredential: limits are set while the shim is still root,
// before it becomes the instance's user, so that a hard limit above the
// daemon's can be given (when the daemon has CAP_SYS_RESOURCE: root in a
// container may not; the test then lowers it).
func TestRlimitsWithCredential(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root")
	}
	cred, _, err := LookupUser("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	hard := currentHard(t, unix.RLIMIT_NOFILE) - 10
	if hasCapability(t, unix.CAP_SYS_RESOURCE) {
		hard += 1010
	}
	p := startSleep(t, Spec{Credential: &cred, Rlimits: []Rlimit{{unix.RLIMIT_NOFILE, 64, hard}}})
	if got, want := readLimits(t, p.Pid())[unix.RLIMIT_NOFILE], [2]string{"64", rlimitValue(hard)}; got != want {
		t.Errorf("nofile: soft, hard = %v, want %v", got, want)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid())); err != nil || !strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", cred.UID)) {
		t.Errorf("not running as uid %d: %v", cred.UID, err)
	}
}

// hasCapability reports whether this process has capability c in its
// effective set (root in a container may lack some).
func hasCapability(t *testing.T, c int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", hex, err)
			}
			return caps&(1<<c) != 0
		}
	}
	t.Fatal("/proc/self/status: no CapEff")
	return false
}

// TestRlimitsMemoryAfterCredential: the limits on memory, set last, after
// the shim became the instance's user, are the ones asked for; and (with
// CAP_SYS_RESOURCE) a hard limit above the daemon's is raised while the
// shim is still root.
func TestRlimitsMemoryAfterCredential(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root")
	}
	cred, _, err := LookupUser("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	check := func(want Rlimit) {
		t.Helper()
		p := startSleep(t, Spec{Credential: &cred, Rlimits: []Rlimit{want}})
		if got, w := readLimits(t, p.Pid())[want.Resource], [2]string{rlimitValue(want.Soft), rlimitValue(want.Hard)}; got != w {
			t.Errorf("soft, hard = %v, want %v", got, w)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid())); err != nil || !strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", cred.UID)) {
			t.Errorf("not running as uid %d: %v", cred.UID, err)
		}
	}
	data := currentHard(t, unix.RLIMIT_DATA)
	check(Rlimit{unix.RLIMIT_DATA, 1 << 30, min(data, 64<<30)})
	if !hasCapability(t, unix.CAP_SYS_RESOURCE) {
		return // root in a container may not raise a hard limit
	}
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_DATA, &orig); err != nil {
		t.Fatal(err)
	}
	// The daemon's hard limit, lowered for this test (raised back after).
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: min(orig.Cur, 64<<30), Max: 64 << 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &orig); err != nil {
			t.Error(err)
		}
	})
	check(Rlimit{unix.RLIMIT_DATA, 1 << 30, 128 << 30})
}

// TestShimExecFailsUnderMemoryLimits: with limits on memory, an exec that
// fails is still reported: after those limits, without allocating.
func TestShimExecFailsUnderMemoryLimits(t *testing.T) {
	as := Rlimit{unix.RLIMIT_AS, 64 << 20, 64 << 20}
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"/"}, Rlimits: []Rlimit{as}, Stderr: w})
	st, err := p.Wait(testCtx(t))
	if err != nil || st.Code != 127 {
		t.Fatalf("Wait = %v, %v; want exit code 127", st, err)
	}
	if out, want := readAllOutput(t, r, w), "reconciled-exec-shim: exec /: permission denied\n"; out != want {
		t.Errorf("stderr %q, want %q", out, want)
	}
}

// TestRlimitFailure: a limit the kernel refuses (above fs.nr_open, even for
// root) fails the shim like an exec failure, with the limit named.
func TestRlimitFailure(t *testing.T) {
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sleep", "1000"}, Rlimits: []Rlimit{{unix.RLIMIT_NOFILE, 1 << 31, 1 << 31}}, Stderr: w})
	st, err := p.Wait(testCtx(t))
	if err != nil || st.Code != 127 {
		t.Fatalf("Wait = %v, %v; want exit code 127", st, err)
	}
	want := "reconciled-exec-shim: setrlimit nofile 2147483648:2147483648: operation not permitted"
	if out := readAllOutput(t, r, w); !strings.Contains(out, want) {
		t.Errorf("stderr %q, want %q", out, want)
	}
}

func ioprioOf(t *testing.T, pid int) int {
	t.Helper()
	prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if errno != 0 {
		t.Fatalf("ioprio_get %d: %v", pid, errno)
	}
	return int(prio)
}

func TestIONice(t *testing.T) {
	for _, n := range []IONice{{IOClassBestEffort, 6}, {IOClassBestEffort, 0}, {IOClassIdle, 0}, {IOClassRealtime, 3}} {
		t.Run(fmt.Sprintf("%v-%d", n.Class, n.Level), func(t *testing.T) {
			s := Spec{IONice: &n}
			if n.Class == IOClassRealtime {
				if !isRoot() {
					t.Skip("the realtime class needs root")
				}
				// With a credential: ionice is applied before privileges drop.
				cred, _, err := LookupUser("nobody", "")
				if err != nil {
					t.Fatal(err)
				}
				s.Credential = &cred
			}
			p := startSleep(t, s)
			if got, want := ioprioOf(t, p.Pid()), int(n.Class)<<13|n.Level; got != want {
				t.Errorf("ioprio_get = %#x (class %d, level %d), want %#x", got, got>>13, got&7, want)
			}
		})
	}
}

// TestLimitsChecked: what the shim could only fail at is refused by Start,
// before any fork.
func TestLimitsChecked(t *testing.T) {
	cases := map[string]Spec{
		"ionice: unknown class 4":                            {IONice: &IONice{Class: 4}},
		"ionice best-effort: level 8 is not between 0 and 7": {IONice: &IONice{Class: IOClassBestEffort, Level: 8}},
		"ionice idle: the idle class has no levels":          {IONice: &IONice{Class: IOClassIdle, Level: 1}},
		"rlimit: unknown resource 5":                         {Rlimits: []Rlimit{{unix.RLIMIT_RSS, 1, 1}}},
		"rlimit nofile: soft 2048 is greater than hard 1024": {Rlimits: []Rlimit{{unix.RLIMIT_NOFILE, 2048, 1024}}},
		"rlimit stack: given twice":                          {Rlimits: []Rlimit{{unix.RLIMIT_STACK, 1, 1}, {unix.RLIMIT_STACK, 2, 2}}},
	}
	for want, s := range cases {
		s.Argv, s.Env = []string{"sleep", "1000"}, []string{testPath}
		p, err := testStarter.Start(s)
		if err == nil {
			cleanup(t, p)
			t.Errorf("%s: Start succeeded", want)
			continue
		}
		if want = "start sleep: " + want; err.Error() != want {
			t.Errorf("Start: %v, want %s", err, want)
		}
	}
}

// TestNamesMatchSpec: every limit and class spec accepts has its kernel
// value here, so that a valid manifest always maps onto a Spec.
func TestNamesMatchSpec(t *testing.T) {
	names := spec.RlimitNames()
	if len(names) != len(rlimitNames()) {
		t.Errorf("spec takes %d limits, proc %d", len(names), len(rlimitNames()))
	}
	for _, name := range names {
		if _, ok := RlimitResource(name); !ok {
			t.Errorf("RlimitResource(%q): unknown", name)
		}
	}
	for _, c := range []spec.IONiceClass{spec.IONiceRealtime, spec.IONiceBestEffort, spec.IONiceIdle} {
		class, ok := IOClassByName(string(c))
		if !ok || class.String() != string(c) {
			t.Errorf("IOClassByName(%q) = %v, %v", c, class, ok)
		}
	}
	if spec.Unlimited != RlimInfinity || RlimInfinity != unix.RLIM_INFINITY {
		t.Errorf("unlimited: spec %d, proc %d, kernel %d", spec.Unlimited, RlimInfinity, uint64(unix.RLIM_INFINITY))
	}
}
