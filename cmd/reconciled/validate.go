package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

func newValidateCommand() *cobra.Command {
	var trustAll bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check manifests without running them",
		Long: `Check manifests strictly, as the daemon would. Prints nothing and exits 0 when
every file is valid; otherwise prints one "file:line:col: field: message" line per
error and exits 1. Dependency cycles among the files given (dependsOn) are
errors too, and so is a file of spec.envFrom that cannot be read or is not
valid dotenv (relative paths are relative to the manifest's directory). Warnings (a shell operator in a command that runs without a shell)
go to standard error and do not change the exit code. The daemon's own files
(NAME.status.yaml, NAME.events.jsonl), which a *.yaml glob also matches, are
skipped with a note.

Run as root, it also applies the privilege policy of a daemon running as root,
taking each file's own directory as the daemon's --dir: the file and the
directories on its way must not be writable by group or other and must be owned
by root or the file's owner (InsecureFile), and a file owned by another user may
name only that user (UserNotAllowed; --trust-all-owners turns this rule off, as
it does for the daemon).`,
		Example: `  reconciled validate /etc/reconciled/*.yaml
  reconciled validate worker.yaml && cp worker.yaml /etc/reconciled/`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			needs := map[string][]string{}
			paths := map[string]string{}
			where := map[string]string{} // path -> "path:line:col"
			errOut := cmd.ErrOrStderr()
			var policy *manifest.Policy
			if os.Geteuid() == 0 {
				policy = &manifest.Policy{TrustAllOwners: trustAll}
			}
			for _, path := range args {
				if spec.DaemonFile(filepath.Base(path)) {
					diag(errOut, "%s: skipped: a file the daemon writes, not a manifest", path)
					continue
				}
				p, data, errs := validateFile(path, policy)
				if errs != nil {
					bad = true
					fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
					continue
				}
				for _, w := range p.Warnings {
					fmt.Fprintln(errOut, w.Error())
				}
				paths[p.Metadata.Name] = path
				where[path] = path
				if line, col, ok := spec.Locate(data, "spec", "dependsOn"); ok {
					where[path] = fmt.Sprintf("%s:%d:%d", path, line, col)
				}
				needs[p.Metadata.Name] = nil
				for _, d := range p.Spec.DependsOn {
					needs[p.Metadata.Name] = append(needs[p.Metadata.Name], d.Program)
				}
			}
			cycles := spec.Cycles(needs)
			for _, path := range args {
				for name, c := range cycles {
					if paths[name] == path {
						bad = true
						fmt.Fprintf(cmd.OutOrStdout(), "%s: spec.dependsOn: dependency cycle: %s\n", where[path], c)
					}
				}
			}
			if bad {
				return &exitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&trustAll, "trust-all-owners", false, "as root: check as a daemon run with --trust-all-owners (no owner rule)")
	return cmd
}

// validateFile reads path with the store's size cap, so that a huge file is
// refused without reading it all. With a policy (run as root), the file is
// first checked as a daemon on its directory would check it. What is not a
// regular file (a FIFO, a directory, a device, also behind a link) is said
// to be so, without blocking and unread.
func validateFile(path string, policy *manifest.Policy) (*spec.Program, []byte, error) {
	if err := manifest.CheckRegular(path); err != nil {
		return nil, nil, err // "PATH is a FIFO, not a regular file: ..."
	}
	var owner uint32
	if policy != nil {
		r, err := policy.CheckPath(manifest.OSFS{}, filepath.Dir(path), filepath.Base(path))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		owner = r.File.Stat.UID
	}
	data, err := manifest.ReadFile(path)
	if errors.Is(err, regfile.ErrNotRegular) {
		return nil, nil, err // "PATH is a FIFO, not a regular file: ..."
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	p, errs := spec.Parse(path, data)
	if errs != nil {
		return nil, nil, errs
	}
	if policy != nil {
		if _, err := policy.Admit(path, data, owner, p); err != nil {
			return nil, nil, err
		}
	}
	var check func(string) error
	if policy != nil {
		check = policy.EnvFileCheck(manifest.OSFS{}, owner)
	}
	p, _, err = manifest.LoadEnvFrom(filepath.Dir(path), path, p, check)
	if err != nil {
		return nil, nil, err
	}
	return p, data, nil
}
