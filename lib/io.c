/*
 * io: the event loop layer over libevent 2.1.  See include/ms/io.h.
 *
 * The module is split by job: this file holds the loop, signals, timers
 * and child processes; lib/io_listen.c the listening sockets;
 * lib/io_conn.c the connections (buffered I/O, line reading, STARTTLS);
 * lib/io_int.h the structures they share.
 *
 * The lib/io*.c files and lib/tls.c are the only ones that include
 * libevent and OpenSSL headers.  Choices worth knowing (the ones about
 * connections are in lib/io_conn.c):
 *
 * - ms_loop_new() ignores SIGPIPE for the process: a write to a closed
 *   socket must be an error event, not a death.  ms_child_spawn() restores
 *   the default disposition in the child.
 * - SIGCHLD belongs to the loop: it reaps with waitpid(-1, WNOHANG) until
 *   nothing is left and calls the callback registered for each PID.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>

#include "io_int.h"

/* ---- the loop ---- */

static void on_sigchld(evutil_socket_t sig, short what, void *arg);

/* libevent's own warnings go to the log (a library never prints: STYLE 5). */
static void on_libevent_log(int severity, const char *msg)
{
	ms_log(severity >= EVENT_LOG_ERR ? MS_LOG_ERROR : MS_LOG_DEBUG, "libevent: %s", msg);
}

struct ms_loop *ms_loop_new(struct ms_buf *why)
{
	struct ms_loop *loop;
	struct event_base *base = event_base_new();

	if (base == NULL) {
		ms_buf_puts(why, "cannot create the event loop (libevent)");
		return NULL;
	}
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(on_libevent_log);
	loop = ms_xcalloc(1, sizeof(*loop));
	loop->base = base;
	loop->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, loop);
	if (loop->sigchld == NULL || evsignal_add(loop->sigchld, NULL) < 0) {
		ms_buf_puts(why, "cannot watch SIGCHLD (libevent)");
		if (loop->sigchld)
			event_free(loop->sigchld);
		event_base_free(base);
		free(loop);
		return NULL;
	}
	/* The SIGCHLD event alone must not keep ms_loop_run going. */
	return loop;
}

void ms_loop_free(struct ms_loop **loop)
{
	struct child_watch *c, *n;

	if (loop == NULL || *loop == NULL)
		return;
	for (c = (*loop)->children; c != NULL; c = n) {
		n = c->next;
		free(c);
	}
	event_free((*loop)->sigchld);
	event_base_free((*loop)->base);
	free(*loop);
	*loop = NULL;
}

int ms_loop_run(struct ms_loop *loop)
{
	return event_base_dispatch(loop->base) < 0 ? -1 : 0;
}

void ms_loop_exit(struct ms_loop *loop)
{
	event_base_loopbreak(loop->base);
}

uint64_t ms_loop_now_ms(struct ms_loop *loop)
{
	struct timespec ts;

	(void)loop;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- signals ---- */

struct ms_signal {
	struct event *ev;
	ms_signal_fn *fn;
	void *ctx;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ms_signal *s = arg;

	(void)what;
	s->fn((int)sig, s->ctx);
}

struct ms_signal *ms_signal_new(struct ms_loop *loop, int signo, ms_signal_fn *fn, void *ctx)
{
	struct ms_signal *s;

	MS_ASSERT(signo != SIGCHLD && signo > 0 && signo < NSIG);
	s = ms_xcalloc(1, sizeof(*s));
	s->fn = fn;
	s->ctx = ctx;
	s->ev = evsignal_new(loop->base, signo, on_signal, s);
	if (s->ev == NULL || evsignal_add(s->ev, NULL) < 0)
		ms_panic("cannot watch signal %d (libevent)", signo);
	return s;
}

void ms_signal_free(struct ms_signal **sig)
{
	if (sig == NULL || *sig == NULL)
		return;
	event_free((*sig)->ev);
	free(*sig);
	*sig = NULL;
}

/* ---- timers ---- */

struct ms_timer {
	struct event *ev;
	ms_timer_fn *fn;
	void *ctx;
	uint64_t ms;
	bool repeat;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ms_timer *t = arg;

	(void)fd;
	(void)what;
	if (t->repeat) {
		struct timeval tv;
		ms_to_tv(t->ms, &tv);
		evtimer_add(t->ev, &tv);
	}
	t->fn(t->ctx);
}

struct ms_timer *ms_timer_new(struct ms_loop *loop, ms_timer_fn *fn, void *ctx)
{
	struct ms_timer *t = ms_xcalloc(1, sizeof(*t));

	t->fn = fn;
	t->ctx = ctx;
	t->ev = evtimer_new(loop->base, on_timer, t);
	if (t->ev == NULL)
		ms_panic("cannot create a timer (libevent)");
	return t;
}

void ms_timer_start(struct ms_timer *t, uint64_t ms, bool repeat)
{
	struct timeval tv;

	t->ms = ms;
	t->repeat = repeat && ms > 0;
	ms_to_tv(ms, &tv);
	evtimer_add(t->ev, &tv);
}

void ms_timer_stop(struct ms_timer *t)
{
	if (t != NULL) {
		t->repeat = false;
		evtimer_del(t->ev);
	}
}

bool ms_timer_pending(const struct ms_timer *t)
{
	return t != NULL && evtimer_pending(t->ev, NULL);
}

void ms_timer_free(struct ms_timer **t)
{
	if (t == NULL || *t == NULL)
		return;
	event_free((*t)->ev);
	free(*t);
	*t = NULL;
}

/* ---- child processes ---- */

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct ms_loop *loop = arg;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child_watch **pp, *c;
		for (pp = &loop->children; (c = *pp) != NULL; pp = &c->next) {
			if (c->pid == pid) {
				*pp = c->next;
				c->fn(pid, status, c->ctx);
				free(c);
				break;
			}
		}
	}
}

void ms_child_watch(struct ms_loop *loop, pid_t pid, ms_child_fn *fn, void *ctx)
{
	struct child_watch *c = ms_xcalloc(1, sizeof(*c));

	c->pid = pid;
	c->fn = fn;
	c->ctx = ctx;
	c->next = loop->children;
	loop->children = c;
	/* The child may have exited before it was registered: look now. */
	event_active(loop->sigchld, EV_SIGNAL, 1);
}

void ms_child_unwatch(struct ms_loop *loop, pid_t pid)
{
	struct child_watch **pp, *c;

	for (pp = &loop->children; (c = *pp) != NULL; pp = &c->next) {
		if (c->pid == pid) {
			*pp = c->next;
			free(c);
			return;
		}
	}
}

/* In the child after fork: mark every descriptor from 3 up close-on-exec. */
static void cloexec_from_3(void)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (fd >= 3 && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

static void child_after_fork(const struct ms_spawn *sp, int errfd)
{
	sigset_t none;
	int devnull, o, e, k = -1, err;

	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sp->new_session)
		setsid();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		goto fail;
	o = sp->stdout_fd >= 0 ? sp->stdout_fd : devnull;
	e = sp->stderr_fd >= 0 ? sp->stderr_fd : devnull;
	if (sp->keep_fd >= 0) {
		int low = sp->keep_fd_as + 1 > 10 ? sp->keep_fd_as + 1 : 10;
		k = fcntl(sp->keep_fd, F_DUPFD_CLOEXEC, low);
		if (k < 0)
			goto fail;
	}
	if (dup2(devnull, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
		goto fail;
	cloexec_from_3();
	if (k >= 0 && dup2(k, sp->keep_fd_as) < 0) /* dup2 clears close-on-exec */
		goto fail;
	if (sp->cwd != NULL && chdir(sp->cwd) < 0)
		goto fail;
	execve(sp->path, sp->argv, sp->envp != NULL ? sp->envp : environ);
fail:
	err = errno;
	(void)!write(errfd, &err, sizeof(err));
	_exit(127);
}

int ms_child_spawn(const struct ms_spawn *sp, pid_t *pid_r, struct ms_buf *why)
{
	int pfd[2], err = 0, errfd;
	pid_t pid;
	ssize_t n;

	MS_ASSERT(sp->keep_fd < 0 || sp->keep_fd_as >= 3);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err = errno;
		ms_buf_printf(why, "cannot create a pipe: %s", strerror(err));
		errno = err;
		return -1;
	}
	/* Above keep_fd_as, so that placing keep_fd cannot overwrite it. */
	errfd = fcntl(pfd[1], F_DUPFD_CLOEXEC, sp->keep_fd_as + 1 > 20 ? sp->keep_fd_as + 1 : 20);
	close(pfd[1]);
	if (errfd < 0) {
		err = errno;
		close(pfd[0]);
		ms_buf_printf(why, "cannot create a pipe: %s", strerror(err));
		errno = err;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(pfd[0]);
		close(errfd);
		ms_buf_printf(why, "cannot fork: %s", strerror(err));
		errno = err;
		return -1;
	}
	if (pid == 0)
		child_after_fork(sp, errfd);
	close(errfd);
	do
		n = read(pfd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(err)) {
		/* The exec failed: the child is gone already; collect it here. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		ms_buf_printf(why, "%s: %s", sp->path, strerror(err));
		errno = err;
		return -1;
	}
	*pid_r = pid;
	return 0;
}
