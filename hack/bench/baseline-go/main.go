// Command baseline-go is the Go floor for hack/bench: it starts N copies of
// `sleep 1000` with syscall.ForkExec from a few goroutines, waits until every
// child has exec'd sleep (/proc/PID/comm is "sleep"), then stops them all with
// SIGTERM and reaps them. It is what any Go supervisor pays at least.
//
//	baseline-go [-workers 4] [-setpgid] [-pdeathsig] [-pidfd] [-path /usr/bin/sleep] [-control] N
//
// -setpgid, -pdeathsig and -pidfd add what reconciled does per instance (own
// process group, SIGKILL on parent death, a pidfd kept open per child), to
// tell the kernel's share of the daemon's cost from its own.
//
// -control is the mode hack/bench/daemon drives over stdin/stdout: it prints
// "ready", waits for a "start" line, spawns, prints "running_ns NS cpu_ns NS",
// then respawns any child that exits until a "stop" line, stops all and prints
// "stopped_ns NS cpu_ns NS children_ns NS". Without it, it spawns at once and
// prints both lines. cpu_ns is the program's own CPU time (getrusage
// RUSAGE_SELF) over that step, children_ns what the children it reaped in it
// used (RUSAGE_CHILDREN).
// Children get /dev/null as stdin, stdout and stderr.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type spawner struct {
	path    string
	argv    []string
	attr    *syscall.ProcAttr
	setpgid bool
	pidfd   bool
	pidfds  []int // kept open, as the daemon keeps one per instance
	// null is the children's stdio: held here so that the collector does
	// not close it (attr holds only its fd) while the spawns go on
	null *os.File

	pidMu    sync.Mutex // guards pidfds
	mu       sync.Mutex
	pids     []int
	index    map[int]int // pid -> slot
	stopping bool
}

func (s *spawner) spawnOne() int {
	attr := s.attr
	pidfd := -1
	if s.pidfd {
		sys := *s.attr.Sys
		sys.PidFD = &pidfd
		a := *s.attr
		a.Sys = &sys
		attr = &a
	}
	pid, err := syscall.ForkExec(s.path, s.argv, attr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline-go: fork/exec %s: %v\n", s.path, err)
		os.Exit(1)
	}
	if pidfd >= 0 {
		s.pidMu.Lock()
		s.pidfds = append(s.pidfds, pidfd)
		s.pidMu.Unlock()
	}
	return pid
}

// startAll spawns len(s.pids) children from workers goroutines and waits
// until each has exec'd sleep.
func (s *spawner) startAll(workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	n := len(s.pids)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s.pids[i] = s.spawnOne()
			}
		}()
	}
	wg.Wait()
	for i, pid := range s.pids {
		s.index[pid] = i
		// ForkExec returns after the exec, so this normally passes at once.
		for !isSleep(pid) {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func isSleep(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && string(b) == "sleep\n"
}

// reap respawns exited children until stopping, then reaps until none is
// left. It runs on its own goroutine (and so its own blocked thread).
func (s *spawner) reap(done chan<- struct{}) {
	defer close(done)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: all reaped
		}
		s.mu.Lock()
		if !s.stopping {
			if i, ok := s.index[pid]; ok {
				delete(s.index, pid)
				np := s.spawnOne()
				s.pids[i] = np
				s.index[np] = i
			}
		}
		s.mu.Unlock()
	}
}

// stopAll sends SIGTERM to every child and waits until all are reaped.
func (s *spawner) stopAll(reaped <-chan struct{}) time.Duration {
	t0 := time.Now()
	s.mu.Lock()
	s.stopping = true
	for _, pid := range s.pids {
		target := pid
		if s.setpgid {
			target = -pid
		}
		// Our unreaped children: their pids are pinned, so kill is safe.
		_ = syscall.Kill(target, syscall.SIGTERM)
	}
	s.mu.Unlock()
	if reaped != nil {
		<-reaped
	} else {
		for {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil && err != syscall.EINTR {
				break
			}
		}
	}
	return time.Since(t0)
}

// cpuTime is this process's own CPU time (all threads, not children).
func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// childrenTime is the CPU time of the children this process has reaped,
// each counted whole at its reap.
func childrenTime() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func waitLine(sc *bufio.Scanner, want string) bool {
	for sc.Scan() {
		if sc.Text() == want {
			return true
		}
	}
	return false
}

func main() {
	workers := flag.Int("workers", 4, "spawning goroutines")
	setpgid := flag.Bool("setpgid", false, "put every child in its own process group (as reconciled does) and signal the group")
	pdeathsig := flag.Bool("pdeathsig", false, "give every child a parent-death signal (SIGKILL), as reconciled does")
	pidfd := flag.Bool("pidfd", false, "take a pidfd for every child and keep it open, as reconciled does")
	path := flag.String("path", "/usr/bin/sleep", "the sleep binary; argv is {sleep, 1000}")
	control := flag.Bool("control", false, "be driven over stdin/stdout by hack/bench/daemon")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: baseline-go [-workers 4] [-setpgid] [-pdeathsig] [-pidfd] [-path P] [-control] N")
		flag.PrintDefaults()
	}
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(0))
	if flag.NArg() != 1 || err != nil || n <= 0 || *workers < 1 {
		flag.Usage()
		os.Exit(2)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline-go:", err)
		os.Exit(1)
	}
	fd := null.Fd()
	var deathsig syscall.Signal
	if *pdeathsig {
		deathsig = syscall.SIGKILL
	}
	s := &spawner{
		path: *path,
		argv: []string{"sleep", "1000"},
		attr: &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{fd, fd, fd},
			Sys:   &syscall.SysProcAttr{Setpgid: *setpgid, Pdeathsig: deathsig},
		},
		setpgid: *setpgid,
		pidfd:   *pidfd,
		null:    null,
		pids:    make([]int, n),
		index:   make(map[int]int, n),
	}
	start := func() {
		t0, c0 := time.Now(), cpuTime()
		s.startAll(*workers)
		fmt.Printf("running_ns %d cpu_ns %d\n", time.Since(t0).Nanoseconds(), (cpuTime() - c0).Nanoseconds())
	}
	stop := func(reaped <-chan struct{}) {
		c0, k0 := cpuTime(), childrenTime()
		d := s.stopAll(reaped)
		fmt.Printf("stopped_ns %d cpu_ns %d children_ns %d\n", d.Nanoseconds(), (cpuTime() - c0).Nanoseconds(), (childrenTime() - k0).Nanoseconds())
	}
	if !*control {
		start()
		stop(nil)
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !waitLine(sc, "start") {
		os.Exit(1)
	}
	start()
	reaped := make(chan struct{})
	go s.reap(reaped)
	waitLine(sc, "stop") // EOF counts as stop
	stop(reaped)
}
