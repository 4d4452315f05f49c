//go:build !cgo

package proc

import (
	"fmt"

	"github.com/go-logr/logr"
)

// newForkServer fails without cgo: the fork server is C code (see
// forkserver_linux.go). Start then forks on fork threads.
func newForkServer(int, logr.Logger) (forker, error) {
	return nil, fmt.Errorf("%w: fork server: built without cgo", errForker)
}
