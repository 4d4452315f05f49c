package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kind is what a program's processes do; it never changes during a soak, so
// the final check knows which programs must have every instance running.
type kind int

const (
	kindSleep      kind = iota // runs until stopped
	kindCrash                  // exits 1 after a moment
	kindIgnoreTerm             // ignores SIGTERM: stopped by SIGKILL after stopTimeout
	kindEscape                 // leaves a child in a session of its own
)

func (k kind) command() string {
	switch k {
	case kindCrash:
		return `["sh", "-c", "sleep 0.$RANDOM; exit 1"]`
	case kindIgnoreTerm:
		return `["sh", "-c", "trap '' TERM; exec sleep 1000"]`
	case kindEscape:
		return `["sh", "-c", "SOAK_ROLE=escaped setsid sleep 1000 & exec sleep 1000"]`
	}
	return `["sleep", "1000"]`
}

// longRunning reports whether every wanted instance must be running at
// the end (a crashing program may be between runs, or done).
func (k kind) longRunning() bool { return k != kindCrash }

// policies are the restart policies a kind may get. A long-running
// program is never Never: a SIGKILL from the soak would end it for good.
func (k kind) policies() []string {
	if k == kindCrash {
		return []string{"Always", "OnFailure", "Never"}
	}
	return []string{"Always", "OnFailure"}
}

// shape is the part of a manifest the soak varies.
type shape struct {
	replicas    int
	desired     string
	policy      string
	stopTimeout time.Duration
}

// program is one program of the soak.
type program struct {
	name string
	kind kind
}

func (p program) path(dir string) string { return filepath.Join(dir, p.name+".yaml") }

func randomShape(r *rand.Rand, k kind) shape {
	s := shape{replicas: 1 + r.IntN(5), desired: "running", stopTimeout: time.Second}
	if r.IntN(8) == 0 {
		s.desired = "stopped"
	}
	if r.IntN(10) == 0 {
		s.replicas = 0
	}
	ps := k.policies()
	s.policy = ps[r.IntN(len(ps))]
	if k == kindIgnoreTerm {
		s.stopTimeout = time.Duration(300+r.IntN(1200)) * time.Millisecond
	}
	return s
}

// manifest renders p with s. The command comes last and is a flow
// sequence, so that a cut-off prefix is either invalid or the whole file.
func (p program) manifest(s shape) []byte {
	delay := "100ms"
	maxDelay := "1s"
	if p.kind == kindCrash {
		maxDelay = "2s"
	}
	return []byte(fmt.Sprintf(`apiVersion: reconciled.dev/v1
kind: Program
metadata:
  name: %s
spec:
  desired: %s
  replicas: %d
  restartPolicy: %s
  startSeconds: 0s
  restartDelay: %s
  maxRestartDelay: %s
  stopTimeout: %s
  command: %s
`, p.name, s.desired, s.replicas, s.policy, delay, maxDelay, s.stopTimeout, p.kind.command()))
}

// invalid returns content that is not a valid manifest for p.
func invalid(r *rand.Rand, p program, s shape) []byte {
	good := string(p.manifest(s))
	switch r.IntN(4) {
	case 0:
		return []byte(strings.Replace(good, fmt.Sprintf("replicas: %d", s.replicas), "replicas: many", 1))
	case 1:
		return []byte(strings.Replace(good, "spec:", "spec: [", 1))
	case 2:
		return []byte(good + "  bogusField: 1\n")
	}
	return []byte("just a string\n")
}

// writer is one way a tool puts a file into the directory.
type writer func(dir, target string, data []byte, r *rand.Rand) error

// writers are the styles of the storm, by name, for the counts.
func writers() []struct {
	name string
	w    writer
} {
	return []struct {
		name string
		w    writer
	}{
		{"in-place", writeInPlace},
		{"rename", writeRename},
		{"symlink", writeSymlink},
		{"cp", writeCp},
		{"git", writeGit},
	}
}

// writeInPlace truncates and writes in two pieces, so the daemon may see
// half a file for a moment. A symlink left by writeSymlink is first
// replaced by a regular file (materialize): a write through it lands in the hidden store, where the daemon's
// directory watch cannot see it, and only the resync (30s) would.
func writeInPlace(dir, target string, data []byte, r *rand.Rand) error {
	if err := materialize(dir, target, r); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", target, err)
	}
	cut := r.IntN(len(data) + 1)
	_, err1 := f.Write(data[:cut])
	_, err2 := f.Write(data[cut:])
	err3 := f.Close()
	if err := firstErr(err1, err2, err3); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}

// writeRename writes a hidden temp file and renames it over the target.
func writeRename(dir, target string, data []byte, r *rand.Rand) error {
	tmp := filepath.Join(dir, fmt.Sprintf(".soak-%d.tmp", r.Int64()))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write temp: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// writeSymlink writes the content into a hidden store and swaps a symlink
// to it into place (as a ConfigMap volume or git-sync does).
func writeSymlink(dir, target string, data []byte, r *rand.Rand) error {
	store := filepath.Join(dir, ".soak-store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	id := r.Int64()
	file := filepath.Join(store, fmt.Sprintf("%d.yaml", id))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	link := filepath.Join(dir, fmt.Sprintf(".soak-%d.link", id))
	if err := os.Symlink(file, link); err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	if err := os.Rename(link, target); err != nil {
		return fmt.Errorf("swap symlink: %w", err)
	}
	return nil
}

// writeCp runs cp(1) from a file outside the directory; like the in-place
// writer, it replaces a symlink by a file first rather than write through it.
func writeCp(dir, target string, data []byte, r *rand.Rand) error {
	src := filepath.Join(filepath.Dir(dir), fmt.Sprintf("cp-%d.yaml", r.Int64()))
	if err := os.WriteFile(src, data, 0o644); err != nil {
		return fmt.Errorf("write cp source: %w", err)
	}
	defer os.Remove(src)
	if err := materialize(dir, target, r); err != nil {
		return err
	}
	if out, err := exec.Command("cp", src, target).CombinedOutput(); err != nil {
		return fmt.Errorf("cp: %w: %s", err, out)
	}
	return nil
}

// writeGit has git(1) write the file the way `git checkout` does (unlink,
// then create and write): the content is stored as a blob, staged, and
// checked out from the index of a repository whose work tree is the
// directory (.git is a hidden entry the daemon ignores).
func writeGit(dir, target string, data []byte, r *rand.Rand) error {
	git := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if _, err := git(nil, "init", "-q"); err != nil {
			return err
		}
	}
	sha, err := git(data, "hash-object", "-w", "--stdin")
	if err != nil {
		return err
	}
	name := filepath.Base(target)
	if _, err := git(nil, "update-index", "--add", "--cacheinfo", "100644,"+sha+","+name); err != nil {
		return err
	}
	_, err = git(nil, "checkout-index", "-f", "--", name)
	return err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// materialize replaces a symlink at target, atomically, by a regular file
// with the same content, so that the next write goes into the directory
// and the daemon never sees the file missing (a delete then create would
// be a deletion it may act on).
func materialize(dir, target string, r *rand.Rand) error {
	fi, err := os.Lstat(target)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return fmt.Errorf("read through symlink: %w", err)
	}
	return writeRename(dir, target, data, r)
}
