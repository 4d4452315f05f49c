package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check manifests without running them",
		Long: `Check manifests strictly, as the daemon would. Prints nothing and exits 0 when
every file is valid; otherwise prints one "file:line:col: field: message" line per
error and exits 1. Dependency cycles among the files given (dependsOn) are
errors too.`,
		Example: `  reconciled validate /etc/reconciled/*.yaml
  reconciled validate worker.yaml && cp worker.yaml /etc/reconciled/`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			needs := map[string][]string{}
			paths := map[string]string{}
			where := map[string]string{} // path -> "path:line:col"
			for _, path := range args {
				p, data, errs := validateFile(path)
				if errs != nil {
					bad = true
					fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
					continue
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
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

// validateFile reads path with the store's size cap, so that a huge file is
// refused without reading it all. What is not a regular file (a FIFO, a
// directory, a device, also behind a link) is said to be so, without
// blocking and unread.
func validateFile(path string) (*spec.Program, []byte, error) {
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
	return p, data, nil
}
