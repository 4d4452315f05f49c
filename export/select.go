package export

import (
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/spec"
)

// ErrNoMatch is returned by Select when a selector matches no program.
var ErrNoMatch = errors.New("no program matches")

// Selection is which programs to export: names, a label selector, or all.
// Exactly one of them is given.
type Selection struct {
	Names    []string
	Selector string // Kubernetes label-selector syntax
	All      bool
}

// Validate checks that exactly one way of choosing is given and that the
// selector parses.
func (s Selection) Validate() error {
	n := 0
	if len(s.Names) > 0 {
		n++
	}
	if s.Selector != "" {
		n++
	}
	if s.All {
		n++
	}
	switch {
	case n == 0:
		return errors.New("name the programs to export, or give -l SELECTOR or --all")
	case n > 1:
		return errors.New("give program names, -l SELECTOR or --all, not several of them")
	}
	if s.Selector != "" {
		if _, err := labels.Parse(s.Selector); err != nil {
			return fmt.Errorf("-l %s: %w", s.Selector, err)
		}
	}
	return nil
}

// Matches reports whether p is selected by a selector or --all. Names are
// matched by the caller, which resolves them to files.
func (s Selection) Matches(p *spec.Program) (bool, error) {
	if s.All {
		return true, nil
	}
	if slices.Contains(s.Names, p.Metadata.Name) {
		return true, nil
	}
	if s.Selector == "" {
		return false, nil
	}
	sel, err := labels.Parse(s.Selector)
	if err != nil {
		return false, fmt.Errorf("-l %s: %w", s.Selector, err)
	}
	return sel.Matches(labels.Set(p.Metadata.Labels)), nil
}
