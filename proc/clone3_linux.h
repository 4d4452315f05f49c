/*
 * clone3(2) with CLONE_INTO_CGROUP for the fork server's children: the
 * kernel's argument struct and a trampoline, since glibc has no clone3.
 */
#ifndef RCD_CLONE3_H
#define RCD_CLONE3_H

#include <stdint.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

/* The kernel's struct clone_args (Linux 5.7, with cgroup). */
struct rcd_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};

/* rcd_clone3 is clone3(2) for a child that runs fn(arg) on args->stack and
 * never returns (it execs or exits): glibc has no clone3, and a child on a
 * stack of its own cannot return through a C call. It returns the child's
 * pid, or -errno; -ENOSYS where this architecture has no trampoline. */
long rcd_clone3(struct rcd_clone_args *args, unsigned long size, int (*fn)(void *), void *arg);

#endif
