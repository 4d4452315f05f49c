//go:build cgo

package proc

/*
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include "forkserver_linux.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// forkServer is the forker of cgo builds (see forker): it forks instances
// on C threads (forkserver_linux.c) that have fd tables of their own, like
// fork threads, but outside the Go scheduler.
//
// Why not a Go thread. A Go fork thread is locked to its goroutine: every
// start hands the P to it and back (two context switches and a futex wake
// each way), and while it waits in vfork for the child's exec it holds the P,
// so with GOMAXPROCS fork threads busy nothing else of the daemon runs. A C
// thread takes requests from a queue and sleeps in the kernel between them;
// the callers park on a channel, and one goroutine (collect) hands finished
// requests back when the server writes its eventfd (Go's netpoller watches
// it).
//
// Lifetime. A Starter sets its server up at its first Start and ends it in
// Starter.Close (close). The threads, and collect, live until then, so
// PR_SET_PDEATHSIG (which fires when the forking thread ends) fires when the
// daemon dies, or at close for a child still unreaped (Starter.Close makes
// sure there is none).
type forkServer struct {
	c         *C.rcd_fs
	notify    *os.File // eventfd: the server wrote it when requests finished
	log       logr.Logger
	collected chan struct{} // closed when collect returns

	mu      sync.Mutex
	waiting map[*C.rcd_req]chan struct{}
	broken  bool // the eventfd failed: no more requests (see collect)
	closing bool // close was called: a failed read of notify is the close

	// plainClone makes the server fork with clone(2), as on kernels
	// without clone3 (tests of that path).
	plainClone atomic.Bool
}

// newForkServer starts a fork server of n threads.
func newForkServer(n int, log logr.Logger) (forker, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("%w: fork server: eventfd: %v", errForker, err)
	}
	var c *C.rcd_fs
	if errno := C.rcd_fs_start(C.int(n), C.int(efd), -1, &c); errno != 0 {
		unix.Close(efd)
		return nil, fmt.Errorf("%w: fork server: %v", errForker, syscall.Errno(errno))
	}
	fs := &forkServer{c: c, notify: os.NewFile(uintptr(efd), "forkserver"), log: log,
		collected: make(chan struct{}), waiting: map[*C.rcd_req]chan struct{}{}}
	go fs.collect()
	return fs, nil
}

// close ends the server: its threads (each serves what is pending first),
// then collect, then the eventfd and the server's memory. The caller makes
// sure no forkExec is in flight or to come, and that no child the server
// forked is unreaped (its parent-death signal would fire).
//
// Order. The threads write their own copies of the eventfd, so the shared
// one is closed only once they are gone, which is also what ends collect;
// rcd_fs_free comes last, as collect takes finished requests from fs up to
// its last read.
func (fs *forkServer) close() {
	fs.mu.Lock()
	fs.closing = true
	fs.mu.Unlock()
	C.rcd_fs_stop(fs.c)
	fs.notify.Close()
	<-fs.collected
	C.rcd_fs_free(fs.c)
	fs.c = nil
}

// collect hands finished requests back to their callers until close. The
// eventfd is closed only by close, so reading it should not fail before;
// if it does, collect says so, makes the server refuse new requests (Start
// then forks elsewhere) and polls for the ones in flight until none is
// left.
func (fs *forkServer) collect() {
	defer close(fs.collected)
	var buf [8]byte
	for {
		if _, err := fs.notify.Read(buf[:]); err != nil {
			fs.mu.Lock()
			closing := fs.closing
			fs.mu.Unlock()
			if closing {
				fs.handBack() // nothing should be left: no request is in flight
				return
			}
			fs.log.Error(err, "Fork server notification failed: forking elsewhere")
			fs.mu.Lock()
			fs.broken = true
			fs.mu.Unlock()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for fs.handBack() > 0 {
				<-tick.C
			}
			return
		}
		fs.handBack()
	}
}

// handBack wakes the callers of the finished requests and returns how many
// are still waiting.
func (fs *forkServer) handBack() (waiting int) {
	var done [64]*C.rcd_req
	for {
		n := int(C.rcd_fs_take(fs.c, &done[0], C.int(len(done))))
		fs.mu.Lock()
		for _, r := range done[:n] {
			close(fs.waiting[r])
			delete(fs.waiting, r)
		}
		waiting = len(fs.waiting)
		fs.mu.Unlock()
		if n < len(done) {
			return waiting
		}
	}
}

// joinsCgroups is true: the forked child enters req.cgroups itself.
func (fs *forkServer) joinsCgroups() bool { return true }

// forkExec forks and execs r as syscall.ForkExec would, with Setpgid,
// Pdeathsig SIGKILL and r.attr.Sys.Credential (the rest of r.attr.Sys is
// ignored). For r.null the server passes its own /dev/null.
func (fs *forkServer) forkExec(req *forkReq) (forked, error) {
	attr := req.attr
	b, err := newCBlock(req.argv0, req.argv, attr.Env, attr.Dir)
	if err != nil {
		return forked{}, err
	}
	defer b.free()
	r := (*C.rcd_req)(C.calloc(1, C.sizeof_rcd_req))
	defer C.free(unsafe.Pointer(r))
	r.path, r.argv, r.envp, r.dir = b.path, b.argv, b.envp, b.dir
	for i := range 3 {
		r.fds[i] = -1
		if i < len(attr.Files) && int(attr.Files[i]) >= 0 {
			r.fds[i] = C.int(attr.Files[i])
		}
	}
	r.null_fd = C.int(req.null)
	if fs.plainClone.Load() {
		r.plain_clone = 1
	}
	if c := req.cgroup; c != nil {
		// path: the directory, dir: its cgroup.procs, env: the v1 files.
		cg, err := newCBlock(c.Dir, nil, c.Procs, c.procsFiles()[0])
		if err != nil {
			return forked{}, err
		}
		defer cg.free()
		r.cgroup_dir, r.cgroup_procs, r.cgroups = cg.path, cg.dir, cg.envp
	}
	if c := attr.Sys.Credential; c != nil {
		r.setcred, r.uid, r.gid = 1, C.uint32_t(c.Uid), C.uint32_t(c.Gid)
		if len(c.Groups) > 0 {
			groups := (*C.uint32_t)(C.malloc(C.size_t(4 * len(c.Groups))))
			defer C.free(unsafe.Pointer(groups))
			copy(unsafe.Slice((*uint32)(unsafe.Pointer(groups)), len(c.Groups)), c.Groups)
			r.ngroups, r.groups = C.int(len(c.Groups)), groups
		}
	}
	done := make(chan struct{})
	fs.mu.Lock()
	if fs.broken {
		fs.mu.Unlock()
		return forked{}, fmt.Errorf("%w: fork server: notification failed", errForker)
	}
	fs.waiting[r] = done
	fs.mu.Unlock()
	C.rcd_fs_submit(fs.c, r)
	<-done
	switch errno := syscall.Errno(r.err); {
	case errno == 0:
		return forked{pid: int(r.pid), pidfd: -1}, nil
	case r.machinery != 0:
		return forked{}, fmt.Errorf("%w: fork server: pidfd_getfd: %v", errForker, errno)
	case r.in_cgroup != 0:
		return forked{}, &cgroupError{err: errno}
	default:
		return forked{}, errno
	}
}

// cBlock holds a request's strings in one C allocation: the path, the
// working directory, and the NULL-terminated argv and envp arrays.
type cBlock struct {
	mem        unsafe.Pointer
	path, dir  *C.char
	argv, envp **C.char
}

// newCBlock fails with EINVAL, as ForkExec does, when a string holds a NUL.
func newCBlock(path string, argv, env []string, dir string) (cBlock, error) {
	ptrs := len(argv) + 1 + len(env) + 1
	size := ptrs * int(unsafe.Sizeof(uintptr(0)))
	for _, s := range [][]string{{path, dir}, argv, env} {
		for _, v := range s {
			if strings.IndexByte(v, 0) >= 0 {
				return cBlock{}, syscall.EINVAL
			}
			size += len(v) + 1
		}
	}
	mem := C.malloc(C.size_t(size))
	all := unsafe.Slice((*byte)(mem), size)
	table := unsafe.Slice((**C.char)(mem), ptrs)
	off := ptrs * int(unsafe.Sizeof(uintptr(0)))
	put := func(s string) *C.char {
		p := (*C.char)(unsafe.Pointer(&all[off]))
		off += copy(all[off:], s)
		all[off] = 0
		off++
		return p
	}
	b := cBlock{mem: mem, argv: &table[0], envp: &table[len(argv)+1]}
	b.path = put(path)
	if dir != "" {
		b.dir = put(dir)
	}
	for i, s := range argv {
		table[i] = put(s)
	}
	table[len(argv)] = nil
	for i, s := range env {
		table[len(argv)+1+i] = put(s)
	}
	table[ptrs-1] = nil
	return b, nil
}

func (b cBlock) free() { C.free(b.mem) }

// threads returns the server threads' ids.
func (fs *forkServer) threads() []int {
	var tids [16]C.int
	n := int(C.rcd_fs_tids(fs.c, &tids[0], C.int(len(tids))))
	out := make([]int, n)
	for i := range out {
		out[i] = int(tids[i])
	}
	return out
}
