package benchkit

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// guardChildEnv makes the test binary a child that calls Guard, then
// writes to its stderr until a write fails.
const guardChildEnv = "BENCHKIT_GUARD_CHILD"

func TestMain(m *testing.M) {
	if marker := os.Getenv(guardChildEnv); marker != "" {
		guardChild(marker)
		return
	}
	os.Exit(m.Run())
}

// guardChild guards a cleanup that creates marker, and writes to stderr
// until the write fails or a minute has passed.
func guardChild(marker string) {
	Guard("guard-child", time.Minute, func() {
		_ = os.WriteFile(marker, []byte("cleaned up\n"), 0o644)
	}, os.Exit)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stderr.WriteString("line\n"); err != nil {
			select {} // Guard's cleanup exits
		}
	}
	os.Exit(3)
}

// TestGuardCleansUpOnBrokenPipe: a harness whose stderr reader has gone
// (`run.sh | head`) runs its cleanup and exits 130, instead of dying of
// SIGPIPE with the daemon and its cgroups left behind.
func TestGuardCleansUpOnBrokenPipe(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "cleaned")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), guardChildEnv+"="+marker)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	buf := make([]byte, 5)
	if _, err := r.Read(buf); err != nil { // it is writing
		t.Fatalf("read the child's stderr: %v", err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the child did not exit 30 s after its stderr reader went")
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		t.Fatalf("child: %v, want exit status 130", werr)
	}
	if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 130 {
		t.Fatalf("child: %v, want exit status 130 (Guard's), not death by SIGPIPE", werr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("cleanup did not run: %v", err)
	}
}
