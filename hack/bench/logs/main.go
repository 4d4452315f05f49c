// Command logs measures what the daemon's output pipeline costs a fast
// writer: a child writes -bytes (1 GiB) of 100-byte lines to its stdout as
// fast as it can, once straight into a file (the floor) and once through
// `reconciled run` into a rotating file target (a pipe, a pump, size
// rotation), interleaved over -rounds in the same run. It reports each
// throughput, their ratio (target >= 0.70), the daemon's peak RSS sampled
// every 20ms (target < 64 MB), and checks that the log files hold every byte.
//
// Times: the writer stamps the moment before its first write and the moment
// its last write returns: its throughput, the figure compared (through the
// daemon at most a pipe and a pump buffer, 512 KiB, are then not yet in the
// file). The end-to-end figure runs until the log files hold every byte
// (polled every 10ms, so it is up to 10ms late).
//
// Run it through hack/bench/logs.sh, which builds the binaries and cleans up.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

type config struct {
	bin     string
	bytes   int64
	rounds  int
	workDir string
	chunk   int
	maxSize string
	auto    bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "writer" {
		os.Exit(writer(os.Args[2:]))
	}
	var c config
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.Int64Var(&c.bytes, "bytes", 1<<30, "bytes each writer writes")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of (direct, daemon)")
	flag.StringVar(&c.workDir, "workdir", "", "scratch directory (required; emptied by the caller)")
	flag.IntVar(&c.chunk, "chunk", 64<<10, "bytes per write(2) of the writer")
	flag.StringVar(&c.maxSize, "max-size", "50MiB", "maxSize of the log file target")
	flag.BoolVar(&c.auto, "auto", false, "stdout: auto (the daemon's own log files and arrival index, 50MiB x 11 kept: -bytes at most 550MiB) instead of a file target")
	flag.Parse()
	if c.auto && c.bytes > 11*50<<20 {
		fmt.Fprintln(os.Stderr, "bench logs: -auto keeps 11 files of 50MiB: give -bytes 550MiB or less (-bytes 536870912)")
		os.Exit(2)
	}
	if c.bin == "" || c.workDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench logs: FAILED:", err)
		os.Exit(1)
	}
}

// writer is the child: `logs writer BYTES CHUNK STAMPFILE`. It writes BYTES
// of numbered 100-byte lines to stdout in CHUNK-sized writes and leaves the
// start and end times (unix ns) in STAMPFILE.
func writer(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: logs writer BYTES CHUNK STAMPFILE")
		return 2
	}
	total, _ := strconv.ParseInt(args[0], 10, 64)
	chunk, _ := strconv.Atoi(args[1])
	const lineLen = 100
	chunk = max(lineLen, chunk/lineLen*lineLen)
	buf := make([]byte, chunk)
	for i := 0; i < chunk; i += lineLen {
		copy(buf[i:], fmt.Sprintf("%-*s\n", lineLen-1, "line "+strconv.Itoa(i/lineLen)+" "+strings.Repeat("x", 60)))
	}
	start := time.Now()
	for left := total; left > 0; {
		n := int(min(int64(len(buf)), left))
		if _, err := os.Stdout.Write(buf[:n]); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		left -= int64(n)
	}
	end := time.Now()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := ru.Utime.Nano() + ru.Stime.Nano()
	if err := os.WriteFile(args[2], []byte(fmt.Sprintf("%d %d %d\n", start.UnixNano(), end.UnixNano(), cpu)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 1
	}
	return 0
}

// stamps is what the writer leaves: its first and last write, and the CPU
// time it used (user and system).
type stamps struct {
	start, end time.Time
	cpu        time.Duration
}

func readStamps(path string) (stamps, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stamps{}, err
	}
	var s, e, cpu int64
	if _, err := fmt.Sscanf(string(b), "%d %d %d", &s, &e, &cpu); err != nil {
		return stamps{}, fmt.Errorf("%s: %w", path, err)
	}
	return stamps{time.Unix(0, s), time.Unix(0, e), time.Duration(cpu)}, nil
}

type sample struct {
	direct, daemon float64 // MB/s (10^6), as the writer sees it
	e2e            float64 // MB/s through the daemon until the files hold everything
	// CPU seconds per GiB: the writer into a file, the writer into the
	// pipe, the daemon (utime+stime, 10ms ticks).
	cpuDirect, cpuPiped, cpuDaemon float64
}

func run(c config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	specs := filepath.Join(c.workDir, "specs")
	logs := filepath.Join(c.workDir, "logs")
	for _, d := range []string{specs, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	dlog, err := os.Create(filepath.Join(c.workDir, "daemon.log"))
	if err != nil {
		return err
	}
	defer dlog.Close()
	cmd := exec.Command(c.bin, "run", "--dir", specs, "--resync", "0")
	cmd.Stdout, cmd.Stderr = dlog, dlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	daemon, err := benchkit.Start("daemon", cmd)
	if err != nil {
		return err
	}
	defer daemon.Stop(20 * time.Second)
	pid := daemon.Pid()
	// Ready once it holds the directory (it enters itself under daemons/
	// then).
	registered := filepath.Join(specs, ".reconciled", "daemons", strconv.Itoa(pid))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(registered); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the daemon did not start within 30s (see daemon.log)")
		}
	}
	rssBefore, _ := rssBytes(pid)

	var samples []sample
	var peak int64
	for round := 1; round <= c.rounds; round++ {
		var s sample
		// The floor: the same writer, stdout a file.
		stamp := filepath.Join(c.workDir, "direct.stamp")
		out := filepath.Join(c.workDir, "direct.log")
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		w := exec.Command(self, "writer", strconv.FormatInt(c.bytes, 10), strconv.Itoa(c.chunk), stamp)
		w.Stdout, w.Stderr = f, os.Stderr
		err = w.Run()
		f.Close()
		if err != nil {
			return fmt.Errorf("direct writer: %w", err)
		}
		st, err := readStamps(stamp)
		if err != nil {
			return err
		}
		gib := float64(c.bytes) / (1 << 30)
		s.direct = float64(c.bytes) / st.end.Sub(st.start).Seconds() / 1e6
		s.cpuDirect = st.cpu.Seconds() / gib
		if fi, err := os.Stat(out); err != nil || fi.Size() != c.bytes {
			return fmt.Errorf("direct file: %v bytes, want %d (%v)", fi, c.bytes, err)
		}
		os.Remove(out)

		// Through the daemon.
		name := fmt.Sprintf("w%d", round)
		stamp = filepath.Join(c.workDir, name+".stamp")
		target := filepath.Join(logs, name+".log")
		stdout := fmt.Sprintf("{file: %q, maxSize: %s, maxBackups: 1000}", target, c.maxSize)
		if c.auto {
			target = filepath.Join(specs, ".reconciled", "logs", name+"-0.stdout.log")
			stdout = "auto"
		}
		manifest := fmt.Sprintf(`spec:
  command: [%q, writer, "%d", "%d", %q]
  restartPolicy: Never
  startSeconds: 0s
  stdout: %s
`, self, c.bytes, c.chunk, stamp, stdout)
		tmp := filepath.Join(specs, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(manifest), 0o644); err != nil {
			return err
		}
		ticks0, _ := benchkit.CPUTicks(pid)
		if err := os.Rename(tmp, filepath.Join(specs, name+".yaml")); err != nil {
			return err
		}
		var done time.Time
		deadline := time.Now().Add(10 * time.Minute)
		lastRSS := time.Time{}
		for {
			now := time.Now()
			if now.Sub(lastRSS) >= 20*time.Millisecond {
				rss, _ := rssBytes(pid)
				peak = max(peak, rss)
				lastRSS = now
			}
			if total, _ := sizeOf(target); total == c.bytes {
				done = now
				break
			} else if total > c.bytes {
				return fmt.Errorf("%s: %d bytes, more than written", target, total)
			}
			if now.After(deadline) {
				total, _ := sizeOf(target)
				return fmt.Errorf("daemon run: %d of %d bytes after 10 minutes", total, c.bytes)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ticks1, _ := benchkit.CPUTicks(pid)
		s.cpuDaemon = float64(ticks1-ticks0) / 100 / gib
		st, err = waitStamps(stamp)
		if err != nil {
			return err
		}
		s.daemon = float64(c.bytes) / st.end.Sub(st.start).Seconds() / 1e6
		s.e2e = float64(c.bytes) / done.Sub(st.start).Seconds() / 1e6
		s.cpuPiped = st.cpu.Seconds() / gib
		if err := checkLines(target, int(c.bytes%100)); err != nil {
			return err
		}
		os.Remove(filepath.Join(specs, name+".yaml"))
		removeLogs(target)
		if c.auto {
			removeLogs(filepath.Join(filepath.Dir(target), name+"-0.index"))
		}
		samples = append(samples, s)
		fmt.Printf("round %d: direct %5.0f MB/s   daemon %5.0f MB/s (end to end %5.0f)   ratio %.2f (%.2f)   CPU s/GiB: writer %.2f (piped %.2f), daemon %.2f\n",
			round, s.direct, s.daemon, s.e2e, s.daemon/s.direct, s.e2e/s.direct, s.cpuDirect, s.cpuPiped, s.cpuDaemon)
	}
	_, hwm := rssBytes(pid)
	direct := median(samples, func(s sample) float64 { return s.direct })
	viaDaemon := median(samples, func(s sample) float64 { return s.daemon })
	ratios := median(samples, func(s sample) float64 { return s.daemon / s.direct })
	e2e := median(samples, func(s sample) float64 { return s.e2e })
	e2eRatios := median(samples, func(s sample) float64 { return s.e2e / s.direct })
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	into := "a file target rotated at " + c.maxSize
	if c.auto {
		into = "stdout: auto (the daemon's own files)"
	}
	fmt.Printf("\n%d rounds of %d MiB, %d-byte writes, 100-byte lines, into %s\n", c.rounds, c.bytes>>20, c.chunk, into)
	fmt.Printf("direct to a file (median)      %7.0f MB/s\n", direct)
	fmt.Printf("through the daemon (median)    %7.0f MB/s   end to end %.0f MB/s\n", viaDaemon, e2e)
	fmt.Printf("ratio (median of rounds)       %7.2f   target >= 0.70: %s   (end to end %.2f)\n", ratios, verdict(ratios >= 0.70), e2eRatios)
	fmt.Printf("CPU s/GiB (median)             writer into a file %.2f, into the pipe %.2f; daemon %.2f\n",
		median(samples, func(s sample) float64 { return s.cpuDirect }),
		median(samples, func(s sample) float64 { return s.cpuPiped }),
		median(samples, func(s sample) float64 { return s.cpuDaemon }))
	fmt.Printf("daemon RSS before / peak / HWM %5.1f / %.1f / %.1f MB   target < 64 MB: %s\n",
		float64(rssBefore)/1e6, float64(peak)/1e6, float64(hwm)/1e6, verdict(hwm < 64e6))
	return nil
}

// waitStamps waits for the writer's stamp file (written just before it exits).
func waitStamps(path string) (stamps, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := readStamps(path)
		if err == nil || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sizeOf is the size of path and all its backups.
func sizeOf(path string) (int64, error) {
	matches, _ := filepath.Glob(path + ".*")
	var total int64
	for _, p := range append(matches, path) {
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// checkLines checks that every file holds whole 100-byte lines, but for the
// writer's last, partial line of tail bytes (-bytes is not a multiple of
// 100), flushed when it exited, at the end of the current file.
func checkLines(path string, tail int) error {
	matches, _ := filepath.Glob(path + ".*")
	for _, p := range append(matches, path) {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for n := 0; ; n++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				f.Close()
				if len(line) == 0 || p == path && len(line) == tail {
					break
				}
				return fmt.Errorf("%s: line %d cut: %q", p, n, line)
			}
			if len(line) != 100 {
				f.Close()
				return fmt.Errorf("%s: line %d is %d bytes", p, n, len(line))
			}
		}
	}
	return nil
}

func removeLogs(path string) {
	matches, _ := filepath.Glob(path + "*")
	for _, p := range matches {
		os.Remove(p)
	}
}

// rssBytes returns VmRSS and VmHWM of pid in bytes (0 when it is gone).
func rssBytes(pid int) (rss, hwm int64) {
	rss, hwm, _ = benchkit.MemKiB(pid)
	return rss << 10, hwm << 10
}

func median(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return benchkit.Median(v)
}
