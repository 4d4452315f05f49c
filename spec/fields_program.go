package spec

// The field table, part one: metadata and the fields of spec that say what
// runs and how it is supervised. Every entry here is what `reconciled
// explain` prints and what the schema describes; the decoder accepts
// exactly these keys.

import (
	"fmt"
	"strings"
)

func str() *Type                { return &Type{Kind: KindString} }
func boolean() *Type            { return &Type{Kind: KindBool} }
func duration() *Type           { return &Type{Kind: KindDuration} }
func enum(vals ...string) *Type { return &Type{Kind: KindString, Enum: vals} }
func listOf(t *Type) *Type      { return &Type{Kind: KindList, Elem: t} }
func union(ts ...*Type) *Type   { return &Type{Kind: KindUnion, OneOf: ts} }
func stringMap() *Type          { return &Type{Kind: KindMap, Elem: str()} }

func intRange(lo, hi int64) *Type { return &Type{Kind: KindInt, Min: &lo, Max: &hi} }

func intMin(lo int64) *Type { return &Type{Kind: KindInt, Min: &lo} }

// programName is a program's name: a file stem.
func programName() *Type {
	return &Type{Kind: KindString, Name: "program name", Pattern: nameRE.String(), MaxLength: MaxNameLength}
}

// commandType is an argv: a list of strings, or one string split as a
// shell splits words.
func commandType() *Type {
	return union(&Type{Kind: KindString, Pattern: `\S`}, &Type{Kind: KindList, Elem: str(), MinItems: 1})
}

// foldPattern matches vals in any case, each optionally after prefix (in
// any case too): the spellings ParseSignal and the scheme check accept.
func foldPattern(prefix string, vals ...string) string {
	fold := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			lo, up := strings.ToLower(string(r)), strings.ToUpper(string(r))
			if lo == up {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, "[%s%s]", up, lo)
			}
		}
		return b.String()
	}
	alts := make([]string, len(vals))
	for i, v := range vals {
		alts[i] = fold(v)
	}
	p := "^"
	if prefix != "" {
		p += "(" + fold(prefix) + ")?"
	}
	return p + "(" + strings.Join(alts, "|") + ")$"
}

func metadataField() *Field {
	return &Field{Name: "metadata", Type: object(
		&Field{Name: "name", Type: programName(), DefaultText: "the file name's stem", Hash: NotInHash,
			Doc: "The program's name. Optional: the name is the manifest's file stem (worker.yaml is worker), " +
				"and if given it must equal it. Lower-case letters, digits, '-' and '_', starting and ending with a " +
				"letter or digit, at most 63 characters. Instances are named NAME-0, NAME-1, ...",
			Supervisord: "[program:NAME]", Kubernetes: "metadata.name"},
		&Field{Name: "labels", Type: stringMap(), Hash: NotInHash,
			Doc: "Free-form string key/value pairs that describe the program: selectors of the command line " +
				"(-l team=payments) match them. Changing them restarts nothing.",
			Kubernetes: "metadata.labels"},
		&Field{Name: "annotations", Type: &Type{Kind: KindMap, Elem: str(), Keys: []*Field{
			{Name: RestartedAtAnnotation, Type: str(), Hash: InHash,
				Doc: "A time stamp that `reconciled restart` sets: it is in the spec hash, so changing it " +
					"replaces every instance per updateStrategy (a rolling restart) and clears FATAL.",
				Kubernetes: "kubectl.kubernetes.io/restartedAt (kubectl rollout restart)"},
			{Name: ProgressDeadlineAnnotation, Type: &Type{Kind: KindString, Name: "duration", Pattern: durationPattern}, Default: "10m", Hash: NotInHash,
				Doc: "How long a rollout or a scale-up may go without an instance becoming ready before the " +
					"Progressing condition turns False (ProgressDeadlineExceeded). A positive duration.",
				Kubernetes: "spec.progressDeadlineSeconds"},
		}}, Hash: NotInHash,
			Doc: "Free-form string key/value pairs for tools. Two keys mean something to reconciled, " +
				RestartedAtAnnotation + " and " + ProgressDeadlineAnnotation + "; changing any other restarts nothing.",
			Kubernetes: "metadata.annotations"},
	), Doc: "The program's name, labels and annotations. Optional: the name is the file's stem."}
}

func specField() *Field {
	fields := []*Field{
		{Name: "command", Type: commandType(), Required: true, Hash: InHash,
			Doc: "The program to run and its arguments: a list of strings (the argv), or one string split into " +
				"words as a shell splits them (quotes and backslashes), without running a shell. $(VAR) is " +
				"expanded from the instance's environment; $$ is a literal $. List items must be strings: " +
				"quote numbers (\"10\"). With shell: true, the one string is run by /bin/sh -c.",
			Supervisord: "command", Kubernetes: "containers[].command and args"},
		{Name: "shell", Type: boolean(), Default: "false", Hash: InHash,
			Doc: "Run command, which must then be one string, as /bin/sh -c STRING: for pipes (|), " +
				"redirections (>), && and globs (*). Without it those characters are passed to the program " +
				"as arguments, and validate warns.",
			Supervisord: "(command is never run by a shell)", Kubernetes: `command: ["/bin/sh", "-c", ...]`},
		{Name: "replicas", Type: intRange(0, MaxReplicas), Default: "1", Hash: NotInHash,
			Doc: "The number of instances, NAME-0 to NAME-(N-1). Scaling never restarts running instances: " +
				"scale-up starts the missing indices, scale-down stops the highest first.",
			Supervisord: "numprocs", Kubernetes: "spec.replicas"},
		{Name: "desired", Type: enum(string(DesiredRunning), string(DesiredStopped)), Default: "running", Hash: NotInHash,
			Doc: "The admin state: running starts the instances, stopped stops them all (stopSignal, " +
				"stopTimeout, then SIGKILL) and keeps the manifest. `reconciled start` and `stop` set it.",
			Supervisord: "autostart; supervisorctl start/stop", Kubernetes: "scaling to 0"},
		{Name: "restartPolicy", Type: enum(string(RestartAlways), string(RestartOnFailure), string(RestartNever)),
			Default: "Always", Hash: NotInHash,
			Doc: "Which exits are followed by a restart: Always restarts after every exit, OnFailure only after " +
				"an exit with a code not in successExitCodes (or a signal), Never after none.",
			Supervisord: "autorestart (true, unexpected, false)", Kubernetes: "spec.restartPolicy"},
		{Name: "successExitCodes", Type: listOf(intRange(0, 255)), Default: "[0]", Hash: NotInHash,
			Doc:         "The exit codes that count as success, for restartPolicy OnFailure and for Completed.",
			Supervisord: "exitcodes"},
		{Name: "startSeconds", Type: duration(), Default: "1s", Hash: NotInHash,
			Doc: "How long an instance must stay up to count as started (STARTING becomes RUNNING); an exit " +
				"before that is a failed start.",
			Supervisord: "startsecs", Kubernetes: "minReadySeconds"},
		{Name: "startRetries", Type: intRange(0, 1_000_000), Default: "3", Hash: NotInHash,
			Doc: "Consecutive failed starts after which an instance is FATAL and no longer restarted; 0 " +
				"retries forever. An edit of the spec or `reconciled restart` clears FATAL.",
			Supervisord: "startretries"},
		{Name: "restartDelay", Type: duration(), Default: "100ms", Hash: NotInHash,
			Doc: "The delay before a restart; it doubles with each restart, up to maxRestartDelay, until " +
				"an instance has run backoffResetAfter.",
			Kubernetes: "CrashLoopBackOff's back-off"},
		{Name: "maxRestartDelay", Type: duration(), Default: "30s", Hash: NotInHash,
			Doc:        "The longest delay before a restart; at least restartDelay.",
			Kubernetes: "CrashLoopBackOff's cap (5m)"},
		{Name: "backoffResetAfter", Type: duration(), Default: "10m", Hash: NotInHash,
			Doc: "How long an instance must run for its restart delay to start again from restartDelay; " +
				"until then every restart, also after a successful start, doubles it up to maxRestartDelay.",
			Kubernetes: "CrashLoopBackOff's reset (10m)"},
		flappingField(),
		{Name: "stopSignal", Type: &Type{Kind: KindString, Name: "signal", Enum: stopSignalNames(),
			Pattern: foldPattern("SIG", stopSignalNames()...)}, Default: "TERM", Hash: NotInHash,
			Doc: "The signal sent to the instance's process group to stop it; with or without SIG, in any " +
				"case.",
			Supervisord: "stopsignal", Kubernetes: "STOPSIGNAL of the image"},
		{Name: "stopTimeout", Type: duration(), Default: "10s", Hash: NotInHash,
			Doc: "How long an instance may take to exit after the stop signal; then every process left in its " +
				"process group (and cgroup) is killed with SIGKILL.",
			Supervisord: "stopwaitsecs", Kubernetes: "terminationGracePeriodSeconds"},
		{Name: "workingDir", Type: str(), DefaultText: "the manifest directory", Hash: InHash,
			Doc:         "The working directory of the instances; a relative path is relative to the manifest directory.",
			Supervisord: "directory", Kubernetes: "containers[].workingDir"},
		{Name: "env", Type: &Type{Kind: KindMap, Elem: &Type{Kind: KindScalar}, Pattern: envNameRE.String(),
			NotPattern: "^RECONCILED_"}, Hash: InHash,
			Doc: "Variables added to the instance's environment (the daemon's, plus RECONCILED_PROGRAM, " +
				"RECONCILED_INSTANCE and RECONCILED_REPLICAS). Names are [A-Za-z_][A-Za-z0-9_]*; RECONCILED_* " +
				"names are reserved. Values may be numbers or booleans, taken as written; $(VAR) in them expands.",
			Supervisord: "environment", Kubernetes: "containers[].env"},
		{Name: "umask", Type: union(&Type{Kind: KindString, Name: "octal string", Pattern: `^(0[oO])?0*[0-7]{1,3}$`},
			intRange(0, 777)), DefaultText: "the daemon's", Hash: InHash,
			Doc:         "The file mode creation mask, in octal digits, quoted or not (\"022\", 022 and 22 agree).",
			Supervisord: "umask"},
		{Name: "user", Type: union(str(), intMin(0)), DefaultText: "the daemon's user", Hash: InHash,
			Doc:         "Run the instances as this user, a name or a numeric id. Only when the daemon runs as root.",
			Supervisord: "user", Kubernetes: "securityContext.runAsUser"},
		{Name: "group", Type: union(str(), intMin(0)), DefaultText: "the user's primary group", Hash: InHash,
			Doc:        "Run the instances with this group, a name or a numeric id. Needs user.",
			Kubernetes: "securityContext.runAsGroup"},
		{Name: "nice", Type: intRange(-20, 19), Default: "0", Hash: InHash,
			Doc: "The scheduling priority (nice value): -20 is served first, 19 last. Below the daemon's own " +
				"needs root.",
			Supervisord: "(priority orders starts, not CPU)", Kubernetes: "(none)"},
		ioNiceField(),
		limitsField(),
		resourcesField(),
		outputField("stdout", false),
		outputField("stderr", true),
		probeField("readinessProbe", false),
		probeField("livenessProbe", true),
		dependsOnField(),
		updateStrategyField(),
	}
	t := object(fields...)
	t.Rules = []Rule{
		{When: "shell", Equals: true, Field: "command", Type: str()},
		{When: "group", Field: "user", Required: true},
	}
	return &Field{Name: "spec", Type: t, Required: true,
		Doc: "The program's desired state: what runs, how many, and how it is supervised."}
}

// stopSignalNames are the stop signals, canonical names without SIG.
func stopSignalNames() []string {
	return []string{"TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"}
}
