package main

import (
	"fmt"
	"io"
)

// diagPrefix starts every line the command line writes to standard error on
// its own behalf, whatever the verb: a failure ("reconciled: web: no
// manifest"), a failure of one name among several, or a notice ("reconciled:
// no daemon holds DIR: ..."). Located errors and warnings about a manifest
// (file:line:col: path: message) are left as they are, as a compiler's are,
// and so is what a verb prints on standard output.
const diagPrefix = "reconciled: "

// diag writes one diagnostic line to w.
func diag(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, diagPrefix+format+"\n", args...)
}
