package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

func newApplyCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	var files []string
	var name string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|- [-f FILE...]",
		Short: "Validate manifests and place them in the directory atomically",
		Long: `Validate each manifest as the daemon would and, if it is valid, write it into the
directory as NAME.yaml atomically (temp file and rename, so the daemon never sees
half a file), keeping the mode and owner of the file it replaces. An invalid
manifest is refused with its located errors and nothing is written.

NAME is --name, else metadata.name, else the file's stem. "-f -" reads standard
input (then metadata.name or --name is needed). A manifest that is a symbolic link
in the directory (a ConfigMap volume) is refused: change its source. Run as
root, apply also refuses what a daemon running as root would (InsecureFile,
UserNotAllowed: see validate).`,
		Example: `  reconciled apply -f worker.yaml
  reconciled apply -f web.yaml -f worker.yaml --wait
  sed 's/replicas: 1/replicas: 2/' worker.yaml | reconciled apply -f - --name worker`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return &usageError{errors.New("-f FILE is required")}
			}
			if name != "" && len(files) > 1 {
				return &usageError{errors.New("--name goes with a single -f")}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			since := time.Now()
			var targets []waitTarget
			failed := false
			dir := g.manifests()
			if os.Geteuid() == 0 {
				// Refuse what the daemon, if it runs as root, would.
				dir = dir.WithPolicy(manifest.Policy{})
			}
			for _, file := range files {
				r, err := applyFile(dir, file, name, cmd.InOrStdin())
				if err != nil {
					failed = true
					var inv *manifest.InvalidError
					if errors.As(err, &inv) {
						fmt.Fprintln(errOut, inv.Errs.Error())
						fmt.Fprintf(errOut, "%s is invalid: nothing was written\n", inv.Path)
					} else {
						fmt.Fprintf(errOut, "%s: %v\n", file, err)
					}
					continue
				}
				fmt.Fprintln(out, r)
				targets = append(targets, appliedTarget(r.Name, r.Path, r.Program, since))
			}
			if failed {
				return &exitError{code: 1}
			}
			if co.wait {
				return waitFor(cmd.Context(), out, errOut, g, targets, co.timeout)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest to apply; - for standard input (repeatable)")
	cmd.Flags().StringVar(&name, "name", "", "program name (default: metadata.name, else the file's stem)")
	co.addFlags(cmd)
	return cmd
}

// applied is the outcome of one apply.
type applied struct{ manifest.Result }

func (a applied) String() string {
	switch {
	case !a.Changed:
		return a.Name + " unchanged"
	case a.Created:
		return a.Name + " created"
	}
	return a.Name + " configured"
}

// applyFile validates file (or standard input for "-") and places it in dir.
func applyFile(dir manifest.Dir, file, name string, stdin io.Reader) (applied, error) {
	var data []byte
	var err error
	display := file
	if file == "-" {
		display = "<stdin>"
		data, err = manifest.ReadAll(stdin)
	} else {
		data, err = manifest.ReadFile(file)
	}
	if err != nil {
		return applied{}, err
	}
	if name == "" {
		name = metadataName(data)
	}
	if name == "" && file != "-" {
		base := filepath.Base(file)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if name == "" {
		return applied{}, errors.New("no program name: give --name or set metadata.name")
	}
	if !spec.ValidName(name) {
		return applied{}, fmt.Errorf("%q is not a valid program name: use lower-case letters, digits, '-' and '_', at most %d characters", name, spec.MaxNameLength)
	}
	// The store validates data as the file it will be (its stem is the
	// name); the errors are reported against the input.
	r, err := dir.Apply(name, data)
	var inv *manifest.InvalidError
	if errors.As(err, &inv) {
		for _, e := range inv.Errs {
			e.File = display
		}
		inv.Path = display
	}
	if err != nil {
		return applied{}, err
	}
	return applied{r}, nil
}

// metadataName returns metadata.name when data is a mapping that has one.
func metadataName(data []byte) string {
	var doc struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return ""
	}
	return doc.Metadata.Name
}
