package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/export"
	"github.com/reconciled/reconciled/internal/atomicfile"
	"github.com/reconciled/reconciled/internal/cli"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

func newExportCommand() *cobra.Command {
	var (
		g      dirFlags
		sel    export.Selection
		o      export.Options
		outDir string
		check  bool
	)
	cmd := &cobra.Command{
		Use:   "reconciled export kubernetes|nomad|systemd [NAME... | -l SELECTOR | --all]",
		Short: "Turn manifests into Kubernetes, Nomad or systemd configuration",
		Long: `Write the configuration of another engine for the programs named, selected by
labels or all of them: for the day one host is not enough, or a host should run
its programs without this daemon.

  kubernetes  a Deployment per long-running program (a StatefulSet with
              --kind statefulset), an Indexed Job per OnFailure/Never program;
              a multi-document YAML stream
  nomad       a job per program, as "nomad job run -json" takes it
  systemd     NAME@.service (one instance per index, %i) and NAME.target,
              the env in NAME.env (mode 0600); each file after "# FILE: NAME"

Every field that has no equivalent in the engine is named in a warning on
standard error; --check exits 1 when there was any. With -o DIR the files are
written there instead (NAME.yaml, NAME.nomad.json, the units), those holding env
values with mode 0600. The Kubernetes image is --image, else the annotation
reconciled.dev/image. docs/reference.md lists what each engine keeps and loses.`,
		Example: `  reconciled export kubernetes --all --image python:3.13-slim | kubectl apply -f -
  reconciled export kubernetes web --kind statefulset
  reconciled export nomad -l tier=backend -o jobs/ && nomad job run -json jobs/worker.nomad.json
  sudo reconciled export systemd --all -o /etc/systemd/system && sudo systemctl daemon-reload
  reconciled export systemd --all --check >/dev/null   # CI: fail on anything lost`,
		Args:      cli.UsageArgs(cobra.MinimumNArgs(1)),
		ValidArgs: []string{string(export.Kubernetes), string(export.Nomad), string(export.Systemd)},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := export.Target(args[0])
			if !slices.Contains(export.Targets(), target) {
				return &cli.UsageError{Err: fmt.Errorf("unknown target %q: use kubernetes, nomad or systemd", args[0])}
			}
			sel.Names = args[1:]
			if err := sel.Validate(); err != nil {
				return &cli.UsageError{Err: err}
			}
			errOut := cmd.ErrOrStderr()
			progs, ok := loadForExport(g.manifests(), sel, errOut)
			if !ok {
				return &cli.ExitError{Code: 1}
			}
			if outDir != "" && target == export.Systemd {
				abs, err := filepath.Abs(outDir)
				if err != nil {
					return &cli.ExitError{Code: 1, Msg: err.Error()}
				}
				o.UnitDir = abs
			}
			res, err := export.Export(target, progs, o)
			if err != nil {
				return &cli.ExitError{Code: 1, Msg: "export: " + err.Error()}
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(errOut, "warning: "+w.String())
			}
			if outDir == "" {
				if _, err := cmd.OutOrStdout().Write(res.Stream()); err != nil {
					return &cli.ExitError{Code: 1, Msg: err.Error()}
				}
			} else if err := writeExport(cmd.OutOrStdout(), outDir, res.Files); err != nil {
				return &cli.ExitError{Code: 1, Msg: "export: " + err.Error()}
			}
			if check && len(res.Warnings) > 0 {
				return &cli.ExitError{Code: 1, Msg: fmt.Sprintf("export: %d warnings (--check)", len(res.Warnings))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&sel.Selector, "selector", "l", "", "export the programs whose labels match (team=payments,tier!=batch)")
	f.BoolVar(&sel.All, "all", false, "export every program of the directory")
	f.StringVarP(&outDir, "output-dir", "o", "", "write the files into DIR instead of standard output")
	f.BoolVar(&check, "check", false, "exit 1 if any warning was printed")
	f.StringVar(&o.Kind, "kind", export.KindDeployment, "kubernetes: workload of long-running programs, deployment or statefulset")
	f.StringVar(&o.Image, "image", "", "kubernetes: container image (default: the reconciled.dev/image annotation)")
	f.StringVar(&o.Driver, "driver", export.DriverRawExec, "nomad: task driver, raw_exec or exec")
	f.BoolVar(&o.Notify, "notify", false, "systemd: Type=notify, the programs send READY=1 themselves")
	g.add(cmd)
	f.BoolP("help", "h", false, "help for export")
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.UsageError{Err: err} })
	return cmd
}

// loadForExport reads and decodes the selected manifests. Every problem is
// printed, and any problem means no export: a partial one would look whole.
func loadForExport(dir manifest.Dir, sel export.Selection, errOut io.Writer) ([]*spec.Program, bool) {
	ok := true
	fail := func(format string, args ...any) {
		fmt.Fprintf(errOut, format+"\n", args...)
		ok = false
	}
	parse := func(path string, data []byte) *spec.Program {
		p, errs := spec.Parse(path, data)
		if errs != nil {
			fmt.Fprintln(errOut, errs.Error())
			ok = false
		}
		return p
	}
	var progs []*spec.Program
	if len(sel.Names) > 0 {
		for _, name := range sel.Names {
			f, data, err := dir.Read(name)
			if errors.Is(err, manifest.ErrSymlink) {
				data, err = manifest.ReadFile(f.Path) // a ConfigMap's link is read through
			}
			if err != nil {
				fail("%s: %v", name, err)
				continue
			}
			if p := parse(f.Path, data); p != nil {
				progs = append(progs, p)
			}
		}
		return progs, ok
	}
	l, err := dir.List()
	if err != nil {
		fail("%v", err)
		return nil, false
	}
	for _, d := range l.Duplicates {
		fail("%s: both %s exist in %s: remove one", d.Name, d.Bases, dir.Path())
	}
	for _, f := range l.Files {
		data, err := manifest.ReadFile(f.Path)
		if err != nil {
			fail("%s: %v", f.Path, err)
			continue
		}
		p := parse(f.Path, data)
		if p == nil {
			continue
		}
		if match, err := sel.Matches(p); err != nil {
			fail("%v", err)
		} else if match {
			progs = append(progs, p)
		}
	}
	if ok && len(progs) == 0 {
		if sel.All {
			fail("no manifests in %s", dir.Path())
		} else {
			fail("%v -l %s in %s", export.ErrNoMatch, sel.Selector, dir.Path())
		}
	}
	return progs, ok
}

// writeExport writes the files into dir atomically, each with its mode,
// and names each on out.
func writeExport(out io.Writer, dir string, files []export.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if err := atomicfile.Write(path, f.Data, atomicfile.Options{Mode: f.Mode}); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintln(out, path)
	}
	return nil
}
