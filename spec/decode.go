package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MaxManifestSize is the largest manifest Parse reads; callers reading files
// should stop after MaxManifestSize+1 bytes and pass what they read.
const MaxManifestSize = 1 << 20

// Parse decodes one manifest strictly, fills in defaults and validates it.
// file names the manifest in messages and gives the program its name (the
// stem of its base name). Either the program or the errors are returned.
func Parse(file string, data []byte) (*Program, ErrorList) {
	d := &decoder{file: file, keys: map[string]*yaml.Node{}, table: FieldTable()}
	name := d.nameFromFile(filepath.Base(file))
	p := d.parse(data, name)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
		})
		return nil, d.errs
	}
	p.Warnings = d.warns
	return p, nil
}

type decoder struct {
	file  string
	errs  ErrorList
	warns ErrorList
	// keys maps a field path to its key node, to locate errors found after
	// decoding (cross-field checks).
	keys map[string]*yaml.Node
	// table is the field table: the known keys of every mapping.
	table *Field
}

// field is one known key of a mapping and what to do with its value.
type field struct {
	name string
	set  func(key, val *yaml.Node, path string)
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) > MaxErrors {
		return
	}
	e := &Error{File: d.file, Field: clip(path, maxFieldPath), Message: clipQuotes(fmt.Sprintf(format, args...)), Line: 1, Column: 1}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	if len(d.errs) == MaxErrors {
		e.Field, e.Message = "", fmt.Sprintf("too many errors; showing the first %d", MaxErrors)
	}
	d.errs = append(d.errs, e)
}

// warn records a warning: located like an error, and it does not make the
// manifest invalid.
func (d *decoder) warn(n *yaml.Node, path, format string, args ...any) {
	w := &Error{File: d.file, Field: path, Message: "warning: " + fmt.Sprintf(format, args...), Line: 1, Column: 1}
	if n != nil && n.Line > 0 {
		w.Line, w.Column = n.Line, n.Column
	}
	d.warns = append(d.warns, w)
}

// at returns the key node recorded for path, so that cross-field errors point
// at the field; nil when the field was not written.
func (d *decoder) at(path string) *yaml.Node { return d.keys[path] }

func (d *decoder) nameFromFile(base string) string {
	kind, stem := Classify(base)
	switch {
	case kind == Manifest:
		return stem
	case kind == BadName:
		d.add(nil, "", "file name: %q is not a valid program name: use lower-case letters, digits, '-' and '_', starting and ending with a letter or digit, at most %d characters", stem, MaxNameLength)
	default:
		d.add(nil, "", "file name: a manifest is named NAME.yaml or NAME.yml")
	}
	return ""
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserErrors are the messages of yaml.v3's parser, whose line numbers count
// from 0; its scanner's count from 1.
var parserErrors = map[string]bool{
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected node content":     true,
	"did not find expected <document start>": true,
	"did not find expected '-' indicator":    true,
}

func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 numbers parser errors (unlike scanner errors) from 0.
		if parserErrors[msg] {
			line++
		}
	}
	d.add(&yaml.Node{Line: line, Column: 1}, "", "invalid YAML: %s", msg)
}

func (d *decoder) parse(data []byte, name string) *Program {
	if len(data) > MaxManifestSize {
		d.add(nil, "", "file is larger than %d bytes; a manifest is a small text file", MaxManifestSize)
		return nil
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		d.add(nil, "", "not a text file: a manifest is UTF-8 YAML")
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(nil, "", "empty manifest: expected a Program with apiVersion, kind, metadata and spec")
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err)
		return nil
	case len(extra.Content) == 1 && extra.Content[0].Tag == "!!null":
		// A trailing "---" with nothing after it is harmless.
	default:
		d.add(&extra, "", "several YAML documents: a manifest holds exactly one Program")
		return nil
	}
	if len(doc.Content) == 0 {
		d.add(&doc, "", "empty manifest: expected a Program with apiVersion, kind, metadata and spec")
		return nil
	}
	return d.program(doc.Content[0], name)
}

func (d *decoder) program(root *yaml.Node, name string) *Program {
	p := &Program{APIVersion: APIVersion, Kind: Kind, Spec: defaultSpec()}
	decoded := false // spec was a value, not empty
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		d.add(root, "", "expected a Program (a mapping with apiVersion, kind, metadata and spec), not %s", describeKind(root))
		return nil
	}
	d.fields(root, "", []field{
		{"apiVersion", func(k, v *yaml.Node, path string) {
			if s, ok := d.str(k, v, path); ok && s != APIVersion {
				d.add(k, path, "must be %s, not %q", APIVersion, s)
			}
		}},
		{"kind", func(k, v *yaml.Node, path string) {
			if s, ok := d.str(k, v, path); ok && s != Kind {
				d.add(k, path, "must be %s, not %q", Kind, s)
			}
		}},
		{"metadata", func(k, v *yaml.Node, path string) { d.metadata(v, path, &p.Metadata) }},
		{"spec", func(k, v *yaml.Node, path string) { decoded = true; d.programSpec(v, path, &p.Spec) }},
	})
	switch k := d.at("spec"); {
	case k == nil:
		d.add(root, "spec", "required: the program's command and settings")
	case !decoded: // "spec:" with nothing after it (a file cut short)
		d.add(k, "spec", "required: the program's command and settings, not an empty value")
	}
	switch {
	case p.Metadata.Name == "":
		p.Metadata.Name = name
	case name != "" && p.Metadata.Name != name:
		d.add(d.at("metadata.name"), "metadata.name", "%q must equal the file name's stem %q", p.Metadata.Name, name)
	}
	for i, dep := range p.Spec.DependsOn {
		if dep.Program != "" && dep.Program == p.Metadata.Name {
			path := fmt.Sprintf("spec.dependsOn[%d].program", i)
			d.add(d.at(path), path, "a program cannot depend on itself")
		}
	}
	if v, ok := p.Metadata.Annotations[ProgressDeadlineAnnotation]; ok {
		path := "metadata.annotations." + ProgressDeadlineAnnotation
		if dl, err := parseDuration(v); err != nil || dl <= 0 {
			d.add(d.at(path), path, "must be a positive duration such as 90s or 10m, not %q", v)
		}
	}
	return p
}

func (d *decoder) metadata(n *yaml.Node, path string, m *Metadata) {
	d.fields(n, path, []field{
		{"name", func(k, v *yaml.Node, p string) {
			if s, ok := d.str(k, v, p); ok {
				if !ValidName(s) {
					d.add(k, p, "%q is not a valid program name", s)
				}
				m.Name = s
			}
		}},
		{"labels", func(k, v *yaml.Node, p string) { m.Labels = d.stringMap(k, v, p) }},
		{"annotations", func(k, v *yaml.Node, p string) { m.Annotations = d.stringMap(k, v, p) }},
	})
}

func defaultSpec() ProgramSpec {
	term, _ := ParseSignal("TERM")
	return ProgramSpec{
		Replicas:          DefaultReplicas,
		Desired:           DesiredRunning,
		RestartPolicy:     RestartAlways,
		SuccessExitCodes:  []int{0},
		StartSeconds:      DefaultStartSeconds,
		StartRetries:      DefaultStartRetries,
		RestartDelay:      DefaultRestartDelay,
		MaxRestartDelay:   DefaultMaxRestartDelay,
		BackoffResetAfter: DefaultBackoffResetAfter,
		Flapping:          Flapping{Restarts: DefaultFlappingRestarts, Window: DefaultFlappingWindow},
		StopSignal:        term,
		StopTimeout:       DefaultStopTimeout,
		Stdout:            Output{Mode: OutputAuto},
		Stderr:            Output{Mode: OutputAuto},
		UpdateStrategy:    UpdateStrategy{Type: RollingUpdate, MaxUnavailable: 1},
	}
}
