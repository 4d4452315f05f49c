package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/status"
)

const eventsSuffix = ".events.jsonl"

type eventsOptions struct {
	follow bool
	since  time.Duration
	output string
}

func newEventsCommand(g *globalOptions) *cobra.Command {
	o := &eventsOptions{}
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "events [NAME... | -l SELECTOR]",
		Short: "Print the events of every program, or of the named ones",
		Long: `Print the event records of the named programs (all programs when none is named),
oldest first, from NAME.events.jsonl and its rotated NAME.events.jsonl.1 in the
status directory. -o json prints the records as they are stored, one JSON object
a line, for jq. With -f, keep printing new events until interrupted.`,
		Example: `  reconciled events
  reconciled events worker --since 10m
  reconciled events -f
  reconciled events -l team=payments --since 1h
  reconciled events worker -o json | jq -r 'select(.type=="Warning") | .message'`,
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "table", "json":
			default:
				return &usageError{Err: fmt.Errorf("-o: %q is not one of table, json", o.output)}
			}
			args, err := sel.resolve(g, args, true)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var since time.Time
			if o.since > 0 {
				since = time.Now().Add(-o.since)
			}
			out := &countingWriter{w: cmd.OutOrStdout()}
			err = followEvents(ctx, out, g.statusDirOf(), args, since, o.output == "json", o.follow, time.Local)
			if err == nil && out.n == 0 && !o.follow {
				diag(cmd.ErrOrStderr(), "no events")
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().DurationVar(&o.since, "since", 0, "only events newer than this, such as 10m or 2h")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	sel.addFlags(cmd)
	return cmd
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// eventFiles lists the events files of names, or of every program.
func eventFiles(dir string, names []string) []string {
	if len(names) > 0 {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = status.EventsPath(dir, n)
		}
		return out
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*"+eventsSuffix))
	var out []string
	for _, m := range matches {
		if !strings.HasPrefix(filepath.Base(m), ".") {
			out = append(out, m)
		}
	}
	return out
}

// followEvents prints the events of names (all programs when empty) newer
// than since, merged by time; with follow it keeps printing new ones.
func followEvents(ctx context.Context, w io.Writer, dir string, names []string, since time.Time, asJSON, follow bool, loc *time.Location) error {
	// Each file is read through a tailer from its start, so that following
	// continues exactly where the first read ended; NAME.events.jsonl.1
	// (the rotated older part) is read once.
	tails := map[string]*tailer{}
	var all []status.Event
	for _, p := range eventFiles(dir, names) {
		if old, _, err := regfile.ReadTail(p+".1", false, status.MaxEventsRead); err == nil {
			all = append(all, status.ParseEvents(old)...)
		}
		t := newTailer(p)
		tails[p] = t
		all = append(all, status.ParseEvents(t.lines())...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	header := !asJSON
	print := func(evs []status.Event) {
		for _, ev := range evs {
			if !since.IsZero() && ev.Time.Before(since) {
				continue
			}
			if asJSON {
				b, _ := ev.MarshalJSON()
				fmt.Fprintf(w, "%s\n", b)
				continue
			}
			if header {
				fmt.Fprintln(w, eventHeader)
				header = false
			}
			fmt.Fprintln(w, eventRow(ev, loc))
		}
	}
	print(all)
	defer func() {
		for _, t := range tails {
			t.close()
		}
	}()
	if !follow {
		return nil
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, p := range eventFiles(dir, names) {
			if tails[p] == nil {
				tails[p] = newTailer(p)
			}
		}
		var fresh []status.Event
		for _, t := range tails {
			fresh = append(fresh, status.ParseEvents(t.lines())...)
		}
		sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].Time.Before(fresh[j].Time) })
		print(fresh)
	}
}

const eventHeader = "TIME                 TYPE     REASON       OBJECT                  MESSAGE"

func eventRow(ev status.Event, loc *time.Location) string {
	obj := ev.Instance
	if obj == "" {
		obj = ev.Program
	}
	return strings.TrimRight(fmt.Sprintf("%-19s  %-7s  %-11s  %-22s  %s", ev.Time.In(loc).Format("2006-01-02 15:04:05"), ev.Type, ev.Reason, obj, ev.Message), " ")
}

// tailer follows an append-only file that may be rotated (renamed away and
// replaced): it returns whole new lines.
type tailer struct {
	path    string
	f       *os.File
	partial []byte
}

// newTailer follows path from its start; a missing file is looked for
// again at every call of lines.
func newTailer(path string) *tailer {
	t := &tailer{path: path}
	t.open()
	return t
}

// open opens the file, if it is a regular file (not a FIFO that would
// block the reads, nor a link to /dev/zero that would never end them), at
// its last status.MaxEventsRead bytes: an events file of ours is rotated
// long before that, and the torn first line is skipped by ParseEvents.
func (t *tailer) open() {
	f, err := regfile.Open(t.path, false)
	if err != nil {
		return
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > status.MaxEventsRead {
		if _, err := f.Seek(fi.Size()-status.MaxEventsRead, io.SeekStart); err != nil {
			f.Close()
			return
		}
	}
	t.f = f
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// lines returns the whole lines appended since the last call.
func (t *tailer) lines() []byte {
	if t.f == nil {
		t.open()
		if t.f == nil {
			return nil
		}
	}
	// At most MaxEventsRead a call: a file that grows without end (not
	// ours) cannot hold the reader.
	data, _ := io.ReadAll(io.LimitReader(t.f, status.MaxEventsRead))
	if regfile.Replaced(t.f, t.path) {
		// Rotated: the rest of the old file was read above; the new
		// one is read from its start.
		t.f.Close()
		t.f = nil
		t.open()
		if t.f != nil {
			more, _ := io.ReadAll(io.LimitReader(t.f, status.MaxEventsRead))
			data = append(data, more...)
		}
	}
	data = append(t.partial, data...)
	t.partial = nil
	if i := strings.LastIndexByte(string(data), '\n'); i < len(data)-1 {
		t.partial = append([]byte(nil), data[i+1:]...)
		data = data[:i+1]
	}
	return data
}
