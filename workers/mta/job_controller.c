/*
 * job_controller: runs the delivery jobs of the MTA's channel queues
 * (docs/mta.md, "Queues and the job controller").
 *
 * The watcher starts it (service job_controller).  It binds the datagram
 * socket data/run/job_controller.sock, on which mta_queue_notify() says
 * "channel X has new work", scans every channel queue at start, every
 * job_controller.rescan seconds and whenever a job ends, and wakes up when
 * the earliest delayed message becomes due (a queue file's mtime is its
 * next try).  For each channel with due messages it starts jobs, child
 * processes running `mta_deliver CHANNEL` (the program next to its own),
 * at most channel:NAME.maxjobs for the channel and
 * job_controller.job_pool:POOL.job_limit for the channel's pool.  A job
 * takes never-tried files first; retries, notices and bounces are the
 * job's (workers/mta/mta_deliver.c).
 *
 * Started by root, it becomes the restricted.cnf user first (it binds
 * nothing privileged), and its jobs run as that user.
 *
 * It keeps no state a crash could lose: everything is in the queue files,
 * which jobs take under flock, so a kill -9 of the controller or of a job
 * leaves messages to be found by the next scan.  SIGHUP reloads the
 * configuration (ms_reload: a bad one leaves the old in place); SIGTERM
 * asks the running jobs to finish their message, waits for them (5
 * seconds at most, then kill -9, which is safe) and exits 0.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/priv.h>
#include <ms/reload.h>
#include <ms/version.h>

#include "mta_channel.h"
#include "mta_queue.h"

#define PROG               "job_controller"
#define DEFAULT_MAXJOBS    7
#define DEFAULT_POOL_LIMIT 10
#define STOP_GRACE_MS      5000

struct jc_chan {
	char *name;
	int running;
	size_t due;        /* due files at the last scan */
	time_t next_due;   /* earliest future next; 0: none */
	bool known;        /* defined in the configuration */
	bool warned;       /* "no channel definition" said once */
	unsigned failures; /* jobs in a row that ended abnormally */
	time_t not_before; /* after such a job: no new one before (throttle) */
};

struct jc_job {
	pid_t pid;
	char *channel;
	struct jc_job *next;
};

struct jc {
	struct ms_loop *loop;
	struct ms_conf *conf;
	struct mta_channel_table *channels;
	struct mta_queue *queue;
	char *sock_path, *deliver_path;
	struct ms_conn *sock;
	struct ms_timer *rescan_timer, *wake_timer, *soon_timer, *stop_timer;
	struct ms_signal *hup, *term, *intr;
	struct jc_chan *ch;
	size_t nch;
	struct jc_job *jobs;
	bool stopping;
	unsigned long started, finished;
};

static struct jc_chan *chan_get(struct jc *jc, const char *name)
{
	size_t i;

	for (i = 0; i < jc->nch; i++)
		if (strcmp(jc->ch[i].name, name) == 0)
			return &jc->ch[i];
	jc->ch = ms_xrealloc(jc->ch, (jc->nch + 1) * sizeof(*jc->ch));
	memset(&jc->ch[jc->nch], 0, sizeof(jc->ch[jc->nch]));
	jc->ch[jc->nch].name = ms_xstrdup(name);
	return &jc->ch[jc->nch++];
}

/* ---- limits ---------------------------------------------------------------- */

static int chan_maxjobs(struct jc *jc, const char *name)
{
	const struct mta_channel *c = mta_channel_find(jc->channels, name);
	const char *v = c != NULL ? mta_channel_get(jc->channels, c, MS_OPT_CHANNEL_MAXJOBS) : NULL;
	long n = v != NULL ? strtol(v, NULL, 10) : DEFAULT_MAXJOBS;

	return n > 0 ? (int)n : DEFAULT_MAXJOBS;
}

static const char *chan_pool(struct jc *jc, const char *name)
{
	const struct mta_channel *c = mta_channel_find(jc->channels, name);
	const char *v = c != NULL ? mta_channel_get(jc->channels, c, MS_OPT_CHANNEL_POOL) : NULL;

	return v != NULL && *v != '\0' ? v : "DEFAULT";
}

static int pool_limit(struct jc *jc, const char *pool)
{
	const char *v = ms_conf_named_str(jc->conf, MS_OPT_JOB_CONTROLLER_JOB_POOL_JOB_LIMIT, pool);
	long n = v != NULL ? strtol(v, NULL, 10) : DEFAULT_POOL_LIMIT;

	return n > 0 ? (int)n : DEFAULT_POOL_LIMIT;
}

static int pool_running(struct jc *jc, const char *pool)
{
	struct jc_job *j;
	int n = 0;

	for (j = jc->jobs; j != NULL; j = j->next)
		if (strcmp(chan_pool(jc, j->channel), pool) == 0)
			n++;
	return n;
}

/* ---- scanning ---------------------------------------------------------------- */

/* Count the due files of one channel and note the next wake-up. */
static void scan_channel(struct jc *jc, struct jc_chan *c)
{
	struct mta_qentry *list = NULL;
	struct ms_buf why;
	time_t now = time(NULL);
	ssize_t n, i;

	ms_buf_init(&why);
	c->due = 0;
	c->next_due = 0;
	n = mta_queue_scan(jc->queue, c->name, false, &list, &why);
	if (n < 0)
		ms_log_warning("scan of channel %s: %s", c->name, why.data);
	for (i = 0; i < n; i++) {
		if (list[i].next <= now)
			c->due++;
		else if (c->next_due == 0 || list[i].next < c->next_due)
			c->next_due = list[i].next;
	}
	free(list);
	ms_buf_deinit(&why);
}

static bool start_job(struct jc *jc, struct jc_chan *c);
static void arm_wake(struct jc *jc);

/* Start what the limits allow for every channel with due work. */
static void schedule(struct jc *jc)
{
	size_t i;

	if (jc->stopping)
		return;
	for (i = 0; i < jc->nch; i++) {
		struct jc_chan *c = &jc->ch[i];
		const char *pool = chan_pool(jc, c->name);
		int want;

		if (c->due == 0 || !c->known || c->not_before > time(NULL))
			continue;
		want = (int)(c->due < (size_t)chan_maxjobs(jc, c->name)
		                 ? c->due
		                 : (size_t)chan_maxjobs(jc, c->name));
		while (c->running < want && pool_running(jc, pool) < pool_limit(jc, pool))
			if (!start_job(jc, c))
				break;
	}
	arm_wake(jc);
}

static void scan_all(struct jc *jc)
{
	size_t n, i;
	char **names = mta_queue_channels(jc->queue, &n);

	for (i = 0; names != NULL && i < n; i++) {
		struct jc_chan *c = chan_get(jc, names[i]);

		c->known = mta_channel_find(jc->channels, c->name) != NULL;
		if (!c->known && !c->warned)
			ms_log_warning("queue directory %s has no channel definition: its messages "
			               "wait",
			               names[i]);
		c->warned = !c->known;
		scan_channel(jc, c);
	}
	mta_strv_free(names, n);
	schedule(jc);
}

static void arm_wake(struct jc *jc)
{
	time_t now = time(NULL), first = 0;
	size_t i;

	for (i = 0; i < jc->nch; i++) {
		const struct jc_chan *c = &jc->ch[i];
		time_t t = c->due > 0 && c->not_before > now ? c->not_before : c->next_due;

		if (t != 0 && (first == 0 || t < first))
			first = t;
	}
	if (first == 0) {
		ms_timer_stop(jc->wake_timer);
		return;
	}
	ms_timer_start(jc->wake_timer, first > now ? (uint64_t)(first - now) * 1000 + 50 : 50,
	               false);
}

static void on_wake(void *ctx)
{
	scan_all(ctx);
}

static void on_rescan(void *ctx)
{
	scan_all(ctx);
}

/* ---- jobs -------------------------------------------------------------------- */

static void on_job_exit(pid_t pid, int status, void *ctx)
{
	struct jc *jc = ctx;
	struct jc_job **pp, *j;

	for (pp = &jc->jobs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->pid == pid)
			break;
	if (*pp == NULL)
		return;
	j = *pp;
	*pp = j->next;
	jc->finished++;
	if (WIFSIGNALED(status))
		ms_log_warning("job %ld of channel %s killed by signal %d", (long)pid, j->channel,
		               WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		ms_log_warning("job %ld of channel %s exited with status %d", (long)pid, j->channel,
		               WEXITSTATUS(status));
	else
		ms_log_info("job %ld of channel %s done", (long)pid, j->channel);
	{
		struct jc_chan *c = chan_get(jc, j->channel);
		bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;

		if (c->running > 0)
			c->running--;
		/* a job that keeps failing (a bad channel setup, a crash) is
		 * started again after 1, 2, 4 ... 300 seconds, not in a loop */
		c->failures = failed ? c->failures + 1 : 0;
		c->not_before =
		    failed ? time(NULL) + (c->failures > 8 ? 300 : (time_t)1 << (c->failures - 1))
		           : 0;
		if (!jc->stopping)
			scan_channel(jc, c);
	}
	free(j->channel);
	free(j);
	if (jc->stopping) {
		if (jc->jobs == NULL)
			ms_loop_exit(jc->loop);
		return;
	}
	schedule(jc);
}

/* Start one job for c; false when it could not be started. */
static bool start_job(struct jc *jc, struct jc_chan *c)
{
	char *argv[] = {(char *)"mta_deliver", c->name, NULL};
	struct ms_spawn sp;
	struct ms_buf why;
	struct jc_job *j;
	pid_t pid;

	memset(&sp, 0, sizeof(sp));
	sp.path = jc->deliver_path;
	sp.argv = argv;
	sp.stdout_fd = -1;
	sp.stderr_fd = STDERR_FILENO;
	sp.keep_fd = -1;
	ms_buf_init(&why);
	if (ms_child_spawn(&sp, &pid, &why) < 0) {
		ms_log_error("cannot start a job for channel %s: %s", c->name, why.data);
		c->due = 0; /* the next scan tries again */
		ms_buf_deinit(&why);
		return false;
	}
	ms_buf_deinit(&why);
	j = ms_xcalloc(1, sizeof(*j));
	j->pid = pid;
	j->channel = ms_xstrdup(c->name);
	j->next = jc->jobs;
	jc->jobs = j;
	c->running++;
	jc->started++;
	ms_child_watch(jc->loop, pid, on_job_exit, jc);
	ms_log_info("job %ld started for channel %s (%zu due)", (long)pid, c->name, c->due);
	return true;
}

/* ---- notifications ------------------------------------------------------------- */

static void open_socket(struct jc *jc);

static void on_soon(void *ctx)
{
	struct jc *jc = ctx;

	schedule(jc);
}

static void on_notify(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct jc *jc = ctx;
	struct ms_buf line;
	bool any = false;

	if (ev != MS_CONN_DATA) {
		/* an empty datagram reads as end of input: make a new socket */
		ms_log_warning("notification socket: %s; reopening it",
		               ev == MS_CONN_EOF ? "empty datagram" : ms_conn_error(conn));
		ms_conn_free(&jc->sock);
		open_socket(jc);
		return;
	}
	ms_buf_init(&line);
	for (;;) {
		int rc = ms_conn_read_line(conn, &line, 256);

		if (rc == MS_AGAIN)
			break;
		if (rc != MS_OK || line.len == 0 || line.data[0] == '.' || strchr(line.data, '/'))
			continue;
		if (mta_channel_find(jc->channels, line.data) == NULL) {
			ms_log_warning("notification for unknown channel \"%s\" ignored",
			               line.data);
			continue;
		}
		{
			struct jc_chan *c = chan_get(jc, line.data);

			c->known = true;
			scan_channel(jc, c);
			any = true;
		}
	}
	ms_buf_deinit(&line);
	if (any && !ms_timer_pending(jc->soon_timer))
		ms_timer_start(jc->soon_timer, 0, false);
}

static void open_socket(struct jc *jc)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(jc->sock_path) >= sizeof(sa.sun_path))
		ms_fatal(MS_EXIT_CONFIG, PROG ": socket path too long: %s", jc->sock_path);
	memcpy(sa.sun_path, jc->sock_path, strlen(jc->sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	(void)unlink(jc->sock_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(jc->sock_path, 0660) < 0)
		ms_fatal(MS_EXIT_OSERR, PROG ": cannot bind %s: %s", jc->sock_path,
		         strerror(errno));
	jc->sock = ms_conn_new(jc->loop, fd, on_notify, jc);
	ms_conn_set_max_input(jc->sock, 64 * 1024);
}

/* ---- configuration ------------------------------------------------------------ */

static enum ms_log_level log_level(const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v =
	    conf != NULL ? ms_conf_str(conf, MS_OPT_JOB_CONTROLLER_LOGFILE_LOGLEVEL) : NULL;

	if (v != NULL && strcmp(v, "Nolog") == 0)
		return MS_LOG_CRITICAL;
	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	return lvl;
}

static int check_conf(const struct ms_conf *new_conf, struct ms_buf *why, void *ctx)
{
	struct mta_channel_table *t = NULL;

	(void)ctx;
	if (mta_channel_table_load(new_conf, &t, why) < 0)
		return -1;
	mta_channel_table_free(&t);
	return 0;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct jc *jc = ctx;
	struct ms_buf why;

	ms_buf_init(&why);
	mta_channel_table_free(&jc->channels);
	if (mta_channel_table_load(new_conf, &jc->channels, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s",
		         why.data); /* check_conf passed: cannot happen */
	ms_log_set_level(log_level(new_conf));
	if (jc->rescan_timer != NULL)
		ms_timer_start(jc->rescan_timer,
		               (uint64_t)ms_conf_int(new_conf, MS_OPT_JOB_CONTROLLER_RESCAN) * 1000,
		               true);
	(void)old_conf;
	ms_buf_deinit(&why);
}

static void kill_jobs(struct jc *jc, int signo)
{
	struct jc_job *j;

	for (j = jc->jobs; j != NULL; j = j->next)
		kill(j->pid, signo);
}

static void on_stop_timer(void *ctx)
{
	struct jc *jc = ctx;

	ms_log_warning("jobs still running after %d ms: killing them", STOP_GRACE_MS);
	kill_jobs(jc, SIGKILL);
}

static void on_signal(int signo, void *ctx)
{
	struct jc *jc = ctx;
	struct ms_reload_hooks hooks = {check_conf, apply_conf, jc};
	struct ms_buf why;

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		if (ms_reload(&jc->conf, &hooks, &why) == 0)
			scan_all(jc);
		ms_buf_deinit(&why);
		return;
	}
	if (jc->stopping)
		return;
	jc->stopping = true;
	ms_log_notice(MS_PRODUCT_NAME " job controller shutting down (%lu jobs run)", jc->started);
	if (jc->jobs == NULL) {
		ms_loop_exit(jc->loop);
		return;
	}
	kill_jobs(jc, SIGTERM);
	ms_timer_start(jc->stop_timer, STOP_GRACE_MS, false);
}

/* mta_deliver, next to this program. */
static char *deliver_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return ms_xstrdup("mta_deliver");
	self[n] = '\0';
	return ms_xasprintf("%s/mta_deliver", dirname(self));
}

static void setup(struct jc *jc)
{
	struct ms_reload_hooks hooks = {check_conf, apply_conf, jc};
	struct ms_buf why;
	char *path, *user = NULL;

	ms_buf_init(&why);
	path = ms_instance_path("data/log/job_controller.log");
	ms_log_open(PROG, path, MS_LOG_NOTICE);
	free(path);
	if (ms_reload(&jc->conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	/* It needs nothing of root: become the restricted.cnf user before the
	 * queue and the socket exist, so that the servers (which drop to the
	 * same user) share them; the jobs inherit it. */
	if (ms_priv_drop(NULL, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);
	path = ms_instance_path("data/queue");
	if (mta_queue_open(path, &jc->queue, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, PROG ": queue %s: %s", path, why.data);
	free(path);
	jc->deliver_path = deliver_path();
	if (access(jc->deliver_path, X_OK) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": cannot run %s: %s", jc->deliver_path,
		         strerror(errno));
	jc->loop = ms_loop_new(&why);
	if (jc->loop == NULL)
		ms_fatal(MS_EXIT_OSERR, PROG ": %s", why.data);
	path = ms_instance_path("data/run");
	if (ms_file_mkdirs(path, 0755, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, PROG ": %s", why.data);
	free(path);
	jc->sock_path = ms_instance_path("data/run/job_controller.sock");
	open_socket(jc);
	jc->rescan_timer = ms_timer_new(jc->loop, on_rescan, jc);
	ms_timer_start(jc->rescan_timer,
	               (uint64_t)ms_conf_int(jc->conf, MS_OPT_JOB_CONTROLLER_RESCAN) * 1000, true);
	jc->wake_timer = ms_timer_new(jc->loop, on_wake, jc);
	jc->soon_timer = ms_timer_new(jc->loop, on_soon, jc);
	jc->stop_timer = ms_timer_new(jc->loop, on_stop_timer, jc);
	jc->hup = ms_signal_new(jc->loop, SIGHUP, on_signal, jc);
	jc->term = ms_signal_new(jc->loop, SIGTERM, on_signal, jc);
	jc->intr = ms_signal_new(jc->loop, SIGINT, on_signal, jc);
	ms_buf_deinit(&why);
}

static void teardown(struct jc *jc)
{
	size_t i;

	while (jc->jobs != NULL) {
		struct jc_job *j = jc->jobs;

		jc->jobs = j->next;
		free(j->channel);
		free(j);
	}
	ms_conn_free(&jc->sock);
	ms_timer_free(&jc->rescan_timer);
	ms_timer_free(&jc->wake_timer);
	ms_timer_free(&jc->soon_timer);
	ms_timer_free(&jc->stop_timer);
	ms_signal_free(&jc->hup);
	ms_signal_free(&jc->term);
	ms_signal_free(&jc->intr);
	ms_loop_free(&jc->loop);
	(void)unlink(jc->sock_path);
	free(jc->sock_path);
	free(jc->deliver_path);
	for (i = 0; i < jc->nch; i++)
		free(jc->ch[i].name);
	free(jc->ch);
	mta_queue_close(&jc->queue);
	mta_channel_table_free(&jc->channels);
	ms_conf_free(&jc->conf);
}

int main(int argc, char **argv)
{
	struct jc jc;

	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		fprintf(help ? stdout : stderr, "usage: " PROG "\n(the MTA job controller; started "
		                                "by the watcher as service job_controller)\n");
		return help ? 0 : MS_EXIT_USAGE;
	}
	memset(&jc, 0, sizeof(jc));
	signal(SIGPIPE, SIG_IGN);
	setup(&jc);
	ms_log_notice(MS_PRODUCT_NAME " job controller " MS_VERSION " ready on %s (pid %ld)",
	              jc.sock_path, (long)getpid());
	(void)ms_ctl_ready();
	scan_all(&jc);
	if (ms_loop_run(jc.loop) < 0)
		ms_log_error(PROG ": the event loop failed");
	teardown(&jc);
	ms_log_close();
	return 0;
}
