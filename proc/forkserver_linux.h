/*
 * The fork server: C threads that fork and exec instances from fd tables of
 * their own, outside the Go scheduler. See forkserver_linux.go.
 */
#ifndef RCD_FORKSERVER_H
#define RCD_FORKSERVER_H

#include <stdint.h>

typedef struct rcd_req {
	/* In: set by Go before rcd_fs_submit, read-only afterwards. */
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *dir;  /* NULL: no chdir */
	int fds[3];       /* the child's stdio as fds of the shared table; -1: closed */
	int null_fd;      /* the shared table's /dev/null fd, or -1 */
	int setcred;      /* set groups, gid and uid before the exec */
	uint32_t uid, gid;
	int ngroups;
	const uint32_t *groups;
	const char *cgroup_dir;   /* the v2 cgroup the child is cloned into
	                           * (CLONE_INTO_CGROUP); NULL: none */
	const char *cgroup_procs; /* its cgroup.procs, for kernels without that */
	char *const *cgroups;   /* NULL-terminated cgroup.procs files the child
	                         * writes "0" into before anything else (v1
	                         * ones); NULL: none */
	int plain_clone;        /* fork with clone(2), as where clone3 is
	                         * missing (tests) */

	/* Out: set by the server before the request is handed back. */
	int pid;
	int err;       /* errno of the step that failed; 0: started */
	int machinery; /* the failure is the server's own, not the program's */
	int in_cgroup; /* the failure is entering the cgroups */

	struct rcd_req *next; /* the server's queues */
} rcd_req;

/* rcd_fs is one fork server: its threads and their queues. It lives from
 * rcd_fs_start to rcd_fs_free; its threads, until rcd_fs_stop. */
typedef struct rcd_fs rcd_fs;

/* rcd_fs_start starts a server of nthreads threads and stores it in *out.
 * notify_fd is an eventfd of the shared table, written to whenever requests
 * are done; null_fd is the shared table's /dev/null fd, or -1. It returns 0,
 * or an errno and stores NULL (threads set up before the failure are ended
 * and fs freed). */
int rcd_fs_start(int nthreads, int notify_fd, int null_fd, rcd_fs **out);

/* rcd_fs_submit queues r for a thread of fs. */
void rcd_fs_submit(rcd_fs *fs, rcd_req *r);

/* rcd_fs_take moves up to max requests that fs finished into out and
 * returns how many. */
int rcd_fs_take(rcd_fs *fs, rcd_req **out, int max);

/* rcd_fs_tids stores the thread ids of up to max threads of fs in out and
 * returns how many. */
int rcd_fs_tids(rcd_fs *fs, int *out, int max);

/* rcd_fs_stop ends the threads of fs and returns once they are gone: each
 * serves what is pending, frees what it holds and exits, and its private fd
 * table goes with it. Submit nothing from the call on. Afterwards fs only
 * hands back what finished (rcd_fs_take) until rcd_fs_free. */
void rcd_fs_stop(rcd_fs *fs);

/* rcd_fs_free frees fs, after rcd_fs_stop and once nothing calls
 * rcd_fs_take any more. */
void rcd_fs_free(rcd_fs *fs);

#endif
