package spec

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxErrors caps the errors reported for one file, so that a large garbage
// file does not produce megabytes of output.
const MaxErrors = 50

const (
	// maxQuoted is the longest value an error message quotes whole; a
	// longer one (a 1 MiB line) is cut, so that fifty errors of a hostile
	// file cost kilobytes of status and events, not megabytes.
	maxQuoted = 80
	// maxFieldPath is the longest field path an error names whole.
	maxFieldPath = 200
)

// clip returns s, or its first max bytes (whole runes) and "..." when it is
// longer.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return prefix(s, max) + "..."
}

// prefix returns the longest start of s of at most n bytes that ends
// between runes.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clipQuotes shortens each Go-quoted string in msg (what %q made of a
// value) that is longer than maxQuoted: its start stays, quoted, followed
// by how long the value was.
func clipQuotes(msg string) string {
	if len(msg) <= maxQuoted {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '"')
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i])
		msg = msg[i:]
		q, err := strconv.QuotedPrefix(msg)
		if err != nil {
			b.WriteByte('"')
			msg = msg[1:]
			continue
		}
		msg = msg[len(q):]
		if len(q) <= maxQuoted {
			b.WriteString(q)
			continue
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			v = q
		}
		fmt.Fprintf(&b, "%q... (%d bytes)", prefix(v, maxQuoted/2), len(v))
	}
}

// Error is one problem in a manifest, located by file, line, column and the
// path of the field, such as "spec.replicas" or "spec.command[2]".
type Error struct {
	File    string
	Line    int
	Column  int
	Field   string
	Message string
}

// Error prints the error as "worker.yaml:7:3: spec.replicas: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every error found in one manifest, in file order.
type ErrorList []*Error

// Error prints one error a line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
