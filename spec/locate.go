package spec

import yaml "go.yaml.in/yaml/v3"

// Locate returns the line and column (1-based) of the key at path in the
// manifest data ("spec", "dependsOn"), for errors found after decoding, such
// as a dependency cycle across files. ok is false when data does not parse or
// has no such key.
func Locate(data []byte, path ...string) (line, col int, ok bool) {
	m, err := parseRoot(data)
	if err != nil || len(path) == 0 {
		return 0, 0, false
	}
	for i, name := range path {
		k := findKey(m, name)
		if k < 0 {
			return 0, 0, false
		}
		key, val := m.Content[2*k], m.Content[2*k+1]
		if i == len(path)-1 {
			return key.Line, key.Column, true
		}
		m = deref(val)
		if m.Kind != yaml.MappingNode {
			return 0, 0, false
		}
	}
	return 0, 0, false
}
