package spec

// In-place edits of a manifest: change one scalar and leave every other byte
// as it was (comments, key order, quoting, blank lines). The YAML node tree
// is used only to find where the scalar is; the new text is spliced into the
// original bytes, never re-encoded. Every edit is checked afterwards by
// decoding both versions: the new one must equal the old one with exactly
// the one field changed, or the edit is refused with ErrNotEditable.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

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
