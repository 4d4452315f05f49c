package manifest

import (
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/reconciled/reconciled/spec"
)

// Select returns the names of the manifests of d whose labels sel matches,
// sorted: what -l SELECTOR chooses, for every verb and for `top`. The
// labels of a manifest that is invalid now are read as far as its metadata
// decodes, so that a selector still finds it (a changing verb then refuses
// it with its errors); a manifest that cannot be read at all, or a
// duplicate, has no labels.
func (d Dir) Select(sel labels.Selector) ([]string, error) {
	l, err := d.List()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range l.Files {
		if sel.Matches(labels.Set(Labels(f.Path))) {
			names = append(names, f.Name)
		}
	}
	return names, nil
}

// Labels returns metadata.labels of the manifest at path, as far as they
// decode (nil when the file cannot be read or its metadata not decoded).
func Labels(path string) map[string]string {
	data, err := ReadFile(path)
	if err != nil {
		return nil
	}
	if p, errs := spec.Parse(path, data); errs == nil {
		return p.Metadata.Labels
	}
	var m struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(data, &m) != nil {
		return nil
	}
	return m.Metadata.Labels
}
