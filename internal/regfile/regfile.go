package regfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotRegular is what a *NotRegularError is, for errors.Is.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned by ReadFile for a file longer than its limit.
var ErrTooLarge = errors.New("file is too large")

// NotRegularError is a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode // its type bits (fs.ModeType)
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, Kind(e.Mode))
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// Kind names the type of a file mode, for messages: "a FIFO", "a directory".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeDir != 0:
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "an irregular file"
}

// Open opens path for reading when it is a regular file. With follow false
// a symbolic link at path is refused; with follow true it is followed (and
// what it leads to must be a regular file). Anything else is refused with a
// *NotRegularError, without being opened when the stat already tells.
// Other errors are *fs.PathError as os.Open gives them.
func Open(path string, follow bool) (*os.File, error) {
	stat, flags := os.Lstat, unix.O_RDONLY|unix.O_NOFOLLOW
	if follow {
		stat, flags = os.Stat, unix.O_RDONLY
	}
	fi, err := stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: fi.Mode().Type()}
	}
	return OpenFile(path, flags, 0)
}

// OpenFile is os.OpenFile for a file that must be regular: flag (unix.O_*
// or os.O_*) gets O_NONBLOCK, O_NOCTTY and O_CLOEXEC added, so that a FIFO
// does not block the open, and the opened file is fstat'ed: a FIFO, socket
// or device is closed and refused with a *NotRegularError. With O_NOFOLLOW
// in flag, a symbolic link is refused the same way (it would be ELOOP). It
// may create the file (O_CREATE, with perm) but does not stat before
// opening, so callers that only read should use Open.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	flag |= unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flag, uint32(perm.Perm()))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if err == unix.ELOOP && flag&unix.O_NOFOLLOW != 0 {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, &NotRegularError{Path: path, Mode: fs.ModeSymlink}
			}
		}
		if err == unix.ENXIO { // O_WRONLY|O_NONBLOCK on a FIFO nobody reads
			if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
				return nil, &NotRegularError{Path: path, Mode: fi.Mode().Type()}
			}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &NotRegularError{Path: path, Mode: typeOf(st.Mode)}
	}
	// O_NONBLOCK means nothing to a regular file; clear it so that the
	// *os.File is an ordinary blocking one.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// typeOf converts the type bits of a stat(2) mode to fs.FileMode's.
func typeOf(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

// ReadFile reads the regular file at path (Open) whole when it holds at
// most limit bytes. A longer one, or one that grows past limit while it is
// read, is an error wrapping ErrTooLarge, after reading limit+1 bytes.
func ReadFile(path string, follow bool, limit int64) ([]byte, error) {
	f, err := Open(path, follow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := ReadAll(f, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// ReadAll reads r to its end when it holds at most limit bytes; otherwise
// it returns ErrTooLarge after reading limit+1 bytes.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

// ReadTail reads the last limit bytes at most of the regular file at path
// (Open), from the start of a line: when the file is longer, what comes
// before the first newline of the part read is dropped, so the result holds
// whole lines (and a last one that may be partial). It reports whether it
// left something out.
func ReadTail(path string, follow bool, limit int64) (data []byte, cut bool, err error) {
	f, err := Open(path, follow)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	// Start one byte early: when that byte is a newline, the part read
	// starts with a whole line.
	off := fi.Size() - limit - 1
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return nil, false, fmt.Errorf("read %s: %w", path, err)
		}
		cut = true
	}
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	if cut {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data) - 1
		}
		data = data[i+1:]
	} else if int64(len(data)) > limit {
		// The file grew while it was read: keep the limit.
		data, cut = data[:limit], true
	}
	return data, cut, nil
}

// Replaced reports whether the file at path is no longer f (rotated away)
// or was truncated below where f has read: a follower reopens it then.
func Replaced(f *os.File, path string) bool {
	now, err := os.Stat(path)
	if err != nil {
		return false // gone for now: keep what we have
	}
	cur, err := f.Stat()
	if err != nil {
		return true
	}
	if !os.SameFile(now, cur) {
		return true
	}
	off, err := f.Seek(0, io.SeekCurrent)
	return err == nil && cur.Size() < off
}
