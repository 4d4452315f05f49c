package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildInfo is what the binary knows of its own build (debug.ReadBuildInfo):
// the module version (the VCS tag it was built at, a pseudo-version, or
// "(devel)"), the commit and its time, and the Go that built it.
type buildInfo struct {
	version, commit, commitTime, goVersion string
	modified                               bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: "(unknown)", goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.version = v
	}
	b.goVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.commit = s.Value
		case "vcs.time":
			b.commitTime = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// String is what `reconciled version` and `reconciled --version` print.
func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "reconciled %s\n", b.version)
	commit := b.commit
	if commit == "" {
		commit = "(unknown)"
	}
	if b.commitTime != "" {
		commit += " (" + b.commitTime + ")"
	}
	if b.modified {
		commit += ", modified"
	}
	fmt.Fprintf(&s, "commit: %s\n", commit)
	fmt.Fprintf(&s, "go: %s %s/%s\n", b.goVersion, runtime.GOOS, runtime.GOARCH)
	return s.String()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Long: `Print the version, commit and Go version of this binary, as its build recorded
them (a binary built from a tagged checkout or with go install ...@VERSION
carries the version; one built from a work tree says (devel)).`,
		Example: `  reconciled version
  reconciled --version`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), readBuildInfo())
			return err
		},
	}
}
