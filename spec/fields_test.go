package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v3"
)

// valueCase is a value (as YAML) for a field and whether its type admits
// it.
type valueCase struct {
	value string
	ok    bool
}

// valueCases are the values tried on a field of type t: the edges of its
// range, its enum, spellings of its scalars, and values it refuses.
func valueCases(t *Type) []valueCase {
	var cs []valueCase
	switch t.Kind {
	case KindInt:
		if t.Min != nil {
			cs = append(cs, valueCase{fmt.Sprint(*t.Min), true}, valueCase{fmt.Sprint(*t.Min - 1), false})
		}
		if t.Max != nil {
			cs = append(cs, valueCase{fmt.Sprint(*t.Max), true}, valueCase{fmt.Sprint(*t.Max + 1), false})
		}
		cs = append(cs, valueCase{"many", false}, valueCase{"[1]", false})
	case KindBool:
		cs = append(cs, valueCase{"true", true}, valueCase{"false", true}, valueCase{"maybe", false}, valueCase{"1", false})
	case KindString:
		if len(t.Enum) == 0 {
			return nil
		}
		for _, v := range t.Enum {
			cs = append(cs, valueCase{v, true})
			if t.Pattern != "" {
				cs = append(cs, valueCase{strings.ToLower(v), true})
			}
		}
		cs = append(cs, valueCase{"Bogus", false}, valueCase{"7", false})
	case KindDuration:
		cs = append(cs, valueCase{"7s", true}, valueCase{"1m30s", true}, valueCase{"7", true}, valueCase{`"7"`, true},
			valueCase{"-1s", false}, valueCase{"soon", false}, valueCase{"{a: 1}", false})
	case KindSize:
		cs = append(cs, valueCase{"50mb", true}, valueCase{"1.5GiB", true}, valueCase{"10 KiB", true}, valueCase{"1048576", true},
			valueCase{"5 parsecs", false}, valueCase{"-1", false}, valueCase{"[1]", false})
	case KindMemory:
		cs = append(cs, valueCase{"512Mi", true}, valueCase{"1.5Gi", true}, valueCase{"2G", true}, valueCase{"536870912", true},
			valueCase{"512m", false}, valueCase{"lots", false})
	case KindCPU:
		cs = append(cs, valueCase{"500m", true}, valueCase{"0.5", true}, valueCase{"2", true}, valueCase{`"0.25"`, true},
			valueCase{"two", false}, valueCase{"-1", false})
	case KindList:
		return valueCases(t.Elem)
	default:
		return nil
	}
	if t.Kind != KindString && t.Kind != KindBool {
		cs = append(cs, valueCase{"unlimited", t.Unlimited})
	}
	return cs
}

// corpusDoc is one manifest of testdata/valid as a node tree.
type corpusDoc struct {
	file string
	size int
	root *yaml.Node
}

func loadCorpus(t *testing.T) []corpusDoc {
	t.Helper()
	var docs []corpusDoc
	for f, data := range readFiles(t, "testdata/valid/*.yaml") {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, corpusDoc{f, len(data), &doc})
	}
	return docs
}

// nodeAt returns the value node at path (a list's first item for a list
// path), or nil.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for rest := path; rest != ""; {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		var key string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if (rest == k || strings.HasPrefix(rest, k+".")) && len(k) > len(key) {
				next, key = n.Content[i+1], k
			}
		}
		if next == nil {
			return nil
		}
		n, rest = next, strings.TrimPrefix(strings.TrimPrefix(rest, key), ".")
		if n.Kind == yaml.SequenceNode && len(n.Content) > 0 && rest != "" {
			n = n.Content[0]
		}
	}
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 && n.Content[0].Kind == yaml.ScalarNode {
		return n.Content[0]
	}
	return n
}

// errorAt reports whether a decoder error is about path or a field below it.
func errorAt(errs ErrorList, path string) bool {
	for _, e := range errs {
		p := stripIndexes(e.Field)
		if p == path || strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// schemaErrorAt reports whether a schema error is about the value at path
// or below it.
func schemaErrorAt(err error, path string) bool {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err != nil
	}
	var found bool
	var walk func(*jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		var parts []string
		for _, s := range v.InstanceLocation {
			if s != "" && strings.Trim(s, "0123456789") == "" {
				continue // a list index
			}
			parts = append(parts, s)
		}
		p := strings.Join(parts, ".")
		if p == path || strings.HasPrefix(p, path+".") {
			found = true
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	return found
}

// The decoder and the schema agree with the field table on every scalar
// field: each value of valueCases is taken by both or refused by both, at
// that field. And the table's hash rule agrees with Hash: a change of a
// field in the hash changes it, of any other field does not.
//
// Each field is tried in the smallest manifest of testdata/valid that sets
// it, so that rules between fields (shell: true needs a string command)
// rarely get in the way; an error that such a rule puts on another field
// does not count.
func TestDecoderSchemaAndTableAgree(t *testing.T) {
	sch := compileSchema(t)
	docs := loadCorpus(t)
	table := FieldTable()
	tried := 0
	table.Walk(func(path string, f *Field) {
		cases := valueCases(f.Type)
		if len(cases) == 0 {
			return
		}
		var doc *corpusDoc
		for i := range docs {
			if nodeAt(docs[i].root, path) != nil && (doc == nil || docs[i].size < doc.size) {
				doc = &docs[i]
			}
		}
		if doc == nil {
			t.Errorf("%s: no manifest of testdata/valid sets it", path)
			return
		}
		orig := mustEncode(t, doc.root)
		base, errs := Parse(doc.file, orig)
		if errs != nil {
			t.Fatalf("%s: %v", doc.file, errs)
		}
		restarts, hasRule := table.Restarts(path)
		for _, c := range cases {
			tried++
			var val yaml.Node
			if err := yaml.Unmarshal([]byte(c.value), &val); err != nil {
				t.Fatal(err)
			}
			var root yaml.Node
			if err := yaml.Unmarshal(orig, &root); err != nil {
				t.Fatal(err)
			}
			*nodeAt(&root, path) = *val.Content[0]
			data := mustEncode(t, &root)
			p, errs := Parse(doc.file, data)
			decoderOK := !errorAt(errs, path)
			schemaOK := !schemaErrorAt(sch.Validate(instance(t, data)), path)
			if decoderOK != c.ok || schemaOK != c.ok {
				t.Errorf("%s: %s in %s: want ok=%v; decoder ok=%v (%v), schema ok=%v",
					path, c.value, filepath.Base(doc.file), c.ok, decoderOK, errs, schemaOK)
			}
			if p == nil || !hasRule || reflect.DeepEqual(p, base) {
				continue
			}
			if changed := Hash(p) != Hash(base); changed != restarts {
				t.Errorf("%s: %s changes the hash: %v, but the table says restarts=%v", path, c.value, changed, restarts)
			}
		}
	})
	if tried < 100 {
		t.Errorf("only %d values tried", tried)
	}
}

func mustEncode(t *testing.T, n *yaml.Node) []byte {
	t.Helper()
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(n); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// Lookup finds fields through lists, unions and annotation keys with dots.
func TestLookup(t *testing.T) {
	table := FieldTable()
	for path, want := range map[string]string{
		"spec.readinessProbe.httpGet":                        "httpGet",
		"spec.dependsOn[0].condition":                        "condition",
		"spec.dependsOn.program":                             "program",
		"spec.stdout.maxSize":                                "maxSize",
		"spec.limits.nofile.soft":                            "soft",
		"metadata.annotations.reconciled.dev/restartedAt":    RestartedAtAnnotation,
		"metadata.annotations.reconciled.dev/nosuch":         "",
		"spec.nosuch":                                        "",
		"spec.replicas.nosuch":                               "",
		"metadata.annotations." + ProgressDeadlineAnnotation: ProgressDeadlineAnnotation,
	} {
		got := ""
		if f := table.Lookup(path); f != nil {
			got = f.Name
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", path, got, want)
		}
	}
	if table.Lookup("") != table {
		t.Errorf("Lookup(\"\") is not the root")
	}
}

// Every field has a meaning, and every field docs/reference.md's table
// lists is in the table.
func TestEveryFieldDocumented(t *testing.T) {
	ref, err := os.ReadFile("../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	table := FieldTable()
	table.Walk(func(path string, f *Field) {
		if path != "" && f.Doc == "" {
			t.Errorf("%s: no Doc", path)
		}
	})
	for _, line := range strings.Split(string(ref), "\n") {
		if !strings.HasPrefix(line, "| `spec.") && !strings.HasPrefix(line, "| `metadata.") {
			continue
		}
		path := strings.Trim(strings.Split(line, "|")[1], " `")
		if table.Lookup(path) == nil {
			t.Errorf("docs/reference.md lists %s, which the field table lacks", path)
		}
	}
}

// A setter for a field the table lacks is reported, never silently unused.
func TestDecoderFieldNotInTable(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("command: x\n"), &doc); err != nil {
		t.Fatal(err)
	}
	d := &decoder{file: "w.yaml", keys: map[string]*yaml.Node{}, table: FieldTable()}
	d.fields(doc.Content[0], "spec", []field{
		{"command", func(k, v *yaml.Node, p string) {}},
		{"colour", func(k, v *yaml.Node, p string) {}},
	})
	if len(d.errs) != 1 || !strings.Contains(d.errs[0].Error(), "spec.colour: internal error") {
		t.Errorf("errors: %v", d.errs)
	}
}
