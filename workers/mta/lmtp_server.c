/*
 * tcp_lmtp_server: the LMTP server process (lmtp_server.h,
 * docs/man/tcp_lmtp_server.8).
 *
 *   tcp_lmtp_server                      under the dispatcher
 *   tcp_lmtp_server --listen ADDR:PORT   on its own (tests, tools)
 *
 * Under the dispatcher (docs/mta.md "The dispatcher") the listening
 * sockets are descriptors 3 .. 3+N-1 and the environment says what they
 * are: MS_DISPATCHER_SERVICE (the dispatcher.service group), _FDS (N),
 * _SSL (per socket, 1 for implicit TLS), _PARAMETER (CHANNEL=NAME: the
 * channel whose blocklimit, TLS keywords and logging apply; default
 * tcp_lmtpss), _MAX_CONNS (sessions one process takes at once) and
 * _LOGFILE (the log file); when _STATUS_FD names a socket, the process
 * writes "conns N" there each time its number of sessions changes.
 * Several processes accept on the same sockets.  PORT_ACCESS is checked
 * at connect, as the backendLMTP recipe expects.
 * With --listen the process binds the address itself.
 *
 * Start-up: the configuration, the store, the directory and the TLS
 * context; the socket; then, when started by root, the user of
 * restricted.cnf (STYLE 15) before any client byte is read; the readiness
 * line and ms_ctl_ready.  SIGHUP reloads with ms_reload (log level, idle
 * timeout, certificate and channel settings apply to new sessions);
 * SIGTERM and SIGINT stop accepting, answer 421 to idle sessions and exit
 * once the transactions under way are answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/priv.h>
#include <ms/reload.h>
#include <ms/tls.h>
#include <ms/version.h>

#include "lmtp_server.h"
#include "mta_channel.h"
#include "mta_mapping.h"

#define PROG            "tcp_lmtp_server"
#define DEFAULT_CHANNEL "tcp_lmtpss"
#define DEFAULT_IDLE_MS (10 * 60 * 1000)

/* The log file: the service's logfilename, else tcp_lmtp_server.log in
 * mta.logfile.logdir (the seed's directory of store-insertion logs),
 * else in data/log. */
static char *log_path(const struct lmtp_server *srv, const struct ms_conf *conf)
{
	const char *v = getenv("MS_DISPATCHER_LOGFILE"), *dir;

	if ((v == NULL || *v == '\0') && srv->service != NULL && conf != NULL)
		v = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_LOGFILENAME, srv->service);
	if (v != NULL && *v != '\0')
		return v[0] == '/' ? ms_xstrdup(v) : ms_instance_path(v);
	dir = conf != NULL ? ms_conf_str(conf, MS_OPT_MTA_LOGFILE_LOGDIR) : NULL;
	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/" PROG ".log", dir);
	return ms_instance_path("data/log/" PROG ".log");
}

static void open_log(const struct lmtp_server *srv, const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = conf != NULL ? ms_conf_str(conf, MS_OPT_MTA_LOGFILE_LOGLEVEL) : NULL;
	char *path = log_path(srv, conf);

	if (conf == NULL) {
		ms_log_open(PROG, NULL, lvl);
		free(path);
		return;
	}
	if (v != NULL && strcmp(v, "Nolog") == 0)
		lvl = MS_LOG_CRITICAL;
	else if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	ms_log_open(PROG, path, lvl);
	free(path);
}

static struct ms_tls_ctx *make_tls(const struct ms_conf *conf)
{
	const char *cert = ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE);
	struct ms_tls_ctx *ctx;
	struct stat st;
	struct ms_buf why;

	if (cert == NULL || *cert == '\0' || stat(cert, &st) < 0)
		return NULL; /* no certificate: no STARTTLS, and nothing to warn about */
	ms_buf_init(&why);
	ctx = ms_tls_server_from_conf(conf, &why);
	if (ctx == NULL)
		ms_log_warning("STARTTLS is off: %s", why.data);
	ms_buf_deinit(&why);
	return ctx;
}

static uint64_t idle_ms(void)
{
	const char *env = getenv("MS_LMTP_IDLE_MS");

	if (env != NULL && *env != '\0')
		return strtoull(env, NULL, 10);
	return DEFAULT_IDLE_MS;
}

/* CHANNEL=NAME of the service's parameter ("CHANNEL=tcp_lmtpss"). */
static char *channel_of(const struct lmtp_server *srv, const struct ms_conf *conf)
{
	const char *p = getenv("MS_DISPATCHER_PARAMETER"), *c;

	if ((p == NULL || *p == '\0') && srv->service != NULL)
		p = ms_conf_named_str(conf, MS_OPT_DISPATCHER_SERVICE_PARAMETER, srv->service);
	if (p != NULL && (c = strstr(p, "CHANNEL=")) != NULL) {
		c += strlen("CHANNEL=");
		size_t n = strcspn(c, " \t,;");
		if (n > 0)
			return ms_xstrndup(c, n);
	}
	return ms_xstrdup(DEFAULT_CHANNEL);
}

/* The mapping tables of conf (PORT_ACCESS); NULL when they do not load
 * (a broken table is logged, and no connection is then checked). */
static struct mta_mapping_set *maps_of(const struct ms_conf *conf)
{
	struct mta_mapping_set *m = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	if (mta_mapping_set_load(conf, &m, &why) < 0)
		ms_log_error("mappings: %s; PORT_ACCESS is not applied", why.data);
	ms_buf_deinit(&why);
	return m;
}

/* The channel table of conf (for the message log); NULL when it does not
 * load (the log then has no channel to check, and says so). */
static struct mta_channel_table *channels_of(const struct ms_conf *conf)
{
	struct mta_channel_table *t = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	if (mta_channel_table_load(conf, &t, &why) < 0)
		ms_log_error("channels: %s; no message log records", why.data);
	ms_buf_deinit(&why);
	return t;
}

/* A channel keyword, or the defaults channel's when the channel has none. */
static const char *channel_opt(const struct lmtp_server *srv, enum ms_opt opt)
{
	const char *v = ms_conf_named_str(srv->conf, opt, srv->channel);

	if (v == NULL || *v == '\0')
		v = ms_conf_named_str(srv->conf, opt, "defaults");
	return v != NULL && *v != '\0' ? v : NULL;
}

uint64_t lmtp_server_max_size(const struct lmtp_server *srv)
{
	const char *v = channel_opt(srv, MS_OPT_CHANNEL_BLOCKLIMIT);
	long long bs = ms_conf_int(srv->conf, MS_OPT_MTA_BLOCK_SIZE);

	if (v == NULL || strtoull(v, NULL, 10) == 0)
		return 0;
	return strtoull(v, NULL, 10) * (uint64_t)(bs > 0 ? bs : 1024);
}

int lmtp_server_tls_policy(const struct lmtp_server *srv)
{
	if (srv->tls == NULL || channel_opt(srv, MS_OPT_CHANNEL_NOTLSSERVER) != NULL)
		return 0;
	return channel_opt(srv, MS_OPT_CHANNEL_MUSTTLSSERVER) != NULL ? 2 : 1;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct lmtp_server *srv = ctx;

	if (old_conf == NULL)
		return; /* the first load: main sets everything up */
	open_log(srv, new_conf);
	ms_tls_ctx_free(&srv->tls);
	srv->tls = make_tls(new_conf);
	free(srv->channel);
	srv->channel = channel_of(srv, new_conf);
	mta_channel_table_free(&srv->channels);
	srv->channels = channels_of(new_conf);
	mta_mapping_set_free(&srv->maps);
	srv->maps = maps_of(new_conf);
}

void lmtp_server_poll_directory(struct lmtp_server *srv)
{
	ms_directory_poller_kick(srv->dir_poller);
}

static long long max_conns(const struct lmtp_server *srv)
{
	const char *env = getenv("MS_DISPATCHER_MAX_CONNS");
	long long n = 0;

	if (env != NULL && *env != '\0')
		n = strtoll(env, NULL, 10);
	else if (srv->service != NULL)
		n = ms_conf_named_int(srv->conf, MS_OPT_DISPATCHER_SERVICE_MAX_CONNS, srv->service);
	return n > 0 ? n : 0;
}

static void listeners_pause(struct lmtp_server *srv, bool pause)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].l == NULL)
			continue;
		if (pause)
			ms_listener_pause(srv->listeners[i].l);
		else
			ms_listener_resume(srv->listeners[i].l);
	}
}

void lmtp_server_report(struct lmtp_server *srv)
{
	char line[32];
	int n;

	if (srv->status_fd < 0)
		return;
	/* Best effort: a full socket loses one report, the next one corrects it. */
	n = snprintf(line, sizeof(line), "conns %zu\n", srv->nsessions);
	if (send(srv->status_fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK) {
		ms_log_warning("status report to the dispatcher: %s", strerror(errno));
		close(srv->status_fd);
		srv->status_fd = -1;
	}
}

void lmtp_server_session_gone(struct lmtp_server *srv)
{
	long long max = max_conns(srv);

	if (srv->draining) {
		if (srv->nsessions == 0)
			ms_loop_exit(srv->loop);
		return;
	}
	if (max == 0 || (long long)srv->nsessions < max)
		listeners_pause(srv, false);
}

static void on_accept(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	struct lmtp_listener *l = ctx;
	struct lmtp_server *srv = l->srv;
	long long max = max_conns(srv);

	(void)peer;
	(void)len;
	lmtp_session_start(srv, fd, l->ssl);
	if (max > 0 && (long long)srv->nsessions >= max)
		listeners_pause(srv, true);
}

static void on_signal(int signo, void *ctx)
{
	struct lmtp_server *srv = ctx;
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	struct ms_buf why;

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&srv->conf, &hooks, &why);
		ms_buf_deinit(&why);
		return;
	}
	if (srv->draining)
		return;
	ms_log_notice(MS_PRODUCT_NAME " LMTP " MS_VERSION " shutting down");
	srv->draining = true;
	for (size_t i = 0; i < srv->nlisteners; i++)
		ms_listener_free(&srv->listeners[i].l);
	for (struct lmtp_session *s = srv->sessions, *next; s != NULL; s = next) {
		next = s->next;
		lmtp_session_drain(s);
	}
	if (srv->nsessions == 0)
		ms_loop_exit(srv->loop);
}

/* "ADDR:PORT", "[ADDR]:PORT", ":PORT" or "PORT" into addr (NULL: every
 * address) and port.  0 or -1. */
static int parse_listen(const char *arg, char **addr_r, unsigned *port_r)
{
	const char *colon = strrchr(arg, ':');
	const char *port = colon != NULL ? colon + 1 : arg;
	char *end;
	unsigned long p = strtoul(port, &end, 10);

	if (*port == '\0' || *end != '\0' || p == 0 || p > 65535)
		return -1;
	*port_r = (unsigned)p;
	*addr_r = NULL;
	if (colon != NULL && colon > arg) {
		const char *a = arg;
		size_t n = (size_t)(colon - arg);
		if (a[0] == '[' && n >= 2 && a[n - 1] == ']') {
			a++;
			n -= 2;
		}
		*addr_r = ms_xstrndup(a, n);
	}
	return 0;
}

static unsigned sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* Make descriptor fd, inherited from the dispatcher, ready for the loop. */
static void inherited(int fd)
{
	int on = 0, fl;
	socklen_t len = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		ms_fatal(MS_EXIT_USAGE,
		         PROG ": descriptor %d is not a listening socket "
		              "(run it from the dispatcher, or give --listen ADDR:PORT)",
		         fd);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		ms_fatal(MS_EXIT_OSERR, PROG ": descriptor %d: %s", fd, strerror(errno));
}

/* The listening sockets: --listen binds one, the dispatcher passes
 * MS_DISPATCHER_FDS of them from descriptor 3 on. */
static void open_listeners(struct lmtp_server *srv)
{
	const char *nfds = getenv("MS_DISPATCHER_FDS"), *ssl = getenv("MS_DISPATCHER_SSL");
	size_t n = 1;

	if (srv->listen_arg == NULL && nfds != NULL && *nfds != '\0') {
		n = strtoul(nfds, NULL, 10);
		if (n == 0 || n > 64)
			ms_fatal(MS_EXIT_USAGE, PROG ": MS_DISPATCHER_FDS=%s is not 1 to 64", nfds);
	}
	srv->listeners = ms_xcalloc(n, sizeof(*srv->listeners));
	srv->nlisteners = n;
	if (srv->listen_arg != NULL) {
		struct ms_buf why;
		char *addr = NULL;
		unsigned port = 0;
		if (parse_listen(srv->listen_arg, &addr, &port) < 0)
			ms_fatal(MS_EXIT_USAGE, PROG ": --listen wants ADDR:PORT, not \"%s\"",
			         srv->listen_arg);
		ms_buf_init(&why);
		if (ms_listen_tcp(addr, port, 128, false, &srv->listeners[0].fd, &why) < 0)
			ms_fatal(MS_EXIT_OSERR, PROG ": cannot listen on %s: %s", srv->listen_arg,
			         why.data);
		ms_buf_deinit(&why);
		free(addr);
	} else {
		for (size_t i = 0; i < n; i++) {
			srv->listeners[i].fd = 3 + (int)i;
			inherited(srv->listeners[i].fd);
		}
	}
	/* MS_DISPATCHER_SSL: one word per socket, "1" for implicit TLS. */
	for (size_t i = 0; ssl != NULL && srv->listen_arg == NULL && i < n; i++) {
		while (*ssl == ' ')
			ssl++;
		srv->listeners[i].ssl = *ssl == '1';
		ssl += strcspn(ssl, " ");
	}
	for (size_t i = 0; i < n; i++) {
		srv->listeners[i].srv = srv;
		if (srv->listeners[i].ssl && srv->tls == NULL)
			ms_fatal(MS_EXIT_CONFIG, PROG ": an SSL port needs a server certificate "
			                              "(base.sslcertfile)");
	}
	srv->port = sock_port(srv->listeners[0].fd);
}

static void drop_privileges(void)
{
	struct ms_buf why;
	char *user = NULL;

	ms_buf_init(&why);
	if (ms_priv_drop(NULL, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);
	ms_buf_deinit(&why);
}

/* Configuration, store, directory, TLS: everything but the socket. */
static void set_up(struct lmtp_server *srv)
{
	struct ms_reload_hooks hooks = {NULL, apply_conf, srv};
	struct ms_directory_settings ds;
	struct ms_buf why;

	ms_buf_init(&why);
	if (ms_reload(&srv->conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	open_log(srv, srv->conf);
	srv->channel = channel_of(srv, srv->conf);
	/* The store and the directory borrow their snapshot, which must
	 * outlive them: a refresh replaces srv->conf, not this one. */
	if (ms_conf_load_default(&srv->store_conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	if (store_open(srv->store_conf, &srv->store, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": store: %s", why.data);
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, srv->store_conf, &why) < 0 ||
	    ms_directory_new(&ds, &srv->dir, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": directory: %s", why.data);
	ms_directory_settings_deinit(&ds);
	srv->tls = make_tls(srv->conf);
	srv->channels = channels_of(srv->conf);
	srv->maps = maps_of(srv->conf);
	srv->idle_ms = idle_ms();
	if (gethostname(srv->hostname, sizeof(srv->hostname)) != 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	srv->hostname[sizeof(srv->hostname) - 1] = '\0';
	ms_buf_deinit(&why);
}

static void tear_down(struct lmtp_server *srv)
{
	while (srv->sessions != NULL)
		lmtp_session_free(srv->sessions);
	for (size_t i = 0; i < srv->nlisteners; i++)
		ms_listener_free(&srv->listeners[i].l);
	free(srv->listeners);
	ms_signal_free(&srv->hup);
	ms_signal_free(&srv->term);
	ms_signal_free(&srv->intr);
	ms_directory_poller_free(&srv->dir_poller);
	ms_directory_free(&srv->dir);
	ms_tls_ctx_free(&srv->tls);
	ms_loop_free(&srv->loop);
	store_close(&srv->store);
	ms_conf_free(&srv->store_conf);
	ms_conf_free(&srv->conf);
	free(srv->channel);
	mta_channel_table_free(&srv->channels);
	mta_mapping_set_free(&srv->maps);
	if (srv->status_fd >= 0)
		close(srv->status_fd);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--listen ADDR:PORT]\n"
	           "The LMTP server: delivers into the message store (tcp_lmtp_server(8)).\n"
	           "Run by the dispatcher with the listening socket as descriptor 3 and\n"
	           "MS_DISPATCHER_SERVICE=NAME; --listen binds ADDR:PORT itself.\n");
}

int main(int argc, char **argv)
{
	struct lmtp_server srv;
	struct ms_buf why;

	memset(&srv, 0, sizeof(srv));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			srv.listen_arg = argv[++i];
		} else {
			fprintf(stderr, PROG ": unknown argument \"%s\"\n", argv[i]);
			usage(stderr);
			return MS_EXIT_USAGE;
		}
	}
	srv.service = getenv("MS_DISPATCHER_SERVICE");
	srv.status_fd = -1;
	if (getenv("MS_DISPATCHER_STATUS_FD") != NULL && srv.listen_arg == NULL) {
		srv.status_fd = atoi(getenv("MS_DISPATCHER_STATUS_FD"));
		if (srv.status_fd < 3)
			srv.status_fd = -1;
		else
			(void)fcntl(srv.status_fd, F_SETFD, FD_CLOEXEC);
	}
	if (srv.service != NULL && *srv.service == '\0')
		srv.service = NULL;
	signal(SIGPIPE, SIG_IGN);
	ms_log_open(PROG, NULL, MS_LOG_NOTICE);
	set_up(&srv);
	open_listeners(&srv);
	drop_privileges();

	ms_buf_init(&why);
	srv.loop = ms_loop_new(&why);
	if (srv.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, PROG ": %s", why.data);
	ms_buf_deinit(&why);
	srv.dir_poller = ms_directory_poller_new(srv.loop, srv.dir);
	for (size_t i = 0; i < srv.nlisteners; i++)
		srv.listeners[i].l = ms_listener_new(srv.loop, srv.listeners[i].fd, true, on_accept,
		                                     &srv.listeners[i]);
	srv.hup = ms_signal_new(srv.loop, SIGHUP, on_signal, &srv);
	srv.term = ms_signal_new(srv.loop, SIGTERM, on_signal, &srv);
	srv.intr = ms_signal_new(srv.loop, SIGINT, on_signal, &srv);
	ms_log_notice(MS_PRODUCT_NAME " LMTP " MS_VERSION " ready on port %u (channel %s%s%s)",
	              srv.port, srv.channel, srv.service != NULL ? ", service " : "",
	              srv.service != NULL ? srv.service : "");
	(void)ms_ctl_ready();

	if (ms_loop_run(srv.loop) < 0)
		ms_log_error(PROG ": the event loop failed");
	tear_down(&srv);
	ms_log_close();
	return 0;
}
