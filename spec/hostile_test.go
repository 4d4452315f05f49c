package spec

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hostileManifests are inputs meant to hurt a YAML reader: each must be
// refused with located errors (or, for the harmless ones, parsed), without
// unbounded memory.
func hostileManifests() map[string]string {
	var bomb strings.Builder // "billion laughs": 9 levels of 9 aliases
	bomb.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for c := 'b'; c <= 'i'; c++ {
		fmt.Fprintf(&bomb, "%c: &%c [", c, c)
		for i := range 9 {
			if i > 0 {
				bomb.WriteString(",")
			}
			fmt.Fprintf(&bomb, "*%c", c-1)
		}
		bomb.WriteString("]\n")
	}
	bombSpec := strings.Replace(bomb.String(), "i: &i", "spec:\n  command: &i", 1)
	bombSpec = strings.Replace(bombSpec, "a: &a", "metadata: {labels: &a {x: y}}\nz: &a", 1)
	return map[string]string{
		"alias bomb":                 bomb.String(),
		"alias bomb in spec":         bombSpec,
		"alias bomb in env":          "x: &x {A: b}\nspec:\n  command: x\n  env: {" + strings.Repeat("<<: *x, ", 1) + "B: c}\n",
		"deep flow nesting":          "spec:\n  command: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
		"deep block nesting":         deepBlock(1400), // 10000 levels of indentation would pass 1 MiB
		"deep nesting in a mapping":  "spec: " + strings.Repeat("{a: ", 10000) + "x" + strings.Repeat("}", 10000) + "\n",
		"1 MiB line":                 "spec:\n  command: \"" + strings.Repeat("x", MaxManifestSize-40) + "\"\n",
		"1 MiB comment":              "# " + strings.Repeat("x", MaxManifestSize-100) + "\nspec: {command: x}\n",
		"over 1 MiB":                 "spec: {command: x}\n#" + strings.Repeat("x", MaxManifestSize),
		"NUL byte":                   "spec:\n  command: \"a\x00b\"\n",
		"NUL in a comment":           "spec: {command: x} # \x00\n",
		"invalid UTF-8":              "spec:\n  command: \"\xff\xfe\"\n",
		"UTF-16 BOM":                 "\xff\xfes\x00p\x00",
		"duplicate top-level key":    "spec: {command: x}\nspec: {command: y}\n",
		"duplicate env key":          "spec:\n  command: x\n  env: {A: b, A: c}\n",
		"duplicate label key":        "metadata: {labels: {a: b, a: c}}\nspec: {command: x}\n",
		"many keys":                  "spec:\n  command: x\n  env:\n" + strings.Repeat("    A: b\n", 20000),
		"many errors":                strings.Repeat("bogus: 1\n", 50000),
		"a long key":                 strings.Repeat("k", 100000) + ": 1\nspec: {command: x}\n",
		"anchors on everything":      "spec: &s {command: &c x, replicas: &r 2}\n",
		"self-referencing alias":     "spec: &s {command: x, env: *s}\n",
		"merge key":                  "base: &b {command: x}\nspec: {<<: *b}\n",
		"document markers":           "---\nspec: {command: x}\n...\n---\n",
		"tabs":                       "spec:\n\tcommand: x\n",
		"a tag":                      "spec: !!binary aGVsbG8=\n",
		"a custom tag":               "spec: !foo {command: x}\n",
		"complex key":                "? [a, b]\n: c\nspec: {command: x}\n",
		"huge number":                "spec:\n  command: x\n  replicas: 1" + strings.Repeat("0", 5000) + "\n",
		"huge duration":              "spec:\n  command: x\n  stopTimeout: " + strings.Repeat("9", 400) + "h\n",
		"empty":                      "",
		"only a comment":             "# nothing\n",
		"only a scalar":              "hunter2-xyz\n",
		"carriage returns":           "spec:\r\n  command: x\r\n",
		"a NUL-separated pair":       "spec: {command: x}\x00spec: {command: y}\n",
		"unterminated flow sequence": "spec:\n  command: [a\n",
	}
}

// deepBlock is n levels of block mappings under spec.
func deepBlock(n int) string {
	var b strings.Builder
	b.WriteString("spec:\n")
	for i := 1; i < n; i++ {
		b.WriteString(strings.Repeat(" ", i))
		b.WriteString("a:\n")
	}
	b.WriteString(strings.Repeat(" ", n))
	b.WriteString("x\n")
	return b.String()
}

// TestHostileManifests: each hostile input gives a program or located
// errors, and costs a bounded amount of memory to read.
func TestHostileManifests(t *testing.T) {
	for name, data := range hostileManifests() {
		t.Run(name, func(t *testing.T) {
			in := []byte(data)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, errs := Parse("w.yaml", in)
			runtime.ReadMemStats(&after)
			if (p == nil) == (errs == nil) {
				t.Fatalf("want a program or errors: %v %v", p, errs)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Column < 1 || !strings.HasPrefix(e.Error(), "w.yaml:") {
					t.Errorf("unlocated error %q", e.Error())
				}
				if len(e.Error()) > 1000 {
					t.Errorf("an error of %d bytes: %.200q...", len(e.Error()), e.Error())
				}
			}
			if len(errs) > MaxErrors+1 {
				t.Errorf("%d errors, more than the cap %d", len(errs), MaxErrors)
			}
			// A bound on what one read may cost, not a speed: the daemon
			// must stay small while it reads any of these.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("reading it allocated %d MiB", alloc>>20)
			}
			if testing.Verbose() {
				first := ""
				if len(errs) > 0 {
					first = errs[0].Error()
				}
				t.Logf("%d errors, %d KiB allocated: %.200s", len(errs), (after.TotalAlloc-before.TotalAlloc)>>10, first)
			}
		})
	}
}

// TestErrorsQuoteNoSecrets: where a mapping or a list belongs, a string
// found instead may be anything, a token pasted into the wrong file: the
// error names the field and the type, never the value.
func TestErrorsQuoteNoSecrets(t *testing.T) {
	const secret = "hunter2-xyz"
	for _, data := range []string{
		secret + "\n",
		"\"" + secret + "\"\n",
		"spec: " + secret + "\n",
		"metadata: " + secret + "\nspec: {command: x}\n",
		"metadata: {labels: " + secret + "}\nspec: {command: x}\n",
		"metadata: {annotations: " + secret + "}\nspec: {command: x}\n",
		"spec: {command: x, env: " + secret + "}\n",
		"spec: {command: x, env: [" + secret + "]}\n",
		"spec: {command: x, env: {A: [" + secret + "]}}\n",
		"spec: {command: x, dependsOn: " + secret + "}\n",
		"spec: {command: x, successExitCodes: " + secret + "}\n",
		"spec: {command: x, readinessProbe: " + secret + "}\n",
		"spec: {command: x, stdout: {file: [" + secret + "]}}\n",
		"spec: {command: x, updateStrategy: " + secret + "}\n",
		"spec: {command: x, resources: " + secret + "}\n",
		"- " + secret + "\n",
	} {
		_, errs := Parse("w.yaml", []byte(data))
		if errs == nil {
			t.Errorf("%q: valid", data)
			continue
		}
		if bytes.Contains([]byte(errs.Error()), []byte(secret)) {
			t.Errorf("%q: the error quotes the value: %v", data, errs)
		}
	}
}
