package watch

import (
	"os"
	"path/filepath"
	"testing"
)

// A change of mode or owner (IN_ATTRIB) of a manifest or of the directory
// itself schedules a rescan like an edit: the privilege policy (DESIGN §13)
// decides on them.
func TestModeAndOwnerChangesNotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	write(t, path, "spec: {command: [sleep, '1']}\n")
	h := start(t, Options{Dir: dir})
	h.drain()

	must(t, os.Chmod(path, 0o666))
	h.expect("chmod of a manifest")
	h.drain()
	must(t, os.Chmod(dir, 0o777))
	h.expect("chmod of the directory")
	h.drain()
	if os.Geteuid() != 0 {
		return // chown needs root
	}
	must(t, os.Chown(path, 65534, 65534))
	h.expect("chown of a manifest")
	h.drain()
	must(t, os.Chown(dir, 65534, 65534))
	h.expect("chown of the directory")
}
