package main

// The changing verbs that edit one field of a manifest in place: start,
// stop, scale and restart. Each one reads the manifest under the spec
// directory's edit lock, refuses a manifest that is invalid now, changes
// the one field with spec's in-place editor (comments and layout kept),
// and writes the file back atomically with its mode and owner.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/spec"
)

// changeOptions are the flags every changing verb shares.
type changeOptions struct {
	wait    bool
	timeout time.Duration
}

func (c *changeOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&c.wait, "wait", false, "follow the status until the daemon has carried out the change")
	cmd.Flags().DurationVar(&c.timeout, "timeout", 60*time.Second, "with --wait: give up after this long (exit 1)")
}

// errSymlink is returned for a manifest that is a symbolic link: it belongs
// to whatever manages its target (a ConfigMap volume, a git checkout).
var errSymlink = errors.New("is a symbolic link")

// errNoManifest is returned when the directory has no manifest of a name.
var errNoManifest = errors.New("no manifest")

// manifestPath returns the path of NAME.yaml or NAME.yml in dir.
func manifestPath(dir, name string) (string, os.FileInfo, error) {
	if !spec.ValidName(name) {
		return "", nil, fmt.Errorf("%q is not a valid program name", name)
	}
	var found []string
	var info os.FileInfo
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		fi, err := os.Lstat(p)
		if err == nil {
			found = append(found, p)
			info = fi
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	switch len(found) {
	case 0:
		return filepath.Join(dir, name+".yaml"), nil, fmt.Errorf("%w named %s in %s", errNoManifest, name, dir)
	case 2:
		return "", nil, fmt.Errorf("both %s.yaml and %s.yml exist in %s: remove one", name, name, dir)
	}
	if info.Mode()&os.ModeSymlink != 0 {
		target, _ := os.Readlink(found[0])
		return found[0], info, fmt.Errorf("%s %w (to %s): it is managed elsewhere (a ConfigMap volume, a git checkout), change its source instead", found[0], errSymlink, target)
	}
	if !info.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a regular file", found[0])
	}
	return found[0], info, nil
}

// lockDir takes the edit lock of the spec directory: an exclusive flock on
// the directory itself, so that two edits of one directory (by any
// reconciled command) never lose each other's change. Locking the directory
// rather than a file in it creates nothing in a directory that may be owned
// by something else.
func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// invalidError is a manifest that is invalid before the edit.
type invalidError struct {
	path string
	errs spec.ErrorList
}

func (e *invalidError) Error() string {
	return e.errs.Error() + "\n" + e.path + " is invalid: fix it first (nothing was changed)"
}

// editResult is what an edit did.
type editResult struct {
	name    string
	path    string
	changed bool
	prog    *spec.Program // the new content, parsed
}

// readManifest reads at most one byte more than a manifest may hold.
func readManifest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, spec.MaxManifestSize+1))
}

// editManifest changes the manifest of name in dir with f, under the edit
// lock. It refuses an invalid manifest, writes nothing when f changes
// nothing, and retries when the file was replaced behind its back (by an
// editor, which does not take the lock) between reading and writing.
func editManifest(dir, name string, f func([]byte) ([]byte, error)) (editResult, error) {
	unlock, err := lockDir(dir)
	if err != nil {
		return editResult{}, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		path, info, err := manifestPath(dir, name)
		if err != nil {
			return editResult{}, err
		}
		data, err := readManifest(path)
		if err != nil {
			return editResult{}, err
		}
		if _, errs := spec.Parse(path, data); errs != nil {
			return editResult{}, &invalidError{path: path, errs: errs}
		}
		out, err := f(data)
		if err != nil {
			return editResult{}, fmt.Errorf("%s: %w", path, err)
		}
		p, errs := spec.Parse(path, out)
		if errs != nil {
			// The editor checks its work; this is a bug if it happens.
			return editResult{}, fmt.Errorf("%s: the edit would make the manifest invalid, nothing was changed:\n%v", path, errs)
		}
		res := editResult{name: name, path: path, prog: p, changed: string(out) != string(data)}
		if !res.changed {
			return res, nil
		}
		err = writeManifest(path, out, info, func() bool {
			now, err := os.Lstat(path)
			return err == nil && sameFile(info, now)
		})
		if errors.Is(err, errChanged) && attempt < 5 {
			continue
		}
		return res, err
	}
}

var errChanged = errors.New("the file changed while it was being edited")

func sameFile(a, b os.FileInfo) bool {
	sa, sb := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
	return sa.Ino == sb.Ino && sa.Dev == sb.Dev && a.Size() == b.Size() &&
		a.ModTime().Equal(b.ModTime()) && sa.Ctim == sb.Ctim
}

// writeManifest replaces path with data atomically (atomicfile.Write:
// the temp file's name starts with "." and the daemon ignores it), with the
// old file's mode and, when running as root, its owner; a last check before
// the rename that the old file is unchanged (unchanged() false aborts with
// errChanged). old is nil for a new file (mode 0644).
func writeManifest(path string, data []byte, old os.FileInfo, unchanged func() bool) error {
	o := atomicfile.Options{Mode: 0o644}
	if old != nil {
		o.Mode = old.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		if st, ok := old.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			o.Owner = &[2]int{int(st.Uid), int(st.Gid)}
		}
	}
	if unchanged != nil {
		o.BeforeRename = func() error {
			if !unchanged() {
				return errChanged
			}
			return nil
		}
	}
	return atomicfile.Write(path, data, o)
}

// allManifests returns the program names of the manifests in dir, sorted.
func allManifests(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if kind, name := spec.Classify(e.Name()); kind == spec.Manifest {
			names = append(names, name)
		}
	}
	return names, nil
}

// namesOrAll returns args, or every manifest's name with --all.
func namesOrAll(g *globalOptions, args []string, all bool) ([]string, error) {
	switch {
	case all && len(args) > 0:
		return nil, &usageError{errors.New("give program names or --all, not both")}
	case all:
		names, err := allManifests(g.dir)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, &exitError{code: 1, msg: "no manifests in " + g.dir}
		}
		return names, nil
	case len(args) == 0:
		return nil, &usageError{errors.New("name at least one program, or use --all")}
	}
	return args, nil
}

// runEdits edits every name with f, reporting each outcome with report, then
// waits when asked. One failure does not stop the others; the exit code is 1
// if any failed.
func runEdits(cmd *cobra.Command, g *globalOptions, names []string, co *changeOptions,
	f func([]byte) ([]byte, error), report func(r editResult) string) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	since := time.Now()
	var targets []waitTarget
	failed := false
	for _, name := range names {
		r, err := editManifest(g.dir, name, f)
		if err != nil {
			failed = true
			var inv *invalidError
			if errors.As(err, &inv) {
				fmt.Fprintln(errOut, inv.Error())
			} else {
				fmt.Fprintf(errOut, "%s: %v\n", name, err)
			}
			continue
		}
		fmt.Fprintln(out, report(r))
		targets = append(targets, appliedTarget(r.name, r.prog, since))
	}
	if failed {
		return &exitError{code: 1}
	}
	if co.wait {
		return waitFor(cmd.Context(), out, errOut, g, targets, co.timeout)
	}
	return nil
}

func newStartStopCommand(g *globalOptions, verb string, d spec.Desired) *cobra.Command {
	co := &changeOptions{}
	var all bool
	short := map[string]string{
		"start": "Set desired: running in manifests (start their instances)",
		"stop":  "Set desired: stopped in manifests (stop their instances)",
	}[verb]
	waitDesc := map[string]string{"start": "every instance is ready", "stop": "every instance has stopped"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME... | --all",
		Short: short,
		Long: fmt.Sprintf(`%s: set spec.desired to %s in each named manifest, changing only that
line of the file (comments and layout are kept). With --wait, follow the status
until %s.`, strings.ToUpper(verb[:1])+verb[1:], d, waitDesc),
		Example: fmt.Sprintf(`  reconciled %[1]s worker
  reconciled %[1]s web worker --wait --timeout 2m
  reconciled %[1]s --all`, verb),
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesOrAll(g, args, all)
			if err != nil {
				return err
			}
			past := map[string]string{"start": "started", "stop": "stopped"}[verb]
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return spec.SetDesired(b, d) },
				func(r editResult) string {
					if !r.changed {
						return fmt.Sprintf("%s unchanged (already desired: %s)", r.name, d)
					}
					return r.name + " " + past
				})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every manifest in the directory")
	co.addFlags(cmd)
	return cmd
}

func newScaleCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	cmd := &cobra.Command{
		Use:   "scale NAME... N",
		Short: "Set replicas: N in manifests",
		Long: `Set spec.replicas to N (0 to 10000) in each named manifest, changing only that
line of the file. Scaling never restarts running instances: scale-up starts the
missing indices, scale-down stops the highest first. With --wait, follow the
status until N instances are ready.`,
		Example: `  reconciled scale worker 3
  reconciled scale worker 5 --wait
  reconciled scale web api 0`,
		Args:              usageArgs(cobra.MinimumNArgs(2)),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, last := args[:len(args)-1], args[len(args)-1]
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 || n > 10000 {
				return &usageError{fmt.Errorf("replicas: %q is not a number from 0 to 10000", last)}
			}
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return spec.SetReplicas(b, n) },
				func(r editResult) string {
					if !r.changed {
						return fmt.Sprintf("%s unchanged (already replicas: %d)", r.name, n)
					}
					return fmt.Sprintf("%s scaled to %d", r.name, n)
				})
		},
	}
	co.addFlags(cmd)
	return cmd
}

func newRestartCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	var all bool
	cmd := &cobra.Command{
		Use:   "restart NAME... | --all",
		Short: "Rolling restart: set the reconciled.dev/restartedAt annotation to now",
		Long: `Set metadata.annotations["reconciled.dev/restartedAt"] to the current time in each
named manifest (as kubectl rollout restart does). The annotation is part of the
spec hash, so the daemon replaces every instance per updateStrategy (one at a
time by default, waiting for each new one to be ready). It also clears FATAL.
With --wait, follow the status until every instance runs the new spec and is
ready.`,
		Example: `  reconciled restart web
  reconciled restart web --wait
  reconciled restart --all`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesOrAll(g, args, all)
			if err != nil {
				return err
			}
			now := time.Now()
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return setRestartedAt(b, now) },
				func(r editResult) string { return r.name + " restarting" })
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every manifest in the directory")
	co.addFlags(cmd)
	return cmd
}

// setRestartedAt sets the annotation to now in RFC 3339; if it already
// holds that second, to now with nanoseconds, so that a second restart
// within the same second still changes the spec hash.
func setRestartedAt(b []byte, now time.Time) ([]byte, error) {
	out, err := spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339))
	if err == nil && string(out) == string(b) {
		out, err = spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339Nano))
	}
	return out, err
}
