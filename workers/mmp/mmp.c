/*
 * mmp: the process of the Messaging Multiplexor (mmp.h, docs/mmp.md).
 *
 * Start-up: load the compiled configuration, open data/log/mmp
 * (mmp.logfile.*), make the directory handle (base.ugldaphost, with its
 * failover list), bind every port of imapproxy.tcp_listen:NAME and
 * popproxy.tcp_listen:NAME (tcp_ports plain, ssl_ports implicit TLS),
 * become the user of restricted.cnf when started by root (STYLE 15), log
 * the readiness line and tell the watcher.
 *
 * Signals: SIGHUP reloads the configuration (ms_reload): new sessions use
 * the new options (banner, limits, idle timeout, back-end settings,
 * certificates); open sessions go on untouched, as `refresh mmp` promises.
 * Ports and the directory servers need a restart.  SIGTERM and SIGINT
 * stop accepting, say goodbye to the sessions not yet logged in, close
 * the relayed ones after flushing, and exit when none is left (at most
 * 5 s later).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#include "mmp.h"

static const struct mmp_proto_def *const defs[MMP_NPROTO] = {&mmp_imap_def, &mmp_pop_def,
                                                             &mmp_submit_def};

static void open_log(const struct ms_conf *conf)
{
	const char *dir = conf != NULL ? ms_conf_str(conf, MS_OPT_MMP_LOGFILE_LOGDIR) : NULL;
	const char *lv = conf != NULL ? ms_conf_str(conf, MS_OPT_MMP_LOGFILE_LOGLEVEL) : NULL;
	enum ms_log_level level = MS_LOG_NOTICE;
	char *path;

	if (dir != NULL && *dir != '\0')
		path = ms_xasprintf("%s/mmp", dir);
	else
		path = ms_instance_path("data/log/mmp");
	if (lv != NULL && strcmp(lv, "Nolog") == 0)
		level = MS_LOG_CRITICAL;
	else if (lv != NULL)
		(void)ms_log_level_parse(lv, &level);
	ms_log_open("mmp", path, level);
	free(path);
}

/* Is some base.certmap group set up (client certificates are asked for)? */
static bool certmap_configured(const struct ms_conf *conf)
{
	const char *const *names;
	size_t n = ms_conf_group_names(conf, "base.certmap", &names);

	for (size_t i = 0; i < n; i++)
		if (ms_conf_named_str(conf, MS_OPT_BASE_CERTMAP_FILTERCOMPS, names[i]) != NULL)
			return true;
	return false;
}

/* The server context, when a certificate is configured (else NULL).  With
 * a certmap and base.sslcafile it asks clients for certificates. */
static struct ms_tls_ctx *make_server_tls(const struct ms_conf *conf)
{
	const char *cert = ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE);
	const char *ca = ms_conf_str(conf, MS_OPT_BASE_SSLCAFILE);
	struct ms_tls_ctx *ctx;
	struct ms_buf why;

	if (cert == NULL || *cert == '\0')
		return NULL;
	ms_buf_init(&why);
	ctx = ms_tls_server_from_conf(conf, &why);
	if (ctx == NULL) {
		ms_log_warning("TLS to clients is off: %s", why.data);
	} else if (certmap_configured(conf)) {
		if (ca == NULL || *ca == '\0')
			ms_log_warning("certificate logins are off: base.certmap is set but not "
			               "base.sslcafile");
		else if (ms_tls_server_verify_clients(ctx, ca, &why) < 0)
			ms_log_warning("certificate logins are off: %s", why.data);
	}
	ms_buf_deinit(&why);
	return ctx;
}

/* The context for TLS to the stores: their certificates are checked
 * against base.sslcafile when it is set (docs/mmp.md). */
static struct ms_tls_ctx *make_back_tls(const struct ms_conf *conf)
{
	const char *ca = ms_conf_str(conf, MS_OPT_BASE_SSLCAFILE);
	bool verify = ca != NULL && *ca != '\0';
	struct ms_tls_ctx *ctx;
	struct ms_buf why;

	ms_buf_init(&why);
	ctx = ms_tls_client_new(verify, verify ? ca : NULL, &why);
	if (ctx == NULL)
		ms_log_warning("TLS to the stores is off: %s", why.data);
	ms_buf_deinit(&why);
	return ctx;
}

uint64_t mmp_idle_ms(const struct mmp *mmp, const struct mmp_proto_def *def)
{
	const char *env = getenv("MS_MMP_IDLE_MS");
	long long s;

	if (env != NULL && *env != '\0')
		return strtoull(env, NULL, 10);
	s = ms_conf_str(mmp->conf, def->opt_idletimeout) != NULL
	        ? ms_conf_int(mmp->conf, def->opt_idletimeout)
	        : (long long)def->default_idle_s;
	return s > 0 ? (uint64_t)s * 1000 : (uint64_t)def->default_idle_s * 1000;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct mmp *mmp = ctx;

	if (old_conf == NULL)
		return; /* the first load: main sets everything up */
	open_log(new_conf);
	ms_tls_ctx_free(&mmp->tls);
	mmp->tls = make_server_tls(new_conf);
	ms_tls_ctx_free(&mmp->back_tls);
	mmp->back_tls = make_back_tls(new_conf);
}

void mmp_poll_directory(struct mmp *mmp)
{
	ms_directory_poller_kick(mmp->dir_poller);
}

void mmp_session_gone(struct mmp *mmp)
{
	if (mmp->draining && mmp->nsessions == 0)
		ms_loop_exit(mmp->loop);
}

static void on_accept(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	mmp_session_start(ctx, fd);
}

static void add_listener(struct mmp *mmp, const struct mmp_proto_def *def, unsigned port, bool tls,
                         struct ms_buf *ready)
{
	const char *addr = ms_conf_str(mmp->conf, MS_OPT_BASE_LISTENADDR); /* the host's */
	struct ms_buf why;
	struct mmp_listener *ln;
	int fd;

	if (addr != NULL && (*addr == '\0' || strcmp(addr, "*") == 0))
		addr = NULL;
	ms_buf_init(&why);
	if (ms_listen_tcp(addr, port, 128, false, &fd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "mmp: %s: cannot listen on %s port %u: %s", def->group,
		         addr != NULL ? addr : "*", port, why.data);
	ms_buf_deinit(&why);
	mmp->listeners =
	    ms_xrealloc(mmp->listeners, (mmp->nlisteners + 1) * sizeof(*mmp->listeners));
	ln = &mmp->listeners[mmp->nlisteners++];
	memset(ln, 0, sizeof(*ln));
	ln->mmp = mmp;
	ln->def = def;
	ln->tls = tls;
	ln->port = port;
	ln->fd = fd;
	ms_buf_printf(ready, "%s%s %s port %u", ready->len > 0 ? ", " : "", def->label,
	              tls ? "SSL" : "plain", port);
}

/* Bind the ports of one option value ("143 1143"). */
static void add_ports(struct mmp *mmp, const struct mmp_proto_def *def, const char *ports, bool tls,
                      struct ms_buf *ready)
{
	for (const char *p = ports != NULL ? ports : ""; *p != '\0';) {
		char *end;
		unsigned long port;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		errno = 0;
		port = strtoul(p, &end, 10);
		if (errno != 0 || end == p || port > 65535 || (*end != ' ' && *end != '\0'))
			ms_fatal(MS_EXIT_CONFIG, "mmp: %s: \"%s\" is not a list of ports",
			         def->group, ports);
		if (port == 0) { /* 0: this listener is off */
			p = end;
			continue;
		}
		if (tls && mmp->tls == NULL)
			ms_fatal(MS_EXIT_CONFIG,
			         "mmp: %s: ssl_ports needs a server certificate "
			         "(base.sslcertfile and base.sslkeyfile)",
			         def->group);
		add_listener(mmp, def, (unsigned)port, tls, ready);
		p = end;
	}
}

static void bind_all(struct mmp *mmp, struct ms_buf *ready)
{
	for (size_t i = 0; i < MMP_NPROTO; i++) {
		const struct mmp_proto_def *def = defs[i];
		const char *const *names;
		char *group = ms_xasprintf("%s.tcp_listen", def->group);
		size_t n = ms_conf_group_names(mmp->conf, group, &names);

		free(group);
		for (size_t j = 0; j < n; j++) {
			add_ports(mmp, def,
			          ms_conf_named_str(mmp->conf, def->opt_tcp_ports, names[j]), false,
			          ready);
			add_ports(mmp, def,
			          ms_conf_named_str(mmp->conf, def->opt_ssl_ports, names[j]), true,
			          ready);
		}
	}
	if (mmp->nlisteners == 0)
		ms_fatal(MS_EXIT_CONFIG,
		         "mmp: no proxy ports are configured "
		         "(imapproxy, popproxy or submitproxy.tcp_listen:NAME.tcp_ports)");
}

static void exit_now(void *ctx)
{
	struct mmp *mmp = ctx;

	ms_log_notice("%zu sessions still open at exit", mmp->nsessions);
	ms_loop_exit(mmp->loop);
}

static void on_signal(int signo, void *ctx)
{
	struct mmp *mmp = ctx;
	struct ms_reload_hooks hooks = {NULL, apply_conf, mmp};
	struct ms_buf why;

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&mmp->conf, &hooks, &why);
		ms_buf_deinit(&why);
		/* forget cached entries: a moved user's next login finds the new store */
		ms_directory_cache_clear(mmp->dir);
		return;
	}
	if (mmp->draining)
		return;
	ms_log_notice(MS_PRODUCT_NAME " MMP " MS_VERSION " shutting down");
	mmp->draining = true;
	for (size_t i = 0; i < mmp->nlisteners; i++)
		ms_listener_free(&mmp->listeners[i].l);
	for (struct mmp_session *s = mmp->sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->state == MMP_ST_PRELOGIN)
			s->def->ops->bye(s, "Server shutting down");
		if (s->state != MMP_ST_CLOSING)
			mmp_session_close(s);
	}
	if (mmp->nsessions == 0)
		ms_loop_exit(mmp->loop);
	else
		ms_timer_start(mmp->exit_timer, 5000, false);
}

/*
 * One directory cache serves both proxies: its lifetime is the shortest
 * of imapproxy/popproxy.authcachettl and .ldapcachettl, so a user moved
 * to another store (mailHost) is found there at most that long after.
 */
static unsigned cache_ttl(const struct ms_conf *conf)
{
	static const enum ms_opt opts[] = {
	    MS_OPT_IMAPPROXY_AUTHCACHETTL,
	    MS_OPT_IMAPPROXY_LDAPCACHETTL,
	    MS_OPT_POPPROXY_AUTHCACHETTL,
	    MS_OPT_POPPROXY_LDAPCACHETTL,
	};
	long long ttl = 900;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (ms_conf_str(conf, opts[i]) != NULL && ms_conf_int(conf, opts[i]) < ttl)
			ttl = ms_conf_int(conf, opts[i]);
	return ttl > 0 ? (unsigned)ttl : 0;
}

static void setup(struct mmp *mmp)
{
	struct ms_reload_hooks hooks = {NULL, apply_conf, mmp};
	struct ms_directory_settings ds;
	struct ms_buf why, ready;
	char *user = NULL;

	ms_buf_init(&why);
	ms_buf_init(&ready);
	open_log(NULL);
	if (ms_reload(&mmp->conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "mmp: %s", why.data);
	open_log(mmp->conf);
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, mmp->conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "mmp: directory: %s", why.data);
	ds.auth_cache_ttl = cache_ttl(mmp->conf);
	if (ms_directory_new(&ds, &mmp->dir, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "mmp: directory: %s", why.data);
	ms_directory_settings_deinit(&ds);
	mmp->tls = make_server_tls(mmp->conf);
	mmp->back_tls = make_back_tls(mmp->conf);
	bind_all(mmp, &ready);
	if (ms_priv_drop(NULL, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "mmp: %s", why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);

	mmp->loop = ms_loop_new(&why);
	if (mmp->loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "mmp: %s", why.data);
	mmp->dir_poller = ms_directory_poller_new(mmp->loop, mmp->dir);
	mmp->exit_timer = ms_timer_new(mmp->loop, exit_now, mmp);
	for (size_t i = 0; i < MMP_NPROTO; i++)
		mmp->counts[i] = mmp_counts_new();
	for (size_t i = 0; i < mmp->nlisteners; i++)
		mmp->listeners[i].l = ms_listener_new(mmp->loop, mmp->listeners[i].fd, true,
		                                      on_accept, &mmp->listeners[i]);
	mmp->hup = ms_signal_new(mmp->loop, SIGHUP, on_signal, mmp);
	mmp->term = ms_signal_new(mmp->loop, SIGTERM, on_signal, mmp);
	mmp->intr = ms_signal_new(mmp->loop, SIGINT, on_signal, mmp);
	ms_log_notice(MS_PRODUCT_NAME " MMP " MS_VERSION " ready on %s", ready.data);
	(void)ms_ctl_ready();
	ms_buf_deinit(&ready);
	ms_buf_deinit(&why);
}

static void teardown(struct mmp *mmp)
{
	while (mmp->sessions != NULL)
		mmp_session_free(mmp->sessions);
	for (size_t i = 0; i < mmp->nlisteners; i++)
		ms_listener_free(&mmp->listeners[i].l);
	free(mmp->listeners);
	for (size_t i = 0; i < MMP_NPROTO; i++)
		mmp_counts_free(&mmp->counts[i]);
	ms_signal_free(&mmp->hup);
	ms_signal_free(&mmp->term);
	ms_signal_free(&mmp->intr);
	ms_directory_poller_free(&mmp->dir_poller);
	ms_timer_free(&mmp->exit_timer);
	ms_directory_free(&mmp->dir);
	ms_tls_ctx_free(&mmp->tls);
	ms_tls_ctx_free(&mmp->back_tls);
	ms_loop_free(&mmp->loop);
	ms_conf_free(&mmp->conf);
	ms_log_close();
}

int main(int argc, char **argv)
{
	struct mmp mmp;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: mmp\n(the IMAP and POP proxy; started by the watcher as service "
		       "mmp; see mmp(8))\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "mmp: unexpected argument \"%s\" (see mmp --help)\n", argv[1]);
		return MS_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&mmp, 0, sizeof(mmp));
	setup(&mmp);
	if (ms_loop_run(mmp.loop) < 0)
		ms_log_error("mmp: the event loop failed");
	teardown(&mmp);
	return 0;
}
