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

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// followPoll is how often -f looks for new output.
const followPoll = 100 * time.Millisecond

type logsOptions struct {
	follow bool
	tail   int
	stderr bool
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "logs NAME[-i] | -l SELECTOR | --all",
		Short: "Print the output of a program's instances",
		Long: `Print what instance i of NAME (NAME-i) wrote to its standard output, or to its
standard error with --stderr. Without an index, print every instance's output,
each line prefixed "NAME-i | "; with -l or --all, that of every instance of
every program chosen, program after program. With -f, keep printing what they
write until interrupted.

The logs are the files the daemon writes for "stdout: auto" and "stderr: auto":
.reconciled/logs/NAME-i.stdout.log and NAME-i.stderr.log in the status
directory, rotated at 50MiB (NAME-i.stdout.log.1 is the previous one). A file
is created with the instance's first output: an instance that has written
nothing yet prints nothing (and -f waits for it). With "inherit" or "null"
there is none; a {file: PATH} target is that file.`,
		Example: `  reconciled logs web
  reconciled logs web-1 -f
  reconciled logs worker --tail 50 --stderr
  reconciled logs -l team=payments --tail 20`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeInstances(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			stream := "stdout"
			if o.stderr {
				stream = "stderr"
			}
			dir := filepath.Join(g.statusDirOf(), reconciler.StateDirName, "logs")
			if sel.chosen() {
				// Every instance of every program chosen, prefixed.
				find := func() []logFile {
					var files []logFile
					for _, name := range names {
						files = append(files, findLogs(dir, name, -1, stream)...)
					}
					return files
				}
				return streamLogs(ctx, cmd.OutOrStdout(), find(), find, true, o.tail, o.follow)
			}
			program, index := resolveInstance(g, args[0])
			find := func() []logFile { return findLogs(dir, program, index, stream) }
			files := find()
			if i := strings.LastIndexByte(args[0], '-'); len(files) == 0 && index < 0 && i > 0 {
				// A deleted program's logs stay: NAME-i without a manifest.
				if n, err := strconv.Atoi(args[0][i+1:]); err == nil && n >= 0 {
					program, index = args[0][:i], n
					files = find()
				}
			}
			if len(files) == 0 {
				if !instanceKnown(g, program, index) {
					return &exitError{code: 1, msg: fmt.Sprintf("no %s log of %s in %s (only stdout/stderr: auto writes one)", stream, args[0], dir)}
				}
				// A log file appears with the instance's first output.
				fmt.Fprintf(cmd.ErrOrStderr(), "reconciled: no %s output from %s yet\n", stream, args[0])
			} else if index >= 0 {
				find = nil // one instance, its file found: no new files to look for
			}
			return streamLogs(ctx, cmd.OutOrStdout(), files, find, index < 0, o.tail, o.follow)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new output until interrupted")
	cmd.Flags().IntVar(&o.tail, "tail", -1, "print only the last N lines of each instance (-1: all)")
	cmd.Flags().BoolVar(&o.stderr, "stderr", false, "print standard error instead of standard output")
	sel.addFlags(cmd)
	return cmd
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

// logFile is one instance's log.
type logFile struct {
	instance string
	index    int
	path     string
}

// findLogs lists the log files of program (one instance when index >= 0),
// sorted by index.
func findLogs(dir, program string, index int, stream string) []logFile {
	suffix := "." + stream + ".log"
	if index >= 0 {
		name := fmt.Sprintf("%s-%d", program, index)
		p := filepath.Join(dir, name+suffix)
		if _, err := os.Stat(p); err != nil {
			return nil
		}
		return []logFile{{instance: name, index: index, path: p}}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []logFile
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, program+"-") || !strings.HasSuffix(n, suffix) {
			continue
		}
		idx := strings.TrimSuffix(strings.TrimPrefix(n, program+"-"), suffix)
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || strconv.Itoa(i) != idx {
			continue // another program's: "web-api-0" is not an instance of "web"
		}
		out = append(out, logFile{instance: program + "-" + idx, index: i, path: filepath.Join(dir, n)})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].index < out[b].index })
	return out
}

// follower reads one growing file: whole lines when prefixed.
type follower struct {
	logFile
	f       *os.File
	partial []byte
}

// streamLogs prints the last tail lines of each file (all with tail < 0),
// file after file, and with follow keeps printing what is appended,
// reopening a file that was replaced or truncated and picking up new files
// from find, until ctx is done.
func streamLogs(ctx context.Context, w io.Writer, files []logFile, find func() []logFile, prefix bool, tail int, follow bool) error {
	fs := map[string]*follower{}
	defer func() {
		for _, f := range fs {
			f.f.Close()
		}
	}()
	emit := func(fl *follower, data []byte, final bool) {
		if !prefix {
			_, _ = w.Write(data)
			return
		}
		data = append(fl.partial, data...)
		fl.partial = nil
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				if !final {
					fl.partial = append([]byte(nil), data...)
					return
				}
				i = len(data)
				data = append(data, '\n')
			}
			fmt.Fprintf(w, "%s | %s\n", fl.instance, data[:i])
			data = data[i+1:]
		}
	}
	// drain emits what fl's file holds from its offset on, a chunk at a
	// time: a large log is never held whole.
	chunk := make([]byte, 64<<10)
	drain := func(fl *follower) {
		for {
			n, err := fl.f.Read(chunk)
			if n > 0 {
				emit(fl, chunk[:n], false)
			}
			if err != nil || n == 0 {
				return
			}
		}
	}
	open := func(lf logFile, tail int) {
		// A regular file only (symbolic links followed: a user's file
		// target may be one): a FIFO would block the reads, a link to
		// /dev/zero never end them.
		f, err := regfile.Open(lf.path, true)
		if err != nil {
			return
		}
		fl := &follower{logFile: lf, f: f}
		fs[lf.path] = fl
		if tail < 0 {
			drain(fl)
		} else if data, err := readTail(f, tail); err == nil {
			emit(fl, data, false)
		}
		if !follow {
			emit(fl, nil, true) // the last line, if it has no newline
		}
	}
	for _, lf := range files {
		open(lf, tail)
	}
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
		if find != nil {
			for _, lf := range find() {
				if fs[lf.path] == nil {
					open(lf, -1) // a new instance: all of it
				}
			}
		}
		paths := make([]string, 0, len(fs))
		for p := range fs {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fl := fs[p]
			drain(fl)
			if replaced(fl.f, p) {
				// Rotated: what was written before the rotation is still
				// there to read through the old file.
				drain(fl)
				fl.f.Close()
				delete(fs, p)
				open(fl.logFile, -1)
			}
		}
	}
}

// replaced reports whether the file at path is no longer f (rotated away)
// or was truncated below where f has read.
func replaced(f *os.File, path string) bool {
	now, err := os.Stat(path)
	if err != nil {
		return false // gone for now: keep what we have
	}
	cur, err := f.Stat()
	if err != nil {
		return true
	}
	if !os.SameFile(now, cur) {
		return true
	}
	off, err := f.Seek(0, io.SeekCurrent)
	return err == nil && cur.Size() < off
}

// maxTailScan bounds how far back from its end readTail reads a file for
// its last n lines: lines that long are not a log's.
const maxTailScan = 16 << 20

// readTail returns the last n lines of f (n >= 0), at most maxTailScan
// bytes of them, and leaves f positioned at the end of what it returned.
func readTail(f *os.File, n int) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if n == 0 {
		_, err := f.Seek(size, io.SeekStart)
		return nil, err
	}
	const chunk = 64 << 10
	var buf []byte
	start := size
	for start > 0 && size-start < maxTailScan {
		step := int64(chunk)
		if start < step {
			step = start
		}
		start -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		buf = append(b, buf...)
		// Count line ends, not counting a final one.
		body := bytes.TrimSuffix(buf, []byte("\n"))
		if bytes.Count(body, []byte("\n")) >= n {
			break
		}
	}
	body := bytes.TrimSuffix(buf, []byte("\n"))
	cut := -1
	for i, seen := len(body)-1, 0; i >= 0; i-- {
		if body[i] == '\n' {
			seen++
			if seen == n {
				cut = i + 1
				break
			}
		}
	}
	switch {
	case cut >= 0:
	case start > 0: // stopped at maxTailScan: from the first whole line
		cut = bytes.IndexByte(buf, '\n') + 1
	default:
		cut = 0
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return nil, err
	}
	return buf[cut:], nil
}
