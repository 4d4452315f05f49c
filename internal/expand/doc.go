// Package expand replaces $(VAR) references in strings with Kubernetes's
// rules. It is a leaf: spec (command, env, output paths), health (probe
// actions) and hooks (hook commands, URLs and headers) all expand through it,
// so that a reference means the same everywhere, and hooks can stay below
// spec (spec embeds the hook configuration types of package hooks).
//
// Invariants: expansion is one pass and never recursive (a value that holds
// $(X) after substitution keeps it); an unknown or unterminated reference is
// kept as written; $$ is a literal $.
package expand
