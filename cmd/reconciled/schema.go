package main

import (
	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/spec"
)

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the manifest",
		Long: `Print the JSON Schema (draft 2020-12) of a Program manifest, generated from the
same field table the decoder and explain use. Editors complete and check
manifests with it: the repository carries a copy, spec/program.schema.json, and
a manifest that starts with

  # yaml-language-server: $schema=PATH-OR-URL-OF-THE-SCHEMA

gets it in any editor that runs yaml-language-server (VS Code's YAML extension,
Neovim, Helix, Zed). The schema checks what JSON Schema can express; validate
checks everything.`,
		Example: `  reconciled schema > /etc/reconciled/.program.schema.json
  reconciled schema | jq '.properties.spec.properties | keys'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(spec.Schema())
			return err
		},
	}
}
