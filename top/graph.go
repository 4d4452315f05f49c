package top

import (
	"fmt"
	"slices"

	"github.com/reconciled/reconciled/spec"
)

// edge is one dependsOn entry: from needs to reach condition.
type edge struct {
	from, to  string
	condition spec.DependencyCondition
	met       bool
	why       string // "2/2 ready", "0/1 started", "not found", "stopped"
}

// edges lists every dependsOn entry of the programs' manifests, with
// whether the status files show it met, as the daemon judges it: the
// program depended on counts its wanted instances that are RUNNING
// (Started), ready (Ready) or exited with success (Completed).
func edges(ps []*program) []edge {
	byName := map[string]*program{}
	for _, p := range ps {
		byName[p.name] = p
	}
	var out []edge
	for _, p := range ps {
		if p.spec == nil {
			continue
		}
		for _, d := range p.spec.Spec.DependsOn {
			met, why := depMet(d, byName[d.Program])
			out = append(out, edge{from: p.name, to: d.Program, condition: d.Condition, met: met, why: why})
		}
	}
	return out
}

// depMet judges d against the status of the program it names (nil: not
// in the directory).
func depMet(d spec.Dependency, to *program) (bool, string) {
	if to == nil || (to.path == "" && !to.hasSt) {
		return false, "not found"
	}
	if !to.hasSt {
		return false, "no status yet"
	}
	s := to.st.Status
	want := s.Replicas
	if s.Desired != string(spec.DesiredRunning) {
		want = 0
	}
	if want == 0 {
		return false, "stopped"
	}
	success := []int{0}
	if to.spec != nil {
		success = to.spec.Spec.SuccessExitCodes
	}
	var have int
	what := "started"
	for _, in := range s.Instances {
		switch d.Condition {
		case spec.DependencyReady:
			what = "ready"
			if in.Ready {
				have++
			}
		case spec.DependencyCompleted:
			what = "completed"
			if in.State == "EXITED" && in.LastExit != nil && slices.Contains(success, in.LastExit.Code) {
				have++
			}
		default:
			if in.State == "RUNNING" {
				have++
			}
		}
	}
	return have >= want, fmt.Sprintf("%d/%d %s", have, want, what)
}

// openGraph shows the dependsOn graph: each program that depends on
// others, its edges beneath it.
func (m *Model) openGraph() {
	es := edges(m.progs)
	var lines []paneLine
	if len(es) == 0 {
		lines = append(lines, paneLine{text: "no program has dependsOn", kind: lineNote})
	}
	for i, e := range es {
		if i == 0 || es[i-1].from != e.from {
			if i > 0 {
				lines = append(lines, paneLine{})
			}
			lines = append(lines, paneLine{text: e.from + " needs"})
		}
		branch := "├─"
		if i == len(es)-1 || es[i+1].from != e.from {
			branch = "└─"
		}
		verdict, kind := "met", lineText
		if !e.met {
			verdict, kind = "unmet", lineError
		}
		lines = append(lines, paneLine{text: fmt.Sprintf("  %s %-20s %-10s %-5s  %s", branch, e.to, e.condition, verdict, e.why), kind: kind})
	}
	m.ov = &textPane{title: "dependsOn graph (esc closes)"}
	m.ov.set(lines)
	m.overlay = graphOverlay
}
