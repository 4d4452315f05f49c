package status

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// agree fails t unless the fast decoder declines data or reads it as the
// generic one does.
func agree(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	got, ok := parseFast(data)
	if !ok {
		return false
	}
	want, err := parseGeneric(data)
	if err != nil {
		t.Fatalf("the fast decoder read what the generic one refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the decoders disagree:\n fast    %+v\n generic %+v\nyaml:\n%s", got, want, data)
	}
	return true
}

// marshalled returns the status files of the encoder tests: every field,
// empty ones, odd strings in every string field, a large one.
func marshalled() [][]byte {
	sts := []ProgramStatus{sample("worker"), {Metadata: Metadata{Name: "idle"}}, bigStatus(30),
		{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "db"}, Status: Status{Desired: "stopped", Phase: "Stopped", Instances: []Instance{}}}}
	zero := time.Time{}
	for _, s := range oddStrings {
		sts = append(sts, ProgramStatus{Metadata: Metadata{Name: s}, Status: Status{
			SpecHash: s, Desired: s, Phase: s, Containment: s,
			Conditions: []Condition{{Type: s, Status: s, Reason: s, Message: s}},
			Instances: []Instance{{Name: s, State: s, Health: s, SpecHash: s, Message: s, StartedAt: &zero,
				LastExit: &Exit{Signal: s, Reason: s}, RecentExits: []Exit{{Signal: s, Reason: s}, {Code: -3}}}},
		}})
	}
	var out [][]byte
	for _, st := range sts {
		data, _ := Marshal(st)
		out = append(out, data)
	}
	return out
}

// TestParseFastAgrees: the fast decoder reads everything Marshal writes,
// and reads it as the generic decoder does.
func TestParseFastAgrees(t *testing.T) {
	for _, data := range marshalled() {
		if !agree(t, data) {
			t.Errorf("the fast decoder declined what Marshal wrote:\n%s", data)
		}
	}
}

// TestParseFastHandEdits: files that are not in Marshal's layout (lines
// moved, removed, re-indented, values written another way, comments,
// unknown keys) are either declined or read as the generic decoder reads
// them.
func TestParseFastHandEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := []string{"yes", "no", "~", "null", "07", "0x1F", "1e3", "-0", "+1", "1.5", "'x'", `"x"`, `"\x41"`, `"a\/b"`,
		"[]", "{}", "x # c", "&a x", "*a", "!!str 1", "2026-12-07", `"2026-12-07T11:00:01Z"`, `"2026-02-30T11:00:01.000Z"`,
		`"2026-12-07T11:00:01.000+01:00"`, "1h", "1.5s", "-1s", "+2s", "", " x", "x ", "true", "false", "True", "1", "0", "-5"}
	base := marshalled()
	declined := 0
	for range 3000 {
		lines := strings.Split(string(base[rng.IntN(len(base))]), "\n")
		i := rng.IntN(len(lines))
		switch rng.IntN(7) {
		case 0:
			lines = append(lines[:i], lines[i+1:]...)
		case 1:
			j := rng.IntN(len(lines))
			lines[i], lines[j] = lines[j], lines[i]
		case 2:
			lines[i] = " " + lines[i]
		case 3:
			if k := strings.Index(lines[i], ": "); k >= 0 {
				lines[i] = lines[i][:k+2] + values[rng.IntN(len(values))]
			}
		case 4:
			lines = append(lines[:i], append([]string{"# a comment"}, lines[i:]...)...)
		case 5:
			if k := strings.Index(lines[i], ": "); k >= 0 {
				lines = append(lines[:i+1], append([]string{lines[i][:k] + "Extra: 1"}, lines[i+1:]...)...)
			}
		case 6:
			lines[i] += "\r"
		}
		if !agree(t, []byte(strings.Join(lines, "\n"))) {
			declined++
		}
	}
	if declined == 0 {
		t.Error("no hand edit was declined: the edits do not reach the decoder's checks")
	}
}

// FuzzParseFast: whatever the input, the fast decoder declines it or reads
// it as the generic decoder does.
func FuzzParseFast(f *testing.F) {
	for _, data := range marshalled() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}

// oddStrings look like something else in YAML 1.1 or 1.2, or hold odd
// characters.
var oddStrings = []string{
	"", " ", "yes", "no", "on", "Off", "y", "N", "true", "True", "FALSE", "null", "~", "Null",
	"1", "-1", "+1", "0777", "0x1F", "0b101", "0o17", "1_000", "1e3", ".5", ".inf", "-.Inf", ".nan",
	"1:20", "190:20:30.15", "2026-11-22", "2026-11-22T10:00:00Z", "-", "- x", "a: b", "a:b", "#x", "x #y",
	"[x]", "{x: y}", "*a", "&a", "!t", "%x", "@x", "`x", "|", ">", "'", `"`, `\`, "?", ",", "x\n", "\ty",
	"line1\nline2", "trailing ", " leading", "ünïcode ✓", "exit code > 0 && <1", "sha256:4f1c",
	"\x00\x01ctrl", "=", "<<", "\u2028", "\xff", "yeſ", "a\"b", "a\\b", "\x7f",
}
