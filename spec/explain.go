package spec

// Explain: the field table as `kubectl explain` prints a resource's
// fields.

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// UnknownFieldError is a path Explain does not know, with the known paths
// nearest to it.
type UnknownFieldError struct {
	Path    string
	Nearest []string
}

func (e *UnknownFieldError) Error() string {
	msg := fmt.Sprintf("field %q does not exist", e.Path)
	if len(e.Nearest) > 0 {
		msg += "; did you mean " + strings.Join(quoteAll(e.Nearest), " or ") + "?"
	}
	return msg
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// explainWidth is where Explain wraps descriptions.
const explainWidth = 80

// Explain writes what the manifest's field at path is: its type, default,
// values, meaning, whether changing it restarts instances, its supervisord
// and Kubernetes equivalents, and the fields below it (all of them, nested,
// with recursive). An empty path explains the whole manifest. A path may
// start with "program." and may hold list indexes. An unknown path is an
// *UnknownFieldError naming the nearest known ones.
func Explain(w io.Writer, path string, recursive bool) error {
	table := FieldTable()
	path = strings.TrimSpace(path)
	if p, ok := strings.CutPrefix(strings.ToLower(path), "program"); ok && (p == "" || p[0] == '.') {
		path = strings.TrimPrefix(path[len("program"):], ".")
	}
	path = stripIndexes(path)
	f := table.Lookup(path)
	if f == nil {
		return &UnknownFieldError{Path: path, Nearest: nearestPaths(table, path)}
	}
	fmt.Fprintf(w, "KIND:         %s\nVERSION:      %s\n\n", Kind, APIVersion)
	doc := f.Doc
	if path == "" {
		doc = "A Program manifest, one YAML file NAME.yaml in the watched directory: what to run, " +
			"how many, and how it is supervised. The daemon makes the running processes match it."
	} else {
		fmt.Fprintf(w, "FIELD:        %s <%s>%s\n\n", path, typeName(f.Type), requiredMark(f))
	}
	fmt.Fprintln(w, "DESCRIPTION:")
	wrap(w, doc, "    ")
	var facts [][2]string
	if d := f.Default; d != "" {
		facts = append(facts, [2]string{"DEFAULT", d})
	} else if f.DefaultText != "" {
		facts = append(facts, [2]string{"DEFAULT", f.DefaultText})
	}
	if v := valuesText(f.Type); v != "" {
		facts = append(facts, [2]string{"VALUES", v})
	}
	if restarts, ok := table.Restarts(path); ok {
		r := "no: applied to running instances without restarting them"
		if restarts {
			r = "yes: in the spec hash, a change replaces running instances per updateStrategy"
		}
		facts = append(facts, [2]string{"RESTARTS", r})
	}
	if f.Supervisord != "" {
		facts = append(facts, [2]string{"SUPERVISORD", f.Supervisord})
	}
	if f.Kubernetes != "" {
		facts = append(facts, [2]string{"KUBERNETES", f.Kubernetes})
	}
	if len(facts) > 0 {
		fmt.Fprintln(w)
	}
	for _, fact := range facts {
		fmt.Fprintf(w, "%-14s", fact[0]+":")
		wrapRest(w, fact[1], strings.Repeat(" ", 14))
	}
	if children := f.Children(); len(children) > 0 {
		fmt.Fprintln(w, "\nFIELDS:")
		if recursive {
			writeTree(w, children, "  ")
		} else {
			writeFields(w, children)
		}
	}
	return nil
}

func requiredMark(f *Field) string {
	if f.Required {
		return " -required-"
	}
	return ""
}

// writeFields lists fields with their types and the first sentence of what
// they mean.
func writeFields(w io.Writer, fs []*Field) {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.Name))
	}
	for i, f := range fs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %-*s  <%s>%s\n", width, f.Name, typeName(f.Type), requiredMark(f))
		wrap(w, firstSentence(f.Doc), "    ")
	}
}

// writeTree lists fields and every field below them, indented by depth.
func writeTree(w io.Writer, fs []*Field, indent string) {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.Name))
	}
	for _, f := range fs {
		fmt.Fprintf(w, "%s%-*s  <%s>%s\n", indent, width, f.Name, typeName(f.Type), requiredMark(f))
		writeTree(w, f.Children(), indent+"  ")
	}
}

// firstSentence is what a field list shows of a field's meaning.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// typeName names a type as explain shows it: string, []string,
// map[string]string, string | []string.
func typeName(t *Type) string {
	var n string
	switch t.Kind {
	case KindString, KindScalar:
		n = "string"
	case KindBool:
		n = "boolean"
	case KindInt:
		n = "integer"
	case KindDuration:
		n = "duration"
	case KindSize:
		n = "size"
	case KindMemory, KindCPU:
		n = "quantity"
	case KindObject:
		n = "object"
	case KindMap:
		n = "map[string]" + typeName(t.Elem)
	case KindList:
		n = "[]" + typeName(t.Elem)
	case KindUnion:
		alts := make([]string, len(t.OneOf))
		for i, o := range t.OneOf {
			alts[i] = typeName(o)
		}
		n = strings.Join(alts, " | ")
	}
	if t.Name != "" && t.Kind != KindUnion {
		n = t.Name
	}
	if t.Unlimited {
		n += " | unlimited"
	}
	return n
}

// valuesText says which values a type takes, beyond its name.
func valuesText(t *Type) string {
	var parts []string
	switch t.Kind {
	case KindString:
		if len(t.Enum) > 0 {
			parts = append(parts, strings.Join(t.Enum, ", "))
		}
	case KindInt:
		switch {
		case t.Min != nil && t.Max != nil:
			parts = append(parts, fmt.Sprintf("%d to %d", *t.Min, *t.Max))
		case t.Min != nil:
			parts = append(parts, fmt.Sprintf("at least %d", *t.Min))
		}
	case KindDuration:
		parts = append(parts, "a Go duration (500ms, 10s, 1m30s) or a number of seconds")
	case KindSize:
		parts = append(parts, "bytes, with a unit in any case: K, M, G, T (1000) or Ki, Mi, Gi, Ti (1024), B optional; decimals allowed (50mb, 1.5GiB)")
	case KindMemory:
		parts = append(parts, "bytes with a Kubernetes suffix (512Mi, 1.5Gi, 2G)")
	case KindCPU:
		parts = append(parts, "cores (500m, 0.5, 2)")
	case KindList:
		return valuesText(t.Elem)
	case KindUnion:
		for _, o := range t.OneOf {
			if v := valuesText(o); v != "" && !slices.Contains(parts, v) {
				parts = append(parts, v)
			}
		}
	}
	if t.Unlimited {
		parts = append(parts, "unlimited")
	}
	return strings.Join(parts, "; or ")
}

// wrap writes text in lines of at most explainWidth, each after indent.
func wrap(w io.Writer, text, indent string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > explainWidth {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(w, line)
}

// wrapRest is wrap for text whose first line follows a label already
// written, as wide as indent.
func wrapRest(w io.Writer, text, indent string) {
	var b strings.Builder
	wrap(&b, text, indent)
	fmt.Fprint(w, strings.TrimPrefix(b.String(), indent))
}

// nearestPaths returns the known paths nearest to path: those that end in
// its last name (spec.httpGet is spec.readinessProbe.httpGet or
// spec.livenessProbe.httpGet), else the closest by edit distance.
func nearestPaths(table *Field, path string) []string {
	var all []string
	table.Walk(func(p string, _ *Field) {
		if p != "" {
			all = append(all, p)
		}
	})
	last := strings.ToLower(path[strings.LastIndexByte(path, '.')+1:])
	var same []string
	for _, p := range all {
		if strings.ToLower(p[strings.LastIndexByte(p, '.')+1:]) == last {
			same = append(same, p)
		}
	}
	if len(same) > 0 && len(same) <= 3 {
		lp := strings.ToLower(path)
		slices.SortStableFunc(same, func(a, b string) int {
			return editDistance(lp, strings.ToLower(a)) - editDistance(lp, strings.ToLower(b))
		})
		return same
	}
	if best := closest(path, all, len(path)+1); best != "" {
		return []string{best}
	}
	return nil
}
