package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// Hash is the spec hash: "sha256:" and the hex digest of the fields that
// change how a process runs, in a canonical form, so equivalent spellings
// (10 and 10s, a command string and the same argv as a list, key order,
// comments) hash equally.
//
// Covered: command (after splitting), env, workingDir, user, group, umask,
// nice, ioNice, limits, resources, lifecycle, stdout, stderr, both probes, the
// reconciled.dev/restartedAt annotation, and the variables envFrom's files
// give (p.EnvFromVars, not the files' names: moving a file changes nothing;
// not read yet, they count as none). A change of any of these replaces
// instances per updateStrategy. ioNice, limits, resources, lifecycle and envFrom are
// left out of the canonical form while not set, so a manifest that does not
// use them hashes as it did before they existed.
//
// Not covered, applied to running instances without restarting them:
// replicas and desired (scaling and up/down), labels and other annotations,
// and the supervision settings that govern what the daemon does around a
// process rather than how the process runs: restartPolicy, successExitCodes,
// startSeconds, startRetries, restartDelay, maxRestartDelay, stopSignal,
// stopTimeout, dependsOn and updateStrategy.
func Hash(p *Program) string {
	env := make([][2]string, 0, len(p.Spec.Env))
	for k, v := range p.Spec.Env {
		env = append(env, [2]string{k, v})
	}
	sort.Slice(env, func(i, j int) bool { return env[i][0] < env[j][0] })
	// What envFrom's files say, but what env overrides: that never reaches
	// a process, so changing it replaces nothing.
	var fileEnv [][2]string
	for k, v := range p.EnvFromVars {
		if _, own := p.Spec.Env[k]; !own {
			fileEnv = append(fileEnv, [2]string{k, v})
		}
	}
	sort.Slice(fileEnv, func(i, j int) bool { return fileEnv[i][0] < fileEnv[j][0] })
	h := struct {
		Command        []string
		Env            [][2]string
		WorkingDir     string
		User, Group    string
		Umask          *uint32
		Nice           int
		Stdout, Stderr Output
		Readiness      *Probe
		Liveness       *Probe
		RestartedAt    string
		IONice         *IONice     `json:",omitempty"`
		Limits         []Rlimit    `json:",omitempty"`
		Resources      *Resources  `json:",omitempty"`
		EnvFrom        [][2]string `json:",omitempty"`
		Lifecycle      *Lifecycle  `json:",omitempty"`
	}{
		Command:     p.Spec.Command,
		Env:         env,
		WorkingDir:  p.Spec.WorkingDir,
		User:        p.Spec.User,
		Group:       p.Spec.Group,
		Umask:       p.Spec.Umask,
		Nice:        p.Spec.Nice,
		Stdout:      p.Spec.Stdout,
		Stderr:      p.Spec.Stderr,
		Readiness:   p.Spec.ReadinessProbe,
		Liveness:    p.Spec.LivenessProbe,
		RestartedAt: p.Metadata.Annotations[RestartedAtAnnotation],
		IONice:      p.Spec.IONice,
		Limits:      p.Spec.Limits,
		EnvFrom:     fileEnv,
	}
	if l := p.Spec.Lifecycle; l.PreStart != nil || l.PreStop != nil {
		h.Lifecycle = &l
	}
	if !p.Spec.Resources.IsZero() {
		r := p.Spec.Resources
		h.Resources = &r
	}
	// Every field above is a plain value, so Marshal cannot fail.
	b, _ := json.Marshal(h)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
