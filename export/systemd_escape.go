package export

// How values are written into systemd's files. In a unit, a line goes
// through three readings: specifiers (%i, so a literal % is %%), then words
// (double quotes, C escapes such as \n, \" and \\), then, on command lines,
// variables (${NAME} is one word's worth of the variable, $$ a literal $).
// An EnvironmentFile has shell-like quoting and no expansion at all.

import (
	"fmt"
	"strings"
	"time"
)

// execWord renders one argument of ExecStart=, from a shallow expansion.
// outer is called for each variable the manifest does not set. first says
// it is the executable, whose leading @, -, :, +, ! or | would read as a
// prefix unless quoted.
func execWord(e expr, first bool, outer func(name string)) string {
	var b strings.Builder
	for _, s := range e {
		switch s.kind {
		case segText:
			b.WriteString(unitEscape(s.text, true))
		case segInstance:
			b.WriteString("${RECONCILED_INSTANCE}")
		case segVar:
			b.WriteString("${" + s.text + "}")
		case segOuter:
			outer(s.text)
			b.WriteString("${" + s.text + "}")
		}
	}
	w := b.String()
	switch {
	case w == ";":
		return `\;` // a lone ; would separate commands
	case first && w != "" && strings.ContainsRune("@-:+!|", rune(w[0])):
	case w != "" && !strings.ContainsAny(w, " \t\"'\\;"):
		return w
	}
	return `"` + w + `"`
}

// unitEscape escapes text for a unit file line: specifiers, the characters
// that quoting and C unescaping give a meaning, control characters, and $
// on command lines.
func unitEscape(s string, command bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '%':
			b.WriteString("%%")
		case r == '$' && command:
			b.WriteString("$$")
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unitValue renders a setting's value that is not a command line: only
// specifiers are read there, and a value must stay on one line.
func unitValue(s string) string {
	return strings.NewReplacer("%", "%%", "\n", " ", "\r", " ").Replace(s)
}

// envFileValue quotes a value for an EnvironmentFile: in double quotes a
// backslash keeps ", \, ` and $ literal, and a newline may stand as it is.
func envFileValue(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`).Replace(v) + `"`
}

// sdDuration writes d as a systemd time span, in whole seconds when it is
// one and otherwise in milliseconds, rounded up.
func sdDuration(d time.Duration) string {
	if wholeSeconds(d) {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	ms := d / time.Millisecond
	if d%time.Millisecond > 0 {
		ms++
	}
	return fmt.Sprintf("%dms", ms)
}

// unitComment renders s on one comment line.
func unitComment(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}
