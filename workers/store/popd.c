/*
 * popd: the POP3 server (service pop of the watcher, docs/man/popd.8).
 *
 * One process, one event loop (STYLE 9): the listeners on pop.port and,
 * with pop.enablesslport, pop.sslport (implicit TLS); the sessions
 * (pop_session.c); the directory's requests, polled from the loop by a
 * short repeating timer while any is pending, so a login never blocks the
 * other sessions.  The store is opened once with its own snapshot of the
 * configuration (store_open wants the snapshot to outlive it).
 *
 * Signals: SIGHUP reloads the configuration with ms_reload (the greeting,
 * idle timeout, log level, plaintext policy and certificate apply to new
 * sessions); SIGTERM and SIGINT stop accepting and exit once the open
 * sessions have ended (the watcher kills what is left after 20 s).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/reload.h>
#include <ms/tls.h>

#include "pop.h"
#include "store.h"

struct popd {
	struct pop_server srv;
	struct ms_listener *plain, *ssl;
	struct ms_signal *hup, *term, *intr;
};

static char *log_path(const struct ms_conf *conf)
{
	const char *dir = conf ? ms_conf_str(conf, MS_OPT_POP_LOGFILE_LOGDIR) : NULL;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/pop", dir);
	return ms_instance_path("data/log/pop");
}

static enum ms_log_level log_level(const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = ms_conf_str(conf, MS_OPT_POP_LOGFILE_LOGLEVEL);

	if (v != NULL && strcmp(v, "Nolog") == 0)
		return MS_LOG_CRITICAL;
	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	return lvl;
}

static struct ms_tls_ctx *make_tls(const struct ms_conf *conf)
{
	const char *use = ms_conf_lookup(conf, "pop.sslusessl");
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

/* The idle timeout: pop.idletimeout minutes.  MS_POP_IDLE_MS (milliseconds)
 * overrides it, for the tests, which cannot wait the protocol's 10 minutes. */
static uint64_t idle_ms(const struct ms_conf *conf)
{
	const char *env = getenv("MS_POP_IDLE_MS");

	if (env != NULL && *env != '\0')
		return strtoull(env, NULL, 10);
	return (uint64_t)ms_conf_int(conf, MS_OPT_POP_IDLETIMEOUT) * 60 * 1000;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct popd *p = ctx;
	char *path;

	if (old_conf == NULL)
		return; /* the first load: main sets everything up */
	path = log_path(new_conf);
	ms_log_open("popd", path, log_level(new_conf));
	free(path);
	p->srv.idle_ms = idle_ms(new_conf);
	ms_tls_ctx_free(&p->srv.tls);
	p->srv.tls = make_tls(new_conf);
}

static void dir_tick(void *ctx)
{
	struct pop_server *srv = ctx;

	ms_directory_process(srv->dir);
	if (ms_directory_pending(srv->dir) == 0)
		ms_timer_stop(srv->dir_timer);
}

void pop_server_poll_directory(struct pop_server *srv)
{
	/* io.h watches no foreign descriptors, so the loop polls the directory
	 * (ms_directory_process never blocks) every 2 ms while it has work. */
	if (!ms_timer_pending(srv->dir_timer))
		ms_timer_start(srv->dir_timer, 2, true);
}

static struct popd *the_popd; /* the process (STYLE 8: one global, for the callbacks below) */

void pop_server_session_gone(struct pop_server *srv)
{
	long long max = ms_conf_int(srv->conf, MS_OPT_POP_MAXSESSIONS);

	if (srv->draining) {
		if (srv->nsessions == 0)
			ms_loop_exit(srv->loop);
		return;
	}
	if ((long long)srv->nsessions < max) {
		if (the_popd->plain != NULL)
			ms_listener_resume(the_popd->plain);
		if (the_popd->ssl != NULL)
			ms_listener_resume(the_popd->ssl);
	}
}

static void accepted(int fd, bool tls)
{
	struct pop_server *srv = &the_popd->srv;
	long long max = ms_conf_int(srv->conf, MS_OPT_POP_MAXSESSIONS);

	pop_session_start(srv, fd, tls);
	if ((long long)srv->nsessions >= max) {
		ms_log_warning("%zu sessions: pop.maxsessions reached, not accepting",
			       srv->nsessions);
		if (the_popd->plain != NULL)
			ms_listener_pause(the_popd->plain);
		if (the_popd->ssl != NULL)
			ms_listener_pause(the_popd->ssl);
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
	struct popd *p = ctx;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, p};

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&p->srv.conf, &hooks, &why);
		ms_buf_deinit(&why);
		return;
	}
	ms_log_notice("Oracle Communications Messaging Server POP3 8.1 shutting down");
	p->srv.draining = true;
	ms_listener_free(&p->plain);
	ms_listener_free(&p->ssl);
	if (p->srv.nsessions == 0)
		ms_loop_exit(p->srv.loop);
}

static struct ms_listener *listen_on(struct popd *p, unsigned port, ms_accept_fn *fn)
{
	struct ms_buf why;
	int fd;

	ms_buf_init(&why);
	if (ms_listen_tcp(NULL, port, 128, false, &fd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "cannot listen on port %u: %s", port, why.data);
	ms_buf_deinit(&why);
	return ms_listener_new(p->srv.loop, fd, true, fn, p);
}

int main(int argc, char **argv)
{
	struct popd p;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, &p};
	struct ms_directory_settings ds;
	struct ms_conf *store_conf = NULL;
	char *path;
	unsigned port, sslport = 0;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: popd\n(the POP3 server; started by the watcher as service pop)\n");
		return 0;
	}
	memset(&p, 0, sizeof(p));
	the_popd = &p;
	ms_buf_init(&why);
	signal(SIGPIPE, SIG_IGN);
	path = log_path(NULL);
	ms_log_open("popd", path, MS_LOG_NOTICE);
	free(path);
	if (ms_reload(&p.srv.conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "popd: %s", why.data);
	path = log_path(p.srv.conf);
	ms_log_open("popd", path, log_level(p.srv.conf));
	free(path);
	if (ms_conf_load_default(&store_conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "popd: %s", why.data);
	if (store_open(store_conf, &p.srv.store, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "popd: store: %s", why.data);
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, p.srv.conf, &why) < 0 ||
	    ms_directory_new(&ds, &p.srv.dir, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "popd: directory: %s", why.data);
	ms_directory_settings_deinit(&ds);
	p.srv.lockdir = ms_instance_path("data/run/poplock");
	if (mkdir(p.srv.lockdir, 0700) < 0 && errno != EEXIST)
		ms_fatal(MS_EXIT_OSERR, "popd: %s: %s", p.srv.lockdir, strerror(errno));
	p.srv.idle_ms = idle_ms(p.srv.conf);
	p.srv.tls = make_tls(p.srv.conf);

	p.srv.loop = ms_loop_new(&why);
	if (p.srv.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "popd: %s", why.data);
	p.srv.dir_timer = ms_timer_new(p.srv.loop, dir_tick, &p.srv);
	port = (unsigned)ms_conf_int(p.srv.conf, MS_OPT_POP_PORT);
	p.plain = listen_on(&p, port, on_accept_plain);
	if (ms_conf_bool(p.srv.conf, MS_OPT_POP_ENABLESSLPORT)) {
		if (p.srv.tls == NULL)
			ms_fatal(MS_EXIT_CONFIG, "popd: pop.enablesslport needs a server certificate (base.sslcertfile)");
		sslport = (unsigned)ms_conf_int(p.srv.conf, MS_OPT_POP_SSLPORT);
		p.ssl = listen_on(&p, sslport, on_accept_ssl);
	}
	if (ms_conf_int(p.srv.conf, MS_OPT_POP_NUMPROCESSES) > 1)
		ms_log_warning("pop.numprocesses > 1 is not supported yet: running one process");
	p.hup = ms_signal_new(p.srv.loop, SIGHUP, on_signal, &p);
	p.term = ms_signal_new(p.srv.loop, SIGTERM, on_signal, &p);
	p.intr = ms_signal_new(p.srv.loop, SIGINT, on_signal, &p);
	if (sslport != 0)
		ms_log_notice("Oracle Communications Messaging Server POP3 8.1 ready on port %u and SSL port %u",
			      port, sslport);
	else
		ms_log_notice("Oracle Communications Messaging Server POP3 8.1 ready on port %u", port);
	(void)ms_ctl_ready();

	if (ms_loop_run(p.srv.loop) < 0)
		ms_log_error("popd: the event loop failed");

	while (p.srv.sessions != NULL)
		pop_session_free(p.srv.sessions);
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
	free(p.srv.lockdir);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
