//go:build !cgo

package proc

import (
	"fmt"
	"syscall"
)

// forkServer needs cgo (see forkserver_linux.go); without it Start forks on
// Go fork threads (see forkThread).
type forkServer struct{}

func sharedForkServer() (*forkServer, error) {
	return nil, fmt.Errorf("%w: built without cgo, no fork server", errForkThread)
}

func (*forkServer) forkExec(string, []string, *syscall.ProcAttr, int) (int, error) {
	panic("proc: no fork server without cgo")
}

func (*forkServer) threads() []int { return nil }
