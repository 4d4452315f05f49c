package status

import (
	"bytes"
	"fmt"
	"regexp"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Marshal returns st as the YAML of a status file. Keys follow the order of
// DESIGN.md §4 rather than the alphabetical order sigs.k8s.io/yaml would give:
// st goes through its JSON form (which sets the order and the time format) into
// a YAML node tree, whose plain style lets the encoder quote only what needs it.
func Marshal(st ProgramStatus) ([]byte, error) {
	js, err := marshalJSON(st)
	if err != nil {
		return nil, fmt.Errorf("encode status %s: %w", st.Metadata.Name, err)
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("encode status %s: %w", st.Metadata.Name, err)
	}
	plain(&doc)
	var buf bytes.Buffer
	enc := yaml3.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode status %s: %w", st.Metadata.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode status %s: %w", st.Metadata.Name, err)
	}
	return buf.Bytes(), nil
}

// plain drops the JSON styles (flow collections, double-quoted strings) so that
// the encoder writes block YAML and quotes a string only when it would otherwise
// read back as something else ("True", a timestamp, ""). The encoder judges that
// by YAML 1.2, but sigs.k8s.io/yaml (and many other readers) read YAML 1.1, where
// "yes", "off" or "1:20" are not strings either; those stay quoted.
func plain(n *yaml3.Node) {
	n.Style = 0
	if n.Kind == yaml3.ScalarNode && n.Tag == "!!str" && yaml11NotString(n.Value) {
		n.Style = yaml3.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		plain(c)
	}
}

// base60 matches YAML 1.1 sexagesimal numbers such as "1:20".
var base60 = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// yaml11NotString reports whether plain s is a bool or a number in YAML 1.1 but
// a string in YAML 1.2.
func yaml11NotString(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return true
	}
	return base60.MatchString(s)
}

// Parse reads the YAML (or JSON) of a status file. Unknown fields are ignored, so
// an older reader can read a newer daemon's files.
func Parse(data []byte) (ProgramStatus, error) {
	var st ProgramStatus
	if err := yaml.Unmarshal(data, &st); err != nil {
		return ProgramStatus{}, fmt.Errorf("decode status: %w", err)
	}
	// Marshal writes empty lists as [], which decode as empty slices; make them
	// nil again so that a write and a read give back the same value.
	if len(st.Status.Conditions) == 0 {
		st.Status.Conditions = nil
	}
	if len(st.Status.Instances) == 0 {
		st.Status.Instances = nil
	}
	return st, nil
}
