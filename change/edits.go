package change

import (
	"fmt"
	"time"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// MaxReplicas is the largest spec.replicas a manifest may hold.
const MaxReplicas = 10000

// SetDesired sets spec.desired of the manifest of name: start (running)
// or stop (stopped).
func SetDesired(d manifest.Dir, name string, desired spec.Desired) (manifest.Result, error) {
	return d.Edit(name, func(b []byte) ([]byte, error) { return spec.SetDesired(b, desired) })
}

// Scale sets spec.replicas of the manifest of name to n.
func Scale(d manifest.Dir, name string, n int) (manifest.Result, error) {
	return d.Edit(name, func(b []byte) ([]byte, error) { return spec.SetReplicas(b, n) })
}

// ScaleBy adds delta to spec.replicas of the manifest of name, within 0 and
// MaxReplicas. The count it adds to is the one the edit read, so that two
// ScaleBy at once both count.
func ScaleBy(d manifest.Dir, name string, delta int) (manifest.Result, error) {
	return d.Edit(name, func(b []byte) ([]byte, error) {
		p, errs := spec.Parse(name+".yaml", b)
		if errs != nil {
			return nil, fmt.Errorf("read replicas: %w", errs)
		}
		n := min(max(p.Spec.Replicas+delta, 0), MaxReplicas)
		return spec.SetReplicas(b, n)
	})
}

// Restart asks for a rolling restart of name: it sets the annotation
// reconciled.dev/restartedAt to now (RestartedAt), which changes the spec
// hash, so the daemon replaces every instance per its updateStrategy.
func Restart(d manifest.Dir, name string, now time.Time) (manifest.Result, error) {
	return d.Edit(name, func(b []byte) ([]byte, error) { return RestartedAt(b, now) })
}

// RestartedAt sets the restart annotation of the manifest b to now in RFC
// 3339; if it already holds that second, to now with nanoseconds, so that a
// second restart within the same second still changes the spec hash.
func RestartedAt(b []byte, now time.Time) ([]byte, error) {
	out, err := spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339))
	if err == nil && string(out) == string(b) {
		out, err = spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339Nano))
	}
	return out, err
}

// Delete removes the manifest of name: the daemon stops the program's
// instances and removes its status file.
func Delete(d manifest.Dir, name string) error { return d.Delete(name) }
