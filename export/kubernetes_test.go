package export

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/reconciled/reconciled/spec"
)

// TestKubernetesStrict decodes every object back into the k8s.io/api
// types, refusing unknown fields, and runs the validation apimachinery can
// do without a server: names, labels, annotations, the selector against the
// pod's labels, env names, ports, and the rules of each kind.
func TestKubernetesStrict(t *testing.T) {
	for _, c := range exportCases() {
		if c.target != Kubernetes {
			continue
		}
		for _, f := range runCase(t, c).Files {
			where := c.name + "/" + f.Name
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(f.Data, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var errs field.ErrorList
			switch tm.Kind {
			case "Deployment":
				var d appsv1.Deployment
				strict(t, where, f.Data, &d)
				errs = append(errs, objectMeta(&d.ObjectMeta)...)
				errs = append(errs, selects(d.Spec.Selector, d.Spec.Template)...)
				errs = append(errs, podTemplate(d.Spec.Template, false)...)
				if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
					ru := d.Spec.Strategy.RollingUpdate
					if ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable.IntValue() < 1 {
						t.Errorf("%s: rolling update %v", where, ru)
					}
				}
				if pd := d.Spec.ProgressDeadlineSeconds; pd != nil && *pd <= d.Spec.MinReadySeconds {
					t.Errorf("%s: progressDeadlineSeconds %d <= minReadySeconds %d", where, *pd, d.Spec.MinReadySeconds)
				}
			case "StatefulSet":
				var s appsv1.StatefulSet
				strict(t, where, f.Data, &s)
				errs = append(errs, objectMeta(&s.ObjectMeta)...)
				errs = append(errs, selects(s.Spec.Selector, s.Spec.Template)...)
				errs = append(errs, podTemplate(s.Spec.Template, false)...)
				for _, msg := range validation.IsDNS1123Label(s.Spec.ServiceName) {
					t.Errorf("%s: serviceName: %s", where, msg)
				}
			case "Job":
				var j batchv1.Job
				strict(t, where, f.Data, &j)
				errs = append(errs, objectMeta(&j.ObjectMeta)...)
				errs = append(errs, podTemplate(j.Spec.Template, true)...)
				if *j.Spec.Completions != *j.Spec.Parallelism || *j.Spec.CompletionMode != batchv1.IndexedCompletion {
					t.Errorf("%s: completions %d, parallelism %d, mode %s", where, *j.Spec.Completions, *j.Spec.Parallelism, *j.Spec.CompletionMode)
				}
			default:
				t.Fatalf("%s: kind %q", where, tm.Kind)
			}
			for _, e := range errs {
				t.Errorf("%s: %v", where, e)
			}
		}
	}
}

func strict(t *testing.T, where string, data []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: strict decoding: %v", where, err)
	}
}

func objectMeta(m *metav1.ObjectMeta) field.ErrorList {
	return apivalidation.ValidateObjectMeta(m, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
}

func selects(sel *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) field.ErrorList {
	path := field.NewPath("spec", "selector")
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(path, sel, err.Error()))
	}
	if s.Empty() || !s.Matches(labels.Set(tmpl.Labels)) {
		errs = append(errs, field.Invalid(path, sel, "does not select the pod template's labels"))
	}
	return errs
}

func podTemplate(tmpl corev1.PodTemplateSpec, job bool) field.ErrorList {
	path := field.NewPath("spec", "template")
	errs := metav1validation.ValidateLabels(tmpl.Labels, path.Child("metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(tmpl.Annotations, path.Child("metadata", "annotations"))...)
	ps := tmpl.Spec
	switch rp := ps.RestartPolicy; {
	case job && rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure,
		!job && rp != corev1.RestartPolicyAlways:
		errs = append(errs, field.NotSupported[corev1.RestartPolicy](path.Child("spec", "restartPolicy"), rp, nil))
	}
	if len(ps.Containers) != 1 {
		return append(errs, field.Invalid(path.Child("spec", "containers"), len(ps.Containers), "want one"))
	}
	c := ps.Containers[0]
	cp := path.Child("spec", "containers").Index(0)
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
	}
	if c.Image == "" || len(c.Command) == 0 {
		errs = append(errs, field.Required(cp, "image and command"))
	}
	for i, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(cp.Child("env").Index(i).Child("name"), e.Name, msg))
		}
		if (e.Value != "") == (e.ValueFrom != nil) && e.ValueFrom != nil {
			errs = append(errs, field.Invalid(cp.Child("env").Index(i), e, "value and valueFrom"))
		}
	}
	for name, q := range c.Resources.Limits {
		if r := c.Resources.Requests[name]; r.Cmp(q) != 0 {
			errs = append(errs, field.Invalid(cp.Child("resources"), name, "request differs from limit"))
		}
	}
	for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if pr == nil {
			continue
		}
		if pr.PeriodSeconds < 1 || pr.TimeoutSeconds < 1 || pr.FailureThreshold < 1 || pr.SuccessThreshold < 1 {
			errs = append(errs, field.Invalid(cp, pr, "probe timings"))
		}
		for _, h := range []*corev1.TCPSocketAction{pr.TCPSocket} {
			if h != nil {
				errs = append(errs, portNum(cp, h.Port.IntValue())...)
			}
		}
		if h := pr.HTTPGet; h != nil {
			errs = append(errs, portNum(cp, h.Port.IntValue())...)
			if !strings.HasPrefix(h.Path, "/") {
				errs = append(errs, field.Invalid(cp, h.Path, "path"))
			}
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(cp.Child("livenessProbe"), c.LivenessProbe.SuccessThreshold, "must be 1"))
	}
	return errs
}

func portNum(p *field.Path, n int) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(n) {
		errs = append(errs, field.Invalid(p, n, msg))
	}
	return errs
}

// TestKubernetesEnvOrder checks the promise Kubernetes needs: every
// $(VAR) of an env value refers to an entry before it, unless a cycle
// makes that impossible.
func TestKubernetesEnvOrder(t *testing.T) {
	env := map[string]string{
		"A": "$(B)$(C)", "B": "$(C)", "C": "x", "D": "$(Z)$(A)", "Z": "$$(A) $(D)", "SELF": "$(SELF)",
	}
	order := envOrder(env)
	if len(order) != len(env) {
		t.Fatalf("envOrder = %v", order)
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for _, n := range []string{"A", "B"} {
		for _, ref := range references(env[n]) {
			if pos[ref] > pos[n] {
				t.Errorf("%s comes before %s, which it refers to: %v", n, ref, order)
			}
		}
	}
	if fmt.Sprint(order) != "[C B A SELF D Z]" {
		t.Errorf("envOrder = %v, want [C B A SELF D Z] (name order where free, a cycle broken at its first name)", order)
	}
}

// TestKubernetesInstance checks where RECONCILED_INSTANCE comes from in
// each kind.
func TestKubernetesInstance(t *testing.T) {
	base := loadDir(t, "../examples")
	for _, tc := range []struct {
		policy   spec.RestartPolicy
		replicas int
		kind     string
		want     string
	}{
		{spec.RestartAlways, 1, KindDeployment, `value: "0"`},
		{spec.RestartAlways, 2, KindDeployment, ""},
		{spec.RestartAlways, 2, KindStatefulSet, "metadata.labels['apps.kubernetes.io/pod-index']"},
		{spec.RestartNever, 2, KindDeployment, "metadata.annotations['batch.kubernetes.io/job-completion-index']"},
	} {
		p := *base[0]
		p.Spec.RestartPolicy, p.Spec.Replicas = tc.policy, tc.replicas
		r, err := Export(Kubernetes, []*spec.Program{&p}, Options{Kind: tc.kind})
		if err != nil {
			t.Fatal(err)
		}
		out := string(r.Files[0].Data)
		i := strings.Index(out, "name: RECONCILED_INSTANCE")
		switch {
		case tc.want == "" && i >= 0:
			t.Errorf("%+v: RECONCILED_INSTANCE is set:\n%s", tc, out)
		case tc.want != "" && (i < 0 || !strings.Contains(out[i:], tc.want)):
			t.Errorf("%+v: RECONCILED_INSTANCE is not %s:\n%s", tc, tc.want, out)
		}
	}
}

// TestKubernetesStopped: a stopped long-running program asks for no pods
// and keeps its replicas in an annotation.
func TestKubernetesStopped(t *testing.T) {
	p := *loadDir(t, "../examples")[1] // web
	p.Spec.Desired = spec.DesiredStopped
	r, err := Export(Kubernetes, []*spec.Program{&p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(r.Files[0].Data)
	for _, want := range []string{"  replicas: 0\n", ReplicasAnnotation + `: "2"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stopped web lacks %q:\n%s", want, out)
		}
	}
}
