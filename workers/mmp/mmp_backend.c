/*
 * mmp_backend: from a user's mailHost to a logged-in store connection
 * (mmp.h, docs/mmp.md "Finding the store").
 *
 * Where: the hosts of proxy:MAILHOST.storehostlist, tried in order, else
 * MAILHOST itself.  Port: the proxy's sslbacksideport when it is set and
 * not 0 (then TLS from the first byte, the store's certificate checked
 * against base.sslcafile when that is set), else proxy:MAILHOST.imapport
 * or .popport, else base.proxyimapport or base.proxypopport; a host given
 * as HOST:PORT uses that port.  The submission proxy goes to the MTAs of
 * submitproxy.smtprelays instead (port 25 unless given).  A host that
 * refuses, times out or closes before its greeting is skipped; when none
 * is left the client gets the protocol's temporary failure, never another
 * store's mailbox.  The protocol (mmp_imap.c, mmp_pop.c) reads the
 * greeting and logs in with mmp_backend_credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>

#include "mmp.h"

/* Connect and greeting, per host: a store that does not answer in this
 * time is skipped (vdomain:ADDRESS.failovertimeout seconds overrides it). */
#define BACKEND_TIMEOUT_MS 10000

static void on_back(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

static void split_hosts(struct mmp_session *s, const char *list)
{
	for (const char *p = list; *p != '\0';) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, " ,");
		if (n == 0)
			break;
		s->hosts = ms_xrealloc(s->hosts, (s->nhosts + 1) * sizeof(*s->hosts));
		s->hosts[s->nhosts++] = ms_xstrndup(p, n);
		p += n;
	}
}

/* The default port of the back end, and whether it takes TLS at once. */
static void resolve(struct mmp_session *s)
{
	const struct ms_conf *conf = s->mmp->conf;
	const char *list;
	const char *port;
	long long ssl;

	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	s->hosts = NULL;
	s->nhosts = s->host = 0;
	if (s->def->proto == MMP_SUBMIT) {
		list = ms_conf_str(conf, MS_OPT_SUBMITPROXY_SMTPRELAYS);
		split_hosts(s, list != NULL ? list : "");
		s->back_tls = false; /* STARTTLS when the MTA offers it (mmp_submit.c) */
		s->back_port = 25;
		return;
	}
	list = ms_conf_named_str(conf, MS_OPT_PROXY_STOREHOSTLIST, s->mailhost);
	ssl = ms_conf_int(conf, s->def->opt_sslbacksideport);
	if (list != NULL)
		split_hosts(s, list);
	if (s->nhosts == 0)
		split_hosts(s, s->mailhost);
	s->back_tls = ssl > 0 && ssl < 65536;
	if (s->back_tls) {
		s->back_port = (unsigned)ssl;
		return;
	}
	port = ms_conf_named_str(conf, s->def->opt_backport, s->mailhost);
	s->back_port =
	    (unsigned)(port != NULL
	                   ? strtoul(port, NULL, 10)
	                   : (unsigned long)ms_conf_int(conf, s->def->opt_backport_default));
}

/* "HOST:PORT" (not an IPv6 address): cut the port off hosts[i] into
 * back_port; else back_port stays the default. */
static void host_port(struct mmp_session *s, unsigned default_port)
{
	char *h = s->hosts[s->host];
	char *colon = strrchr(h, ':');

	s->back_port = default_port;
	if (colon != NULL && colon != h && strchr(h, ':') == colon && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		unsigned long p = strtoul(colon + 1, NULL, 10);
		if (p > 0 && p < 65536) {
			s->back_port = (unsigned)p;
			*colon = '\0';
		}
	}
}

/* Connect to hosts[host], or the next one that can be tried; false when
 * none is left (the caller fails the login). */
static bool connect_next(struct mmp_session *s, struct ms_buf *why)
{
	for (; s->host < s->nhosts; s->host++) {
		ms_buf_reset(why);
		host_port(s, s->back_port_default);
		if (s->back_port == 0)
			continue;
		s->back = ms_conn_connect_tcp(s->mmp->loop, s->hosts[s->host], s->back_port,
		                              on_back, s, why);
		if (s->back != NULL) {
			const char *v =
			    mmp_session_opt(s, MS_OPT_VDOMAIN_FAILOVERTIMEOUT, MS_OPT_COUNT);
			long long sec = v != NULL ? strtoll(v, NULL, 10) : 0;
			uint64_t ms = sec > 0 ? (uint64_t)sec * 1000 : BACKEND_TIMEOUT_MS;
			ms_conn_set_timeouts(s->back, ms, ms);
			ms_conn_set_max_input(s->back, 64 * 1024);
			s->back_step = 0;
			return true;
		}
		ms_log_warning("(id %lu) store %s: %s", s->id, s->hosts[s->host], why->data);
	}
	return false;
}

void mmp_backend_connect(struct mmp_session *s)
{
	struct ms_buf why;

	ms_buf_init(&why);
	resolve(s);
	s->back_port_default = s->back_port;
	if (s->back_tls && s->mmp->back_tls == NULL) {
		s->host = s->nhosts;
		mmp_session_back_fail(s, "TLS to the stores is not available");
	} else if (s->nhosts == 0) {
		mmp_session_back_fail(s, s->def->proto == MMP_SUBMIT
		                             ? "no MTA to relay to (submitproxy.smtprelays)"
		                             : "no host for this mailHost");
	} else if (!connect_next(s, &why)) {
		mmp_session_back_fail(s, why.len > 0 ? why.data : "no host to try");
	}
	ms_buf_deinit(&why);
}

/* The store administrator and password for s, or false when none. */
static bool store_admin(const struct mmp_session *s, const char **admin_r, const char **pass_r)
{
	const char *admin = mmp_session_opt(s, MS_OPT_VDOMAIN_STOREADMIN, s->def->opt_storeadmin);
	const char *pass =
	    mmp_session_opt(s, MS_OPT_VDOMAIN_STOREADMINPASS, s->def->opt_storeadminpass);
	const struct ms_conf *conf = s->mmp->conf;

	if (s->def->opt_storeadmin == MS_OPT_COUNT) {
		admin = pass = NULL; /* the submission proxy: the MTA checks the user */
	} else if (admin == NULL || pass == NULL) {
		admin = ms_conf_str(conf, MS_OPT_BASE_PROXYADMIN);
		pass = ms_conf_str(conf, MS_OPT_BASE_PROXYADMINPASS);
	}
	*admin_r = admin;
	*pass_r = pass;
	return admin != NULL && *admin != '\0' && pass != NULL && *pass != '\0';
}

bool mmp_backend_has_admin(const struct mmp_session *s)
{
	const char *admin, *pass;

	return store_admin(s, &admin, &pass);
}

void mmp_backend_credentials(struct mmp_session *s, struct ms_buf *out)
{
	const char *admin, *pass;

	if (store_admin(s, &admin, &pass))
		/* The store administrator logs in for the user (RFC 4616 authzid). */
		ms_login_plain_encode(s->canonical, admin, pass, out);
	else
		/* No administrator configured: replay the user's own login. */
		ms_login_plain_encode(NULL, s->canonical, s->password != NULL ? s->password : "",
		                      out);
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
		s->password = NULL;
	}
}

/* This host failed before its login started: the next one, or give up. */
static void host_failed(struct mmp_session *s, const char *what)
{
	struct ms_buf why;

	ms_log_warning("(id %lu) store %s:%u: %s", s->id, s->hosts[s->host], s->back_port, what);
	ms_buf_init(&why);
	ms_buf_printf(&why, "%s:%u: %s", s->hosts[s->host], s->back_port, what);
	ms_conn_free(&s->back);
	if (s->back_step == 0 && s->host + 1 < s->nhosts) {
		s->host++;
		if (connect_next(s, &why)) {
			ms_buf_deinit(&why);
			return;
		}
	}
	mmp_session_back_fail(s, why.data);
	ms_buf_deinit(&why);
	if (s->state == MMP_ST_PRELOGIN)
		s->def->ops->input(s); /* what the client pipelined behind its login */
}

static void start_back_tls(struct mmp_session *s)
{
	struct ms_buf why;

	ms_buf_init(&why);
	if (ms_conn_start_tls(s->back, s->mmp->back_tls, MS_TLS_CLIENT, s->hosts[s->host], &why) <
	    0)
		host_failed(s, why.data);
	ms_buf_deinit(&why);
}

static void on_back(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct mmp_session *s = ctx;

	(void)conn;
	if (s->state == MMP_ST_RELAY || (s->state == MMP_ST_CLOSING && s->login_time != 0)) {
		mmp_relay_back_event(s, (int)ev);
		return;
	}
	if (s->state == MMP_ST_CLOSING) { /* the client left while we logged in */
		if (ev == MS_CONN_DATA)
			ms_conn_drain(s->back, ms_conn_input_len(s->back));
		else if (ev == MS_CONN_EOF || ev == MS_CONN_ERROR || ev == MS_CONN_TIMEOUT) {
			ms_conn_free(&s->back);
			if (s->client == NULL)
				mmp_session_free(s);
		}
		return;
	}
	switch (ev) {
	case MS_CONN_CONNECTED:
		if (s->back_tls)
			start_back_tls(s);
		else
			s->def->ops->back_ready(s);
		break;
	case MS_CONN_TLS_READY:
		s->def->ops->back_ready(s);
		break;
	case MS_CONN_DATA:
		s->def->ops->back_input(s);
		break;
	case MS_CONN_TIMEOUT:
		host_failed(s, "no answer in time");
		break;
	case MS_CONN_EOF:
		host_failed(s, "closed the connection");
		break;
	case MS_CONN_ERROR:
		host_failed(s, ms_conn_error(s->back));
		break;
	default:
		break;
	}
}
