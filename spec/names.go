package spec

import (
	"path/filepath"
	"regexp"
	"strings"
)

// FileKind says what a directory entry is to the daemon.
type FileKind int

const (
	// Ignored names are not specs and are not reported: the daemon's own
	// files, hidden files and editor or package-manager leftovers.
	Ignored FileKind = iota
	// Manifest names are specs: NAME.yaml or NAME.yml with a valid NAME.
	Manifest
	// BadName is a .yaml or .yml file whose stem is not a valid program name;
	// it is reported and not run.
	BadName
)

// MaxNameLength is the longest program name, as for a Kubernetes label value.
const MaxNameLength = 63

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$`)

// ValidName reports whether name may name a program.
func ValidName(name string) bool {
	return len(name) <= MaxNameLength && nameRE.MatchString(name)
}

// Classify decides what the directory entry base (a base name, not a path) is,
// and for manifests returns the program name, the file's stem.
func Classify(base string) (FileKind, string) {
	if base == "" || strings.HasPrefix(base, ".") || isLeftover(base) || DaemonFile(base) {
		return Ignored, ""
	}
	ext := filepath.Ext(base)
	if ext != ".yaml" && ext != ".yml" {
		return Ignored, ""
	}
	stem := strings.TrimSuffix(base, ext)
	if !ValidName(stem) {
		return BadName, stem
	}
	return Manifest, stem
}

// ManifestFileNames returns the base names a manifest of the program name
// may have, the preferred one (for a new file) first: the inverse of
// Classify for a valid name.
func ManifestFileNames(name string) []string {
	return []string{name + ".yaml", name + ".yml"}
}

// DaemonFile reports whether base names a file that the daemon writes into
// its status directory, which is the manifest directory unless --status-dir
// says otherwise: NAME.status.yaml, NAME.events.jsonl, its backup
// NAME.events.jsonl.1, and the hidden temp files of status writes. Such a
// file is never a manifest, and a change of it is the daemon's own doing, no
// reason to read the directory again. (Package status, which writes these
// files, must name them so.)
func DaemonFile(base string) bool {
	return strings.HasSuffix(base, ".status.yaml") ||
		strings.HasSuffix(base, ".events.jsonl") || strings.HasSuffix(base, ".events.jsonl.1") ||
		strings.HasPrefix(base, ".") && strings.Contains(base, ".status.yaml.tmp")
}

// isLeftover matches the temporary and backup names that editors, dpkg and rpm
// leave beside the files they edit.
func isLeftover(base string) bool {
	switch {
	case base == "4913", // vim's write test
		strings.HasSuffix(base, "~"),
		strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"),
		strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasSuffix(base, ".tmp"), strings.HasSuffix(base, ".bak"),
		strings.Contains(base, ".dpkg-"), strings.Contains(base, ".rpm"):
		return true
	}
	return false
}
