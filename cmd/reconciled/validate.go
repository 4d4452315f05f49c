package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/spec"
)

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check manifests without running them",
		Long: `Check manifests strictly, as the daemon would. Prints nothing and exits 0 when
every file is valid; otherwise prints one "file:line:col: field: message" line per
error and exits 1.`,
		Example: `  reconciled validate /etc/reconciled/*.yaml
  reconciled validate worker.yaml && cp worker.yaml /etc/reconciled/`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			for _, path := range args {
				if errs := validateFile(path); errs != nil {
					bad = true
					fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
				}
			}
			if bad {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

// validateFile reads at most one byte more than a manifest may hold, so that
// a huge file is refused without reading it all.
func validateFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: cannot read: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxManifestSize+1))
	if err != nil {
		return fmt.Errorf("%s: cannot read: %w", path, err)
	}
	if _, errs := spec.Parse(path, data); errs != nil {
		return errs
	}
	return nil
}
