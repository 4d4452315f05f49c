package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/regfile"
)

const (
	eventsSuffix = ".events.jsonl"
	// rotatedSuffix is appended to the events file name to name its one backup.
	rotatedSuffix = ".1"
	// DefaultEventsMaxBytes is the size past which an events file is rotated.
	DefaultEventsMaxBytes int64 = 1 << 20
	// MaxEventsRead is the most ReadEvents takes of one events file: its
	// end, whole lines. A file of ours is rotated long before that.
	MaxEventsRead int64 = 4 << 20
)

// EventsPath returns the path of the events file of program name in dir. Its
// rotated predecessor is the same path with ".1" appended.
func EventsPath(dir, name string) string {
	return filepath.Join(dir, name+eventsSuffix)
}

// EventLog appends events to the NAME.events.jsonl files of one directory and
// keeps each file under MaxBytes by rotation. Its zero MaxBytes means
// DefaultEventsMaxBytes. An EventLog holds no open files; it is safe to copy,
// but appends to the same program must not run concurrently.
type EventLog struct {
	// Dir is the directory that holds the events files.
	Dir string
	// MaxBytes is the size an events file may not pass: before an append would
	// pass it, the file is renamed to NAME.events.jsonl.1, replacing an older one.
	MaxBytes int64
	// Log is told when something that is not a regular file (a FIFO, a
	// symbolic link, a socket) had taken an events file's name and was
	// replaced. The zero Logger discards it.
	Log logr.Logger
}

// AppendEvents appends evs to dir/NAME.events.jsonl with the default size limit.
func AppendEvents(dir, name string, evs []Event) error {
	_, err := EventLog{Dir: dir}.Append(name, evs)
	return err
}

// Append appends evs, one compact JSON object a line, to the events file of
// program name, rotating it when it would pass MaxBytes. The file is opened
// with O_APPEND, so the records of earlier daemon runs are kept. It returns how
// many of evs were written in full, so that a caller can retry only the rest.
func (l EventLog) Append(name string, evs []Event) (int, error) {
	if err := checkName(name); err != nil {
		return 0, fmt.Errorf("append events: %w", err)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	limit := l.MaxBytes
	if limit <= 0 {
		limit = DefaultEventsMaxBytes
	}
	path := EventsPath(l.Dir, name)
	f, size, err := l.openEvents(path)
	if err != nil {
		return 0, fmt.Errorf("append events: %w", err)
	}
	defer func() { _ = f.Close() }() // For the error paths; a second Close is harmless.

	var buf bytes.Buffer
	done, pending := 0, 0
	write := func() error {
		if buf.Len() == 0 {
			return nil
		}
		n, err := f.Write(buf.Bytes())
		size += int64(n)
		buf.Reset()
		if err != nil {
			return err
		}
		done += pending
		pending = 0
		return nil
	}
	var line []byte
	for _, ev := range evs {
		line = append(appendEvent(line[:0], ev), '\n')
		// Rotate before the line that would pass the limit, unless the file is
		// empty: a line longer than the limit still gets written, alone.
		if size+int64(buf.Len()+len(line)) > limit && size+int64(buf.Len()) > 0 {
			if err := write(); err != nil {
				return done, fmt.Errorf("append events %s: %w", path, err)
			}
			if err := f.Close(); err != nil {
				return done, fmt.Errorf("append events %s: %w", path, err)
			}
			if err := os.Rename(path, path+rotatedSuffix); err != nil {
				return done, fmt.Errorf("rotate events %s: %w", path, err)
			}
			if f, size, err = l.openEvents(path); err != nil {
				return done, fmt.Errorf("append events: %w", err)
			}
		}
		buf.Write(line)
		pending++
	}
	if err := write(); err != nil {
		return done, fmt.Errorf("append events %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return done, fmt.Errorf("append events %s: %w", path, err)
	}
	return done, nil
}

// openEvents opens path for appending and returns its size. When a crash left a
// torn last line, it first ends that line, so that the next record is not glued
// to it and lost with it.
//
// The name is the daemon's: whatever else holds it (a FIFO, which would
// block every write once full; a symbolic link, to /dev/zero or to a file
// of someone else's; a socket or a device) is never written through or
// waited on, but replaced by an empty events file, atomically, and logged.
// A directory cannot be replaced so: that is an error, reported again at
// every retry.
func (l EventLog) openEvents(path string) (*os.File, int64, error) {
	const flags = os.O_RDWR | os.O_APPEND | os.O_CREATE | unix.O_NOFOLLOW
	f, err := regfile.OpenFile(path, flags, fileMode)
	var nr *regfile.NotRegularError
	if errors.As(err, &nr) && nr.Mode&fs.ModeDir == 0 {
		if werr := atomicfile.Write(path, nil, atomicfile.Options{Mode: fileMode}); werr != nil {
			return nil, 0, fmt.Errorf("replace %w: %w", err, werr)
		}
		l.Log.Info("Replaced a file in the way of an events file", "path", path, "reason", "is "+regfile.Kind(nr.Mode)+", not a regular file")
		f, err = regfile.OpenFile(path, flags, fileMode)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	size := fi.Size()
	if size == 0 {
		return f, 0, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	if last[0] != '\n' {
		n, err := f.Write([]byte{'\n'})
		size += int64(n)
		if err != nil {
			_ = f.Close()
			return nil, 0, err
		}
	}
	return f, size, nil
}

// ReadEvents returns the events of program name in dir, oldest first: those of
// NAME.events.jsonl.1, then those of NAME.events.jsonl. Missing files count as
// empty. Lines that do not parse (a line torn by a crash) are skipped. Of a
// file larger than MaxEventsRead only the last whole lines that fit are read;
// a file that is not a regular file (a FIFO, a symbolic link, a device) is
// an error, and is not read.
func ReadEvents(dir, name string) ([]Event, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	path := EventsPath(dir, name)
	var out []Event
	for _, p := range []string{path + rotatedSuffix, path} {
		data, _, err := regfile.ReadTail(p, false, MaxEventsRead)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, ParseEvents(data)...)
	}
	return out, nil
}

// ParseEvents parses the lines of an events file, skipping blank lines and lines
// that are not a JSON object (such as a last line torn by a crash). A follower
// of a growing file can feed it whole lines as they come.
func ParseEvents(data []byte) []Event {
	var out []Event
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			continue
		}
		out = append(out, ev)
	}
	return out
}
