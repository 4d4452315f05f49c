package usage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) is a
// constant there).
const clockTicks = 100

// procUsage is what /proc/PID/stat tells of one process.
type procUsage struct {
	pgid  int
	ticks uint64 // utime+stime+cutime+cstime, in clock ticks
	rss   int64  // resident pages
}

// scanProc reads /proc/PID/stat of every process under procDir (the proc
// mount). A process that exits meanwhile is left out.
func scanProc(procDir string) (map[int]procUsage, error) {
	d, err := os.Open(procDir)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", procDir, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", procDir, err)
	}
	procs := make(map[int]procUsage, len(names))
	buf := make([]byte, statBufSize)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		p, err := readStat(procDir, pid, buf)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // exited since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", procDir, err)
		}
		procs[pid] = p
	}
	return procs, nil
}

// statBufSize holds any /proc/PID/stat line: 52 numbers and a command name
// of at most 64 bytes.
const statBufSize = 2048

// readStat reads /proc/PID/stat under procDir with three system calls
// (open, one read, close), into buf (statBufSize bytes). The error wraps
// fs.ErrNotExist when the process is gone.
func readStat(procDir string, pid int, buf []byte) (procUsage, error) {
	path := procDir + "/" + strconv.Itoa(pid) + "/stat"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procUsage{}, fmt.Errorf("pid %d: %w", pid, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil {
		return procUsage{}, fmt.Errorf("pid %d: %w", pid, &fs.PathError{Op: "read", Path: path, Err: err})
	}
	p, err := parseStat(buf[:max(n, 0)])
	if err != nil {
		return procUsage{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return p, nil
}

// parseStat parses /proc/PID/stat: pgid (field 5), utime, stime, cutime,
// cstime (14-17) and rss (24). The command name (field 2) is in
// parentheses and may hold spaces and parentheses itself, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procUsage, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procUsage{}, errors.New("parse stat: no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 24-2 {
		return procUsage{}, fmt.Errorf("parse stat: %d fields, want 24 or more", len(f)+2)
	}
	field := func(n int) (int64, error) {
		v, err := strconv.ParseInt(string(f[n-3]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse stat field %d: %w", n, err)
		}
		return v, nil
	}
	var p procUsage
	pgid, err := field(5)
	if err != nil {
		return procUsage{}, err
	}
	p.pgid = int(pgid)
	for n := 14; n <= 17; n++ {
		t, err := field(n)
		if err != nil {
			return procUsage{}, err
		}
		p.ticks += uint64(max(t, 0)) // cutime and cstime are signed in the kernel's format
	}
	if p.rss, err = field(24); err != nil {
		return procUsage{}, err
	}
	p.rss = max(p.rss, 0)
	return p, nil
}
