/*
 * dispatcher: the MTA's listener and process keeper (docs/mta.md,
 * "The dispatcher"; seed 002:2425-2475).
 *
 * For each enabled dispatcher.service:NAME it binds tcp_ports (and
 * ssl_ports, implicit TLS) on interface_address, drops root (STYLE 15),
 * and keeps max(1, min_procs) processes of the service's image running,
 * never more than max_procs.  The processes inherit the listening sockets
 * and accept on them themselves (several processes sharing one socket,
 * DESIGN "Workers"); the contract they follow:
 *
 *   fd 3 .. 3+N-1               the service's listening sockets
 *   MS_DISPATCHER_SERVICE=NAME  the service
 *   MS_DISPATCHER_FDS=N         how many sockets
 *   MS_DISPATCHER_SSL="0 1"     per socket: 1 = implicit TLS from the first byte
 *   MS_DISPATCHER_PARAMETER     the service's parameter ("CHANNEL=tcp_local")
 *   MS_DISPATCHER_MAX_CONNS     connections per process (pause accept beyond)
 *   MS_DISPATCHER_LOGFILE       the service's logfilename (path)
 *   MS_DISPATCHER_STATUS_FD=K   K = 3+N, a stream socket on which the process
 *                               may write "conns C\n" whenever its count of
 *                               open connections changes (optional)
 *
 * With those reports the dispatcher follows the seed's process rule: one
 * more process when every process holds at least min_conns connections
 * (up to max_procs), and a process beyond min_procs that has been idle
 * for 60 s while another has room is told to stop.  A process that never reports is simply kept running.
 *
 * A process that exits while the dispatcher is not stopping is started
 * again, after a delay that doubles (1 s to 32 s) while processes keep
 * dying within 10 s of their start.  SIGHUP re-reads the configuration
 * (ms_reload) and forwards SIGHUP to every process; new ports need a
 * restart (logged).  SIGTERM/SIGINT forward SIGTERM and exit once every
 * process has gone (SIGKILL after 15 s).  A process gets SIGTERM when the
 * dispatcher dies (PR_SET_PDEATHSIG), so no orphan keeps the ports from
 * the next dispatcher, which waits up to DISP_BIND_WAIT_MS for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/optdef.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/priv.h>
#include <ms/reload.h>
#include <ms/version.h>

#define DISP_MAX_FDS 32
#define DISP_MAX_PROCS 256
#define DISP_STOP_GRACE_MS 15000
#define DISP_QUICK_DEATH_S 10
#define DISP_BIND_WAIT_MS 5000 /* a port still held by the processes of a dead dispatcher */
#define DISP_IDLE_RETIRE_S 60 /* MS_DISPATCHER_IDLE_S for tests */

extern char **environ;

struct disp;

struct disp_service;

struct disp_proc {
	struct disp_service *svc;
	pid_t pid;
	time_t started;
	struct ms_conn *status; /* the process's reports ("conns N"), or NULL */
	unsigned conns;         /* connections it last reported */
	time_t idle_since;      /* when conns fell to 0; 0 while busy */
	bool retiring;          /* told to stop: surplus, not to be replaced */
};

struct disp_service {
	struct disp *d;
	char *name;
	char *program;   /* resolved path of the image */
	char *parameter; /* may be NULL */
	char *logfile;   /* may be NULL */
	int fds[DISP_MAX_FDS];
	bool ssl[DISP_MAX_FDS];
	size_t nfds;
	unsigned want, max_procs, min_conns, max_conns;
	struct disp_proc *procs[DISP_MAX_PROCS];
	size_t nprocs;
	unsigned backoff_s; /* current restart delay */
	struct ms_timer *restart;
};

struct disp {
	struct ms_loop *loop;
	struct ms_conf *conf;
	struct disp_service **svcs;
	size_t nsvcs;
	bool stopping;
	struct ms_signal *hup, *term, *intr;
	struct ms_timer *kill_timer;
	struct ms_timer *balance_timer;
	unsigned idle_retire_s; /* a surplus process idle this long is stopped */
};

static char *log_path(const struct ms_conf *conf)
{
	const char *dir = conf != NULL ? ms_conf_str(conf, MS_OPT_DISPATCHER_LOGFILE_LOGDIR) : NULL;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/dispatcher.log", dir);
	return ms_instance_path("data/log/dispatcher.log");
}

static void open_log(const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = conf != NULL ? ms_conf_str(conf, MS_OPT_DISPATCHER_LOGFILE_LOGLEVEL) : NULL;
	char *path = log_path(conf);

	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	ms_log_open("dispatcher", path, lvl);
	free(path);
}

/* "dispatcher.service" from the option template "dispatcher.service:*.x". */
static void group_of(enum ms_opt opt, struct ms_buf *out)
{
	const char *t = ms_optdefs[opt].name;
	const char *star = strstr(t, ":*");

	ms_buf_reset(out);
	ms_buf_append(out, t, star ? (size_t)(star - t) : strlen(t));
}

/*
 * The program of an image: an absolute path that exists, else its last
 * component ("IMTA_BIN:tcp_smtp_server" and ".../bin/tcp_smtp_server" both
 * name tcp_smtp_server) found by ms_find_program (MS_PROGPATH,
 * PREFIX/lib/messaging-server, PREFIX/bin, beside this program).  0, or -1.
 */
static int resolve_image(const char *image, struct ms_buf *out)
{
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(image, ':');
	const char *base;

	if (image[0] == '/' && access(image, X_OK) == 0) {
		ms_buf_setf(out, "%s", image);
		return 0;
	}
	base = slash != NULL ? slash + 1 : colon != NULL ? colon + 1 : image;
	return ms_find_program(base, out);
}

/* Listen on addr:port into s->fds[s->nfds].  A port in use is tried again
 * for DISP_BIND_WAIT_MS: after a crash of the dispatcher its processes
 * close the listening sockets they inherited once their SIGTERM (the
 * parent-death signal) is handled, which may come after our start. */
static int listen_port(struct disp_service *s, const char *addr, unsigned port,
		       struct ms_buf *why)
{
	const struct timespec step = {0, 50 * 1000 * 1000};

	for (int waited = 0;; waited += 50) {
		ms_buf_reset(why);
		if (ms_listen_tcp(addr, port, 511, false, &s->fds[s->nfds], why) == 0)
			return 0;
		if (errno != EADDRINUSE || waited >= DISP_BIND_WAIT_MS)
			return -1;
		if (waited == 0)
			ms_log_warning("service %s: port %u is in use; waiting up to %d s for it",
				       s->name, port, DISP_BIND_WAIT_MS / 1000);
		nanosleep(&step, NULL);
	}
}

/* Bind every port of list ("25 2525", commas allowed) on addr. */
static int bind_ports(struct disp_service *s, const char *list, const char *addr, bool ssl,
		      struct ms_buf *why)
{
	for (const char *p = list; p != NULL && *p != '\0';) {
		char *e;
		unsigned long port;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		port = strtoul(p, &e, 10);
		if (e == p || port > 65535) {
			ms_buf_setf(why, "service %s: bad port list '%s'", s->name, list);
			return -1;
		}
		p = e;
		if (port == 0)
			continue;
		if (s->nfds == DISP_MAX_FDS) {
			ms_buf_setf(why, "service %s: more than %d ports", s->name, DISP_MAX_FDS);
			return -1;
		}
		if (listen_port(s, addr, (unsigned)port, why) < 0) {
			char *r = ms_xstrdup(why->data);
			ms_buf_setf(why, "service %s: cannot listen on %s port %lu: %s", s->name,
				    addr != NULL ? addr : "*", port, r);
			free(r);
			return -1;
		}
		s->ssl[s->nfds++] = ssl;
		ms_log_info("service %s: listening on %s port %lu%s", s->name,
			    addr != NULL ? addr : "*", port, ssl ? " (SSL)" : "");
	}
	return 0;
}

static unsigned named_uint(const struct ms_conf *conf, enum ms_opt opt, const char *name,
			   unsigned dflt)
{
	const char *v = ms_conf_named_str(conf, opt, name);
	char *e;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtoul(v, &e, 10);
	return *e == '\0' ? (unsigned)n : dflt;
}

static void service_free(struct disp_service **sp)
{
	struct disp_service *s = *sp;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	for (size_t i = 0; i < s->nprocs; i++) {
		ms_conn_free(&s->procs[i]->status);
		free(s->procs[i]);
	}
	ms_timer_free(&s->restart);
	free(s->name);
	free(s->program);
	free(s->parameter);
	free(s->logfile);
	free(s);
	*sp = NULL;
}

static struct disp_service *service_new(struct disp *d, const char *name, struct ms_buf *why)
{
	const struct ms_conf *conf = d->conf;
	struct disp_service *s = ms_xcalloc(1, sizeof(*s));
	const char *image = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_IMAGE, name);
	const char *addr = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_INTERFACE_ADDRESS, name);
	const char *v;
	struct ms_buf path;
	unsigned min_procs, max_procs;

	s->d = d;
	s->name = ms_xstrdup(name);
	ms_buf_init(&path);
	if (image == NULL || *image == '\0' || resolve_image(image, &path) < 0) {
		ms_buf_setf(why, "service %s: image '%s' not found", name, image ? image : "");
		ms_buf_deinit(&path);
		service_free(&s);
		return NULL;
	}
	s->program = ms_buf_steal(&path);
	if ((v = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_PARAMETER, name)) != NULL)
		s->parameter = ms_xstrdup(v);
	if ((v = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_LOGFILENAME, name)) != NULL)
		s->logfile = ms_xstrdup(v);
	if (addr == NULL) /* the host's address, base.listenaddr, unless the service names one */
		addr = ms_conf_str(conf, MS_OPT_BASE_LISTENADDR);
	if (addr != NULL && (*addr == '\0' || strcmp(addr, "*") == 0 ||
			     strcasecmp(addr, "ALL") == 0))
		addr = NULL;
	min_procs = named_uint(conf, MS_OPT_DISPATCHER_SERVICE_MIN_PROCS, name, 1);
	max_procs = named_uint(conf, MS_OPT_DISPATCHER_SERVICE_MAX_PROCS, name, 5);
	s->max_conns = named_uint(conf, MS_OPT_DISPATCHER_SERVICE_MAX_CONNS, name, 20);
	s->min_conns = named_uint(conf, MS_OPT_DISPATCHER_SERVICE_MIN_CONNS, name, 5);
	if (max_procs == 0 || max_procs > DISP_MAX_PROCS)
		max_procs = max_procs == 0 ? 1 : DISP_MAX_PROCS;
	s->max_procs = max_procs;
	s->want = min_procs < 1 ? 1 : min_procs > max_procs ? max_procs : min_procs;
	if (s->max_conns == 0)
		s->max_conns = 20;
	if (bind_ports(s, ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, name), addr,
		       false, why) < 0 ||
	    bind_ports(s, ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_SSL_PORTS, name), addr,
		       true, why) < 0) {
		service_free(&s);
		return NULL;
	}
	return s;
}

/* The environment of a service process: ours without the variables of
 * the contract and the watcher's readiness pipe, then the contract. */
static char **child_env(const struct disp_service *s)
{
	size_t n = 0, k = 0;
	char **env;
	struct ms_buf ssl;

	while (environ[n] != NULL)
		n++;
	env = ms_xcalloc(n + 9, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MS_DISPATCHER_", 14) != 0 &&
		    strncmp(environ[i], "MS_READY_FD=", 12) != 0)
			env[k++] = ms_xstrdup(environ[i]);
	ms_buf_init(&ssl);
	for (size_t i = 0; i < s->nfds; i++)
		ms_buf_printf(&ssl, "%s%d", i ? " " : "", s->ssl[i] ? 1 : 0);
	env[k++] = ms_xasprintf("MS_DISPATCHER_SERVICE=%s", s->name);
	env[k++] = ms_xasprintf("MS_DISPATCHER_FDS=%zu", s->nfds);
	env[k++] = ms_xasprintf("MS_DISPATCHER_SSL=%s", ssl.data != NULL ? ssl.data : "");
	env[k++] = ms_xasprintf("MS_DISPATCHER_MAX_CONNS=%u", s->max_conns);
	env[k++] = ms_xasprintf("MS_DISPATCHER_PARAMETER=%s", s->parameter ? s->parameter : "");
	env[k++] = ms_xasprintf("MS_DISPATCHER_LOGFILE=%s", s->logfile ? s->logfile : "");
	env[k++] = ms_xasprintf("MS_DISPATCHER_STATUS_FD=%zu", 3 + s->nfds);
	ms_buf_deinit(&ssl);
	return env;
}

static void env_free(char **env)
{
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* In the forked child: the sockets to 3.., the status socket after them,
 * clean signals, exec. */
static noreturn void child_exec(const struct disp_service *s, char **env, int errpipe,
				int status_fd, pid_t parent)
{
	int high[DISP_MAX_FDS + 1];
	sigset_t none;
	int null = open("/dev/null", O_RDWR);
	char *argv[] = {strrchr(s->program, '/') + 1, NULL};

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* The dispatcher's death is the process's SIGTERM (stop accepting, close
	 * the listening sockets, finish the sessions): kept across execve. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		goto fail;
	if (getppid() != parent) { /* died before the prctl */
		errno = ESRCH;
		goto fail;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	/* Move the error pipe and every socket above the targets first, so no
	 * dup2 overwrites one of them. */
	int ep = fcntl(errpipe, F_DUPFD_CLOEXEC, 3 + DISP_MAX_FDS + 8);
	if (ep >= 0)
		errpipe = ep;
	for (size_t i = 0; i <= s->nfds; i++)
		high[i] = fcntl(i < s->nfds ? s->fds[i] : status_fd, F_DUPFD_CLOEXEC,
				3 + DISP_MAX_FDS + 8);
	for (size_t i = 0; i <= s->nfds; i++)
		if (high[i] < 0 || dup2(high[i], 3 + (int)i) < 0)
			goto fail;
	for (int fd = 3 + (int)s->nfds + 1; fd < 1024; fd++)
		if (fd != errpipe)
			close(fd);
	execve(s->program, argv, env);
fail:;
	int err = errno;
	ssize_t w = write(errpipe, &err, sizeof(err));
	(void)w;
	_exit(127);
}

static void proc_exited(pid_t pid, int status, void *ctx);
static void proc_status(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

/* Start one process of s; 0, or -1 (logged). */
static int proc_start(struct disp_service *s)
{
	int pfd[2], sp[2], err = 0;
	char **env;
	pid_t pid;
	ssize_t r;
	struct disp_proc *p;

	if (s->nprocs >= DISP_MAX_PROCS)
		return -1;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ms_log_error("service %s: pipe: %s", s->name, strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		ms_log_error("service %s: socketpair: %s", s->name, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	env = child_env(s);
	pid_t self = getpid();
	pid = fork();
	if (pid == 0)
		child_exec(s, env, pfd[1], sp[1], self);
	env_free(env);
	close(pfd[1]);
	close(sp[1]);
	if (pid < 0) {
		ms_log_error("service %s: fork: %s", s->name, strerror(errno));
		close(pfd[0]);
		close(sp[0]);
		return -1;
	}
	do
		r = read(pfd[0], &err, sizeof(err));
	while (r < 0 && errno == EINTR);
	close(pfd[0]);
	ms_child_watch(s->d->loop, pid, proc_exited, s);
	if (r == (ssize_t)sizeof(err)) {
		/* The exec failed; the child exits 127 and is reaped by the loop. */
		ms_log_error("service %s: cannot run %s: %s", s->name, s->program, strerror(err));
		close(sp[0]);
		return -1;
	}
	p = ms_xcalloc(1, sizeof(*p));
	p->svc = s;
	p->pid = pid;
	p->started = p->idle_since = time(NULL);
	p->status = ms_conn_new(s->d->loop, sp[0], proc_status, p);
	s->procs[s->nprocs++] = p;
	ms_log_info("service %s: started %s process %ld", s->name, s->program, (long)pid);
	return 0;
}

static void fill_service(struct disp_service *s)
{
	while (s->nprocs < s->want)
		if (proc_start(s) < 0) {
			s->backoff_s = s->backoff_s == 0 ? 1 : s->backoff_s * 2;
			if (s->backoff_s > 32)
				s->backoff_s = 32;
			ms_timer_start(s->restart, (uint64_t)s->backoff_s * 1000, false);
			return;
		}
}

/*
 * The seed's rule (002:2437-2447): a new process when every process holds
 * at least min_conns connections, up to max_procs; a process beyond
 * min_procs that reports no connection while another one has room is
 * told to stop (SIGTERM: it exits at once, having no session).
 */
static void balance(struct disp_service *s)
{
	bool all_busy = s->nprocs > 0, spare = false;
	size_t idle = 0;
	time_t now = time(NULL);

	if (s->d->stopping)
		return;
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct disp_proc *p = s->procs[i];
		if (p->retiring)
			continue;
		if (p->conns < (s->min_conns > 0 ? s->min_conns : 1))
			all_busy = false;
		if (p->conns < s->max_conns)
			spare = true;
		if (p->conns == 0 && now - p->idle_since >= (time_t)s->d->idle_retire_s)
			idle++;
	}
	if (all_busy && s->nprocs < s->max_procs) {
		ms_log_info("service %s: every process is busy; starting one more", s->name);
		(void)proc_start(s);
		return;
	}
	for (size_t i = 0; i < s->nprocs && idle > 1 && spare; i++) {
		struct disp_proc *p = s->procs[i];
		size_t live = 0;
		for (size_t j = 0; j < s->nprocs; j++)
			live += !s->procs[j]->retiring;
		if (live <= s->want || p->retiring || p->conns > 0 ||
		    now - p->idle_since < (time_t)s->d->idle_retire_s)
			continue;
		p->retiring = true;
		idle--;
		kill(p->pid, SIGTERM);
	}
}

/* A line from a process's status socket: "conns N". */
static void proc_status(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct disp_proc *p = ctx;
	struct ms_buf line;

	if (ev != MS_CONN_DATA) {
		if (ev == MS_CONN_EOF || ev == MS_CONN_ERROR)
			ms_conn_pause_read(conn); /* the exit is handled by proc_exited */
		return;
	}
	ms_buf_init(&line);
	while (ms_conn_read_line(conn, &line, 256) == MS_OK) {
		unsigned long n;
		if (sscanf(line.data, "conns %lu", &n) != 1)
			continue;
		if (n == 0 && p->conns > 0)
			p->idle_since = time(NULL);
		p->conns = (unsigned)n;
	}
	ms_buf_deinit(&line);
	balance(p->svc);
}

static void balance_tick(void *ctx)
{
	struct disp *d = ctx;

	for (size_t i = 0; i < d->nsvcs; i++)
		balance(d->svcs[i]);
}

static void restart_tick(void *ctx)
{
	struct disp_service *s = ctx;

	if (!s->d->stopping)
		fill_service(s);
}

static size_t live_procs(const struct disp *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nsvcs; i++)
		n += d->svcs[i]->nprocs;
	return n;
}

static void describe_status(int status, struct ms_buf *out)
{
	if (WIFEXITED(status))
		ms_buf_setf(out, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		ms_buf_setf(out, "signal %d", WTERMSIG(status));
	else
		ms_buf_setf(out, "status %d", status);
}

static void proc_exited(pid_t pid, int status, void *ctx)
{
	struct disp_service *s = ctx;
	struct disp *d = s->d;
	time_t started = 0;
	bool found = false;
	struct ms_buf st;

	bool retiring = false;

	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->pid == pid) {
			started = s->procs[i]->started;
			retiring = s->procs[i]->retiring;
			ms_conn_free(&s->procs[i]->status);
			free(s->procs[i]);
			s->procs[i] = s->procs[--s->nprocs];
			found = true;
			break;
		}
	if (!found)
		return; /* an exec that failed: already reported */
	if (retiring && !d->stopping) {
		ms_log_info("service %s: surplus process %ld stopped", s->name, (long)pid);
		fill_service(s);
		return;
	}
	if (d->stopping) {
		if (live_procs(d) == 0)
			ms_loop_exit(d->loop);
		return;
	}
	ms_buf_init(&st);
	describe_status(status, &st);
	ms_log_error("service %s: process %ld exited (%s); starting another", s->name, (long)pid,
		     st.data);
	ms_buf_deinit(&st);
	if (time(NULL) - started < DISP_QUICK_DEATH_S) {
		s->backoff_s = s->backoff_s == 0 ? 1 : s->backoff_s * 2;
		if (s->backoff_s > 32)
			s->backoff_s = 32;
		ms_log_warning("service %s: processes die at start-up; next try in %u s", s->name,
			       s->backoff_s);
		if (!ms_timer_pending(s->restart))
			ms_timer_start(s->restart, (uint64_t)s->backoff_s * 1000, false);
		return;
	}
	s->backoff_s = 0;
	fill_service(s);
}

static void signal_all(struct disp *d, int signo)
{
	for (size_t i = 0; i < d->nsvcs; i++)
		for (size_t j = 0; j < d->svcs[i]->nprocs; j++)
			kill(d->svcs[i]->procs[j]->pid, signo);
}

static void kill_tick(void *ctx)
{
	struct disp *d = ctx;

	ms_log_warning("%zu service processes still running after %d s: killing them",
		       live_procs(d), DISP_STOP_GRACE_MS / 1000);
	signal_all(d, SIGKILL);
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	(void)ctx;
	if (old_conf == NULL)
		return;
	open_log(new_conf);
	ms_log_notice("configuration refreshed; changed ports, images or process limits "
		      "apply after 'imsimta restart dispatcher'");
}

static void on_signal(int signo, void *ctx)
{
	struct disp *d = ctx;
	struct ms_reload_hooks hooks = {NULL, apply_conf, d};
	struct ms_buf why;

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&d->conf, &hooks, &why);
		ms_buf_deinit(&why);
		signal_all(d, SIGHUP);
		return;
	}
	if (d->stopping)
		return;
	ms_log_notice(MS_PRODUCT_NAME " dispatcher " MS_VERSION " shutting down");
	d->stopping = true;
	for (size_t i = 0; i < d->nsvcs; i++)
		ms_timer_stop(d->svcs[i]->restart);
	signal_all(d, SIGTERM);
	if (live_procs(d) == 0)
		ms_loop_exit(d->loop);
	else
		ms_timer_start(d->kill_timer, DISP_STOP_GRACE_MS, false);
}

static void services_open(struct disp *d)
{
	struct ms_buf group, why;
	const char *const *names;
	size_t n;

	ms_buf_init(&group);
	ms_buf_init(&why);
	group_of(MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, &group);
	n = ms_conf_group_names(d->conf, group.data, &names);
	d->svcs = ms_xcalloc(n + 1, sizeof(*d->svcs));
	for (size_t i = 0; i < n; i++) {
		const char *en = ms_conf_named_str(d->conf, MS_OPT_DISPATCHER_SERVICE_ENABLE, names[i]);
		struct disp_service *s;
		if (en != NULL && strcmp(en, "0") == 0) {
			ms_log_info("service %s: disabled", names[i]);
			continue;
		}
		s = service_new(d, names[i], &why);
		if (s == NULL)
			ms_fatal(MS_EXIT_CONFIG, "dispatcher: %s", why.data);
		d->svcs[d->nsvcs++] = s;
	}
	ms_buf_deinit(&group);
	ms_buf_deinit(&why);
}

static void ready_line(const struct disp *d)
{
	struct ms_buf b;

	ms_buf_init(&b);
	for (size_t i = 0; i < d->nsvcs; i++)
		ms_buf_printf(&b, "%s%s (%u processes)", i ? ", " : "", d->svcs[i]->name,
			      d->svcs[i]->want);
	ms_log_notice(MS_PRODUCT_NAME " dispatcher " MS_VERSION " ready: %s",
		      d->nsvcs ? b.data : "no services enabled");
	ms_buf_deinit(&b);
}

int main(int argc, char **argv)
{
	struct disp d = {0};
	struct ms_reload_hooks hooks = {NULL, apply_conf, &d};
	struct ms_buf why;
	char *user = NULL;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: dispatcher (run by the watcher: start-msg dispatcher)\n");
		return MS_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	ms_buf_init(&why);
	open_log(NULL);
	if (ms_reload(&d.conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "dispatcher: %s", why.data);
	open_log(d.conf);
	services_open(&d);
	if (ms_priv_drop(NULL, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "dispatcher: %s", why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);
	d.loop = ms_loop_new(&why);
	if (d.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "dispatcher: %s", why.data);
	d.hup = ms_signal_new(d.loop, SIGHUP, on_signal, &d);
	d.term = ms_signal_new(d.loop, SIGTERM, on_signal, &d);
	d.intr = ms_signal_new(d.loop, SIGINT, on_signal, &d);
	d.kill_timer = ms_timer_new(d.loop, kill_tick, &d);
	d.balance_timer = ms_timer_new(d.loop, balance_tick, &d);
	d.idle_retire_s = DISP_IDLE_RETIRE_S;
	if (getenv("MS_DISPATCHER_IDLE_S") != NULL) /* tests */
		d.idle_retire_s = (unsigned)strtoul(getenv("MS_DISPATCHER_IDLE_S"), NULL, 10);
	ms_timer_start(d.balance_timer, 1000, true);
	/* Readiness first: it closes the watcher's pipe (fd 3 here), which the
	 * service processes must not inherit. */
	ready_line(&d);
	(void)ms_ctl_ready();
	for (size_t i = 0; i < d.nsvcs; i++) {
		d.svcs[i]->restart = ms_timer_new(d.loop, restart_tick, d.svcs[i]);
		fill_service(d.svcs[i]);
	}
	if (ms_loop_run(d.loop) < 0)
		ms_log_error("dispatcher: the event loop failed");
	ms_log_notice(MS_PRODUCT_NAME " dispatcher " MS_VERSION " stopped");
	for (size_t i = 0; i < d.nsvcs; i++)
		service_free(&d.svcs[i]);
	free(d.svcs);
	ms_timer_free(&d.kill_timer);
	ms_timer_free(&d.balance_timer);
	ms_signal_free(&d.hup);
	ms_signal_free(&d.term);
	ms_signal_free(&d.intr);
	ms_loop_free(&d.loop);
	ms_conf_free(&d.conf);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
