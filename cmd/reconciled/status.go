package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Show the instances of every program, or of the named ones",
		Long: `Show one row per instance, read from the status files. Says so when no daemon
holds the directory: the rows are then the last known state.`,
		Example: `  reconciled status
  reconciled status web worker -o json | jq '.[].status.readyReplicas'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "table", "wide", "json", "yaml":
			default:
				return &usageError{fmt.Errorf("-o: %q is not one of table, wide, json, yaml", output)}
			}
			dir := g.statusDirOf()
			all, err := status.ReadDir(dir)
			if err != nil && len(all) == 0 {
				return err
			}
			sts, missing := selectPrograms(all, args)
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				b, err := json.MarshalIndent(sts, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(out, string(b))
			case "yaml":
				b, err := yaml.Marshal(sts)
				if err != nil {
					return err
				}
				fmt.Fprint(out, string(b))
			default:
				if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); !held {
					fmt.Fprintf(cmd.ErrOrStderr(), "no daemon holds %s: showing the last known status\n", g.dir)
				}
				printTable(out, sts, output == "wide", time.Now())
			}
			if len(missing) > 0 {
				return &exitError{code: 1, msg: "no status for " + strings.Join(missing, ", ")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	return cmd
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
// instance, like `kubectl get` and `supervisorctl status` together.
func printTable(w io.Writer, sts []status.ProgramStatus, wide bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "NAME\tSTATE\tREADY\tPID\tUPTIME\tRESTARTS\tMESSAGE"
	if wide {
		header += "\tSPEC\tLAST EXIT"
	}
	fmt.Fprintln(tw, header)
	for _, st := range sts {
		s := st.Status
		row := fmt.Sprintf("%s\t%s\t%d/%d\t\t\t\t%s", st.Metadata.Name, strings.ToUpper(s.Phase), s.ReadyReplicas, s.Replicas, programMessage(s))
		if wide {
			row += "\t" + shortHash(s.SpecHash) + "\t"
		}
		fmt.Fprintln(tw, row)
		for _, in := range s.Instances {
			pid, uptime := "-", "-"
			if in.Pid > 0 {
				pid = fmt.Sprint(in.Pid)
			}
			if in.StartedAt != nil && in.Pid > 0 {
				uptime = humanDuration(now.Sub(*in.StartedAt))
			}
			ready := "false"
			if in.Ready {
				ready = "true"
			}
			row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%d\t%s", in.Name, in.State, ready, pid, uptime, in.Restarts, in.Message)
			if wide {
				last := ""
				if e := in.LastExit; e != nil {
					last = fmt.Sprintf("code %d", e.Code)
					if e.Signal != "" {
						last = "signal " + e.Signal
					}
					last += " after " + time.Duration(e.RanFor).Round(time.Millisecond).String()
				}
				row += "\t" + shortHash(in.SpecHash) + "\t" + last
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
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
