package output

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
)

func TestPipe(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r)
	defer w.Close()
	for _, c := range []struct {
		name        string
		fd          uintptr
		nonblocking bool
	}{{"read end", uintptr(r), true}, {"write end", w.Fd(), false}} {
		fd := c.fd
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fl&unix.O_NONBLOCK != 0; got != c.nonblocking {
			t.Errorf("%s: O_NONBLOCK %v, want %v", c.name, got, c.nonblocking)
		}
		if fdfl, _ := unix.FcntlInt(fd, unix.F_GETFD, 0); fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: not close-on-exec", c.name)
		}
	}
	// The write end is not in the netpoller: only files it watches take
	// deadlines.
	if err := w.SetWriteDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		t.Errorf("write end: SetWriteDeadline = %v, want ErrNoDeadline (not in the netpoller)", err)
	}
}

// pipeSize returns the capacity of the pipe of f.
func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A pump grows the pipe of a fast writer (a read finds it half full), and
// leaves a quiet one at the kernel's default.
func TestPumpGrowsPipeOfFastWriter(t *testing.T) {
	const grown = 256 << 10
	g, _ := newTestGroup(t, Options{PipeSize: grown})
	for _, c := range []struct {
		name string
		size int
		grow bool
	}{{"quiet", 100, false}, {"fast", 48 << 10, true}} {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			before := pipeSize(t, w)
			if before >= grown || c.size >= before {
				t.Skipf("the pipe holds %d bytes already", before)
			}
			var out syncWriter
			var buf bytes.Buffer
			out.w = &buf
			p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "buf", W: &out})
			// One write smaller than the pipe: the pump, waiting in the
			// netpoller, reads it whole.
			if _, err := w.Write(append(bytes.Repeat([]byte("x"), c.size-1), '\n')); err != nil {
				t.Fatal(err)
			}
			waitfor.Condition(t, testTimeout, func() bool {
				out.mu.Lock()
				defer out.mu.Unlock()
				return buf.Len() == c.size
			}, "the pump wrote the line")
			if got := pipeSize(t, w); (got == grown) != c.grow {
				t.Errorf("pipe size %d after a %d-byte write, grown to %d: %v", got, c.size, grown, c.grow)
			}
			w.Close()
			waitDone(t, p)
		})
	}
}

// Instances starting together open the same file at once: they share one
// File, and the losers of the race close theirs.
func TestOpenFileConcurrent(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	path := filepath.Join(t.TempDir(), "x.log")
	const n = 16
	refs := make([]*fileRef, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := g.OpenFile(path, FileOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			refs[i] = f.(*fileRef)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	g.mu.Lock()
	sf := g.files[path]
	g.mu.Unlock()
	if sf == nil || sf.refs != n {
		t.Fatalf("shared file %v, want one with %d references", sf, n)
	}
	for i, ref := range refs {
		if ref.sf != sf {
			t.Errorf("reference %d has a file of its own", i)
		}
		if _, err := ref.Write([]byte{'a' + byte(i), '\n'}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range refs {
		ref.Close()
	}
	if got := readFile(t, path); len(got) != 2*n {
		t.Errorf("file holds %q, want %d lines", got, n)
	}
	if g.files[path] != nil {
		t.Error("the file is still open after every reference was closed")
	}
}
