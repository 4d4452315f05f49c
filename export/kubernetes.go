package export

// Kubernetes: a workload per program, from the k8s.io/api types, serialised
// with sigs.k8s.io/yaml (the JSON field names, keys sorted).
//
//	restartPolicy Always     -> apps/v1 Deployment (or StatefulSet with --kind)
//	restartPolicy OnFailure  -> batch/v1 Job, Indexed, pod restartPolicy OnFailure
//	restartPolicy Never      -> batch/v1 Job, Indexed, pod restartPolicy Never

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/reconciled/reconciled/spec"
)

// ProgramLabel is the label every exported object and pod carries, with
// the program's name: the workload's selector.
const ProgramLabel = "reconciled.dev/program"

// Labels and annotations Kubernetes itself gives a meaning.
const (
	kubectlRestartedAt   = "kubectl.kubernetes.io/restartedAt"
	podIndexLabel        = "apps.kubernetes.io/pod-index"
	jobCompletionIndexAn = "batch.kubernetes.io/job-completion-index"
)

func exportKubernetes(r *Result, progs []*spec.Program, o Options) error {
	kind := o.Kind
	switch kind {
	case "":
		kind = KindDeployment
	case KindDeployment, KindStatefulSet:
	default:
		return fmt.Errorf("--kind %q: use deployment or statefulset", o.Kind)
	}
	names := map[string]string{}
	for _, p := range progs {
		w := warnings{r: r, program: p.Metadata.Name}
		k := &k8sProgram{p: p, w: w, kind: kind, name: dnsName(p, w, "Kubernetes")}
		if err := checkUnique(names, k.name, p.Metadata.Name); err != nil {
			return err
		}
		k.image = o.Image
		if k.image == "" {
			k.image = p.Metadata.Annotations[ImageAnnotation]
		}
		if k.image == "" {
			return fmt.Errorf("%s: no container image: give --image or set the %s annotation", p.Metadata.Name, ImageAnnotation)
		}
		data, err := marshalKubernetes(k.object())
		if err != nil {
			return fmt.Errorf("%s: %w", p.Metadata.Name, err)
		}
		r.Files = append(r.Files, File{Name: p.Metadata.Name + ".yaml", Data: data, Mode: envFileMode(p)})
	}
	return nil
}

// k8sProgram is one program on its way to a workload.
type k8sProgram struct {
	p     *spec.Program
	w     warnings
	kind  string // for restartPolicy Always
	name  string // the objects' name, a DNS-1123 label
	image string
}

func (k *k8sProgram) isJob() bool { return k.p.Spec.RestartPolicy != spec.RestartAlways }

// object builds the program's workload.
func (k *k8sProgram) object() any {
	s := &k.p.Spec
	labels := k.labels()
	meta := metav1.ObjectMeta{Name: k.name, Labels: labels, Annotations: k.annotations()}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{ProgramLabel: k.p.Metadata.Name}}
	replicas := int32(s.Replicas)
	if s.Desired == spec.DesiredStopped && !k.isJob() {
		replicas = 0
	}
	template := k.podTemplate(labels)
	switch {
	case k.isJob():
		k.jobWarnings()
		return &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: meta,
			Spec: batchv1.JobSpec{
				Completions:    new(int32(s.Replicas)),
				Parallelism:    new(int32(s.Replicas)),
				CompletionMode: new(batchv1.IndexedCompletion),
				BackoffLimit:   new(k.backoffLimit()),
				Suspend:        k.suspend(),
				Template:       template,
			},
		}
	case k.kind == KindStatefulSet:
		k.statefulSetWarnings()
		return &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas:            &replicas,
				Selector:            selector,
				Template:            template,
				ServiceName:         k.name,
				PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy:      k.statefulSetStrategy(),
				MinReadySeconds:     k.minReadySeconds(),
			},
		}
	}
	k.deploymentWarnings()
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			Selector:                selector,
			Template:                template,
			Strategy:                k.deploymentStrategy(),
			MinReadySeconds:         k.minReadySeconds(),
			ProgressDeadlineSeconds: k.progressDeadline(),
		},
	}
}

// labels are the program's labels that Kubernetes accepts, plus
// ProgramLabel.
func (k *k8sProgram) labels() map[string]string {
	out := map[string]string{}
	for _, key := range sortedKeys(k.p.Metadata.Labels) {
		v := k.p.Metadata.Labels[key]
		if errs := metav1validation.ValidateLabels(map[string]string{key: v}, field.NewPath("metadata", "labels")); len(errs) > 0 {
			k.w.add("metadata.labels."+key, "not a valid Kubernetes label (%s): left out", errs.ToAggregate().Error())
			continue
		}
		out[key] = v
	}
	out[ProgramLabel] = k.p.Metadata.Name
	return out
}

// annotations are the workload's: the program's own annotations that
// Kubernetes accepts, and the replicas of a stopped program.
func (k *k8sProgram) annotations() map[string]string {
	out := map[string]string{}
	for _, key := range userDefinedAnnotations(k.p) {
		a := map[string]string{key: k.p.Metadata.Annotations[key]}
		if errs := apivalidation.ValidateAnnotations(a, field.NewPath("metadata", "annotations")); len(errs) > 0 {
			k.w.add("metadata.annotations."+key, "not a valid Kubernetes annotation (%s): left out", errs.ToAggregate().Error())
			continue
		}
		out[key] = a[key]
	}
	if k.p.Spec.Desired == spec.DesiredStopped && !k.isJob() {
		out[ReplicasAnnotation] = fmt.Sprint(k.p.Spec.Replicas)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// podTemplate is the pod of every kind: one container, the program.
func (k *k8sProgram) podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	s := &k.p.Spec
	restart := corev1.RestartPolicyAlways
	switch s.RestartPolicy {
	case spec.RestartOnFailure:
		restart = corev1.RestartPolicyOnFailure
	case spec.RestartNever:
		restart = corev1.RestartPolicyNever
	}
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{k.container()},
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: new(k.seconds("spec.stopTimeout", s.StopTimeout)),
		},
	}
	// kubectl rollout restart sets this very annotation: the same rolling
	// restart that reconciled's restartedAt asks for.
	if at, ok := k.p.Metadata.Annotations[spec.RestartedAtAnnotation]; ok {
		t.Annotations = map[string]string{kubectlRestartedAt: at}
	}
	return t
}

// seconds is d in whole seconds, rounded up, with a warning when that
// changes it.
func (k *k8sProgram) seconds(field string, d time.Duration) int64 {
	if !wholeSeconds(d) {
		k.w.add(field, "%v is rounded up to %ds: Kubernetes counts whole seconds", d, ceilSeconds(d))
	}
	return ceilSeconds(d)
}

func (k *k8sProgram) minReadySeconds() int32 {
	// A pod counts as available once ready for minReadySeconds, as an
	// instance counts as started once up for startSeconds.
	return int32(min(k.seconds("spec.startSeconds", k.p.Spec.StartSeconds), math.MaxInt32))
}

func (k *k8sProgram) deploymentStrategy() appsv1.DeploymentStrategy {
	u := k.p.Spec.UpdateStrategy
	if u.Type == spec.Recreate {
		return appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	// No surge: reconciled never runs two processes for one index.
	return appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: new(intstr.FromInt32(int32(u.MaxUnavailable))),
			MaxSurge:       new(intstr.FromInt32(0)),
		},
	}
}

func (k *k8sProgram) statefulSetStrategy() appsv1.StatefulSetUpdateStrategy {
	u := k.p.Spec.UpdateStrategy
	st := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	if u.Type == spec.Recreate {
		k.w.add("spec.updateStrategy.type", "Recreate has no equivalent in a StatefulSet: exported as RollingUpdate")
		return st
	}
	if u.MaxUnavailable != 1 {
		st.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: new(intstr.FromInt32(int32(u.MaxUnavailable)))}
	}
	return st
}

// progressDeadline is the Deployment's progressDeadlineSeconds from the
// reconciled.dev/progressDeadline annotation; Kubernetes wants it above
// minReadySeconds.
func (k *k8sProgram) progressDeadline() *int32 {
	if _, ok := k.p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]; !ok {
		return nil
	}
	field := "metadata.annotations." + spec.ProgressDeadlineAnnotation
	d := k.p.ProgressDeadline()
	s := ceilSeconds32(d)
	if !wholeSeconds(d) {
		k.w.add(field, "%v is rounded up to %ds: Kubernetes counts whole seconds", d, s)
	}
	if minReady := ceilSeconds32(k.p.Spec.StartSeconds); s <= minReady {
		k.w.add(field, "%v is raised to %ds: Kubernetes wants it longer than minReadySeconds (startSeconds)", d, minReady+1)
		s = minReady + 1
	}
	return &s
}

// backoffLimit is how many failed pods a Job allows. Under Never reconciled
// restarts nothing, so none. Under OnFailure it restarts every failed exit
// and gives up only after startRetries consecutive failed starts (exits
// within startSeconds); Kubernetes counts every failure, so startRetries is
// the nearest limit, and no limit when reconciled never gives up.
func (k *k8sProgram) backoffLimit() int32 {
	s := &k.p.Spec
	switch {
	case s.RestartPolicy == spec.RestartNever:
		return 0
	case s.StartRetries == 0 || s.StartSeconds == 0:
		return math.MaxInt32
	}
	if s.StartRetries != spec.DefaultStartRetries || s.StartSeconds != spec.DefaultStartSeconds {
		k.w.add("spec.startRetries", "exported as backoffLimit %d: Kubernetes counts every failed exit of the Job's pods, reconciled only consecutive exits within startSeconds (%v) of one instance", s.StartRetries, s.StartSeconds)
	}
	return int32(s.StartRetries)
}

func (k *k8sProgram) suspend() *bool {
	if k.p.Spec.Desired == spec.DesiredStopped {
		return new(true)
	}
	return nil
}

// deploymentWarnings name the fields a Deployment cannot carry.
func (k *k8sProgram) deploymentWarnings() {
	s := &k.p.Spec
	if s.Replicas > 1 {
		k.w.add("spec.replicas", "%s has no equivalent in a Deployment of %d pods, which are not numbered: it is not set (--kind statefulset numbers the pods)", spec.EnvInstance, s.Replicas)
	}
	k.longRunningWarnings()
}

func (k *k8sProgram) statefulSetWarnings() {
	if _, ok := k.p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]; ok {
		k.w.add("metadata.annotations."+spec.ProgressDeadlineAnnotation, "a StatefulSet has no progress deadline")
	}
	k.longRunningWarnings()
}

// longRunningWarnings name what neither a Deployment nor a StatefulSet has:
// the kubelet restarts a container with its own back-off, forever.
func (k *k8sProgram) longRunningWarnings() {
	s := &k.p.Spec
	if s.StartRetries != spec.DefaultStartRetries {
		k.w.add("spec.startRetries", "%d has no equivalent: Kubernetes restarts a crashing container forever (CrashLoopBackOff)", s.StartRetries)
	}
	k.restartDelayWarnings()
}

func (k *k8sProgram) jobWarnings() {
	s := &k.p.Spec
	if !isDefaultSuccessCodes(s.SuccessExitCodes) {
		k.w.add("spec.successExitCodes", "%v has no equivalent: a Job's pod succeeds only with exit code 0", s.SuccessExitCodes)
	}
	if s.UpdateStrategy != (spec.UpdateStrategy{Type: spec.RollingUpdate, MaxUnavailable: 1}) {
		k.w.add("spec.updateStrategy", "has no equivalent: a Job's pods are not updated, the Job is replaced")
	}
	if _, ok := k.p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]; ok {
		k.w.add("metadata.annotations."+spec.ProgressDeadlineAnnotation, "a Job has no progress deadline")
	}
	k.restartDelayWarnings()
}

func (k *k8sProgram) restartDelayWarnings() {
	s := &k.p.Spec
	k.w.supervisionWarnings(s, "the kubelet")
	if s.RestartDelay != spec.DefaultRestartDelay {
		k.w.add("spec.restartDelay", "%v has no equivalent: the kubelet's restart back-off is its own (10s doubling to 5m)", s.RestartDelay)
	}
	if s.MaxRestartDelay != spec.DefaultMaxRestartDelay {
		k.w.add("spec.maxRestartDelay", "%v has no equivalent: the kubelet's restart back-off is its own (10s doubling to 5m)", s.MaxRestartDelay)
	}
}

// marshalKubernetes serialises obj as kubectl would read it, without the
// empty status that the types always carry.
func marshalKubernetes(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "status")
	return yaml.Marshal(dropEmpty(m))
}

// dropEmpty removes the empty objects the types write for structs that
// are not pointers (resources: {}); none of the fields set here means
// anything when empty.
func dropEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			x = dropEmpty(x)
			if m, ok := x.(map[string]any); ok && len(m) == 0 {
				delete(v, k)
				continue
			}
			v[k] = x
		}
	case []any:
		for i, x := range v {
			v[i] = dropEmpty(x)
		}
	}
	return v
}
