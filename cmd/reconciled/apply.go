package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
)

func newApplyCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	var files []string
	var name string
	var dryRun bool
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
UserNotAllowed: see validate).

With --dry-run nothing is written: apply prints what "reconciled diff" prints (the
diff and what the daemon would do) and exits 0 when every manifest is valid,
whether it changes anything or not, 1 when one is invalid.`,
		Example: `  reconciled apply -f worker.yaml
  reconciled apply -f web.yaml -f worker.yaml --wait
  reconciled apply -f worker.yaml --dry-run
  sed 's/replicas: 1/replicas: 2/' worker.yaml | reconciled apply -f - --name worker`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if dryRun {
				if co.wait {
					return &usageError{Err: errors.New("--wait does not go with --dry-run")}
				}
				plans, err := planFiles(cmd, g, files, name)
				if err != nil {
					return err
				}
				failed := false
				for _, p := range plans {
					p.write(out, errOut)
					failed = failed || p.err != nil || p.errs != nil
				}
				if failed {
					return &exitError{Code: 1}
				}
				return nil
			}
			ins, readFailed, err := readInputs(files, name, cmd.InOrStdin())
			if err != nil {
				return err
			}
			failed := len(readFailed) > 0
			for _, err := range readFailed {
				diag(errOut, "%v", err)
			}
			since := time.Now()
			var targets []change.Target
			dir := g.manifests()
			if os.Geteuid() == 0 {
				// Refuse what the daemon, if it runs as root, would.
				dir = dir.WithPolicy(manifest.Policy{})
			}
			for _, in := range ins {
				r, err := applyInput(dir, in)
				if err != nil {
					failed = true
					var inv *manifest.InvalidError
					if errors.As(err, &inv) {
						fmt.Fprintln(errOut, inv.Errs.Error())
						diag(errOut, "%s is invalid: nothing was written", inv.Path)
					} else {
						diag(errOut, "%s: %v", in.file, err)
					}
					continue
				}
				for _, w := range r.Program.Warnings {
					w.File = in.display
					fmt.Fprintln(errOut, w.Error())
				}
				fmt.Fprintln(out, r)
				targets = append(targets, change.Applied(r.Result, since))
			}
			if failed {
				return &exitError{Code: 1}
			}
			if co.wait {
				return waitFor(cmd.Context(), out, errOut, g, targets, co.timeout)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest to apply; - for standard input (repeatable)")
	cmd.Flags().StringVar(&name, "name", "", "program name (default: metadata.name, else the file's stem)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show what would change (as diff does), writing nothing")
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

// applyInput places a read input in dir, validating it as the file it will
// be; the errors of an invalid one name the input.
func applyInput(dir manifest.Dir, in input) (applied, error) {
	r, err := dir.Apply(in.name, in.data)
	var inv *manifest.InvalidError
	if errors.As(err, &inv) {
		for _, e := range inv.Errs {
			e.File = in.display
		}
		inv.Path = in.display
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
