package spec

// In-place edits of a manifest: change one scalar and leave every other byte
// as it was (comments, key order, quoting, blank lines). The YAML node tree
// is used only to find where the scalar is; the new text is spliced into the
// original bytes, never re-encoded. Every edit is checked afterwards by
// decoding both versions: the new one must equal the old one with exactly
// the one field changed, or the edit is refused with ErrNotEditable.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// ErrNotEditable means a manifest cannot be edited in place without
// changing more than the one field: the field is a block scalar, an alias
// shared with other fields, under a merge key, or the file is not one YAML
// mapping. Edit such a file by hand.
var ErrNotEditable = errors.New("cannot edit in place")

// The tags a new value may have.
const (
	TagStr = "!!str"
	TagInt = "!!int"
)

// SetReplicas returns data with spec.replicas set to n.
func SetReplicas(data []byte, n int) ([]byte, error) {
	return SetField(data, []string{"spec", "replicas"}, strconv.Itoa(n), TagInt)
}

// SetDesired returns data with spec.desired set to d.
func SetDesired(data []byte, d Desired) ([]byte, error) {
	return SetField(data, []string{"spec", "desired"}, string(d), TagStr)
}

// SetAnnotation returns data with metadata.annotations[key] set to value,
// creating metadata and annotations when they are absent.
func SetAnnotation(data []byte, key, value string) ([]byte, error) {
	return SetField(data, []string{"metadata", "annotations", key}, value, TagStr)
}

// SetField returns data with the scalar at path (mapping keys from the
// document's root) set to value, which is written so that it reads back with
// tag (TagStr or TagInt). An existing scalar keeps its quoting style when
// the value allows it; an absent key is inserted as one line after the last
// key of its mapping, with the mapping's indentation (inside the braces of a
// flow mapping), creating the missing parent mappings. Nothing else changes.
func SetField(data []byte, path []string, value, tag string) ([]byte, error) {
	if len(path) == 0 {
		return nil, fmt.Errorf("%w: empty path", ErrNotEditable)
	}
	if tag != TagStr && tag != TagInt {
		return nil, fmt.Errorf("%w: unsupported tag %s", ErrNotEditable, tag)
	}
	root, err := parseRoot(data)
	if err != nil {
		return nil, err
	}
	e := &editor{src: newSource(data), path: path, value: value, tag: tag}
	out, err := e.apply(root)
	if err != nil {
		return nil, err
	}
	if err := verifyEdit(data, out, path, value, tag); err != nil {
		return nil, err
	}
	return out, nil
}

func parseRoot(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) &&
		(err != nil || len(extra.Content) != 1 || extra.Content[0].Tag != "!!null") {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrNotEditable)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the document is not a mapping", ErrNotEditable)
	}
	return doc.Content[0], nil
}

// editor holds one edit in progress.
type editor struct {
	src   *source
	path  []string
	value string
	tag   string
}

// level is one mapping on the way down the path, and the index of the key
// the path takes in it (-1: absent).
type level struct {
	m   *yaml.Node
	key int
}

func (e *editor) apply(root *yaml.Node) ([]byte, error) {
	var levels []level
	m := root
	flow := false
	for i, key := range e.path {
		flow = flow || m.Style&yaml.FlowStyle != 0
		k := findKey(m, key)
		if k < 0 {
			if hasMerge(m) {
				return nil, fmt.Errorf("%w: %s comes through a merge key (<<)", ErrNotEditable, strings.Join(e.path[:i+1], "."))
			}
			levels = append(levels, level{m: m, key: -1})
			return e.insert(levels, e.path[i:], flow)
		}
		levels = append(levels, level{m: m, key: k})
		v := m.Content[2*k+1]
		if i == len(e.path)-1 {
			return e.replace(v, flow)
		}
		if v.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: %s is not a mapping", ErrNotEditable, strings.Join(e.path[:i+1], "."))
		}
		m = v
	}
	return nil, fmt.Errorf("%w: empty path", ErrNotEditable) // not reached: len(path) > 0
}

// findKey returns the index of the pair whose key is name, or -1.
func findKey(m *yaml.Node, name string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == name {
			return i / 2
		}
	}
	return -1
}

func hasMerge(m *yaml.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Tag == "!!merge" {
			return true
		}
	}
	return false
}

// replace swaps the text of the scalar (or alias) v for the new value.
func (e *editor) replace(v *yaml.Node, flow bool) ([]byte, error) {
	field := strings.Join(e.path, ".")
	start, ok := e.src.offset(v.Line, v.Column)
	if !ok {
		return nil, fmt.Errorf("%w: cannot locate %s", ErrNotEditable, field)
	}
	b := e.src.data
	var end int
	switch v.Kind {
	case yaml.AliasNode:
		end = start + 1 + len(v.Value)
		if !bytes.HasPrefix(b[start:], []byte("*"+v.Value)) {
			return nil, fmt.Errorf("%w: cannot locate %s", ErrNotEditable, field)
		}
	case yaml.ScalarNode:
		// Skip an anchor and a tag: "&a !!int 3" keeps "&a".
		for start < len(b) && (b[start] == '&' || b[start] == '!') {
			for start < len(b) && !isSpace(b[start]) {
				start++
			}
			for start < len(b) && (b[start] == ' ' || b[start] == '\t') {
				start++
			}
		}
		var err error
		if end, err = scalarEnd(b, start, v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotEditable, field, err)
		}
	default:
		return nil, fmt.Errorf("%w: %s is not a scalar", ErrNotEditable, field)
	}
	style := v.Style &^ (yaml.TaggedStyle | yaml.FlowStyle)
	text, err := render(e.value, e.tag, style, flow)
	if err != nil {
		return nil, err
	}
	if start == end && start > 0 && b[start-1] == ':' {
		text = " " + text // "replicas:" with nothing after it
	}
	return splice(b, start, end, text), nil
}

// scalarEnd returns the offset just past the scalar v that starts at start.
func scalarEnd(b []byte, start int, v *yaml.Node) (int, error) {
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
	case v.Style&yaml.SingleQuotedStyle != 0:
		for i := start + 1; i < len(b); i++ {
			if b[i] == '\'' {
				if i+1 < len(b) && b[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
	case v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, errors.New("a block scalar (| or >): edit it by hand")
	default:
		if v.Value == "" {
			return start, nil // an empty value: "replicas:" with nothing after it
		}
		if !strings.Contains(v.Value, "\n") && bytes.HasPrefix(b[start:], []byte(v.Value)) {
			return start + len(v.Value), nil
		}
		return 0, errors.New("a plain scalar over several lines: edit it by hand")
	}
	return 0, errors.New("unterminated quoted scalar")
}

// insert adds the missing keys rest (the last one with the value) to the
// mapping of the last level.
func (e *editor) insert(levels []level, rest []string, flow bool) ([]byte, error) {
	lv := levels[len(levels)-1]
	m := lv.m
	if flow {
		return e.insertFlow(m, rest)
	}
	if len(m.Content) == 0 {
		return nil, fmt.Errorf("%w: %s is an empty mapping", ErrNotEditable, strings.Join(e.path[:len(levels)-1], "."))
	}
	src := e.src
	indent := m.Content[0].Column - 1
	step := 2
	if len(levels) > 1 {
		parent := levels[len(levels)-2]
		if d := indent - (parent.m.Content[2*parent.key].Column - 1); d > 0 {
			step = d
		}
	} else if v := findKey(m, "spec"); v >= 0 && m.Content[2*v+1].Kind == yaml.MappingNode &&
		m.Content[2*v+1].Style&yaml.FlowStyle == 0 && len(m.Content[2*v+1].Content) > 0 {
		if d := m.Content[2*v+1].Content[0].Column - m.Content[2*v].Column; d > 0 {
			step = d
		}
	}
	var lines []string
	for i, k := range rest {
		key, err := render(k, TagStr, 0, false)
		if err != nil {
			return nil, err
		}
		line := strings.Repeat(" ", indent+i*step) + key + ":"
		if i == len(rest)-1 {
			val, err := render(e.value, e.tag, 0, false)
			if err != nil {
				return nil, err
			}
			line += " " + val
		}
		lines = append(lines, line)
	}
	text := strings.Join(lines, src.eol) + src.eol

	// Where: after the last line of the mapping's content, or, for a new key
	// of the root (metadata), just before spec.
	pairs := len(m.Content) / 2
	after := pairs - 1
	if len(levels) == 1 {
		if s := findKey(m, "spec"); s >= 0 {
			after = s - 1
		}
	}
	if after < 0 {
		off, ok := src.offset(m.Content[0].Line, 1)
		if !ok {
			return nil, fmt.Errorf("%w: cannot locate %s", ErrNotEditable, rest[0])
		}
		return splice(src.data, off, off, text), nil
	}
	bound := e.bound(levels, after)
	last := src.lastContentLine(m.Content[2*after].Line, bound)
	off, nl := src.lineEnd(last)
	if !nl {
		text = src.eol + text
	}
	return splice(src.data, off, off, text), nil
}

// bound is the first line that is no longer part of the value of key after
// in the innermost mapping: the line of the next key there or in an
// enclosing mapping, or of a document marker, or the line after the last.
func (e *editor) bound(levels []level, after int) int {
	bound := e.src.docEnd()
	next := func(m *yaml.Node, i int) int {
		if 2*(i+1) < len(m.Content) {
			return m.Content[2*(i+1)].Line
		}
		return 0
	}
	if l := next(levels[len(levels)-1].m, after); l > 0 {
		return min(l, bound)
	}
	for i := len(levels) - 2; i >= 0; i-- {
		if l := next(levels[i].m, levels[i].key); l > 0 {
			return min(l, bound)
		}
	}
	return bound
}

// insertFlow adds "key: value" (or "key: {k2: value}") before the closing
// brace of the flow mapping m.
func (e *editor) insertFlow(m *yaml.Node, rest []string) ([]byte, error) {
	src := e.src
	open, ok := src.offset(m.Line, m.Column)
	if !ok || open >= len(src.data) || src.data[open] != '{' {
		return nil, fmt.Errorf("%w: cannot locate the flow mapping of %s", ErrNotEditable, strings.Join(e.path[:len(e.path)-len(rest)], "."))
	}
	lastSig, err := flowEnd(src.data, open)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	val, err := render(e.value, e.tag, 0, true)
	if err != nil {
		return nil, err
	}
	text := val
	for i := len(rest) - 1; i >= 0; i-- {
		key, err := render(rest[i], TagStr, 0, true)
		if err != nil {
			return nil, err
		}
		if i == len(rest)-1 {
			text = key + ": " + text
		} else {
			text = key + ": {" + text + "}"
		}
	}
	at := lastSig + 1
	switch c := src.data[lastSig]; {
	case lastSig == open: // {}
	case c == ',':
		text = " " + text
	default:
		text = ", " + text
	}
	return splice(src.data, at, at, text), nil
}

// flowEnd scans the flow collection opening at b[open] and returns the
// offset of the last significant byte before its closing bracket (not a
// space, not in a comment).
func flowEnd(b []byte, open int) (lastSig int, err error) {
	depth := 0
	lastSig = open
	for i := open; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return lastSig, nil
			}
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '\'':
			for i++; i < len(b); i++ {
				if b[i] == '\'' {
					if i+1 < len(b) && b[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case c == '#' && i > 0 && isSpace(b[i-1]):
			for i < len(b) && b[i] != '\n' {
				i++
			}
			continue
		case isSpace(c):
			continue
		}
		lastSig = i
	}
	return 0, errors.New("unterminated flow mapping")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// render returns the YAML text of value: plain when that reads back as
// value with tag (and style asks for it or is 0), else quoted in style
// (single or double quotes).
func render(value, tag string, style yaml.Style, flow bool) (string, error) {
	if tag == TagInt {
		if readsBack(value, value, tag, flow) {
			return value, nil
		}
		return "", fmt.Errorf("%w: %q is not a whole number", ErrNotEditable, value)
	}
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
	case style&yaml.SingleQuotedStyle != 0:
		if !strings.ContainsAny(value, "\n\r") {
			return "'" + strings.ReplaceAll(value, "'", "''") + "'", nil
		}
	default:
		if value != "" && !yaml11Bool(value) && readsBack(value, value, tag, flow) {
			return value, nil
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// yaml11Bool reports whether YAML 1.1 readers (PyYAML, Ansible) would read
// the plain scalar s as a boolean, although YAML 1.2 reads it as a string.
func yaml11Bool(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off":
		return true
	}
	return false
}

// readsBack reports whether text, as a mapping value, is the scalar value
// with tag.
func readsBack(text, value, tag string, flow bool) bool {
	doc := "k: " + text
	if flow {
		doc = "{k: " + text + "}"
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil || len(n.Content) != 1 {
		return false
	}
	m := n.Content[0]
	if m.Kind != yaml.MappingNode || len(m.Content) != 2 {
		return false
	}
	v := m.Content[1]
	return v.Kind == yaml.ScalarNode && v.Tag == tag && v.Value == value
}

func splice(b []byte, start, end int, text string) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(text))
	out = append(out, b[:start]...)
	out = append(out, text...)
	return append(out, b[end:]...)
}

// verifyEdit decodes both versions and checks that they differ exactly in
// the value at path.
func verifyEdit(old, edited []byte, path []string, value, tag string) error {
	var a, b any
	if err := yaml.Unmarshal(old, &a); err != nil {
		return fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	if err := yaml.Unmarshal(edited, &b); err != nil {
		return fmt.Errorf("%w: the edit would break the file: %v", ErrNotEditable, err)
	}
	var want any = value
	if tag == TagInt {
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: %q is not a whole number", ErrNotEditable, value)
		}
		want = n
	}
	a, ok := setPath(a, path, want)
	if !ok || !reflect.DeepEqual(a, b) {
		return fmt.Errorf("%w: changing %s would change other fields too (anchors, aliases or merge keys?): edit the file by hand", ErrNotEditable, strings.Join(path, "."))
	}
	return nil
}

func setPath(v any, path []string, want any) (any, bool) {
	if len(path) == 0 {
		return want, true
	}
	var m map[string]any
	switch t := v.(type) {
	case map[string]any:
		m = t
	case nil:
		m = map[string]any{}
	default:
		return nil, false
	}
	child, ok := setPath(m[path[0]], path[1:], want)
	if !ok {
		return nil, false
	}
	m[path[0]] = child
	return m, true
}

// source is the manifest's bytes with its line starts.
type source struct {
	data   []byte
	starts []int // byte offset of each line (index 0 is line 1)
	eol    string
}

func newSource(data []byte) *source {
	s := &source{data: data, starts: []int{0}, eol: "\n"}
	for i, c := range data {
		if c == '\n' {
			s.starts = append(s.starts, i+1)
		}
	}
	if bytes.Contains(data, []byte("\r\n")) {
		s.eol = "\r\n"
	}
	return s
}

func (s *source) lines() int { return len(s.starts) }

// line returns line n (1-based) without its line break.
func (s *source) line(n int) []byte {
	start := s.starts[n-1]
	end := len(s.data)
	if n < len(s.starts) {
		end = s.starts[n] - 1
	}
	return bytes.TrimSuffix(s.data[start:end], []byte("\r"))
}

// offset converts the parser's line and column (1-based, counted in
// characters, a leading byte order mark not counted) to a byte offset.
func (s *source) offset(line, col int) (int, bool) {
	if line < 1 || line > len(s.starts) || col < 1 {
		return 0, false
	}
	off := s.starts[line-1]
	if line == 1 && bytes.HasPrefix(s.data, []byte("\ufeff")) {
		off += 3
	}
	for c := 1; c < col; c++ {
		if off >= len(s.data) || s.data[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(s.data[off:])
		off += size
	}
	return off, true
}

// lineEnd returns the offset just past line n's line break, and whether it
// has one (the last line of a file may not).
func (s *source) lineEnd(n int) (int, bool) {
	if n < len(s.starts) {
		return s.starts[n], true
	}
	return len(s.data), false
}

// docEnd is the line of a document end or start marker after the first
// line, or the line after the last.
func (s *source) docEnd() int {
	for n := 2; n <= s.lines(); n++ {
		l := s.line(n)
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
			if len(l) == 3 || isSpace(l[3]) {
				return n
			}
		}
	}
	return s.lines() + 1
}

// lastContentLine is the last line in [from, bound) that is neither blank
// nor only a comment: where the value of the key on line from ends.
func (s *source) lastContentLine(from, bound int) int {
	last := from
	for n := from + 1; n < bound && n <= s.lines(); n++ {
		t := bytes.TrimSpace(s.line(n))
		if len(t) > 0 && t[0] != '#' {
			last = n
		}
	}
	return last
}
