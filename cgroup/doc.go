// Package cgroup gives each instance a cgroup of its own: it finds the
// cgroup hierarchies, makes the daemon's root for instance cgroups, creates
// and removes one cgroup per instance, kills and signals everything in it,
// tells when it is empty, applies memory, cpu and pids limits, reads usage
// and OOM kills, and finds the cgroups an earlier daemon left behind. It is
// a library under the process layer and the reconciler, which decide when.
//
// The face:
//
//	discover   Load, Discover (pure: mountinfo + /proc/self/cgroup -> Layout),
//	           ParseMountInfo, ParseProcCgroup, Layout, Hierarchy
//	root       EnterLeaf (the daemon leaves its own cgroup for a leaf), OpenRoot,
//	           RootOptions, Root.Controllers, Root.Check, Root.Remove
//	instance   Root.Create(program, index, Resources) -> *Instance;
//	           Instance.OpenFD (clone3 CLONE_INTO_CGROUP), Instance.Procs (what a
//	           child writes "0" into before exec), Kill, Signal, Populated,
//	           OOMKills, Remove, RemoveEmpty (Remove when the kernel allows it)
//	usage      Instance.Usage; Root.Dirs -> Dirs, and Dirs.Usage, Dirs.Members for
//	           a process that knows only the directories (the command line)
//	empty      EmptyWatcher: Watch(instance, fn) -> fn once the cgroup is empty
//	leftovers  Root.Leftovers, Root.RemoveLeftovers (before anything starts)
//
// Layout on disk. ROOT is a v2 cgroup: --cgroup-root, or by default
// "reconciled-<hash>" under the daemon's delegated cgroup (its own v2
// cgroup, or that cgroup's parent when the daemon already sits in the leaf
// EnterLeaf makes). Instance i of program NAME is ROOT/NAME/NAME-i. On a
// hybrid host (cgroup2 at /sys/fs/cgroup/unified, controllers in v1
// hierarchies) a controller that v2 cannot give is used from its v1
// hierarchy, as runc does: the instance also gets the same relative path
// below the daemon's own cgroup in that hierarchy (for memory, e.g.
// /sys/fs/cgroup/memory/<own>/reconciled-<hash>/NAME/NAME-i), made only
// where the instance needs it: a limit of that controller, or memory usage
// and OOM counts (RootOptions.NoV1MemoryAccounting turns that off).
//
// Invariants:
//
//   - Paths come from /proc/self/mountinfo and /proc/self/cgroup, never from
//     assumptions: a hierarchy counts only where it is mounted and shows the
//     daemon's cgroup.
//   - The daemon's process is never in an instance cgroup, nor in ROOT: OpenRoot
//     refuses a root that contains the daemon's own cgroup (so Leftovers can
//     never list the daemon), and EnterLeaf moves the daemon only into its
//     leaf, and only out of a cgroup that is not its hierarchy's root (told
//     by cgroup.type, not by the path "/", which a cgroup namespace fakes).
//   - A process enters its instance cgroup before exec, by clone3 into FD or by
//     the forked child writing "0" into each of Procs; the package never moves
//     a running instance.
//   - A process is never signalled by a pid that may have been reused: members
//     are signalled through a pidfd, opened before and checked after a second
//     read of cgroup.procs (see signalMembers); killing uses cgroup.kill where
//     the kernel has it (5.14).
//   - A limit is applied or fails with a *ResourceError naming the field and
//     the controller; it is never silently dropped.
//   - Nothing polls per instance: emptiness is watched with one inotify
//     instance; usage is read on demand. Only RemoveLeftovers, once at start-up,
//     retries with a pause while killed processes exit.
//   - The root keeps one O_PATH descriptor of its v2 directory (until
//     Remove), and instances none: files under the root are opened relative
//     to it, control files by open, read or write, and close alone.
//   - No package state. Methods of Root, Instance and EmptyWatcher are safe for
//     concurrent use.
//
// Why hand-written and not github.com/containerd/cgroups/v3: that module
// handles v1, v2 and hybrid hosts, but its go.mod pulls in cilium/ebpf (for
// the device controller), go-systemd and godbus (for systemd-managed
// cgroups), the OCI runtime-spec types, protobuf-generated stats and
// logrus, for the few control files this package touches. Its v1 and v2
// managers are separate packages, so a hybrid host (v2 for containment, v1
// for limits) needs both stitched together anyway, and its v2 event
// channel costs an inotify fd and a goroutine per cgroup where one of each
// serves them all here. The control files are a small, stable kernel
// interface, and the module adds no dependency.
//
// Pure-v1 hosts (no cgroup2 mount) get ErrNoV2 from OpenRoot: the caller
// falls back to process groups (status.containment: processGroup), since
// without cgroup.events there is nothing to watch for emptiness.
//
// Linux 5.3 or later (pidfd_open); cgroup.kill needs 5.14 (older kernels
// kill member by member); CPU usage without the cpu controller needs cpu.stat
// in every v2 cgroup (4.15), else v1 cpuacct is used.
package cgroup
