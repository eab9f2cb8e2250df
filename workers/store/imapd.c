/*
 * imapd: the IMAP4rev1 server (service imap of the watcher, docs/man/imapd.8).
 *
 * One process, one event loop (STYLE 9): the listeners on imap.port and,
 * with imap.enablesslport, imap.sslport (implicit TLS); the sessions
 * (imap_session.c); the directory's requests, polled from the loop by a
 * short repeating timer while any is pending, so a login never blocks the
 * other sessions.  The store is opened once with its own snapshot of the
 * configuration (store_open wants the snapshot to outlive it).
 *
 * Start-up: bind the ports, become the user of restricted.cnf when
 * started by root (STYLE 15), fork the other imap.numprocesses processes
 * (they accept on the same sockets), and only the first one logs the
 * readiness line and tells the watcher (ms_ctl_ready).
 *
 * Signals: SIGHUP reloads the configuration with ms_reload (the greeting,
 * idle timeout, log level, plaintext policy and certificate apply to new
 * sessions); SIGTERM and SIGINT stop accepting, send every session
 * "* BYE" and exit once their answers are flushed (the watcher kills what
 * is left after 20 s).  The
 * first process forwards both to the others and exits after them.  A
 * process of the group that dies is not replaced (logged as an Error).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
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

#include "imap.h"
#include "store.h"

#define IMAPD_MAX_PROCS 64

struct imapd {
	struct imap_server srv;
	struct ms_listener *plain, *ssl;
	struct ms_signal *hup, *term, *intr;
	/* imap.numprocesses: the first process forks the others after binding
	 * and forwards SIGHUP and SIGTERM to them; they accept on the same
	 * sockets.  kids[] is the first process's list (pid 0: exited). */
	pid_t kids[IMAPD_MAX_PROCS];
	size_t nkids, live_kids;
};

static char *log_path(const struct ms_conf *conf)
{
	const char *dir = conf ? ms_conf_str(conf, MS_OPT_IMAP_LOGFILE_LOGDIR) : NULL;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/imap", dir);
	return ms_instance_path("data/log/imap");
}

static enum ms_log_level log_level(const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = ms_conf_str(conf, MS_OPT_IMAP_LOGFILE_LOGLEVEL);

	if (v != NULL && strcmp(v, "Nolog") == 0)
		return MS_LOG_CRITICAL;
	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	return lvl;
}

static struct ms_tls_ctx *make_tls(const struct ms_conf *conf)
{
	const char *use = ms_conf_lookup(conf, "imap.sslusessl");
	const char *cert = ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE);
	struct ms_tls_ctx *ctx;
	struct ms_buf why;

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

/* The idle timeout: imap.idletimeout minutes.  MS_IMAP_IDLE_MS (milliseconds)
 * overrides it, for the tests, which cannot wait the protocol's 10 minutes. */
static uint64_t idle_ms(const struct ms_conf *conf)
{
	const char *env = getenv("MS_IMAP_IDLE_MS");

	if (env != NULL && *env != '\0')
		return strtoull(env, NULL, 10);
	return (uint64_t)ms_conf_int(conf, MS_OPT_IMAP_IDLETIMEOUT) * 60 * 1000;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct imapd *p = ctx;
	char *path;

	if (old_conf == NULL)
		return; /* the first load: main sets everything up */
	path = log_path(new_conf);
	ms_log_open("imapd", path, log_level(new_conf));
	free(path);
	p->srv.idle_ms = idle_ms(new_conf);
	ms_tls_ctx_free(&p->srv.tls);
	p->srv.tls = make_tls(new_conf);
}

static void dir_tick(void *ctx)
{
	struct imap_server *srv = ctx;

	ms_directory_process(srv->dir);
	if (ms_directory_pending(srv->dir) == 0)
		ms_timer_stop(srv->dir_timer);
}

void imap_server_poll_directory(struct imap_server *srv)
{
	/* io.h watches no foreign descriptors, so the loop polls the directory
	 * (ms_directory_process never blocks) every 2 ms while it has work. */
	if (!ms_timer_pending(srv->dir_timer))
		ms_timer_start(srv->dir_timer, 2, true);
}

static struct imapd *the_imapd; /* the process (STYLE 8: one global, for the callbacks below) */

void imap_server_session_gone(struct imap_server *srv)
{
	long long max = ms_conf_int(srv->conf, MS_OPT_IMAP_MAXSESSIONS);

	if (srv->draining) {
		if (srv->nsessions == 0 && the_imapd->live_kids == 0)
			ms_loop_exit(srv->loop);
		return;
	}
	if ((long long)srv->nsessions < max) {
		if (the_imapd->plain != NULL)
			ms_listener_resume(the_imapd->plain);
		if (the_imapd->ssl != NULL)
			ms_listener_resume(the_imapd->ssl);
	}
}

static void accepted(int fd, bool tls)
{
	struct imap_server *srv = &the_imapd->srv;
	long long max = ms_conf_int(srv->conf, MS_OPT_IMAP_MAXSESSIONS);

	imap_session_start(srv, fd, tls);
	if ((long long)srv->nsessions >= max) {
		ms_log_warning("%zu sessions: imap.maxsessions reached, not accepting",
		               srv->nsessions);
		if (the_imapd->plain != NULL)
			ms_listener_pause(the_imapd->plain);
		if (the_imapd->ssl != NULL)
			ms_listener_pause(the_imapd->ssl);
	}
}

static void on_accept_plain(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	(void)ctx;
	accepted(fd, false);
}

static void on_accept_ssl(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	(void)ctx;
	accepted(fd, true);
}

static void on_signal(int signo, void *ctx)
{
	struct imapd *p = ctx;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, p};

	for (size_t i = 0; i < p->nkids; i++)
		if (p->kids[i] > 0)
			kill(p->kids[i], signo == SIGINT ? SIGTERM : signo);
	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&p->srv.conf, &hooks, &why);
		ms_buf_deinit(&why);
		return;
	}
	ms_log_notice(MS_PRODUCT_NAME " IMAP4 " MS_VERSION " shutting down");
	p->srv.draining = true;
	/* An IMAP client may stay connected for days: tell each session to go
	 * (RFC 3501 7.1.5) and close it once the answer is flushed. */
	for (struct imap_session *s = p->srv.sessions; s != NULL; s = s->next) {
		if (s->state == IMAP_STATE_LOGOUT)
			continue;
		imap_printf(s, "* BYE Server shutting down\r\n");
		imap_session_logout(s);
	}
	ms_listener_free(&p->plain);
	ms_listener_free(&p->ssl);
	if (p->srv.nsessions == 0 && p->live_kids == 0)
		ms_loop_exit(p->srv.loop);
}

static void on_kid_exit(pid_t pid, int status, void *ctx)
{
	struct imapd *p = ctx;

	for (size_t i = 0; i < p->nkids; i++)
		if (p->kids[i] == pid)
			p->kids[i] = 0;
	p->live_kids--;
	if (!p->srv.draining)
		ms_log_error("imapd process %ld exited (status %d); %zu processes left", (long)pid,
		             status, p->live_kids + 1);
	else if (p->srv.nsessions == 0 && p->live_kids == 0)
		ms_loop_exit(p->srv.loop);
}

/* The value of key in restricted.cnf ("user=mailsrv"), or NULL. */
static char *restricted_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return ms_xstrndup(p + klen + 1, strcspn(p + klen + 1, "\r\n"));
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/*
 * STYLE 15: once the ports are bound, a imapd started by root becomes the
 * user and group of config/restricted.cnf, before it reads a client byte.
 */
static void drop_privileges(void)
{
	struct ms_buf text, why;
	char *path, *user = NULL, *group = NULL;
	struct passwd *pw;
	struct group *gr = NULL;
	gid_t gid;

	if (geteuid() != 0)
		return;
	ms_buf_init(&text);
	ms_buf_init(&why);
	path = ms_instance_path("config/restricted.cnf");
	if (ms_file_read(path, &text, &why) == 0) {
		user = restricted_value(text.data, "user");
		group = restricted_value(text.data, "group");
	}
	free(path);
	if (user == NULL)
		ms_fatal(MS_EXIT_CONFIG,
		         "imapd: started as root without a user in restricted.cnf: %s", why.data);
	pw = getpwnam(user);
	if (pw == NULL)
		ms_fatal(MS_EXIT_CONFIG, "imapd: restricted.cnf: no user %s", user);
	if (group != NULL && (gr = getgrnam(group)) == NULL)
		ms_fatal(MS_EXIT_CONFIG, "imapd: restricted.cnf: no group %s", group);
	gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
	if (pw->pw_uid != 0) {
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
			ms_fatal(MS_EXIT_OSERR, "imapd: cannot become %s: %s", user,
			         strerror(errno));
		ms_log_info("running as %s", user);
	}
	free(user);
	free(group);
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
}

static int listen_on(unsigned port)
{
	struct ms_buf why;
	int fd;

	ms_buf_init(&why);
	if (ms_listen_tcp(NULL, port, 128, false, &fd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "cannot listen on port %u: %s", port, why.data);
	ms_buf_deinit(&why);
	return fd;
}

/* Fork the other processes of imap.numprocesses; true in a forked one. */
static bool fork_processes(struct imapd *p, long long n)
{
	for (long long i = 1; i < n && p->nkids < IMAPD_MAX_PROCS; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			ms_log_error("imapd: fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			/* Die with the first process, even when it is SIGKILLed. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(0);
			p->nkids = p->live_kids = 0;
			return true;
		}
		p->kids[p->nkids++] = pid;
		p->live_kids++;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct imapd p;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, &p};
	struct ms_directory_settings ds;
	struct ms_conf *store_conf = NULL;
	char *path;
	unsigned port, sslport = 0;
	int plain_fd, ssl_fd = -1;
	bool forked;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: imapd\n(the IMAP4rev1 server; started by the watcher as service "
		       "imap)\n");
		return 0;
	}
	memset(&p, 0, sizeof(p));
	the_imapd = &p;
	ms_buf_init(&why);
	signal(SIGPIPE, SIG_IGN);
	path = log_path(NULL);
	ms_log_open("imapd", path, MS_LOG_NOTICE);
	free(path);
	if (ms_reload(&p.srv.conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "imapd: %s", why.data);
	path = log_path(p.srv.conf);
	ms_log_open("imapd", path, log_level(p.srv.conf));
	free(path);
	if (ms_conf_load_default(&store_conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "imapd: %s", why.data);
	if (store_open(store_conf, &p.srv.store, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "imapd: store: %s", why.data);
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, p.srv.conf, &why) < 0 ||
	    ms_directory_new(&ds, &p.srv.dir, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "imapd: directory: %s", why.data);
	ms_directory_settings_deinit(&ds);
	p.srv.idle_ms = idle_ms(p.srv.conf);
	p.srv.tls = make_tls(p.srv.conf);

	port = (unsigned)ms_conf_int(p.srv.conf, MS_OPT_IMAP_PORT);
	plain_fd = listen_on(port);
	if (ms_conf_bool(p.srv.conf, MS_OPT_IMAP_ENABLESSLPORT)) {
		if (p.srv.tls == NULL)
			ms_fatal(MS_EXIT_CONFIG, "imapd: imap.enablesslport needs a server "
			                         "certificate (base.sslcertfile)");
		sslport = (unsigned)ms_conf_int(p.srv.conf, MS_OPT_IMAP_SSLPORT);
		ssl_fd = listen_on(sslport);
	}
	drop_privileges();
	/* Fork before the loop exists: libevent state does not survive fork. */
	forked = fork_processes(&p, ms_conf_int(p.srv.conf, MS_OPT_IMAP_NUMPROCESSES));

	p.srv.loop = ms_loop_new(&why);
	if (p.srv.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "imapd: %s", why.data);
	p.srv.dir_timer = ms_timer_new(p.srv.loop, dir_tick, &p.srv);
	p.plain = ms_listener_new(p.srv.loop, plain_fd, true, on_accept_plain, &p);
	if (ssl_fd >= 0)
		p.ssl = ms_listener_new(p.srv.loop, ssl_fd, true, on_accept_ssl, &p);
	for (size_t i = 0; i < p.nkids; i++)
		ms_child_watch(p.srv.loop, p.kids[i], on_kid_exit, &p);
	p.hup = ms_signal_new(p.srv.loop, SIGHUP, on_signal, &p);
	p.term = ms_signal_new(p.srv.loop, SIGTERM, on_signal, &p);
	p.intr = ms_signal_new(p.srv.loop, SIGINT, on_signal, &p);
	if (!forked) {
		char procs[32] = "";
		if (p.nkids > 0)
			snprintf(procs, sizeof(procs), " (%zu processes)", p.nkids + 1);
		if (sslport != 0)
			ms_log_notice(MS_PRODUCT_NAME " IMAP4 " MS_VERSION " ready on "
			              "port %u and SSL port %u%s",
			              port, sslport, procs);
		else
			ms_log_notice(
			    MS_PRODUCT_NAME " IMAP4 " MS_VERSION " ready on port %u%s",
			    port, procs);
		(void)ms_ctl_ready();
	}

	if (ms_loop_run(p.srv.loop) < 0)
		ms_log_error("imapd: the event loop failed");

	while (p.srv.sessions != NULL)
		imap_session_free(p.srv.sessions);
	ms_listener_free(&p.plain);
	ms_listener_free(&p.ssl);
	ms_signal_free(&p.hup);
	ms_signal_free(&p.term);
	ms_signal_free(&p.intr);
	ms_timer_free(&p.srv.dir_timer);
	ms_directory_free(&p.srv.dir);
	ms_tls_ctx_free(&p.srv.tls);
	ms_loop_free(&p.srv.loop);
	store_close(&p.srv.store);
	ms_conf_free(&store_conf);
	ms_conf_free(&p.srv.conf);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
