package spec

import (
	"syscall"
	"time"
)

// APIVersion and Kind are the only values a manifest may declare.
const (
	APIVersion = "reconciled.dev/v1"
	Kind       = "Program"
)

// RestartedAtAnnotation changes the spec hash when set or changed, which is
// how `reconciled restart` asks for a rolling restart.
const RestartedAtAnnotation = "reconciled.dev/restartedAt"

// ProgressDeadlineAnnotation sets how long a rollout or a scale-up may go
// without an instance becoming ready before the Progressing condition turns
// False with reason ProgressDeadlineExceeded (Kubernetes's
// progressDeadlineSeconds). Like other annotations it is not in the hash.
const ProgressDeadlineAnnotation = "reconciled.dev/progressDeadline"

// DefaultProgressDeadline is Kubernetes's default progressDeadlineSeconds.
const DefaultProgressDeadline = 10 * time.Minute

// ProgressDeadline returns p's progress deadline: the annotation's, or the
// default. Decoding has checked the annotation.
func (p *Program) ProgressDeadline() time.Duration {
	if v, ok := p.Metadata.Annotations[ProgressDeadlineAnnotation]; ok {
		if d, err := parseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return DefaultProgressDeadline
}

// Program is one manifest, NAME.yaml, with every default filled in.
type Program struct {
	APIVersion string
	Kind       string
	Metadata   Metadata
	Spec       ProgramSpec
	// Warnings are located problems that do not make the manifest invalid,
	// such as a shell operator in a command that runs without a shell. Each
	// message starts with "warning: ".
	Warnings ErrorList
}

// Metadata names the program and carries labels and annotations.
type Metadata struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// Desired is the admin state of a program: up or down.
type Desired string

// The desired states.
const (
	DesiredRunning Desired = "running"
	DesiredStopped Desired = "stopped"
)

// RestartPolicy says which exits are followed by a restart.
type RestartPolicy string

// The restart policies; supervisord's autorestart true, unexpected and false.
const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// ProgramSpec is the desired state of a program.
type ProgramSpec struct {
	// Command is the argv before $(VAR) expansion: the list as given, or the
	// string split into words the way a shell splits them, or, with Shell,
	// ["/bin/sh", "-c", string].
	Command []string
	Shell   bool

	Replicas int
	Desired  Desired

	RestartPolicy    RestartPolicy
	SuccessExitCodes []int
	StartSeconds     time.Duration
	StartRetries     int
	RestartDelay     time.Duration
	MaxRestartDelay  time.Duration
	// BackoffResetAfter is how long an instance must run for its restart
	// delay to start again from RestartDelay.
	BackoffResetAfter time.Duration
	Flapping          Flapping
	StopSignal        Signal
	StopTimeout       time.Duration

	WorkingDir string
	// Env holds the variables the manifest sets, before $(VAR) expansion.
	Env   map[string]string
	Umask *uint32
	User  string
	Group string
	Nice  int
	// IONice is the I/O scheduling class and level; nil when not set.
	IONice *IONice
	// Limits are the setrlimit(2) limits, sorted by name; each name at most
	// once.
	Limits []Rlimit
	// Resources are the instance cgroup's limits (containment).
	Resources Resources

	Stdout Output
	Stderr Output

	ReadinessProbe *Probe
	LivenessProbe  *Probe
	DependsOn      []Dependency
	UpdateStrategy UpdateStrategy
}

// Resources limit what an instance's cgroup may use, in Kubernetes units
// once decoded. A zero field is "not set": no limit.
type Resources struct {
	// Memory is the most memory, in bytes (memory.max).
	Memory int64
	// MilliCPU is the CPU bandwidth in thousandths of a core: 500 is half a
	// core, 2000 two cores (cpu.max).
	MilliCPU int64
	// Pids is the most processes and threads at once (pids.max).
	Pids int64
}

// IsZero reports whether no resource is limited.
func (r Resources) IsZero() bool { return r == Resources{} }

// IONiceClass is an I/O scheduling class, as ionice(1) names them.
type IONiceClass string

// The I/O scheduling classes.
const (
	IONiceRealtime   IONiceClass = "realtime"
	IONiceBestEffort IONiceClass = "best-effort"
	IONiceIdle       IONiceClass = "idle"
)

// IONice is an I/O scheduling class and level (ioprio_set(2)). Level is
// 0 (served first) to 7 for realtime and best-effort, and 0 for idle, which
// has no levels.
type IONice struct {
	Class IONiceClass
	Level int
}

// DefaultIONiceLevel is ionice(1)'s level when none is given.
const DefaultIONiceLevel = 4

// Unlimited is an Rlimit value without a limit (RLIM_INFINITY).
const Unlimited = ^uint64(0)

// Rlimit is one setrlimit(2) limit. Name is one of RlimitNames. Soft and Hard
// are in the kernel's units: bytes for the sizes, seconds for cpu,
// microseconds for rttime, a count otherwise; Soft <= Hard.
type Rlimit struct {
	Name       string
	Soft, Hard uint64
}

// Signal is a stop signal together with the name it was given by.
type Signal struct {
	Name   string // canonical, without SIG: "TERM"
	Number syscall.Signal
}

// OutputMode says where a stream goes.
type OutputMode string

// The output modes.
const (
	OutputAuto    OutputMode = "auto"    // DIR/.reconciled/logs/NAME-INDEX.STREAM.log
	OutputNull    OutputMode = "null"    // /dev/null
	OutputInherit OutputMode = "inherit" // the daemon's own stdout or stderr
	OutputFile    OutputMode = "file"    // File, rotated at MaxSize keeping MaxBackups
	OutputStdout  OutputMode = "stdout"  // stderr only: merged into stdout
)

// Output is the target of stdout or stderr.
type Output struct {
	Mode       OutputMode
	File       string
	MaxSize    int64
	MaxBackups int
}

// Probe checks an instance; exactly one of Exec, TCPSocket and HTTPGet is set.
type Probe struct {
	Exec             *ExecAction
	TCPSocket        *TCPSocketAction
	HTTPGet          *HTTPGetAction
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	FailureThreshold int
	SuccessThreshold int
}

// ExecAction runs a command; exit 0 is success.
type ExecAction struct {
	Command []string
}

// TCPSocketAction connects to host:port.
type TCPSocketAction struct {
	Host string
	Port string // a number, or text with $(VAR) that expands to one
}

// HTTPGetAction sends GET scheme://host:port/path; 2xx and 3xx are success.
type HTTPGetAction struct {
	Scheme string // HTTP or HTTPS
	Host   string
	Port   string
	Path   string
}

// DependencyCondition is what a dependency must reach first.
type DependencyCondition string

// The dependency conditions.
const (
	DependencyStarted   DependencyCondition = "Started"
	DependencyReady     DependencyCondition = "Ready"
	DependencyCompleted DependencyCondition = "Completed"
)

// Dependency names a program that must reach Condition before this one starts.
type Dependency struct {
	Program   string
	Condition DependencyCondition
}

// Flapping says when a program flaps: an instance restarted Restarts times
// within Window (Restarts 0: never).
type Flapping struct {
	Restarts int
	Window   time.Duration
}

// UpdateStrategyType says how instances are replaced after a spec change.
type UpdateStrategyType string

// The update strategies.
const (
	RollingUpdate UpdateStrategyType = "RollingUpdate"
	Recreate      UpdateStrategyType = "Recreate"
)

// UpdateStrategy is how a changed spec hash replaces instances.
type UpdateStrategy struct {
	Type           UpdateStrategyType
	MaxUnavailable int
}

// Defaults, supervisord's where supervisord has the option.
const (
	DefaultReplicas        = 1
	DefaultStartSeconds    = time.Second
	DefaultStartRetries    = 3
	DefaultRestartDelay    = 100 * time.Millisecond
	DefaultMaxRestartDelay = 30 * time.Second
	// DefaultBackoffResetAfter is Kubernetes's CrashLoopBackOff reset.
	DefaultBackoffResetAfter = 10 * time.Minute
	// DefaultFlappingRestarts and DefaultFlappingWindow are spec.flapping's.
	DefaultFlappingRestarts = 5
	DefaultFlappingWindow   = time.Minute
	DefaultStopTimeout      = 10 * time.Second
	DefaultLogMaxSize       = 50 << 20
	DefaultLogMaxBackups    = 10
	MaxReplicas             = 10000

	// Probe defaults, Kubernetes's.
	DefaultProbePeriod  = 10 * time.Second
	DefaultProbeTimeout = time.Second
	DefaultProbeHost    = "127.0.0.1"
)
