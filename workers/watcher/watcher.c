/*
 * watcher: main.  See watcher.h for the parts and docs/watcher.md for the
 * decisions.
 *
 * Start-up, in order: load the compiled configuration; open the default
 * log and the watcher log; take the lock (an exclusive flock on
 * data/run/watcher.pid: one watcher per instance); stop services left by a
 * watcher that died (their PID files); write a fresh TCP key; listen on
 * the control sockets; write the PID; log "watcher process N started at
 * ..."; tell start-msg it is ready (MS_READY_FD).  Services are started
 * only on request (start-msg), so the order always comes from one place.
 *
 * SIGTERM and SIGINT stop every service (reverse order) and then the
 * watcher; SIGHUP re-reads the configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/path.h>
#include <ms/reload.h>

#include "watcher.h"
#include "wlog.h"

/* Before the watcher is ready, tell start-msg what went wrong, then exit. */
static noreturn void fail_start(enum ms_exit status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static noreturn void fail_start(enum ms_exit status, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;
	const char *v = getenv("MS_READY_FD");

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (v != NULL) {
		int fd = atoi(v);
		if (fd >= 3) {
			struct ms_buf msg;
			ms_buf_init(&msg);
			ms_buf_printf(&msg, "FAIL %s\n", b.data);
			(void)!write(fd, msg.data, msg.len);
			ms_buf_deinit(&msg);
		}
	}
	ms_fatal(status, "watcher: %s", b.data);
}

void watcher_reload(struct watcher *w)
{
	struct ms_buf why;

	ms_buf_init(&why);
	(void)ms_reload(&w->conf, NULL, &why);
	ms_buf_deinit(&why);
}

/*
 * First run (just after the last operation's DONE was queued): close every
 * client once its replies are out, leave when the last one is gone or after
 * two seconds at most (a client that never reads does not hold us).
 */
static void on_quit_timer(void *ctx)
{
	struct watcher *w = ctx;

	if (w->clients == NULL || w->quit_armed) {
		ms_loop_exit(w->loop);
		return;
	}
	w->quit_armed = true;
	control_flush_all(w);
	ms_timer_start(w->quit_timer, 2000, false);
}

void watcher_quit(struct watcher *w)
{
	w->shutting_down = true;
	w->quit = true;
	ms_timer_start(w->quit_timer, 0, false);
}

static void on_term(int signo, void *ctx)
{
	struct watcher *w = ctx;

	ms_log_notice("watcher: signal %d: stopping every service", signo);
	if (w->shutting_down)
		return;
	w->shutting_down = true;
	struct op *op = op_new(NULL, true);
	for (size_t i = svc_count; i-- > 0;)
		if (w->svcs[i].state != SUP_DOWN)
			op_add(op, STEP_STOP, &svc_table[i], false, NULL);
	op_add(op, STEP_EXIT, NULL, false, NULL);
	op_submit(w, op);
}

static void on_hup(int signo, void *ctx)
{
	(void)signo;
	watcher_reload(ctx);
}

/* A fresh random key for TCP clients, in data/run/watcher.key (0600). */
static void make_key(struct watcher *w)
{
	unsigned char raw[MS_CTL_KEY_LEN / 2];
	struct ms_buf why;
	char *path;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		fail_start(MS_EXIT_OSERR, "cannot get random bytes: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(w->key + 2 * i, 3, "%02x", raw[i]);
	path = ms_instance_path("data/run/watcher.key");
	ms_buf_init(&why);
	if (ms_file_replace(path, w->key, strlen(w->key), 0600, &why) < 0)
		fail_start(MS_EXIT_IOERR, "%s", why.data);
	ms_buf_deinit(&why);
	free(path);
}

static int take_lock(void)
{
	char *path = svc_pid_path("watcher");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_start(MS_EXIT_IOERR, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fail_start(MS_EXIT_TEMPFAIL, "another watcher is running (PID %s)",
			   *buf ? buf : "unknown");
	}
	free(path);
	return fd;
}

static void write_pid(int fd)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n)
		ms_log_warning("watcher: cannot write its PID file: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct watcher w;
	struct ms_buf why;
	char when[64];

	if (argc > 1) {
		fprintf(stderr, "usage: %s (started by start-msg)\n", argv[0]);
		return MS_EXIT_USAGE;
	}
	memset(&w, 0, sizeof(w));
	w.pid = getpid();
	ms_buf_init(&why);
	if (ms_conf_load_default(&w.conf, &why) < 0)
		fail_start(MS_EXIT_CONFIG, "%s", why.data);
	char *logpath = svc_default_log(w.conf);
	ms_log_open("watcher", logpath, MS_LOG_NOTICE);
	free(logpath);
	char *rundir = svc_run_dir();
	char *logdir = ms_instance_path("data/log");
	if (ms_file_mkdirs(rundir, 0755, &why) < 0 || ms_file_mkdirs(logdir, 0755, &why) < 0)
		fail_start(MS_EXIT_IOERR, "%s", why.data);
	char *wlogpath = ms_instance_path("data/log/watcher");
	if (wlog_open(wlogpath) < 0)
		ms_log_warning("watcher: %s: %s", wlogpath, strerror(errno));
	free(wlogpath);
	free(rundir);
	free(logdir);
	setsid(); /* out of start-msg's session: ^C there must not reach the servers */
	int lockfd = take_lock();

	w.loop = ms_loop_new(&why);
	if (w.loop == NULL)
		fail_start(MS_EXIT_SOFTWARE, "%s", why.data);
	sup_init(&w);
	w.quit_timer = ms_timer_new(w.loop, on_quit_timer, &w);
	sup_reap_orphans(&w);
	make_key(&w);
	if (control_listen(&w, &why) < 0)
		fail_start(MS_EXIT_OSERR, "%s", why.data);
	struct ms_signal *sterm = ms_signal_new(w.loop, SIGTERM, on_term, &w);
	struct ms_signal *sint = ms_signal_new(w.loop, SIGINT, on_term, &w);
	struct ms_signal *shup = ms_signal_new(w.loop, SIGHUP, on_hup, &w);
	write_pid(lockfd);
	wlog_time(time(NULL), when, sizeof(when));
	wlog_line("watcher process %ld started at %s", (long)w.pid, when);
	ms_log_notice("watcher ready (config generation %lu)", ms_conf_generation(w.conf));
	ms_ctl_ready();

	ms_loop_run(w.loop);

	char *sock = ms_ctl_socket_path("watcher");
	unlink(sock);
	free(sock);
	char *key = ms_instance_path("data/run/watcher.key");
	unlink(key);
	free(key);
	char *pidpath = svc_pid_path("watcher");
	unlink(pidpath);
	free(pidpath);
	wlog_time(time(NULL), when, sizeof(when));
	wlog_line("watcher process %ld stopped at %s", (long)w.pid, when);
	control_close(&w);
	ms_signal_free(&sterm);
	ms_signal_free(&sint);
	ms_signal_free(&shup);
	for (size_t i = 0; i < svc_count; i++) {
		ms_conn_free(&w.svcs[i].ready);
		ms_timer_free(&w.svcs[i].timer);
	}
	ms_timer_free(&w.quit_timer);
	free(w.svcs);
	ms_loop_free(&w.loop);
	ms_conf_free(&w.conf);
	ms_buf_deinit(&why);
	close(lockfd);
	wlog_close();
	ms_log_close();
	return 0;
}
