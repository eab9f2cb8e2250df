/*
 * mmp_session: one client of the MMP from accept to close (mmp.h): the
 * connection limit, implicit TLS, the pre-login state (the protocol's
 * reader runs), the directory check of the password, the hand-over to
 * mmp_backend.c and mmp_relay.c, and the close record.
 *
 * A session is freed only from its connections' event callbacks (or at
 * exit), never inside the protocol's reader: code that answers a client
 * may close the session (mmp_session_close), which only queues the end.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>

#include "mmp.h"

static void on_client(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

/* "ADDR" and "ADDR:PORT" of a socket address; IPv4-mapped shown as IPv4. */
static void addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipsize, char *peer,
                      size_t peersize)
{
	unsigned port = ms_sockaddr_text(ss, ip, ipsize);

	if (peer != NULL)
		snprintf(peer, peersize, "%s:%u", ip, port);
}

static void fill_addresses(struct mmp_session *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	(void)getpeername(fd, (struct sockaddr *)&ss, &len);
	addr_text(&ss, s->client_ip, sizeof(s->client_ip), s->client_peer, sizeof(s->client_peer));
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	(void)getsockname(fd, (struct sockaddr *)&ss, &len);
	addr_text(&ss, s->server_ip, sizeof(s->server_ip), NULL, 0);
}

void mmp_write(struct mmp_session *s, const void *data, size_t len)
{
	if (s->client == NULL)
		return;
	ms_conn_write(s->client, data, len);
	s->bytes_out += len;
}

void mmp_printf(struct mmp_session *s, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	mmp_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

const char *mmp_session_opt(const struct mmp_session *s, enum ms_opt vdomain_opt,
                            enum ms_opt proxy_opt)
{
	const char *v = ms_conf_named_str(s->mmp->conf, vdomain_opt, s->server_ip);

	if (v != NULL && *v != '\0')
		return v;
	if (proxy_opt == MS_OPT_COUNT)
		return NULL;
	v = ms_conf_str(s->mmp->conf, proxy_opt);
	return v != NULL && *v != '\0' ? v : NULL;
}

bool mmp_session_tls_offered(const struct mmp_session *s)
{
	return !s->client_tls && s->mmp->tls != NULL &&
	       ms_conf_bool(s->mmp->conf, s->def->opt_sslenable);
}

bool mmp_session_plaintext_ok(const struct mmp_session *s)
{
	const char *v =
	    ms_conf_named_str(s->mmp->conf, MS_OPT_VDOMAIN_RESTRICTPLAINPASSWORDS, s->server_ip);

	/* The seed's RestrictPlainPasswords: off unless the virtual domain
	 * of the server address turns it on. */
	return s->client_tls || v == NULL || strcmp(v, "1") != 0;
}

/* Over the connection limit?  Counts the session either way. */
static bool over_limit(struct mmp_session *s)
{
	const char *spec = ms_conf_str(s->mmp->conf, s->def->opt_connlimits);
	struct ms_buf why;
	unsigned n;
	long max;

	ms_buf_init(&why);
	max = mmp_connlimit(spec, s->client_ip, &why);
	if (max == -2)
		ms_log_warning("%s.connlimits ignored: %s", s->def->group, why.data);
	ms_buf_deinit(&why);
	n = mmp_counts_add(s->mmp->counts[s->def->proto], s->client_ip, 1);
	s->counted = true;
	if (max >= 0 && n > (unsigned long)max) {
		ms_log_warning("(id %lu) %s: %s has %u connections, over the limit of %ld "
		               "(%s.connlimits)",
		               s->id, s->def->group, s->client_ip, n, max, s->def->group);
		return true;
	}
	return false;
}

/* tcpaccess of the server address's vdomain, else of the proxy. */
static bool access_ok(struct mmp_session *s)
{
	static const enum ms_opt opt[MMP_NPROTO] = {
	    [MMP_IMAP] = MS_OPT_IMAPPROXY_TCPACCESS,
	    [MMP_POP] = MS_OPT_POPPROXY_TCPACCESS,
	    [MMP_SUBMIT] = MS_OPT_SUBMITPROXY_TCPACCESS,
	};
	const char *spec = mmp_session_opt(s, MS_OPT_VDOMAIN_TCPACCESS, opt[s->def->proto]);

	if (mmp_tcpaccess_allowed(spec, s->def->service, s->client_ip))
		return true;
	ms_log_notice("(id %lu) %s: access denied to %s by tcpaccess", s->id, s->def->group,
	              s->client_peer);
	return false;
}

void mmp_session_start(struct mmp_listener *ln, int fd)
{
	struct mmp *mmp = ln->mmp;
	struct mmp_session *s = ms_xcalloc(1, sizeof(*s));
	uint64_t idle = mmp_idle_ms(mmp, ln->def);

	s->mmp = mmp;
	s->def = ln->def;
	s->id = ++mmp->next_id;
	s->start_ms = (long long)ms_loop_now_ms(mmp->loop);
	ms_buf_init(&s->line);
	ms_buf_init(&s->cmd);
	fill_addresses(s, fd);
	s->client = ms_conn_new(mmp->loop, fd, on_client, s);
	ms_conn_set_timeouts(s->client, idle, idle);
	ms_conn_set_max_input(s->client, 64 * 1024);
	s->next = mmp->sessions;
	if (mmp->sessions != NULL)
		mmp->sessions->prev = s;
	mmp->sessions = s;
	mmp->nsessions++;
	ms_log_debug("(id %lu) %s connect from %s to %s port %u%s", s->id, ln->def->group,
	             s->client_peer, s->server_ip, ln->port, ln->tls ? " (SSL)" : "");
	s->state = MMP_ST_PRELOGIN;
	if (!access_ok(s)) {
		if (!ln->tls) /* no clear text on a TLS port: just close */
			s->def->ops->refuse(s, "Access denied", true);
		mmp_session_close(s);
		return;
	}
	if (over_limit(s)) {
		if (!ln->tls) /* no clear text on a TLS port: just close */
			s->def->ops->refuse(s, "Too many connections from your address", false);
		mmp_session_close(s);
		return;
	}
	if (ln->tls) {
		struct ms_buf why;
		ms_buf_init(&why);
		s->state = MMP_ST_TLS;
		s->client_tls = true;
		if (mmp->tls == NULL ||
		    ms_conn_start_tls(s->client, mmp->tls, MS_TLS_SERVER, NULL, &why) < 0) {
			ms_log_error("(id %lu) %s: TLS: %s", s->id, s->client_peer,
			             mmp->tls == NULL ? "no certificate" : why.data);
			mmp_session_close(s);
		}
		ms_buf_deinit(&why);
		return; /* the greeting follows the handshake */
	}
	s->def->ops->greet(s);
}

static void wipe_password(struct mmp_session *s)
{
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
		s->password = NULL;
	}
}

static void log_close(struct mmp_session *s)
{
	long long dur = ((long long)ms_loop_now_ms(s->mmp->loop) - s->start_ms) / 1000;

	ms_log_notice("(id %lu) close %s client %s user %s duration %lld:%02lld:%02lld "
	              "in %llu out %llu",
	              s->id, s->def->group, s->client_peer,
	              s->canonical != NULL && s->login_time != 0 ? s->canonical
	                                                         : "[unauthenticated]",
	              dur / 3600, dur / 60 % 60, dur % 60, (unsigned long long)s->bytes_in,
	              (unsigned long long)s->bytes_out);
}

void mmp_session_free(struct mmp_session *s)
{
	struct mmp *mmp = s->mmp;

	if (s->req != NULL)
		ms_directory_cancel(s->req);
	log_close(s);
	if (s->counted)
		(void)mmp_counts_add(mmp->counts[s->def->proto], s->client_ip, -1);
	ms_conn_free(&s->client);
	ms_conn_free(&s->back);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		mmp->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	mmp->nsessions--;
	wipe_password(s);
	free(s->login);
	free(s->canonical);
	free(s->mech);
	free(s->tag);
	free(s->user);
	free(s->helo);
	free(s->authzid);
	mmp_certmap_free(&s->certmap);
	free(s->mailhost);
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	ms_buf_deinit(&s->line);
	explicit_bzero(s->cmd.data, s->cmd.len);
	ms_buf_deinit(&s->cmd);
	free(s);
	mmp_session_gone(mmp);
}

void mmp_session_close(struct mmp_session *s)
{
	if (s->req != NULL) {
		ms_directory_cancel(s->req);
		s->req = NULL;
	}
	s->state = MMP_ST_CLOSING;
	if (s->client != NULL)
		ms_conn_close_after_flush(s->client);
	if (s->back != NULL)
		ms_conn_close_after_flush(s->back);
}

bool mmp_session_starttls(struct mmp_session *s)
{
	struct ms_buf why;
	bool ok = true;

	ms_buf_init(&why);
	if (ms_conn_start_tls(s->client, s->mmp->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("(id %lu) %s STARTTLS: %s", s->id, s->client_peer, why.data);
		mmp_session_close(s);
		ok = false;
	} else {
		s->client_tls = true;
		/* RFC 2595 section 3.1: forget what was said in clear. */
		free(s->user);
		s->user = NULL;
		s->auth_wait = false;
		s->auth_external = false;
	}
	ms_buf_deinit(&why);
	return ok;
}

/* The client connection went away or failed: end the session. */
static void client_gone(struct mmp_session *s, enum ms_conn_event ev)
{
	if (ev == MS_CONN_ERROR && s->state != MMP_ST_CLOSING)
		ms_log_info("(id %lu) %s: %s", s->id, s->client_peer, ms_conn_error(s->client));
	ms_conn_free(&s->client);
	if (s->back != NULL && s->state != MMP_ST_CLOSING) {
		mmp_session_close(s);
		return;
	}
	if (s->back == NULL)
		mmp_session_free(s);
}

static void on_client(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct mmp_session *s = ctx;

	(void)conn;
	if (s->state == MMP_ST_RELAY || (s->state == MMP_ST_CLOSING && s->login_time != 0)) {
		mmp_relay_client_event(s, (int)ev);
		return;
	}
	switch (ev) {
	case MS_CONN_TLS_READY:
		if (s->state == MMP_ST_TLS) {
			s->state = MMP_ST_PRELOGIN;
			s->def->ops->greet(s);
		}
		break;
	case MS_CONN_DATA:
		if (s->state == MMP_ST_PRELOGIN)
			s->def->ops->input(s);
		else if (s->state == MMP_ST_CLOSING)
			ms_conn_drain(s->client, ms_conn_input_len(s->client));
		/* AUTH, BACKEND: the input waits for the login to finish */
		break;
	case MS_CONN_TIMEOUT:
		if (s->state == MMP_ST_CLOSING) {
			client_gone(s, ev);
			break;
		}
		ms_log_info("(id %lu) %s idle timeout", s->id, s->client_peer);
		if (s->state == MMP_ST_PRELOGIN)
			s->def->ops->bye(s, "Idle timeout, closing the connection");
		mmp_session_close(s);
		break;
	case MS_CONN_EOF:
	case MS_CONN_ERROR:
		client_gone(s, ev);
		break;
	default:
		break;
	}
}

static void log_badlogin(struct mmp_session *s, enum ms_error err,
                         const struct ms_directory_user *user, const char *why)
{
	switch (err) {
	case MS_E_NOPERM:
		ms_log_notice("(id %lu) badlogin: %s %s %s account disabled (%s)", s->id,
		              s->client_peer, s->mech, s->login,
		              user != NULL ? ms_directory_status_name(user->status) : "denied");
		break;
	case MS_E_TEMPFAIL:
		ms_log_error("(id %lu) badlogin: %s %s %s directory unavailable: %s", s->id,
		             s->client_peer, s->mech, s->login, why != NULL ? why : "");
		break;
	default:
		ms_log_notice("(id %lu) badlogin: %s %s %s authentication failure", s->id,
		              s->client_peer, s->mech, s->login);
		break;
	}
}

/* The seed's pre-authentication record (002:2129-2131). */
static void log_preauth(struct mmp_session *s)
{
	time_t now = time(NULL);
	struct tm tm;
	char when[32];

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
	ms_log_notice("%s (sid 0x%lx) %s pre-authenticated - %s, %s", when, s->id, s->canonical,
	              s->client_ip, s->server_ip);
}

static void on_auth(enum ms_error err, const struct ms_directory_user *user, const char *why,
                    void *ctx)
{
	struct mmp_session *s = ctx;
	bool async = s->req != NULL;

	s->req = NULL;
	if (err != MS_E_NONE)
		log_badlogin(s, err, user, why);
	mmp_session_login_done(s, err, user, async);
}

void mmp_session_login_done(struct mmp_session *s, enum ms_error err,
                            const struct ms_directory_user *user, bool async)
{
	if (err != MS_E_NONE) {
		wipe_password(s);
		s->state = MMP_ST_PRELOGIN;
		s->def->ops->login_failed(s, err);
		if (async)
			s->def->ops->input(s); /* what was pipelined behind the login */
		return;
	}
	free(s->canonical);
	s->canonical = user->uid != NULL && user->domain != NULL && *user->domain != '\0'
	                   ? ms_xasprintf("%s@%s", user->uid, user->domain)
	                   : ms_xstrdup(s->login);
	if ((s->def->opt_preauth != MS_OPT_COUNT &&
	     ms_conf_bool(s->mmp->conf, s->def->opt_preauth)) ||
	    (mmp_session_opt(s, MS_OPT_VDOMAIN_PREAUTH, MS_OPT_COUNT) != NULL &&
	     strcmp(mmp_session_opt(s, MS_OPT_VDOMAIN_PREAUTH, MS_OPT_COUNT), "1") == 0))
		log_preauth(s);
	free(s->mailhost);
	s->mailhost =
	    user->mailhost != NULL && *user->mailhost != '\0' ? ms_xstrdup(user->mailhost) : NULL;
	s->state = MMP_ST_BACKEND;
	if (s->mailhost == NULL && s->def->proto != MMP_SUBMIT) /* submit: smtprelays */
		mmp_session_back_fail(s, "the user has no mailHost in the directory");
	else
		mmp_backend_connect(s);
	if (async && s->state == MMP_ST_PRELOGIN)
		s->def->ops->input(s); /* the login failed at once */
}

void mmp_session_login(struct mmp_session *s, const char *login, const char *password,
                       const char *mech)
{
	const char *dd =
	    mmp_session_opt(s, MS_OPT_VDOMAIN_DEFAULTDOMAIN, s->def->opt_defaultdomain);
	struct ms_directory_request *req;
	char *lookup;

	free(s->login);
	s->login = ms_xstrdup(login);
	free(s->mech);
	s->mech = ms_xstrdup(mech);
	wipe_password(s);
	s->password = ms_xstrdup(password);
	/* A short user ID gets the domain of the server address the client
	 * reached (vdomain:ADDRESS.defaultdomain), else the proxy's. */
	if (strchr(login, '@') == NULL && dd != NULL)
		lookup = ms_xasprintf("%s@%s", login, dd);
	else
		lookup = ms_xstrdup(login);
	s->state = MMP_ST_AUTH;
	s->req = NULL;
	req = ms_directory_authenticate_start(s->mmp->dir, lookup, password, s->def->service,
	                                      s->client_ip, on_auth, s);
	free(lookup);
	if (req != NULL && s->state == MMP_ST_AUTH) {
		s->req = req;
		mmp_poll_directory(s->mmp);
	}
}

void mmp_session_back_fail(struct mmp_session *s, const char *reason)
{
	ms_log_error("(id %lu) %s: store %s%s%s for %s unavailable: %s", s->id, s->client_peer,
	             s->mailhost != NULL ? s->mailhost : "(none)",
	             s->nhosts > 0 && s->host < s->nhosts ? " at " : "",
	             s->nhosts > 0 && s->host < s->nhosts ? s->hosts[s->host] : "",
	             s->canonical != NULL ? s->canonical : s->login, reason);
	ms_conn_free(&s->back);
	wipe_password(s);
	s->state = MMP_ST_PRELOGIN;
	s->def->ops->back_failed(s);
}

void mmp_session_log_connect(struct mmp_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[64], via[80] = "unknown";
	int fd = s->back != NULL ? ms_conn_fd(s->back) : -1;

	memset(&ss, 0, sizeof(ss));
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_text(&ss, ip, sizeof(ip), via, sizeof(via));
	ms_log_notice("(id %lu) Proxy connect for client %s (%s) canonical user '%s' original "
	              "user '%s' auth '%s' via MMP %s to backend %s:%u (%s)",
	              s->id, s->client_peer, s->client_tls ? "TLS" : "cleartext", s->canonical,
	              s->login, s->mech, via, s->hosts[s->host], s->back_port,
	              s->back_tls ? ms_conn_tls_info(s->back) : "cleartext");
}
