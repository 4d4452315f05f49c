package top

import (
	"testing"

	"github.com/reconciled/reconciled/status"
)

// BenchmarkRedraw1000 is the work of one redraw after a change over 1000
// instances (10 programs of 100, expanded): every status file read again,
// the table laid out, the screen drawn. Figures: hack/bench/top.md.
func BenchmarkRedraw1000(b *testing.B) {
	f := newBench1000(b, 100)
	for b.Loop() {
		f.m.reload(changes{all: true})
		_ = f.m.View()
	}
}

// BenchmarkChange1000 is the work of one redraw after the daemon rewrote
// one program's status (100 of the 1000 instances): the common case.
func BenchmarkChange1000(b *testing.B) {
	f := newBench1000(b, 100)
	for b.Loop() {
		f.m.reload(changes{statuses: map[string]bool{"program-3": true}})
		_ = f.m.View()
	}
}

// BenchmarkView1000 is the drawing alone (a key press that moves the
// selection redraws only).
func BenchmarkView1000(b *testing.B) {
	f := newBench1000(b, 100)
	for b.Loop() {
		_ = f.m.View()
	}
}

// newBench1000 is a directory of 1000 instances: programs of per
// instances each, every program expanded.
func newBench1000(b *testing.B, per int) *fixture {
	ms := map[string]string{}
	for i := range 1000 / per {
		ms["program-"+itoa(i)] = manifestText(per)
	}
	f := newFixture(b, ms, true)
	for name := range ms {
		f.status(name, per, per*9/10, "BACKOFF", func(st *status.ProgramStatus) {})
	}
	f.m.expandAll(true)
	return f
}

// BenchmarkRedraw1000Programs is BenchmarkRedraw1000 over 1000 programs of
// one instance: 1000 manifests and 1000 status files read again.
func BenchmarkRedraw1000Programs(b *testing.B) {
	f := newBench1000(b, 1)
	for b.Loop() {
		f.m.reload(changes{all: true})
		_ = f.m.View()
	}
}

// BenchmarkManifestChange1000Programs is one manifest changed (a scale
// from the view or the command line) among 1000 programs of one
// instance: the manifest directory and that program's status change.
func BenchmarkManifestChange1000Programs(b *testing.B) {
	f := newBench1000(b, 1)
	for b.Loop() {
		f.m.reload(changes{manifests: true, statuses: map[string]bool{"program-3": true}})
		_ = f.m.View()
	}
}
