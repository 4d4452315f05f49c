package atomicfile

import (
	"os"
	"path/filepath"
)

// TempInfix separates the target's base name from the random suffix in a
// temp file's name: ".BASE" + TempInfix + "RANDOM".
const TempInfix = ".tmp-"

// TempGlob returns the filepath.Match pattern of the temp files of the
// targets whose base names match basePattern, so that a writer that owns a
// directory can remove what a crashed writer left behind.
func TempGlob(basePattern string) string {
	return "." + basePattern + TempInfix + "*"
}

// Options tune Write.
type Options struct {
	// Mode is the file's mode (permission and set-id bits), set as it is:
	// the zero value makes a file no one but root can read.
	Mode os.FileMode
	// Owner, when not nil, is the uid and gid to give the file.
	Owner *[2]int
	// BeforeRename, when not nil, is a last check once the data is on disk:
	// an error aborts the write (the temp file is removed) and is returned
	// as it is, so that callers can test it with errors.Is.
	BeforeRename func() error
}

// Write replaces path with data so that no reader ever sees a partial file:
// temp file ".BASE.tmp-RANDOM" in the same directory, fsync, rename, fsync
// of the directory so that the rename itself survives a crash.
func Write(path string, data []byte, o Options) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "." // CreateTemp would take "" as os.TempDir, another file system
	}
	f, err := os.CreateTemp(dir, "."+base+TempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if o.Owner != nil {
		// Before Chmod: chown clears the set-id bits.
		if err = f.Chown(o.Owner[0], o.Owner[1]); err != nil {
			return err
		}
	}
	// CreateTemp makes the file 0600.
	if err = f.Chmod(o.Mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if o.BeforeRename != nil {
		if err = o.BeforeRename(); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs directory dir, so that a rename or removal in it survives a
// crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
