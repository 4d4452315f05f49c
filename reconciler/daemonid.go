package reconciler

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// daemonIDFile, in the state directory, holds RECONCILED_DAEMON_ID: made
// once, kept for as long as the status directory, so that a daemon started
// after a crash knows the processes of the one before.
const daemonIDFile = "daemon-id"

// daemonID returns the daemon ID of stateDir, making it on first use.
func daemonID(stateDir string) (string, error) {
	path := filepath.Join(stateDir, daemonIDFile)
	// Not through a link, not from a FIFO, at most 64 bytes (internal/regfile).
	b, err := regfile.ReadFile(path, false, 64)
	if id := strings.TrimSpace(string(b)); err == nil && validDaemonID(id) {
		return id, nil
	}
	// Missing, not a regular file or too large for an id: made anew (the
	// atomic write replaces whatever holds the name).
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, regfile.ErrNotRegular) && !errors.Is(err, regfile.ErrTooLarge) {
		return "", fmt.Errorf("daemon id: %w", err)
	}
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("daemon id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, []byte(id+"\n"), atomicfile.Options{Mode: 0o644}); err != nil {
		return "", fmt.Errorf("daemon id: %w", err)
	}
	return id, nil
}

func validDaemonID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// withDaemonID returns env with RECONCILED_DAEMON_ID=id in place of any it
// inherited (a daemon started by another daemon's instance).
func withDaemonID(env []string, id string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, proc.EnvDaemonID+"=") {
			out = append(out, kv)
		}
	}
	return append(out, proc.EnvDaemonID+"="+id)
}

// killMarkedLeftovers SIGKILLs every process of the host that carries this
// daemon's ID: after a crash, whatever the earlier daemon of this status
// directory started, also what left its instance's process group. Nothing
// of this daemon runs yet (it holds the lock), so all of them are left over.
func killMarkedLeftovers(id string, log logr.Logger) {
	found, err := proc.FindMarked([]string{proc.EnvDaemonID + "=" + id})
	if err != nil {
		log.Error(err, "Scan for processes an earlier daemon left failed")
		return
	}
	for _, m := range found {
		log.Info("Killing a process an earlier daemon left", "program", m.Program, "instance", fmt.Sprintf("%s-%d", m.Program, m.Instance), "pid", m.Pid)
	}
	if err := proc.SignalMarked(found, unix.SIGKILL); err != nil {
		log.Error(err, "Kill leftover processes failed")
	}
}

// forgetDeleted records the end of every program whose status file
// remains but whose manifest was deleted while no daemon ran (its
// processes were ended by the start-up cleanup): a Deleted event, then
// the status file goes, as when a running daemon sees the deletion.
// Programs the filter leaves out are not this daemon's to judge.
func forgetDeleted(dir, statusDir string, filter func(string) bool, sink StatusSink, log logr.Logger) {
	statuses, err := status.ReadDir(statusDir)
	if err != nil || len(statuses) == 0 {
		return
	}
	names, err := listPrograms(dir, nil)
	if err != nil {
		log.Error(err, "Cannot list the manifests: status files of deleted programs kept")
		return
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for _, st := range statuses {
		name := st.Metadata.Name
		if have[name] || (filter != nil && !filter(name)) {
			continue
		}
		log.Info("Manifest deleted while no daemon ran: removing its status", "program", name)
		sink.Event(status.Event{Time: time.Now(), Type: status.EventNormal, Reason: "Deleted", Program: name,
			Message: "manifest removed while no daemon ran: all instances stopped"})
		sink.Delete(name)
	}
}
