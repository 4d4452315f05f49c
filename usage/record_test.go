package usage

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"testing"

	"github.com/reconciled/reconciled/cgroup"
)

func TestRecord(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRecord(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadRecord without a record = %v, want fs.ErrNotExist", err)
	}
	if err := RemoveRecord(dir); err != nil {
		t.Errorf("RemoveRecord without a record = %v", err)
	}
	d := cgroup.Dirs{V2: "/sys/fs/cgroup/unified/reconciled-ab", V1: map[string]string{
		"memory":  "/sys/fs/cgroup/memory/x y/reconciled-ab", // a space in a path
		"cpuacct": "/sys/fs/cgroup/cpuacct/reconciled-ab",
	}}
	if err := WriteRecord(dir, d); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(RecordPath(dir))
	want := "v2 /sys/fs/cgroup/unified/reconciled-ab\ncpuacct /sys/fs/cgroup/cpuacct/reconciled-ab\nmemory /sys/fs/cgroup/memory/x y/reconciled-ab\n"
	if string(data) != want {
		t.Errorf("record:\n%s\nwant:\n%s", data, want)
	}
	if got, err := ReadRecord(dir); err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("ReadRecord = %+v, %v; want %+v", got, err, d)
	}
	if err := RemoveRecord(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(RecordPath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("record left after RemoveRecord: %v", err)
	}

	for _, bad := range []cgroup.Dirs{
		{},
		{V2: "relative/dir"},
		{V2: "/a\nb"},
		{V2: "/a", V1: map[string]string{"v2": "/b"}},
		{V2: "/a", V1: map[string]string{"memory": ""}},
	} {
		if err := WriteRecord(dir, bad); err == nil {
			t.Errorf("WriteRecord(%+v): no error", bad)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused record left files: %v", entries)
	}
}

func TestParseRecord(t *testing.T) {
	for _, bad := range []string{
		"",
		"memory /sys/fs/cgroup/memory/r\n", // no v2 line
		"v2\n",
		"v2 relative\n",
	} {
		if d, err := parseRecord([]byte(bad)); err == nil {
			t.Errorf("parseRecord(%q) = %+v, want an error", bad, d)
		}
	}
}
