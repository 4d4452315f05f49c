package export

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

// TestSystemdVerify runs systemd-analyze verify on the units: each target
// and the first instance of each template, with stub targets for the
// dependencies outside the set. Any line it prints fails the test, except
// RestartSteps= and RestartMaxDelaySec= on a systemd older than 254, which
// ignores them, and commands that this machine does not have.
func TestSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: install Debian's systemd package to verify the exported units")
	}
	version := systemdVersion(t, analyze)
	for _, c := range exportCases() {
		if c.target != Systemd {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.opts.UnitDir = dir
			r := runCase(t, c)
			var args []string
			exported := map[string]bool{}
			for _, f := range r.Files {
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, f.Mode); err != nil {
					t.Fatal(err)
				}
				if name, ok := strings.CutSuffix(f.Name, ".target"); ok {
					exported[name] = true
					args = append(args, filepath.Join(dir, f.Name), filepath.Join(dir, name+"@0.service"))
				}
			}
			for _, p := range loadDir(t, c.dir) {
				for _, d := range p.Spec.DependsOn {
					if !exported[d.Program] {
						stub := "[Unit]\nDescription=stand-in for " + d.Program + "\n"
						if err := os.WriteFile(filepath.Join(dir, d.Program+".target"), []byte(stub), 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			cmd := exec.Command(analyze, append([]string{"verify"}, args...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			var bad []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				switch {
				case line == "":
				case version < 254 && regexp.MustCompile(`Unknown key '(RestartSteps|RestartMaxDelaySec)'`).MatchString(line):
				case missingCommand(line):
				default:
					bad = append(bad, line)
				}
			}
			if len(bad) > 0 || (err != nil && len(out) == 0) {
				t.Errorf("systemd-analyze verify (systemd %d): %v\n%s", version, err, strings.Join(bad, "\n"))
			}
		})
	}
}

func systemdVersion(t *testing.T, analyze string) int {
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("systemd-analyze --version: %q", out)
	}
	v, _ := strconv.Atoi(f[1])
	return v
}

// missingCommand accepts "Command X is not executable" for a command that
// this machine lacks (python3 on a machine without it).
func missingCommand(line string) bool {
	m := regexp.MustCompile(`Command (\S+) is not executable`).FindStringSubmatch(line)
	if m == nil {
		return false
	}
	_, err := exec.LookPath(m[1])
	return err != nil
}

// TestSystemdParse reads the units and environment files back as systemd
// does (specifiers, then quoting and C escapes, then variables) and checks
// that each instance gets reconciled's command line and environment
// (spec.InstanceCommand, spec.InstanceEnv), with the daemon's environment
// standing in for the unit's.
func TestSystemdParse(t *testing.T) {
	base := []string{"HOME=/home/app"}
	for _, c := range exportCases() {
		if c.target != Systemd {
			continue
		}
		r := runCase(t, c)
		files := map[string][]byte{}
		for _, f := range r.Files {
			files[f.Name] = f.Data
		}
		unitDir := c.opts.UnitDir
		if unitDir == "" {
			unitDir = DefaultUnitDir
		}
		for _, p := range loadDir(t, c.dir) {
			unit := parseUnit(t, files[p.Metadata.Name+"@.service"])
			// Values in a reference cycle, or that refer to the daemon's
			// environment, differ by design (and are warned about).
			res := newResolver(p, -1)
			skip := res.cyclic
			for k := range p.Spec.Env {
				if len(res.value(k).outer()) > 0 {
					skip[k] = true
				}
			}
			for i := range p.Spec.Replicas {
				where := fmt.Sprintf("%s: %s@%d", c.name, p.Metadata.Name, i)
				inst := strconv.Itoa(i)
				env := map[string]string{"HOME": "/home/app"}
				for _, kv := range unit["Environment"] {
					k, v, _ := strings.Cut(specifiers(kv, inst), "=")
					env[k] = v
				}
				if ef := unit["EnvironmentFile"]; len(ef) > 0 {
					name := strings.TrimPrefix(specifiers(ef[0], inst), unitDir+"/")
					data, ok := files[name]
					if !ok {
						t.Fatalf("%s: EnvironmentFile %s is not exported", where, ef[0])
					}
					for k, v := range parseEnvFile(t, data) {
						env[k] = v
					}
				}
				want := spec.InstanceEnv(p, i, base)
				for _, kv := range want {
					k, v, _ := strings.Cut(kv, "=")
					if !skip[k] && env[k] != v {
						t.Errorf("%s: %s=%q, want %q", where, k, env[k], v)
					}
				}
				argv := execArgs(t, specifiers(unit["ExecStart"][0], inst), env)
				if wantArgv := spec.InstanceCommand(p, want); !slices.Equal(argv, wantArgv) {
					t.Errorf("%s: ExecStart gives\n%q, want\n%q", where, argv, wantArgv)
				}
			}
		}
	}
}

// parseUnit returns each key's values in order.
func parseUnit(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	if data == nil {
		t.Fatal("no unit")
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q", line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

func specifiers(s, instance string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			i++
			switch s[i] {
			case '%':
				b.WriteByte('%')
			case 'i':
				b.WriteString(instance)
			default:
				b.WriteString("%" + string(s[i]))
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// execArgs splits a command line as systemd does: words with double quotes
// and C escapes, then $$ and ${NAME} (an unset NAME is empty).
func execArgs(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	var words []string
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		var w strings.Builder
		quoted := false
		for ; i < len(line) && (quoted || line[i] != ' '); i++ {
			switch ch := line[i]; {
			case ch == '"':
				quoted = !quoted
			case ch == '\\':
				i++
				switch line[i] {
				case 'n':
					w.WriteByte('\n')
				case 't':
					w.WriteByte('\t')
				case 'x':
					n, _ := strconv.ParseUint(line[i+1:i+3], 16, 8)
					w.WriteByte(byte(n))
					i += 2
				default:
					w.WriteByte(line[i])
				}
			default:
				w.WriteByte(ch)
			}
		}
		words = append(words, w.String())
	}
	for j, w := range words {
		var b strings.Builder
		for i := 0; i < len(w); i++ {
			switch {
			case strings.HasPrefix(w[i:], "$$"):
				b.WriteByte('$')
				i++
			case strings.HasPrefix(w[i:], "${"):
				end := strings.IndexByte(w[i:], '}')
				b.WriteString(env[w[i+2:i+end]])
				i += end
			default:
				b.WriteByte(w[i])
			}
		}
		words[j] = b.String()
	}
	return words
}

// parseEnvFile reads KEY="value" lines as systemd does: in double quotes a
// backslash keeps the next character when it is one of "\`$.
func parseEnvFile(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	s := string(data)
	for len(s) > 0 {
		nl := strings.IndexByte(s, '\n')
		if s[0] == '#' {
			s = s[nl+1:]
			continue
		}
		eq := strings.IndexByte(s, '=')
		key := s[:eq]
		s = s[eq+1:]
		if s[0] != '"' {
			t.Fatalf("%s: value not quoted", key)
		}
		var v strings.Builder
		i := 1
		for ; s[i] != '"'; i++ {
			if s[i] == '\\' && strings.IndexByte("\"\\`$", s[i+1]) >= 0 {
				i++
			}
			v.WriteByte(s[i])
		}
		out[key] = v.String()
		s = s[i+1:]
		s = strings.TrimPrefix(s, "\n")
	}
	return out
}
