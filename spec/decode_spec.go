package spec

// Decoding of the spec: section, field by field: command, restart and stop
// settings, env, output, probes, dependsOn and updateStrategy, with the
// checks that span fields of one section.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

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
		{"backoffResetAfter", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &s.BackoffResetAfter) }},
		{"flapping", func(k, v *yaml.Node, p string) { d.flapping(v, p, &s.Flapping) }},
		{"hooks", func(k, v *yaml.Node, p string) { s.Hooks = d.hooks(k, v, p) }},
		{"lifecycle", func(k, v *yaml.Node, p string) { d.lifecycle(v, p, &s.Lifecycle) }},
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
		{"envFrom", func(k, v *yaml.Node, p string) { s.EnvFrom = d.envFrom(k, v, p) }},
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
		{"ioNice", func(k, v *yaml.Node, p string) { s.IONice = d.ioNice(v, p) }},
		{"limits", func(k, v *yaml.Node, p string) { s.Limits = d.limits(v, p) }},
		{"resources", func(k, v *yaml.Node, p string) { d.resources(v, p, &s.Resources) }},
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
		if op := ShellOperator(cmdString); op != "" {
			d.warn(d.at(cmdPath), cmdPath, "%q is shell syntax, but no shell runs this command: the program gets %q as an argument; did you mean shell: true?", op, op)
		}
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

// envFrom decodes the list of dotenv files; reading them is the caller's
// (WithEnvFrom), since decoding reads no file.
func (d *decoder) envFrom(k, v *yaml.Node, path string) []EnvSource {
	if v.Kind != yaml.SequenceNode {
		d.add(k, path, "must be a list of {file: PATH}, not %s", describe(v))
		return nil
	}
	var srcs []EnvSource
	for i, item := range v.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		src := EnvSource{Line: item.Line, Column: item.Column}
		d.fields(item, p, []field{
			{"file", func(k, v *yaml.Node, p string) {
				if s, ok := d.str(k, v, p); ok {
					if strings.IndexByte(s, 0) >= 0 {
						d.add(k, p, "must be a path")
					}
					src.File = s
				}
				src.Line, src.Column = k.Line, k.Column
			}},
		})
		if src.File == "" && deref(item).Kind == yaml.MappingNode {
			d.add(item, p+".file", "required: the path of a dotenv file")
		}
		srcs = append(srcs, src)
	}
	return srcs
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
			pr.Exec = d.execAction(k, v, p, true)
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
		d.add(k, path, "must be a list of {program, condition}, not %s", describeKind(v))
		return nil
	}
	var deps []Dependency
	seen := map[string]bool{}
	for i, item := range v.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		dep := Dependency{Condition: DependencyStarted, OnLost: LostIgnore}
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
			{"onLost", func(k, v *yaml.Node, p string) {
				d.enum(k, v, p, (*string)(&dep.OnLost), string(LostIgnore), string(LostStop), string(LostRestart))
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

func (d *decoder) flapping(n *yaml.Node, path string, f *Flapping) {
	d.fields(n, path, []field{
		{"restarts", func(k, v *yaml.Node, p string) { d.integer(k, v, p, 0, 1_000_000, &f.Restarts) }},
		{"window", func(k, v *yaml.Node, p string) { d.duration(k, v, p, &f.Window) }},
	})
	if p := join(path, "window"); f.Window <= 0 && d.at(p) != nil {
		d.add(d.at(p), p, "must be longer than 0s")
	}
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
