/*
 * supervise: the processes of the services.  See watcher.h.
 *
 * Readiness: each service is started with a pipe on descriptor 3 and
 * MS_READY_FD=3 in its environment; it writes "READY" there once it
 * serves (ms_ctl_ready(), after logging its readiness line and installing
 * its SIGHUP handler).  A service that exits before that failed to start.
 *
 * Restart policy (docs/watcher.md):
 *   - a service that exits without being asked to is "Watched 'PROG'
 *     process PID exited abnormally" (or "exited" for status 0, which is
 *     no less unexpected);
 *   - with base.autorestart.enable (and watcher.enable) on, it is restarted
 *     at once; if it fails again within base.autorestart.timeout seconds of
 *     that restart, the watcher gives up on it and says so;
 *   - a member of the store family brings the whole family down and up
 *     again, in the seed's order (002:1624, 1641-1654), since the dead one
 *     may have left store locks behind;
 *   - a service that dies before it was ready is reported to whoever
 *     started it and not restarted (no crash loop at start-up).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/optdef.h>
#include <ms/path.h>

#include "watcher.h"
#include "wlog.h"

#define READY_FD 3

static void on_ready(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);
static void on_timer(void *ctx);
static void on_child_exit(pid_t pid, int status, void *ctx);

static void write_pid_file(const struct svc_def *d, pid_t pid)
{
	char *path = svc_pid_path(d->name);
	char text[32];
	struct ms_buf why;

	ms_buf_init(&why);
	snprintf(text, sizeof(text), "%ld\n", (long)pid);
	if (ms_file_replace(path, text, strlen(text), 0644, &why) < 0)
		ms_log_warning("%s", why.data);
	ms_buf_deinit(&why);
	free(path);
}

static void remove_pid_file(const struct svc_def *d)
{
	char *path = svc_pid_path(d->name);
	unlink(path);
	free(path);
}

/* The environment of a service: ours, with MS_READY_FD=3. */
static char **child_env(void)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = ms_xcalloc(n + 2, sizeof(char *));
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MS_READY_FD=", 12) != 0)
			env[j++] = environ[i];
	env[j++] = "MS_READY_FD=3";
	env[j] = NULL;
	return env;
}

static void close_ready(struct svc_state *st)
{
	ms_conn_free(&st->ready);
}

static void resume_waiter(struct svc_state *st)
{
	struct op *op = st->waiter;

	st->waiter = NULL;
	if (op != NULL)
		op_resume(st->w, op);
}

static bool autorestart_on(const struct watcher *w, const char **off_r)
{
	if (!ms_conf_bool(w->conf, MS_OPT_WATCHER_ENABLE)) {
		*off_r = ms_optdefs[MS_OPT_WATCHER_ENABLE].name;
		return false;
	}
	if (!ms_conf_bool(w->conf, MS_OPT_BASE_AUTORESTART_ENABLE)) {
		*off_r = ms_optdefs[MS_OPT_BASE_AUTORESTART_ENABLE].name;
		return false;
	}
	return true;
}

void sup_init(struct watcher *w)
{
	w->svcs = ms_xcalloc(svc_count, sizeof(*w->svcs));
	for (size_t i = 0; i < svc_count; i++) {
		w->svcs[i].w = w;
		w->svcs[i].def = &svc_table[i];
		w->svcs[i].timer = ms_timer_new(w->loop, on_timer, &w->svcs[i]);
	}
}

bool sup_start(struct watcher *w, struct op *op, struct svc_state *st, bool explicit)
{
	const struct svc_def *d = st->def;
	struct ms_buf path, why;
	int pfd[2];
	pid_t pid;

	if (st->state == SUP_UP || st->state == SUP_STARTING) {
		op_line(op, "%s server is already running (PID %ld)", d->name, (long)st->pid);
		return true;
	}
	if (st->state == SUP_STOPPING) {
		op_line(op, "%s server is still stopping (PID %ld)", d->name, (long)st->pid);
		op_fail(op);
		return true;
	}
	if (!svc_enabled(d, w->conf)) {
		if (explicit) {
			op_line(op, "%s server is not enabled (%s is 0)", d->name, svc_enable_name(d));
			op_fail(op);
		}
		return true;
	}
	if (d->depends != NULL) {
		const struct svc_def *dep = svc_find(d->depends);
		if (svc_enabled(dep, w->conf) && w->svcs[svc_index(dep)].state != SUP_UP) {
			op_line(op, "%s server not started: %s server is not running", d->name,
				dep->name);
			op_fail(op);
			return true;
		}
	}
	ms_buf_init(&path);
	ms_buf_init(&why);
	if (svc_find_program(d->program, &path) < 0) {
		op_line(op, "Starting %s server .... not installed (no program %s)", d->name,
			d->program);
		op_fail(op);
		goto out_done;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		op_line(op, "Starting %s server .... failed: pipe: %s", d->name, strerror(errno));
		op_fail(op);
		goto out_done;
	}
	char *logpath = svc_default_log(w->conf);
	int errfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	free(logpath);
	char **env = child_env();
	char *argv[3] = {(char *)d->program, (char *)d->arg, NULL};
	struct ms_spawn sp = {
		.path = path.data,
		.argv = argv,
		.envp = env,
		.cwd = ms_serverroot(),
		/* A program that says "PROG: ready" on its output: read it there. */
		.stdout_fd = (d->flags & SVC_READY_STDOUT) ? pfd[1] : -1,
		.stderr_fd = errfd,
		.keep_fd = pfd[1],
		.keep_fd_as = READY_FD,
		.new_session = true,
	};
	int r = ms_child_spawn(&sp, &pid, &why);
	free(env);
	if (errfd >= 0)
		close(errfd);
	close(pfd[1]);
	if (r < 0) {
		close(pfd[0]);
		op_line(op, "Starting %s server .... failed: %s", d->name, why.data);
		op_fail(op);
		goto out_done;
	}
	st->pid = pid;
	st->state = SUP_STARTING;
	st->killed = false;
	ms_child_watch(w->loop, pid, on_child_exit, st);
	write_pid_file(d, pid);
	st->ready = ms_conn_new(w->loop, pfd[0], on_ready, st);
	ms_timer_start(st->timer, WATCHER_READY_TIMEOUT_MS, false);
	op_line(op, "Starting %s server .... %ld", d->name, (long)pid);
	st->waiter = op;
	ms_buf_deinit(&path);
	ms_buf_deinit(&why);
	return false;
out_done:
	ms_buf_deinit(&path);
	ms_buf_deinit(&why);
	return true;
}

static void mark_ready(struct svc_state *st)
{
	ms_timer_stop(st->timer);
	/* Its standard output stays on the pipe: keep reading it, or it gets SIGPIPE. */
	if (!(st->def->flags & SVC_READY_STDOUT))
		close_ready(st);
	st->state = SUP_UP;
	if (st->waiter != NULL && (st->def->flags & SVC_READY_CHECK))
		/* start-msg prints a capital C, the watcher's own restarts a small one
		 * (002:1497 and 1651). */
		op_line(st->waiter, "%s %s server status ..... ready",
			op_has_client(st->waiter) ? "Checking" : "checking", st->def->name);
	resume_waiter(st);
}

static void on_ready(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct svc_state *st = ctx;
	struct ms_buf line;

	if (ev == MS_CONN_DATA) {
		ms_buf_init(&line);
		int r;
		while ((r = ms_conn_read_line(conn, &line, 4096)) != MS_AGAIN) {
			bool ready = r == MS_OK && (strcmp(line.data, "READY") == 0 ||
						    ((st->def->flags & SVC_READY_STDOUT) &&
						     strstr(line.data, ": ready") != NULL));
			if (ready && st->state == SUP_STARTING) {
				ms_buf_deinit(&line);
				mark_ready(st);
				return;
			}
		}
		ms_buf_deinit(&line);
		return;
	}
	if (ev == MS_CONN_EOF || ev == MS_CONN_ERROR)
		close_ready(st); /* the exit (or the timeout) decides */
}

static void on_timer(void *ctx)
{
	struct svc_state *st = ctx;

	if (st->state == SUP_STARTING) {
		close_ready(st);
		st->state = SUP_UP;
		if (st->waiter != NULL) {
			op_line(st->waiter, "%s server did not report ready within %u seconds",
				st->def->name, WATCHER_READY_TIMEOUT_MS / 1000);
			op_fail(st->waiter);
		}
		resume_waiter(st);
	} else if (st->state == SUP_STOPPING && st->pid > 0) {
		st->killed = true;
		kill(-st->pid, SIGKILL);
		kill(st->pid, SIGKILL);
	}
}

static void describe_exit(int status, struct ms_buf *out)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		ms_buf_puts(out, "exited");
	else
		ms_buf_puts(out, "exited abnormally");
}

static void sup_failure(struct watcher *w, struct svc_state *st)
{
	const struct svc_def *d = st->def;
	const char *off = NULL;
	bool which[64] = {false};

	if (w->shutting_down)
		return;
	if (!autorestart_on(w, &off)) {
		wlog_line("%s server not restarted: %s is 0", d->name, off);
		return;
	}
	if (d->flags & SVC_NO_RESTART) {
		wlog_line("%s server is never restarted automatically", d->name);
		return;
	}
	uint64_t now = ms_loop_now_ms(w->loop);
	long long timeout = ms_conf_int(w->conf, MS_OPT_BASE_AUTORESTART_TIMEOUT);
	if (st->restarted && now - st->restarted_at < (uint64_t)timeout * 1000u) {
		st->given_up = true;
		wlog_line("Watched '%s' not restarted: failed twice within %lld seconds "
			  "(%s); start it with start-msg %s",
			  d->program, timeout, ms_optdefs[MS_OPT_BASE_AUTORESTART_TIMEOUT].name,
			  d->name);
		ms_log_error("%s server not restarted: it failed twice within %lld seconds",
			     d->name, timeout);
		return;
	}
	st->restarted = true;
	st->restarted_at = now;
	if (d->flags & SVC_STORE_FAMILY) {
		for (size_t i = 0; i < svc_count; i++)
			if ((svc_table[i].flags & SVC_STORE_FAMILY) &&
			    svc_enabled(&svc_table[i], w->conf) &&
			    (w->svcs[i].state != SUP_DOWN || &w->svcs[i] == st))
				which[i] = true;
	} else {
		which[svc_index(d)] = true;
	}
	op_submit(w, op_restart(NULL, which, NULL));
}

static void on_child_exit(pid_t pid, int status, void *ctx)
{
	struct svc_state *st = ctx;
	struct watcher *w = st->w;
	enum sup_state prev = st->state;
	struct ms_buf how;

	if (st->pid != pid)
		return;
	ms_timer_stop(st->timer);
	close_ready(st);
	remove_pid_file(st->def);
	st->pid = 0;
	st->state = SUP_DOWN;
	ms_buf_init(&how);
	describe_exit(status, &how);
	switch (prev) {
	case SUP_STOPPING:
		if (st->waiter != NULL) {
			op_line(st->waiter, "Stopping %s server %ld .... %s", st->def->name, (long)pid,
				st->killed ? "killed" : "done");
			if (st->killed)
				op_fail(st->waiter);
		}
		resume_waiter(st);
		break;
	case SUP_STARTING:
		wlog_line("Watched '%s' process %ld %s", st->def->program, (long)pid, how.data);
		if (st->waiter != NULL) {
			op_line(st->waiter, "%s server exited before it was ready", st->def->name);
			op_fail(st->waiter);
		}
		ms_log_error("%s server (%s, PID %ld) exited before it was ready", st->def->name,
			     st->def->program, (long)pid);
		resume_waiter(st);
		break;
	case SUP_UP:
		wlog_line("Watched '%s' process %ld %s", st->def->program, (long)pid, how.data);
		ms_log_error("Watched '%s' process %ld %s", st->def->program, (long)pid, how.data);
		sup_failure(w, st);
		break;
	case SUP_DOWN:
		break;
	}
	ms_buf_deinit(&how);
}

bool sup_stop(struct watcher *w, struct op *op, struct svc_state *st)
{
	(void)w;
	if (st->state == SUP_DOWN) {
		op_line(op, "%s server is not running", st->def->name);
		return true;
	}
	close_ready(st);
	st->state = SUP_STOPPING;
	st->killed = false;
	st->waiter = op;
	kill(st->pid, SIGTERM);
	kill(st->pid, SIGCONT); /* a stopped (hung) process must see it too */
	ms_timer_start(st->timer, WATCHER_STOP_TIMEOUT_MS, false);
	return false;
}

void sup_refresh(struct watcher *w, struct op *op, struct svc_state *st)
{
	(void)w;
	if (st->state != SUP_UP) {
		op_line(op, "%s server is not running", st->def->name);
		op_fail(op);
		return;
	}
	kill(st->pid, SIGHUP);
	op_line(op, "Refreshing %s server %ld .... done", st->def->name, (long)st->pid);
}

bool sup_store_maintenance(pid_t *pid_r)
{
	char *path = ms_instance_path("data/run/store-maintenance");
	struct ms_buf data, why;
	bool held = false;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(path, &data, &why) == 0) {
		long pid = strtol(data.data, NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
			held = true;
			*pid_r = (pid_t)pid;
		}
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(path);
	return held;
}

int sup_hung(struct watcher *w, struct svc_state *st, const char *reason, struct ms_buf *why)
{
	const char *off = NULL;
	pid_t holder;

	if (st->state != SUP_UP) {
		ms_buf_printf(why, "%s server is not running", st->def->name);
		return -1;
	}
	wlog_line("Watched '%s' process %ld is not responding: %s", st->def->program,
		  (long)st->pid, reason);
	ms_log_error("%s server (PID %ld) is not responding: %s", st->def->name, (long)st->pid,
		     reason);
	if (!autorestart_on(w, &off)) {
		ms_buf_printf(why, "%s server not restarted: %s is 0", st->def->name, off);
		wlog_line("%s", why->data);
		return -1;
	}
	if ((st->def->flags & SVC_STORE_FAMILY) && sup_store_maintenance(&holder)) {
		ms_buf_printf(why, "%s server not restarted: the store is held by process %ld "
				   "(backup or restore)",
			      st->def->name, (long)holder);
		wlog_line("%s", why->data);
		return -1;
	}
	if (st->def->flags & SVC_NO_RESTART) {
		ms_buf_printf(why, "%s server is never restarted automatically", st->def->name);
		wlog_line("%s", why->data);
		return -1;
	}
	/* It does not answer, so it cannot drain: kill it; the exit restarts it. */
	kill(-st->pid, SIGKILL);
	kill(st->pid, SIGKILL);
	return 0;
}

void sup_utility_died(struct watcher *w, const char *name, pid_t pid)
{
	const char *off = NULL;
	bool which[64] = {false}, any = false;

	wlog_line("Watched '%s' process %ld exited abnormally", name, (long)pid);
	ms_log_error("store utility %s (PID %ld) ended without releasing the store", name,
		     (long)pid);
	if (w->shutting_down)
		return;
	if (!autorestart_on(w, &off)) {
		wlog_line("store servers not restarted: %s is 0", off);
		return;
	}
	for (size_t i = 0; i < svc_count; i++)
		if ((svc_table[i].flags & SVC_STORE_FAMILY) && w->svcs[i].state != SUP_DOWN) {
			which[i] = true;
			any = true;
		}
	if (any)
		op_submit(w, op_restart(NULL, which, NULL));
}

/* Is pid alive and running program? */
static bool is_program(pid_t pid, const char *program)
{
	char link[64], exe[4096];
	ssize_t n;

	if (kill(pid, 0) < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return strcmp(base, program) == 0 ||
	       (strncmp(base, program, strlen(program)) == 0 &&
		strcmp(base + strlen(program), " (deleted)") == 0);
}

void sup_reap_orphans(struct watcher *w)
{
	(void)w;
	for (size_t i = 0; i < svc_count; i++) {
		const struct svc_def *d = &svc_table[i];
		char *path = svc_pid_path(d->name);
		struct ms_buf data, why;
		ms_buf_init(&data);
		ms_buf_init(&why);
		if (ms_file_read(path, &data, &why) == 0) {
			pid_t pid = (pid_t)strtol(data.data, NULL, 10);
			if (pid > 1 && is_program(pid, d->program)) {
				wlog_line("Found '%s' process %ld left by a previous watcher; "
					  "stopping it",
					  d->program, (long)pid);
				kill(pid, SIGTERM);
				kill(pid, SIGCONT);
				/* Start-up only, before anything is served: a bounded wait. */
				for (int t = 0; t < 250 && kill(pid, 0) == 0; t++) {
					struct timespec ts = {0, 20000000};
					nanosleep(&ts, NULL);
				}
				if (kill(pid, 0) == 0)
					kill(pid, SIGKILL);
			}
			unlink(path);
		}
		ms_buf_deinit(&data);
		ms_buf_deinit(&why);
		free(path);
	}
}
