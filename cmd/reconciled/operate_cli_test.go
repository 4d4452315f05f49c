package main

// Operating the daemon (docs/reference.md §11): --http scraped by Prometheus's own
// parser and checked against the status files, the systemd notify
// protocol against a real unixgram socket (with the loop wedged through a
// test seam), and `reconciled run` as PID 1 of a pid namespace.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// opWrite writes NAME.yaml into dir, atomically.
func opWrite(t *testing.T, dir, name, body string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

// opDaemon is `reconciled run` as a child process.
type opDaemon struct {
	cmd    *exec.Cmd
	stderr *cliBuffer
	exited chan error // gets Wait's result once
}

// opStart starts `reconciled args...` (or prefix..., the binary, args...)
// until the test ends.
func opStart(t *testing.T, prefix []string, args ...string) *opDaemon {
	t.Helper()
	cmd := cmdCommand(context.Background(), args...)
	if len(prefix) > 0 {
		cmd.Args = append(append(slices.Clone(prefix), cmd.Path), args...)
		path, err := exec.LookPath(prefix[0])
		if err != nil {
			t.Skipf("needs %s", prefix[0])
		}
		cmd.Path = path
	}
	d := &opDaemon{cmd: cmd, stderr: &cliBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = io.Discard, d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() {
		d.exited <- cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		endDaemon(cmd.Process, waited)
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", d.stderr.String())
		}
	})
	return d
}

// httpAddr waits for the daemon's log line that names the address --http
// listens on (--log-format json).
func (d *opDaemon) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitfor.Condition(t, cliTimeout, func() bool {
		sc := bufio.NewScanner(strings.NewReader(d.stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, "Serving /metrics") {
				addr = line.Addr
				return true
			}
		}
		return false
	}, "the address of --http in the log")
	return addr
}

func opGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// opSample is the value of the sample of mf whose labels are labels.
func opSample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// opCompare returns the differences between the metrics and what the
// status and event files of programs say; none when they agree.
func opCompare(mfs map[string]*dto.MetricFamily, dir string, programs []string) []string {
	var diffs []string
	want := func(name string, labels map[string]string, v float64) {
		got, ok := opSample(mfs, name, labels)
		if !ok || math.Abs(got-v) > 1e-3 {
			diffs = append(diffs, fmt.Sprintf("%s%v = %v (present %v), status files say %v", name, labels, got, ok, v))
		}
	}
	for _, name := range programs {
		st, err := status.ReadFile(status.StatusPath(dir, name))
		if err != nil {
			return []string{err.Error()}
		}
		s := st.Status
		p := map[string]string{"program": name}
		with := func(kv ...string) map[string]string {
			m := map[string]string{"program": name}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		want("reconciled_program_replicas", with("state", "desired"), float64(s.Replicas))
		want("reconciled_program_replicas", with("state", "ready"), float64(s.ReadyReplicas))
		want("reconciled_program_replicas", with("state", "updated"), float64(s.UpdatedReplicas))
		want("reconciled_program_phase", with("phase", s.Phase), 1)
		want("reconciled_program_spec_valid", p, 1)
		for _, c := range s.Conditions {
			want("reconciled_program_condition", with("type", c.Type, "status", c.Status), 1)
		}
		for _, in := range s.Instances {
			r := strconv.Itoa(in.Index)
			want("reconciled_instance_state", with("replica", r, "state", in.State), 1)
			want("reconciled_instance_ready", with("replica", r), map[bool]float64{true: 1}[in.Ready])
			want("reconciled_instance_restarts_total", with("replica", r), float64(in.Restarts))
			if in.StartedAt != nil {
				want("reconciled_instance_start_time_seconds", with("replica", r), float64(in.StartedAt.UnixMilli())/1e3)
			}
			if in.LastExit != nil && in.LastExit.Signal == "" {
				want("reconciled_instance_last_exit_code", with("replica", r), float64(in.LastExit.Code))
			}
			if in.Pid != 0 {
				if v, ok := opSample(mfs, "reconciled_instance_memory_bytes", with("replica", r)); !ok || v <= 0 {
					diffs = append(diffs, fmt.Sprintf("%s-%s: memory %v (present %v), want > 0", name, r, v, ok))
				}
				if _, ok := opSample(mfs, "reconciled_instance_cpu_seconds_total", with("replica", r)); !ok {
					diffs = append(diffs, fmt.Sprintf("%s-%s: no CPU figure", name, r))
				}
			}
		}
		events, err := status.ReadEvents(dir, name)
		if err != nil {
			return []string{err.Error()}
		}
		counts := map[[2]string]int{}
		for _, ev := range events {
			counts[[2]string{ev.Reason, ev.Type}]++
		}
		for k, n := range counts {
			want("reconciled_events_total", with("reason", k[0], "type", k[1]), float64(n))
		}
	}
	return diffs
}

// TestRunHTTP runs `reconciled run --http` on a running set of programs
// and checks that /metrics, read by Prometheus's own text parser (and by
// promtool when installed), says what the status and event files say.
func TestRunHTTP(t *testing.T) {
	dir := t.TempDir()
	sfx := strconv.Itoa(os.Getpid())
	web, job := "web-"+sfx, "job-"+sfx
	opWrite(t, dir, web, "spec:\n  command: [sleep, \"1000\"]\n  replicas: 2\n  startSeconds: 100ms\n  stopTimeout: 1s\n"+
		"  readinessProbe:\n    exec: {command: [\"true\"]}\n    period: 200ms\n")
	opWrite(t, dir, job, "spec:\n  command: [sh, -c, \"exit 3\"]\n  restartPolicy: Never\n  startSeconds: 0s\n")
	d := opStart(t, nil, "run", "--dir", dir, "--http", "127.0.0.1:0", "--log-format", "json")
	base := "http://" + d.httpAddr(t)

	waitfor.Condition(t, cliTimeout, func() bool {
		code, _, _ := opGet(base + "/readyz")
		return code == 200
	}, "/readyz 200")
	if code, body, err := opGet(base + "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d %q %v, want 200", code, body, err)
	}
	cmdWaitStatus(t, dir, web, func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 2 })
	cmdWaitStatus(t, dir, job, func(st status.ProgramStatus) bool {
		return len(st.Status.Instances) == 1 && st.Status.Instances[0].State == "EXITED"
	})

	var body string
	var diffs []string
	// The files are written after the daemon's memory changes: poll until
	// a scrape and the files agree.
	if !waitfor.Until(cliTimeout, func() bool {
		var code int
		var err error
		code, body, err = opGet(base + "/metrics")
		if err != nil || code != 200 {
			diffs = []string{fmt.Sprintf("GET /metrics: %d %v", code, err)}
			return false
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parse /metrics: %v", err)
		}
		diffs = opCompare(mfs, dir, []string{web, job})
		for i := range 2 {
			l := map[string]string{"program": web, "replica": strconv.Itoa(i), "probe": "readiness", "result": "success"}
			if v, _ := opSample(mfs, "reconciled_probe_results_total", l); v < 1 {
				diffs = append(diffs, fmt.Sprintf("probe results of %s-%d: %v successes", web, i, v))
			}
		}
		if v, _ := opSample(mfs, "reconciled_reconcile_passes_total", nil); v < 1 {
			diffs = append(diffs, "no pass counted")
		}
		return len(diffs) == 0
	}) {
		t.Fatalf("/metrics and the status files disagree:\n%s\n\n%s", strings.Join(diffs, "\n"), body)
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not found (Debian package prometheus): `promtool check metrics` skipped")
	}
	lines := strings.Split(body, "\n")
	var ours []string
	for _, l := range lines {
		if strings.Contains(l, "reconciled_") {
			ours = append(ours, l)
		}
	}
	t.Logf("curl /metrics | grep reconciled_ | head:\n%s", strings.Join(ours[:min(len(ours), 24)], "\n"))

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("run --http after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(cliTimeout):
		t.Fatal("run --http did not exit after SIGTERM")
	}
}

// TestRunHTTPAddressInUse: --http on a taken address fails at once, exit 1.
func TestRunHTTPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	res := cmdRun(t, "run", "--dir", t.TempDir(), "--http", ln.Addr().String())
	if res.code != 1 || !strings.Contains(res.stderr, "--http: listen tcp "+ln.Addr().String()) {
		t.Errorf("run --http on a taken address: %+v", res)
	}
}

// notifySocket is systemd's end of the notify protocol. It is read only
// by the test's goroutine: a datagram is queued before its sender's write
// returns, so a drain after the sender did something sees all it sent.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	msgs []string
}

func opNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{t: t, conn: conn}
}

// read reads one datagram by deadline; false when none came.
func (s *notifySocket) read(deadline time.Time) bool {
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(deadline)
	n, err := s.conn.Read(buf)
	if err != nil {
		return false
	}
	s.msgs = append(s.msgs, string(buf[:n]))
	return true
}

// drain reads every datagram queued now and returns their number.
func (s *notifySocket) drain() int {
	n := 0
	for s.read(time.Now()) {
		n++
	}
	return n
}

// waitFor reads until a message at position from or later starts with
// prefix, and returns its position.
func (s *notifySocket) waitFor(from int, prefix string) int {
	s.t.Helper()
	deadline := time.Now().Add(cliTimeout)
	for i := from; ; i++ {
		for i >= len(s.msgs) {
			if !s.read(deadline) {
				s.t.Fatalf("no notification %q after #%d; have %q", prefix, from, s.msgs)
			}
		}
		if strings.HasPrefix(s.msgs[i], prefix) {
			return i
		}
	}
}

// TestRunNotify runs the daemon (runDaemon, in process) under a systemd
// stand-in: a real unixgram NOTIFY_SOCKET, a 400ms watchdog. It checks the
// transcript of a start, a SIGHUP, a wedged loop and a stop, and that no
// instance inherits the daemon's notify variables.
func TestRunNotify(t *testing.T) {
	sock := opNotifySocket(t)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	dir := t.TempDir()
	name := "notify-" + strconv.Itoa(os.Getpid())
	envFile := filepath.Join(t.TempDir(), "env")
	opWrite(t, dir, name, fmt.Sprintf("spec:\n  shell: true\n  command: env > %s; exec sleep 1000\n  startSeconds: 100ms\n  stopTimeout: 1s\n", envFile))

	logs := &cliBuffer{}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(logs, prefix, args) }, funcr.Options{})
	var mu sync.Mutex
	wedge := false
	wedged := make(chan struct{}, 1)
	release := make(chan struct{})
	o := &runOptions{exitOn: "never", resync: time.Hour, seamPass: func(reconciler.PassReport) {
		mu.Lock()
		w := wedge
		mu.Unlock()
		if w {
			wedged <- struct{}{}
			<-release
		}
	}}
	cliDaemonMu.Lock()
	defer cliDaemonMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, &globalOptions{dir: dir}, o, log) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()

	ready := sock.waitFor(0, "READY=1\nSTATUS=1 program, ")
	cmdWaitStatus(t, dir, name, func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 1 })
	waitfor.Condition(t, cliTimeout, func() bool { _, err := os.Stat(envFile); return err == nil }, "the instance's env file")
	env, _ := os.ReadFile(envFile)
	for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
		if strings.Contains(string(env), "\n"+v) || strings.HasPrefix(string(env), v) {
			t.Errorf("the instance inherited %s", v)
		}
	}
	sock.waitFor(ready+1, "WATCHDOG=1")

	// SIGHUP: RELOADING=1 (with MONOTONIC_USEC=) then READY=1.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloading := sock.waitFor(ready+1, "RELOADING=1\nMONOTONIC_USEC=")
	sock.waitFor(reloading+1, "READY=1")

	// Wedge the loop in its next pass: the pings stop, and come back once
	// it answers again.
	mu.Lock()
	wedge = true
	mu.Unlock()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-wedged
	missed := func() int { return strings.Count(logs.String(), "The loop did not answer") }
	base := missed()
	waitfor.Condition(t, cliTimeout, func() bool { return missed() >= base+1 }, "a withheld ping")
	// Every ping sent before the first withheld one is queued by now.
	sock.drain()
	from := len(sock.msgs)
	waitfor.Condition(t, cliTimeout, func() bool { return missed() >= base+3 }, "two more withheld pings")
	sock.drain()
	if msgs := sock.msgs[from:]; slices.Contains(msgs, "WATCHDOG=1") {
		t.Fatalf("WATCHDOG=1 sent while the loop was wedged: %q", msgs)
	}
	mu.Lock()
	wedge = false
	mu.Unlock()
	close(release)
	sock.waitFor(from, "WATCHDOG=1")

	cancel() // SIGTERM
	sock.waitFor(from, "STOPPING=1\nSTATUS=")
	if err := <-done; err != nil {
		t.Errorf("runDaemon: %v", err)
	}
	stopped = true
	var transcript []string
	for _, m := range sock.msgs {
		if m == "WATCHDOG=1" && len(transcript) > 0 && strings.HasPrefix(transcript[len(transcript)-1], "WATCHDOG=1") {
			transcript[len(transcript)-1] = "WATCHDOG=1 (repeated)"
			continue
		}
		transcript = append(transcript, strings.ReplaceAll(m, "\n", " "))
	}
	t.Logf("notify transcript:\n%s", strings.Join(transcript, "\n"))
}

// TestRunPID1 runs `reconciled run` as PID 1 of a new pid namespace, as in
// a container: it reaps the orphans its instances leave (nobody else would)
// and exits 0 on SIGTERM and on SIGINT (PID 1 has no default actions).
func TestRunPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a pid namespace")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			name := "pidone-" + strconv.Itoa(os.Getpid())
			// The subshell exits at once, so its sleep is orphaned and
			// reparented to PID 1, which must reap it 200ms later.
			opWrite(t, dir, name, "spec:\n  command: [sh, -c, \"(sleep 0.2 &); exec sleep 1000\"]\n  startSeconds: 100ms\n  stopTimeout: 1s\n")
			d := opStart(t, []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}, "run", "--dir", dir)
			var daemon int
			if !waitfor.Until(cliTimeout, func() bool {
				if kids := opChildren(d.cmd.Process.Pid); len(kids) == 1 {
					daemon = kids[0]
				}
				return daemon != 0
			}) {
				t.Fatal("no daemon under unshare")
			}
			if ns := opNSpid(daemon); !strings.HasSuffix(ns, "\t1") {
				t.Fatalf("daemon NSpid %q, want pid 1 in its namespace", ns)
			}
			cmdWaitStatus(t, dir, name, func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 1 })
			// In the end PID 1's only child is the instance: the orphan
			// was reparented to it and reaped, not left a zombie.
			if !waitfor.Until(cliTimeout, func() bool {
				kids := opChildren(daemon)
				return len(kids) == 1 && !opZombie(kids[0])
			}) {
				t.Fatalf("children of PID 1: %v", opChildren(daemon))
			}
			if err := syscall.Kill(daemon, sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-d.exited:
				if err != nil {
					t.Fatalf("reconciled run as PID 1 after %v: %v, want exit 0", sig, err)
				}
			case <-time.After(cliTimeout):
				t.Fatalf("reconciled run as PID 1 did not exit on %v", sig)
			}
		})
	}
}

func opChildren(pid int) []int {
	var kids []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

func opZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return err == nil && i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func opNSpid(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "NSpid:") {
			return line
		}
	}
	return ""
}
