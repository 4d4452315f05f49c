package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"k8s.io/client-go/util/jsonpath"

	"github.com/reconciled/reconciled/status"
)

// outputFormat is a parsed -o value: a name and, for jsonpath and
// custom-columns, what follows its "=".
type outputFormat struct {
	name string // table, wide, json, yaml, jsonpath, custom-columns
	arg  string
}

// parseOutput reads -o as kubectl does: table, wide, json, yaml,
// jsonpath=TEMPLATE, custom-columns=SPEC.
func parseOutput(o string) (outputFormat, error) {
	name, arg, hasArg := strings.Cut(o, "=")
	switch name {
	case "table", "wide", "json", "yaml":
		if !hasArg {
			return outputFormat{name: name}, nil
		}
	case "jsonpath", "custom-columns":
		if hasArg && arg != "" {
			return outputFormat{name: name, arg: arg}, nil
		}
		return outputFormat{}, &usageError{Err: fmt.Errorf("-o %s needs a value: -o %s=...", name, name)}
	}
	return outputFormat{}, &usageError{Err: fmt.Errorf("-o: %q is not one of table, wide, json, yaml, jsonpath=TEMPLATE, custom-columns=SPEC", o)}
}

// printYAML writes sts as a YAML list of status documents, each with its
// keys in the status file's order (status.Marshal), not sorted.
func printYAML(w io.Writer, sts []status.ProgramStatus) error {
	if len(sts) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	var b bytes.Buffer
	for _, st := range sts {
		doc, err := status.Marshal(st)
		if err != nil {
			return err
		}
		for i, line := range strings.SplitAfter(strings.TrimSuffix(string(doc), "\n"), "\n") {
			if i == 0 {
				b.WriteString("- ")
			} else {
				b.WriteString("  ")
			}
			b.WriteString(line)
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// queryObject is what -o jsonpath sees: the one program's status when
// exactly one was asked for by name, as kubectl get NAME does, otherwise a
// List with the statuses as items. It is the JSON form (-o json's keys),
// decoded as kubectl's unstructured objects are: whole numbers as int64.
func queryObject(sts []status.ProgramStatus, single bool) (any, error) {
	if single && len(sts) == 1 {
		return unstructured(sts[0])
	}
	items := make([]any, 0, len(sts))
	for _, st := range sts {
		u, err := unstructured(st)
		if err != nil {
			return nil, err
		}
		items = append(items, u)
	}
	return map[string]any{"apiVersion": status.APIVersion, "kind": "List", "items": items}, nil
}

// unstructured is v's JSON as maps, slices and scalars.
func unstructured(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var u any
	if err := d.Decode(&u); err != nil {
		return nil, err
	}
	return numbers(u), nil
}

// numbers turns the json.Numbers in v into int64 (whole) or float64, so
// that a filter such as ?(@.restarts > 2) compares numbers.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// printJSONPath writes the template evaluated on obj, with
// k8s.io/client-go's jsonpath (kubectl's): a missing key prints nothing.
func printJSONPath(w io.Writer, tmpl string, obj any) error {
	j := jsonpath.New("output").AllowMissingKeys(true)
	if err := j.Parse(tmpl); err != nil {
		return &usageError{Err: fmt.Errorf("-o jsonpath: %w", err)}
	}
	var b bytes.Buffer
	if err := j.Execute(&b, obj); err != nil {
		return fmt.Errorf("-o jsonpath: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// column is one column of -o custom-columns.
type column struct {
	header string
	path   *jsonpath.JSONPath
}

// parseColumns reads a custom-columns spec as kubectl does:
// HEADER:PATH[,HEADER:PATH...], each PATH a jsonpath with or without its
// braces and leading dot (.status.phase, status.phase, {.status.phase}).
func parseColumns(spec string) ([]column, error) {
	var cols []column
	for _, part := range strings.Split(spec, ",") {
		header, path, ok := strings.Cut(part, ":")
		if !ok || header == "" {
			return nil, fmt.Errorf("-o custom-columns: %q is not HEADER:PATH", part)
		}
		expr, err := relaxedPath(path)
		if err != nil {
			return nil, fmt.Errorf("-o custom-columns: %s: %w", header, err)
		}
		j := jsonpath.New(header).AllowMissingKeys(true)
		if err := j.Parse(expr); err != nil {
			return nil, fmt.Errorf("-o custom-columns: %s: %w", header, err)
		}
		cols = append(cols, column{header: header, path: j})
	}
	return cols, nil
}

// relaxedPathRE is kubectl's RelaxedJSONPathExpression: a path with or
// without braces and a leading dot.
var relaxedPathRE = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

func relaxedPath(p string) (string, error) {
	m := relaxedPathRE.FindStringSubmatch(p)
	if m == nil {
		return "", fmt.Errorf("%q is not a path such as .status.phase or {.status.phase}", p)
	}
	field := m[1]
	if field == "" {
		field = m[2]
	}
	return "{." + field + "}", nil
}

// printColumns writes one row per item, a column's several values joined
// by commas and a missing one shown as <none>, as kubectl does.
func printColumns(w io.Writer, cols []column, items []any) error {
	tw := tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, item := range items {
		cells := make([]string, len(cols))
		for i, c := range cols {
			results, err := c.path.FindResults(item)
			if err != nil {
				return fmt.Errorf("-o custom-columns: %s: %w", c.header, err)
			}
			var vals []string
			for _, r := range results {
				for _, v := range r {
					vals = append(vals, fmt.Sprint(v.Interface()))
				}
			}
			if len(vals) == 0 {
				vals = []string{"<none>"}
			}
			cells[i] = strings.Join(vals, ",")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
