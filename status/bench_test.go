package status

import (
	"context"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/internal/waitfor"
)

// BenchmarkWriterStaleness: an op is one update of a program's status, with
// the real clock and the default interval, until it is on disk (read back
// every millisecond). ns/op is the staleness of a status file, which
// docs/reference.md promises within a second.
//
//	go test -run '^$' -bench WriterStaleness -benchtime 50x ./status
func BenchmarkWriterStaleness(b *testing.B) {
	dir := b.TempDir()
	w := NewWriter(WriterOptions{Dir: dir, Clock: clock.Real{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for i := range b.N {
		w.Update(status("w", i))
		if !waitfor.UntilEvery(waitTimeout, time.Millisecond, func() bool {
			got, ok := restartsOnDisk(dir, "w")
			return ok && got == i
		}) {
			b.Fatalf("update %d not on disk within %v", i, waitTimeout)
		}
	}
}
