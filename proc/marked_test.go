package proc

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// A setsid child leaves its instance's group: FindEscaped finds it by its
// marks (and only with every mark), SignalMarked ends it, WaitMarked sees it
// go; FindMarked finds it anywhere.
func TestFindEscaped(t *testing.T) {
	r, w := pipe(t)
	id := "RECONCILED_DAEMON_ID=test-" + strconv.Itoa(os.Getpid())
	p := start(t, Spec{
		Argv:   []string{"sh", "-c", `setsid sleep 1000 & echo $!; sleep 1000 & echo $!; wait`},
		Env:    []string{testPath, "RECONCILED_PROGRAM=web", "RECONCILED_INSTANCE=2", id},
		Stdout: w,
	})
	lines := readLines(t, r, 2)
	escaped, _ := strconv.Atoi(lines[0])
	inGroup, _ := strconv.Atoi(lines[1])
	killLater(t, escaped)
	var found []Marked
	waitfor.Condition(t, waitTimeout, func() bool { // setsid has exec'd sleep
		var err error
		found, err = testStarter.FindEscaped([]string{id}, []int{p.Pid()})
		return err == nil && len(found) == 1 && found[0].Pid == escaped
	}, "the setsid child is found")
	// Its parent, the leader, lives: it is in the leader's tree only.
	if orphans, _ := testStarter.FindEscaped([]string{id}, nil); len(orphans) != 0 {
		t.Errorf("found among the orphans while its parent lives: %+v", orphans)
	}
	if m := found[0]; m.Program != "web" || m.Instance != 2 || time.Since(m.Started) > time.Minute {
		t.Errorf("found %+v", m)
	}
	if other, _ := testStarter.FindEscaped([]string{id, "RECONCILED_DAEMON_ID=other"}, []int{p.Pid()}); len(other) != 0 {
		t.Errorf("found with a mark it lacks: %+v", other)
	}
	anywhere, err := FindMarked([]string{id})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, m := range anywhere {
		pids = append(pids, m.Pid)
	}
	slices.Sort(pids)
	want := []int{p.Pid(), inGroup, escaped}
	slices.Sort(want)
	if !slices.Equal(pids, want) {
		t.Errorf("FindMarked: %v, want the leader, its child and the escaped one %v", pids, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := WaitMarked(ctx, found); err != context.DeadlineExceeded {
		t.Errorf("WaitMarked on a live process: %v, want the deadline", err)
	}
	if err := SignalMarked(found, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := WaitMarked(testCtx(t), found); err != nil {
		t.Fatal(err)
	}
	if found[0].Alive() {
		t.Errorf("still alive after WaitMarked")
	}
}

// The candidates of a sweep are the orphans and the descendants of the
// leaders and orphans, each once and never the daemon itself; the leaders
// themselves are walked but not read.
func TestEscapeCandidates(t *testing.T) {
	tree := map[int][]int{10: {11, 12}, 11: {13}, 20: {21, 1}, 30: {31}, 21: {11}}
	children := func(pids []int, pid int) []int { return append(pids, tree[pid]...) }
	got := escapeCandidates([]int{20}, []int{10, 30, 10}, 1, children)
	slices.Sort(got)
	if want := []int{11, 12, 13, 20, 21, 31}; !slices.Equal(got, want) {
		t.Errorf("candidates %v, want %v (no leader, no self, no repeat)", got, want)
	}
}
