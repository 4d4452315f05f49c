package spec

// Rendering a new scalar so that it reads back as written, splicing it in,
// and checking afterwards that exactly the one field changed.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

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
