package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// fakeFS is a file system described by a map: path -> "KIND MODE UID [TARGET]"
// with KIND d (directory), f (file), l (symbolic link, TARGET), p (FIFO), and
// "ro" after the uid for an entry on a read-only file system.
type fakeFS map[string]string

func (f fakeFS) entry(path string) ([]string, error) {
	s, ok := f[path]
	if !ok {
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: fs.ErrNotExist}
	}
	return strings.Fields(s), nil
}

func (f fakeFS) Lstat(path string) (Stat, error) {
	e, err := f.entry(path)
	if err != nil {
		return Stat{}, err
	}
	var perm, uid uint32
	fmt.Sscanf(e[1], "%o", &perm)
	fmt.Sscanf(e[2], "%d", &uid)
	m := fs.FileMode(perm & 0o777)
	if perm&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch e[0] {
	case "d":
		m |= fs.ModeDir
	case "l":
		m |= fs.ModeSymlink
	case "p":
		m |= fs.ModeNamedPipe
	}
	return Stat{Mode: m, UID: uid}, nil
}

func (f fakeFS) Readlink(path string) (string, error) {
	e, err := f.entry(path)
	if err != nil {
		return "", err
	}
	if e[0] != "l" {
		return "", &fs.PathError{Op: "readlink", Path: path, Err: unix.EINVAL}
	}
	return e[3], nil
}

func (f fakeFS) ReadOnly(path string) (bool, error) {
	e, err := f.entry(path)
	if err != nil {
		return false, err
	}
	return len(e) > 3 && e[3] == "ro", nil
}

// base is the usual layout above the spec directory /etc/r.
func withBase(extra fakeFS) fakeFS {
	f := fakeFS{"/": "d 755 0", "/etc": "d 755 0", "/etc/r": "d 755 0"}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name      string
		fs        fakeFS
		dir, file string
		daemon    uint32
		links     []string // the route's links
		dirs      []string // the route's directories
		real      string   // the real file
		err       string   // part of the InsecureFile message; "" for none
		fsErr     error    // a resolution error instead
	}{
		{name: "root's file in root's directory", fs: withBase(fakeFS{"/etc/r/x.yaml": "f 644 0"}),
			dirs: []string{"/etc/r"}, real: "/etc/r/x.yaml"},
		{name: "file writable by other", fs: withBase(fakeFS{"/etc/r/x.yaml": "f 666 65534"}),
			err: "file /etc/r/x.yaml: mode 0666 owner uid 65534: writable by group or other"},
		{name: "file writable by group", fs: withBase(fakeFS{"/etc/r/x.yaml": "f 664 0"}),
			err: "mode 0664 owner uid 0: writable by group or other"},
		{name: "read-only bits only", fs: withBase(fakeFS{"/etc/r/x.yaml": "f 400 0"}),
			dirs: []string{"/etc/r"}, real: "/etc/r/x.yaml"},
		{name: "directory writable by other", fs: withBase(fakeFS{"/etc/r": "d 777 0", "/etc/r/x.yaml": "f 644 0"}),
			err: "directory /etc/r: mode 0777 owner uid 0: writable by group or other"},
		{name: "sticky directory writable by all", fs: withBase(fakeFS{"/etc/r": "d 1777 0", "/etc/r/x.yaml": "f 644 65534"}),
			err: "directory /etc/r: mode 1777 owner uid 0: writable by group or other"},
		{name: "directory of a third user", fs: withBase(fakeFS{"/etc/r": "d 755 1000", "/etc/r/x.yaml": "f 644 65534"}),
			err: "directory /etc/r: mode 0755 owner uid 1000: owned by neither root nor the manifest's owner (uid 65534)"},
		{name: "directory of a user, root's file", fs: withBase(fakeFS{"/etc/r": "d 755 1000", "/etc/r/x.yaml": "f 644 0"}),
			err: "directory /etc/r: mode 0755 owner uid 1000: not owned by root"},
		{name: "the owner's own directory and file", fs: withBase(fakeFS{"/etc/r": "d 700 65534", "/etc/r/x.yaml": "f 600 65534"}),
			dirs: []string{"/etc/r"}, real: "/etc/r/x.yaml"},
		{name: "the daemon's user's directory", daemon: 5, fs: withBase(fakeFS{"/etc/r": "d 755 5", "/etc/r/x.yaml": "f 644 65534"}),
			dirs: []string{"/etc/r"}, real: "/etc/r/x.yaml"},
		{name: "a third user's directory, daemon not root", daemon: 5, fs: withBase(fakeFS{"/etc/r": "d 755 7", "/etc/r/x.yaml": "f 644 65534"}),
			err: "owned by neither root, the daemon's user (uid 5) nor the manifest's owner (uid 65534)"},
		{name: "directories above --dir are not checked", fs: fakeFS{"/": "d 777 1000", "/etc": "d 1777 1000", "/etc/r": "d 755 0", "/etc/r/x.yaml": "f 644 0"},
			dirs: []string{"/etc/r"}, real: "/etc/r/x.yaml"},
		{
			name: "ConfigMap volume: read-only, world-writable root, links into ..data", fs: withBase(fakeFS{
				"/etc/r":                  "d 777 0 ro",
				"/etc/r/..2024_01":        "d 755 0",
				"/etc/r/..2024_01/x.yaml": "f 644 0",
				"/etc/r/..data":           "l 777 0 ..2024_01",
				"/etc/r/x.yaml":           "l 777 0 ..data/x.yaml",
			}),
			links: []string{"/etc/r/x.yaml", "/etc/r/..data"}, dirs: []string{"/etc/r", "/etc/r/..2024_01"}, real: "/etc/r/..2024_01/x.yaml",
		},
		{
			name: "the same volume writable", fs: withBase(fakeFS{
				"/etc/r":                  "d 777 0",
				"/etc/r/..2024_01":        "d 755 0",
				"/etc/r/..2024_01/x.yaml": "f 644 0",
				"/etc/r/..data":           "l 777 0 ..2024_01",
				"/etc/r/x.yaml":           "l 777 0 ..data/x.yaml",
			}),
			err: "directory /etc/r: mode 0777",
		},
		{name: "a link of a third user to root's file", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 1000 /etc/r/.real.yaml", "/etc/r/.real.yaml": "f 644 0"}),
			err: "symbolic link /etc/r/x.yaml: owner uid 1000: not owned by root"},
		{name: "the owner's link to its own file", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 65534 .real.yaml", "/etc/r/.real.yaml": "f 644 65534"}),
			links: []string{"/etc/r/x.yaml"}, dirs: []string{"/etc/r"}, real: "/etc/r/.real.yaml"},
		{name: "a link out of --dir: every directory to the file", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /opt/app/x.yaml",
			"/opt": "d 755 0", "/opt/app": "d 755 0", "/opt/app/x.yaml": "f 644 0"}),
			links: []string{"/etc/r/x.yaml"}, dirs: []string{"/etc/r", "/", "/opt", "/opt/app"}, real: "/opt/app/x.yaml"},
		{name: "a link out of --dir into a shared directory", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /opt/app/x.yaml",
			"/opt": "d 755 0", "/opt/app": "d 775 0", "/opt/app/x.yaml": "f 644 0"}),
			err: "directory /opt/app: mode 0775"},
		{name: "a link out of --dir into /tmp: the sticky bit protects root's entries", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /tmp/d/x.yaml",
			"/tmp": "d 1777 0", "/tmp/d": "d 700 0", "/tmp/d/x.yaml": "f 644 0"}),
			links: []string{"/etc/r/x.yaml"}, dirs: []string{"/etc/r", "/", "/tmp", "/tmp/d"}, real: "/tmp/d/x.yaml"},
		{name: "a link out of --dir into /tmp: the sticky bit protects the owner's entries", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /tmp/x.yaml",
			"/tmp": "d 1777 0", "/tmp/x.yaml": "f 644 65534"}),
			links: []string{"/etc/r/x.yaml"}, dirs: []string{"/etc/r", "/", "/tmp"}, real: "/tmp/x.yaml"},
		{name: "a link out of --dir into /tmp: a third user's entry", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /tmp/d/x.yaml",
			"/tmp": "d 1777 0", "/tmp/d": "d 755 1000", "/tmp/d/x.yaml": "f 644 0"}),
			err: "directory /tmp: mode 1777 owner uid 0: writable by group or other"},
		{name: "a link out of --dir into a world-writable directory without the sticky bit", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 /tmp/x.yaml",
			"/tmp": "d 777 0", "/tmp/x.yaml": "f 644 0"}),
			err: "directory /tmp: mode 0777 owner uid 0: writable by group or other"},
		{name: "a sticky directory below --dir gets no leave", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 sub/x.yaml",
			"/etc/r/sub": "d 1777 0", "/etc/r/sub/x.yaml": "f 644 0"}),
			err: "directory /etc/r/sub: mode 1777"},
		{name: "a relative link up and over", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 ../shared/x.yaml",
			"/etc/shared": "d 755 0", "/etc/shared/x.yaml": "f 644 0"}),
			links: []string{"/etc/r/x.yaml"}, dirs: []string{"/etc/r", "/etc", "/etc/shared"}, real: "/etc/shared/x.yaml"},
		{
			name: "git-sync: --dir is a link to a worktree", dir: "/git/repo", fs: fakeFS{
				"/": "d 755 0", "/git": "d 755 65533", "/git/.worktrees": "d 777 65533",
				"/git/repo":                  "l 777 65533 .worktrees/abc",
				"/git/.worktrees/abc":        "d 755 65533",
				"/git/.worktrees/abc/x.yaml": "f 644 65533",
			},
			links: []string{"/git/repo"}, dirs: []string{"/git/.worktrees/abc"}, real: "/git/.worktrees/abc/x.yaml",
		},
		{
			name: "git-sync link of a third user", dir: "/git/repo", fs: fakeFS{
				"/": "d 755 0", "/git": "d 755 0",
				"/git/repo":       "l 777 1000 /git/abc",
				"/git/abc":        "d 755 0",
				"/git/abc/x.yaml": "f 644 0",
			},
			err: "symbolic link /git/repo: owner uid 1000",
		},
		{name: "links above --dir are not checked", dir: "/srv/r", fs: fakeFS{"/": "d 755 0", "/srv": "l 777 1000 /data", "/data": "d 777 1000",
			"/data/r": "d 755 0", "/data/r/x.yaml": "f 644 0"},
			dirs: []string{"/data/r"}, real: "/data/r/x.yaml"},
		{name: "a link loop", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 a", "/etc/r/a": "l 777 0 x.yaml"}), fsErr: unix.ELOOP},
		{name: "missing", fs: withBase(nil), fsErr: fs.ErrNotExist},
		{name: "a dangling link", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 gone"}), fsErr: fs.ErrNotExist},
		{name: "a file on the way", fs: withBase(fakeFS{"/etc/r/x.yaml": "l 777 0 f/x.yaml", "/etc/r/f": "f 644 0"}), fsErr: unix.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = "/etc/r"
			}
			r, err := Policy{DaemonUID: tt.daemon}.CheckPath(tt.fs, dir, "x.yaml")
			if tt.fsErr != nil {
				if !errors.Is(err, tt.fsErr) {
					t.Fatalf("err = %v, want %v", err, tt.fsErr)
				}
				return
			}
			if tt.err != "" {
				var te *TrustError
				if !errors.As(err, &te) || te.Reason != ReasonInsecureFile || !strings.Contains(te.Message, tt.err) {
					t.Fatalf("err = %#v, want InsecureFile containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			paths := func(es []Entry) []string {
				var p []string
				for _, e := range es {
					p = append(p, e.Path)
				}
				return p
			}
			if got := paths(r.Links); !reflect.DeepEqual(got, tt.links) {
				t.Errorf("links = %q, want %q", got, tt.links)
			}
			if got := paths(r.Dirs); !reflect.DeepEqual(got, tt.dirs) {
				t.Errorf("dirs = %q, want %q", got, tt.dirs)
			}
			if r.File.Path != tt.real {
				t.Errorf("file = %s, want %s", r.File.Path, tt.real)
			}
		})
	}
}

// The route of the directory alone: what apply checks before it creates a
// manifest.
func TestResolveDirectoryAlone(t *testing.T) {
	r, err := Resolve(withBase(fakeFS{"/etc/r": "d 777 0"}), "/etc/r", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dirs) != 1 || r.Dirs[0].Path != "/etc/r" || r.File.Path != "" {
		t.Fatalf("route %+v", r)
	}
	if err := (Policy{}).Check(r); err == nil || !strings.Contains(err.Error(), "directory /etc/r: mode 0777") {
		t.Fatalf("check = %v", err)
	}
}

// fakeUsers: nobody (65534, group 65534, also in 100), alice (1000), root.
type fakeUsers struct{}

func (fakeUsers) Lookup(user, group string) (proc.Credential, error) {
	var c proc.Credential
	switch user {
	case "root", "0":
		c = proc.Credential{UID: 0, GID: 0}
	case "nobody", "65534":
		c = proc.Credential{UID: 65534, GID: 65534, Groups: []uint32{65534, 100}}
	case "alice", "1000":
		c = proc.Credential{UID: 1000, GID: 1000, Groups: []uint32{1000}}
	default:
		return c, fmt.Errorf("lookup user %s: unknown user", user)
	}
	switch group {
	case "":
	case "root":
		c.GID = 0
	case "users":
		c.GID = 100
	case "nogroup":
		c.GID = 65534
	default:
		return c, fmt.Errorf("lookup group %s: unknown group", group)
	}
	return c, nil
}

func TestPolicyAdmit(t *testing.T) {
	tests := []struct {
		name        string
		pol         Policy
		owner       uint32
		user, group string
		want        string // the user it runs as
		err         string // the UserNotAllowed message
	}{
		{name: "root's manifest names anyone", owner: 0, user: "alice", want: "alice"},
		{name: "root's manifest without a user", owner: 0, want: ""},
		{name: "the daemon's user's manifest", pol: Policy{DaemonUID: 5}, owner: 5, user: "root", want: "root"},
		{name: "a user's manifest runs as the user", owner: 65534, want: "65534"},
		{name: "naming the owner", owner: 65534, user: "nobody", want: "nobody"},
		{name: "naming the owner's uid", owner: 65534, user: "65534", want: "65534"},
		{name: "naming root", owner: 65534, user: "root",
			err: "x.yaml:4:3: spec.user: names uid 0: a manifest owned by uid 65534 runs only as that user"},
		{name: "naming another user", owner: 65534, user: "alice", err: "spec.user: names uid 1000"},
		{name: "naming an unknown user", owner: 65534, user: "ghost", err: "spec.user: names a user that cannot be resolved"},
		{name: "the owner's primary group", owner: 65534, user: "nobody", group: "nogroup", want: "nobody"},
		{name: "a group the owner is in", owner: 65534, user: "nobody", group: "users", want: "nobody"},
		{name: "a group the owner is not in", owner: 65534, user: "nobody", group: "root",
			err: "x.yaml:5:3: spec.group: names gid 0, a group uid 65534 is not in"},
		{name: "an unknown group", owner: 65534, user: "nobody", group: "ghosts", err: "spec.group: names a group that cannot be resolved"},
		{name: "--trust-all-owners", pol: Policy{TrustAllOwners: true}, owner: 65534, user: "root", group: "root", want: "root"},
		{name: "--trust-all-owners without a user", pol: Policy{TrustAllOwners: true}, owner: 65534, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "spec:\n  command: [sleep, \"1\"]\n"
			if tt.user != "" {
				src += "  replicas: 1\n  user: " + tt.user + "\n"
			}
			if tt.group != "" {
				src += "  group: " + tt.group + "\n"
			}
			prog, errs := spec.Parse("x.yaml", []byte(src))
			if errs != nil {
				t.Fatal(errs)
			}
			before := *prog
			pol := tt.pol
			pol.Users = fakeUsers{}
			got, err := pol.Admit("x.yaml", []byte(src), tt.owner, prog)
			if !reflect.DeepEqual(*prog, before) {
				t.Fatalf("Admit changed its argument")
			}
			if tt.err != "" {
				var te *TrustError
				if !errors.As(err, &te) || te.Reason != ReasonUserNotAllowed || !strings.Contains(te.Message, tt.err) {
					t.Fatalf("err = %v, want UserNotAllowed containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.User != tt.want {
				t.Errorf("user = %q, want %q", got.Spec.User, tt.want)
			}
			if (got == prog) != (tt.want == tt.user) {
				t.Errorf("copied = %v, want a copy only when the user is set by the rule", got != prog)
			}
		})
	}
}

// The rules on real files: chmod and chown as root.
func TestPolicyRealFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	pol := Policy{}
	check := func(want string) Route {
		t.Helper()
		r, err := pol.CheckPath(OSFS{}, dir, "x.yaml")
		switch {
		case want == "" && err != nil:
			t.Fatalf("refused: %v", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("err = %v, want %q", err, want)
		}
		return r
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := check(""); r.File.Stat.UID != 0 {
		t.Fatalf("owner %d", r.File.Stat.UID)
	}
	must(os.Chown(path, 65534, 65534))
	if r := check(""); r.File.Stat.UID != 65534 {
		t.Fatalf("owner %d, want 65534", r.File.Stat.UID)
	}
	must(os.Chmod(path, 0o666))
	check("mode 0666 owner uid 65534: writable by group or other")
	must(os.Chmod(path, 0o644))
	must(os.Chmod(dir, 0o775))
	check("directory " + dir + ": mode 0775 owner uid 0")
	must(os.Chmod(dir, 0o755))
	must(os.Chown(dir, 1000, 1000))
	check("owned by neither root nor the manifest's owner (uid 65534)")
	must(os.Chown(dir, 65534, 65534))
	check("")
	must(os.Chown(dir, 0, 0))

	// A link owned by nobody to root's file.
	must(os.Chown(path, 0, 0))
	link := filepath.Join(dir, "y.yaml")
	must(os.Symlink("x.yaml", link))
	must(os.Lchown(link, 65534, 65534))
	if _, err := pol.CheckPath(OSFS{}, dir, "y.yaml"); err == nil || !strings.Contains(err.Error(), "symbolic link "+link+": owner uid 65534: not owned by root") {
		t.Fatalf("err = %v", err)
	}

	// The owner rule with the system's user database: nobody's manifest
	// runs as nobody and may not name root.
	prog, errs := spec.Parse("x.yaml", []byte(body))
	if errs != nil {
		t.Fatal(errs)
	}
	got, err := pol.Admit("x.yaml", []byte(body), 65534, prog)
	if err != nil || got.Spec.User != "65534" {
		t.Fatalf("admit = %v, %v", got, err)
	}
	// What a command that waits for the change accepts: the hash of the
	// file as it is, and as the owner rule runs it.
	must(os.Chown(path, 65534, 65534))
	if h := Hashes(path, prog); len(h) != 2 || h[0] != spec.Hash(prog) || h[1] != spec.Hash(got) {
		t.Errorf("hashes of nobody's manifest: %v", h)
	}
	must(os.Chown(path, 0, 0))
	if h := Hashes(path, prog); len(h) != 1 || h[0] != spec.Hash(prog) {
		t.Errorf("hashes of root's manifest: %v", h)
	}
	src := body + "  user: root\n"
	prog, errs = spec.Parse("x.yaml", []byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	if _, err := pol.Admit("x.yaml", []byte(src), 65534, prog); err == nil || !strings.Contains(err.Error(), "spec.user: names uid 0") {
		t.Fatalf("admit user root = %v", err)
	}
}

// Apply with the policy refuses what the daemon would: a manifest in a
// directory others may write, a user its owner may not name.
func TestApplyWithPolicy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	d := NewDir(dir).WithPolicy(Policy{})
	var te *TrustError
	if _, err := d.Apply("x", []byte(body)); !errors.As(err, &te) || te.Reason != ReasonInsecureFile ||
		!strings.Contains(err.Error(), "directory "+dir+": mode 0777") {
		t.Fatalf("apply into a 0777 directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused apply wrote the file: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Apply("x", []byte(body+"  user: root\n")); err != nil {
		t.Fatalf("root applies a manifest naming root: %v", err)
	}
	// Over nobody's file (its owner is kept): only nobody may be named.
	if err := os.Chown(filepath.Join(dir, "x.yaml"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Apply("x", []byte(body+"  user: root\n  workingDir: /\n")); !errors.As(err, &te) || te.Reason != ReasonUserNotAllowed {
		t.Fatalf("apply naming root over nobody's file: %v", err)
	}
	if _, err := d.Apply("x", []byte(body)); err != nil {
		t.Fatalf("apply without a user over nobody's file: %v", err)
	}
	// Without the policy, the store writes what it is given.
	if _, err := NewDir(dir).Apply("x", []byte(body+"  user: root\n")); err != nil {
		t.Fatal(err)
	}
}
