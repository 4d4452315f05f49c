package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// proc is one process of ours found in /proc.
type proc struct {
	pid     int
	pgid    int
	start   uint64 // start time in clock ticks since boot: with pid, names the process
	program string // RECONCILED_PROGRAM; empty for the daemon and the CLI
	index   int
	escaped bool // SOAK_ROLE=escaped: a child that left its group on purpose
}

// leader reports whether p is an instance's own process: it leads its
// process group and is not an escaped child (which leads its own session).
func (p proc) leader() bool { return p.program != "" && p.pgid == p.pid && !p.escaped }

// scanProcs lists the live (not zombie) processes whose environment holds
// tokenEnv. Processes that vanish while read are skipped.
func scanProcs(tokenEnv string) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	want := []byte(tokenEnv)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !hasVar(env, want) {
			continue
		}
		p, ok := readStat(pid)
		if !ok {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			s := string(kv)
			switch {
			case strings.HasPrefix(s, "RECONCILED_PROGRAM="):
				p.program = strings.TrimPrefix(s, "RECONCILED_PROGRAM=")
			case strings.HasPrefix(s, "RECONCILED_INSTANCE="):
				p.index, _ = strconv.Atoi(strings.TrimPrefix(s, "RECONCILED_INSTANCE="))
			case s == "SOAK_ROLE=escaped":
				p.escaped = true
			}
		}
		out = append(out, p)
	}
	return out
}

func hasVar(env, kv []byte) bool {
	for _, v := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(v, kv) {
			return true
		}
	}
	return false
}

// readStat reads pid's process group and start time; a zombie or a
// vanished process is not alive.
func readStat(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return proc{}, false
	}
	pgid, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return proc{pid: pid, pgid: pgid, start: start}, true
}

// stillAlive reports whether the process p names is alive now.
func stillAlive(p proc) bool {
	q, ok := readStat(p.pid)
	return ok && q.start == p.start
}

// killAll SIGKILLs every process carrying tokenEnv until none is left or
// tries run out; it returns how many were still found on the last scan.
func killAll(tokenEnv string, tries int, pause func()) int {
	for i := 0; i < tries; i++ {
		ps := scanProcs(tokenEnv)
		if len(ps) == 0 {
			return 0
		}
		for _, p := range ps {
			if p.pid != os.Getpid() {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
		pause()
	}
	return len(scanProcs(tokenEnv))
}
