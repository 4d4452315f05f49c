package spec

// spec.envFrom: the dotenv syntax, and merging what the files say into a
// program. Reading the files is the caller's (package manifest): this
// package reads nothing.

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxEnvFileSize is the largest dotenv file read; callers stop after
// MaxEnvFileSize+1 bytes and pass what they read.
const MaxEnvFileSize = MaxManifestSize

// EnvVar is one NAME=value of a dotenv file.
type EnvVar struct {
	Name, Value string
}

// DotenvError is a syntax error in a dotenv file, at Line (1-based). Its
// message never quotes a value: values may be secrets.
type DotenvError struct {
	Line    int
	Message string
}

func (e *DotenvError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// ParseDotenv reads dotenv data: one NAME=value a line, in file order (a
// name given twice is given twice). Blank lines and lines starting with #
// are skipped, and "export " before a name is allowed. A value is taken as
// written after the =, without the blanks around it; an unquoted value ends
// at a # that follows a blank (a comment). In single quotes it is taken as
// written; in double quotes, \n, \r, \t, \", \\ and \$ are escapes, and
// either kind of quotes may span lines. Nothing is expanded. Names are
// [A-Za-z_][A-Za-z0-9_]*; RECONCILED_* names are the daemon's.
func ParseDotenv(data []byte) ([]EnvVar, error) {
	if len(data) > MaxEnvFileSize {
		return nil, &DotenvError{Line: 1, Message: fmt.Sprintf("file is larger than %d bytes", MaxEnvFileSize)}
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, &DotenvError{Line: 1, Message: "not a text file: a dotenv file is UTF-8 NAME=value lines"}
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	var vars []EnvVar
	line := 0
	for text != "" {
		line++
		cur, rest, _ := strings.Cut(text, "\n")
		text = rest
		s := strings.TrimLeft(cur, " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		if after, ok := strings.CutPrefix(s, "export"); ok && after != "" && (after[0] == ' ' || after[0] == '\t') {
			s = strings.TrimLeft(after, " \t")
		}
		name, val, ok := strings.Cut(s, "=")
		name = strings.TrimRight(name, " \t")
		switch {
		case !ok: // the line may be a value: never quote it
			return nil, &DotenvError{Line: line, Message: "expected NAME=value, found no ="}
		case name == "":
			return nil, &DotenvError{Line: line, Message: "expected NAME=value, found no name before ="}
		case !envNameRE.MatchString(name):
			return nil, &DotenvError{Line: line, Message: "expected NAME=value: a name is letters, digits and _, not starting with a digit"}
		case strings.HasPrefix(name, "RECONCILED_"):
			return nil, &DotenvError{Line: line, Message: name + ": RECONCILED_* variables are set by the daemon"}
		}
		val = strings.TrimLeft(val, " \t")
		if val == "" || (val[0] != '"' && val[0] != '\'') {
			vars = append(vars, EnvVar{Name: name, Value: unquoted(val)})
			continue
		}
		// A quoted value may go on over the next lines: take them all, and
		// put back what follows the closing quote's line.
		start := line
		v, after, lines, err := quoted(val + "\n" + text)
		if err != "" {
			return nil, &DotenvError{Line: start, Message: name + ": " + err}
		}
		line += lines
		tail, rest, _ := strings.Cut(after, "\n")
		text = rest
		if t := strings.TrimLeft(tail, " \t"); t != "" && t[0] != '#' {
			return nil, &DotenvError{Line: line, Message: name + ": unexpected text after the closing quote"}
		}
		vars = append(vars, EnvVar{Name: name, Value: v})
	}
	return vars, nil
}

// unquoted is an unquoted value without its comment and trailing blanks.
func unquoted(v string) string {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			v = v[:i]
			break
		}
	}
	return strings.TrimRight(v, " \t")
}

// quoted reads the quoted value at the start of s (its first byte is the
// quote). It returns the value, the text after the closing quote, the
// number of line breaks inside the quotes, or an error message.
func quoted(s string) (val, after string, lines int, err string) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), s[i+1:], lines, ""
		case c == '\n':
			lines++
		case c == '\\' && q == '"' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case '"', '\\', '$':
				c = s[i]
			case '\n':
				lines++
				b.WriteByte('\\')
				c = '\n'
			default:
				b.WriteByte('\\')
				c = s[i]
			}
		}
		b.WriteByte(c)
	}
	return "", "", 0, fmt.Sprintf("no closing %c", q)
}

// EnvFromError locates a problem with entry index of the spec.envFrom of
// the manifest file at that entry.
func EnvFromError(file string, index int, src EnvSource, format string, args ...any) *Error {
	return &Error{File: file, Line: src.Line, Column: src.Column,
		Field: fmt.Sprintf("spec.envFrom[%d].file", index), Message: fmt.Sprintf(format, args...)}
}

// WithEnvFrom returns a copy of p whose EnvFromVars hold what contents,
// the data of p.Spec.EnvFrom's files in order, say: a later file's
// variable replaces an earlier one's. file names the manifest in errors,
// which are located at the entry and give the dotenv file's line. A nil
// entry of contents is a file that could not be read: it is skipped, and
// the caller reports it. p itself is not changed; without envFrom it is
// returned as it is.
func WithEnvFrom(p *Program, file string, contents [][]byte) (*Program, ErrorList) {
	if len(p.Spec.EnvFrom) == 0 {
		return p, nil
	}
	vars := map[string]string{}
	var errs ErrorList
	for i, src := range p.Spec.EnvFrom {
		if i >= len(contents) || contents[i] == nil {
			continue
		}
		kvs, err := ParseDotenv(contents[i])
		if err != nil {
			errs = append(errs, EnvFromError(file, i, src, "%s:%v", src.File, strings.TrimPrefix(err.Error(), "line ")))
			continue
		}
		for _, kv := range kvs {
			vars[kv.Name] = kv.Value
		}
	}
	if errs != nil {
		return nil, errs
	}
	cp := *p
	cp.EnvFromVars = vars
	return &cp, nil
}
