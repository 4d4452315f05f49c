/*
 * The fork server: C threads that fork and exec instances from fd tables of
 * their own, outside the Go scheduler. See forkserver_cgo.go.
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

	/* Out: set by the server before the request is handed back. */
	int pid;
	int err;       /* errno of the step that failed; 0: started */
	int machinery; /* the failure is the server's own, not the program's */

	struct rcd_req *next; /* the server's queues */
} rcd_req;

/* rcd_fs_start starts nthreads server threads. notify_fd is an eventfd of
 * the shared table, written to whenever requests are done; null_fd is the
 * shared table's /dev/null fd, or -1. It returns 0 or an errno. */
int rcd_fs_start(int nthreads, int notify_fd, int null_fd);

/* rcd_fs_submit queues r for a server thread. */
void rcd_fs_submit(rcd_req *r);

/* rcd_fs_take moves up to max finished requests into out and returns how
 * many. */
int rcd_fs_take(rcd_req **out, int max);

/* rcd_fs_tids stores the thread ids of up to max server threads in out and
 * returns how many. */
int rcd_fs_tids(int *out, int max);

#endif
