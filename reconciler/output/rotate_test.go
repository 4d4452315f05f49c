package output

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %04d\n", i) // 10 bytes
	}
	return b.String()
}

func openTest(t *testing.T, path string, o FileOptions) *File {
	t.Helper()
	f, err := OpenFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Rotation keeps MaxBackups numbered backups, .1 the newest, each at most
// MaxSize and made of whole lines, and drops the oldest.
func TestRotationNumberingAndLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	f := openTest(t, path, FileOptions{MaxSize: 100, MaxBackups: 3})
	for i := 1; i <= 100; i++ { // one line per write, 1000 bytes
		if _, err := f.Write([]byte(numbered(i, i))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		path:        numbered(91, 100),
		path + ".1": numbered(81, 90),
		path + ".2": numbered(71, 80),
		path + ".3": numbered(61, 70),
	}
	for p, w := range want {
		if got := readFile(t, p); got != w {
			t.Errorf("%s:\n%s\nwant:\n%s", filepath.Base(p), got, w)
		}
	}
	if exists(path + ".4") {
		t.Errorf("%s.4 exists: more than MaxBackups kept", path)
	}
}

// A chunk that crosses MaxSize fills the file up to its last newline that
// fits; the rest starts the next file.
func TestRotationAtLineBoundary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	f := openTest(t, path, FileOptions{MaxSize: 100, MaxBackups: 2})
	if _, err := f.Write([]byte(numbered(1, 9) + "part")); err != nil { // 94 bytes
		t.Fatal(err)
	}
	// The partial line is the caller's business: the pump only writes whole
	// lines; here "part" + "ial\n" still lands in the first file because
	// it fits (94+4 = 98 <= 100).
	if _, err := f.Write([]byte("ial\n" + numbered(10, 12))); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path+".1"), numbered(1, 9)+"partial\n"; got != want {
		t.Errorf(".1 = %q, want %q", got, want)
	}
	if got, want := readFile(t, path), numbered(10, 12); got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
}

// A line longer than MaxSize goes alone into a file of its own.
func TestRotationLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	f := openTest(t, path, FileOptions{MaxSize: 20, MaxBackups: 5})
	long := strings.Repeat("x", 50) + "\n"
	if _, err := f.Write([]byte("short\n" + long + "tail\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path+".2"); got != "short\n" {
		t.Errorf(".2 = %q", got)
	}
	if got := readFile(t, path+".1"); got != long {
		t.Errorf(".1 = %q", got)
	}
	if got := readFile(t, path); got != "tail\n" {
		t.Errorf("current = %q", got)
	}
}

// MaxBackups 0 empties the file at rotation; MaxSize 0 never rotates.
func TestRotationNoBackupsAndNoLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	f := openTest(t, path, FileOptions{MaxSize: 100, MaxBackups: 0})
	if _, err := f.Write([]byte(numbered(1, 25))); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), numbered(21, 25); got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files: %v, want only w.log", entries)
	}

	path2 := filepath.Join(dir, "unlimited.log")
	g := openTest(t, path2, FileOptions{MaxSize: 0, MaxBackups: 3})
	if _, err := g.Write([]byte(numbered(1, 1000))); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path2); got != numbered(1, 1000) || exists(path2+".1") {
		t.Errorf("MaxSize 0 rotated")
	}
}

// A file is appended to across reopenings, and its existing size counts;
// backups left by a larger MaxBackups go at the next rotation.
func TestRotationReopenAndShrink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	if err := os.WriteFile(path, []byte(numbered(1, 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := os.WriteFile(fmt.Sprintf("%s.%d", path, i), []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := openTest(t, path, FileOptions{MaxSize: 100, MaxBackups: 2})
	if _, err := f.Write([]byte(numbered(9, 12))); err != nil { // 80 + 40 > 100
		t.Fatal(err)
	}
	if got, want := readFile(t, path+".1"), numbered(1, 10); got != want {
		t.Errorf(".1 = %q, want %q", got, want)
	}
	if got, want := readFile(t, path), numbered(11, 12); got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
	if got := readFile(t, path+".2"); got != "old\n" {
		t.Errorf(".2 = %q", got)
	}
	for i := 3; i <= 5; i++ {
		if exists(fmt.Sprintf("%s.%d", path, i)) {
			t.Errorf("%s.%d left behind", path, i)
		}
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenFile(filepath.Join(dir, "missing", "w.log"), FileOptions{}); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing directory: %v", err)
	}
	f, err := OpenFile(filepath.Join(dir, "made", "w.log"), FileOptions{CreateDir: true})
	if err != nil {
		t.Fatalf("CreateDir: %v", err)
	}
	f.Close()
}

// TestOpenFileHostile: a log file's name taken by a FIFO, a socket or a
// device fails the open at once (a FIFO nobody reads would block it
// forever); in the daemon's own log directory (CreateDir) a symbolic link
// is refused, not written through.
func TestOpenFileHostile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.log")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		o    FileOptions
	}{
		{fifo, FileOptions{}}, {fifo, FileOptions{CreateDir: true}}, {filepath.Join(dir, "sock.log"), FileOptions{}},
		{"/dev/null", FileOptions{}}, {link, FileOptions{CreateDir: true}},
	} {
		if f, err := OpenFile(c.path, c.o); !errors.Is(err, errNotRegular) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("OpenFile(%s, %+v) = %v, want it refused as not a regular file", c.path, c.o, err)
			if f != nil {
				f.Close()
			}
		}
	}
	if data, _ := os.ReadFile(victim); string(data) != "keep\n" {
		t.Errorf("written through the link: %q", data)
	}
	// A user's file target may be a link to a regular file.
	f, err := OpenFile(link, FileOptions{})
	if err != nil {
		t.Fatalf("a link to a regular file: %v", err)
	}
	f.Close()
}

// TestOpenFileName: with FileOptions.Name, errors name the file by it,
// never by its path, which may hold a value from the environment.
func TestOpenFileName(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cr3t-v4lue"
	name := "spec.stdout.file /x/$(TOKEN).log"
	_, err := OpenFile(filepath.Join(dir, "missing", secret+".log"), FileOptions{Name: name})
	if err == nil || strings.Contains(err.Error(), secret) || err.Error() != "open "+name+": no such file or directory" {
		t.Errorf("missing directory: %v", err)
	}
	fifo := filepath.Join(dir, secret+".log")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFile(fifo, FileOptions{Name: name})
	if !errors.Is(err, errNotRegular) || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), name) {
		t.Errorf("FIFO: %v", err)
	}
}
