package spec

// The decoder's generic parts: walking a mapping's known fields (unknown
// keys get a suggestion), and reading typed scalars, lists and maps with
// located errors.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// fields walks the mapping n, calling the matching field's setter for every
// key and reporting unknown and duplicate keys. The known keys are those the
// field table lists for path; fs gives a setter for each. A null value means
// "not set".
func (d *decoder) fields(n *yaml.Node, path string, fs []field) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "must be a mapping, not %s", describeKind(n))
		return
	}
	known := d.known(path, fs)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		p := join(path, k.Value)
		if seen[k.Value] {
			d.add(k, p, "duplicate field")
			continue
		}
		seen[k.Value] = true
		if !slices.Contains(known, k.Value) {
			d.add(k, p, "unknown field%s", suggest(k.Value, known))
			continue
		}
		f := findField(fs, k.Value)
		if f == nil {
			d.add(k, p, "internal error: the field table lists a field the decoder does not read")
			continue
		}
		d.keys[p] = k
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// An empty value means "not set", but docs/reference.md lists null as
			// an output target: stdout: null discards.
			if !isOutput(p) || !strings.EqualFold(v.Value, "null") {
				continue
			}
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "null", Line: v.Line, Column: v.Column}
		}
		f.set(k, v, p)
	}
}

// known returns the names the field table lists for the mapping at path. A
// setter for a name the table lacks is a bug, reported as an error so that
// no test can miss it.
func (d *decoder) known(path string, fs []field) []string {
	var names []string
	if f := d.table.Lookup(path); f != nil {
		names = fieldNames(f.Children())
	}
	for _, s := range fs {
		if !slices.Contains(names, s.name) {
			d.add(nil, join(path, s.name), "internal error: the decoder reads a field the field table lacks")
		}
	}
	return names
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
func suggest(name string, known []string) string {
	if best := closest(name, known, 3); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// closest returns the candidate nearest to name by edit distance, ignoring
// case, if it is nearer than limit; the first of equals wins.
func closest(name string, candidates []string, limit int) string {
	best, bestDist := "", limit
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
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
		d.add(k, path, "must be a list of exit codes, not %s", describeKind(v))
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
		d.add(k, path, "must be a mapping of strings, not %s", describeKind(v))
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

// describeKind is describe without the value of a string: for fields whose
// values may be secrets, and wherever a mapping or a list is expected, where
// a string found instead may be anything (a file holding only a token, a
// pasted secret). describe's quote is kept for a scalar of the wrong type
// (replicas: "three"), where it shows the typo.
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
