package spec

import "testing"

func TestLocate(t *testing.T) {
	data := []byte("# c\nspec:\n  command: x\n  dependsOn:\n  - {program: db}\nmetadata: {name: w}\n")
	for _, c := range []struct {
		path      []string
		line, col int
		ok        bool
	}{
		{[]string{"spec", "dependsOn"}, 4, 3, true},
		{[]string{"spec"}, 2, 1, true},
		{[]string{"metadata", "name"}, 6, 12, true},
		{[]string{"spec", "replicas"}, 0, 0, false},
		{[]string{"spec", "command", "x"}, 0, 0, false},
		{nil, 0, 0, false},
	} {
		line, col, ok := Locate(data, c.path...)
		if line != c.line || col != c.col || ok != c.ok {
			t.Errorf("Locate(%v) = %d, %d, %v; want %d, %d, %v", c.path, line, col, ok, c.line, c.col, c.ok)
		}
	}
	if _, _, ok := Locate([]byte("a: [\n"), "a"); ok {
		t.Error("invalid YAML located")
	}
}
