package spec

// The field table, part three: containment (ioNice, limits, resources).

import (
	"strconv"
	"strings"
)

func ioNiceField() *Field {
	t := object(
		&Field{Name: "class", Type: enum(string(IONiceBestEffort), string(IONiceIdle), string(IONiceRealtime)), Required: true,
			Doc: "best-effort, idle (only when the disk is otherwise idle) or realtime (the daemon must be root)."},
		&Field{Name: "level", Type: intRange(0, 7), Default: strconv.Itoa(DefaultIONiceLevel),
			Doc: "0 (served first) to 7, for best-effort and realtime; idle takes no level."},
	)
	t.Rules = []Rule{{When: "class", Equals: string(IONiceIdle), Field: "level", Forbidden: true}}
	return &Field{Name: "ioNice", Hash: InHash, DefaultText: "the kernel's (from nice)", Type: t,
		Doc:        "The I/O scheduling class and level (ioprio_set), as ionice(1) sets them.",
		Kubernetes: "(none; systemd IOSchedulingClass, IOSchedulingPriority)"}
}

func limitsField() *Field {
	var fs []*Field
	for _, name := range RlimitNames() {
		fs = append(fs, rlimitField(name))
	}
	return &Field{Name: "limits", Hash: InHash, DefaultText: "the daemon's",
		Doc: "Resource limits set with setrlimit before the program runs, as ulimit would: each is one value " +
			"for soft and hard alike, or {soft, hard} with soft at most hard; unlimited is no limit. rss and " +
			"locks are refused: Linux ignores them.",
		Supervisord: "minfds, minprocs (for supervisord itself)",
		Kubernetes:  "(none; docker --ulimit, systemd LimitNOFILE= and the rest)",
		Type:        object(fs...)}
}

// rlimitDoc says what the limit name limits.
func rlimitDoc(name string) string {
	switch name {
	case "as":
		return "The size of the address space (virtual memory)."
	case "core":
		return "The size of a core file; 0 writes none."
	case "cpu":
		return "CPU time, in whole seconds: SIGXCPU at the soft limit, SIGKILL at the hard one."
	case "data":
		return "The size of the data segment."
	case "fsize":
		return "The size of a file the process writes."
	case "memlock":
		return "Memory locked into RAM (mlock)."
	case "msgqueue":
		return "Bytes in POSIX message queues."
	case "nofile":
		return "Open files, at least 1; not unlimited (the kernel caps it at fs.nr_open)."
	case "nproc":
		return "Processes and threads of the instance's user, at least 1."
	case "rtprio":
		return "The highest real-time priority."
	case "rttime":
		return "CPU time of a real-time task without a blocking call, in whole microseconds."
	case "sigpending":
		return "Signals queued to the process."
	case "stack":
		return "The size of the stack."
	}
	return ""
}

func rlimitField(name string) *Field {
	var value *Type
	switch rlimitUnitOf(name) {
	case unitBytes:
		value = &Type{Kind: KindSize, Unlimited: true}
	case unitSeconds, unitMicroseconds:
		value = &Type{Kind: KindDuration, Unlimited: true}
	default:
		value = intMin(0)
		if name == "nofile" || name == "nproc" {
			value = intMin(1)
		}
		value.Unlimited = name != "nofile"
	}
	both := object(
		&Field{Name: "soft", Type: value, Required: true, Doc: "The soft limit: the process may raise it up to hard."},
		&Field{Name: "hard", Type: value, Required: true, Doc: "The hard limit."},
	)
	return &Field{Name: name, Type: union(value, both), Doc: rlimitDoc(name), Kubernetes: "(none; setrlimit RLIMIT_" + strings.ToUpper(name) + ")"}
}

func resourcesField() *Field {
	return &Field{Name: "resources", Hash: InHash, DefaultText: "no limits",
		Doc: "Limits of the instance's own cgroup (when the daemon can make cgroups): memory.max, cpu.max and " +
			"pids.max. A controller that cannot be used makes the start fail with a message that names it.",
		Kubernetes:  "containers[].resources.limits",
		Supervisord: "(none; systemd MemoryMax, CPUQuota, TasksMax)",
		Type: object(
			&Field{Name: "memory", Type: &Type{Kind: KindMemory},
				Doc: "The most memory, in bytes with a Kubernetes suffix: 512Mi, 1.5Gi, 2G; at least 4Mi. m " +
					"(thousandths) is refused: 512m is half a byte."},
			&Field{Name: "cpu", Type: &Type{Kind: KindCPU},
				Doc: "The CPU bandwidth in cores: \"500m\" (thousandths), 0.5 or 2; at least 10m."},
			&Field{Name: "pids", Type: intRange(1, maxPids),
				Doc: "The most processes and threads at once."},
		)}
}
