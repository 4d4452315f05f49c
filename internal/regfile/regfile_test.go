package regfile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostile makes, in a temp directory, one of each thing that is not a
// regular file, and returns their paths by kind.
func hostile(t *testing.T) (dir string, paths map[string]string) {
	t.Helper()
	dir = t.TempDir()
	paths = map[string]string{
		"a FIFO":             filepath.Join(dir, "fifo"),
		"a directory":        filepath.Join(dir, "dir"),
		"a socket":           filepath.Join(dir, "sock"),
		"a character device": "/dev/zero",
	}
	if err := syscall.Mkfifo(paths["a FIFO"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(paths["a directory"], 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", paths["a socket"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return dir, paths
}

func TestOpenRefusesWhatIsNotRegular(t *testing.T) {
	dir, paths := hostile(t)
	for kind, path := range paths {
		// Directly, and through a symbolic link followed.
		link := filepath.Join(dir, "link-to-"+filepath.Base(path))
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, link} {
			_, err := Open(p, true)
			var nr *NotRegularError
			if !errors.As(err, &nr) || !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), kind) {
				t.Errorf("Open(%s, follow) = %v, want it refused as %s", p, err, kind)
			}
			if _, err := ReadFile(p, true, 10); !errors.Is(err, ErrNotRegular) {
				t.Errorf("ReadFile(%s) = %v, want ErrNotRegular", p, err)
			}
		}
		// Not followed: the link itself is refused.
		if _, err := Open(link, false); err == nil || !strings.Contains(err.Error(), "a symbolic link") {
			t.Errorf("Open(%s, nofollow) = %v, want a symbolic link refused", link, err)
		}
	}
}

func TestOpenFileRefusesWithoutBlocking(t *testing.T) {
	_, paths := hostile(t)
	// Opening a FIFO for writing or reading would block without a peer.
	for _, flag := range []int{os.O_WRONLY | os.O_APPEND, os.O_RDONLY, os.O_RDWR | os.O_CREATE} {
		if _, err := OpenFile(paths["a FIFO"], flag|syscall.O_NOFOLLOW, 0o644); !errors.Is(err, ErrNotRegular) {
			t.Errorf("OpenFile(fifo, %#x) = %v, want ErrNotRegular", flag, err)
		}
	}
	if _, err := OpenFile(paths["a socket"], os.O_WRONLY, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile(socket) = %v, want ErrNotRegular", err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "x.events.jsonl")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFile(link, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	var nr *NotRegularError
	if !errors.As(err, &nr) || nr.Mode != fs.ModeSymlink {
		t.Errorf("OpenFile(link to /dev/zero, O_NOFOLLOW) = %v, want a symbolic link refused", err)
	}
	// A regular file is created and is an ordinary blocking file.
	f, err := OpenFile(filepath.Join(dir, "new"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("x"); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(path, false, 10); err != nil || string(data) != "0123456789" {
		t.Errorf("ReadFile(limit 10) = %q, %v", data, err)
	}
	if _, err := ReadFile(path, false, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile(limit 9) = %v, want ErrTooLarge", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), false, 9); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("aaa\nbbb\nccc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit int64
		want  string
		cut   bool
	}{
		{100, "aaa\nbbb\nccc\n", false},
		{12, "aaa\nbbb\nccc\n", false},
		{8, "bbb\nccc\n", true}, // starts exactly at a line
		{7, "ccc\n", true},      // starts mid-line: that line goes
		{2, "", true},
	} {
		data, cut, err := ReadTail(path, false, c.limit)
		if err != nil || string(data) != c.want || cut != c.cut {
			t.Errorf("ReadTail(%d) = %q %v %v, want %q %v", c.limit, data, cut, err, c.want, c.cut)
		}
	}
	if _, _, err := ReadTail("/dev/zero", true, 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadTail(/dev/zero) = %v, want ErrNotRegular", err)
	}
}
