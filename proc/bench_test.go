package proc

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkStart and BenchmarkBaselineForkExec compare a full cycle (start,
// SIGKILL, wait, release) through Start with the bare syscall.ForkExec of the
// same command (+kill, wait4), both from GOMAXPROCS goroutines: report the
// ratio of their ns/op. BenchmarkStart1000 and BenchmarkBaselineForkExec1000
// time only the starting of 1000 processes from 8 goroutines.

func sleepPath(b *testing.B) string {
	sleep, err := lookPath("sleep", []string{testPath}, "")
	if err != nil {
		b.Fatal(err)
	}
	return sleep
}

func BenchmarkStart(b *testing.B) {
	sleep := sleepPath(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := testStarter.Start(Spec{Argv: []string{sleep, "1000"}})
			if err != nil {
				b.Error(err)
				return
			}
			if err := p.Signal(syscall.SIGKILL); err != nil {
				b.Error(err)
			}
			if _, err := p.Wait(ctx); err != nil {
				b.Error(err)
			}
			if err := p.Release(); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkBaselineForkExec runs in our own process group (no Setpgid), where
// the reaper leaves children to their starter.
func BenchmarkBaselineForkExec(b *testing.B) {
	sleep := sleepPath(b)
	b.RunParallel(func(pb *testing.PB) {
		attr := &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}}
		argv := []string{sleep, "1000"}
		for pb.Next() {
			pid, err := syscall.ForkExec(sleep, argv, attr)
			if err != nil {
				b.Error(err)
				return
			}
			// Our unreaped child: the pid is pinned, so kill(pid) is safe here.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				b.Error(err)
			}
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkBaselineForkExecSameAttr is the baseline with Start's SysProcAttr
// (Setpgid, Pdeathsig, PidFD), to tell the kernel's share of the cost from the
// package's. The child is in its own group, so it is protected from the reaper
// with startUnmanaged.
func BenchmarkBaselineForkExecSameAttr(b *testing.B) {
	sleep := sleepPath(b)
	b.RunParallel(func(pb *testing.PB) {
		argv := []string{sleep, "1000"}
		for pb.Next() {
			pidfd := -1
			attr := &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{
				Setpgid: true, Pdeathsig: syscall.SIGKILL, PidFD: &pidfd,
			}}
			var pid int
			done, err := testStarter.startUnmanaged(func() (int, error) {
				var err error
				pid, err = syscall.ForkExec(sleep, argv, attr)
				return pid, err
			})
			if err != nil {
				b.Error(err)
				return
			}
			if err := unix.PidfdSendSignal(pidfd, syscall.SIGKILL, nil, 0); err != nil {
				b.Error(err)
			}
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
				b.Error(err)
			}
			syscall.Close(pidfd)
			done()
		}
	})
}

// start1000 calls start 1000 times from 8 goroutines.
func start1000(b *testing.B, start func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= 1000 {
					return
				}
				if err := start(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkStart1000(b *testing.B) {
	sleep := sleepPath(b)
	ctx := context.Background()
	for range b.N {
		var ps [1000]*Process
		start1000(b, func(i int) error {
			var err error
			ps[i], err = testStarter.Start(Spec{Argv: []string{sleep, "1000"}})
			return err
		})
		b.StopTimer()
		for _, p := range ps {
			if p != nil {
				_ = p.Signal(syscall.SIGKILL)
			}
		}
		for _, p := range ps {
			if p != nil {
				_, _ = p.Wait(ctx)
				_ = p.Release()
			}
		}
		b.StartTimer()
	}
}

func BenchmarkBaselineForkExec1000(b *testing.B) {
	sleep := sleepPath(b)
	attr := &syscall.ProcAttr{Env: []string{}, Files: []uintptr{0, 1, 2}}
	for range b.N {
		var pids [1000]int
		start1000(b, func(i int) error {
			var err error
			pids[i], err = syscall.ForkExec(sleep, []string{sleep, "1000"}, attr)
			return err
		})
		b.StopTimer()
		for _, pid := range pids {
			if pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for _, pid := range pids {
			if pid > 0 {
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(pid, &ws, 0, nil)
			}
		}
		b.StartTimer()
	}
}

// BenchmarkParkedWaiters parks 100 waiters on 100 processes that exit after
// half a second; an op is one such round. It reports the CPU time of this
// process (getrusage) from the moment the waiters park until the last one
// returns, per op (cpu-ns/op) and as a share of that wall time (%cpu):
// waiters that spun instead of parking would burn about the wall time times
// GOMAXPROCS; exit handling costs a few milliseconds.
func BenchmarkParkedWaiters(b *testing.B) {
	const n = 100
	sleep := sleepPath(b)
	ctx := context.Background()
	var cpu, wall time.Duration
	for range b.N {
		b.StopTimer()
		ps := make([]*Process, n)
		for i := range ps {
			p, err := testStarter.Start(Spec{Argv: []string{sleep, "0.5"}, Env: []string{testPath}})
			if err != nil {
				b.Fatal(err)
			}
			ps[i] = p
		}
		b.StartTimer()
		cpu0, t0 := rusageSelf(b), time.Now()
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() {
				if _, err := p.Wait(ctx); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		cpu += rusageSelf(b) - cpu0
		wall += time.Since(t0)
		for _, p := range ps {
			if err := p.Release(); err != nil {
				b.Error(err)
			}
		}
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(cpu)/float64(wall)*100, "%cpu")
}

// rusageSelf returns this process's user+system CPU time.
func rusageSelf(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
