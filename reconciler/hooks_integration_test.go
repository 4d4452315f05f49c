package reconciler

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// An exec hook on Exited runs once per exit with the documented
// environment (read back from the file it writes).
func TestITHookExec(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("hooked")
	out := filepath.Join(d.dir, "hook.out")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exit 3"]`, "restartPolicy: Never", "env: {GREETING: hello}",
		`hooks: [{events: [Exited], exec: {command: ["sh", "-c", "env | grep -E '^(RECONCILED_|GREETING)' | sort > hook.tmp; mv hook.tmp hook.out"]}}]`))
	itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
	var env string
	if !waitfor.Until(waitTimeout, func() bool {
		b, err := os.ReadFile(out)
		env = string(b)
		return err == nil
	}) {
		t.Fatalf("the hook did not run")
	}
	for _, want := range []string{"GREETING=hello", "RECONCILED_PROGRAM=" + name, "RECONCILED_INSTANCE=0",
		"RECONCILED_EVENT_REASON=Exited", "RECONCILED_EVENT_TYPE=Warning", "RECONCILED_EXIT_CODE=3", "RECONCILED_EXIT_SIGNAL=\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
}

// A hook that sleeps 30 s on every exit never holds up a crash-looping
// program: it keeps restarting while at most 4 hooks run.
func TestITHookNeverDelays(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("storm")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exit 1"]`, "restartDelay: 0s", "startSeconds: 0s", "startRetries: 0",
		"flapping: {restarts: 0}", `hooks: [{events: [Exited], exec: {command: ["sleep", "30"]}, timeout: 1m}]`))
	most := 0
	itWaitStatus(t, d.dir, name, "20 restarts", func(st status.ProgramStatus) bool {
		most = max(most, itCountCmd("sleep", "30"))
		in, ok := itInstance(st, 0)
		return ok && in.Restarts >= 20
	})
	if most > 4 {
		t.Errorf("%d hooks ran at once, want at most 4", most)
	}
}

// itCountCmd counts the live processes of this test binary running argv.
func itCountCmd(argv ...string) int {
	n := 0
	for _, pid := range itListPids() {
		if owner, _ := itEnvValue(pid, itOwnerEnv); owner != itOwner || !itAlive(pid) {
			continue
		}
		if strings.Join(itCmdline(pid), " ") == strings.Join(argv, " ") {
			n++
		}
	}
	return n
}

// An httpPost hook on Fatal delivers the event's JSON line.
func TestITHookHTTPPost(t *testing.T) {
	got := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	t.Cleanup(srv.Close)
	d := itStart(t, itOpts{})
	name := d.name("alert")
	itWrite(t, d.dir, name, itSpec(`["false"]`, "restartDelay: 0s", "startRetries: 2",
		`hooks: [{events: [Fatal], httpPost: {url: "`+srv.URL+`/alert"}}]`))
	itWaitStatus(t, d.dir, name, "FATAL", itState(0, Fatal))
	select {
	case b := <-got:
		var ev status.Event
		if err := json.Unmarshal(b, &ev); err != nil || ev.Reason != "Fatal" || ev.Program != name {
			t.Errorf("body %s: %+v, %v", b, ev, err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no POST")
	}
}
