/*
 * imsched: the scheduler (seed 002:1734-1808), a service run by the watcher.
 *
 * Tasks come from the compiled configuration: every schedule.task:NAME
 * with a crontab entry (cron.h) and schedule.task:NAME.enable on.  At each
 * minute the tasks whose entry matches local time run; the command's first
 * word is resolved against the install (bin/X, lib/X, or an absolute path:
 * svc_resolve_command) and the command runs without a shell, in
 * $SERVERROOT, its output into the default log.  Each run is logged when
 * it starts and with its exit status; a task still running when its next
 * time comes is not started twice.
 *
 * SIGHUP (refresh sched, or the watcher after msconfig write) re-reads
 * the configuration (ms_reload: "config generation N loaded"); runs in
 * progress go on.  data/run/imsched.sock answers PING (msprobe) and RUN
 * (run a task now: `imsched -run NAME`, which prints the task's PID).
 *
 *   imsched              the service (started by the watcher)
 *   imsched -run NAME    ask the running scheduler to run task NAME now
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
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/path.h>
#include <ms/reload.h>

#include "cron.h"
#include "services.h"

struct task {
	char *name;
	struct cron_spec spec;
	bool enabled;
};

/* A run in progress. */
struct run {
	struct run *next;
	struct sched *s;
	char *name;
	pid_t pid;
};

struct sched {
	struct ms_loop *loop;
	struct ms_conf *conf;
	struct task *tasks;
	size_t ntasks;
	struct run *runs;
	struct ms_timer *tick;
	time_t last_minute; /* the last minute whose tasks were started */
	struct ms_listener *listener;
};

static void tasks_free(struct sched *s)
{
	for (size_t i = 0; i < s->ntasks; i++) {
		free(s->tasks[i].name);
		cron_spec_deinit(&s->tasks[i].spec);
	}
	free(s->tasks);
	s->tasks = NULL;
	s->ntasks = 0;
}

/* Build the task list from conf; bad entries are logged and left out. */
static void tasks_load(struct sched *s, const struct ms_conf *conf)
{
	struct ms_buf group;
	const char *const *names;

	tasks_free(s);
	ms_buf_init(&group);
	svc_group_of(MS_OPT_SCHEDULE_TASK_CRONTAB, &group);
	size_t n = ms_conf_group_names(conf, group.data, &names);
	ms_buf_deinit(&group);
	s->tasks = ms_xcalloc(n + 1, sizeof(*s->tasks));
	for (size_t i = 0; i < n; i++) {
		const char *text = ms_conf_named_str(conf, MS_OPT_SCHEDULE_TASK_CRONTAB, names[i]);
		const char *en = ms_conf_named_str(conf, MS_OPT_SCHEDULE_TASK_ENABLE, names[i]);
		struct task *t = &s->tasks[s->ntasks];
		struct ms_buf why;
		if (text == NULL)
			continue;
		ms_buf_init(&why);
		if (cron_parse(text, &t->spec, &why) < 0) {
			ms_log_error("task %s: crontab '%s' not used: %s", names[i], text, why.data);
			ms_buf_deinit(&why);
			continue;
		}
		ms_buf_deinit(&why);
		t->name = ms_xstrdup(names[i]);
		t->enabled = en == NULL || strcmp(en, "0") != 0;
		s->ntasks++;
	}
}

static struct task *task_find(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->ntasks; i++)
		if (strcmp(s->tasks[i].name, name) == 0)
			return &s->tasks[i];
	return NULL;
}

static void on_run_exit(pid_t pid, int status, void *ctx)
{
	struct run *r = ctx, **pp;
	struct sched *s = r->s;

	if (WIFEXITED(status))
		ms_log_notice("task %s (PID %ld) exited with status %d", r->name, (long)pid,
			      WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		ms_log_warning("task %s (PID %ld) was killed by signal %d", r->name, (long)pid,
			       WTERMSIG(status));
	for (pp = &s->runs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r->name);
	free(r);
}

/* Split a command on blanks (no shell, no quoting): a NULL-terminated argv. */
static char **split_command(const char *cmd)
{
	char *copy = ms_xstrdup(cmd), *save = NULL;
	size_t n = 0, cap = 8;
	char **argv = ms_xcalloc(cap, sizeof(char *));

	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n + 2 > cap) {
			cap *= 2;
			argv = ms_xrealloc(argv, cap * sizeof(char *));
		}
		argv[n++] = ms_xstrdup(w);
	}
	argv[n] = NULL;
	free(copy);
	return argv;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Start task t; 0 with its PID, or -1 with why (also logged). */
static int run_task(struct sched *s, const struct task *t, pid_t *pid_r, struct ms_buf *why)
{
	for (struct run *r = s->runs; r != NULL; r = r->next)
		if (strcmp(r->name, t->name) == 0) {
			ms_buf_printf(why, "task %s is still running (PID %ld); this run is skipped",
				      t->name, (long)r->pid);
			ms_log_warning("%s", why->data);
			return -1;
		}
	char **argv = split_command(t->spec.command);
	struct ms_buf path;
	ms_buf_init(&path);
	if (argv[0] == NULL || svc_resolve_command(argv[0], &path) < 0) {
		ms_buf_printf(why, "task %s: cannot run %s: no such program in the installation",
			      t->name, argv[0] ? argv[0] : "(nothing)");
		ms_log_error("%s", why->data);
		ms_buf_deinit(&path);
		free_argv(argv);
		return -1;
	}
	char *logpath = svc_default_log(s->conf);
	int logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	free(logpath);
	struct ms_spawn sp = {
		.path = path.data,
		.argv = argv,
		.envp = NULL,
		.cwd = ms_serverroot(),
		.stdout_fd = logfd,
		.stderr_fd = logfd,
		.keep_fd = -1,
		.keep_fd_as = 0,
		.new_session = false,
	};
	pid_t pid;
	struct ms_buf err;
	ms_buf_init(&err);
	int rc = ms_child_spawn(&sp, &pid, &err);
	if (logfd >= 0)
		close(logfd);
	if (rc < 0) {
		ms_buf_printf(why, "task %s: cannot run %s", t->name, err.data);
		ms_log_error("%s", why->data);
	} else {
		struct run *r = ms_xcalloc(1, sizeof(*r));
		r->s = s;
		r->name = ms_xstrdup(t->name);
		r->pid = pid;
		r->next = s->runs;
		s->runs = r;
		ms_child_watch(s->loop, pid, on_run_exit, r);
		ms_log_notice("task %s started: %s (PID %ld)", t->name, t->spec.command, (long)pid);
		*pid_r = pid;
	}
	ms_buf_deinit(&err);
	ms_buf_deinit(&path);
	free_argv(argv);
	return rc;
}

/* Arm the tick for just after the next whole minute of the wall clock. */
static void arm_tick(struct sched *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t into = (uint64_t)(ts.tv_sec % 60) * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	ms_timer_start(s->tick, 60000u - into + 20u, false);
}

static void on_tick(void *ctx)
{
	struct sched *s = ctx;
	time_t now = time(NULL), minute = now - now % 60;
	struct tm tm;

	if (minute != s->last_minute) {
		s->last_minute = minute;
		localtime_r(&minute, &tm);
		for (size_t i = 0; i < s->ntasks; i++) {
			pid_t pid;
			struct ms_buf why;
			if (!s->tasks[i].enabled || !cron_match(&s->tasks[i].spec, &tm))
				continue;
			ms_buf_init(&why);
			(void)run_task(s, &s->tasks[i], &pid, &why);
			ms_buf_deinit(&why);
		}
	}
	arm_tick(s);
}

/* ---- control socket ---- */

static void on_client(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct sched *s = ctx;

	if (ev != MS_CONN_DATA) {
		ms_conn_free(&conn);
		return;
	}
	for (;;) {
		struct ms_ctl_msg m;
		struct ms_buf why;
		ms_ctl_msg_init(&m);
		ms_buf_init(&why);
		int r = ms_ctl_conn_read(conn, &m, &why);
		if (r == MS_AGAIN) {
			ms_buf_deinit(&why);
			return;
		}
		if (r == MS_ERROR) {
			ms_log_warning("imsched: control connection closed: %s", why.data);
			ms_buf_deinit(&why);
			ms_conn_free(&conn);
			return;
		}
		if (m.type == MS_CTL_PING) {
			ms_ctl_conn_done(conn, 0, "imsched");
		} else if (m.type == MS_CTL_RUN) {
			struct task *t = task_find(s, m.args[0]);
			pid_t pid;
			if (t == NULL) {
				ms_buf_printf(&why, "no task %s", m.args[0]);
				ms_ctl_conn_done(conn, 1, why.data);
			} else if (!t->enabled) {
				ms_buf_printf(&why, "task %s is disabled", m.args[0]);
				ms_ctl_conn_done(conn, 1, why.data);
			} else if (run_task(s, t, &pid, &why) < 0) {
				ms_ctl_conn_done(conn, 1, why.data);
			} else {
				ms_buf_printf(&why, "task %s started (PID %ld)", t->name, (long)pid);
				ms_ctl_conn_done(conn, 0, why.data);
			}
		} else {
			ms_ctl_conn_done(conn, 64, "imsched answers ping and run only");
		}
		ms_ctl_msg_deinit(&m);
		ms_buf_deinit(&why);
	}
}

static void on_accept(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	struct sched *s = ctx;
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	(void)peer;
	(void)len;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != getuid())) {
		close(fd);
		return;
	}
	struct ms_conn *c = ms_conn_new(s->loop, fd, on_client, s);
	ms_conn_set_timeouts(c, 30000, 30000);
}

/* ---- configuration ---- */

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf,
		       void *ctx)
{
	struct sched *s = ctx;
	size_t enabled = 0;

	(void)old_conf;
	tasks_load(s, new_conf);
	for (size_t i = 0; i < s->ntasks; i++)
		enabled += s->tasks[i].enabled;
	ms_log_info("imsched: %zu tasks, %zu enabled", s->ntasks, enabled);
}

static void on_hup(int signo, void *ctx)
{
	struct sched *s = ctx;
	struct ms_reload_hooks hooks = {NULL, apply_conf, s};
	struct ms_buf why;

	(void)signo;
	ms_buf_init(&why);
	(void)ms_reload(&s->conf, &hooks, &why);
	ms_buf_deinit(&why);
}

static void on_term(int signo, void *ctx)
{
	struct sched *s = ctx;

	ms_log_notice("imsched stopping (signal %d)", signo);
	ms_loop_exit(s->loop);
}

static int client_run(const char *task)
{
	char *path = ms_ctl_socket_path("imsched");
	struct ms_ctl_client *c = NULL;
	struct ms_buf why, text;
	int status = 1;
	const char *args[1] = {task};

	ms_buf_init(&why);
	ms_buf_init(&text);
	if (ms_ctl_client_open(path, &c, &why) < 0) {
		fprintf(stderr, "imsched: the scheduler is not running (%s)\n", why.data);
	} else if (ms_ctl_call(c, MS_CTL_RUN, args, 1, 30000, NULL, NULL, &status, &text, &why) <
		   0) {
		fprintf(stderr, "imsched: %s\n", why.data);
		status = 1;
	} else {
		fprintf(status == 0 ? stdout : stderr, "%s\n", text.data);
	}
	ms_ctl_client_close(&c);
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
	free(path);
	return status;
}

int main(int argc, char **argv)
{
	struct sched s;
	struct ms_buf why;
	int fd;

	if (argc == 3 && strcmp(argv[1], "-run") == 0)
		return client_run(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: imsched            (run by the watcher: start-msg sched)\n"
				"       imsched -run TASK  run a task now\n");
		return MS_EXIT_USAGE;
	}
	memset(&s, 0, sizeof(s));
	ms_buf_init(&why);
	struct ms_reload_hooks hooks = {NULL, apply_conf, &s};
	/* The log first (its default place), so that the load is logged there. */
	char *logpath = svc_default_log(NULL);
	ms_log_open("imsched", logpath, MS_LOG_NOTICE);
	free(logpath);
	if (ms_reload(&s.conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "imsched: %s", why.data);
	logpath = svc_default_log(s.conf);
	ms_log_open("imsched", logpath, MS_LOG_NOTICE);
	free(logpath);
	s.loop = ms_loop_new(&why);
	if (s.loop == NULL)
		ms_fatal(MS_EXIT_SOFTWARE, "imsched: %s", why.data);
	char *sock = ms_ctl_socket_path("imsched");
	if (ms_listen_unix(sock, 0600, 16, &fd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "imsched: %s", why.data);
	s.listener = ms_listener_new(s.loop, fd, true, on_accept, &s);
	struct ms_signal *shup = ms_signal_new(s.loop, SIGHUP, on_hup, &s);
	struct ms_signal *sterm = ms_signal_new(s.loop, SIGTERM, on_term, &s);
	struct ms_signal *sint = ms_signal_new(s.loop, SIGINT, on_term, &s);
	s.tick = ms_timer_new(s.loop, on_tick, &s);
	time_t now = time(NULL);
	s.last_minute = now - now % 60; /* this minute started before us */
	arm_tick(&s);
	size_t enabled = 0;
	for (size_t i = 0; i < s.ntasks; i++)
		enabled += s.tasks[i].enabled;
	ms_log_notice("imsched ready: %zu tasks, %zu enabled (config generation %lu)", s.ntasks,
		      enabled, ms_conf_generation(s.conf));
	ms_ctl_ready();

	ms_loop_run(s.loop);

	unlink(sock);
	free(sock);
	ms_listener_free(&s.listener);
	ms_signal_free(&shup);
	ms_signal_free(&sterm);
	ms_signal_free(&sint);
	ms_timer_free(&s.tick);
	while (s.runs != NULL) {
		struct run *r = s.runs;
		s.runs = r->next;
		free(r->name);
		free(r);
	}
	tasks_free(&s);
	ms_loop_free(&s.loop);
	ms_conf_free(&s.conf);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
