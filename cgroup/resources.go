package cgroup

import (
	"errors"
	"fmt"
	"strconv"
)

// Resources are the limits of one instance's cgroup; a zero field means
// no limit.
type Resources struct {
	MemoryBytes int64 // memory.max, or v1 memory.limit_in_bytes
	CPUMillis   int64 // thousandths of a CPU: cpu.max, or v1 cpu.cfs_quota_us
	Pids        int64 // pids.max (v1 and v2 alike)
}

// Version says where the package uses a controller.
type Version int

// The places a controller can be used from.
const (
	Unavailable Version = iota // neither hierarchy can give it to instances
	V1                         // through its cgroup v1 hierarchy (hybrid hosts)
	V2                         // enabled in cgroup v2 down to the instances
)

func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "unavailable"
}

// Controller is how a Root uses one controller.
type Controller struct {
	Name    string  // memory, cpu or pids
	Version Version // where it is used
	// Why is why it is not used in v2 (set when Version is V1 or
	// Unavailable): the message a start that needs it fails with.
	Why string
}

// ResourceError is a limit that cannot be applied: its controller is not
// available, or writing the limit failed. It prints as the field path and
// the cause, e.g. "resources.memory: the memory controller is not
// available: not in /sys/fs/cgroup/x/cgroup.controllers".
type ResourceError struct {
	Field      string // resources.memory, resources.cpu or resources.pids
	Controller string
	Err        error
}

func (e *ResourceError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ResourceError) Unwrap() error { return e.Err }

// ErrControllerUnavailable is wrapped by a ResourceError whose controller
// can be used from neither hierarchy.
var ErrControllerUnavailable = errors.New("controller is not available")

// unavailableError is the cause of a ResourceError for a missing
// controller; it reads "the memory controller is not available: WHY".
type unavailableError struct{ name, why string }

func (e *unavailableError) Error() string {
	return fmt.Sprintf("the %s controller is not available: %s", e.name, e.why)
}
func (e *unavailableError) Is(target error) bool { return target == ErrControllerUnavailable }

// limit is one control file write that a Resources value asks for.
type limit struct {
	field, controller string
	v2                []control // files and values in a v2 cgroup
	v1                []control // the same in the controller's v1 hierarchy
}

type control struct{ file, value string }

// cfsPeriod is the CPU bandwidth period in microseconds, the kernel's
// default and the one Kubernetes uses.
const cfsPeriod = 100000

// minCFSQuota is the smallest quota the kernel takes (1ms), to which
// Kubernetes rounds a smaller request up as well.
const minCFSQuota = 1000

// cpuQuota converts thousandths of a CPU into a quota per cfsPeriod.
func cpuQuota(millis int64) int64 {
	return max(millis*cfsPeriod/1000, minCFSQuota)
}

// limits returns the control file writes for r, in a fixed order.
func (r Resources) limits() []limit {
	var ls []limit
	if r.MemoryBytes > 0 {
		v := strconv.FormatInt(r.MemoryBytes, 10)
		ls = append(ls, limit{"resources.memory", ctrlMemory,
			[]control{{fileMemoryMax, v}}, []control{{fileV1MemoryLimit, v}}})
	}
	if r.CPUMillis > 0 {
		q := strconv.FormatInt(cpuQuota(r.CPUMillis), 10)
		p := strconv.Itoa(cfsPeriod)
		ls = append(ls, limit{"resources.cpu", ctrlCPU,
			[]control{{fileCPUMax, q + " " + p}},
			[]control{{fileV1CFSPeriod, p}, {fileV1CFSQuota, q}}})
	}
	if r.Pids > 0 {
		v := strconv.FormatInt(r.Pids, 10)
		ls = append(ls, limit{"resources.pids", ctrlPids,
			[]control{{filePidsMax, v}}, []control{{filePidsMax, v}}})
	}
	return ls
}
