package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var output string
	var watch bool
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "status [NAME... | -l SELECTOR]",
		Short: "Show the instances of every program, or of the named ones",
		Long: `Show one row per instance, read from the status files. Says so when no daemon
holds the directory: the rows are then the last known state.

-o wide adds each instance's CPU time and memory, read when asked from its
cgroup (or, without cgroups, from /proc of its process group); they are not
in the status files.`,
		Example: `  reconciled status
  reconciled status web -o wide --watch
  reconciled status -l team=payments
  reconciled status web worker -o json | jq '.[].status.readyReplicas'
  reconciled status web -o jsonpath='{.status.instances[*].pid}'
  reconciled status -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,READY:.status.readyReplicas`,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := sel.resolve(g, args, true)
			if err != nil {
				return err
			}
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			var cols []column
			if format.name == "custom-columns" {
				if cols, err = parseColumns(format.arg); err != nil {
					return &usageError{Err: err}
				}
			}
			if watch {
				if format.name != "table" && format.name != "wide" {
					return &usageError{Err: fmt.Errorf("--watch goes with -o table or wide")}
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				return watchStatus(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), g, args, format.name == "wide")
			}
			dir := g.statusDirOf()
			all, err := status.ReadDir(dir)
			if err != nil && len(all) == 0 {
				return err
			}
			if err != nil {
				// A status file that cannot be read (or is not a regular
				// file) does not hide the others.
				fmt.Fprintln(cmd.ErrOrStderr(), "reconciled: "+err.Error())
			}
			sts, missing := selectPrograms(all, args)
			if sts == nil {
				sts = []status.ProgramStatus{} // -o json prints [], not null
			}
			out := cmd.OutOrStdout()
			switch format.name {
			case "json":
				if err := status.WriteJSON(out, sts); err != nil {
					return err
				}
			case "yaml":
				if err := printYAML(out, sts); err != nil {
					return err
				}
			case "jsonpath":
				obj, err := queryObject(sts, len(args) == 1 && !sel.chosen())
				if err != nil {
					return err
				}
				if err := printJSONPath(out, format.arg, obj); err != nil {
					return err
				}
			case "custom-columns":
				list, err := queryObject(sts, false)
				if err != nil {
					return err
				}
				if err := printColumns(out, cols, list.(map[string]any)["items"].([]any)); err != nil {
					return err
				}
			default:
				if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); !held {
					diag(cmd.ErrOrStderr(), "no daemon holds %s: showing the last known status", g.dir)
				}
				var use usageOf
				if format.name == "wide" {
					use = liveUsage(dir)
				}
				printTable(out, sts, format.name == "wide", time.Now(), use, notStarted(dir, sts))
			}
			if len(missing) > 0 {
				return &exitError{Code: 1, Msg: "no status for " + strings.Join(missing, ", ")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json, yaml, jsonpath=TEMPLATE or custom-columns=HEADER:PATH,...")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw when the status changes, until interrupted")
	sel.addFlags(cmd)
	return cmd
}

// watchStatus redraws the table whenever a status changes: on a terminal
// in place (and every second, for UPTIME), otherwise as a new table after
// a blank line, as kubectl get --watch does.
func watchStatus(ctx context.Context, out, errOut io.Writer, g *globalOptions, names []string, wide bool) error {
	dir := g.statusDirOf()
	tty := isTerminal(out)
	var last []byte
	var drawn time.Time
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		all, _ := status.ReadDir(dir)
		sts, _ := selectPrograms(all, names)
		key := statusKey(sts)
		now := time.Now()
		if first || !bytes.Equal(key, last) || tty && now.Sub(drawn) >= time.Second {
			var buf bytes.Buffer
			if tty {
				buf.WriteString("\x1b[H\x1b[2J")
			} else if !first {
				buf.WriteString("\n")
			}
			if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); !held {
				fmt.Fprintf(&buf, "(no daemon holds %s: the last known status)\n", g.dir)
			}
			var use usageOf
			if wide { // read again at each redraw, and only then
				use = liveUsage(dir)
			}
			printTable(&buf, sts, wide, now, use, notStarted(dir, sts))
			_, _ = out.Write(buf.Bytes())
			last, drawn = key, now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// statusKey is what a redraw depends on, apart from the clock.
func statusKey(sts []status.ProgramStatus) []byte {
	var b bytes.Buffer
	for _, st := range sts {
		st.Status.UpdatedAt = time.Time{}
		j, _ := json.Marshal(st)
		b.Write(j)
	}
	return b.Bytes()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// selectPrograms keeps the named programs, in the order named; none named
// means all.
func selectPrograms(all []status.ProgramStatus, names []string) (sel []status.ProgramStatus, missing []string) {
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]status.ProgramStatus{}
	for _, st := range all {
		byName[st.Metadata.Name] = st
	}
	for _, n := range names {
		if st, ok := byName[n]; ok {
			sel = append(sel, st)
		} else {
			missing = append(missing, n)
		}
	}
	return sel, missing
}

// printTable writes one row per program (READY n/m) followed by one row per
// instance, like `kubectl get` and `supervisorctl status` together. Wide,
// it adds each instance's CPU time and memory, as use tells them. The
// programs in never say "Not started".
func printTable(w io.Writer, sts []status.ProgramStatus, wide bool, now time.Time, use usageOf, never map[string]bool) {
	t := newCellTable()
	for _, h := range []string{"NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "MESSAGE"} {
		t.str(h)
	}
	if wide {
		for _, h := range []string{"AGE", "SPEC", "CPU", "MEMORY", "LAST EXIT"} {
			t.str(h)
		}
	}
	t.endRow()
	for _, st := range sts {
		s := &st.Status
		msg := programMessage(*s)
		if msg == "" && never[st.Metadata.Name] {
			msg = notStartedMessage
		}
		t.str(st.Metadata.Name)
		t.str(strings.ToUpper(s.Phase))
		t.buf = strconv.AppendInt(t.buf, int64(s.ReadyReplicas), 10)
		t.buf = append(t.buf, '/')
		t.int(s.Replicas)
		t.str("")
		t.str("")
		t.str("")
		t.str(msg)
		if wide {
			age := "-"
			if c, ok := status.FindCondition(s.Conditions, status.ConditionSpecValid); ok && !c.LastTransitionTime.IsZero() {
				age = humanDuration(now.Sub(c.LastTransitionTime))
			}
			t.str(age)
			t.str(shortHash(s.SpecHash))
			t.str("")
			t.str("")
			t.str("")
		}
		t.endRow()
		for i := range s.Instances {
			in := &s.Instances[i]
			t.buf = append(t.buf, "  "...)
			t.str(in.Name)
			t.str(shownState(*in))
			t.str(strconv.FormatBool(in.Ready))
			if in.Pid > 0 {
				t.int(in.Pid)
			} else {
				t.str("-")
			}
			if in.StartedAt != nil && in.Pid > 0 {
				t.buf = appendHumanDuration(t.buf, now.Sub(*in.StartedAt))
				t.cell()
			} else {
				t.str("-")
			}
			t.int(in.Restarts)
			t.str(instanceMessage(*in))
			if wide {
				last := ""
				if e := in.LastExit; e != nil {
					last = fmt.Sprintf("code %d", e.Code)
					if e.Signal != "" {
						last = "signal " + e.Signal
					}
					last += " after " + time.Duration(e.RanFor).Round(time.Millisecond).String()
				}
				cpu, mem := use.cells(st.Metadata.Name, *in)
				t.str(instanceAge(*in, now))
				t.str(shortHash(in.SpecHash))
				t.str(cpu)
				t.str(mem)
				t.str(last)
			}
			t.endRow()
		}
	}
	_ = t.write(w)
}

// notStartedMessage is supervisorctl's word for a program or instance that
// was never started.
const notStartedMessage = "Not started"

// notStarted returns the programs of sts that have no instance and never
// started one, as far as their events tell (no Started event kept).
func notStarted(dir string, sts []status.ProgramStatus) map[string]bool {
	never := map[string]bool{}
	for _, st := range sts {
		if st.Status.Phase != "Stopped" || len(st.Status.Instances) > 0 {
			continue
		}
		evs, err := status.ReadEvents(dir, st.Metadata.Name)
		if err != nil {
			continue // not known: say nothing
		}
		never[st.Metadata.Name] = !slices.ContainsFunc(evs, func(ev status.Event) bool { return ev.Reason == "Started" })
	}
	return never
}

// instanceMessage is the instance's message, or "Not started" for a
// stopped instance that has had no process and says nothing else.
func instanceMessage(in status.Instance) string {
	if in.Message == "" && in.State == "STOPPED" && in.StartedAt == nil && in.LastExit == nil {
		return notStartedMessage
	}
	return in.Message
}

// instanceAge is how long an instance has been in its current state, as
// far as the status tells: since its start when it has a process, else
// since its last exit.
func instanceAge(in status.Instance, now time.Time) string {
	switch {
	case in.Pid > 0 && in.StartedAt != nil:
		return humanDuration(now.Sub(*in.StartedAt))
	case in.LastExit != nil && !in.LastExit.At.IsZero():
		return humanDuration(now.Sub(in.LastExit.At))
	}
	return "-"
}

// programMessage is the first condition that is not as it should be.
func programMessage(s status.Status) string {
	for _, c := range s.Conditions {
		if c.Type == status.ConditionSpecValid && c.Status == status.ConditionFalse {
			return "invalid spec: " + firstLine(c.Message)
		}
	}
	for _, c := range s.Conditions {
		if c.Type == status.ConditionProgressing && c.Status == status.ConditionTrue {
			return c.Reason + ": " + c.Message
		}
	}
	for _, c := range s.Conditions {
		if c.Type == "Flapping" && c.Status == status.ConditionTrue {
			return "Flapping: " + c.Message
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func shortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// humanDuration prints like kubectl's AGE: 45s, 3m12s, 2h5m, 3d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
