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
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forkServer forks instances on C threads (forkserver_linux.c) that have fd
// tables of their own, like forkThread, but outside the Go scheduler.
//
// Why not a Go thread. A Go fork thread is locked to its goroutine: every
// start hands the P to it and back (two context switches and a futex wake
// each way), and while it waits in vfork for the child's exec it holds the P,
// so with GOMAXPROCS fork threads busy nothing else of the daemon runs. A C
// thread takes requests from a queue and sleeps in the kernel between them;
// the callers park on a channel, and one goroutine hands finished requests
// back when the server writes its eventfd (Go's netpoller watches it).
//
// The threads live as long as the process, so PR_SET_PDEATHSIG (which fires
// when the forking thread ends) fires only when the daemon dies.
type forkServer struct {
	notify *os.File // eventfd: the server wrote it when requests finished

	mu      sync.Mutex
	waiting map[*C.rcd_req]chan struct{}
}

// theForkServer is the process's fork server: its threads share one queue,
// so there is one per process whichever Starters use it.
var theForkServer struct {
	once sync.Once
	fs   *forkServer
	err  error
}

// sharedForkServer returns the process's fork server, starting it with
// maxForkThreads() threads at the first call.
func sharedForkServer() (*forkServer, error) {
	theForkServer.once.Do(func() {
		theForkServer.fs, theForkServer.err = newForkServer(maxForkThreads())
	})
	return theForkServer.fs, theForkServer.err
}

// newForkServer starts n server threads.
func newForkServer(n int) (*forkServer, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("%w: eventfd: %v", errForkThread, err)
	}
	if errno := C.rcd_fs_start(C.int(n), C.int(efd), -1); errno != 0 {
		unix.Close(efd)
		return nil, fmt.Errorf("%w: %v", errForkThread, syscall.Errno(errno))
	}
	fs := &forkServer{notify: os.NewFile(uintptr(efd), "forkserver"), waiting: map[*C.rcd_req]chan struct{}{}}
	go fs.collect()
	return fs, nil
}

// collect hands finished requests back to their callers.
func (fs *forkServer) collect() {
	var buf [8]byte
	var done [64]*C.rcd_req
	for {
		if _, err := fs.notify.Read(buf[:]); err != nil {
			panic(fmt.Sprintf("proc: fork server eventfd: %v", err)) // never closed
		}
		for {
			n := int(C.rcd_fs_take(&done[0], C.int(len(done))))
			fs.mu.Lock()
			for _, r := range done[:n] {
				close(fs.waiting[r])
				delete(fs.waiting, r)
			}
			fs.mu.Unlock()
			if n < len(done) {
				break
			}
		}
	}
}

// forkExec forks and execs argv0 as syscall.ForkExec would with attr, with
// Setpgid, Pdeathsig SIGKILL and attr.Sys.Credential (the rest of attr.Sys is
// ignored). null is the caller's /dev/null fd (or -1): the server passes its
// own copy instead. A failure of the server's own machinery wraps
// errForkThread.
func (fs *forkServer) forkExec(argv0 string, argv []string, attr *syscall.ProcAttr, null int) (int, error) {
	b, err := newCBlock(argv0, argv, attr.Env, attr.Dir)
	if err != nil {
		return 0, err
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
	r.null_fd = C.int(null)
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
	fs.waiting[r] = done
	fs.mu.Unlock()
	C.rcd_fs_submit(r)
	<-done
	switch errno := syscall.Errno(r.err); {
	case errno == 0:
		return int(r.pid), nil
	case r.machinery != 0:
		return 0, fmt.Errorf("%w: pidfd_getfd: %v", errForkThread, errno)
	default:
		return 0, errno
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
	n := int(C.rcd_fs_tids(&tids[0], C.int(len(tids))))
	out := make([]int, n)
	for i := range out {
		out[i] = int(tids[i])
	}
	return out
}
