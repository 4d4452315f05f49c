package spec

// The field table, part two: where output goes, probes, dependencies and
// the update strategy.

import "strconv"

func outputField(name string, isStderr bool) *Field {
	modes := []string{string(OutputAuto), string(OutputNull), string(OutputInherit)}
	doc := "Where the instances' standard output goes: auto is a log file per instance in the status " +
		"directory (.reconciled/logs/NAME-i.stdout.log, rotated at 50MiB keeping 10); null discards it; " +
		"inherit is the daemon's own stdout; {file: PATH, maxSize, maxBackups} is a file of your own, " +
		"rotated to PATH.1, PATH.2, ... ($(VAR) expands in PATH; a relative PATH is relative to the working " +
		"directory)."
	sup, k8s := "stdout_logfile, stdout_logfile_maxbytes, stdout_logfile_backups", "kubectl logs"
	if isStderr {
		modes = append(modes, string(OutputStdout))
		doc = "Where the instances' standard error goes: the same targets as stdout (auto makes " +
			"NAME-i.stderr.log), or stdout to merge it into standard output (the same pipe or file)."
		sup = "stderr_logfile, redirect_stderr"
	}
	file := &Type{Kind: KindObject, Name: "file target", Fields: []*Field{
		{Name: "file", Type: str(), Required: true,
			Doc: "The log file's path; $(VAR) expands from the instance's environment " +
				"(worker-$(RECONCILED_INSTANCE).log). Its directory must exist."},
		{Name: "maxSize", Type: &Type{Kind: KindSize}, Default: "50MiB",
			Doc: "The size at which the file is rotated; 0 never rotates. Units: K, M, G, T (KB, MB, ...) " +
				"are powers of 1000, Ki, Mi, Gi, Ti (KiB, ...) of 1024, in any case; decimals allowed (1.5GiB).",
			Supervisord: name + "_logfile_maxbytes"},
		{Name: "maxBackups", Type: intRange(0, 1000), Default: strconv.Itoa(DefaultLogMaxBackups),
			Doc:         "How many rotated files to keep (PATH.1 is the newest); 0 truncates the file instead.",
			Supervisord: name + "_logfile_backups"},
	}}
	return &Field{Name: name, Type: union(enum(modes...), file), Default: "auto", Hash: InHash,
		Doc: doc, Supervisord: sup, Kubernetes: k8s}
}

func probeField(name string, liveness bool) *Field {
	doc := "Checks whether an instance is ready: it is ready only while it is RUNNING and the probe " +
		"passes. A rolling update waits for each new instance to be ready, and dependsOn's Ready waits for " +
		"every instance. Exactly one action: exec, tcpSocket or httpGet."
	success := intRange(1, 1000)
	successDoc := "Successes in a row after which the verdict is passing."
	if liveness {
		doc = "Checks whether an instance is alive: after failureThreshold failures in a row the instance is " +
			"restarted (stopSignal, stopTimeout) and counted as a restart. Exactly one action: exec, " +
			"tcpSocket or httpGet."
		success = intRange(1, 1)
		successDoc = "Successes in a row after which the verdict is passing: must be 1 for a liveness probe."
	}
	port := func() *Field {
		return &Field{Name: "port", Required: true, Type: union(intRange(1, 65535),
			&Type{Kind: KindString, Name: "$(VAR) text", Pattern: `^([0-9]+|.*\$\(.*)$`}),
			Doc: "The port, 1..65535, or text with $(VAR) that expands to one (\"$(PORT)\")."}
	}
	return &Field{Name: name, Hash: InHash, Doc: doc, Kubernetes: "containers[]." + name,
		Supervisord: "(none)",
		Type: &Type{Kind: KindObject, ExactlyOne: []string{"exec", "tcpSocket", "httpGet"}, Fields: []*Field{
			{Name: "exec", Doc: "Run a command; exit 0 passes. It runs with the instance's environment, user and working directory.",
				Kubernetes: "exec",
				Type: object(&Field{Name: "command", Type: commandType(), Required: true,
					Doc: "The command: a list of strings, or one string split as spec.command is. $(VAR) expands; " +
						"a shell's own $$ is written $$$$."})},
			{Name: "tcpSocket", Doc: "Open a TCP connection within timeout; a connection passes.", Kubernetes: "tcpSocket",
				Type: object(
					&Field{Name: "host", Type: str(), Default: DefaultProbeHost, Doc: "The host to connect to."},
					port())},
			{Name: "httpGet", Kubernetes: "httpGet",
				Doc: "Send GET scheme://host:port/path within timeout; a 2xx or 3xx status passes. Redirects " +
					"are not followed, the body is ignored and certificates are not verified.",
				Type: object(
					&Field{Name: "scheme", Type: &Type{Kind: KindString, Enum: []string{"HTTP", "HTTPS"},
						Pattern: foldPattern("", "HTTP", "HTTPS")}, Default: "HTTP", Doc: "HTTP or HTTPS, in any case."},
					&Field{Name: "host", Type: str(), Default: DefaultProbeHost, Doc: "The host to connect to."},
					port(),
					&Field{Name: "path", Type: &Type{Kind: KindString, Pattern: `^(/|\$\()`}, Default: "/",
						Doc: "The request's path; it starts with /."})},
			{Name: "initialDelay", Type: duration(), Default: "0s", Doc: "How long after the start to wait before the first probe.",
				Kubernetes: "initialDelaySeconds"},
			{Name: "period", Type: duration(), Default: "10s", Doc: "The time between probes; greater than 0.",
				Kubernetes: "periodSeconds"},
			{Name: "timeout", Type: duration(), Default: "1s", Doc: "How long one probe may take; greater than 0.",
				Kubernetes: "timeoutSeconds"},
			{Name: "failureThreshold", Type: intRange(1, 1000), Default: "3",
				Doc: "Failures in a row after which the verdict is failing.", Kubernetes: "failureThreshold"},
			{Name: "successThreshold", Type: success, Default: "1", Doc: successDoc, Kubernetes: "successThreshold"},
		}}}
}

func dependsOnField() *Field {
	return &Field{Name: "dependsOn", Hash: NotInHash,
		Doc: "Programs that must reach a condition before this one's instances start. A program is listed at " +
			"most once and cannot depend on itself; a dependency cycle is an error.",
		Supervisord: "(priority only orders starts)", Kubernetes: "(init containers; process-compose depends_on)",
		Type: listOf(object(
			&Field{Name: "program", Type: programName(), Required: true, Doc: "The program depended on."},
			&Field{Name: "condition", Type: enum(string(DependencyStarted), string(DependencyReady), string(DependencyCompleted)),
				Default: string(DependencyStarted),
				Doc: "Started: every desired instance of it is RUNNING. Ready: every desired instance is ready. " +
					"Completed: every instance exited with a success code."},
		))}
}

func flappingField() *Field {
	return &Field{Name: "flapping", Hash: NotInHash, Type: object(
		&Field{Name: "restarts", Type: intRange(0, 1_000_000), Default: "5",
			Doc: "Restarts of one instance within window that make the program flap; 0 turns detection off."},
		&Field{Name: "window", Type: duration(), Default: "60s",
			Doc: "The sliding window the restarts are counted in; a window without restarts ends the flapping."},
	),
		Doc: "When an instance restarted restarts times within window, the program's Flapping condition " +
			"turns True with a Flapping warning event; a window without restarts turns it False with a " +
			"Stable event. An edit of the spec starts a new window."}
}

func updateStrategyField() *Field {
	t := object(
		&Field{Name: "type", Type: enum(string(RollingUpdate), string(Recreate)), Default: string(RollingUpdate),
			Doc: "RollingUpdate or Recreate."},
		&Field{Name: "maxUnavailable", Type: intRange(1, MaxReplicas), Default: "1",
			Doc: "How many instances a rolling update may replace at once. Only for type RollingUpdate."},
	)
	t.Rules = []Rule{{When: "type", Equals: string(Recreate), Field: "maxUnavailable", Forbidden: true}}
	return &Field{Name: "updateStrategy", Hash: NotInHash, Kubernetes: "Deployment spec.strategy", Type: t,
		Doc: "How a change of the spec hash replaces running instances: RollingUpdate replaces at most " +
			"maxUnavailable at a time, each new instance ready before the next is replaced; Recreate stops " +
			"them all, then starts the new ones."}
}
