/*
 * server: the process of popd and imapd (server.h).
 *
 * Start-up: bind the ports, become the user of restricted.cnf when
 * started by root (STYLE 15); with numprocesses > 1 become the supervisor
 * of that many workers (see "Supervision" below), else serve.  The process
 * the watcher started logs the readiness line and tells the watcher
 * (ms_ctl_ready).
 *
 * Signals: SIGHUP reloads the configuration with ms_reload (the greeting,
 * idle timeout, log level, plaintext policy and certificate apply to new
 * sessions); SIGTERM and SIGINT stop accepting, call the protocol's drain
 * hook and exit once the open sessions have ended (the watcher kills what
 * is left after 20 s).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/directory.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/reload.h>
#include <ms/tls.h>
#include <ms/version.h>
#include <ms/priv.h>

#include "server.h"
#include "store.h"

static char *log_path(const struct server_proto *proto, const struct ms_conf *conf)
{
	const char *dir = conf ? ms_conf_str(conf, proto->opt_logdir) : NULL;
	char *rel, *path;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/%s", dir, proto->service);
	rel = ms_xasprintf("data/log/%s", proto->service);
	path = ms_instance_path(rel);
	free(rel);
	return path;
}

static enum ms_log_level log_level(const struct server_proto *proto, const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = ms_conf_str(conf, proto->opt_loglevel);

	if (v != NULL && strcmp(v, "Nolog") == 0)
		return MS_LOG_CRITICAL;
	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	return lvl;
}

static void open_log(const struct server_proto *proto, const struct ms_conf *conf,
		     enum ms_log_level lvl)
{
	char *path = log_path(proto, conf);

	ms_log_open(proto->prog, path, lvl);
	free(path);
}

static struct ms_tls_ctx *make_tls(const struct server_proto *proto, const struct ms_conf *conf)
{
	char *key = ms_xasprintf("%s.sslusessl", proto->service);
	const char *use = ms_conf_lookup(conf, key);
	const char *cert = ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE);
	struct ms_tls_ctx *ctx;
	struct ms_buf why;

	free(key);
	if (use != NULL && strcmp(use, "0") == 0)
		return NULL;
	if (cert == NULL || *cert == '\0')
		return NULL;
	ms_buf_init(&why);
	ctx = ms_tls_server_from_conf(conf, &why);
	if (ctx == NULL)
		ms_log_warning("TLS is off: %s", why.data);
	ms_buf_deinit(&why);
	return ctx;
}

/* The idle timeout: the idletimeout option in minutes.  The protocol's
 * environment variable (milliseconds) overrides it, for the tests, which
 * cannot wait the protocols' 10 or 30 minutes. */
static uint64_t idle_ms(const struct server_proto *proto, const struct ms_conf *conf)
{
	const char *env = getenv(proto->idle_env);

	if (env != NULL && *env != '\0')
		return strtoull(env, NULL, 10);
	return (uint64_t)ms_conf_int(conf, proto->opt_idletimeout) * 60 * 1000;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct server *srv = ctx;

	if (old_conf == NULL)
		return; /* the first load: server_run sets everything up */
	open_log(srv->proto, new_conf, log_level(srv->proto, new_conf));
	srv->idle_ms = idle_ms(srv->proto, new_conf);
	ms_tls_ctx_free(&srv->tls);
	srv->tls = make_tls(srv->proto, new_conf);
}

void server_poll_directory(struct server *srv)
{
	ms_directory_poller_kick(srv->dir_poller);
}

void server_session_gone(struct server *srv)
{
	long long max = ms_conf_int(srv->conf, srv->proto->opt_maxsessions);

	if (srv->draining) {
		if (srv->nsessions == 0)
			ms_loop_exit(srv->loop);
		return;
	}
	if ((long long)srv->nsessions < max) {
		if (srv->plain != NULL)
			ms_listener_resume(srv->plain);
		if (srv->ssl != NULL)
			ms_listener_resume(srv->ssl);
	}
}

static void accepted(struct server *srv, int fd, bool tls)
{
	long long max = ms_conf_int(srv->conf, srv->proto->opt_maxsessions);

	srv->proto->session_start(srv, fd, tls);
	if ((long long)srv->nsessions >= max) {
		ms_log_warning("%zu sessions: %s.maxsessions reached, not accepting",
			       srv->nsessions, srv->proto->service);
		if (srv->plain != NULL)
			ms_listener_pause(srv->plain);
		if (srv->ssl != NULL)
			ms_listener_pause(srv->ssl);
	}
}

void server_peer_name(int fd, char *client, size_t client_size, char *peer, size_t peer_size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	unsigned port;

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	port = ms_sockaddr_text(&ss, addr, sizeof(addr));
	snprintf(client, client_size, "%s", addr);
	snprintf(peer, peer_size, "[%s:%u]", addr, port);
}

struct ms_conn *server_conn_new(struct server *srv, int fd, ms_conn_fn *fn, void *ctx)
{
	struct ms_conn *conn = ms_conn_new(srv->loop, fd, fn, ctx);

	ms_conn_set_timeouts(conn, srv->idle_ms, srv->idle_ms);
	ms_conn_set_max_input(conn, 64 * 1024);
	return conn;
}

int server_start_tls(struct server *srv, struct ms_conn *conn, const char *peer)
{
	struct ms_buf why;
	int rc = 0;

	ms_buf_init(&why);
	if (srv->tls == NULL || ms_conn_start_tls(conn, srv->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s: TLS: %s", peer, srv->tls == NULL ? "no certificate" : why.data);
		rc = -1;
	}
	ms_buf_deinit(&why);
	return rc;
}

void server_log_close(struct server *srv, const char *peer, const char *userid,
		      long long login_time, long long connect_time, long long start_ms,
		      uint64_t bytes_in, uint64_t bytes_out)
{
	char when[64] = "";
	long long dur = ((long long)ms_loop_now_ms(srv->loop) - start_ms) / 1000;
	time_t t = (time_t)(login_time != 0 ? login_time : connect_time);
	struct tm tm;

	localtime_r(&t, &tm);
	snprintf(when, sizeof(when), " %d/%d/%d %d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	ms_log_notice("close %s %s%s %lld:%02lld:%02lld %llu %llu %d", peer,
		      userid != NULL ? userid : "[unauthenticated]", when, dur / 3600,
		      dur / 60 % 60, dur % 60, (unsigned long long)bytes_in,
		      (unsigned long long)bytes_out, userid != NULL ? 1 : 0);
}

static void on_accept_plain(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	accepted(ctx, fd, false);
}

static void on_accept_ssl(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	accepted(ctx, fd, true);
}

/* How long a worker whose supervisor is gone lets its sessions' last
 * answers ("* BYE") go out before it exits. */
#define SERVER_ORPHAN_MS 300u

/* A worker whose supervisor is gone: stop now (sessions are cut). */
static void on_orphan(void *ctx)
{
	struct server *srv = ctx;

	ms_log_warning("the supervisor is gone: exiting with %zu sessions open", srv->nsessions);
	ms_loop_exit(srv->loop);
}

static void reload_conf(struct server *srv)
{
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	long long procs = ms_conf_int(srv->conf, srv->proto->opt_numprocesses);

	ms_buf_init(&why);
	if (ms_reload(&srv->conf, &hooks, &why) == 0 && srv->proto->reload != NULL)
		srv->proto->reload(srv);
	ms_buf_deinit(&why);
	/* A single process has no supervisor to start the others. */
	if (srv->supervisor == 0 && ms_conf_int(srv->conf, srv->proto->opt_numprocesses) != procs)
		ms_log_warning("%s.numprocesses changed: it applies when %s restarts",
			       srv->proto->service, srv->proto->prog);
}

static void on_signal(int signo, void *ctx)
{
	struct server *srv = ctx;

	if (signo == SIGHUP) {
		reload_conf(srv);
		return;
	}
	ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " shutting down", srv->proto->title);
	srv->draining = true;
	if (srv->proto->drain != NULL)
		srv->proto->drain(srv);
	ms_listener_free(&srv->plain);
	ms_listener_free(&srv->ssl);
	if (srv->nsessions == 0)
		ms_loop_exit(srv->loop);
	else if (srv->supervisor != 0 && getppid() != srv->supervisor)
		ms_timer_start(srv->orphan, SERVER_ORPHAN_MS, false);
}

/*
 * STYLE 15: once the ports are bound, a server started by root becomes the
 * user and group of config/restricted.cnf, before it reads a client byte.
 * The lock directory it made as root, if any, is handed over first.
 */
static void drop_privileges(const char *prog, const char *lockdir)
{
	struct ms_buf why;
	char *user = NULL;

	ms_buf_init(&why);
	if (ms_priv_drop(lockdir, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "%s: %s", prog, why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);
	ms_buf_deinit(&why);
}

/*
 * Every session holds a socket and its user's database (two descriptors:
 * the file and its write-ahead log), so the soft RLIMIT_NOFILE goes up to
 * the hard one; a limit too low for maxsessions is logged, as accept()
 * would fail with EMFILE at that point.
 */
static void raise_nofile(const struct server *srv)
{
	long long want = ms_conf_int(srv->conf, srv->proto->opt_maxsessions) * 3 + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < want)
		ms_log_warning("RLIMIT_NOFILE is %llu: %s.maxsessions %lld needs about %lld "
			       "descriptors per process", (unsigned long long)rl.rlim_cur,
			       srv->proto->service, (want - 64) / 3, want);
}

/* Listen on port at base.listenaddr (unset, empty or "*": every address). */
static int listen_on(const struct ms_conf *conf, unsigned port)
{
	const char *addr = ms_conf_str(conf, MS_OPT_BASE_LISTENADDR);
	struct ms_buf why;
	int fd;

	if (addr != NULL && (*addr == '\0' || strcmp(addr, "*") == 0))
		addr = NULL;
	ms_buf_init(&why);
	if (ms_listen_tcp(addr, port, 128, false, &fd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "cannot listen on %s port %u: %s", addr ? addr : "*", port,
			 why.data);
	ms_buf_deinit(&why);
	return fd;
}

/*
 * Supervision (numprocesses > 1; docs/store.md "Worker processes").
 *
 * The process the watcher started binds the ports, drops privileges and
 * then only supervises: it forks numprocesses workers, which accept on the
 * sockets it keeps open, and serves no session itself, so a worker can be
 * forked at any time from a process with no session, LDAP connection or
 * event loop in use (libevent's state does not survive fork).  It has no
 * loop: it waits for SIGHUP, SIGTERM, SIGINT and SIGCHLD, kept blocked,
 * with sigtimedwait.
 *
 * A worker that dies is replaced at once.  One that dies less than
 * SUP_GRACE_MS after it started failed at start: after such failures one
 * worker at a time is started, SUP_BACKOFF_MIN_MS after the last failure,
 * doubling up to SUP_BACKOFF_MAX_MS, until one lives past the grace.
 * SIGHUP reloads the configuration, goes to every worker and applies
 * numprocesses (workers are started, or the newest retired with SIGTERM).
 * SIGTERM and SIGINT go to every worker as SIGTERM; the supervisor exits
 * 0 once all have exited.  A worker gets SIGTERM when its supervisor dies
 * (PR_SET_PDEATHSIG) and then exits within SERVER_ORPHAN_MS even with
 * sessions open, so the watcher can restart the family on free ports.
 *
 * Fault injection for the tests: while the file named by MS_STORE_FAIL_START
 * exists, a new worker exits with status 1 before it serves.
 */
#define SUP_GRACE_MS 2000u
#define SUP_BACKOFF_MIN_MS 1000u
#define SUP_BACKOFF_MAX_MS 30000u
#define SUP_FAIL_ENV "MS_STORE_FAIL_START"

struct sup_kid {
	pid_t pid;
	uint64_t started_ms;
	bool retiring; /* sent SIGTERM when numprocesses went down */
	bool probe;    /* started after a failure at start */
};

struct supervisor {
	struct server *srv;
	int fds[2];                            /* the listening sockets, or -1 */
	struct sup_kid kids[SERVER_MAX_PROCS]; /* in the order they started */
	size_t nkids;
	size_t want;      /* numprocesses */
	unsigned fails;   /* consecutive failures at start */
	uint64_t fail_ms; /* when the last one was seen */
	uint64_t next_ms; /* no worker starts before this time */
	bool draining;
	sigset_t sigs;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t backoff_ms(unsigned fails)
{
	uint64_t ms = SUP_BACKOFF_MIN_MS;

	for (unsigned i = 1; i < fails && ms < SUP_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < SUP_BACKOFF_MAX_MS ? ms : SUP_BACKOFF_MAX_MS;
}

static size_t sup_active(const struct supervisor *sup)
{
	size_t n = 0;

	for (size_t i = 0; i < sup->nkids; i++)
		n += !sup->kids[i].retiring;
	return n;
}

static size_t sup_want(const struct server *srv)
{
	long long n = ms_conf_int(srv->conf, srv->proto->opt_numprocesses);

	return n < 1 ? 1 : n > SERVER_MAX_PROCS ? SERVER_MAX_PROCS : (size_t)n;
}

/* In a new worker, before it serves: die with the supervisor. */
static void worker_start(struct supervisor *sup, pid_t parent)
{
	const char *fail = getenv(SUP_FAIL_ENV);

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(0);
	if (fail != NULL && *fail != '\0' && access(fail, F_OK) == 0)
		_exit(1);
	sup->srv->supervisor = parent;
}

/* Fork one worker: true in the worker, false in the supervisor. */
static bool sup_fork(struct supervisor *sup)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0) {
		ms_log_error("%s: fork: %s", sup->srv->proto->prog, strerror(errno));
		sup->fail_ms = mono_ms();
		sup->next_ms = sup->fail_ms + backoff_ms(++sup->fails);
		return false;
	}
	if (pid == 0) {
		worker_start(sup, parent);
		return true;
	}
	sup->kids[sup->nkids].pid = pid;
	sup->kids[sup->nkids].started_ms = mono_ms();
	sup->kids[sup->nkids].retiring = false;
	sup->kids[sup->nkids].probe = sup->fails > 0;
	sup->nkids++;
	return false;
}

/* Start the missing workers (one while failures at start go on). */
static bool sup_start_missing(struct supervisor *sup)
{
	size_t active = sup_active(sup);
	size_t n = sup->want > active ? sup->want - active : 0;

	if (sup->fails > 0 && n > 1)
		n = 1;
	for (; n > 0 && sup->nkids < SERVER_MAX_PROCS; n--)
		if (sup_fork(sup))
			return true;
	if (sup->fails > 0)
		sup->next_ms = mono_ms() + backoff_ms(sup->fails);
	return false;
}

static void exit_text(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

/* A worker has exited: schedule its replacement. */
static void sup_gone(struct supervisor *sup, const struct sup_kid *k, int status)
{
	const char *prog = sup->srv->proto->prog;
	uint64_t now = mono_ms(), age = now - k->started_ms;
	char how[64];

	exit_text(status, how, sizeof(how));
	if (sup->draining || k->retiring) {
		ms_log_info("%s process %ld %s", prog, (long)k->pid, how);
		return;
	}
	if (age >= SUP_GRACE_MS) {
		sup->fails = 0;
		sup->next_ms = now;
		ms_log_error("%s process %ld %s; starting another", prog, (long)k->pid, how);
		return;
	}
	sup->fails++;
	sup->fail_ms = now;
	sup->next_ms = now + backoff_ms(sup->fails);
	ms_log_error("%s process %ld %s %llu ms after it started; starting another in %llu s",
		     prog, (long)k->pid, how, (unsigned long long)age,
		     (unsigned long long)backoff_ms(sup->fails) / 1000);
}

static void sup_reap(struct supervisor *sup)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < sup->nkids; i++) {
			if (sup->kids[i].pid != pid)
				continue;
			sup_gone(sup, &sup->kids[i], status);
			memmove(&sup->kids[i], &sup->kids[i + 1],
				(sup->nkids - i - 1) * sizeof(sup->kids[0]));
			sup->nkids--;
			break;
		}
	}
}

static void sup_signal_all(struct supervisor *sup, int signo)
{
	for (size_t i = 0; i < sup->nkids; i++)
		if (!sup->kids[i].retiring)
			kill(sup->kids[i].pid, signo);
}

/* SIGHUP: reload, pass it on, apply numprocesses. */
static void sup_reload(struct supervisor *sup)
{
	struct server *srv = sup->srv;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	size_t want;

	ms_buf_init(&why);
	(void)ms_reload(&srv->conf, &hooks, &why); /* a failure is logged */
	ms_buf_deinit(&why);
	sup_signal_all(sup, SIGHUP);
	want = sup_want(srv);
	if (want == sup->want)
		return;
	ms_log_notice("%s.numprocesses %zu (was %zu): %s", srv->proto->service, want, sup->want,
		      want > sup->want ? "starting processes" : "retiring processes");
	sup->want = want;
	for (size_t i = sup->nkids; i > 0 && sup_active(sup) > want; i--) {
		if (sup->kids[i - 1].retiring)
			continue;
		kill(sup->kids[i - 1].pid, SIGTERM);
		sup->kids[i - 1].retiring = true;
	}
}

static void sup_drain(struct supervisor *sup)
{
	ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " shutting down", sup->srv->proto->title);
	sup->draining = true;
	sup_signal_all(sup, SIGTERM);
	for (size_t i = 0; i < 2; i++)
		if (sup->fds[i] >= 0)
			close(sup->fds[i]);
	sup->fds[0] = sup->fds[1] = -1;
}

/* When the supervisor must act next: a start that is due, or the end of
 * the grace of a worker started after a failure at start.  One that lives
 * past it, started after the last failure, ends the back-off. */
static uint64_t sup_wake_ms(struct supervisor *sup, uint64_t now)
{
	uint64_t wake = now + 1000; /* and reap, whatever happened */

	if (!sup->draining && sup_active(sup) < sup->want && sup->nkids < SERVER_MAX_PROCS &&
	    sup->next_ms < wake)
		wake = sup->next_ms;
	for (size_t i = 0; i < sup->nkids; i++) {
		uint64_t end = sup->kids[i].started_ms + SUP_GRACE_MS;
		if (!sup->kids[i].probe)
			continue;
		if (end <= now) {
			sup->kids[i].probe = false;
			if (sup->kids[i].started_ms < sup->fail_ms)
				continue;
			sup->fails = 0; /* it lived: the others may start now */
			sup->next_ms = now;
			return now;
		}
		if (end < wake)
			wake = end;
	}
	return wake;
}

/* One turn: start what is due or wait for a signal.  True in a worker. */
static bool sup_turn(struct supervisor *sup)
{
	uint64_t now = mono_ms(), wake = sup_wake_ms(sup, now);
	struct timespec ts;
	siginfo_t info;
	int sig;

	if (!sup->draining && sup_active(sup) < sup->want && sup->next_ms <= now &&
	    sup->nkids < SERVER_MAX_PROCS) /* else: wait for retired ones to go */
		return sup_start_missing(sup);
	if (wake <= now)
		return false;
	ts.tv_sec = (time_t)((wake - now) / 1000);
	ts.tv_nsec = (long)((wake - now) % 1000) * 1000000L;
	sig = sigtimedwait(&sup->sigs, &info, &ts);
	if (sig == SIGHUP && !sup->draining)
		sup_reload(sup);
	else if ((sig == SIGTERM || sig == SIGINT) && !sup->draining)
		sup_drain(sup);
	sup_reap(sup);
	return false;
}

static void log_ready(const struct server *srv, unsigned port, unsigned sslport, size_t procs)
{
	char text[48] = "";

	if (procs > 1)
		snprintf(text, sizeof(text), " (%zu processes)", procs);
	if (sslport != 0)
		ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " ready on port %u and SSL port %u%s",
			      srv->proto->title, port, sslport, text);
	else
		ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " ready on port %u%s",
			      srv->proto->title, port, text);
	(void)ms_ctl_ready();
}

/* Supervise until drained: false then; true in a forked worker, which
 * goes on with the signals still blocked (server_run unblocks them). */
static bool supervise(struct server *srv, unsigned port, unsigned sslport, int plain_fd,
		      int ssl_fd)
{
	struct supervisor sup;

	memset(&sup, 0, sizeof(sup));
	sup.srv = srv;
	sup.fds[0] = plain_fd;
	sup.fds[1] = ssl_fd;
	sup.want = sup_want(srv);
	sigemptyset(&sup.sigs);
	sigaddset(&sup.sigs, SIGHUP);
	sigaddset(&sup.sigs, SIGTERM);
	sigaddset(&sup.sigs, SIGINT);
	sigaddset(&sup.sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sup.sigs, NULL);
	/* Ready before the first fork: the sockets listen already, and the
	 * watcher's readiness pipe is closed before a worker could inherit it. */
	log_ready(srv, port, sslport, sup.want);
	if (sup_start_missing(&sup))
		return true;
	while (!sup.draining || sup.nkids > 0)
		if (sup_turn(&sup))
			return true;
	return false;
}

static void unblock_signals(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);
}

static int server_end(struct server *srv, struct ms_conf **store_conf);

int server_run(struct server *srv, const struct server_proto *proto)
{
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	struct ms_directory_settings ds;
	struct ms_conf *store_conf = NULL;
	const char *prog = proto->prog;
	unsigned port, sslport = 0;
	int plain_fd, ssl_fd = -1;

	srv->proto = proto;
	ms_buf_init(&why);
	signal(SIGPIPE, SIG_IGN);
	open_log(proto, NULL, MS_LOG_NOTICE);
	if (ms_reload(&srv->conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "%s: %s", prog, why.data);
	open_log(proto, srv->conf, log_level(proto, srv->conf));
	if (ms_conf_load_default(&store_conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "%s: %s", prog, why.data);
	if (store_open(store_conf, &srv->store, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "%s: store: %s", prog, why.data);
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, srv->conf, &why) < 0 ||
	    ms_directory_new(&ds, &srv->dir, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "%s: directory: %s", prog, why.data);
	ms_directory_settings_deinit(&ds);
	if (proto->lockdir != NULL) {
		srv->lockdir = ms_instance_path(proto->lockdir);
		if (mkdir(srv->lockdir, 0700) < 0 && errno != EEXIST)
			ms_fatal(MS_EXIT_OSERR, "%s: %s: %s", prog, srv->lockdir, strerror(errno));
	}
	srv->idle_ms = idle_ms(proto, srv->conf);
	srv->tls = make_tls(proto, srv->conf);
	raise_nofile(srv);

	port = (unsigned)ms_conf_int(srv->conf, proto->opt_port);
	plain_fd = listen_on(srv->conf, port);
	if (ms_conf_bool(srv->conf, proto->opt_enablesslport)) {
		if (srv->tls == NULL)
			ms_fatal(MS_EXIT_CONFIG, "%s: %s.enablesslport needs a server "
				 "certificate (base.sslcertfile)", prog, proto->service);
		sslport = (unsigned)ms_conf_int(srv->conf, proto->opt_sslport);
		ssl_fd = listen_on(srv->conf, sslport);
	}
	drop_privileges(prog, srv->lockdir);
	if (ms_conf_int(srv->conf, proto->opt_numprocesses) > 1 &&
	    !supervise(srv, port, sslport, plain_fd, ssl_fd)) {
		ms_buf_deinit(&why);
		return server_end(srv, &store_conf);
	}

	srv->loop = ms_loop_new(&why);
	if (srv->loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "%s: %s", prog, why.data);
	srv->dir_poller = ms_directory_poller_new(srv->loop, srv->dir);
	srv->plain = ms_listener_new(srv->loop, plain_fd, true, on_accept_plain, srv);
	if (ssl_fd >= 0)
		srv->ssl = ms_listener_new(srv->loop, ssl_fd, true, on_accept_ssl, srv);
	srv->orphan = ms_timer_new(srv->loop, on_orphan, srv);
	if (proto->setup != NULL)
		proto->setup(srv);
	srv->hup = ms_signal_new(srv->loop, SIGHUP, on_signal, srv);
	srv->term = ms_signal_new(srv->loop, SIGTERM, on_signal, srv);
	srv->intr = ms_signal_new(srv->loop, SIGINT, on_signal, srv);
	unblock_signals(); /* a worker's arrived while it started: now handled */
	if (srv->supervisor == 0)
		log_ready(srv, port, sslport, 1);

	if (ms_loop_run(srv->loop) < 0)
		ms_log_error("%s: the event loop failed", prog);

	proto->free_sessions(srv);
	if (proto->teardown != NULL)
		proto->teardown(srv);
	ms_buf_deinit(&why);
	return server_end(srv, &store_conf);
}

/* Free what server_run made; 0 (its exit status). */
static int server_end(struct server *srv, struct ms_conf **store_conf)
{
	ms_timer_free(&srv->orphan);
	ms_listener_free(&srv->plain);
	ms_listener_free(&srv->ssl);
	ms_signal_free(&srv->hup);
	ms_signal_free(&srv->term);
	ms_signal_free(&srv->intr);
	ms_directory_poller_free(&srv->dir_poller);
	ms_directory_free(&srv->dir);
	ms_tls_ctx_free(&srv->tls);
	ms_loop_free(&srv->loop);
	store_close(&srv->store);
	ms_conf_free(store_conf);
	ms_conf_free(&srv->conf);
	free(srv->lockdir);
	ms_log_close();
	return 0;
}
