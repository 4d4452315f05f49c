package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/usage"
)

// cliCell returns the cell of column col in the row that starts with row
// (after spaces), in a table whose header line holds col; "" when either
// is missing. tabwriter starts a column's cells where its header starts.
func cliCell(table, header, row, col string) string {
	var head string
	for _, line := range strings.Split(table, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case strings.HasPrefix(trimmed, header+" "):
			head = line
		case head != "" && strings.HasPrefix(trimmed, row+" "):
			i := strings.Index(head, " "+col+" ")
			if i < 0 || i+1 >= len(line) {
				return ""
			}
			f := strings.Fields(line[i+1:])
			if len(f) == 0 {
				return ""
			}
			return f[0]
		}
	}
	return ""
}

// status -o wide and describe show the CPU time and memory of a busy
// instance, read when asked: from its cgroup, and without cgroups from
// its process group.
func TestCLIUsage(t *testing.T) {
	if liveUsage(t.TempDir()) != nil {
		t.Error("usage is read where no daemon holds the directory")
	}
	for _, root := range []string{"", "none"} {
		name := map[string]string{"": "default", "none": "none"}[root]
		t.Run("cgroup-root="+name, func(t *testing.T) {
			d := cliStartCgroupRoot(t, root)
			d.write(t, "busy", cliManifest(`[sh, -c, "while :; do :; done"]`))
			st := d.waitReady(t, "busy", 1)
			containment := st.Status.Containment
			t.Logf("containment: %s", containment)
			_, err := os.Stat(usage.RecordPath(filepath.Join(d.dir, reconciler.StateDirName)))
			switch {
			case containment == "cgroup" && err != nil:
				t.Errorf("containment cgroup, and no cgroup record: %v", err)
			case containment != "cgroup" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("containment %q, and a cgroup record: %v", containment, err)
			}
			if root == "none" && containment == "cgroup" {
				t.Errorf("--cgroup-root none, and containment cgroup")
			}

			var res cliResult
			var cpu, mem string
			if !waitfor.Until(cliTimeout, func() bool {
				res = d.cli(t, "status", "-o", "wide", "busy")
				cpu = cliCell(res.stdout, "NAME", "busy-0", "CPU")
				mem = cliCell(res.stdout, "NAME", "busy-0", "MEMORY")
				return res.code == 0 && cpu != "" && cpu != "-" && cpu != "0.0s"
			}) {
				t.Fatalf("status -o wide shows no CPU time for the busy loop:\n%v", res)
			}
			if mem == "" || mem == "-" || mem == "0B" {
				t.Errorf("MEMORY %q:\n%v", mem, res)
			}
			res = d.cli(t, "describe", "busy")
			if cpu := cliCell(res.stdout, "NAME", "busy-0", "CPU"); res.code != 0 || cpu == "" || cpu == "-" || cpu == "0.0s" {
				t.Errorf("describe shows CPU %q:\n%v", cpu, res)
			}
			if containment != "" && !strings.Contains(res.stdout, "Containment:") {
				t.Errorf("describe does not show the containment:\n%v", res)
			}
		})
	}
}
