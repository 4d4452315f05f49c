/*
 * spawn: the C floor for hack/bench. It starts N copies of `sleep 1000` with
 * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + exec, the cheapest way to
 * start a program) from T threads, waits until every child has exec'd sleep
 * (/proc/PID/comm is "sleep"), then stops them all with SIGTERM and reaps them.
 *
 *   spawn [-t THREADS] [-p] [-x PATH] [-c] N
 *
 *   -t THREADS  spawning threads (default 2)
 *   -p          put every child in its own process group (as reconciled does)
 *               and signal the group
 *   -x PATH     the sleep binary (default /usr/bin/sleep); argv is {"sleep", "1000"}
 *   -c          control mode, driven by hack/bench/daemon over stdin/stdout:
 *               prints "ready", waits for a "start" line, spawns, prints
 *               "running_ns NS cpu_ns NS", then respawns any child that exits
 *               (the floor of a supervisor's restart) until a "stop" line,
 *               then stops all and prints "stopped_ns NS cpu_ns NS children_ns NS".
 *
 * Without -c it spawns at once and prints both lines. cpu_ns is the
 * program's own CPU time (getrusage RUSAGE_SELF) over that step,
 * children_ns what the children it reaped in it used (RUSAGE_CHILDREN).
 * Children get /dev/null as stdin, stdout and stderr.
 *
 * Build: gcc -O2 -pthread -o spawn spawn.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int n, nthreads = 2, setpgrp_flag, control;
static const char *path = "/usr/bin/sleep";
static char *child_argv[] = {"sleep", "1000", NULL};
static posix_spawnattr_t attr;
static posix_spawn_file_actions_t fa;

static pid_t *pids;
static int next_idx;          /* atomic: next index to spawn */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int stopping, live;    /* guarded by mu */

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* cpu_ns is this process's own CPU time (all threads, not children). */
static long long cpu_ns(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* children_ns is the CPU time of the children this process has reaped
 * (getrusage RUSAGE_CHILDREN), each counted whole at its reap. */
static long long children_ns(void) {
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static void die(const char *what, int err) {
	fprintf(stderr, "spawn: %s: %s\n", what, strerror(err));
	exit(1);
}

static pid_t spawn_one(void) {
	pid_t pid;
	int err = posix_spawn(&pid, path, &fa, &attr, child_argv, environ);
	if (err != 0)
		die("posix_spawn", err);
	return pid;
}

static void *spawner(void *arg) {
	(void)arg;
	for (;;) {
		int i = __atomic_fetch_add(&next_idx, 1, __ATOMIC_RELAXED);
		if (i >= n)
			return NULL;
		pids[i] = spawn_one();
	}
}

/* is_sleep reports whether pid has exec'd sleep. */
static int is_sleep(pid_t pid) {
	char p[64], buf[32];
	snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	return strcmp(buf, "sleep\n") == 0;
}

static void start_all(void) {
	pthread_t th[64];
	for (int t = 0; t < nthreads; t++) {
		int err = pthread_create(&th[t], NULL, spawner, NULL);
		if (err)
			die("pthread_create", err);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	/* posix_spawn returns after the exec, so one pass normally suffices. */
	for (int i = 0; i < n; i++)
		while (!is_sleep(pids[i]))
			usleep(100);
}

static void signal_child(pid_t pid, int sig) {
	kill(setpgrp_flag ? -pid : pid, sig);
}

/* reaper (control mode): respawns exited children until stopping, then
 * reaps until none is left. */
static void *reaper(void *arg) {
	(void)arg;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return NULL; /* ECHILD: all reaped */
		}
		pthread_mutex_lock(&mu);
		if (stopping) {
			live--;
		} else {
			for (int i = 0; i < n; i++) {
				if (pids[i] == pid) {
					pids[i] = spawn_one();
					break;
				}
			}
		}
		pthread_mutex_unlock(&mu);
	}
}

static long long stop_all(pthread_t *reaper_th) {
	long long t0 = now_ns();
	pthread_mutex_lock(&mu);
	stopping = 1;
	live = n;
	for (int i = 0; i < n; i++)
		signal_child(pids[i], SIGTERM);
	pthread_mutex_unlock(&mu);
	if (reaper_th) {
		pthread_join(*reaper_th, NULL);
	} else {
		int st;
		while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
			;
	}
	return now_ns() - t0;
}

static int read_cmd(const char *want) {
	char line[128];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strcmp(line, want) == 0)
			return 1;
	}
	return 0; /* EOF: the harness is gone */
}

int main(int argc, char **argv) {
	int opt;
	while ((opt = getopt(argc, argv, "t:px:c")) != -1) {
		switch (opt) {
		case 't': nthreads = atoi(optarg); break;
		case 'p': setpgrp_flag = 1; break;
		case 'x': path = optarg; break;
		case 'c': control = 1; break;
		default:
			fprintf(stderr, "usage: spawn [-t THREADS] [-p] [-x PATH] [-c] N\n");
			return 2;
		}
	}
	if (optind >= argc || (n = atoi(argv[optind])) <= 0 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: spawn [-t THREADS] [-p] [-x PATH] [-c] N\n");
		return 2;
	}
	pids = calloc(n, sizeof *pids);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		die("open /dev/null", errno);
	posix_spawn_file_actions_init(&fa);
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_adddup2(&fa, null, fd);
	posix_spawnattr_init(&attr);
	/* Children start with default signal dispositions and an empty mask. */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (setpgrp_flag) {
		flags |= POSIX_SPAWN_SETPGROUP;
		posix_spawnattr_setpgroup(&attr, 0);
	}
	posix_spawnattr_setflags(&attr, flags);
	setvbuf(stdout, NULL, _IOLBF, 0);

	long long t0, c0, k0, d;
	if (!control) {
		t0 = now_ns(), c0 = cpu_ns();
		start_all();
		printf("running_ns %lld cpu_ns %lld\n", now_ns() - t0, cpu_ns() - c0);
		c0 = cpu_ns(), k0 = children_ns();
		d = stop_all(NULL);
		printf("stopped_ns %lld cpu_ns %lld children_ns %lld\n", d, cpu_ns() - c0, children_ns() - k0);
		return 0;
	}
	printf("ready\n");
	if (!read_cmd("start"))
		return 1;
	t0 = now_ns(), c0 = cpu_ns();
	start_all();
	printf("running_ns %lld cpu_ns %lld\n", now_ns() - t0, cpu_ns() - c0);
	pthread_t rth;
	int err = pthread_create(&rth, NULL, reaper, NULL);
	if (err)
		die("pthread_create", err);
	read_cmd("stop"); /* EOF counts as stop */
	c0 = cpu_ns(), k0 = children_ns();
	d = stop_all(&rth);
	printf("stopped_ns %lld cpu_ns %lld children_ns %lld\n", d, cpu_ns() - c0, children_ns() - k0);
	return 0;
}
