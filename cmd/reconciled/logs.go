package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/status"
)

// followPoll is how often -f looks for new output.
const followPoll = 100 * time.Millisecond

type logsOptions struct {
	follow     bool
	tail       int
	stdout     bool
	stderr     bool
	since      time.Duration
	sinceTime  string
	timestamps bool
	previous   bool
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "logs NAME[-i] | -l SELECTOR | --all",
		Short: "Print the output of a program's instances",
		Long: `Print what instance i of NAME (NAME-i) wrote, its standard output and standard
error merged in the order the daemon read them (--stdout or --stderr: one of
them). Without an index, print every instance's output, each line prefixed
"NAME-i | "; with -l or --all, that of every instance of every program chosen,
program after program. With -f, keep printing what they write until
interrupted.

--timestamps puts before each line the time the daemon read it (RFC 3339, to
the millisecond: lines read within a millisecond share one); --since 10m or
--since-time 2026-11-22T10:00:00Z prints only what came later. --previous
prints the previous run of the instance only: the run before the running
process, or before the last run when none is running (as kubectl logs
--previous); otherwise every run is printed, as the files keep them.

The logs are the files the daemon writes for "stdout: auto" and "stderr: auto":
.reconciled/logs/NAME-i.stdout.log and NAME-i.stderr.log in the status
directory, rotated at 50MiB (NAME-i.stdout.log.1 is the previous one), and
NAME-i.index, which records when each chunk arrived. A file is created with
the instance's first output: an instance that has written nothing yet prints
nothing (and -f waits for it). With "inherit" or "null" there is none; a
{file: PATH} target is that file, which logs does not read.`,
		Example: `  reconciled logs web
  reconciled logs web-1 -f --timestamps
  reconciled logs worker-0 --previous
  reconciled logs worker --tail 50 --stderr
  reconciled logs web --since 10m
  reconciled logs -l team=payments --tail 20`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeInstances(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := o.filter()
			if err != nil {
				return err
			}
			names, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			streams := o.streams()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dir := filepath.Join(g.statusDirOf(), reconciler.StateDirName, "logs")
			r := &logReader{dir: dir, streams: streams, opts: o, filter: f, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(),
				statusDir: g.statusDirOf()}
			if sel.chosen() {
				// Every instance of every program chosen, prefixed.
				r.prefix = true
				return r.run(ctx, func() []string {
					var all []string
					for _, name := range names {
						all = append(all, findInstances(dir, name, streams)...)
					}
					return all
				})
			}
			program, index := resolveInstance(g, args[0])
			var find func() []string
			if index >= 0 {
				find = func() []string { return existing(dir, fmt.Sprintf("%s-%d", program, index), streams) }
			} else {
				find = func() []string { return findInstances(dir, program, streams) }
			}
			found := find()
			if i := strings.LastIndexByte(args[0], '-'); len(found) == 0 && index < 0 && i > 0 {
				// A deleted program's logs stay: NAME-i without a manifest.
				if n, err := strconv.Atoi(args[0][i+1:]); err == nil && n >= 0 && args[0][i+1:] == strconv.Itoa(n) {
					program, index = args[0][:i], n
					find = func() []string { return existing(dir, args[0], streams) }
					found = find()
				}
			}
			what := "log"
			if len(streams) == 1 {
				what = streams[0] + " log"
			}
			if len(found) == 0 {
				if !instanceKnown(g, program, index) {
					return &exitError{Code: 1, Msg: fmt.Sprintf("no %s of %s in %s (only stdout/stderr: auto writes one)", what, args[0], dir)}
				}
				// A log file appears with the instance's first output.
				diag(cmd.ErrOrStderr(), "no %s from %s yet", strings.TrimSuffix(what, "log")+"output", args[0])
			}
			r.prefix = index < 0
			return r.run(ctx, find)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new output until interrupted")
	cmd.Flags().IntVar(&o.tail, "tail", -1, "print only the last N lines of each instance (-1: all)")
	cmd.Flags().BoolVar(&o.stdout, "stdout", false, "print standard output only")
	cmd.Flags().BoolVar(&o.stderr, "stderr", false, "print standard error only")
	cmd.Flags().DurationVar(&o.since, "since", 0, "print only what came in this last duration (5s, 10m, 2h)")
	cmd.Flags().StringVar(&o.sinceTime, "since-time", "", "print only what came after this time (RFC 3339)")
	cmd.Flags().BoolVar(&o.timestamps, "timestamps", false, "put the time each line came before it")
	cmd.Flags().BoolVarP(&o.previous, "previous", "p", false, "print the previous run of the instance only")
	sel.addFlags(cmd)
	return cmd
}

// streams returns the streams to print.
func (o *logsOptions) streams() []string {
	switch {
	case o.stdout && !o.stderr:
		return []string{"stdout"}
	case o.stderr && !o.stdout:
		return []string{"stderr"}
	}
	return []string{"stdout", "stderr"}
}

// filter checks the flags and returns what they keep.
func (o *logsOptions) filter() (lineFilter, error) {
	var f lineFilter
	switch {
	case o.stdout && o.stderr:
		return f, &usageError{Err: errors.New("--stdout and --stderr: give one, or neither for both")}
	case o.since != 0 && o.sinceTime != "":
		return f, &usageError{Err: errors.New("--since and --since-time: give one")}
	case o.since < 0:
		return f, &usageError{Err: fmt.Errorf("--since: %v is negative", o.since)}
	case o.previous && o.follow:
		return f, &usageError{Err: errors.New("--previous and -f: a previous run writes no more")}
	case o.tail < -1:
		return f, &usageError{Err: fmt.Errorf("--tail: %d is not a number of lines (-1: all)", o.tail)}
	}
	if o.since > 0 {
		f.since = time.Now().Add(-o.since)
	}
	if o.sinceTime != "" {
		t, err := time.Parse(time.RFC3339Nano, o.sinceTime)
		if err != nil {
			return f, &usageError{Err: fmt.Errorf("--since-time: %q is not an RFC 3339 time (2026-11-22T10:00:00Z)", o.sinceTime)}
		}
		f.since = t
	}
	return f, nil
}

// lineFilter keeps the lines that --since and --previous ask for.
type lineFilter struct {
	since time.Time // zero: every line
	// runs keeps the lines of the runs that began in (lo, hi]; nil: all.
	runs *runWindow
}

type runWindow struct{ lo, hi time.Time }

func (w runWindow) holds(run time.Time) bool {
	return !run.IsZero() && run.After(w.lo) && !run.After(w.hi)
}

// keep reports whether l is printed. A line without a known time (older
// than the arrival index) is older than any --since and in no run.
func (f lineFilter) keep(l logLine) bool {
	if !f.since.IsZero() && (l.at.IsZero() || l.at.Before(f.since)) {
		return false
	}
	return f.runs == nil || f.runs.holds(l.run)
}

// logReader prints the logs of instances.
type logReader struct {
	dir       string
	statusDir string
	streams   []string
	opts      *logsOptions
	filter    lineFilter
	prefix    bool // "NAME-i | " before each line
	out       io.Writer
	errOut    io.Writer
	unended   bool // the last line printed had no newline: printed as it is
}

// run prints the instances find lists, one after the other, and with -f
// goes on printing what they write, and the output of instances find lists
// later, until ctx is done.
func (r *logReader) run(ctx context.Context, find func() []string) error {
	logs := map[string]*instanceLog{}
	var order []string
	defer func() {
		for _, l := range logs {
			l.close()
		}
	}()
	var failed []string
	for _, name := range find() {
		l := newInstanceLog(r.dir, name, r.streams)
		logs[name] = l
		order = append(order, name)
		if err := r.first(l); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if !r.opts.follow {
		if len(failed) > 0 {
			return &exitError{Code: 1, Msg: strings.Join(failed, "\nreconciled: ")}
		}
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
		for _, name := range find() {
			if logs[name] == nil {
				logs[name] = newInstanceLog(r.dir, name, r.streams)
				order = append(order, name)
			}
		}
		for _, name := range order {
			for _, line := range logs[name].poll(false, nil) {
				r.print(name, line)
			}
		}
	}
}

// first prints what an instance has written so far: with --tail its last
// lines, with --previous its previous run.
func (r *logReader) first(l *instanceLog) error {
	if r.opts.previous {
		lines := l.poll(true, nil)
		w, err := r.previousRun(l, lines)
		if err != nil {
			return err
		}
		f := r.filter
		f.runs = &w
		r.printLast(l.name, lines, f)
		return nil
	}
	var start func(*streamLog) int64
	if r.opts.tail >= 0 && r.filter.since.IsZero() {
		// The last N lines merged are among the last N of each stream.
		tail := r.opts.tail
		start = func(s *streamLog) int64 { return tailStart(s.f, tail) }
	}
	lines := l.poll(!r.opts.follow, start)
	if !l.hasIndex() && (r.opts.timestamps || !r.filter.since.IsZero()) {
		diag(r.errOut, "%s: no arrival index (%s): the times of its lines are not known", l.name, output.IndexName(l.name))
	}
	r.printLast(l.name, lines, r.filter)
	return nil
}

// printLast prints the lines f keeps, the last --tail of them.
func (r *logReader) printLast(name string, lines []logLine, f lineFilter) {
	kept := lines[:0]
	for _, line := range lines {
		if f.keep(line) {
			kept = append(kept, line)
		}
	}
	if n := r.opts.tail; n >= 0 && len(kept) > n {
		kept = kept[len(kept)-n:]
	}
	for _, line := range kept {
		r.print(name, line)
	}
}

func (r *logReader) print(name string, l logLine) {
	if !r.filter.keep(l) {
		return
	}
	var b bytes.Buffer
	if r.unended {
		b.WriteByte('\n') // a last line without a newline, and yet more came
		r.unended = false
	}
	if r.prefix {
		b.WriteString(name)
		b.WriteString(" | ")
	}
	if r.opts.timestamps {
		if l.at.IsZero() {
			b.WriteString("-")
		} else {
			b.WriteString(l.at.UTC().Format(timestampLayout))
		}
		b.WriteByte(' ')
	}
	b.Write(l.text)
	if l.nl || r.prefix || r.opts.timestamps {
		b.WriteByte('\n')
	} else {
		r.unended = true
	}
	_, _ = r.out.Write(b.Bytes())
}

// timestampLayout is RFC 3339 to the millisecond, in UTC: fixed width.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// previousRun returns the window of run starts of the instance's previous
// run. The status file tells the runs apart: a run's output is set up after
// the exit before it and before its own exit, so the exits recorded
// (recentExits, newest first) bound the runs. Without them (the program was
// deleted, or no exit is recorded), it is the run before the last one that
// wrote anything.
func (r *logReader) previousRun(l *instanceLog, lines []logLine) (runWindow, error) {
	cut := strings.LastIndexByte(l.name, '-')
	program := l.name[:cut]
	index, _ := strconv.Atoi(l.name[cut+1:])
	if st, err := status.ReadFile(status.StatusPath(r.statusDir, program)); err == nil {
		for _, in := range st.Status.Instances {
			if in.Index != index {
				continue
			}
			exits := in.RecentExits
			if len(exits) == 0 && in.LastExit != nil {
				exits = []status.Exit{*in.LastExit}
			}
			skip := 0 // the exit that ends the previous run
			if in.Pid == 0 {
				skip = 1 // none running: the last run is the current one
			}
			if len(exits) > skip {
				w := runWindow{hi: exits[skip].At}
				if len(exits) > skip+1 {
					w.lo = exits[skip+1].At
				}
				return w, nil
			}
			return runWindow{}, fmt.Errorf("%s has no previous run", l.name)
		}
	}
	var runs []time.Time
	for _, line := range lines {
		if !line.run.IsZero() && (len(runs) == 0 || !runs[len(runs)-1].Equal(line.run)) {
			runs = append(runs, line.run)
		}
	}
	sort.Slice(runs, func(a, b int) bool { return runs[a].Before(runs[b]) })
	if len(runs) < 2 {
		if !l.hasIndex() {
			return runWindow{}, fmt.Errorf("%s: no arrival index (%s): its runs are not known", l.name, output.IndexName(l.name))
		}
		return runWindow{}, fmt.Errorf("%s has no previous run", l.name)
	}
	prev := runs[len(runs)-2]
	return runWindow{lo: prev.Add(-1), hi: prev}, nil
}

// instanceKnown reports whether the status file of program lists instance
// index (any instance when index < 0): one that may not have written yet.
func instanceKnown(g *globalOptions, program string, index int) bool {
	st, err := status.ReadFile(status.StatusPath(g.statusDirOf(), program))
	if err != nil {
		return false
	}
	for _, in := range st.Status.Instances {
		if index < 0 || in.Index == index {
			return true
		}
	}
	return false
}

// existing returns [instance] when a log file of one of its streams exists.
func existing(dir, instance string, streams []string) []string {
	for _, s := range streams {
		if _, err := os.Stat(filepath.Join(dir, output.LogName(instance, s))); err == nil {
			return []string{instance}
		}
	}
	return nil
}

// findInstances lists the instances of program that have a log file of one
// of streams, sorted by index.
func findInstances(dir, program string, streams []string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[int]bool{}
	var idx []int
	for _, e := range entries {
		n := e.Name()
		rest, ok := strings.CutPrefix(n, program+"-")
		if !ok {
			continue
		}
		for _, s := range streams {
			num, ok := strings.CutSuffix(rest, "."+s+".log")
			if !ok {
				continue
			}
			i, err := strconv.Atoi(num)
			if err != nil || i < 0 || strconv.Itoa(i) != num {
				continue // another program's: "web-api-0" is not an instance of "web"
			}
			if !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = program + "-" + strconv.Itoa(i)
	}
	return out
}

// tailStart returns the offset in f where its last n lines begin (a last
// line without a newline counts as one).
func tailStart(f *os.File, n int) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	size := fi.Size()
	if n == 0 {
		return size
	}
	const chunk = 64 << 10
	seen := 0
	end := size
	for end > 0 {
		start := max(0, end-chunk)
		b := make([]byte, end-start)
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || start+int64(i) == size-1 {
				continue // a final newline ends the last line, it does not start one
			}
			if seen++; seen == n {
				return start + int64(i) + 1
			}
		}
		end = start
	}
	return 0
}
