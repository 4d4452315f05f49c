package reconciler

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

// How operators and tools write the directory. Each test changes the command
// of a running program by one writer pattern and expects the new command to
// run, with no extra restarts caused by what the writer shows half-way.

// itReadyCmd is itReady(n) plus: every instance runs argv.
func itReadyCmd(n int, argv ...string) func(status.ProgramStatus) bool {
	ready := itReady(n)
	return func(st status.ProgramStatus) bool {
		if !ready(st) {
			return false
		}
		for _, in := range st.Status.Instances {
			if !slices.Equal(itCmdline(in.Pid), argv) {
				return false
			}
		}
		return true
	}
}

// itStartSleep starts name as `sleep 1000` and returns its instance 0.
func itStartSleep(t *testing.T, d *itDaemon, name string) itProc {
	t.Helper()
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`))
	st := itWaitStatus(t, d.dir, name, "sleep 1000 running", itReadyCmd(1, "sleep", "1000"))
	return itRef(t, itPids(st)[0])
}

// itCheckOneRollout checks that exactly one spec change was applied and that
// the old instance is gone.
func itCheckOneRollout(t *testing.T, d *itDaemon, name string, old itProc) {
	t.Helper()
	itWaitGone(t, "old instance", old)
	evs := itEvents(t, d.dir, name)
	if n := itCount(evs, "SpecChanged", "*"); n != 1 {
		t.Errorf("want 1 SpecChanged event, got %d:\n%s", n, itEventsString(evs))
	}
	if n := itCount(evs, "Deleted", "*"); n != 0 {
		t.Errorf("the program was deleted on the way:\n%s", itEventsString(evs))
	}
}

// cp truncates the target, then writes it (here in two steps, with pauses
// long enough for the daemon to read the empty and the half file).
func TestITWriterCp(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("cp")
	old := itStartSleep(t, d, name)

	content := itSpec(`["sleep", "1001"]`)
	cut := strings.Index(content, "1001") // inside the command list: the half is invalid
	f, err := os.OpenFile(filepath.Join(d.dir, name+".yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // makes time pass: the writer is slow, the daemon may read the empty file
	if _, err := f.WriteString(content[:cut]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // makes time pass: the daemon may read the half file
	if _, err := f.WriteString(content[cut:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st := itWaitStatus(t, d.dir, name, "sleep 1001 running", itReadyCmd(1, "sleep", "1001"))
	if c := itCondition(st, status.ConditionSpecValid); c.Status != status.ConditionTrue {
		t.Errorf("SpecValid = %+v, want True", c)
	}
	itCheckOneRollout(t, d, name, old)
}

// sed -i writes a temp file beside the target and renames it over it; other
// tools write NAME.yaml.tmp or .NAME.yaml.tmp and rename.
func TestITWriterRenameIntoPlace(t *testing.T) {
	sed, err := exec.LookPath("sed")
	if err != nil {
		t.Skip("no sed")
	}
	d := itStart(t, itOpts{})
	name := d.name("sed")
	old := itStartSleep(t, d, name)

	path := filepath.Join(d.dir, name+".yaml")
	if out, err := exec.Command(sed, "-i", "s/1000/1001/", path).CombinedOutput(); err != nil {
		t.Fatalf("sed -i: %v: %s", err, out)
	}
	st := itWaitStatus(t, d.dir, name, "sleep 1001 running", itReadyCmd(1, "sleep", "1001"))
	itCheckOneRollout(t, d, name, old)

	old = itRef(t, itPids(st)[0])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(itSpec(`["sleep", "1002"]`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, name, "sleep 1002 running", itReadyCmd(1, "sleep", "1002"))
	itWaitGone(t, "old instance", old)
}

// git checkout unlinks the file and creates a new one: a change, not a
// deletion followed by a creation.
func TestITWriterUnlinkCreate(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("git")
	old := itStartSleep(t, d, name)

	path := filepath.Join(d.dir, name+".yaml")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(itSpec(`["sleep", "1001"]`)), 0o644); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, name, "sleep 1001 running", itReadyCmd(1, "sleep", "1001"))
	itWaitGone(t, "old instance", old)
	// Within the debounce (10ms) the daemon sees one change. A writer slower
	// than that (a loaded machine) may be seen as deletion plus creation,
	// which is correct too: only the end state is checked.
	if evs := itEvents(t, d.dir, name); itCount(evs, "Deleted", "*") > 0 {
		t.Logf("unlink and create were seen apart:\n%s", itEventsString(evs))
	}
}

// A Kubernetes ConfigMap volume: NAME.yaml -> ..data/NAME.yaml, ..data ->
// ..TIMESTAMP; an update writes a new ..TIMESTAMP dir and renames a new
// ..data symlink over the old one.
func TestITWriterConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	d := itStart(t, itOpts{dir: dir})
	name := d.name("cm")
	mk := func(ts, cmd string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ts, name+".yaml"), []byte(itSpec(cmd)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("..2026_a", `["sleep", "1000"]`)
	if err := os.Symlink("..2026_a", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", name+".yaml"), filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
	st := itWaitStatus(t, dir, name, "sleep 1000 running", itReadyCmd(1, "sleep", "1000"))
	old := itRef(t, itPids(st)[0])

	mk("..2026_b", `["sleep", "1001"]`)
	if err := os.Symlink("..2026_b", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_a")); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, dir, name, "sleep 1001 running", itReadyCmd(1, "sleep", "1001"))
	itCheckOneRollout(t, d, name, old)
}

// git-sync: --dir is a symlink that is re-pointed to another checkout. The
// daemon follows: programs of the new checkout run, with the new commands,
// and (status beside the specs) every program's status file appears in the
// new checkout, including one whose manifest did not change.
func TestITWriterDirSymlinkRepoint(t *testing.T) {
	for _, tc := range []struct {
		name          string
		statusOutside bool
	}{{"StatusBeside", false}, {"StatusDirElsewhere", true}} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			for _, rev := range []string{"rev1", "rev2", "status"} {
				if err := os.Mkdir(filepath.Join(base, rev), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(base, "current")
			if err := os.Symlink("rev1", link); err != nil {
				t.Fatal(err)
			}
			o := itOpts{dir: link}
			stDir := link
			if tc.statusOutside {
				o.statusDir = filepath.Join(base, "status")
				stDir = o.statusDir
			}
			d := itStart(t, o)
			name, same, extra := d.name("gs"), d.name("gssame"), d.name("gsextra")
			for _, rev := range []string{"rev1", "rev2"} {
				itWrite(t, filepath.Join(base, rev), same, itSpec(`["sleep", "999"]`))
			}
			itWrite(t, filepath.Join(base, "rev1"), name, itSpec(`["sleep", "1000"]`))
			st := itWaitStatus(t, stDir, name, "sleep 1000 running", itReadyCmd(1, "sleep", "1000"))
			old := itRef(t, itPids(st)[0])
			st = itWaitStatus(t, stDir, same, "sleep 999 running", itReadyCmd(1, "sleep", "999"))
			samePid := itPids(st)[0]

			itWrite(t, filepath.Join(base, "rev2"), name, itSpec(`["sleep", "1001"]`))
			itWrite(t, filepath.Join(base, "rev2"), extra, itSpec(`["sleep", "1002"]`))
			if err := os.Symlink("rev2", link+".tmp"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(link+".tmp", link); err != nil {
				t.Fatal(err)
			}
			itWaitStatus(t, stDir, name, "sleep 1001 running", itOrFatal(t, itReadyCmd(1, "sleep", "1001")))
			itWaitStatus(t, stDir, extra, "sleep 1002 running", itOrFatal(t, itReadyCmd(1, "sleep", "1002")))
			itWaitGone(t, "old instance", old)
			// The unchanged program's status is written in the new revision too.
			st = itWaitStatus(t, stDir, same, "unchanged program's status", itReadyCmd(1, "sleep", "999"))
			if itPids(st)[0] != samePid {
				t.Errorf("the unchanged program was restarted: pid %d -> %d", samePid, itPids(st)[0])
			}
		})
	}
}

// Editor, tool and package-manager leftovers, hidden files, sub-directories
// and bad names never become programs.
func TestITWriterIgnoredNames(t *testing.T) {
	d := itStart(t, itOpts{})
	sentinel := d.name("sentinel")
	itWrite(t, d.dir, sentinel, itSpec(`["sleep", "1000"]`))
	itWaitStatus(t, d.dir, sentinel, "running", itReady(1))

	content := []byte(itSpec(`["sleep", "1000"]`))
	leftovers := []string{".worker.yaml.swp", "worker.yaml~", "4913", "#worker.yaml#", "worker.yaml.swx",
		"worker.yaml.bak", "worker.yaml.dpkg-new", "worker.yaml.rpmnew", "worker.yml.tmp", ".worker.yaml", "Bad_Name.yaml",
		"worker.txt"}
	for _, f := range leftovers {
		if err := os.WriteFile(filepath.Join(d.dir, f), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(d.dir, "subdir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A change of the sentinel after the leftovers: once it is applied, the
	// daemon has scanned the directory with them in it.
	itWrite(t, d.dir, sentinel, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWaitStatus(t, d.dir, sentinel, "2 running", itReady(2))

	sts, err := status.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Metadata.Name != sentinel {
		var names []string
		for _, st := range sts {
			names = append(names, st.Metadata.Name)
		}
		t.Errorf("status files for %v, want only %s", names, sentinel)
	}
	ents, _ := os.ReadDir(d.dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".status.yaml") || strings.HasSuffix(n, ".events.jsonl") {
			if !strings.HasPrefix(n, sentinel+".") {
				t.Errorf("unexpected daemon file %s", n)
			}
		}
	}
	if !strings.Contains(d.log.String(), "Bad_Name.yaml") {
		t.Errorf("the bad name Bad_Name.yaml is not reported in the log")
	}
}
