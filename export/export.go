package export

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// Target is an engine to export to.
type Target string

// The targets.
const (
	Kubernetes Target = "kubernetes"
	Nomad      Target = "nomad"
	Systemd    Target = "systemd"
)

// Targets returns every target, in the order the command lists them.
func Targets() []Target { return []Target{Kubernetes, Nomad, Systemd} }

// ImageAnnotation names the container image of a program for Kubernetes,
// when --image does not.
const ImageAnnotation = "reconciled.dev/image"

// ReplicasAnnotation records the replicas of a program exported while
// `desired: stopped` (the workload then asks for none), so that scaling
// back up knows how many.
const ReplicasAnnotation = "reconciled.dev/replicas"

// Kubernetes workload kinds for programs under restartPolicy Always.
const (
	KindDeployment  = "deployment"
	KindStatefulSet = "statefulset"
)

// Nomad drivers.
const (
	DriverRawExec = "raw_exec"
	DriverExec    = "exec"
)

// DefaultUnitDir is where systemd units are expected to live when they are
// printed rather than written to a directory: their EnvironmentFile= paths
// point there.
const DefaultUnitDir = "/etc/systemd/system"

// Options tune an export. The zero value is usable: a Deployment for every
// long-running program, the raw_exec driver, Type=exec units whose
// environment files live in DefaultUnitDir.
type Options struct {
	// Kind is the Kubernetes workload of restartPolicy Always programs:
	// KindDeployment (default) or KindStatefulSet.
	Kind string
	// Image is the container image of every program; when empty, each
	// program's ImageAnnotation.
	Image string
	// Driver is the Nomad task driver: DriverRawExec (default) or
	// DriverExec.
	Driver string
	// Notify makes long-running systemd services Type=notify: the programs
	// send READY=1 themselves.
	Notify bool
	// UnitDir is the absolute directory the systemd units and their
	// environment files are installed in (default DefaultUnitDir).
	UnitDir string
}

// File is one file of an export.
type File struct {
	// Name is the file's base name.
	Name string
	// Data is its content.
	Data []byte
	// Mode is its permission: 0600 for a file that holds environment
	// values, 0644 otherwise.
	Mode fs.FileMode
}

// Warning names a field whose value has no equivalent in the target, or
// was changed on the way.
type Warning struct {
	Program string
	Field   string // a field path such as spec.stopSignal
	Message string
}

func (w Warning) String() string {
	return w.Program + ": " + w.Field + ": " + w.Message
}

// Result is what an export produced.
type Result struct {
	Target   Target
	Files    []File
	Warnings []Warning
}

// Export turns progs into target's configuration. The programs are exported
// in name order. An error means no usable output at all for some program
// (Kubernetes without an image, two programs with one name in the target);
// fields that merely have no equivalent are Warnings.
func Export(target Target, progs []*spec.Program, o Options) (*Result, error) {
	progs = slices.Clone(progs)
	slices.SortFunc(progs, func(a, b *spec.Program) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	r := &Result{Target: target}
	var err error
	switch target {
	case Kubernetes:
		err = exportKubernetes(r, progs, o)
	case Nomad:
		err = exportNomad(r, progs, o)
	case Systemd:
		err = exportSystemd(r, progs, o)
	default:
		err = fmt.Errorf("unknown target %q: use kubernetes, nomad or systemd", target)
	}
	if err != nil {
		return nil, err
	}
	// By program, then field; each program's in the order they were found.
	slices.SortStableFunc(r.Warnings, func(a, b Warning) int {
		if c := strings.Compare(a.Program, b.Program); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	return r, nil
}

// Stream renders the files as one stream for standard output: a
// multi-document YAML stream for Kubernetes, the JSON jobs one after the
// other for Nomad, and for systemd each file after a "# FILE: NAME" line.
func (r *Result) Stream() []byte {
	var b bytes.Buffer
	for i, f := range r.Files {
		switch r.Target {
		case Kubernetes:
			if i > 0 {
				b.WriteString("---\n")
			}
		case Systemd:
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "# FILE: %s\n", f.Name)
		}
		b.Write(f.Data)
	}
	return b.Bytes()
}

// warnings collects the warnings of one program.
type warnings struct {
	r       *Result
	program string
}

func (w warnings) add(field, format string, args ...any) {
	w.r.Warnings = append(w.r.Warnings, Warning{Program: w.program, Field: field, Message: fmt.Sprintf(format, args...)})
}

// supervisionWarnings names the supervision settings no engine has: the
// crash-loop reset (backoffResetAfter) and flapping detection.
func (w warnings) supervisionWarnings(s *spec.ProgramSpec, engine string) {
	if s.BackoffResetAfter != spec.DefaultBackoffResetAfter {
		w.add("spec.backoffResetAfter", "%v has no equivalent: %s resets its restart back-off on its own terms", s.BackoffResetAfter, engine)
	}
	if def := (spec.Flapping{Restarts: spec.DefaultFlappingRestarts, Window: spec.DefaultFlappingWindow}); s.Flapping != def {
		w.add("spec.flapping", "has no equivalent: %s raises no condition for an instance that restarts often", engine)
	}
}

// ceilSeconds is d in whole seconds, rounded up: engines that count in
// seconds must not cut a grace period or a delay short.
func ceilSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return s
}

// ceilSeconds32 is ceilSeconds capped to an int32.
func ceilSeconds32(d time.Duration) int32 {
	return int32(min(ceilSeconds(d), math.MaxInt32))
}

// wholeSeconds reports whether d is a whole number of seconds.
func wholeSeconds(d time.Duration) bool { return d%time.Second == 0 }

// isDefaultSuccessCodes reports whether only exit code 0 is a success.
func isDefaultSuccessCodes(codes []int) bool { return len(codes) == 1 && codes[0] == 0 }

// userDefinedAnnotations returns the annotations other than those this
// package or the daemon give a meaning, sorted by key.
func userDefinedAnnotations(p *spec.Program) []string {
	var keys []string
	for k := range p.Metadata.Annotations {
		switch k {
		case spec.RestartedAtAnnotation, spec.ProgressDeadlineAnnotation, ImageAnnotation:
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// dnsName turns a program name into a DNS-1123 label (RFC 1123), which
// Kubernetes objects and Nomad services need: program names may hold "_".
// The program's warnings say so when the name changes.
func dnsName(p *spec.Program, w warnings, engine string) string {
	n := strings.ReplaceAll(p.Metadata.Name, "_", "-")
	if n != p.Metadata.Name {
		w.add("metadata.name", "%q is not a valid %s name: exported as %q", p.Metadata.Name, engine, n)
	}
	return n
}

// checkUnique fails when two programs end up with one name in the target.
func checkUnique(names map[string]string, name, program string) error {
	if other, ok := names[name]; ok {
		return fmt.Errorf("programs %s and %s would both be named %q", other, program, name)
	}
	names[name] = program
	return nil
}

// envFileMode is 0600 for a file that holds the manifest's env values,
// which may be secrets; 0644 otherwise.
func envFileMode(p *spec.Program) fs.FileMode {
	if len(p.Spec.Env) > 0 {
		return 0o600
	}
	return 0o644
}
