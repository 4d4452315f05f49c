package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestNomadStrict decodes every job back into api.Job, refusing unknown
// fields; writes it again to the same bytes; and checks that Canonicalize
// (what the Nomad client does before it submits a job) leaves every field
// set here as it was set. Then it applies the rules that Nomad's server
// checks and that are known to bite: restart and update timings, check
// intervals and types per provider, port labels, service names.
func TestNomadStrict(t *testing.T) {
	for _, c := range exportCases() {
		if c.target != Nomad {
			continue
		}
		for _, f := range runCase(t, c).Files {
			where := c.name + "/" + f.Name
			job := decodeJob(t, where, f.Data)
			again, err := marshalNomad(job)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, f.Data) {
				t.Errorf("%s: does not survive decoding:\n%s", where, again)
			}
			canon := decodeJob(t, where, f.Data)
			canon.Canonicalize()
			for _, d := range changedBy(reflect.ValueOf(job), reflect.ValueOf(canon), "Job") {
				t.Errorf("%s: Canonicalize changed %s", where, d)
			}
			for _, e := range nomadRules(canon) {
				t.Errorf("%s: %s", where, e)
			}
		}
	}
}

func decodeJob(t *testing.T, where string, data []byte) *api.Job {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var job api.Job
	if err := dec.Decode(&job); err != nil {
		t.Fatalf("%s: strict decoding: %v", where, err)
	}
	return &job
}

// changedBy lists the fields set in a (non-nil pointers, non-zero values,
// map keys, list items) whose value differs in b.
func changedBy(a, b reflect.Value, path string) []string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() {
			return nil
		}
		if b.IsNil() {
			return []string{path + " (now unset)"}
		}
		return changedBy(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		var out []string
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				out = append(out, changedBy(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)...)
			}
		}
		return out
	case reflect.Map:
		var out []string
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				out = append(out, fmt.Sprintf("%s[%v] (now unset)", path, it.Key()))
				continue
			}
			out = append(out, changedBy(it.Value(), bv, fmt.Sprintf("%s[%v]", path, it.Key()))...)
		}
		return out
	case reflect.Slice:
		if a.Len() == 0 {
			return nil
		}
		if b.Len() != a.Len() {
			return []string{fmt.Sprintf("%s (length %d, now %d)", path, a.Len(), b.Len())}
		}
		var out []string
		for i := range a.Len() {
			out = append(out, changedBy(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if a.IsZero() || reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %v -> %v", path, a.Interface(), b.Interface())}
}

var nomadServiceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// nomadRules are checks of Nomad's server (nomad/structs) that a job can
// fail, restated: the api module has no validation of its own.
func nomadRules(job *api.Job) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if *job.Type != "service" && *job.Type != "batch" {
		bad("type %q", *job.Type)
	}
	for _, g := range job.TaskGroups {
		rp := g.RestartPolicy
		if !slices.Contains([]string{"fail", "delay"}, *rp.Mode) || (*rp.Attempts == 0 && *rp.Mode != "fail") {
			bad("restart mode %q with %d attempts", *rp.Mode, *rp.Attempts)
		}
		if *rp.Interval < 5*time.Second || time.Duration(*rp.Attempts)**rp.Delay > *rp.Interval {
			bad("restart %d attempts of %v in %v", *rp.Attempts, *rp.Delay, *rp.Interval)
		}
		if u := g.Update; u != nil && *job.Type == "service" {
			if *u.MinHealthyTime >= *u.HealthyDeadline || (*u.ProgressDeadline != 0 && *u.HealthyDeadline >= *u.ProgressDeadline) || *u.MaxParallel < 1 {
				bad("update %+v", *u)
			}
		}
		labels := map[string]bool{}
		for _, n := range g.Networks {
			for _, p := range n.ReservedPorts {
				labels[p.Label] = true
			}
		}
		for _, task := range g.Tasks {
			if task.Config["command"] == "" {
				bad("task %s has no command", task.Name)
			}
			for _, s := range task.Services {
				if !nomadServiceName.MatchString(s.Name) {
					bad("service name %q", s.Name)
				}
				if s.PortLabel != "" && !labels[s.PortLabel] {
					bad("service port %q is no label of the group", s.PortLabel)
				}
				allowed := []string{"http", "tcp"}
				if s.Provider == api.ServiceProviderConsul {
					allowed = append(allowed, "script")
				}
				for _, c := range s.Checks {
					if !slices.Contains(allowed, c.Type) {
						bad("check %s of type %s with provider %s", c.Name, c.Type, s.Provider)
					}
					if c.Interval < time.Second || c.Timeout < time.Second {
						bad("check %s every %v, timeout %v", c.Name, c.Interval, c.Timeout)
					}
					if c.Type != "script" && !labels[c.PortLabel] {
						bad("check %s port %q is no label of the group", c.Name, c.PortLabel)
					}
					if c.Type == "http" && (c.Path == "" || c.Path[0] != '/') {
						bad("check %s path %q", c.Name, c.Path)
					}
				}
			}
		}
	}
	return errs
}

func TestHCLTemplate(t *testing.T) {
	n := &nomadProgram{w: warnings{r: &Result{}, program: "x"}}
	for _, tc := range []struct {
		in   expr
		want string
	}{
		{expr{{kind: segText, text: "a ${b} %{c} $d"}}, "a $${b} %%{c} $d"},
		{expr{{kind: segText, text: "$"}, {kind: segVar, text: "P"}}, `${"$"}${P}`},
		{expr{{kind: segInstance}}, "${RECONCILED_INSTANCE}"},
		{expr{{kind: segOuter, text: "HOME"}}, `${env["HOME"]}`},
	} {
		if got := n.hclTemplate("f", tc.in); got != tc.want {
			t.Errorf("hclTemplate(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
