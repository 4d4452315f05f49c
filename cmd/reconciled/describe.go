package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// describeEvents is how many of the last events describe shows.
const describeEvents = 10

func newDescribeCommand(g *globalOptions) *cobra.Command {
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "describe NAME... | -l SELECTOR | --all",
		Short: "Show a program in detail: spec, status, conditions, instances, events",
		Long: `Show what the manifest asks for (a summary; environment values are never shown,
only their names), what the daemon last reported (phase, conditions, every
instance with its last exit) and the last events, as kubectl describe does.`,
		Example: `  reconciled describe worker
  reconciled describe web worker
  reconciled describe -l team=payments`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if held, _ := reconciler.Held(filepath.Join(g.statusDirOf(), reconciler.StateDirName)); !held {
				diag(cmd.ErrOrStderr(), "no daemon holds %s: showing the last known status", g.dir)
			}
			missing := 0
			use := liveUsage(g.statusDirOf())
			for i, name := range args {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if !describe(out, g, name, time.Now(), use) {
					missing++
					diag(cmd.ErrOrStderr(), "%s: no manifest and no status", name)
				}
			}
			if missing > 0 {
				return &exitError{Code: 1}
			}
			return nil
		},
	}
	sel.addFlags(cmd)
	return cmd
}

// describe writes the description of name, with each instance's CPU time
// and memory as use tells them, and reports whether there was anything to
// describe.
func describe(w io.Writer, g *globalOptions, name string, now time.Time, use usageOf) bool {
	file, perr := g.manifests().Resolve(name)
	var p *spec.Program
	var errs spec.ErrorList
	var where string // the manifest line
	switch {
	case perr == nil || errors.Is(perr, manifest.ErrSymlink):
		where = file.Path
		data, err := manifest.ReadFile(file.Path)
		if err != nil {
			where += " (cannot read: " + err.Error() + ")"
		} else {
			p, errs = spec.Parse(file.Path, data)
		}
	case errors.Is(perr, manifest.ErrNotFound):
		where = "<none> (deleted)"
	default:
		where = "<" + perr.Error() + ">"
	}
	st, serr := status.ReadFile(status.StatusPath(g.statusDirOf(), name))
	hasStatus := serr == nil
	if p == nil && errs == nil && !hasStatus && errors.Is(perr, manifest.ErrNotFound) {
		return false
	}

	tw := newTable(w)
	field := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	field("Name", name)
	field("Manifest", where)
	if p != nil {
		field("Labels", keyValues(p.Metadata.Labels))
		field("Annotations", keyValues(p.Metadata.Annotations))
		describeSpec(field, &p.Spec)
		if _, ok := p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]; ok || p.Spec.ReadinessProbe != nil {
			field("Progress deadline", p.ProgressDeadline().String())
		}
		hashes := manifest.Hashes(file.Path, p) // envFrom's files read, as the daemon does
		h := shortHash(hashes[0])
		switch {
		case !hasStatus:
		case slices.Contains(hashes, st.Status.SpecHash):
			h += " (running)"
		default:
			h += " (the daemon runs " + shortHash(st.Status.SpecHash) + ": not applied yet)"
		}
		field("Spec hash", h)
	}
	if errs != nil {
		field("Manifest errors", fmt.Sprintf("%d (the daemon keeps running the last valid spec)", len(errs)))
		for _, e := range errs {
			// In the value column: a line without a cell would end the
			// block, and the fields after it would align differently.
			fmt.Fprintf(tw, "\t%s\n", e.Error())
		}
	}
	if !hasStatus {
		field("Status", "<none>: no daemon has reported on it yet")
		tw.Flush()
		return true
	}
	s := st.Status
	phase := s.Phase
	if notStarted(g.statusDirOf(), []status.ProgramStatus{st})[name] {
		phase += " (" + notStartedMessage + ")"
	}
	field("Phase", phase)
	if s.Containment != "" {
		field("Containment", s.Containment)
	}
	field("Instances", fmt.Sprintf("%d desired | %d ready | %d updated | %d total", s.Replicas, s.ReadyReplicas, s.UpdatedReplicas, len(s.Instances)))
	field("Updated", humanDuration(now.Sub(s.UpdatedAt))+" ago")
	tw.Flush()

	fmt.Fprintln(w, "Conditions:")
	tw = newTable(w)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, c := range s.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, humanDuration(now.Sub(c.LastTransitionTime)), firstLine(c.Message))
	}
	tw.Flush()

	fmt.Fprintln(w, "Instances:")
	if len(s.Instances) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		tw = newTable(w)
		fmt.Fprintln(tw, "  NAME\tSTATE\tREADY\tPID\tUPTIME\tRESTARTS\tCPU\tMEMORY\tLAST EXIT\tMESSAGE")
		for _, in := range s.Instances {
			pid, uptime := "-", "-"
			if in.Pid > 0 {
				pid = fmt.Sprint(in.Pid)
				if in.StartedAt != nil {
					uptime = humanDuration(now.Sub(*in.StartedAt))
				}
			}
			last := "-"
			if e := in.LastExit; e != nil {
				last = exitText(*e, now)
			}
			msg := in.Message
			if in.NextRetryAt != nil {
				msg = strings.TrimSpace(msg + fmt.Sprintf(" (retry in %s)", humanDuration(in.NextRetryAt.Sub(now))))
			}
			cpu, mem := use.cells(name, in)
			fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", in.Name, shownState(in), in.Ready, pid, uptime, in.Restarts, cpu, mem, last, cell(msg))
		}
		tw.Flush()
		describeRecentExits(w, s.Instances, now)
	}

	fmt.Fprintln(w, "Events:")
	evs, _ := status.ReadEvents(g.statusDirOf(), name)
	if len(evs) > describeEvents {
		evs = evs[len(evs)-describeEvents:]
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "  <none>")
		return true
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "  AGE\tTYPE\tREASON\tOBJECT\tMESSAGE")
	for _, ev := range evs {
		obj := ev.Instance
		if obj == "" {
			obj = ev.Program
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", humanDuration(now.Sub(ev.Time)), ev.Type, ev.Reason, obj, cell(ev.Message))
	}
	tw.Flush()
	return true
}

// table aligns tab-separated columns, as tabwriter does, without the
// trailing spaces it leaves after an empty last cell.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the aligned lines.
func (t *table) Flush() {
	t.tw.Flush()
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line != "" {
			fmt.Fprint(t.w, strings.TrimRight(line, " \n")+"\n")
		}
	}
	t.buf.Reset()
}

// cell keeps a value on one line of a table: a tab or a newline in it
// would break the columns.
func cell(s string) string {
	return strings.NewReplacer("\t", " ", "\r", " ", "\n", " ").Replace(firstLine(s))
}

func keyValues(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ", ")
}

// probeText describes a probe as kubectl describe does: the action, then
// its timing ("tcp-socket 127.0.0.1:5432 delay=0s timeout=1s period=10s
// #success=1 #failure=3"), with the Kubernetes defaults filled in.
func probeText(p *spec.Probe) string {
	var action string
	switch {
	case p.Exec != nil:
		action = "exec " + shellJoin(p.Exec.Command)
	case p.TCPSocket != nil:
		action = "tcp-socket " + hostOr(p.TCPSocket.Host) + ":" + p.TCPSocket.Port
	case p.HTTPGet != nil:
		scheme := strings.ToLower(p.HTTPGet.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		action = "http-get " + scheme + "://" + hostOr(p.HTTPGet.Host) + ":" + p.HTTPGet.Port + p.HTTPGet.Path
	}
	period, timeout := p.Period, p.Timeout
	if period <= 0 {
		period = spec.DefaultProbePeriod
	}
	if timeout <= 0 {
		timeout = spec.DefaultProbeTimeout
	}
	return fmt.Sprintf("%s delay=%v timeout=%v period=%v #success=%d #failure=%d",
		action, p.InitialDelay, timeout, period, max(p.SuccessThreshold, 1), max(p.FailureThreshold, 1))
}

func hostOr(h string) string {
	if h == "" {
		return spec.DefaultProbeHost
	}
	return h
}

// shellJoin prints argv so that it could be pasted into a shell.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
