/*
 * The fork server (see forkserver_linux.go for why).
 *
 * Each server thread blocks every signal for its whole life, unshares its fd
 * table and empties it, then serves requests from one queue: it takes copies
 * of the child's stdio into its table with pidfd_getfd(2), forks with
 * clone(CLONE_VM|CLONE_VFORK) on a stack of its own (the child shares its
 * memory until the exec, as with posix_spawn), waits for the exec, closes
 * the copies and hands the request back.
 *
 * The child runs on memory it shares with the daemon, so it calls no libc
 * function that takes a lock or touches shared state: raw system calls only.
 */
#define _GNU_SOURCE
#include "forkserver_linux.h"
#include "clone3_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define CHILD_STACK (64 * 1024)

#define KERNEL_NSIG 64

struct rcd_fs {
	pthread_mutex_t mu;
	pthread_cond_t more;
	rcd_req *pending_head, *pending_tail; /* guarded by mu */
	rcd_req *finished;                    /* guarded by mu */
	int stopping;                         /* guarded by mu: end once nothing is pending */
	pid_t tids[16];                       /* of the threads set up; guarded by mu */
	int ntids;
	pthread_t *threads; /* joinable; only rcd_fs_start and rcd_fs_stop touch them */
	int nthreads;
};

/* server is one thread of a fork server. The thread frees it when it ends
 * (rcd_fs_start, when its setup failed). */
struct server {
	rcd_fs *fs;
	pid_t tid;
	pid_t pid;                      /* the daemon's: a child compares its parent's */
	int notify_shared, null_shared; /* fds of the shared table */
	int self;                       /* a pidfd of this process */
	int null;                       /* /dev/null, or -1 */
	int notify;                     /* the eventfd */
	char *stack;
	pthread_mutex_t ready_mu;
	pthread_cond_t ready_cv;
	int ready; /* 1: set up; -errno: failed */
};

/* The kernel's struct sigaction on x86-64 and arm64. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct child_ctx {
	const rcd_req *r;
	int fds[3];
	pid_t parent;
	int in_cgroup;
	int join_v2; /* not cloned into r->cgroup_dir: write its cgroup.procs */
	int sighand_cleared; /* cloned with CLONE_CLEAR_SIGHAND */
	int err; /* set by the child when a step before the exec fails */
};

static long raw(long nr, long a, long b, long c, long d) {
	return syscall(nr, a, b, c, d);
}

/* join writes the calling process into the cgroup.procs file procs; it
 * returns 0, or -1 with errno set. */
static int join(const char *procs) {
	long fd = raw(SYS_openat, AT_FDCWD, (long)procs, O_WRONLY | O_CLOEXEC, 0);
	long n;
	int e;
	if (fd < 0)
		return -1;
	n = raw(SYS_write, fd, (long)"0", 1, 0);
	e = n < 0 ? errno : EIO;
	raw(SYS_close, fd, 0, 0, 0);
	if (n == 1)
		return 0;
	errno = e;
	return -1;
}

static int child_main(void *arg) {
	struct child_ctx *c = arg;
	const rcd_req *r = c->r;
	struct ksigaction dfl, old;
	uint64_t none = 0;
	int i;

	/* No handler of the daemon may run here: every handled signal goes to
	 * its default before the mask is lifted, and an ignored one stays
	 * ignored (exec keeps ignored ones). clone3's CLONE_CLEAR_SIGHAND did
	 * that in the kernel; otherwise one rt_sigaction a signal, which swaps
	 * and returns the old action, puts back an ignored one. */
	if (!c->sighand_cleared) {
		memset(&dfl, 0, sizeof dfl);
		dfl.handler = (void *)SIG_DFL;
		for (i = 1; i <= KERNEL_NSIG; i++) {
			if (i == SIGKILL || i == SIGSTOP)
				continue;
			if (raw(SYS_rt_sigaction, i, (long)&dfl, (long)&old, 8) != 0)
				continue;
			if (old.handler == (void *)SIG_IGN)
				raw(SYS_rt_sigaction, i, (long)&old, 0, 8);
		}
	}
	if (raw(SYS_setpgid, 0, 0, 0, 0) != 0)
		goto fail;
	if (raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0) != 0)
		goto fail;
	if (raw(SYS_getppid, 0, 0, 0, 0) != c->parent) /* the daemon died already */
		raw(SYS_kill, raw(SYS_getpid, 0, 0, 0, 0), SIGKILL, 0, 0);
	/* Into the instance's cgroups before anything of the program runs, so
	 * nothing it forks can start outside them (and while still root). */
	c->in_cgroup = 1;
	if (c->join_v2 && join(r->cgroup_procs) != 0)
		goto fail;
	for (i = 0; r->cgroups && r->cgroups[i]; i++)
		if (join(r->cgroups[i]) != 0)
			goto fail;
	c->in_cgroup = 0;
	if (r->setcred) {
		if (raw(SYS_setgroups, r->ngroups, (long)r->groups, 0, 0) != 0)
			goto fail;
		if (raw(SYS_setgid, r->gid, 0, 0, 0) != 0)
			goto fail;
		if (raw(SYS_setuid, r->uid, 0, 0, 0) != 0)
			goto fail;
	}
	if (r->dir && raw(SYS_chdir, (long)r->dir, 0, 0, 0) != 0)
		goto fail;
	/* The copies are above 2 (the server keeps 0-2 open), so no dup3
	 * overwrites a copy still to be used. */
	for (i = 0; i < 3; i++) {
		if (c->fds[i] < 0)
			raw(SYS_close, i, 0, 0, 0);
		else if (raw(SYS_dup3, c->fds[i], i, 0, 0) < 0)
			goto fail;
	}
	raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
	raw(SYS_execve, (long)r->path, (long)r->argv, (long)r->envp, 0);
fail:
	c->err = errno;
	if (c->err == 0)
		c->err = EINVAL;
	raw(SYS_exit_group, 127, 0, 0, 0);
	return 127;
}

static int getfd(struct server *s, int fd) {
	int nfd;
	do {
		nfd = raw(SYS_pidfd_getfd, s->self, fd, 0, 0);
	} while (nfd < 0 && errno == EINTR);
	return nfd;
}

/* clone_child forks c's child with clone3: into the cgroup directory cg
 * unless cg is -1, with the daemon's signal handlers cleared by the kernel
 * (CLONE_CLEAR_SIGHAND, Linux 5.5). It returns the pid, or -errno. Where
 * clone3 or a flag is missing (-ENOSYS, -E2BIG, -EINVAL) it leaves
 * c->sighand_cleared 0 and the caller forks with clone(2); otherwise a
 * failure is the clone's own. */
static long clone_child(struct server *s, struct child_ctx *c, int cg) {
	struct rcd_clone_args a;
	long ret;

	memset(&a, 0, sizeof a);
	a.flags = CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND;
	if (cg >= 0) {
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)cg;
	}
	a.exit_signal = SIGCHLD;
	a.stack = (uint64_t)(uintptr_t)s->stack;
	a.stack_size = CHILD_STACK;
	c->sighand_cleared = 1;
	ret = c->r->plain_clone ? -ENOSYS : rcd_clone3(&a, sizeof a, child_main, c);
	if (ret == -ENOSYS || ret == -E2BIG || ret == -EINVAL)
		c->sighand_cleared = 0;
	return ret;
}

static void serve(struct server *s, rcd_req *r) {
	struct child_ctx c;
	int taken[3], ntaken = 0, i, st;
	pid_t pid;

	memset(&c, 0, sizeof c);
	c.r = r;
	c.parent = s->pid;
	for (i = 0; i < 3; i++) {
		int fd = r->fds[i];
		if (fd < 0) {
			c.fds[i] = -1;
		} else if (fd == r->null_fd && s->null >= 0) {
			c.fds[i] = s->null;
		} else if (i > 0 && fd == r->fds[i - 1]) {
			c.fds[i] = c.fds[i - 1];
		} else {
			int nfd = getfd(s, fd);
			if (nfd < 0) {
				r->err = errno;
				r->machinery = errno != EBADF; /* EBADF: the caller's fd */
				goto out;
			}
			taken[ntaken++] = nfd;
			c.fds[i] = nfd;
		}
	}
	if (r->cgroup_dir != NULL) {
		/* Cloned straight into its cgroup: cheaper than moving the child
		 * after the fork, which waits for an RCU grace period when the
		 * cgroup lock is idle. */
		long ret;
		int cg = open(r->cgroup_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cg < 0) {
			r->err = errno;
			r->in_cgroup = 1;
			goto out;
		}
		ret = clone_child(s, &c, cg);
		close(cg);
		if (ret < 0 && c.sighand_cleared) {
			r->err = (int)-ret;
			r->in_cgroup = 1;
			goto out;
		}
		if (ret < 0) /* No clone3 into a cgroup here: the child moves itself. */
			c.join_v2 = 1;
		pid = ret < 0 ? clone(child_main, s->stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c) : (pid_t)ret;
	} else {
		long ret = clone_child(s, &c, -1);
		if (ret >= 0) {
			pid = (pid_t)ret;
		} else if (!c.sighand_cleared) {
			pid = clone(child_main, s->stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
		} else {
			errno = (int)-ret;
			pid = -1;
		}
	}
	if (pid < 0) {
		r->err = errno;
	} else if (c.err != 0) {
		/* It failed before the exec and exited: reap it here. The Go side
		 * holds the reaper off until the request is back. */
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		r->err = c.err;
		r->in_cgroup = c.in_cgroup;
	} else {
		r->pid = pid;
	}
out:
	for (i = 0; i < ntaken; i++)
		close(taken[i]);
}

static void set_ready(struct server *s, int v) {
	pthread_mutex_lock(&s->ready_mu);
	s->ready = v;
	pthread_cond_signal(&s->ready_cv);
	pthread_mutex_unlock(&s->ready_mu);
}

/* setup gives the calling thread a private fd table with only stdio, a pidfd
 * of this process, /dev/null and the eventfd in it. */
static int setup(struct server *s) {
	int fd;
	s->tid = raw(SYS_gettid, 0, 0, 0, 0);
	if (unshare(CLONE_FILES) != 0)
		return errno;
	if (raw(SYS_close_range, 3, ~0U, 0, 0) != 0)
		return errno;
	/* Copies taken later must land above 2. */
	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			return errno;
	s->pid = getpid();
	s->self = raw(SYS_pidfd_open, s->pid, 0, 0, 0);
	if (s->self < 0)
		return errno;
	if (s->null_shared >= 0)
		s->null = getfd(s, s->null_shared);
	else
		s->null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s->null < 0)
		return errno;
	s->notify = getfd(s, s->notify_shared);
	if (s->notify < 0)
		return errno;
	s->stack = malloc(CHILD_STACK);
	if (s->stack == NULL)
		return ENOMEM;
	return 0;
}

static void *server_main(void *arg) {
	struct server *s = arg;
	rcd_fs *fs = s->fs;
	uint64_t one = 1;
	int err = setup(s);
	if (err != 0) {
		set_ready(s, -err);
		return NULL; /* s belongs to rcd_fs_start now */
	}
	pthread_mutex_lock(&fs->mu);
	if (fs->ntids < (int)(sizeof fs->tids / sizeof fs->tids[0]))
		fs->tids[fs->ntids++] = s->tid;
	pthread_mutex_unlock(&fs->mu);
	set_ready(s, 1);
	for (;;) {
		rcd_req *r;
		pthread_mutex_lock(&fs->mu);
		while (fs->pending_head == NULL && !fs->stopping)
			pthread_cond_wait(&fs->more, &fs->mu);
		r = fs->pending_head;
		if (r == NULL) { /* stopping, and nothing left to serve */
			pthread_mutex_unlock(&fs->mu);
			break;
		}
		fs->pending_head = r->next;
		if (fs->pending_head == NULL)
			fs->pending_tail = NULL;
		pthread_mutex_unlock(&fs->mu);

		serve(s, r);

		pthread_mutex_lock(&fs->mu);
		r->next = fs->finished;
		fs->finished = r;
		pthread_mutex_unlock(&fs->mu);
		while (write(s->notify, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
	/* The private fd table (the pidfd, /dev/null, the eventfd copy) goes
	 * with the thread. */
	free(s->stack);
	pthread_mutex_destroy(&s->ready_mu);
	pthread_cond_destroy(&s->ready_cv);
	free(s);
	return NULL;
}

int rcd_fs_start(int nthreads, int notify_fd, int null_fd, rcd_fs **out) {
	sigset_t all, old;
	int i, err = 0;
	rcd_fs *fs;

	*out = NULL;
	fs = calloc(1, sizeof *fs);
	if (fs == NULL)
		return ENOMEM;
	fs->threads = calloc(nthreads > 0 ? nthreads : 1, sizeof *fs->threads);
	if (fs->threads == NULL) {
		free(fs);
		return ENOMEM;
	}
	pthread_mutex_init(&fs->mu, NULL);
	pthread_cond_init(&fs->more, NULL);

	/* Threads inherit the creator's mask: they never take a signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads && err == 0; i++) {
		pthread_t th;
		pthread_attr_t attr;
		struct server *s = calloc(1, sizeof *s);
		if (s == NULL) {
			err = ENOMEM;
			break;
		}
		s->fs = fs;
		s->notify_shared = notify_fd;
		s->null_shared = null_fd;
		s->self = s->null = s->notify = -1;
		pthread_mutex_init(&s->ready_mu, NULL);
		pthread_cond_init(&s->ready_cv, NULL);
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 128 * 1024);
		err = pthread_create(&th, &attr, server_main, s);
		pthread_attr_destroy(&attr);
		if (err != 0) {
			free(s);
			break;
		}
		pthread_mutex_lock(&s->ready_mu);
		while (s->ready == 0)
			pthread_cond_wait(&s->ready_cv, &s->ready_mu);
		pthread_mutex_unlock(&s->ready_mu);
		if (s->ready < 0) {
			/* The thread ended; its table goes with it. */
			err = -s->ready;
			pthread_join(th, NULL);
			pthread_mutex_destroy(&s->ready_mu);
			pthread_cond_destroy(&s->ready_cv);
			free(s);
		} else {
			fs->threads[fs->nthreads++] = th;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		/* The threads set up so far end: nothing was submitted. */
		rcd_fs_stop(fs);
		rcd_fs_free(fs);
		return err;
	}
	*out = fs;
	return 0;
}

void rcd_fs_submit(rcd_fs *fs, rcd_req *r) {
	r->next = NULL;
	pthread_mutex_lock(&fs->mu);
	if (fs->pending_tail != NULL)
		fs->pending_tail->next = r;
	else
		fs->pending_head = r;
	fs->pending_tail = r;
	pthread_cond_signal(&fs->more);
	pthread_mutex_unlock(&fs->mu);
}

int rcd_fs_take(rcd_fs *fs, rcd_req **out, int max) {
	int n = 0;
	pthread_mutex_lock(&fs->mu);
	while (fs->finished != NULL && n < max) {
		out[n++] = fs->finished;
		fs->finished = fs->finished->next;
	}
	pthread_mutex_unlock(&fs->mu);
	return n;
}

int rcd_fs_tids(rcd_fs *fs, int *out, int max) {
	int n = 0;
	pthread_mutex_lock(&fs->mu);
	for (; n < fs->ntids && n < max; n++)
		out[n] = fs->tids[n];
	pthread_mutex_unlock(&fs->mu);
	return n;
}

void rcd_fs_stop(rcd_fs *fs) {
	int i;
	pthread_mutex_lock(&fs->mu);
	fs->stopping = 1;
	pthread_cond_broadcast(&fs->more);
	pthread_mutex_unlock(&fs->mu);
	for (i = 0; i < fs->nthreads; i++)
		pthread_join(fs->threads[i], NULL);
	fs->nthreads = 0;
	pthread_mutex_lock(&fs->mu);
	fs->ntids = 0;
	pthread_mutex_unlock(&fs->mu);
}

void rcd_fs_free(rcd_fs *fs) {
	pthread_cond_destroy(&fs->more);
	pthread_mutex_destroy(&fs->mu);
	free(fs->threads);
	free(fs);
}
