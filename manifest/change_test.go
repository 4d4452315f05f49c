package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/spec"
)

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func setReplicas(n int) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) { return spec.SetReplicas(b, n) }
}

func TestEdit(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		program string
		edit    func([]byte) ([]byte, error)
		changed bool
		file    string // the file that must hold want afterwards
		want    string
		err     error  // a sentinel the error wraps
		msg     string // a part of the error's message
	}{
		{name: "change keeps comments", files: map[string]string{"web.yaml": body}, program: "web", edit: setReplicas(3),
			changed: true, file: "web.yaml", want: strings.Replace(body, "replicas: 1", "replicas: 3", 1)},
		{name: "NAME.yml", files: map[string]string{"web.yml": body}, program: "web", edit: setReplicas(2),
			changed: true, file: "web.yml", want: strings.Replace(body, "replicas: 1", "replicas: 2", 1)},
		{name: "no change writes nothing", files: map[string]string{"web.yaml": body}, program: "web", edit: setReplicas(1),
			file: "web.yaml", want: body},
		{name: "invalid now", files: map[string]string{"web.yaml": body + "  bogus: 1\n"}, program: "web", edit: setReplicas(3),
			file: "web.yaml", want: body + "  bogus: 1\n", msg: "web.yaml is invalid: nothing was changed"},
		{name: "symbolic link", files: map[string]string{"real.txt": body, "web.yaml": "->real.txt"}, program: "web",
			edit: setReplicas(3), file: "real.txt", want: body, err: ErrSymlink},
		{name: "missing", program: "web", edit: setReplicas(3), err: ErrNotFound},
		{name: "editor fails", files: map[string]string{"web.yaml": body}, program: "web",
			edit: func([]byte) ([]byte, error) { return nil, spec.ErrNotEditable }, file: "web.yaml", want: body, err: spec.ErrNotEditable},
		{name: "edit would be invalid", files: map[string]string{"web.yaml": body}, program: "web",
			edit: func(b []byte) ([]byte, error) { return append(b, "  bogus: 1\n"...), nil }, file: "web.yaml", want: body,
			msg: "the edit would make the manifest invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			layout(t, dir, c.files)
			var before os.FileInfo
			if c.file != "" {
				before, _ = os.Lstat(filepath.Join(dir, c.file))
			}
			res, err := NewDir(dir).Edit(c.program, c.edit)
			switch {
			case c.err == nil && c.msg == "" && err != nil:
				t.Fatalf("Edit: %v", err)
			case c.err != nil && !errors.Is(err, c.err):
				t.Errorf("Edit = %v, want it to wrap %v", err, c.err)
			case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
				t.Errorf("Edit = %v, want an error with %q", err, c.msg)
			}
			if err == nil {
				if res.Changed != c.changed || res.Name != c.program || res.Path != filepath.Join(dir, c.file) || res.Program == nil {
					t.Errorf("Edit = %+v", res)
				}
			}
			if c.file == "" {
				return
			}
			if got := readString(t, filepath.Join(dir, c.file)); got != c.want {
				t.Errorf("%s holds\n%s\nwant\n%s", c.file, got, c.want)
			}
			if after, _ := os.Lstat(filepath.Join(dir, c.file)); !c.changed && !sameFile(before, after) {
				t.Errorf("%s was written although nothing changed", c.file)
			}
		})
	}
}

// TestEditInvalidError: the refusal of an invalid manifest carries its path
// and located errors, for the caller to print.
func TestEditInvalidError(t *testing.T) {
	dir := t.TempDir()
	layout(t, dir, map[string]string{"web.yaml": body + "  bogus: 1\n"})
	_, err := NewDir(dir).Edit("web", setReplicas(3))
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Path != filepath.Join(dir, "web.yaml") || len(inv.Errs) != 1 ||
		inv.Errs[0].Field != "spec.bogus" {
		t.Fatalf("Edit = %#v", err)
	}
}

// TestEditConflict: a file rewritten behind the edit's back (by an editor,
// which takes no lock) between reading and writing is not overwritten: the
// edit starts again from the new content, and gives up with ErrChanged if
// the file keeps changing.
func TestEditConflict(t *testing.T) {
	for _, c := range []struct {
		name     string
		rewrites int // how many of the edit's attempts see the file change
		err      error
	}{
		{name: "once", rewrites: 1},
		{name: "every time", rewrites: 100, err: ErrChanged},
	} {
		for _, how := range []string{"in place", "by rename"} {
			t.Run(c.name+" "+how, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "web.yaml")
				layout(t, dir, map[string]string{"web.yaml": body})
				calls := 0
				var theirs string
				edit := func(b []byte) ([]byte, error) {
					calls++
					if calls <= c.rewrites {
						// The same size, as a quick edit in place may be.
						theirs = strings.Replace(string(b), "keep this comment", "keep that comment", 1)
						if calls%2 == 0 {
							theirs = strings.Replace(string(b), "keep that comment", "keep this comment", 1)
						}
						rewrite(t, path, theirs, how == "by rename")
					}
					return spec.SetReplicas(b, 5)
				}
				res, err := NewDir(dir).Edit("web", edit)
				got := readString(t, path)
				if c.err != nil {
					if !errors.Is(err, c.err) || got != theirs || calls != editAttempts {
						t.Fatalf("Edit = %v after %d calls, file\n%s\nwant %v and their content\n%s", err, calls, got, c.err, theirs)
					}
					return
				}
				want := strings.Replace(theirs, "replicas: 1", "replicas: 5", 1)
				if err != nil || !res.Changed || got != want || calls != 2 {
					t.Fatalf("Edit = %+v, %v after %d calls, file\n%s\nwant\n%s", res, err, calls, got, want)
				}
			})
		}
	}
}

// rewrite changes path as an editor would: in place, or by writing a new
// file and renaming it over path.
func rewrite(t *testing.T, path, content string, rename bool) {
	t.Helper()
	if !rename {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	tmp := filepath.Join(filepath.Dir(path), "4913")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	three := strings.Replace(body, "replicas: 1", "replicas: 3", 1)
	cases := []struct {
		name    string
		files   map[string]string
		program string
		data    string
		file    string // the file that must hold want afterwards
		want    string
		changed bool
		created bool
		err     error
		msg     string
	}{
		{name: "created", program: "web", data: body, file: "web.yaml", want: body, changed: true, created: true},
		{name: "configured", files: map[string]string{"web.yaml": body}, program: "web", data: three,
			file: "web.yaml", want: three, changed: true},
		{name: "configured NAME.yml", files: map[string]string{"web.yml": body}, program: "web", data: three,
			file: "web.yml", want: three, changed: true},
		{name: "unchanged", files: map[string]string{"web.yaml": body}, program: "web", data: body, file: "web.yaml", want: body},
		{name: "invalid", files: map[string]string{"web.yaml": body}, program: "web", data: body + "  bogus: 1\n",
			file: "web.yaml", want: body, msg: "web.yaml:6:3: spec.bogus"},
		{name: "name differs", program: "web", data: "metadata:\n  name: db\n" + body,
			msg: `metadata.name: "db" must equal the file name's stem "web"`},
		{name: "bad name", program: "Web", data: body, msg: `"Web" is not a valid program name`},
		{name: "symbolic link", files: map[string]string{"real.txt": body, "web.yaml": "->real.txt"}, program: "web",
			data: three, file: "real.txt", want: body, err: ErrSymlink},
		{name: "duplicate", files: map[string]string{"web.yaml": body, "web.yml": body}, program: "web", data: three,
			file: "web.yml", want: body, msg: "remove one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			layout(t, dir, c.files)
			res, err := NewDir(dir).Apply(c.program, []byte(c.data))
			switch {
			case c.err == nil && c.msg == "" && err != nil:
				t.Fatalf("Apply: %v", err)
			case c.err != nil && !errors.Is(err, c.err):
				t.Errorf("Apply = %v, want it to wrap %v", err, c.err)
			case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
				t.Errorf("Apply = %v, want an error with %q", err, c.msg)
			}
			if err == nil && (res.Changed != c.changed || res.Created != c.created || res.Program == nil ||
				res.Path != filepath.Join(dir, c.file)) {
				t.Errorf("Apply = %+v", res)
			}
			if c.file != "" {
				if got := readString(t, filepath.Join(dir, c.file)); got != c.want {
					t.Errorf("%s holds\n%s\nwant\n%s", c.file, got, c.want)
				}
			}
			want := len(c.files)
			if c.created {
				want++
			}
			if entries, _ := os.ReadDir(dir); len(entries) != want {
				t.Errorf("the directory holds %d entries, want %d: a temp file left?", len(entries), want)
			}
		})
	}
}

// TestApplyKeepsMode: a file replaced keeps its mode.
func TestApplyKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yaml")
	layout(t, dir, map[string]string{"web.yaml": body})
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(dir).Apply("web", []byte(strings.Replace(body, "replicas: 1", "replicas: 2", 1))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", fi.Mode(), err)
	}
}

func TestDelete(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		left  []string // the entries left
		err   error
		msg   string
	}{
		{name: "NAME.yaml", files: map[string]string{"web.yaml": body, "db.yaml": body}, left: []string{"db.yaml"}},
		{name: "NAME.yml", files: map[string]string{"web.yml": body}},
		{name: "missing", files: map[string]string{"db.yaml": body}, left: []string{"db.yaml"}, err: ErrNotFound},
		{name: "symbolic link", files: map[string]string{"real.txt": body, "web.yaml": "->real.txt"},
			left: []string{"real.txt", "web.yaml"}, err: ErrSymlink},
		{name: "duplicate", files: map[string]string{"web.yaml": body, "web.yml": body},
			left: []string{"web.yaml", "web.yml"}, msg: "remove one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			layout(t, dir, c.files)
			err := NewDir(dir).Delete("web")
			switch {
			case c.err == nil && c.msg == "" && err != nil:
				t.Fatalf("Delete: %v", err)
			case c.err != nil && !errors.Is(err, c.err):
				t.Errorf("Delete = %v, want it to wrap %v", err, c.err)
			case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
				t.Errorf("Delete = %v, want an error with %q", err, c.msg)
			}
			var left []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				left = append(left, e.Name())
			}
			if !reflect.DeepEqual(left, c.left) {
				t.Errorf("left %v, want %v", left, c.left)
			}
		})
	}
}

// TestLock: the edit lock is an exclusive flock on the directory, which any
// other open file description of it conflicts with until unlock.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	held := func() bool {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		return errors.Is(unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
	}
	unlock, err := NewDir(dir).Lock()
	if err != nil {
		t.Fatal(err)
	}
	if !held() {
		t.Error("the lock is not held")
	}
	unlock()
	if held() {
		t.Error("the lock is held after unlock")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the lock created %d entries", len(entries))
	}
	if _, err := NewDir(filepath.Join(dir, "missing")).Lock(); err == nil {
		t.Error("a missing directory locked")
	}
}
