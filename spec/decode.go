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
	"time"
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
	d := &decoder{file: file, keys: map[string]*yaml.Node{}}
	name := d.nameFromFile(filepath.Base(file))
	p := d.parse(data, name)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
		})
		return nil, d.errs
	}
	return p, nil
}

type decoder struct {
	file string
	errs ErrorList
	// keys maps a field path to its key node, to locate errors found after
	// decoding (cross-field checks).
	keys map[string]*yaml.Node
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
	e := &Error{File: d.file, Field: path, Message: fmt.Sprintf(format, args...), Line: 1, Column: 1}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	if len(d.errs) == MaxErrors {
		e.Field, e.Message = "", fmt.Sprintf("too many errors; showing the first %d", MaxErrors)
	}
	d.errs = append(d.errs, e)
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
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		d.add(root, "", "expected a Program (a mapping with apiVersion, kind, metadata and spec), not %s", describe(root))
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
		{"spec", func(k, v *yaml.Node, path string) { d.programSpec(v, path, &p.Spec) }},
	})
	if d.at("spec") == nil {
		d.add(root, "spec", "required: the program's command and settings")
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
		Replicas:         DefaultReplicas,
		Desired:          DesiredRunning,
		RestartPolicy:    RestartAlways,
		SuccessExitCodes: []int{0},
		StartSeconds:     DefaultStartSeconds,
		StartRetries:     DefaultStartRetries,
		RestartDelay:     DefaultRestartDelay,
		MaxRestartDelay:  DefaultMaxRestartDelay,
		StopSignal:       term,
		StopTimeout:      DefaultStopTimeout,
		Stdout:           Output{Mode: OutputAuto},
		Stderr:           Output{Mode: OutputAuto},
		UpdateStrategy:   UpdateStrategy{Type: RollingUpdate, MaxUnavailable: 1},
	}
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) programSpec(n *yaml.Node, path string, s *ProgramSpec) {
	var (
		cmdString string
		cmdIsList bool
		cmdBad    bool // already reported
	)
	d.fields(n, path, []field{
		{"command", func(k, v *yaml.Node, p string) {
			if v.Kind == yaml.SequenceNode {
				cmdIsList = true
				s.Command = d.stringList(v, p)
				return
			}
			if v.Kind == yaml.ScalarNode && v.Tag != "!!str" {
				// command: true (the program) reads as a YAML boolean.
				d.add(k, p, "must be a string or a list of strings, not %s (quote it: \"%s\")", describe(v), v.Value)
				cmdBad = true
				return
			}
			cmdString, _ = d.str(k, v, p)
		}},
		{"shell", func(k, v *yaml.Node, p string) { s.Shell, _ = d.boolean(k, v, p) }},
		{"replicas", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 0, MaxReplicas, &s.Replicas) }},
		{"desired", func(k, v *yaml.Node, p string) {
			d.enum(k, v, p, (*string)(&s.Desired), string(DesiredRunning), string(DesiredStopped))
		}},
		{"restartPolicy", func(k, v *yaml.Node, p string) {
			d.enum(k, v, p, (*string)(&s.RestartPolicy), string(RestartAlways), string(RestartOnFailure), string(RestartNever))
		}},
		{"successExitCodes", func(k, v *yaml.Node, p string) { s.SuccessExitCodes = d.exitCodes(k, v, p) }},
		{"startSeconds", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &s.StartSeconds) }},
		{"startRetries", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 0, 1_000_000, &s.StartRetries) }},
		{"restartDelay", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &s.RestartDelay) }},
		{"maxRestartDelay", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &s.MaxRestartDelay) }},
		{"stopSignal", func(k, v *yaml.Node, p string) {
			if str, ok := d.str(k, v, p); ok {
				sig, err := ParseSignal(str)
				if err != nil {
					d.add(k, p, "%v", err)
					return
				}
				s.StopSignal = sig
			}
		}},
		{"stopTimeout", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &s.StopTimeout) }},
		{"workingDir", func(k, v *yaml.Node, p string) { s.WorkingDir, _ = d.str(k, v, p) }},
		{"env", func(k, v *yaml.Node, p string) { s.Env = d.env(k, v, p) }},
		{"umask", func(k, v *yaml.Node, p string) {
			if str, ok := d.scalar(k, v, p, "an octal umask such as \"022\"", "!!str", "!!int"); ok {
				u, err := parseUmask(str)
				if err != nil {
					d.add(k, p, "%v", err)
					return
				}
				s.Umask = &u
			}
		}},
		{"user", func(k, v *yaml.Node, p string) { s.User, _ = d.scalar(k, v, p, "a user name or id", "!!str", "!!int") }},
		{"group", func(k, v *yaml.Node, p string) {
			s.Group, _ = d.scalar(k, v, p, "a group name or id", "!!str", "!!int")
		}},
		{"nice", func(k, v *yaml.Node, p string) { d.integer(k, v, p, -20, 19, &s.Nice) }},
		{"stdout", func(k, v *yaml.Node, p string) { s.Stdout = d.output(k, v, p, false) }},
		{"stderr", func(k, v *yaml.Node, p string) { s.Stderr = d.output(k, v, p, true) }},
		{"readinessProbe", func(k, v *yaml.Node, p string) { s.ReadinessProbe = d.probe(v, p, false) }},
		{"livenessProbe", func(k, v *yaml.Node, p string) { s.LivenessProbe = d.probe(v, p, true) }},
		{"dependsOn", func(k, v *yaml.Node, p string) { s.DependsOn = d.dependsOn(k, v, p) }},
		{"updateStrategy", func(k, v *yaml.Node, p string) { d.updateStrategy(v, p, &s.UpdateStrategy) }},
	})
	cmdPath := join(path, "command")
	switch {
	case s.Shell && cmdIsList:
		d.add(d.at(join(path, "shell")), join(path, "shell"), "true requires command to be one string")
	case s.Shell && cmdString != "":
		s.Command = []string{"/bin/sh", "-c", cmdString}
	case cmdString != "":
		words, err := SplitWords(cmdString)
		if err != nil {
			d.add(d.at(cmdPath), cmdPath, "%v", err)
			return
		}
		s.Command = words
	}
	if cmdBad {
		// reported above
	} else if len(s.Command) == 0 && d.at(cmdPath) == nil {
		d.add(n, cmdPath, "required: the program to run, as a list or a string")
	} else if len(s.Command) == 0 || s.Command[0] == "" {
		d.add(d.at(cmdPath), cmdPath, "must name a program to run")
	}
	if s.MaxRestartDelay < s.RestartDelay {
		p := join(path, "maxRestartDelay")
		d.add(d.at(p), p, "%v is shorter than restartDelay %v", s.MaxRestartDelay, s.RestartDelay)
	}
	if s.Group != "" && s.User == "" {
		p := join(path, "group")
		d.add(d.at(p), p, "requires user")
	}
}

func (d *decoder) env(k, v *yaml.Node, path string) map[string]string {
	if v.Kind != yaml.MappingNode {
		// Never quote what was written: it may be a secret (SECRET=hunter2).
		d.add(k, path, "must be a mapping of NAME: value, not %s", describeKind(v))
		return nil
	}
	env := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], deref(v.Content[i+1])
		p := join(path, key.Value)
		switch {
		case !envNameRE.MatchString(key.Value):
			d.add(key, p, "%q is not a valid environment variable name", key.Value)
			continue
		case strings.HasPrefix(key.Value, "RECONCILED_"):
			d.add(key, p, "RECONCILED_* variables are set by the daemon")
			continue
		}
		if _, dup := env[key.Value]; dup {
			d.add(key, p, "duplicate field")
			continue
		}
		// Numbers and booleans are taken as written (PORT: 8080), as
		// docker-compose does; only a mapping or a list is wrong.
		if val.Kind != yaml.ScalarNode {
			d.add(key, p, "must be a string, not %s", describe(val))
			continue
		}
		if val.Tag == "!!null" {
			env[key.Value] = ""
			continue
		}
		env[key.Value] = val.Value
	}
	return env
}

func (d *decoder) output(k, v *yaml.Node, path string, isStderr bool) Output {
	out := Output{Mode: OutputAuto}
	if v.Kind == yaml.MappingNode {
		out = Output{Mode: OutputFile, MaxSize: DefaultLogMaxSize, MaxBackups: DefaultLogMaxBackups}
		d.fields(v, path, []field{
			{"file", func(k, v *yaml.Node, p string) { out.File, _ = d.str(k, v, p) }},
			{"maxSize", func(k, v *yaml.Node, p string) {
				if str, ok := d.scalar(k, v, p, "a size such as 50MiB", "!!str", "!!int"); ok {
					n, err := parseSize(str)
					if err != nil {
						d.add(k, p, "%v", err)
					}
					out.MaxSize = n
				}
			}},
			{"maxBackups", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 0, 1000, &out.MaxBackups) }},
		})
		if out.File == "" {
			p := join(path, "file")
			d.add(v, p, "required: the path of the log file")
		}
		return out
	}
	allowed := []string{string(OutputAuto), string(OutputNull), string(OutputInherit)}
	if isStderr {
		allowed = append(allowed, string(OutputStdout))
	}
	var mode string
	if d.enum(k, v, path, &mode, allowed...) {
		out.Mode = OutputMode(mode)
	}
	return out
}

func (d *decoder) probe(n *yaml.Node, path string, liveness bool) *Probe {
	pr := &Probe{Period: DefaultProbePeriod, Timeout: DefaultProbeTimeout, FailureThreshold: 3, SuccessThreshold: 1}
	actions := 0
	d.fields(n, path, []field{
		{"exec", func(k, v *yaml.Node, p string) {
			actions++
			pr.Exec = &ExecAction{}
			d.fields(v, p, []field{{"command", func(k, v *yaml.Node, p string) {
				if v.Kind == yaml.SequenceNode {
					pr.Exec.Command = d.stringList(v, p)
				} else if s, ok := d.str(k, v, p); ok {
					words, err := SplitWords(s)
					if err != nil {
						d.add(k, p, "%v", err)
					}
					pr.Exec.Command = words
				}
			}}})
			if len(pr.Exec.Command) == 0 {
				d.add(k, join(p, "command"), "required: the command to run")
			}
		}},
		{"tcpSocket", func(k, v *yaml.Node, p string) {
			actions++
			pr.TCPSocket = &TCPSocketAction{Host: DefaultProbeHost}
			d.fields(v, p, []field{
				{"host", func(k, v *yaml.Node, p string) { pr.TCPSocket.Host, _ = d.str(k, v, p) }},
				{"port", func(k, v *yaml.Node, p string) { pr.TCPSocket.Port = d.port(k, v, p) }},
			})
			if pr.TCPSocket.Port == "" {
				d.add(k, join(p, "port"), "required")
			}
		}},
		{"httpGet", func(k, v *yaml.Node, p string) {
			actions++
			pr.HTTPGet = &HTTPGetAction{Scheme: "HTTP", Host: DefaultProbeHost, Path: "/"}
			d.fields(v, p, []field{
				{"scheme", func(k, v *yaml.Node, p string) {
					if s, ok := d.str(k, v, p); ok {
						switch u := strings.ToUpper(s); u {
						case "HTTP", "HTTPS":
							pr.HTTPGet.Scheme = u
						default:
							d.add(k, p, "must be HTTP or HTTPS, not %q", s)
						}
					}
				}},
				{"host", func(k, v *yaml.Node, p string) { pr.HTTPGet.Host, _ = d.str(k, v, p) }},
				{"port", func(k, v *yaml.Node, p string) { pr.HTTPGet.Port = d.port(k, v, p) }},
				{"path", func(k, v *yaml.Node, p string) {
					if s, ok := d.str(k, v, p); ok {
						if !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "$(") {
							d.add(k, p, "must start with /")
						}
						pr.HTTPGet.Path = s
					}
				}},
			})
			if pr.HTTPGet.Port == "" {
				d.add(k, join(p, "port"), "required")
			}
		}},
		{"initialDelay", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &pr.InitialDelay) }},
		{"period", func(k, v *yaml.Node, p string) { d.positiveDuration(k, v, p, &pr.Period) }},
		{"timeout", func(k, v *yaml.Node, p string) { d.positiveDuration(k, v, p, &pr.Timeout) }},
		{"failureThreshold", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 1, 1000, &pr.FailureThreshold) }},
		{"successThreshold", func(k, v *yaml.Node, p string) {
			d.integer(k, v, p, 1, 1000, &pr.SuccessThreshold)
			if liveness && pr.SuccessThreshold != 1 {
				d.add(k, p, "must be 1 for a liveness probe")
			}
		}},
	})
	if actions != 1 && deref(n).Kind == yaml.MappingNode {
		d.add(n, path, "needs exactly one of exec, tcpSocket and httpGet")
	}
	return pr
}

func (d *decoder) port(k, v *yaml.Node, path string) string {
	s, ok := d.scalar(k, v, path, "a port number", "!!int", "!!str")
	if !ok {
		return ""
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 65535 {
			d.add(k, path, "must be between 1 and 65535")
		}
		return s
	}
	if !strings.Contains(s, "$(") {
		d.add(k, path, "must be a port number, or text with $(VAR) that expands to one")
	}
	return s
}

func (d *decoder) dependsOn(k, v *yaml.Node, path string) []Dependency {
	if v.Kind != yaml.SequenceNode {
		d.add(k, path, "must be a list of {program, condition}, not %s", describe(v))
		return nil
	}
	var deps []Dependency
	seen := map[string]bool{}
	for i, item := range v.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		dep := Dependency{Condition: DependencyStarted}
		d.fields(item, p, []field{
			{"program", func(k, v *yaml.Node, p string) {
				if s, ok := d.str(k, v, p); ok {
					if !ValidName(s) {
						d.add(k, p, "%q is not a valid program name", s)
					}
					dep.Program = s
				}
			}},
			{"condition", func(k, v *yaml.Node, p string) {
				d.enum(k, v, p, (*string)(&dep.Condition), string(DependencyStarted), string(DependencyReady), string(DependencyCompleted))
			}},
		})
		switch {
		case dep.Program == "":
			d.add(item, p+".program", "required")
		case seen[dep.Program]:
			d.add(item, p+".program", "%q is listed twice", dep.Program)
		}
		seen[dep.Program] = true
		deps = append(deps, dep)
	}
	return deps
}

func (d *decoder) updateStrategy(n *yaml.Node, path string, u *UpdateStrategy) {
	d.fields(n, path, []field{
		{"type", func(k, v *yaml.Node, p string) {
			d.enum(k, v, p, (*string)(&u.Type), string(RollingUpdate), string(Recreate))
		}},
		{"maxUnavailable", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 1, MaxReplicas, &u.MaxUnavailable) }},
	})
	if p := join(path, "maxUnavailable"); u.Type == Recreate && d.at(p) != nil {
		d.add(d.at(p), p, "applies only to type RollingUpdate")
	}
}

// fields walks the mapping n, calling the matching field's setter for every
// key and reporting unknown and duplicate keys. A null value means "not set".
func (d *decoder) fields(n *yaml.Node, path string, fs []field) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "must be a mapping, not %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		p := join(path, k.Value)
		if seen[k.Value] {
			d.add(k, p, "duplicate field")
			continue
		}
		seen[k.Value] = true
		f := findField(fs, k.Value)
		if f == nil {
			d.add(k, p, "unknown field%s", suggest(k.Value, fs))
			continue
		}
		d.keys[p] = k
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// An empty value means "not set", but DESIGN.md lists null as
			// an output target: stdout: null discards.
			if !isOutput(p) || !strings.EqualFold(v.Value, "null") {
				continue
			}
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "null", Line: v.Line, Column: v.Column}
		}
		f.set(k, v, p)
	}
}

func isOutput(path string) bool { return path == "spec.stdout" || path == "spec.stderr" }

func findField(fs []field, name string) *field {
	for i := range fs {
		if fs[i].name == name {
			return &fs[i]
		}
	}
	return nil
}

// suggest names the known field closest to a misspelt one.
func suggest(name string, fs []field) string {
	best, bestDist := "", 3
	for _, f := range fs {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(f.name)); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" {
		names := make([]string, len(fs))
		for i, f := range fs {
			names[i] = f.name
		}
		return " (known: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// scalar returns the text of a scalar whose tag is one of tags.
func (d *decoder) scalar(k, v *yaml.Node, path, want string, tags ...string) (string, bool) {
	if v.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if v.Tag == t {
				return v.Value, true
			}
		}
	}
	d.add(k, path, "must be %s, not %s", want, describe(v))
	return "", false
}

func (d *decoder) str(k, v *yaml.Node, path string) (string, bool) {
	return d.scalar(k, v, path, "a string", "!!str")
}

func (d *decoder) boolean(k, v *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(k, v, path, "true or false", "!!bool")
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		d.add(k, path, "must be true or false, not %q", s)
		return false, false
	}
	return b, true
}

func (d *decoder) integer(k, v *yaml.Node, path string, lo, hi int, dst *int) {
	s, ok := d.scalar(k, v, path, "a whole number", "!!int")
	if !ok {
		return
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		n, err = strconv.ParseInt(s, 0, 64)
	}
	if err != nil || n < int64(lo) || n > int64(hi) {
		d.add(k, path, "must be between %d and %d", lo, hi)
		return
	}
	*dst = int(n)
}

func (d *decoder) enum(k, v *yaml.Node, path string, dst *string, allowed ...string) bool {
	s, ok := d.scalar(k, v, path, "one of "+strings.Join(allowed, ", "), "!!str")
	if !ok {
		return false
	}
	for _, a := range allowed {
		if s == a {
			*dst = s
			return true
		}
	}
	d.add(k, path, "%q is not one of %s", s, strings.Join(allowed, ", "))
	return false
}

func (d *decoder) duration(k, v *yaml.Node, path string, dst *time.Duration) {
	s, ok := d.scalar(k, v, path, "a duration such as 500ms or 10s", "!!str", "!!int", "!!float")
	if !ok {
		return
	}
	dur, err := parseDuration(s)
	switch {
	case err != nil:
		d.add(k, path, "%v", err)
	case dur < 0:
		d.add(k, path, "must not be negative")
	default:
		*dst = dur
	}
}

func (d *decoder) positiveDuration(k, v *yaml.Node, path string, dst *time.Duration) {
	before := len(d.errs)
	var dur time.Duration
	d.duration(k, v, path, &dur)
	if len(d.errs) > before {
		return
	}
	if dur <= 0 {
		d.add(k, path, "must be greater than 0")
		return
	}
	*dst = dur
}

func (d *decoder) exitCodes(k, v *yaml.Node, path string) []int {
	if v.Kind != yaml.SequenceNode {
		d.add(k, path, "must be a list of exit codes, not %s", describe(v))
		return []int{0}
	}
	codes := []int{}
	for i, item := range v.Content {
		item = deref(item)
		var c int
		before := len(d.errs)
		d.integer(item, item, fmt.Sprintf("%s[%d]", path, i), 0, 255, &c)
		if len(d.errs) == before {
			codes = append(codes, c)
		}
	}
	return codes
}

func (d *decoder) stringList(v *yaml.Node, path string) []string {
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		p := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind == yaml.ScalarNode && (item.Tag == "!!int" || item.Tag == "!!float" || item.Tag == "!!bool") {
			d.add(item, p, "must be a string, not %s (quote it: \"%s\")", describe(item), item.Value)
			continue
		}
		if s, ok := d.str(item, item, p); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) stringMap(k, v *yaml.Node, path string) map[string]string {
	if v.Kind != yaml.MappingNode {
		d.add(k, path, "must be a mapping of strings, not %s", describe(v))
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], deref(v.Content[i+1])
		p := join(path, key.Value)
		if key.Value == "" {
			d.add(key, p, "empty key")
			continue
		}
		if _, dup := m[key.Value]; dup {
			d.add(key, p, "duplicate field")
			continue
		}
		d.keys[p] = key
		if s, ok := d.str(key, val, p); ok {
			m[key.Value] = s
		}
	}
	return m
}

// deref follows an alias to its anchor. The schema's depth is fixed, so
// aliases cannot make the walk blow up.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("a %s", strings.TrimPrefix(n.Tag, "!!"))
	}
	return "an alias"
}

// describeKind is describe without the value of a string, for fields whose
// values may be secrets.
func describeKind(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return "a string"
	}
	return describe(n)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
