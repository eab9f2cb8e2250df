/*
 * server: the process of popd and imapd (server.h).
 *
 * Start-up: bind the ports, become the user of restricted.cnf when
 * started by root (STYLE 15), fork the other numprocesses processes
 * (they accept on the same sockets), and only the first one logs the
 * readiness line and tells the watcher (ms_ctl_ready).
 *
 * Signals: SIGHUP reloads the configuration with ms_reload (the greeting,
 * idle timeout, log level, plaintext policy and certificate apply to new
 * sessions); SIGTERM and SIGINT stop accepting, call the protocol's drain
 * hook and exit once the open sessions have ended (the watcher kills what
 * is left after 20 s).  The first process forwards both to the others and
 * exits after them.  A process of the group that dies is not replaced
 * (logged as an Error).
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
		if (srv->nsessions == 0 && srv->live_kids == 0)
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

static void on_signal(int signo, void *ctx)
{
	struct server *srv = ctx;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};

	for (size_t i = 0; i < srv->nkids; i++)
		if (srv->kids[i] > 0)
			kill(srv->kids[i], signo == SIGINT ? SIGTERM : signo);
	if (signo == SIGHUP) {
		ms_buf_init(&why);
		if (ms_reload(&srv->conf, &hooks, &why) == 0 && srv->proto->reload != NULL)
			srv->proto->reload(srv);
		ms_buf_deinit(&why);
		return;
	}
	ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " shutting down", srv->proto->title);
	srv->draining = true;
	if (srv->proto->drain != NULL)
		srv->proto->drain(srv);
	ms_listener_free(&srv->plain);
	ms_listener_free(&srv->ssl);
	if (srv->nsessions == 0 && srv->live_kids == 0)
		ms_loop_exit(srv->loop);
}

static void on_kid_exit(pid_t pid, int status, void *ctx)
{
	struct server *srv = ctx;

	for (size_t i = 0; i < srv->nkids; i++)
		if (srv->kids[i] == pid)
			srv->kids[i] = 0;
	srv->live_kids--;
	if (!srv->draining)
		ms_log_error("%s process %ld exited (status %d); %zu processes left",
			     srv->proto->prog, (long)pid, status, srv->live_kids + 1);
	else if (srv->nsessions == 0 && srv->live_kids == 0)
		ms_loop_exit(srv->loop);
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

/* Fork the other processes of numprocesses; true in a forked one. */
static bool fork_processes(struct server *srv, long long n)
{
	for (long long i = 1; i < n && srv->nkids < SERVER_MAX_PROCS; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			ms_log_error("%s: fork: %s", srv->proto->prog, strerror(errno));
			break;
		}
		if (pid == 0) {
			/* Die with the first process, even when it is SIGKILLed. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(0);
			srv->nkids = srv->live_kids = 0;
			return true;
		}
		srv->kids[srv->nkids++] = pid;
		srv->live_kids++;
	}
	return false;
}

int server_run(struct server *srv, const struct server_proto *proto)
{
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	struct ms_directory_settings ds;
	struct ms_conf *store_conf = NULL;
	const char *prog = proto->prog;
	unsigned port, sslport = 0;
	int plain_fd, ssl_fd = -1;
	bool forked;

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
	/* Fork before the loop exists: libevent state does not survive fork. */
	forked = fork_processes(srv, ms_conf_int(srv->conf, proto->opt_numprocesses));

	srv->loop = ms_loop_new(&why);
	if (srv->loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "%s: %s", prog, why.data);
	srv->dir_poller = ms_directory_poller_new(srv->loop, srv->dir);
	srv->plain = ms_listener_new(srv->loop, plain_fd, true, on_accept_plain, srv);
	if (ssl_fd >= 0)
		srv->ssl = ms_listener_new(srv->loop, ssl_fd, true, on_accept_ssl, srv);
	for (size_t i = 0; i < srv->nkids; i++)
		ms_child_watch(srv->loop, srv->kids[i], on_kid_exit, srv);
	if (proto->setup != NULL)
		proto->setup(srv);
	srv->hup = ms_signal_new(srv->loop, SIGHUP, on_signal, srv);
	srv->term = ms_signal_new(srv->loop, SIGTERM, on_signal, srv);
	srv->intr = ms_signal_new(srv->loop, SIGINT, on_signal, srv);
	if (!forked) {
		char procs[32] = "";
		if (srv->nkids > 0)
			snprintf(procs, sizeof(procs), " (%zu processes)", srv->nkids + 1);
		if (sslport != 0)
			ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " ready on "
				      "port %u and SSL port %u%s", proto->title, port, sslport, procs);
		else
			ms_log_notice(MS_PRODUCT_NAME " %s " MS_VERSION " ready on port %u%s",
				      proto->title, port, procs);
		(void)ms_ctl_ready();
	}

	if (ms_loop_run(srv->loop) < 0)
		ms_log_error("%s: the event loop failed", prog);

	proto->free_sessions(srv);
	if (proto->teardown != NULL)
		proto->teardown(srv);
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
	ms_conf_free(&store_conf);
	ms_conf_free(&srv->conf);
	free(srv->lockdir);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
