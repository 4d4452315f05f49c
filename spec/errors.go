package spec

import (
	"fmt"
	"strings"
)

// MaxErrors caps the errors reported for one file, so that a large garbage
// file does not produce megabytes of output.
const MaxErrors = 50

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
