package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	yaml "go.yaml.in/yaml/v3"
)

// compileSchema compiles Schema() with a real JSON Schema validator.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("program.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("program.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// instance turns a YAML manifest into the JSON value an editor validates.
func instance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func readFiles(t *testing.T, pattern string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files %s: %v", pattern, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if DaemonFile(filepath.Base(f)) {
			continue // a status file a daemon run on the examples left
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

// The checked-in schema is the generated one.
func TestSchemaFileUpToDate(t *testing.T) {
	got, err := os.ReadFile("program.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Schema()) {
		t.Errorf("spec/program.schema.json differs from the generated schema; regenerate it:\n" +
			"  go run ./cmd/reconciled schema > spec/program.schema.json")
	}
}

// Every example and every manifest of the valid corpus is accepted by the
// decoder and by the schema, and carries the editor's modeline.
func TestValidManifestsAcceptedByBoth(t *testing.T) {
	sch := compileSchema(t)
	files := readFiles(t, "../examples/*.yaml")
	for f, data := range readFiles(t, "testdata/valid/*.yaml") {
		files[f] = data
	}
	for f, data := range files {
		if _, errs := Parse(f, data); errs != nil {
			t.Errorf("%s: the decoder refuses it:\n%v", f, errs)
		}
		if err := sch.Validate(instance(t, data)); err != nil {
			t.Errorf("%s: the schema refuses it: %v", f, err)
		}
		dir, _ := filepath.Abs(filepath.Dir(f))
		schema, _ := filepath.Abs("program.schema.json")
		rel, _ := filepath.Rel(dir, schema)
		want := "# yaml-language-server: $schema=" + rel + "\n"
		if !bytes.HasPrefix(data, []byte(want)) {
			t.Errorf("%s: does not start with %q", f, want)
		}
	}
}

// schemaAccepts marks an invalid manifest whose rule JSON Schema cannot
// express: the decoder alone refuses it.
const schemaAccepts = "# schema: accepts"

// Every manifest of the invalid corpus is refused by the decoder, and by the
// schema unless it is marked: the errors are in testdata/invalid.golden.
func TestInvalidManifestsRefusedByBoth(t *testing.T) {
	sch := compileSchema(t)
	files := readFiles(t, "testdata/invalid/*.yaml")
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	slices.Sort(names)
	var got strings.Builder
	for _, f := range names {
		data := files[f]
		_, errs := Parse(f, data)
		if errs == nil {
			t.Errorf("%s: the decoder accepts it", f)
		}
		got.WriteString(errs.Error() + "\n")
		err := sch.Validate(instance(t, data))
		switch marked := bytes.Contains(data, []byte(schemaAccepts)); {
		case marked && err != nil:
			t.Errorf("%s: marked %q, but the schema refuses it: %v", f, schemaAccepts, err)
		case !marked && err == nil:
			t.Errorf("%s: the schema accepts it (mark it %q if JSON Schema cannot express the rule)", f, schemaAccepts)
		case !marked && !sameReason(errs, err):
			t.Errorf("%s: the schema refuses it for another reason than the decoder:\n%v\n%v", f, errs, err)
		}
	}
	golden(t, "testdata/invalid.golden", got.String())
}

// sameReason reports whether an error of the schema is about a field that
// a decoder error is about, a field around it or beside it: the same
// problem, as JSON Schema can put it.
func sameReason(errs ErrorList, err error) bool {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	var locs, names []string
	var walk func(*jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if pn, ok := v.ErrorKind.(*kind.PropertyNames); ok {
			// The validator's location of a property name is not to be
			// trusted (it shares a slice that moves on); the name is.
			names = append(names, pn.Property)
		}
		var parts []string
		for _, s := range v.InstanceLocation {
			if strings.Trim(s, "0123456789") != "" {
				parts = append(parts, s)
			}
		}
		locs = append(locs, strings.Join(parts, "."))
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	parent := func(p string) string {
		if i := strings.LastIndexByte(p, '.'); i >= 0 {
			return p[:i]
		}
		return ""
	}
	for _, e := range errs {
		p := stripIndexes(e.Field)
		if slices.Contains(names, p[strings.LastIndexByte(p, '.')+1:]) {
			return true
		}
		for _, l := range locs {
			switch {
			case l == p,
				l == "" && !strings.Contains(p, "."),
				l != "" && (strings.HasPrefix(p, l+".") || strings.HasPrefix(l, p+".")),
				l != "" && strings.Contains(p, ".") && parent(l) == parent(p):
				return true
			}
		}
	}
	return false
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./spec -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./spec -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The valid corpus uses every field of the table: together with the
// decoder's check that every key it reads is in the table (known), this
// proves the decoder and the table agree field by field.
func TestCorpusCoversTable(t *testing.T) {
	used := map[string]bool{}
	for f, data := range readFiles(t, "testdata/valid/*.yaml") {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		collectPaths(doc.Content[0], "", used)
	}
	FieldTable().Walk(func(path string, _ *Field) {
		if path != "" && !used[path] {
			t.Errorf("no manifest in testdata/valid uses %s", path)
		}
	})
}

func collectPaths(n *yaml.Node, path string, used map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			used[p] = true
			collectPaths(n.Content[i+1], p, used)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			collectPaths(c, path, used)
		}
	}
}
