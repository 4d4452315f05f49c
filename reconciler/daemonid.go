package reconciler

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/proc"
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
