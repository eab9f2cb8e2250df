/*
 * smtp_server: the tcp_smtp_server process (smtp_server.h).
 *
 * Started by the dispatcher with its listening sockets (fd 3.., see
 * dispatcher.c), or by hand for a test with MS_SMTP_PORT=N (it then binds
 * 127.0.0.1:N itself).  Logs to the service's logfilename (the
 * dispatcher passes it), one readiness line; SIGHUP takes a new
 * configuration snapshot for new sessions; SIGTERM stops accepting and
 * exits once the open sessions have ended (the dispatcher kills what is
 * left after 15 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/reload.h>
#include <ms/tls.h>
#include <ms/version.h>

#include "mta_channel.h"
#include "mta_mapping.h"
#include "mta_queue.h"
#include "mta_rewrite.h"
#include "smtp_server.h"

struct smtp_snap *smtp_snap_ref(struct smtp_snap *snap)
{
	snap->refs++;
	return snap;
}

void smtp_snap_unref(struct smtp_snap **sp)
{
	struct smtp_snap *snap = *sp;

	if (snap == NULL)
		return;
	*sp = NULL;
	if (--snap->refs > 0)
		return;
	mta_dopts_free(&snap->dopts);
	free(snap->dopts_error);
	mta_rewrite_free(&snap->rw);
	mta_mapping_set_free(&snap->maps);
	mta_channel_table_free(&snap->channels);
	ms_conf_free(&snap->conf);
	free(snap->hostname);
	free(snap);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *e;
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtoull(v, &e, 10);
	return *e == '\0' ? (uint64_t)n : dflt;
}

/* mta.delivery_options, once per snapshot; an error is logged here, once,
 * and local recipients then get 451 4.3.5 (smtp_server_rcpt.c). */
static void dopts_load(struct smtp_snap *snap)
{
	const char *text = ms_conf_str(snap->conf, MS_OPT_MTA_DELIVERY_OPTIONS);
	struct ms_buf why;

	ms_buf_init(&why);
	if (mta_dopts_parse(text != NULL ? text : "", &snap->dopts, &why) < 0) {
		snap->dopts_error = ms_buf_steal(&why);
		ms_log_error("mta.delivery_options: %s; local recipients are refused with 451 "
			     "until it is corrected", snap->dopts_error);
	}
	ms_buf_deinit(&why);
}

/* The idle timeout: dispatcher.service:SERVICE.idletimeout seconds;
 * MS_SMTP_IDLE_MS (milliseconds), when set, overrides it for tests. */
static uint64_t idle_ms(const struct ms_conf *conf, const char *service)
{
	long long secs = ms_conf_named_int(conf, MS_OPT_DISPATCHER_SERVICE_IDLETIMEOUT, service);

	if (secs <= 0)
		secs = 10 * 60;
	return env_u64("MS_SMTP_IDLE_MS", (uint64_t)secs * 1000);
}

/* Load the compiled configuration and build a snapshot for the service;
 * NULL with why. */
static struct smtp_snap *snap_load(const char *service, struct ms_buf *why)
{
	struct smtp_snap *snap = ms_xcalloc(1, sizeof(*snap));
	const char *host;
	char name[256];

	snap->refs = 1;
	if (ms_reload(&snap->conf, NULL, why) < 0 ||
	    mta_channel_table_load(snap->conf, &snap->channels, why) < 0 ||
	    mta_mapping_set_load(snap->conf, &snap->maps, why) < 0 ||
	    mta_rewrite_load(snap->conf, snap->channels, snap->maps, &snap->rw, why) < 0) {
		smtp_snap_unref(&snap);
		return NULL;
	}
	host = ms_conf_str(snap->conf, MS_OPT_BASE_HOSTNAME);
	if (host == NULL || *host == '\0') {
		if (gethostname(name, sizeof(name)) != 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
		host = name;
	}
	snap->hostname = ms_xstrdup(host);
	snap->block_size = (uint64_t)ms_conf_int(snap->conf, MS_OPT_MTA_BLOCK_SIZE);
	if (snap->block_size == 0)
		snap->block_size = 1024;
	snap->idle_ms = idle_ms(snap->conf, service);
	snap->max_rcpts = (size_t)env_u64("MS_SMTP_MAX_RCPTS", 0);
	dopts_load(snap);
	return snap;
}

static struct ms_tls_ctx *make_tls(const struct ms_conf *conf)
{
	const char *cert = ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE);
	struct ms_tls_ctx *ctx;
	struct ms_buf why;

	if (cert == NULL || *cert == '\0')
		return NULL;
	ms_buf_init(&why);
	ctx = ms_tls_server_from_conf(conf, &why);
	if (ctx == NULL)
		ms_log_warning("STARTTLS is off: %s", why.data);
	ms_buf_deinit(&why);
	return ctx;
}

void smtp_server_poll_directory(struct smtp_server *srv)
{
	ms_directory_poller_kick(srv->dir_poller);
}

static void set_paused(struct smtp_server *srv, bool pause)
{
	if (srv->paused == pause)
		return;
	srv->paused = pause;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (pause)
			ms_listener_pause(srv->listeners[i]);
		else
			ms_listener_resume(srv->listeners[i]);
	}
}

/* Tell the dispatcher how many connections this process holds. */
static void report(struct smtp_server *srv)
{
	char line[32];
	int n;

	if (srv->status_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "conns %zu\n", srv->nsessions);
	if (write(srv->status_fd, line, (size_t)n) < 0 && errno != EAGAIN && errno != EINTR) {
		close(srv->status_fd); /* the dispatcher is gone: stop reporting */
		srv->status_fd = -1;
	}
}

void smtp_server_session_gone(struct smtp_server *srv)
{
	report(srv);
	if (srv->draining) {
		if (srv->nsessions == 0)
			ms_loop_exit(srv->loop);
		return;
	}
	if (srv->nsessions < srv->max_conns)
		set_paused(srv, false);
}

static void accepted(struct smtp_server *srv, int fd, bool tls)
{
	smtp_session_start(srv, fd, tls);
	report(srv);
	if (srv->nsessions >= srv->max_conns && !srv->paused) {
		ms_log_info("%zu sessions: max_conns reached, not accepting", srv->nsessions);
		set_paused(srv, true);
	}
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

static void open_log(const struct ms_conf *conf);

static void reload(struct smtp_server *srv)
{
	struct ms_buf why;
	struct smtp_snap *snap;

	ms_buf_init(&why);
	snap = snap_load(srv->service, &why);
	if (snap == NULL) {
		ms_log_error("refresh failed, keeping the configuration in use: %s", why.data);
		ms_buf_deinit(&why);
		return;
	}
	smtp_snap_unref(&srv->snap);
	srv->snap = snap;
	/* A refresh also forgets cached directory entries, so that a changed
	 * entry (a user moved to another store: mailHost) applies at once. */
	ms_directory_cache_clear(srv->dir);
	open_log(snap->conf);
	ms_tls_ctx_free(&srv->tls);
	srv->tls = make_tls(snap->conf);
	ms_buf_deinit(&why);
	ms_log_notice("configuration refreshed, directory cache cleared");
}

static void on_signal(int signo, void *ctx)
{
	struct smtp_server *srv = ctx;

	if (signo == SIGHUP) {
		reload(srv);
		return;
	}
	if (srv->draining)
		return;
	ms_log_notice(MS_PRODUCT_NAME " SMTP server " MS_VERSION " shutting down");
	srv->draining = true;
	for (size_t i = 0; i < srv->nlisteners; i++)
		ms_listener_free(&srv->listeners[i]);
	srv->nlisteners = 0;
	smtp_session_drain(srv);
	if (srv->nsessions == 0)
		ms_loop_exit(srv->loop);
}

/* The value of KEY= in the service parameter ("CHANNEL=tcp_local X=1"). */
static char *param_value(const char *param, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = param; p != NULL && *p != '\0';) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, " ,");
		if (n > klen && strncasecmp(p, key, klen) == 0 && p[klen] == '=')
			return ms_xstrndup(p + klen + 1, n - klen - 1);
		p += n;
	}
	return NULL;
}

/* Word i of MS_DISPATCHER_SSL ("0 1"): is descriptor 3+i implicit TLS? */
static bool ssl_flag(const char *list, unsigned long i)
{
	unsigned long k = 0;

	for (const char *p = list != NULL ? list : ""; *p != '\0';) {
		size_t n;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " ");
		if (k++ == i)
			return n == 1 && *p == '1';
		p += n;
	}
	return false;
}

/* The listeners of the dispatcher's contract, or MS_SMTP_PORT's. */
static void open_listeners(struct smtp_server *srv, struct ms_buf *why)
{
	const char *ssl = getenv("MS_DISPATCHER_SSL");
	unsigned long nfds = (unsigned long)env_u64("MS_DISPATCHER_FDS", 0);
	unsigned port = (unsigned)env_u64("MS_SMTP_PORT", 0);

	if (nfds == 0 && port != 0) {
		int fd;
		if (ms_listen_tcp("127.0.0.1", port, 128, false, &fd, why) < 0)
			ms_fatal(MS_EXIT_OSERR, "tcp_smtp_server: port %u: %s", port, why->data);
		srv->listeners[srv->nlisteners++] =
			ms_listener_new(srv->loop, fd, true, on_accept_plain, srv);
		return;
	}
	if (nfds == 0 || nfds > SMTP_MAX_LISTENERS)
		ms_fatal(MS_EXIT_USAGE, "tcp_smtp_server: run by the dispatcher "
			 "(MS_DISPATCHER_FDS missing or wrong)");
	for (unsigned long i = 0; i < nfds; i++) {
		bool is_ssl = ssl_flag(ssl, i);
		srv->listeners[srv->nlisteners++] = ms_listener_new(
			srv->loop, 3 + (int)i, true, is_ssl ? on_accept_ssl : on_accept_plain, srv);
		if (is_ssl && srv->tls == NULL)
			ms_log_error("an SSL port is configured but there is no certificate "
				     "(base.sslcertfile): its connections will fail");
	}
}

/* The service's log file (the dispatcher's logfilename), at the level of
 * mta.logfile.loglevel once the configuration is read. */
static void open_log(const struct ms_conf *conf)
{
	const char *path = getenv("MS_DISPATCHER_LOGFILE");
	const char *v = conf != NULL ? ms_conf_str(conf, MS_OPT_MTA_LOGFILE_LOGLEVEL) : NULL;
	enum ms_log_level lvl = MS_LOG_NOTICE;
	char *dflt = NULL;

	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	if (path == NULL || *path == '\0')
		path = dflt = ms_instance_path("data/log/tcp_smtp_server.log");
	ms_log_open("tcp_smtp_server", path, lvl);
	free(dflt);
}

static void setup(struct smtp_server *srv, struct ms_buf *why)
{
	const char *param = getenv("MS_DISPATCHER_PARAMETER");
	const char *svc = getenv("MS_DISPATCHER_SERVICE");
	struct ms_directory_settings ds;
	char *root, *plain;

	srv->service = ms_xstrdup(svc != NULL && *svc != '\0' ? svc : "SMTP");
	srv->snap = snap_load(srv->service, why);
	if (srv->snap == NULL)
		ms_fatal(MS_EXIT_CONFIG, "tcp_smtp_server: %s", why->data);
	srv->channel = param_value(param, "CHANNEL");
	if (srv->channel == NULL)
		srv->channel = ms_xstrdup("tcp_local");
	if (mta_channel_find(srv->snap->channels, srv->channel) == NULL)
		ms_fatal(MS_EXIT_CONFIG, "tcp_smtp_server: service %s: channel %s is not defined",
			 srv->service, srv->channel);
	plain = param_value(param, "ALLOWPLAINAUTH");
	srv->plain_auth = plain != NULL && strcmp(plain, "1") == 0;
	free(plain);
	srv->status_fd = (int)env_u64("MS_DISPATCHER_STATUS_FD", 0);
	if (srv->status_fd < 3 || fcntl(srv->status_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(srv->status_fd, F_SETFD, FD_CLOEXEC) < 0)
		srv->status_fd = -1;
	srv->max_conns = (size_t)env_u64("MS_DISPATCHER_MAX_CONNS", 20);
	if (srv->max_conns == 0)
		srv->max_conns = 20;
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, srv->snap->conf, why) < 0 ||
	    ms_directory_new(&ds, &srv->dir, why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "tcp_smtp_server: directory: %s", why->data);
	ms_directory_settings_deinit(&ds);
	root = ms_instance_path("data/queue");
	if (mta_queue_open(root, &srv->queue, why) < 0)
		ms_fatal(MS_EXIT_OSERR, "tcp_smtp_server: queue %s: %s", root, why->data);
	free(root);
	srv->run_dir = ms_instance_path("data/run");
	srv->tls = make_tls(srv->snap->conf);
}

int main(int argc, char **argv)
{
	struct smtp_server srv = {0};
	struct ms_buf why;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tcp_smtp_server (run by the dispatcher)\n");
		return MS_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	ms_buf_init(&why);
	open_log(NULL);
	setup(&srv, &why);
	open_log(srv.snap->conf);
	srv.loop = ms_loop_new(&why);
	if (srv.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "tcp_smtp_server: %s", why.data);
	srv.dir_poller = ms_directory_poller_new(srv.loop, srv.dir);
	open_listeners(&srv, &why);
	srv.hup = ms_signal_new(srv.loop, SIGHUP, on_signal, &srv);
	srv.term = ms_signal_new(srv.loop, SIGTERM, on_signal, &srv);
	srv.intr = ms_signal_new(srv.loop, SIGINT, on_signal, &srv);
	ms_log_notice(MS_PRODUCT_NAME " SMTP server " MS_VERSION " ready: service %s, channel %s, "
		      "%zu sockets, at most %zu connections", srv.service, srv.channel,
		      srv.nlisteners, srv.max_conns);

	if (ms_loop_run(srv.loop) < 0)
		ms_log_error("tcp_smtp_server: the event loop failed");

	smtp_session_free_all(&srv);
	for (size_t i = 0; i < srv.nlisteners; i++)
		ms_listener_free(&srv.listeners[i]);
	ms_signal_free(&srv.hup);
	ms_signal_free(&srv.term);
	ms_signal_free(&srv.intr);
	ms_directory_poller_free(&srv.dir_poller);
	ms_directory_free(&srv.dir);
	ms_tls_ctx_free(&srv.tls);
	ms_loop_free(&srv.loop);
	mta_queue_close(&srv.queue);
	smtp_snap_unref(&srv.snap);
	if (srv.status_fd >= 0)
		close(srv.status_fd);
	free(srv.run_dir);
	free(srv.service);
	free(srv.channel);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
