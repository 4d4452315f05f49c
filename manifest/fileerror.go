package manifest

import (
	"errors"
	"os"

	"github.com/reconciled/reconciled/internal/regfile"
)

// Reasons of a *FileError: the reason of the SpecValid condition that
// reports it (docs/reference.md, "Hostile files").
const (
	// ReasonNotRegularFile: the manifest name is a FIFO, a socket, a device
	// or a symbolic link to one. It is never read.
	ReasonNotRegularFile = "NotRegularFile"
	// ReasonUnreadable: the manifest could not be stat'ed, opened or read
	// (EACCES, EMFILE, ENFILE, EIO, ELOOP, ...).
	ReasonUnreadable = "Unreadable"
)

// FileError is a manifest that is there but cannot be read. It is not a
// deletion: the program keeps its last valid spec, and the error is
// reported (SpecValid False with Reason).
type FileError struct {
	Path   string
	Reason string // ReasonNotRegularFile or ReasonUnreadable
	Err    error  // names Path
}

func (e *FileError) Error() string {
	if e.Reason == ReasonNotRegularFile {
		return e.Err.Error() + ": a manifest must be a regular file; it is not read"
	}
	return e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// fileError wraps err, which names path, as a *FileError.
func fileError(path string, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	reason := ReasonUnreadable
	if errors.Is(err, regfile.ErrNotRegular) {
		reason = ReasonNotRegularFile
	}
	return &FileError{Path: path, Reason: reason, Err: err}
}

// CheckRegular returns the *FileError (reason NotRegularFile) that ReadFile
// would return for path, symbolic links followed, when what is there is not
// a regular file; nil otherwise, also when path cannot be stat'ed (ReadFile
// says why). It opens nothing: validate says what a file is before the
// privilege policy looks at where it leads.
func CheckRegular(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() {
		return nil
	}
	return fileError(path, &regfile.NotRegularError{Path: path, Mode: fi.Mode().Type()})
}
