package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/spec"
)

func newExplainCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "explain [FIELD]",
		Short: "Describe a field of the manifest: type, default, meaning, equivalents",
		Long: `Describe a field of the Program manifest, as kubectl explain does: its type, its
default, the values it takes, what it means, whether changing it restarts running
instances, and its nearest supervisord and Kubernetes equivalents, then the fields
below it. FIELD is a dotted path (spec.readinessProbe.httpGet); without one, the
top level of the manifest is described. An unknown path is exit 1 with the nearest
known ones.`,
		Example: `  reconciled explain
  reconciled explain spec.replicas
  reconciled explain spec.readinessProbe.httpGet
  reconciled explain spec --recursive`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			err := spec.Explain(cmd.OutOrStdout(), path, recursive)
			var unknown *spec.UnknownFieldError
			if errors.As(err, &unknown) {
				return &exitError{Code: 1, Msg: err.Error()}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&recursive, "recursive", false, "list every field below FIELD, nested, by name and type")
	return cmd
}
