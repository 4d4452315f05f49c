package usage

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// Fields 3.. of a real line; the command name holds ") (" and spaces.
	tail := "S 1 4242 4242 0 -1 4194560 100 0 0 0 70 30 5 -2 20 0 1 0 12345 8720384 321 18446744073709551615"
	p, err := parseStat([]byte("4243 (we) ird (name) " + tail + " 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procUsage{pgid: 4242, ticks: 70 + 30 + 5, rss: 321}); p != want {
		t.Errorf("parseStat = %+v, want %+v (negative cstime counts as 0)", p, want)
	}
	for _, bad := range []string{
		"4243 no parenthesis " + tail,
		"4243 (short) S 1 2 3",
		"4243 (x) " + strings.Replace(tail, " 70 ", " seventy ", 1),
	} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestReadStat(t *testing.T) {
	buf := make([]byte, statBufSize)
	p, err := readStat("/proc", os.Getpid(), buf)
	if err != nil || p.pgid <= 0 || p.rss <= 0 {
		t.Errorf("readStat(self) = %+v, %v; want a process group and a resident set", p, err)
	}
	if _, err := readStat(t.TempDir(), 1, buf); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readStat of a missing process = %v, want fs.ErrNotExist", err)
	}
}
