package spec

// Inserting missing keys into a block mapping (at its siblings' indentation,
// with the file's line endings) or into a flow mapping.

import (
	"errors"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// insert adds the missing keys rest (the last one with the value) to the
// mapping of the last level.
func (e *editor) insert(levels []level, rest []string, flow bool) ([]byte, error) {
	lv := levels[len(levels)-1]
	m := lv.m
	if flow {
		return e.insertFlow(m, rest)
	}
	if len(m.Content) == 0 {
		return nil, fmt.Errorf("%w: %s is an empty mapping", ErrNotEditable, strings.Join(e.path[:len(levels)-1], "."))
	}
	src := e.src
	indent := m.Content[0].Column - 1
	step := 2
	if len(levels) > 1 {
		parent := levels[len(levels)-2]
		if d := indent - (parent.m.Content[2*parent.key].Column - 1); d > 0 {
			step = d
		}
	} else if v := findKey(m, "spec"); v >= 0 && m.Content[2*v+1].Kind == yaml.MappingNode &&
		m.Content[2*v+1].Style&yaml.FlowStyle == 0 && len(m.Content[2*v+1].Content) > 0 {
		if d := m.Content[2*v+1].Content[0].Column - m.Content[2*v].Column; d > 0 {
			step = d
		}
	}
	var lines []string
	for i, k := range rest {
		key, err := render(k, TagStr, 0, false)
		if err != nil {
			return nil, err
		}
		line := strings.Repeat(" ", indent+i*step) + key + ":"
		if i == len(rest)-1 {
			val, err := render(e.value, e.tag, 0, false)
			if err != nil {
				return nil, err
			}
			line += " " + val
		}
		lines = append(lines, line)
	}
	text := strings.Join(lines, src.eol) + src.eol

	// Where: after the last line of the mapping's content, or, for a new key
	// of the root (metadata), just before spec.
	pairs := len(m.Content) / 2
	after := pairs - 1
	if len(levels) == 1 {
		if s := findKey(m, "spec"); s >= 0 {
			after = s - 1
		}
	}
	if after < 0 {
		off, ok := src.offset(m.Content[0].Line, 1)
		if !ok {
			return nil, fmt.Errorf("%w: cannot locate %s", ErrNotEditable, rest[0])
		}
		return splice(src.data, off, off, text), nil
	}
	bound := e.bound(levels, after)
	last := src.lastContentLine(m.Content[2*after].Line, bound)
	off, nl := src.lineEnd(last)
	if !nl {
		text = src.eol + text
	}
	return splice(src.data, off, off, text), nil
}

// bound is the first line that is no longer part of the value of key after
// in the innermost mapping: the line of the next key there or in an
// enclosing mapping, or of a document marker, or the line after the last.
func (e *editor) bound(levels []level, after int) int {
	bound := e.src.docEnd()
	next := func(m *yaml.Node, i int) int {
		if 2*(i+1) < len(m.Content) {
			return m.Content[2*(i+1)].Line
		}
		return 0
	}
	if l := next(levels[len(levels)-1].m, after); l > 0 {
		return min(l, bound)
	}
	for i := len(levels) - 2; i >= 0; i-- {
		if l := next(levels[i].m, levels[i].key); l > 0 {
			return min(l, bound)
		}
	}
	return bound
}

// insertFlow adds "key: value" (or "key: {k2: value}") before the closing
// brace of the flow mapping m.
func (e *editor) insertFlow(m *yaml.Node, rest []string) ([]byte, error) {
	src := e.src
	open, ok := src.offset(m.Line, m.Column)
	if !ok || open >= len(src.data) || src.data[open] != '{' {
		return nil, fmt.Errorf("%w: cannot locate the flow mapping of %s", ErrNotEditable, strings.Join(e.path[:len(e.path)-len(rest)], "."))
	}
	lastSig, err := flowEnd(src.data, open)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	val, err := render(e.value, e.tag, 0, true)
	if err != nil {
		return nil, err
	}
	text := val
	for i := len(rest) - 1; i >= 0; i-- {
		key, err := render(rest[i], TagStr, 0, true)
		if err != nil {
			return nil, err
		}
		if i == len(rest)-1 {
			text = key + ": " + text
		} else {
			text = key + ": {" + text + "}"
		}
	}
	at := lastSig + 1
	switch c := src.data[lastSig]; {
	case lastSig == open: // {}
	case c == ',':
		text = " " + text
	default:
		text = ", " + text
	}
	return splice(src.data, at, at, text), nil
}

// flowEnd scans the flow collection opening at b[open] and returns the
// offset of the last significant byte before its closing bracket (not a
// space, not in a comment).
func flowEnd(b []byte, open int) (lastSig int, err error) {
	depth := 0
	lastSig = open
	for i := open; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return lastSig, nil
			}
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '\'':
			for i++; i < len(b); i++ {
				if b[i] == '\'' {
					if i+1 < len(b) && b[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case c == '#' && i > 0 && isSpace(b[i-1]):
			for i < len(b) && b[i] != '\n' {
				i++
			}
			continue
		case isSpace(c):
			continue
		}
		lastSig = i
	}
	return 0, errors.New("unterminated flow mapping")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
