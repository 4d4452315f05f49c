package main

// Choosing programs: every verb that takes program names also takes
// -l/--selector (a Kubernetes label selector over metadata.labels) and
// --all, as supervice's groups and kubectl do. One helper, programSelection,
// turns names, a selector or --all into program names through the manifest
// store, so that every verb chooses alike.

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
)

// programSelection holds the -l/--selector and --all flags of one verb.
type programSelection struct {
	selector string
	all      bool
}

// addFlags adds -l/--selector and --all to cmd.
func (s *programSelection) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&s.selector, "selector", "l", "",
		"the programs whose metadata.labels match this label selector (team=web,tier!=batch; env in (prod,stage); !canary)")
	cmd.Flags().BoolVar(&s.all, "all", false, "every program in the directory")
}

// chosen reports whether -l or --all was given.
func (s *programSelection) chosen() bool { return s.all || s.selector != "" }

// resolve returns the programs the command line names: args as given, the
// manifests whose labels match the selector, or every manifest with --all.
// Names together with -l or --all, or -l with --all, are a usage error
// (exit 2), as is a selector that does not parse. With none of them it
// returns nil when optional (the verb then means every program), and a
// usage error otherwise. A selector or --all that finds no program is exit
// 1 with a message.
func (s *programSelection) resolve(g *globalOptions, args []string, optional bool) ([]string, error) {
	switch {
	case s.chosen() && len(args) > 0:
		return nil, &usageError{Err: errors.New("give program names, or -l SELECTOR, or --all, not more than one of them")}
	case s.all && s.selector != "":
		return nil, &usageError{Err: errors.New("give -l SELECTOR or --all, not both")}
	case s.all:
		names, err := allManifests(g)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, &exitError{Code: 1, Msg: "no manifests in " + g.dir}
		}
		return names, nil
	case s.selector != "":
		sel, err := labels.Parse(s.selector)
		if err != nil {
			return nil, &usageError{Err: fmt.Errorf("-l: %w", err)}
		}
		names, err := g.manifests().Select(sel)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, &exitError{Code: 1, Msg: fmt.Sprintf("no program in %s matches the selector %q", g.dir, s.selector)}
		}
		return names, nil
	case len(args) == 0 && !optional:
		return nil, &usageError{Err: errors.New("name at least one program, or use -l SELECTOR or --all")}
	}
	return args, nil
}
