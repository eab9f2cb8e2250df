/*
 * directory_conn: connections to the directory servers, with failover.
 *
 * We make the TCP connection ourselves (non-blocking connect, watched by
 * the caller's loop) and hand the socket to libldap with ldap_init_fd(),
 * because libldap's own asynchronous connect (LDAP_OPT_CONNECT_ASYNC) does
 * not send a request queued during the connect until another request
 * comes.  The socket stays non-blocking, which libldap supports: reads
 * never wait for the rest of a message, and a TLS handshake (ldaps:// or
 * StartTLS) waits at most the network timeout (libldap polls inside it).
 *
 * Failover (seed: base.ugldaphost "ldap1 ldap2:389", tried in order): an
 * attempt walks the servers in the order given, trying first those that
 * have not failed in the last DOWN_MS, then the others, and each address
 * of a server in turn; the first that connects (and, for the search
 * connection, accepts the service bind) wins.  A new attempt (after a
 * connection broke) starts from the first server again, so the directory
 * falls back to the first server once it is back.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openldap.h>

#include <ms/buf.h>

#include "directory_int.h"

/* How long a failed server is tried only after the others. */
#define DOWN_MS 30000

/* ---- the host list ---- */

void ms_directory_hosts_free(struct ms_directory_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hosts[i].name);
		free(hosts[i].port);
	}
	free(hosts);
}

static bool valid_port(const char *p, size_t len)
{
	unsigned long v = 0;
	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

int ms_directory_hosts_parse(const char *text, unsigned default_port,
                             struct ms_directory_host **hosts_r, size_t *n_r, struct ms_buf *why)
{
	struct ms_directory_host *hosts = NULL;
	size_t n = 0;
	const char *p = text != NULL ? text : "";

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *end = p + strcspn(p, " \t,");
		const char *h = p, *hend, *port = NULL;
		size_t tlen = (size_t)(end - p);
		/* An LDAP URL is accepted too: its scheme is base.ugldapusessl's job. */
		if (tlen > 7 && strncasecmp(h, "ldap://", 7) == 0)
			h += 7;
		else if (tlen > 8 && strncasecmp(h, "ldaps://", 8) == 0)
			h += 8;
		const char *slash = memchr(h, '/', (size_t)(end - h));
		if (slash != NULL)
			end = slash;
		if (*h == '[') {
			const char *rb = memchr(h, ']', (size_t)(end - h));
			if (rb == NULL || rb == h + 1)
				goto bad;
			hend = rb;
			h++;
			if (rb + 1 < end) {
				if (rb[1] != ':')
					goto bad;
				port = rb + 2;
			}
		} else {
			const char *colon = memchr(h, ':', (size_t)(end - h));
			if (colon != NULL &&
			    memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
				colon = NULL; /* a bare IPv6 address */
			hend = colon != NULL ? colon : end;
			if (colon != NULL)
				port = colon + 1;
		}
		if (hend == h || (port != NULL && !valid_port(port, (size_t)(end - port))))
			goto bad;
		hosts = ms_xrealloc(hosts, (n + 1) * sizeof(*hosts));
		hosts[n].name = ms_xstrndup(h, (size_t)(hend - h));
		hosts[n].port = port != NULL ? ms_xstrndup(port, (size_t)(end - port))
		                             : ms_xasprintf("%u", default_port);
		hosts[n].down_until_ms = 0;
		n++;
		p = p + tlen;
		continue;
	bad:
		ms_buf_setf(why, "'%.*s' in the directory server list is not host[:port]",
		            (int)tlen, p);
		ms_directory_hosts_free(hosts, n);
		return -1;
	}
	if (n == 0) {
		ms_buf_setf(why, "no directory server is configured (base.ugldaphost)");
		return -1;
	}
	*hosts_r = hosts;
	*n_r = n;
	return 0;
}

/* ---- connections ---- */

void ms_directory_conn_init(struct ms_directory_conn *c, bool service_bind)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->bind_msgid = -1;
	c->service_bind = service_bind;
	c->last_error = ms_buf_new();
}

static void drop_ai(struct ms_directory_conn *c);

void ms_directory_conn_deinit(struct ms_directory_conn *c)
{
	ms_directory_conn_close(c);
	ms_buf_free(&c->last_error);
	free(c->order);
	c->order = NULL;
}

static void drop_ai(struct ms_directory_conn *c)
{
	if (c->ai != NULL)
		freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
}

void ms_directory_conn_close(struct ms_directory_conn *c)
{
	if (c->ld != NULL) {
		/* Closes the socket too (ldap_init_fd gave it to libldap).  Only
		 * an UP connection is worth an unbind request. */
		if (c->state != MS_DIRECTORY_CONN_UP) {
			int sd = -1;
			ldap_get_option(c->ld, LDAP_OPT_DESC, &sd);
			if (sd >= 0)
				shutdown(sd, SHUT_RDWR);
		}
		ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
		c->fd = -1;
	} else if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	drop_ai(c);
	free(c->server);
	c->server = NULL;
	c->state = MS_DIRECTORY_CONN_DOWN;
	c->bind_msgid = -1;
	c->busy = false;
}

/* The order of the servers for this attempt: first those not marked down,
 * in the order given, then the others.  Fixed when the attempt starts, since
 * the attempt itself marks servers down. */
static void plan(struct ms_directory_conn *c, const struct ms_directory_conn_env *env)
{
	size_t k = 0;

	c->order = ms_xrealloc(c->order, env->nhosts * sizeof(*c->order));
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < env->nhosts; i++) {
			bool down = env->hosts[i].down_until_ms > env->now_ms;
			if (down == (pass == 1))
				c->order[k++] = i;
		}
}

static void mark_down(struct ms_directory_conn *c, struct ms_directory_conn_env *env)
{
	env->hosts[c->host].down_until_ms = env->now_ms + DOWN_MS;
	if (env->failovers != NULL)
		(*env->failovers)++;
}

static void note(struct ms_directory_conn *c, struct ms_directory_conn_env *env, const char *fmt,
                 const char *detail)
{
	const struct ms_directory_host *h = &env->hosts[c->host];
	if (c->last_error->len > 0)
		ms_buf_puts(c->last_error, "; ");
	ms_buf_printf(c->last_error, "%s:%s: ", h->name, h->port);
	ms_buf_printf(c->last_error, fmt, detail);
}

static void set_timeval(struct timeval *tv, unsigned ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (long)(ms % 1000) * 1000;
}

/* The ldap:// side of a connected socket: options, TLS, service bind. */
static enum ms_status ldap_side(struct ms_directory_conn *c, struct ms_directory_conn_env *env)
{
	const struct ms_directory_settings *s = env->s;
	const struct ms_directory_host *h = &env->hosts[c->host];
	bool v6 = strchr(h->name, ':') != NULL;
	char *url = ms_xasprintf("%s://%s%s%s:%s", s->use_ssl ? "ldaps" : "ldap", v6 ? "[" : "",
	                         h->name, v6 ? "]" : "", h->port);
	int rc, version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	struct timeval tv;

	rc = ldap_init_fd(c->fd, LDAP_PROTO_TCP, url, &c->ld);
	free(url);
	if (rc != LDAP_SUCCESS) {
		note(c, env, "cannot set up the LDAP session: %s", ldap_err2string(rc));
		return MS_ERROR;
	}
	c->fd = -1; /* libldap's now */
	set_timeval(&tv, s->timeout_ms);
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
	if (s->use_ssl || s->starttls) {
		if (s->ca_file != NULL)
			ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file);
		ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
		ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
		rc = s->use_ssl ? ldap_install_tls(c->ld) : ldap_start_tls_s(c->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			char *diag = NULL;
			struct ms_buf d;
			ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
			ms_buf_init(&d);
			ms_buf_printf(&d, "%s failed: %s%s%s",
			              s->use_ssl ? "TLS handshake" : "StartTLS",
			              ldap_err2string(rc),
			              diag != NULL && *diag != '\0' ? ": " : "", diag ? diag : "");
			note(c, env, "%s", d.data);
			ms_buf_deinit(&d);
			ldap_memfree(diag);
			return MS_ERROR;
		}
	}
	c->server = ms_xasprintf("%s:%s", h->name, h->port);
	if (!c->service_bind) {
		c->state = MS_DIRECTORY_CONN_UP;
		return MS_OK;
	}
	const char *dn = s->bind_dn != NULL ? s->bind_dn : "";
	const char *pw = *dn != '\0' && s->bind_password != NULL ? s->bind_password : "";
	struct berval cred = {strlen(pw), (char *)pw};
	rc = ldap_sasl_bind(c->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &c->bind_msgid);
	if (rc != LDAP_SUCCESS) {
		note(c, env, "cannot send the bind: %s", ldap_err2string(rc));
		return MS_ERROR;
	}
	c->state = MS_DIRECTORY_CONN_BINDING;
	c->deadline_ms = env->now_ms + s->timeout_ms;
	return MS_AGAIN;
}

/* The next address (of this server, then of the next ones) to connect to. */
static enum ms_status try_next(struct ms_directory_conn *c, struct ms_directory_conn_env *env)
{
	for (;;) {
		if (c->ai == NULL) {
			if (c->round >= env->nhosts) {
				c->state = MS_DIRECTORY_CONN_DOWN;
				return MS_ERROR;
			}
			c->host = c->order[c->round];
			const struct ms_directory_host *h = &env->hosts[c->host];
			struct addrinfo hints;
			memset(&hints, 0, sizeof(hints));
			hints.ai_socktype = SOCK_STREAM;
			hints.ai_flags = AI_NUMERICSERV;
			int rc = getaddrinfo(h->name, h->port, &hints, &c->ai);
			if (rc != 0) {
				note(c, env, "%s", gai_strerror(rc));
				c->ai = NULL;
				mark_down(c, env);
				c->round++;
				continue;
			}
			c->ai_next = c->ai;
		}
		if (c->ai_next == NULL) {
			drop_ai(c);
			mark_down(c, env);
			c->round++;
			continue;
		}
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               a->ai_protocol);
		if (c->fd < 0) {
			note(c, env, "socket: %s", strerror(errno));
			continue;
		}
		if (env->connects != NULL)
			(*env->connects)++;
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0) {
			enum ms_status st = ldap_side(c, env);
			if (st != MS_ERROR) {
				drop_ai(c);
				return st;
			}
		} else if (errno == EINPROGRESS) {
			c->state = MS_DIRECTORY_CONN_CONNECTING;
			c->deadline_ms = env->now_ms + env->s->timeout_ms;
			return MS_AGAIN;
		} else {
			note(c, env, "%s", strerror(errno));
		}
		/* This address failed: drop what was built on it. */
		if (c->ld != NULL) {
			ldap_unbind_ext(c->ld, NULL, NULL);
			c->ld = NULL;
		}
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		free(c->server);
		c->server = NULL;
	}
}

enum ms_status ms_directory_conn_start(struct ms_directory_conn *c,
                                       struct ms_directory_conn_env *env)
{
	ms_directory_conn_close(c);
	ms_buf_reset(c->last_error);
	c->round = 0;
	plan(c, env);
	return try_next(c, env);
}

/* The current address failed (connect or bind): go on with the next. */
static enum ms_status fail_over(struct ms_directory_conn *c, struct ms_directory_conn_env *env)
{
	if (c->ld != NULL) {
		ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
	} else if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
	free(c->server);
	c->server = NULL;
	c->bind_msgid = -1;
	/* A refused bind or a timeout is the server's answer, not the
	 * address's: the other addresses of the server would say the same. */
	if (c->state == MS_DIRECTORY_CONN_BINDING)
		drop_ai(c);
	if (c->ai == NULL) {
		mark_down(c, env);
		c->round++;
	}
	return try_next(c, env);
}

enum ms_status ms_directory_conn_step(struct ms_directory_conn *c,
                                      struct ms_directory_conn_env *env)
{
	if (c->state == MS_DIRECTORY_CONN_CONNECTING) {
		struct pollfd p = {c->fd, POLLOUT, 0};
		if (poll(&p, 1, 0) == 0) {
			if (env->now_ms < c->deadline_ms)
				return MS_AGAIN;
			note(c, env, "%s", "no answer to the connection (timed out)");
			return fail_over(c, env);
		}
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			note(c, env, "%s", strerror(err));
			return fail_over(c, env);
		}
		enum ms_status st = ldap_side(c, env);
		if (st == MS_ERROR)
			return fail_over(c, env);
		drop_ai(c);
		return st;
	}
	if (c->state == MS_DIRECTORY_CONN_BINDING) {
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		int rc = ldap_result(c->ld, c->bind_msgid, LDAP_MSG_ALL, &zero, &res);
		if (rc == 0) {
			if (env->now_ms < c->deadline_ms)
				return MS_AGAIN;
			note(c, env, "%s", "no answer to the bind (timed out)");
			return fail_over(c, env);
		}
		if (rc < 0) {
			int e = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &e);
			note(c, env, "%s", ldap_err2string(e));
			return fail_over(c, env);
		}
		int err = LDAP_OTHER;
		ldap_parse_result(c->ld, res, &err, NULL, NULL, NULL, NULL, 1);
		if (err != LDAP_SUCCESS) {
			const char *dn = env->s->bind_dn;
			struct ms_buf d;
			ms_buf_init(&d);
			ms_buf_printf(&d, "bind as %s refused: %s",
			              dn != NULL && *dn != '\0' ? dn : "anonymous",
			              ldap_err2string(err));
			note(c, env, "%s", d.data);
			ms_buf_deinit(&d);
			return fail_over(c, env);
		}
		c->bind_msgid = -1;
		c->state = MS_DIRECTORY_CONN_UP;
		return MS_OK;
	}
	return c->state == MS_DIRECTORY_CONN_UP ? MS_OK : MS_ERROR;
}

void ms_directory_conn_failed(struct ms_directory_conn *c, struct ms_directory_conn_env *env,
                              const char *what)
{
	ms_buf_reset(c->last_error);
	if (c->state != MS_DIRECTORY_CONN_DOWN)
		note(c, env, "%s", what);
	mark_down(c, env);
	ms_directory_conn_close(c);
}

int ms_directory_conn_blocking(struct ms_directory_conn *c, struct ms_directory_conn_env *env,
                               const char *bind_dn, const char *password, enum ms_error *err_r,
                               struct ms_buf *why)
{
	enum ms_status st;

	*err_r = MS_E_TEMPFAIL;
	for (st = ms_directory_conn_start(c, env); st == MS_AGAIN;
	     st = ms_directory_conn_step(c, env)) {
		struct pollfd p = {c->fd, POLLOUT, 0};
		long long wait = c->deadline_ms - env->now_ms;
		if (c->state == MS_DIRECTORY_CONN_CONNECTING && wait > 0)
			poll(&p, 1, (int)wait);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		env->now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	if (st == MS_ERROR) {
		ms_buf_setf(why, "no directory server answered (%s)", c->last_error->data);
		return -1;
	}
	/* The tool's bind is synchronous: an administrator's command waits. */
	const char *pw = password != NULL ? password : "";
	struct berval cred = {strlen(pw), (char *)pw};
	int rc = ldap_sasl_bind_s(c->ld, bind_dn != NULL ? bind_dn : "", LDAP_SASL_SIMPLE, &cred,
	                          NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		*err_r = rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
		                 rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INVALID_DN_SYNTAX
		             ? MS_E_AUTHFAIL
		             : MS_E_TEMPFAIL;
		ms_buf_setf(why, "%s: bind as %s refused: %s", c->server,
		            bind_dn != NULL && *bind_dn ? bind_dn : "anonymous",
		            ldap_err2string(rc));
		ms_directory_conn_close(c);
		return -1;
	}
	*err_r = MS_E_NONE;
	return 0;
}
