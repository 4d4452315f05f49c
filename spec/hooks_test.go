package spec

import (
	"strings"
	"testing"
	"time"
)

func TestValidateHooks(t *testing.T) {
	exec := &ExecAction{Command: []string{"notify-send", "$(RECONCILED_EVENT_REASON)"}}
	post := &HTTPPostAction{URL: "http://127.0.0.1:9000/alert", Headers: map[string]string{"X-Token": "$(TOKEN)"}}
	cases := []struct {
		name  string
		hooks []Hook
		want  []string // "field: message", messages cut after their first words
	}{
		{"the design's example", []Hook{
			{Events: []string{"Exited", "BackOff", "Fatal", "Unhealthy", "Flapping"}, Exec: exec, Timeout: 10 * time.Second},
			{Events: []string{"Fatal"}, HTTPPost: post},
		}, nil},
		{"a URL from a variable", []Hook{{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: "$(ALERT_URL)"}}}, nil},
		{"a host from a variable", []Hook{{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: "https://$(HOST):9000/x"}}}, nil},
		{"no events", []Hook{{Exec: exec}}, []string{"spec.hooks[0].events: must name at least one event reason"}},
		{"bad events", []Hook{{Events: []string{"fatal", "Crashed", "Fatal", "Fatal", "HookFailed", "HooksDropped"}, Exec: exec}}, []string{
			`spec.hooks[0].events[0]: unknown event reason "fatal" (did you mean "Fatal"?)`,
			`spec.hooks[0].events[1]: unknown event reason "Crashed" (known: Started,`,
			`spec.hooks[0].events[3]: duplicate event reason "Fatal"`,
			`spec.hooks[0].events[4]: a hook cannot run on HookFailed`,
			`spec.hooks[0].events[5]: a hook cannot run on HooksDropped`,
		}},
		{"no action", []Hook{{Events: []string{"Fatal"}}}, []string{"spec.hooks[0]: must set one of exec, httpPost"}},
		{"two actions", []Hook{{Events: []string{"Fatal"}, Exec: exec, HTTPPost: post}}, []string{"spec.hooks[0]: must set only one of exec, httpPost"}},
		{"empty commands", []Hook{
			{Events: []string{"Fatal"}, Exec: &ExecAction{}},
			{Events: []string{"Fatal"}, Exec: &ExecAction{Command: []string{""}}},
		}, []string{"spec.hooks[0].exec.command: must not be empty", "spec.hooks[1].exec.command[0]: must not be empty"}},
		{"bad URLs", []Hook{
			{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{}},
			{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: "ftp://host/x"}},
			{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: "http:///x"}},
		}, []string{
			"spec.hooks[0].httpPost.url: must not be empty",
			"spec.hooks[1].httpPost.url: must be an http:// or https:// URL",
			"spec.hooks[2].httpPost.url: must be an http:// or https:// URL with a host",
		}},
		{"bad header", []Hook{{Events: []string{"Fatal"}, HTTPPost: &HTTPPostAction{URL: "http://h", Headers: map[string]string{"X Token": "s3cret"}}}},
			[]string{"spec.hooks[0].httpPost.headers.X Token: is not a valid header name"}},
		{"negative timeout", []Hook{{Events: []string{"Fatal"}, Exec: exec, Timeout: -time.Second}}, []string{"spec.hooks[0].timeout: must be positive, not -1s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ValidateHooks(c.hooks, "spec.hooks")
			if len(errs) != len(c.want) {
				t.Fatalf("errors %q, want %q", errs, c.want)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), c.want[i]) {
					t.Errorf("error %d %q, want %q", i, e.Error(), c.want[i])
				}
				if strings.Contains(e.Error(), "s3cret") {
					t.Errorf("error %q holds a header value", e.Error())
				}
			}
		})
	}
}
