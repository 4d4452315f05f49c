package spec

import (
	"maps"
	"testing"
)

func TestCycles(t *testing.T) {
	cases := []struct {
		name  string
		needs map[string][]string
		want  map[string]string
	}{
		{"none", map[string][]string{"web": {"db"}, "worker": {"web", "db"}, "db": nil}, map[string]string{}},
		{"missing dependency", map[string][]string{"web": {"db"}}, map[string]string{}},
		{"two", map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"a"}},
			map[string]string{"a": "a -> b -> a", "b": "b -> a -> b"}},
		{"three with a chord", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a", "b"}, "d": {"c"}},
			map[string]string{"a": "a -> b -> c -> a", "b": "b -> c -> b", "c": "c -> b -> c"}},
		{"self", map[string][]string{"a": {"a"}}, map[string]string{"a": "a -> a"}},
		{"two separate", map[string][]string{"a": {"b"}, "b": {"a"}, "x": {"y"}, "y": {"x"}},
			map[string]string{"a": "a -> b -> a", "b": "b -> a -> b", "x": "x -> y -> x", "y": "y -> x -> y"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Cycles(c.needs); !maps.Equal(got, c.want) {
				t.Errorf("Cycles = %v, want %v", got, c.want)
			}
		})
	}
}
