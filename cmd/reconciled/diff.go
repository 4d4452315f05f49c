package main

// diff and apply --dry-run: what applying a file would change, without
// changing anything. The manifest store reads the stored manifest; the
// spec hash decides whether instances would be replaced.

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

func newDiffCommand(g *globalOptions) *cobra.Command {
	var files []string
	var name string
	cmd := &cobra.Command{
		Use:   "diff -f FILE|- [-f FILE...]",
		Short: "Show what applying manifests would change",
		Long: `Show what "reconciled apply -f FILE" would do, without doing it: the unified diff
of the manifest in the directory (none for a new program) and FILE, then one line
that says what the daemon would do about it:

  NAME: create; start 2 instances    NAME: scale 2 -> 5
  NAME: rollout of 3 instances (RollingUpdate, maxUnavailable 1): changes spec.env
  NAME: no restart: changes spec.restartPolicy
  NAME: stop 3 instances             NAME: start 3 instances
  NAME: no change                    NAME: invalid: (and the located errors)

Changes of fields outside the spec hash (replicas, desired, the supervision
settings, labels) never restart an instance; see "reconciled explain FIELD". The
program's name is found as apply finds it. Exit codes are kubectl diff's: 0 no
change, 1 changes, 2 an error (an invalid FILE included).`,
		Example: `  reconciled diff -f worker.yaml
  reconciled diff -f web.yaml -f worker.yaml && echo "nothing to apply"
  sed 's/replicas: 1/replicas: 3/' worker.yaml | reconciled diff -f - --name worker`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			plans, err := planFiles(cmd, g, files, name)
			if err != nil {
				return err
			}
			code := 0
			for _, p := range plans {
				switch {
				case p.err != nil || p.errs != nil:
					code = 2
				case p.changed() && code == 0:
					code = 1
				}
				p.write(cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if code != 0 {
				return &exitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest to compare; - for standard input (repeatable)")
	cmd.Flags().StringVar(&name, "name", "", "program name (default: metadata.name, else the file's stem)")
	return cmd
}

// input is one manifest given with -f, read and named.
type input struct {
	file    string // as given
	display string // as errors name it: the file, or <stdin>
	name    string // the program's name
	data    []byte
}

// readInputs reads every -f file and names its program as apply does:
// --name, else metadata.name, else the file's stem. A missing name is a
// usage error, found before anything is done.
func readInputs(files []string, name string, stdin io.Reader) ([]input, []error, error) {
	if len(files) == 0 {
		return nil, nil, &usageError{Err: errors.New("-f FILE is required")}
	}
	if name != "" && len(files) > 1 {
		return nil, nil, &usageError{Err: errors.New("--name goes with a single -f")}
	}
	var ins []input
	var failed []error
	for _, file := range files {
		in := input{file: file, display: file, name: name}
		var err error
		if file == "-" {
			in.display = "<stdin>"
			in.data, err = manifest.ReadAll(stdin)
		} else {
			in.data, err = manifest.ReadFile(file)
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", file, err))
			continue
		}
		if in.name == "" {
			in.name = metadataName(in.data)
		}
		if in.name == "" && file != "-" {
			in.name = stem(file)
		}
		if in.name == "" {
			return nil, nil, &usageError{Err: errors.New("-f -: no program name: give --name or set metadata.name")}
		}
		if !spec.ValidName(in.name) {
			failed = append(failed, fmt.Errorf("%s: %q is not a valid program name: use lower-case letters, digits, '-' and '_', at most %d characters", file, in.name, spec.MaxNameLength))
			continue
		}
		ins = append(ins, in)
	}
	return ins, failed, nil
}

// plan is what applying one input would do.
type plan struct {
	in     input
	err    error // the input or the stored manifest could not be read
	target string
	// old is the stored manifest (nil when there is none) and oldProg its
	// program (nil when it is invalid).
	old     []byte
	oldProg *spec.Program
	// runningHash is the spec hash the daemon reports running, for a
	// stored manifest that is invalid; "" when unknown.
	runningHash string
	prog        *spec.Program
	errs        spec.ErrorList // the input's, located in it
}

func (p plan) changed() bool { return p.old == nil || string(p.old) != string(p.in.data) }

// planFiles plans every -f file; read failures become plans with err.
func planFiles(cmd *cobra.Command, g *globalOptions, files []string, name string) ([]plan, error) {
	ins, failed, err := readInputs(files, name, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	var plans []plan
	for _, err := range failed {
		plans = append(plans, plan{err: err})
	}
	for _, in := range ins {
		plans = append(plans, planInput(g, in))
	}
	return plans, nil
}

func planInput(g *globalOptions, in input) plan {
	p := plan{in: in}
	file, err := g.manifests().Resolve(in.name)
	switch {
	case errors.Is(err, manifest.ErrNotFound):
	case err != nil:
		p.err = fmt.Errorf("%s: %w", in.display, err)
		return p
	default:
		if p.old, err = manifest.ReadFile(file.Path); err != nil {
			p.err = fmt.Errorf("%s: %w", file.Path, err)
			return p
		}
		if p.oldProg, _ = spec.Parse(file.Path, p.old); p.oldProg == nil {
			if st, err := status.ReadFile(status.StatusPath(g.statusDirOf(), in.name)); err == nil {
				p.runningHash = st.Status.SpecHash
			}
		}
	}
	p.target = file.Path
	// Validate as the file it will be (its stem is the program's name),
	// and locate the errors in the input.
	p.prog, p.errs = spec.Parse(file.Path, in.data)
	for _, e := range p.errs {
		e.File = in.display
	}
	if p.prog != nil {
		for _, w := range p.prog.Warnings {
			w.File = in.display
		}
	}
	return p
}

// write prints the plan: the diff, then what would happen.
func (p plan) write(out, errOut io.Writer) {
	if p.err != nil {
		diag(errOut, "%v", p.err)
		return
	}
	if p.prog != nil {
		for _, w := range p.prog.Warnings {
			fmt.Fprintln(errOut, w.Error())
		}
	}
	if p.changed() {
		from := p.target
		if p.old == nil {
			from = "/dev/null"
		}
		fmt.Fprint(out, unifiedDiff(p.old, p.in.data, from, p.in.display))
	}
	if p.errs != nil {
		fmt.Fprintf(out, "%s: invalid:\n", p.in.name)
		for _, e := range p.errs {
			fmt.Fprintf(out, "  %s\n", e.Error())
		}
		return
	}
	fmt.Fprintf(out, "%s: %s\n", p.in.name, strings.Join(p.consequences(), "; "))
}

// unifiedDiff is the unified diff of two texts, with three lines of
// context.
func unifiedDiff(a, b []byte, from, to string) string {
	d := difflib.UnifiedDiff{A: lines(a), B: lines(b), FromFile: from, ToFile: to, Context: 3}
	// Writing to a strings.Builder cannot fail.
	s, _ := difflib.GetUnifiedDiffString(d)
	return s
}

// lines splits text into lines that each end in a newline, as the diff
// wants them.
func lines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	ls := strings.SplitAfter(string(text), "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	} else {
		ls[len(ls)-1] += "\n"
	}
	return ls
}

// runningCount is how many instances a program runs when it is reconciled.
func runningCount(p *spec.Program) int {
	if p.Spec.Desired != spec.DesiredRunning {
		return 0
	}
	return p.Spec.Replicas
}

func instances(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return fmt.Sprintf("%d instances", n)
}

// consequences says in words what the daemon would do once the input
// replaced the stored manifest: start, stop, scale, a rollout, or nothing.
func (p plan) consequences() []string {
	newRun := runningCount(p.prog)
	switch {
	case p.old == nil:
		if newRun == 0 {
			return []string{fmt.Sprintf("create; nothing starts (desired: %s, replicas: %d)", p.prog.Spec.Desired, p.prog.Spec.Replicas)}
		}
		return []string{"create; start " + instances(newRun)}
	case !p.changed():
		return []string{"no change"}
	case p.oldProg == nil:
		words := []string{"replaces an invalid manifest (the daemon runs its last valid spec)"}
		switch {
		case p.runningHash == "":
		case !slices.Contains(manifest.Hashes(p.target, p.prog), p.runningHash) && newRun > 0:
			words = append(words, "rollout of "+instances(newRun)+" "+strategy(p.prog))
		default:
			words = append(words, "no restart")
		}
		return words
	}
	if a, b := *p.oldProg, *p.prog; sameProgram(a, b) {
		return []string{"no effect: only comments or layout change"}
	}
	restart, other := changedFields(p.old, p.in.data)
	oldRun := runningCount(p.oldProg)
	var words []string
	oldSpec, newSpec := p.oldProg.Spec, p.prog.Spec
	switch {
	case oldRun > 0 && newRun == 0 && newSpec.Desired == spec.DesiredStopped && oldSpec.Desired == spec.DesiredRunning:
		return []string{"stop " + instances(oldRun)}
	case oldRun == 0 && newRun > 0 && oldSpec.Desired == spec.DesiredStopped && newSpec.Desired == spec.DesiredRunning:
		return []string{"start " + instances(newRun)}
	case oldRun != newRun:
		words = append(words, fmt.Sprintf("scale %d -> %d", oldRun, newRun))
	}
	replaced := min(oldRun, newRun)
	switch {
	case manifest.Hashes(p.target, p.oldProg)[0] != manifest.Hashes(p.target, p.prog)[0] && replaced > 0: // envFrom's files read
		w := "rollout of " + instances(replaced) + " " + strategy(p.prog)
		if len(restart) > 0 {
			w += ": changes " + strings.Join(restart, ", ")
		}
		words = append(words, w)
	case len(words) == 0 || len(other) > 0:
		w := "no restart"
		if replaced == 0 && oldRun == 0 {
			w += " (nothing runs)"
		}
		if len(other) > 0 {
			w += ": changes " + strings.Join(other, ", ")
		}
		words = append(words, w)
	}
	return words
}

// sameProgram reports whether two decoded programs are equal, warnings
// aside (they name the file they were found in).
func sameProgram(a, b spec.Program) bool {
	a.Warnings, b.Warnings = nil, nil
	return reflect.DeepEqual(a, b)
}

func strategy(p *spec.Program) string {
	u := p.Spec.UpdateStrategy
	if u.Type == spec.RollingUpdate {
		return fmt.Sprintf("(%s, maxUnavailable %d)", u.Type, u.MaxUnavailable)
	}
	return "(" + string(u.Type) + ")"
}

// changedFields compares two valid manifests field by field, to the depth
// the field table gives its top-level sections (spec.env,
// metadata.annotations.KEY), and splits what changed into the fields in
// the spec hash and the others, in the table's order. replicas and desired
// are left out: scale, start and stop say them.
func changedFields(a, b []byte) (restart, other []string) {
	var ta, tb map[string]any
	// Both parsed as valid manifests: Unmarshal cannot fail.
	_ = yaml.Unmarshal(a, &ta)
	_ = yaml.Unmarshal(b, &tb)
	table := spec.FieldTable()
	var paths []string
	for _, section := range table.Children() {
		if section.Name == "metadata" || section.Name == "spec" {
			for _, f := range section.Children() {
				paths = append(paths, section.Name+"."+f.Name)
			}
		} else {
			paths = append(paths, section.Name)
		}
	}
	add := func(path string) {
		if r, _ := table.Restarts(path); r {
			restart = append(restart, path)
		} else {
			other = append(other, path)
		}
	}
	for _, path := range paths {
		switch {
		case path == "spec.replicas" || path == "spec.desired":
		case path == "metadata.annotations":
			// Annotations one by one: restartedAt restarts, the others
			// do not.
			an, _ := valueAt(ta, path).(map[string]any)
			bn, _ := valueAt(tb, path).(map[string]any)
			keys := map[string]bool{}
			for k := range an {
				keys[k] = true
			}
			for k := range bn {
				keys[k] = true
			}
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				if !reflect.DeepEqual(an[k], bn[k]) {
					add(path + "." + k)
				}
			}
		case !reflect.DeepEqual(valueAt(ta, path), valueAt(tb, path)):
			add(path)
		}
	}
	return restart, other
}

func valueAt(t map[string]any, path string) any {
	var cur any = t
	for _, part := range strings.SplitN(path, ".", 2) {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// stem is a file's base name without its extension.
func stem(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}
