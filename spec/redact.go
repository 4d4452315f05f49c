package spec

import (
	"sort"
	"strings"
)

// minRedacted is the shortest expanded value Redact replaces: a shorter
// one (an instance index, "0") hides nothing and would garble the message.
const minRedacted = 4

// Redact returns msg with each value that $(VAR) expansion produced,
// expanded[i], replaced by the template it came from, templates[i], so that
// a message about a command or a path (a start failure: "exec: ...: not
// found", "open LOG: no such file") names what the manifest says, never a
// value from the instance's environment (docs/reference.md §1). Pairs
// whose expansion changed nothing, and values shorter than minRedacted,
// are left alone; longer values go first, so that one that holds another
// is replaced whole.
func Redact(msg string, templates, expanded []string) string {
	type pair struct{ value, template string }
	var pairs []pair
	for i := 0; i < len(templates) && i < len(expanded); i++ {
		if expanded[i] != templates[i] && len(expanded[i]) >= minRedacted {
			pairs = append(pairs, pair{expanded[i], templates[i]})
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].value) > len(pairs[j].value) })
	for _, p := range pairs {
		msg = strings.ReplaceAll(msg, p.value, p.template)
	}
	return msg
}
