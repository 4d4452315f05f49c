package cgroup

import (
	"errors"
	"reflect"
	"testing"
)

// Samples of the two files on the three kinds of host.
const (
	// A systemd host in unified mode (Fedora, Ubuntu 22.04 and later).
	pureV2MountInfo = `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
36 24 0:31 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
`
	pureV2Cgroup = "0::/system.slice/reconciled.service\n"

	// This machine: cgroup2 at /sys/fs/cgroup/unified without controllers,
	// every v1 controller in its own hierarchy, cpu and cpuacct apart.
	hybridMountInfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	hybridCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/880ca83f5f6dc86b100c9d8aa95abfe8
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

	// A systemd host in hybrid mode with cpu and cpuacct mounted together.
	hybridSystemdMountInfo = `25 18 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
33 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
36 25 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,pids
`
	hybridSystemdCgroup = `12:pids:/system.slice/reconciled.service
4:memory:/system.slice/reconciled.service
3:cpu,cpuacct:/system.slice/reconciled.service
1:name=systemd:/system.slice/reconciled.service
0::/system.slice/reconciled.service
`

	// A container on a pure-v1 host that bind-mounts its own subtree of
	// each hierarchy (mount root /docker/abc), without cgroup2.
	pureV1MountInfo = `700 690 0:60 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory
701 690 0:61 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,cpu,cpuacct
702 690 0:62 /docker/abc /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,pids
`
	pureV1Cgroup = `11:pids:/docker/abc
4:memory:/docker/abc
3:cpu,cpuacct:/docker/abc
1:name=systemd:/docker/abc
`
)

func TestDiscover(t *testing.T) {
	h := func(mount, root, own string, ctrls ...string) *Hierarchy {
		return &Hierarchy{Mount: mount, MountRoot: root, Own: own, Controllers: ctrls}
	}
	cpuacct := h("/sys/fs/cgroup/cpu,cpuacct", "/", "/system.slice/reconciled.service", "cpu", "cpuacct")
	dockerCPU := h("/sys/fs/cgroup/cpu,cpuacct", "/docker/abc", "/docker/abc", "cpu", "cpuacct")
	tests := []struct {
		name             string
		mountinfo, group string
		want             Layout
		ownV2            string // the daemon's v2 directory
	}{
		{"pure v2", pureV2MountInfo, pureV2Cgroup, Layout{
			V2: h("/sys/fs/cgroup", "/", "/system.slice/reconciled.service"),
			V1: map[string]*Hierarchy{},
		}, "/sys/fs/cgroup/system.slice/reconciled.service"},
		{"hybrid, this machine", hybridMountInfo, hybridCgroup, Layout{
			V2: h("/sys/fs/cgroup/unified", "/", "/"),
			V1: map[string]*Hierarchy{
				"pids":    h("/sys/fs/cgroup/pids", "/", "/", "pids"),
				"blkio":   h("/sys/fs/cgroup/blkio", "/", "/", "blkio"),
				"freezer": h("/sys/fs/cgroup/freezer", "/", "/", "freezer"),
				"devices": h("/sys/fs/cgroup/devices", "/", "/", "devices"),
				"memory":  h("/sys/fs/cgroup/memory", "/", "/process_api/880ca83f5f6dc86b100c9d8aa95abfe8", "memory"),
				"cpuset":  h("/sys/fs/cgroup/cpuset", "/", "/", "cpuset"),
				"cpuacct": h("/sys/fs/cgroup/cpuacct", "/", "/", "cpuacct"),
				"cpu":     h("/sys/fs/cgroup/cpu", "/", "/", "cpu"),
			},
		}, "/sys/fs/cgroup/unified"},
		{"hybrid, systemd", hybridSystemdMountInfo, hybridSystemdCgroup, Layout{
			V2: h("/sys/fs/cgroup/unified", "/", "/system.slice/reconciled.service"),
			V1: map[string]*Hierarchy{
				"pids":    h("/sys/fs/cgroup/pids", "/", "/system.slice/reconciled.service", "pids"),
				"memory":  h("/sys/fs/cgroup/memory", "/", "/system.slice/reconciled.service", "memory"),
				"cpu":     cpuacct,
				"cpuacct": cpuacct,
			},
		}, "/sys/fs/cgroup/unified/system.slice/reconciled.service"},
		{"pure v1, container", pureV1MountInfo, pureV1Cgroup, Layout{
			V1: map[string]*Hierarchy{
				"pids":    h("/sys/fs/cgroup/pids", "/docker/abc", "/docker/abc", "pids"),
				"memory":  h("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc", "memory"),
				"cpu":     dockerCPU,
				"cpuacct": dockerCPU,
			},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discover([]byte(tt.mountinfo), []byte(tt.group))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discover:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
			if got.V2 == nil {
				if tt.ownV2 != "" {
					t.Errorf("no v2 hierarchy, want own dir %s", tt.ownV2)
				}
				return
			}
			if dir, ok := got.V2.OwnDir(); !ok || dir != tt.ownV2 {
				t.Errorf("OwnDir = %q, %v, want %q", dir, ok, tt.ownV2)
			}
		})
	}
}

func dump(l Layout) string {
	s := "V2="
	if l.V2 != nil {
		s += "{" + l.V2.Mount + " " + l.V2.MountRoot + " " + l.V2.Own + "}"
	}
	for c, h := range l.V1 {
		s += " " + c + "={" + h.Mount + " " + h.MountRoot + " " + h.Own + "}"
	}
	return s
}

func TestDiscoverNothingVisible(t *testing.T) {
	tests := []struct{ name, mountinfo, group string }{
		{"no cgroup mounts", "22 1 253:0 / / rw - ext4 /dev/vda1 rw\n", pureV2Cgroup},
		{"outside the cgroup namespace", pureV2MountInfo, "0::/../../other.service\n"},
		{"outside the mounted subtree", pureV1MountInfo, "4:memory:/elsewhere\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Discover([]byte(tt.mountinfo), []byte(tt.group))
			if !errors.Is(err, ErrNoCgroups) {
				t.Errorf("Discover = %s, %v; want ErrNoCgroups", dump(l), err)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	in := `41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:40 /sub\040dir /mnt/with\040space\134x rw shared:3 master:2 - cgroup cgroup rw,memory
60 1 0:41 / /proc rw - proc proc rw
`
	got, err := ParseMountInfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Point: "/sys/fs/cgroup/unified", Root: "/", V2: true, Options: []string{"rw"}},
		{Point: `/mnt/with space\x`, Root: "/sub dir", Options: []string{"rw", "memory"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMountInfo = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"1 2 3 4 5 6\n", "1 2 - cgroup2 x rw\n"} {
		if _, err := ParseMountInfo([]byte(bad)); err == nil {
			t.Errorf("ParseMountInfo(%q): no error", bad)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	got, err := ParseProcCgroup([]byte("3:cpu,cpuacct:/a\n0::/b:c\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Membership{
		{ID: "3", Controllers: []string{"cpu", "cpuacct"}, Path: "/a"},
		{ID: "0", Path: "/b:c"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseProcCgroup = %+v, want %+v", got, want)
	}
	if _, err := ParseProcCgroup([]byte("garbage\n")); err == nil {
		t.Error("ParseProcCgroup(garbage): no error")
	}
}

func TestHierarchyDir(t *testing.T) {
	sub := Hierarchy{Mount: "/sys/fs/cgroup/memory", MountRoot: "/docker/abc"}
	all := Hierarchy{Mount: "/sys/fs/cgroup", MountRoot: "/"}
	tests := []struct {
		h    Hierarchy
		p    string
		want string
		ok   bool
	}{
		{all, "/", "/sys/fs/cgroup", true},
		{all, "/a/b", "/sys/fs/cgroup/a/b", true},
		{sub, "/docker/abc", "/sys/fs/cgroup/memory", true},
		{sub, "/docker/abc/x", "/sys/fs/cgroup/memory/x", true},
		{sub, "/docker/abcd", "", false},
		{sub, "/", "", false},
	}
	for _, tt := range tests {
		got, ok := tt.h.Dir(tt.p)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%+v.Dir(%q) = %q, %v; want %q, %v", tt.h, tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRootPath(t *testing.T) {
	v2 := &Hierarchy{Mount: "/sys/fs/cgroup/unified", MountRoot: "/", Own: "/system.slice/r.service"}
	inLeaf := &Hierarchy{Mount: "/sys/fs/cgroup", MountRoot: "/", Own: "/system.slice/r.service/daemon"}
	atRoot := &Hierarchy{Mount: "/sys/fs/cgroup", MountRoot: "/", Own: "/"}
	tests := []struct {
		h    *Hierarchy
		o    RootOptions
		want string // "" for an error
	}{
		{v2, RootOptions{Hash: "ab12"}, "/system.slice/r.service/reconciled-ab12"},
		{inLeaf, RootOptions{Hash: "ab12"}, "/system.slice/r.service/reconciled-ab12"},
		{inLeaf, RootOptions{Hash: "ab12", Leaf: "main"}, "/system.slice/r.service/daemon/reconciled-ab12"},
		{atRoot, RootOptions{Hash: "ab12"}, "/reconciled-ab12"},
		{v2, RootOptions{Path: "/reconciled/"}, "/reconciled"},
		{v2, RootOptions{Path: "/sys/fs/cgroup/unified/x/y"}, "/x/y"},
		{v2, RootOptions{Path: "/sys/fs/cgroup/unified"}, "/"},
		{v2, RootOptions{Path: "relative"}, ""},
		{v2, RootOptions{}, ""},
		{v2, RootOptions{Hash: "a/b"}, ""},
	}
	for _, tt := range tests {
		got, err := rootPath(tt.h, tt.o)
		if tt.want == "" {
			if err == nil {
				t.Errorf("rootPath(%+v, %+v) = %q, want an error", tt.h, tt.o, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("rootPath(%+v, %+v) = %q, %v; want %q", tt.h, tt.o, got, err, tt.want)
		}
	}
}
