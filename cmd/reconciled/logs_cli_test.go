package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
)

// cliLogDir makes DIR/.reconciled/logs with the given files.
func cliLogDir(t *testing.T, files map[string]string) (dir, logs string) {
	t.Helper()
	dir = t.TempDir()
	logs = filepath.Join(dir, reconciler.StateDirName, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A manifest, so that "web-1" resolves to instance 1 of web.
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte("spec: {command: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, logs
}

func TestCLILogs(t *testing.T) {
	dir, _ := cliLogDir(t, map[string]string{
		"web-0.stdout.log":     "a0\nb0\nc0\n",
		"web-1.stdout.log":     "a1\nb1\nno newline",
		"web-10.stdout.log":    "x10\n",
		"web-1.stderr.log":     "oops\n",
		"web-api-0.stdout.log": "not web's\n",
	})
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "web", "--stdout"}, "web-0 | a0\nweb-0 | b0\nweb-0 | c0\nweb-1 | a1\nweb-1 | b1\nweb-1 | no newline\nweb-10 | x10\n"},
		{[]string{"logs", "web", "--tail", "1", "--stdout"}, "web-0 | c0\nweb-1 | no newline\nweb-10 | x10\n"},
		{[]string{"logs", "web-0", "--tail", "2"}, "b0\nc0\n"},
		{[]string{"logs", "web-0", "--tail", "0"}, ""},
		{[]string{"logs", "web-0", "--tail", "10"}, "a0\nb0\nc0\n"},
		{[]string{"logs", "web-1", "--stdout"}, "a1\nb1\nno newline"},
		{[]string{"logs", "web", "--stderr"}, "web-1 | oops\n"},
		// Both streams, without an arrival index (logs of an older
		// daemon): stdout, then stderr.
		{[]string{"logs", "web"}, "web-0 | a0\nweb-0 | b0\nweb-0 | c0\nweb-1 | a1\nweb-1 | b1\nweb-1 | no newline\nweb-1 | oops\nweb-10 | x10\n"},
		{[]string{"logs", "web-1"}, "a1\nb1\nno newline\noops\n"},
		{[]string{"logs", "web-1", "--tail", "2"}, "no newline\noops\n"},
	} {
		res := cliExec(ctx, "", append([]string{"--dir", dir}, tc.args...)...)
		if res.code != 0 || res.stdout != tc.want {
			t.Errorf("%v: got %q, want %q\n%v", tc.args, res.stdout, tc.want, res)
		}
	}
	if res := cliExec(ctx, "", "--dir", dir, "logs", "web-3"); res.code != 1 || !strings.Contains(res.stderr, "no log of web-3") {
		t.Errorf("logs of a missing instance: %v", res)
	}
	if res := cliExec(ctx, "", "--dir", dir, "logs", "web-3", "--stderr"); res.code != 1 || !strings.Contains(res.stderr, "no stderr log of web-3") {
		t.Errorf("logs of a missing instance: %v", res)
	}
}

func TestCLILogsTailLarge(t *testing.T) {
	var b strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	dir, _ := cliLogDir(t, map[string]string{"web-0.stdout.log": b.String()})
	res := cliExec(context.Background(), "", "--dir", dir, "logs", "web-0", "--tail", "3")
	if res.code != 0 || res.stdout != "line 49997\nline 49998\nline 49999\n" {
		t.Errorf("tail of a large file: %v", res)
	}
}

// logs -f: appended lines, whole lines only when prefixed, a new instance,
// a truncated file; stops when cancelled.
func TestCLILogsFollow(t *testing.T) {
	dir, logs := cliLogDir(t, map[string]string{"web-0.stdout.log": "old\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCommand()
	out := &cliBuffer{}
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs([]string{"--dir", dir, "logs", "web", "-f", "--tail", "1"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	appendTo := func(name, s string) {
		f, err := os.OpenFile(filepath.Join(logs, name), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	expect := func(s string) {
		t.Helper()
		waitfor.Condition(t, cliTimeout, func() bool { return out.String() == s }, "output %q", s)
	}
	expect("web-0 | old\n")
	appendTo("web-0.stdout.log", "new\npart")
	expect("web-0 | old\nweb-0 | new\n")
	appendTo("web-0.stdout.log", "ial\n")
	expect("web-0 | old\nweb-0 | new\nweb-0 | partial\n")
	appendTo("web-1.stdout.log", "hello from 1\n")
	expect("web-0 | old\nweb-0 | new\nweb-0 | partial\nweb-1 | hello from 1\n")
	if err := os.Truncate(filepath.Join(logs, "web-0.stdout.log"), 0); err != nil {
		t.Fatal(err)
	}
	appendTo("web-0.stdout.log", "after truncate\n")
	expect("web-0 | old\nweb-0 | new\nweb-0 | partial\nweb-1 | hello from 1\nweb-0 | after truncate\n")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("logs -f after cancel: %v", err)
	}
}

func TestCLICompletion(t *testing.T) {
	dir, _ := cliLogDir(t, nil)
	for _, n := range []string{"worker.yml", "web-api.yaml", ".hidden.yaml", "x.status.yaml", "Bad.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("spec: {command: x}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	res := cliExec(ctx, "", "__complete", "--dir", dir, "scale", "w")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "web\nweb-api\nworker\n:4\n") {
		t.Errorf("complete scale w: %v", res)
	}
	res = cliExec(ctx, "", "__complete", "--dir", dir, "stop", "web", "")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "web-api\nworker\n:4\n") {
		t.Errorf("complete stop web: %q", res.stdout)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if res := cliExec(ctx, "", "completion", shell); res.code != 0 || !strings.Contains(res.stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, res.code, len(res.stdout))
		}
	}
}

// An instance that has written nothing has no log file yet: logs prints
// nothing and says so, and -f prints its output once the file appears. One
// the status does not list is still an error.
func TestCLILogsQuietInstance(t *testing.T) {
	dir, logs := cliLogDir(t, map[string]string{"web-0.stdout.log": "zero\n"})
	cmdWriteStatus(t, dir, "web") // instances web-0 and web-1
	ctx := context.Background()
	res := cliExec(ctx, "", "--dir", dir, "logs", "web-1")
	if res.code != 0 || res.stdout != "" || !strings.Contains(res.stderr, "reconciled: no output from web-1 yet") {
		t.Errorf("logs of a quiet instance: %v", res)
	}
	res = cliExec(ctx, "", "--dir", dir, "logs", "web-1", "--stdout")
	if res.code != 0 || res.stdout != "" || !strings.Contains(res.stderr, "reconciled: no stdout output from web-1 yet") {
		t.Errorf("logs of a quiet instance: %v", res)
	}
	if res := cliExec(ctx, "", "--dir", dir, "logs", "web-3"); res.code != 1 || !strings.Contains(res.stderr, "no log of web-3") {
		t.Errorf("logs of a missing instance: %v", res)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root := newRootCommand()
	out := &cliBuffer{}
	root.SetOut(out)
	root.SetErr(&cliBuffer{})
	root.SetArgs([]string{"--dir", dir, "logs", "web-1", "-f"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	if err := os.WriteFile(filepath.Join(logs, "web-1.stdout.log"), []byte("first words\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, cliTimeout, func() bool { return out.String() == "first words\n" }, "the new file's output")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("logs -f after cancel: %v", err)
	}
}
