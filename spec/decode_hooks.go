package spec

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// hooks decodes spec.hooks: a list of {events, exec | httpPost, timeout},
// then checks it with ValidateHooks, each problem located at its field.
func (d *decoder) hooks(k, v *yaml.Node, path string) []Hook {
	if v.Kind != yaml.SequenceNode {
		d.add(k, path, "must be a list of {events, exec or httpPost, timeout}, not %s", describe(v))
		return nil
	}
	out := make([]Hook, 0, len(v.Content))
	items := map[string]*yaml.Node{}
	for i, item := range v.Content {
		item = deref(item)
		p := fmt.Sprintf("%s[%d]", path, i)
		items[p] = item
		var h Hook
		d.fields(item, p, []field{
			{"events", func(k, v *yaml.Node, p string) {
				if v.Kind != yaml.SequenceNode {
					d.add(k, p, "must be a list of event reasons, not %s", describe(v))
					return
				}
				for j, e := range v.Content {
					items[fmt.Sprintf("%s[%d]", p, j)] = deref(e)
				}
				h.Events = d.stringList(v, p)
			}},
			{"exec", func(k, v *yaml.Node, p string) { h.Exec = d.execAction(k, v, p, false) }},
			{"httpPost", func(k, v *yaml.Node, p string) {
				h.HTTPPost = &HTTPPostAction{}
				d.fields(v, p, []field{
					{"url", func(k, v *yaml.Node, p string) { h.HTTPPost.URL, _ = d.str(k, v, p) }},
					{"headers", func(k, v *yaml.Node, p string) { h.HTTPPost.Headers = d.stringMap(k, v, p) }},
				})
			}},
			{"timeout", func(k, v *yaml.Node, p string) { d.positiveDuration(k, v, p, &h.Timeout) }},
		})
		out = append(out, h)
	}
	for _, e := range ValidateHooks(out, path) {
		d.add(d.locate(e.Field, items, k), e.Field, "%s", e.Message)
	}
	return out
}

// locate returns the node of the field at path, or of the nearest field
// above it that has one.
func (d *decoder) locate(path string, items map[string]*yaml.Node, fallback *yaml.Node) *yaml.Node {
	for p := path; p != ""; {
		if n := d.at(p); n != nil {
			return n
		}
		if n := items[p]; n != nil {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return fallback
}

// lifecycle decodes spec.lifecycle: {preStart, preStop}, each {exec:
// {command}, timeout}.
func (d *decoder) lifecycle(n *yaml.Node, path string, l *Lifecycle) {
	hook := func(k, v *yaml.Node, p string) *LifecycleHook {
		h := &LifecycleHook{}
		d.fields(v, p, []field{
			{"exec", func(k, v *yaml.Node, p string) { h.Exec = d.execAction(k, v, p, true) }},
			{"timeout", func(k, v *yaml.Node, p string) { d.positiveDuration(k, v, p, &h.Timeout) }},
		})
		if h.Exec == nil {
			d.add(k, join(p, "exec"), "required: the command to run")
		}
		return h
	}
	d.fields(n, path, []field{
		{"preStart", func(k, v *yaml.Node, p string) { l.PreStart = hook(k, v, p) }},
		{"preStop", func(k, v *yaml.Node, p string) { l.PreStop = hook(k, v, p) }},
	})
}

// execAction decodes {command: list or string}, a string split as
// spec.command is; required: an empty command is an error here (else the
// caller's validation says so).
func (d *decoder) execAction(k, v *yaml.Node, path string, required bool) *ExecAction {
	a := &ExecAction{}
	d.fields(v, path, []field{{"command", func(k, v *yaml.Node, p string) {
		if v.Kind == yaml.SequenceNode {
			a.Command = d.stringList(v, p)
		} else if s, ok := d.str(k, v, p); ok {
			words, err := SplitWords(s)
			if err != nil {
				d.add(k, p, "%v", err)
			}
			a.Command = words
		}
	}}})
	if required && len(a.Command) == 0 {
		d.add(k, join(path, "command"), "required: the command to run")
	}
	return a
}
