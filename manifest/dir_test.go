package manifest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/spec"
)

// body is a valid manifest of any name (metadata.name is left out).
const body = "apiVersion: reconciled.dev/v1\nkind: Program\nspec:\n  command: [sleep, \"100\"]\n  replicas: 1 # keep this comment\n"

// layout creates files in dir: a value is the content of a regular file, or
// "->TARGET" for a symbolic link, "<dir>" for a directory and "<fifo>" for
// a FIFO.
func layout(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	// Sorted, so that a directory is made before the files in it.
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		what := files[name]
		p := filepath.Join(dir, name)
		var err error
		switch {
		case strings.HasPrefix(what, "->"):
			err = os.Symlink(strings.TrimPrefix(what, "->"), p)
		case what == "<dir>":
			err = os.Mkdir(p, 0o755)
		case what == "<fifo>":
			err = unix.Mkfifo(p, 0o644)
		default:
			err = os.WriteFile(p, []byte(what), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestList(t *testing.T) {
	cases := []struct {
		name            string
		files           map[string]string
		want, dups, bad []string // File names, duplicate names, bad names
		problems        []string // "name reason"
	}{
		{name: "empty"},
		{
			name: "ignore rules",
			files: map[string]string{
				"web.yaml": body, "db.yml": body, ".hidden.yaml": body, "web.yaml~": body, ".web.yaml.swp": "",
				"web.yaml.bak": "", "web.yaml.dpkg-old": "", "#web.yaml#": "", "4913": "", "web.status.yaml": "",
				"web.events.jsonl": "", "web.events.jsonl.1": "", ".web.status.yaml.tmp-1": "", "README.md": "",
				".reconciled": "<dir>", "..data": "<dir>",
			},
			want: []string{"db", "web"},
		},
		{
			name:  "bad names",
			files: map[string]string{"Web.yaml": body, "web.v2.yml": body, "-x.yaml": body, "ok.yaml": body},
			want:  []string{"ok"}, bad: []string{"-x.yaml", "Web.yaml", "web.v2.yml"},
		},
		{
			name: "duplicates, whatever kind of file",
			files: map[string]string{"web.yaml": body, "web.yml": body, "db.yaml": body, "db.yml": "<dir>",
				"one.yaml": body},
			want: []string{"one"}, dups: []string{"db", "web"},
		},
		{
			name: "symbolic links followed",
			files: map[string]string{"..data": "<dir>", "..data/web.yaml": body, "web.yaml": "->..data/web.yaml",
				"gone.yaml": "->nowhere.yaml", "sub.yaml": "->..data"},
			want: []string{"web"},
		},
		{
			name: "not regular files: reported, not deleted; directories ignored",
			files: map[string]string{"pipe.yaml": "<fifo>", "null.yaml": "->/dev/null", "d.yaml": "<dir>", "ok.yml": body,
				"zero.yaml": "->/dev/zero", "p.yml": "->pipe.yaml", "..data": "<dir>", "sub.yaml": "->..data"},
			want:     []string{"ok"},
			problems: []string{"null NotRegularFile", "p NotRegularFile", "pipe NotRegularFile", "zero NotRegularFile"},
		},
		{
			// Any stat error but ENOENT (here ELOOP; as a non-root
			// daemon, EACCES behind a link) is not a deletion.
			name:     "unreadable: reported, not deleted",
			files:    map[string]string{"loop.yaml": "->loop.yaml", "gone.yaml": "->nowhere/x", "ok.yaml": body},
			want:     []string{"ok"},
			problems: []string{"loop Unreadable"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			layout(t, dir, c.files)
			l, err := NewDir(dir).List()
			if err != nil {
				t.Fatal(err)
			}
			var files, dups []string
			for _, f := range l.Files {
				files = append(files, f.Name)
				if f.Path != filepath.Join(dir, f.Base) || f.Info == nil || !f.Info.Mode().IsRegular() {
					t.Errorf("file %+v", f)
				}
				if kind, name := spec.Classify(f.Base); kind != spec.Manifest || name != f.Name {
					t.Errorf("%s is not a manifest of %s", f.Base, f.Name)
				}
			}
			for _, d := range l.Duplicates {
				dups = append(dups, d.Name)
				if want := []string{d.Name + ".yaml", d.Name + ".yml"}; !reflect.DeepEqual(d.Bases, want) {
					t.Errorf("duplicate %s: bases %v, want %v", d.Name, d.Bases, want)
				}
			}
			var problems []string
			for _, p := range l.Problems {
				var fe *FileError
				if !errors.As(p.Err, &fe) || fe.Path != p.Path || p.Path != filepath.Join(dir, p.Base) ||
					!strings.Contains(p.Err.Error(), p.Path) {
					t.Errorf("problem %+v: error %v", p, p.Err)
					continue
				}
				problems = append(problems, p.Name+" "+fe.Reason)
			}
			if !reflect.DeepEqual(files, c.want) || !reflect.DeepEqual(dups, c.dups) || !reflect.DeepEqual(l.BadNames, c.bad) ||
				!reflect.DeepEqual(problems, c.problems) {
				t.Errorf("List: files %v, duplicates %v, bad %v, problems %v; want %v, %v, %v, %v",
					files, dups, l.BadNames, problems, c.want, c.dups, c.bad, c.problems)
			}
			want := append(append([]string{}, c.want...), c.dups...)
			for _, p := range c.problems {
				want = append(want, strings.Fields(p)[0])
			}
			slices.Sort(want)
			if names := l.Names(); !slices.Equal(names, want) {
				t.Errorf("Names() = %v, want the files, duplicates and problems %v", names, want)
			}
		})
	}
}

// TestListFollowsLinkInfo: the Info of a linked manifest is its target's, so
// that a ConfigMap's swap of ..data changes what the scanner caches on.
func TestListFollowsLinkInfo(t *testing.T) {
	dir := t.TempDir()
	layout(t, dir, map[string]string{"..data": "<dir>", "..data/web.yaml": body, "web.yaml": "->..data/web.yaml"})
	l, err := NewDir(dir).List()
	if err != nil || len(l.Files) != 1 {
		t.Fatalf("List = %+v, %v", l, err)
	}
	if l.Files[0].Info.Size() != int64(len(body)) {
		t.Errorf("size %d, want the target's %d", l.Files[0].Info.Size(), len(body))
	}
}

func TestListMissingDir(t *testing.T) {
	_, err := NewDir(filepath.Join(t.TempDir(), "missing")).List()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory = %v, want ErrNotExist", err)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	layout(t, dir, map[string]string{
		"web.yaml": body, "db.yml": body, "two.yaml": body, "two.yml": body, "link.yaml": "->web.yaml",
		"d.yaml": "<dir>", "pipe.yml": "<fifo>",
	})
	cases := []struct {
		name, base string
		err        error  // a sentinel the error wraps
		msg        string // a part of the message
	}{
		{name: "web", base: "web.yaml"},
		{name: "db", base: "db.yml"},
		{name: "none", base: "none.yaml", err: ErrNotFound, msg: "no manifest named none in " + dir},
		{name: "link", base: "link.yaml", err: ErrSymlink, msg: "(to web.yaml): it is managed elsewhere"},
		{name: "two", msg: "both two.yaml and two.yml exist in " + dir + ": remove one"},
		{name: "d", msg: "d.yaml is a directory, not a regular file"},
		{name: "pipe", msg: "pipe.yml is a FIFO, not a regular file"},
		{name: "Web", msg: `"Web" is not a valid program name`},
		{name: "../x", msg: "is not a valid program name"},
	}
	for _, c := range cases {
		f, err := NewDir(dir).Resolve(c.name)
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("Resolve(%q): %v", c.name, err)
		case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
			t.Errorf("Resolve(%q) = %v, want an error with %q", c.name, err, c.msg)
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("Resolve(%q) = %v, want it to wrap %v", c.name, err, c.err)
		}
		if c.base != "" && (f.Base != c.base || f.Path != filepath.Join(dir, c.base) || f.Name != c.name) {
			t.Errorf("Resolve(%q) = %+v, want %s", c.name, f, c.base)
		}
	}
}

// TestReadCap: no read takes more than one byte past the largest manifest,
// so spec.Parse refuses it and the file is never read whole.
func TestReadCap(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("#"), spec.MaxManifestSize+4096)
	layout(t, dir, map[string]string{"big.yaml": string(big), "web.yaml": body})
	data, err := ReadFile(filepath.Join(dir, "big.yaml"))
	if err != nil || len(data) != spec.MaxManifestSize+1 {
		t.Fatalf("ReadFile: %d bytes, %v; want %d", len(data), err, spec.MaxManifestSize+1)
	}
	if _, errs := spec.Parse("big.yaml", data); errs == nil {
		t.Error("a capped read parses")
	}
	if data, err := ReadAll(bytes.NewReader(big)); err != nil || len(data) != spec.MaxManifestSize+1 {
		t.Errorf("ReadAll: %d bytes, %v", len(data), err)
	}
	if _, data, err := NewDir(dir).Read("big"); err != nil || len(data) != spec.MaxManifestSize+1 {
		t.Errorf("Read: %d bytes, %v", len(data), err)
	}
	if f, data, err := NewDir(dir).Read("web"); err != nil || string(data) != body || f.Base != "web.yaml" {
		t.Errorf("Read(web) = %+v, %q, %v", f, data, err)
	}
}

// TestReadFileHostile: what is not a regular file is refused without
// blocking and without reading; only a missing file is ErrNotExist.
func TestReadFileHostile(t *testing.T) {
	dir := t.TempDir()
	layout(t, dir, map[string]string{"pipe.yaml": "<fifo>", "zero.yaml": "->/dev/zero", "d.yaml": "<dir>",
		"p.yaml": "->pipe.yaml", "loop.yaml": "->loop.yaml"})
	for base, want := range map[string]string{
		"pipe.yaml": "is a FIFO", "p.yaml": "is a FIFO", "zero.yaml": "is a character device",
		"d.yaml": "is a directory", "loop.yaml": "too many levels of symbolic links",
	} {
		_, err := ReadFile(filepath.Join(dir, base))
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want a *FileError saying %q", base, err, want)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

// TestReadFileUnreadable: a manifest the reader may not open (EACCES) is a
// *FileError with reason Unreadable, not a missing file. Root reads
// anything, so the read runs in a child process as nobody.
func TestReadFileUnreadable(t *testing.T) {
	if path := os.Getenv("MANIFEST_TEST_READ"); path != "" {
		_, err := ReadFile(path)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Reason != ReasonUnreadable || errors.Is(err, fs.ErrNotExist) ||
			!errors.Is(err, fs.ErrPermission) {
			t.Fatalf("ReadFile(chmod 000) as uid %d = %v, want a *FileError, reason Unreadable, EACCES", os.Geteuid(), err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the reader as another user")
	}
	// t.TempDir's parent is 0700: nobody could not reach it, nor the test
	// binary in the build cache. Both go to a directory nobody can enter.
	dir, err := os.MkdirTemp("", "manifest-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vic.yaml")
	if err := os.WriteFile(path, []byte(body), 0o000); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "manifest.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestReadFileUnreadable$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MANIFEST_TEST_READ="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reader as nobody: %v\n%s", err, out)
	}
}
