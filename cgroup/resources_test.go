package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCPUQuota(t *testing.T) {
	for _, tt := range []struct{ millis, want int64 }{
		{1, 1000}, {10, 1000}, {200, 20000}, {500, 50000}, {1000, 100000}, {2500, 250000},
	} {
		if got := cpuQuota(tt.millis); got != tt.want {
			t.Errorf("cpuQuota(%d) = %d, want %d", tt.millis, got, tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	if got := (Resources{}).limits(); len(got) != 0 {
		t.Errorf("no resources give limits %+v", got)
	}
	got := Resources{MemoryBytes: 512 << 20, CPUMillis: 250, Pids: 200}.limits()
	want := []limit{
		{"resources.memory", "memory", []control{{"memory.max", "536870912"}}, []control{{"memory.limit_in_bytes", "536870912"}}},
		{"resources.cpu", "cpu", []control{{"cpu.max", "25000 100000"}},
			[]control{{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", "25000"}}},
		{"resources.pids", "pids", []control{{"pids.max", "200"}}, []control{{"pids.max", "200"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("limits = %+v\nwant %+v", got, want)
	}
}

func TestParseKeyed(t *testing.T) {
	data := []byte("populated 1\nfrozen 0\n")
	if n, ok, err := parseKeyed(data, "frozen"); n != 0 || !ok || err != nil {
		t.Errorf("frozen = %d, %v, %v", n, ok, err)
	}
	if n, ok, err := parseKeyed(data, "populated"); n != 1 || !ok || err != nil {
		t.Errorf("populated = %d, %v, %v", n, ok, err)
	}
	if _, ok, err := parseKeyed(data, "pop"); ok || err != nil {
		t.Errorf("a prefix matched: %v, %v", ok, err)
	}
	if _, _, err := parseKeyed([]byte("oom_kill x\n"), "oom_kill"); err == nil {
		t.Error("a bad number: no error")
	}
}

// A limit that cannot be written fails the Create with a ResourceError
// naming the field, and the instance is not counted.
func TestFakeV2LimitWriteFails(t *testing.T) {
	l := fakeV2(t, "cpu memory pids\n")
	r := openFake(t, l, RootOptions{Hash: "h"})
	r.afterMkdir = func(dir string) error {
		if err := addControlFiles(dir); err != nil {
			return err
		}
		return os.Remove(filepath.Join(dir, fileMemoryMax))
	}
	_, err := r.Create("web", 0, Resources{MemoryBytes: 1 << 20})
	var re *ResourceError
	if !errors.As(err, &re) || re.Field != "resources.memory" || !strings.HasPrefix(err.Error(), "resources.memory: ") {
		t.Fatalf("Create = %v, want a ResourceError for resources.memory", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refs) != 0 || len(r.live) != 0 {
		t.Errorf("a failed Create is still counted: %v %v", r.refs, r.live)
	}
}
