package spec

// The JSON Schema of the manifest, generated from the field table: what an
// editor (yaml-language-server) completes and checks while a manifest is
// written. It says what the decoder says wherever JSON Schema can say it;
// what it cannot (a name equal to the file's stem, maxRestartDelay at least
// restartDelay, group needing user, a dependency on oneself) only the
// decoder checks.

import (
	"bytes"
	"encoding/json"

	yaml "go.yaml.in/yaml/v3"
)

// SchemaDialect is the JSON Schema draft the schema declares.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// Patterns of the scalars, in the syntax Go and ECMA-262 share. They admit
// what the parsers in values.go and quantity.go admit, spaces aside.
const (
	decimalPattern  = `([0-9]+(\.[0-9]*)?|\.[0-9]+)`
	durationPattern = `^\s*[+]?((` + decimalPattern + `(ns|us|µs|μs|ms|s|m|h))+|` + decimalPattern + `([eE][+-]?[0-9]+)?)\s*$`
	sizePattern     = `^\s*` + decimalPattern + `\s*([kKmMgGtT][iI]?[bB]?|[bB])?\s*$`
	// memoryPattern is sizePattern without a bare lower-case m: that is
	// Kubernetes's milli, refused for memory.
	memoryPattern = `^\s*` + decimalPattern + `\s*([kKgGtT][iI]?[bB]?|M[iI]?[bB]?|m[iI][bB]?|m[bB]|[bB])?\s*$`
	cpuPattern    = `^\s*` + decimalPattern + `m?\s*$`
)

// Schema returns the JSON Schema (draft 2020-12) of a manifest as indented
// JSON ending in a newline: `reconciled schema` prints it and
// spec/program.schema.json is a copy.
func Schema() []byte {
	root := FieldTable()
	s := jsonObject{
		{"$schema", SchemaDialect},
		{"title", "reconciled Program"},
		{"description", "A reconciled manifest: one program, in a file NAME.yaml of the watched directory. " +
			"`reconciled explain FIELD` tells more about each field."},
	}
	s = append(s, typeSchema(root.Type)...)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	// Every value is a string, number, bool, slice or jsonObject: Encode
	// cannot fail.
	_ = enc.Encode(s)
	return b.Bytes()
}

// jsonObject is a JSON object that keeps its keys in order, so the
// generated schema reads in the order of the manifest.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, v := range []any{m.key, m.value} {
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return nil, err
			}
			b.Truncate(b.Len() - 1) // Encode's newline
			if j == 0 {
				b.WriteByte(':')
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func fieldSchema(f *Field) jsonObject {
	s := jsonObject{}
	if f.Doc != "" {
		s = append(s, jsonMember{"description", f.Doc})
	}
	if f.Default != "" {
		var v any
		if err := yaml.Unmarshal([]byte(f.Default), &v); err == nil {
			s = append(s, jsonMember{"default", v})
		}
	}
	return append(s, typeSchema(f.Type)...)
}

func typeSchema(t *Type) jsonObject {
	var s jsonObject
	switch t.Kind {
	case KindString:
		s = stringSchema(t)
	case KindBool:
		s = jsonObject{{"type", "boolean"}}
	case KindInt:
		s = jsonObject{{"type", "integer"}}
		if t.Min != nil {
			s = append(s, jsonMember{"minimum", *t.Min})
		}
		if t.Max != nil {
			s = append(s, jsonMember{"maximum", *t.Max})
		}
	case KindDuration:
		s = numberOrPattern("number", durationPattern)
	case KindSize:
		s = numberOrPattern("integer", sizePattern)
	case KindMemory:
		s = numberOrPattern("number", memoryPattern)
	case KindCPU:
		s = numberOrPattern("number", cpuPattern)
	case KindScalar:
		s = jsonObject{{"type", []string{"string", "number", "boolean", "null"}}}
	case KindObject:
		s = objectSchema(t)
	case KindMap:
		s = mapSchema(t)
	case KindList:
		s = jsonObject{{"type", "array"}, {"items", typeSchema(t.Elem)}}
		if t.MinItems > 0 {
			s = append(s, jsonMember{"minItems", t.MinItems})
		}
	case KindUnion:
		alts := make([]any, len(t.OneOf))
		for i, o := range t.OneOf {
			alts[i] = typeSchema(o)
		}
		s = jsonObject{{"anyOf", alts}}
	}
	if t.Unlimited {
		s = jsonObject{{"anyOf", []any{s, jsonObject{{"const", "unlimited"}}}}}
	}
	return s
}

func stringSchema(t *Type) jsonObject {
	s := jsonObject{{"type", "string"}}
	if t.Pattern != "" {
		s = append(s, jsonMember{"pattern", t.Pattern})
	}
	if t.MaxLength > 0 {
		s = append(s, jsonMember{"maxLength", t.MaxLength})
	}
	if len(t.Enum) == 0 {
		return s
	}
	vals := make([]any, 0, len(t.Enum)+1)
	for _, v := range t.Enum {
		vals = append(vals, v)
		if v == string(OutputNull) {
			// stdout: null is the null target, and YAML reads it as null.
			vals = append(vals, nil)
		}
	}
	if t.Pattern != "" {
		// The canonical spellings first, for completion; the pattern
		// admits the rest.
		return jsonObject{{"anyOf", []any{jsonObject{{"enum", vals}}, s}}}
	}
	return jsonObject{{"enum", vals}}
}

func numberOrPattern(number, pattern string) jsonObject {
	return jsonObject{{"anyOf", []any{
		jsonObject{{"type", number}, {"minimum", 0}},
		jsonObject{{"type", "string"}, {"pattern", pattern}},
	}}}
}

func objectSchema(t *Type) jsonObject {
	props := jsonObject{}
	var required []string
	for _, f := range t.Fields {
		props = append(props, jsonMember{f.Name, fieldSchema(f)})
		if f.Required {
			required = append(required, f.Name)
		}
	}
	s := jsonObject{{"type", "object"}, {"properties", props}, {"additionalProperties", false}}
	if len(required) > 0 {
		s = append(s, jsonMember{"required", required})
	}
	if len(t.ExactlyOne) > 0 {
		alts := make([]any, len(t.ExactlyOne))
		for i, name := range t.ExactlyOne {
			alts[i] = jsonObject{{"required", []string{name}}}
		}
		s = append(s, jsonMember{"oneOf", alts})
	}
	if len(t.Rules) > 0 {
		rules := make([]any, len(t.Rules))
		for i, r := range t.Rules {
			rules[i] = ruleSchema(r)
		}
		s = append(s, jsonMember{"allOf", rules})
	}
	return s
}

// ruleSchema is a Rule as if/then.
func ruleSchema(r Rule) jsonObject {
	cond := jsonObject{{"required", []string{r.When}}}
	if r.Equals != nil {
		cond = append(cond, jsonMember{"properties", jsonObject{{r.When, jsonObject{{"const", r.Equals}}}}})
	}
	var then jsonObject
	switch {
	case r.Required:
		then = jsonObject{{"required", []string{r.Field}}}
	case r.Forbidden:
		then = jsonObject{{"not", jsonObject{{"required", []string{r.Field}}}}}
	default:
		then = jsonObject{{"properties", jsonObject{{r.Field, typeSchema(r.Type)}}}}
	}
	return jsonObject{{"if", cond}, {"then", then}}
}

func mapSchema(t *Type) jsonObject {
	s := jsonObject{{"type", "object"}}
	names := jsonObject{{"minLength", 1}}
	if t.Pattern != "" {
		names = append(names, jsonMember{"pattern", t.Pattern})
	}
	if t.NotPattern != "" {
		names = append(names, jsonMember{"not", jsonObject{{"pattern", t.NotPattern}}})
	}
	s = append(s, jsonMember{"propertyNames", names})
	if len(t.Keys) > 0 {
		props := jsonObject{}
		for _, k := range t.Keys {
			props = append(props, jsonMember{k.Name, fieldSchema(k)})
		}
		s = append(s, jsonMember{"properties", props})
	}
	return append(s, jsonMember{"additionalProperties", typeSchema(t.Elem)})
}
