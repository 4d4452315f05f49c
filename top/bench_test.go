package top

import (
	"testing"

	"github.com/reconciled/reconciled/status"
)

// BenchmarkRedraw1000 is the work of one redraw after a change over 1000
// instances (10 programs of 100, expanded): every status file read again,
// the table laid out, the screen drawn. Figures: hack/bench/top.md.
func BenchmarkRedraw1000(b *testing.B) {
	ms := map[string]string{}
	for i := range 10 {
		ms["program-"+itoa(i)] = manifestText(100)
	}
	f := newFixture(b, ms, true)
	for name := range ms {
		f.status(name, 100, 90, "BACKOFF", func(st *status.ProgramStatus) {})
	}
	f.m.expandAll(true)
	for b.Loop() {
		f.m.reload(changes{all: true})
		_ = f.m.View()
	}
}

// BenchmarkChange1000 is the work of one redraw after the daemon rewrote
// one program's status (100 of the 1000 instances): the common case.
func BenchmarkChange1000(b *testing.B) {
	ms := map[string]string{}
	for i := range 10 {
		ms["program-"+itoa(i)] = manifestText(100)
	}
	f := newFixture(b, ms, true)
	for name := range ms {
		f.status(name, 100, 90, "BACKOFF", func(st *status.ProgramStatus) {})
	}
	f.m.expandAll(true)
	for b.Loop() {
		f.m.reload(changes{statuses: map[string]bool{"program-3": true}})
		_ = f.m.View()
	}
}

// BenchmarkView1000 is the drawing alone (a key press that moves the
// selection redraws only).
func BenchmarkView1000(b *testing.B) {
	ms := map[string]string{}
	for i := range 10 {
		ms["program-"+itoa(i)] = manifestText(100)
	}
	f := newFixture(b, ms, true)
	for name := range ms {
		f.status(name, 100, 90, "BACKOFF", func(st *status.ProgramStatus) {})
	}
	f.m.expandAll(true)
	for b.Loop() {
		_ = f.m.View()
	}
}
