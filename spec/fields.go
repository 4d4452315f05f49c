package spec

// The field table: the one description of the manifest. The decoder takes
// the known keys of every mapping from it (decode_fields.go), the JSON
// Schema is generated from it (schema.go) and `reconciled explain` prints
// it (explain.go). Its entries live in fields_*.go.

import (
	"strings"
)

// TypeKind is the shape of a field's value.
type TypeKind int

// The kinds of values.
const (
	KindString   TypeKind = iota + 1 // text; Enum and Pattern may narrow it
	KindBool                         // true or false
	KindInt                          // a whole number, between Min and Max
	KindDuration                     // a Go duration string, or a number of seconds
	KindSize                         // bytes, with an optional unit: 50MiB, 1.5G
	KindMemory                       // a Kubernetes memory quantity: 512Mi, 1.5Gi
	KindCPU                          // a Kubernetes CPU quantity: 500m, 0.5, 2
	KindObject                       // a mapping of the known Fields
	KindMap                          // a mapping of free keys to values of Elem
	KindList                         // a list of values of Elem
	KindScalar                       // a string, number or boolean, taken as written
	KindUnion                        // one of OneOf: a string or a list, ...
)

// Type is what a field's value may be.
type Type struct {
	Kind TypeKind
	// Name, when set, is how explain names the type ("program name").
	Name string
	// Enum lists the values a string takes (KindString). With Pattern set
	// too, these are the canonical spellings and Pattern admits the others
	// (any case, a SIG prefix).
	Enum []string
	// Pattern is a regular expression, valid in Go and in ECMA-262, that a
	// string matches (KindString, and the keys of a KindMap).
	Pattern string
	// MaxLength bounds a string's length in characters when not 0.
	MaxLength int
	// Min and Max bound a KindInt; nil is no bound.
	Min, Max *int64
	// Unlimited says the string "unlimited" is taken too (spec.limits).
	Unlimited bool
	// Fields are a KindObject's fields, in the order the docs show them.
	Fields []*Field
	// ExactlyOne names fields of a KindObject of which exactly one is set
	// (a probe's action).
	ExactlyOne []string
	// Rules tie fields of a KindObject to each other.
	Rules []Rule
	// MinItems is the fewest items of a KindList.
	MinItems int
	// Elem is the type of a KindList's items or a KindMap's values.
	Elem *Type
	// Keys are a KindMap's keys that mean something to reconciled (the
	// annotations it reads); other keys are free.
	Keys []*Field
	// NotPattern is a pattern a KindMap's keys must not match.
	NotPattern string
	// OneOf are the alternatives of a KindUnion, in the order explain
	// shows them.
	OneOf []*Type
}

// Rule ties two fields of an object: when the field When is set (to
// Equals, unless it is nil), the field Field must be set (Required), must
// not be (Forbidden), or must be of Type.
type Rule struct {
	When      string
	Equals    any
	Field     string
	Required  bool
	Forbidden bool
	Type      *Type
}

// HashRule says whether a field is part of the spec hash (hash.go).
type HashRule int

// The hash rules. A field without a rule of its own takes its parent's.
const (
	HashInherit HashRule = iota
	// InHash fields change how a process runs: a change replaces running
	// instances per updateStrategy.
	InHash
	// NotInHash fields apply without restarting an instance.
	NotInHash
)

// Field is one field of the manifest and everything users are told about
// it.
type Field struct {
	Name string
	Type *Type
	// Required fields must be present.
	Required bool
	// Default is the value of an unset field as a manifest writes it
	// ("10s"); empty when the field has no literal default.
	Default string
	// DefaultText describes a default that is not a literal value ("the
	// daemon's user"); shown when Default is empty.
	DefaultText string
	// Doc says what the field means, in full sentences.
	Doc string
	// Supervisord and Kubernetes name the nearest equivalents, if any.
	Supervisord string
	Kubernetes  string
	// Hash says whether a change of the field restarts instances.
	Hash HashRule
}

// FieldTable returns the field table: the root field, whose type is the
// Program mapping. Each call builds a new table, so callers may keep or
// change what they get without affecting anyone else.
func FieldTable() *Field {
	return &Field{
		Name: "",
		Type: object(
			&Field{Name: "apiVersion", Type: &Type{Kind: KindString, Enum: []string{APIVersion}},
				Doc:  "The manifest's API version. Optional; if present it must be " + APIVersion + ".",
				Hash: NotInHash, Kubernetes: "apiVersion"},
			&Field{Name: "kind", Type: &Type{Kind: KindString, Enum: []string{Kind}},
				Doc:  "The manifest's kind. Optional; if present it must be " + Kind + ".",
				Hash: NotInHash, Kubernetes: "kind"},
			metadataField(),
			specField(),
		),
	}
}

func object(fields ...*Field) *Type { return &Type{Kind: KindObject, Fields: fields} }

// Child returns the field of an object (or of a union's object
// alternative) named name, or nil.
func (f *Field) Child(name string) *Field {
	if o := f.Type.object(); o != nil {
		for _, c := range o.Fields {
			if c.Name == name {
				return c
			}
		}
	}
	if m := f.Type.mapType(); m != nil {
		for _, k := range m.Keys {
			if k.Name == name {
				return k
			}
		}
	}
	return nil
}

// object returns the object type of t: t itself, its list element's, or
// that of its object alternative; nil if it has none.
func (t *Type) object() *Type {
	switch t.Kind {
	case KindObject:
		return t
	case KindList:
		return t.Elem.object()
	case KindUnion:
		for _, o := range t.OneOf {
			if o.Kind == KindObject {
				return o
			}
		}
	}
	return nil
}

func (t *Type) mapType() *Type {
	switch t.Kind {
	case KindMap:
		return t
	case KindUnion:
		for _, o := range t.OneOf {
			if o.Kind == KindMap {
				return o
			}
		}
	}
	return nil
}

// Children returns the fields below f: an object's fields, or a map's
// keys that mean something.
func (f *Field) Children() []*Field {
	if o := f.Type.object(); o != nil {
		return o.Fields
	}
	if m := f.Type.mapType(); m != nil {
		return m.Keys
	}
	return nil
}

// Lookup finds the field at path, dotted ("spec.readinessProbe.httpGet");
// list indexes ("dependsOn[0]") are ignored. Keys of a map that mean
// nothing to reconciled are not fields: Lookup returns nil for them, as for
// any unknown path. Annotation keys hold dots: they are matched whole.
func (f *Field) Lookup(path string) *Field {
	if path == "" {
		return f
	}
	fs := pathPrefixes(f, path)
	if fs == nil {
		return nil
	}
	return fs[len(fs)-1]
}

// stripIndexes removes the list indexes of a path: "a[0].b" is "a.b".
func stripIndexes(path string) string {
	if !strings.Contains(path, "[") {
		return path
	}
	var b strings.Builder
	skip := false
	for _, r := range path {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Walk calls fn for f and every field below it, depth first in table
// order, with each field's dotted path (the root's is "").
func (f *Field) Walk(fn func(path string, f *Field)) {
	f.walk("", fn)
}

func (f *Field) walk(path string, fn func(string, *Field)) {
	fn(path, f)
	for _, c := range f.Children() {
		c.walk(join(path, c.Name), fn)
	}
}

// Restarts reports whether a change of the field at path replaces running
// instances (it is in the spec hash), following the rule of the nearest
// field on the path that has one; ok is false for an unknown path or one
// without a rule (the root, metadata, spec).
func (f *Field) Restarts(path string) (restarts, ok bool) {
	rule := f.Hash
	parts := pathPrefixes(f, path)
	if parts == nil && path != "" {
		return false, false
	}
	for _, c := range parts {
		if c.Hash != HashInherit {
			rule = c.Hash
		}
	}
	if rule == HashInherit {
		return false, false
	}
	return rule == InHash, true
}

// pathPrefixes returns the fields along path, outermost first; nil for an
// unknown path.
func pathPrefixes(root *Field, path string) []*Field {
	var out []*Field
	cur := root
	rest := stripIndexes(path)
	for rest != "" {
		var next *Field
		for _, c := range cur.Children() {
			if (rest == c.Name || strings.HasPrefix(rest, c.Name+".")) && (next == nil || len(c.Name) > len(next.Name)) {
				next = c
			}
		}
		if next == nil {
			return nil
		}
		out = append(out, next)
		cur = next
		rest = strings.TrimPrefix(strings.TrimPrefix(rest, next.Name), ".")
	}
	return out
}

// fieldNames returns the names of fields, in order.
func fieldNames(fs []*Field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return names
}
