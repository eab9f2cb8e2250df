/*
 * mta_deliver_smtp: the SMTP client of the tcp_* channels and the LMTP
 * client of the channels with the lmtp keyword (RFC 5321, RFC 2033).
 *
 * Recipients are grouped by domain (all of them in one group when the
 * channel names a smart host with `daemon`); each group gets one
 * connection and one transaction.  The next hop is the daemon host, else
 * the domain's MX hosts by preference (res_query; `nomx` skips it), else
 * the domain's own addresses; LMTP uses the daemon host (the back end,
 * or mailHost's host as the recipes route it), else the domain.  The port
 * is the channel's `port` (25 for SMTP, 225 for LMTP by default).
 *
 * A channel program is one short-lived process per job, so this client
 * uses blocking sockets with send and receive timeouts rather than an
 * event loop, and OpenSSL directly for STARTTLS over the context lib/tls.c
 * makes (docs/mta.md says why).  STARTTLS is used when the server offers
 * it and the channel says maytls or musttls (musttls fails without it);
 * PIPELINING, when offered, sends MAIL, every RCPT and DATA in one write.
 * Each recipient gets its own result: the RCPT reply when that refused
 * it, else the reply to the message (per recipient for LMTP).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/tls.h>

#include "mta_channel.h"
#include "mta_deliver.h"
#include "mta_log.h"

#define IO_TIMEOUT_S      120
#define CONNECT_TIMEOUT_S 30
#define LINE_MAX_LEN      4096
#define MAX_HOSTS         16

struct conn {
	int fd;
	struct ms_tls_ctx *tctx;
	SSL *ssl;
	char buf[8192];
	size_t len, pos;
	bool lmtp, esmtp, pipelining, starttls, dsn, eightbit, smtputf8, size;
	bool no_tls; /* a second try after a failed opportunistic STARTTLS */
	char *host;
};

/* ---- I/O ----------------------------------------------------------------- */

static int conn_write(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (c->ssl != NULL) {
			int k = SSL_write(c->ssl, data, (int)(len > 65536 ? 65536 : len));

			if (k <= 0)
				return -1;
			n = k;
		} else {
			n = send(c->fd, data, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->len == sizeof(c->buf))
		return -1;
	if (c->ssl != NULL) {
		int k = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));

		n = k > 0 ? k : -1;
	} else {
		do
			n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		while (n < 0 && errno == EINTR);
	}
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

static int read_line(struct conn *c, struct ms_buf *line)
{
	ms_buf_reset(line);
	for (;;) {
		char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);

		if (nl != NULL) {
			size_t l = (size_t)(nl - (c->buf + c->pos));

			ms_buf_append(line, c->buf + c->pos, l);
			c->pos += l + 1;
			if (line->len > 0 && line->data[line->len - 1] == '\r')
				ms_buf_truncate(line, line->len - 1);
			return 0;
		}
		ms_buf_append(line, c->buf + c->pos, c->len - c->pos);
		c->pos = c->len;
		if (line->len > LINE_MAX_LEN || conn_fill(c) < 0)
			return -1;
	}
}

/* One reply: its code, and the text of its lines joined by "\n". -1: I/O. */
static int read_reply(struct conn *c, int *code_r, struct ms_buf *text)
{
	struct ms_buf line;
	int rc = -1;

	ms_buf_init(&line);
	ms_buf_reset(text);
	for (;;) {
		if (read_line(c, &line) < 0)
			break;
		if (line.len < 3 || !isdigit((unsigned char)line.data[0]) ||
		    !isdigit((unsigned char)line.data[1]) || !isdigit((unsigned char)line.data[2]))
			break;
		if (text->len > 0)
			ms_buf_putc(text, '\n');
		ms_buf_puts(text, line.len > 4 ? line.data + 4 : "");
		if (line.len == 3 || line.data[3] != '-') {
			*code_r = atoi(line.data) % 1000;
			rc = 0;
			break;
		}
	}
	ms_buf_deinit(&line);
	return rc;
}

static int command(struct conn *c, const char *cmd, int *code_r, struct ms_buf *text)
{
	if (conn_write(c, cmd, strlen(cmd)) < 0)
		return -1;
	return read_reply(c, code_r, text);
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ms_tls_ctx_free(&c->tctx);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->host);
	c->host = NULL;
}

/* ---- results ------------------------------------------------------------- */

/* The enhanced status code at the start of text, or the class's x.0.0. */
static void status_of(int code, const char *text, char *out, size_t len)
{
	int a, b, d, n = 0;

	if (sscanf(text, "%1d.%3d.%3d%n", &a, &b, &d, &n) == 3 && n > 0 && a == code / 100 &&
	    (text[n] == ' ' || text[n] == '\0' || text[n] == '\n')) {
		snprintf(out, len, "%d.%d.%d", a, b, d);
		return;
	}
	snprintf(out, len, "%d.0.0", code / 100 == 2 ? 2 : code / 100 == 5 ? 5 : 4);
}

static void set_reply(struct mta_result *r, int code, const char *text, const char *host)
{
	char st[16];
	const char *nl = strchr(text, '\n');
	int cls = code / 100 == 2 ? 2 : code / 100 == 5 ? 5 : 4;

	status_of(code, text, st, sizeof(st));
	mta_result_set(r, cls, st, host, "smtp;%d %.*s", code,
	               (int)(nl != NULL ? (size_t)(nl - text) : strlen(text)), text);
}

/* ---- the next hop ---------------------------------------------------------- */

struct hosts {
	char *name[MAX_HOSTS];
	int pref[MAX_HOSTS];
	size_t n;
};

static void hosts_free(struct hosts *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->name[i]);
	h->n = 0;
}

static void hosts_add(struct hosts *h, const char *name, int pref)
{
	size_t i;

	if (h->n == MAX_HOSTS)
		return;
	for (i = h->n; i > 0 && h->pref[i - 1] > pref; i--) {
		h->name[i] = h->name[i - 1];
		h->pref[i] = h->pref[i - 1];
	}
	h->name[i] = ms_xstrdup(name);
	h->pref[i] = pref;
	h->n++;
}

/*
 * MX hosts of domain by preference.  0 (h may be empty: no MX, use the
 * domain), 1 when the domain does not exist, -1 on a temporary failure.
 */
static int mx_lookup(const char *domain, struct hosts *h)
{
	unsigned char ans[8192];
	ns_msg msg;
	int len, i, count;

	len = res_query(domain, ns_c_in, ns_t_mx, ans, sizeof(ans));
	if (len < 0)
		return h_errno == HOST_NOT_FOUND ? 1 : h_errno == NO_DATA ? 0 : -1;
	if (ns_initparse(ans, len, &msg) < 0)
		return -1;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		char name[NS_MAXDNAME];
		ns_rr rr;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_mx ||
		    ns_rr_rdlen(rr) < 3)
			continue;
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, name,
		              sizeof(name)) < 0)
			continue;
		hosts_add(h, name, ns_get16(ns_rr_rdata(rr)));
	}
	return 0;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len)
{
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd p = {fd, POLLOUT, 0};

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		if (poll(&p, 1, CONNECT_TIMEOUT_S * 1000) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			errno = err != 0 ? err : errno;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, fl);
}

/* Connect to one host name (every address); 0, or -1 with why. */
static int connect_host(struct conn *c, const char *host, unsigned port, struct ms_buf *why)
{
	struct addrinfo hints, *ai = NULL, *a;
	struct timeval tv = {IO_TIMEOUT_S, 0};
	char ps[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%u", port);
	rc = getaddrinfo(host, ps, &hints, &ai);
	if (rc != 0) {
		ms_buf_setf(why, "TCP active open: Failed gethostbyname() on %s: %s", host,
		            gai_strerror(rc));
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		char ip[INET6_ADDRSTRLEN] = "?";
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);

		if (a->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip,
			          sizeof(ip));
		else if (a->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, ip,
			          sizeof(ip));
		if (fd >= 0 && connect_timeout(fd, a->ai_addr, a->ai_addrlen) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			c->fd = fd;
			c->host = ms_xstrdup(host);
			freeaddrinfo(ai);
			return 0;
		}
		ms_buf_setf(why, "TCP active open: Failed connect() %s:%u Error: %s", ip, port,
		            strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(ai);
	return -1;
}

/* ---- the session --------------------------------------------------------- */

static void parse_ehlo(struct conn *c, const char *text)
{
	const char *p = text;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, "\n");

#define KW(s)                                                                                      \
	(len >= sizeof(s) - 1 && strncasecmp(p, s, sizeof(s) - 1) == 0 &&                          \
	 (len == sizeof(s) - 1 || p[sizeof(s) - 1] == ' '))
		if (KW("PIPELINING"))
			c->pipelining = true;
		else if (KW("STARTTLS"))
			c->starttls = true;
		else if (KW("DSN"))
			c->dsn = true;
		else if (KW("8BITMIME"))
			c->eightbit = true;
		else if (KW("SMTPUTF8"))
			c->smtputf8 = true;
		else if (KW("SIZE"))
			c->size = true;
#undef KW
		p += len;
		if (*p == '\n')
			p++;
	}
}

static int hello(struct conn *c, const char *me, struct ms_buf *text, int *code)
{
	char *cmd = ms_xasprintf("%s %s\r\n", c->lmtp ? "LHLO" : "EHLO", me);
	int rc = command(c, cmd, code, text);

	free(cmd);
	c->pipelining = c->starttls = c->dsn = c->eightbit = c->smtputf8 = c->size = false;
	if (rc == 0 && *code / 100 == 2) {
		c->esmtp = true;
		/* the first line is the greeting name, the others the extensions */
		parse_ehlo(c, strchr(text->data, '\n') != NULL ? strchr(text->data, '\n') + 1 : "");
		return 0;
	}
	if (rc == 0 && !c->lmtp && *code / 100 == 5) {
		cmd = ms_xasprintf("HELO %s\r\n", me);
		rc = command(c, cmd, code, text);
		free(cmd);
		c->esmtp = false;
		if (rc == 0 && *code / 100 == 2)
			return 0;
	}
	return -1;
}

static int start_tls(struct conn *c, struct ms_buf *why)
{
	c->tctx = ms_tls_client_new(false, NULL, why);
	if (c->tctx == NULL)
		return -1;
	c->ssl = SSL_new(ms_tls_ctx_ssl_ctx(c->tctx));
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		ms_buf_setf(why, "TLS: cannot set up the session");
		return -1;
	}
	SSL_set_tlsext_host_name(c->ssl, c->host);
	if (SSL_connect(c->ssl) != 1) {
		ms_buf_setf(why, "TLS handshake with %s failed: ", c->host);
		ms_tls_errors(why);
		return -1;
	}
	return 0;
}

/*
 * Greeting, EHLO/LHLO, STARTTLS.  0, or -1 with the reply code (0: I/O)
 * and why; -2 when an opportunistic STARTTLS failed (try again without).
 */
static int open_session(struct mta_job *j, struct conn *c, int *code, struct ms_buf *text,
                        struct ms_buf *why)
{
	const char *me = ms_conf_str(j->conf, MS_OPT_BASE_HOSTNAME);
	bool want_tls = mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_MAYTLS) ||
	                mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_MUSTTLS);
	bool must_tls = mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_MUSTTLS);

	if (me == NULL || *me == '\0')
		me = "localhost";
	*code = 0;
	if (read_reply(c, code, text) < 0 || *code != 220 || hello(c, me, text, code) < 0) {
		ms_buf_setf(why, "%s", *code != 0 ? text->data : "lost connection");
		return -1;
	}
	if (mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_NOTLS))
		want_tls = must_tls = false;
	if (c->no_tls && !must_tls)
		want_tls = false;
	if (want_tls && c->starttls) {
		if (command(c, "STARTTLS\r\n", code, text) < 0 || *code != 220) {
			ms_buf_setf(why, "STARTTLS refused: %s", text->data);
			return -1;
		}
		ms_buf_reset(why);
		if (start_tls(c, why) < 0 || hello(c, me, text, code) < 0) {
			*code = 0;
			if (why->len == 0)
				ms_buf_setf(why, "lost connection after STARTTLS");
			return must_tls ? -1 : -2;
		}
	} else if (must_tls) {
		*code = 0;
		ms_buf_setf(why, "%s does not offer STARTTLS (musttls)", c->host);
		return -1;
	}
	return 0;
}

static void mail_cmd(const struct conn *c, const struct mta_qenv *env, struct ms_buf *out)
{
	ms_buf_printf(out, "MAIL FROM:<%s>", env->from);
	if (c->size)
		ms_buf_printf(out, " SIZE=%llu", (unsigned long long)env->size);
	if (c->eightbit && env->body == MTA_BODY_8BITMIME)
		ms_buf_puts(out, " BODY=8BITMIME");
	if (c->smtputf8 && env->smtputf8)
		ms_buf_puts(out, " SMTPUTF8");
	if (c->dsn && env->ret != MTA_RET_UNSET)
		ms_buf_puts(out, env->ret == MTA_RET_FULL ? " RET=FULL" : " RET=HDRS");
	if (c->dsn && env->envid != NULL) {
		ms_buf_puts(out, " ENVID=");
		mta_xtext_encode(out, env->envid);
	}
	ms_buf_puts(out, "\r\n");
}

static void rcpt_cmd(const struct conn *c, const struct mta_qrcpt *r, struct ms_buf *out)
{
	ms_buf_printf(out, "RCPT TO:<%s>", r->addr);
	if (c->dsn && r->notify != 0) {
		ms_buf_puts(out, " NOTIFY=");
		mta_notify_format(out, r->notify);
		for (char *p = out->data + out->len; p > out->data && p[-1] != '='; p--)
			p[-1] = (char)toupper((unsigned char)p[-1]);
	}
	if (c->dsn && r->orcpt != NULL) {
		const char *semi = strchr(r->orcpt, ';');

		ms_buf_puts(out, " ORCPT=");
		if (semi != NULL) {
			ms_buf_append(out, r->orcpt, (size_t)(semi - r->orcpt + 1));
			mta_xtext_encode(out, semi + 1);
		} else {
			ms_buf_puts(out, "rfc822;");
			mta_xtext_encode(out, r->orcpt);
		}
	}
	ms_buf_puts(out, "\r\n");
}

/* The message, dot-stuffed, then the final dot. */
static int send_body(struct conn *c, int fd, off_t off)
{
	char in[65536];
	struct ms_buf out;
	bool bol = true, cr = false;
	ssize_t n;
	int rc = 0;

	ms_buf_init(&out);
	while (rc == 0 && (n = pread(fd, in, sizeof(in), off)) > 0) {
		ssize_t i;

		off += n;
		ms_buf_reset(&out);
		for (i = 0; i < n; i++) {
			if (bol && in[i] == '.')
				ms_buf_putc(&out, '.');
			if (in[i] == '\n' && !cr)
				ms_buf_putc(&out, '\r');
			ms_buf_putc(&out, in[i]);
			bol = in[i] == '\n';
			cr = in[i] == '\r';
		}
		rc = conn_write(c, out.data, out.len);
	}
	ms_buf_setf(&out, "%s.\r\n", bol ? "" : "\r\n");
	if (rc == 0)
		rc = conn_write(c, out.data, out.len);
	ms_buf_deinit(&out);
	return rc;
}

struct group {
	size_t *idx; /* recipients (indexes into env->rcpts) */
	char **to;   /* the address each is given as in RCPT TO */
	size_t n;
	char *domain; /* the next hop: a domain, or a host when direct */
	bool direct;  /* a host (source route, mailHost): no MX lookup */
};

static void fail_group(struct mta_msg *m, const struct group *g, int cls, const char *st,
                       const char *host, const char *diag)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (m->res[g->idx[i]].cls == 0)
			mta_result_set(&m->res[g->idx[i]], cls, st, host, "%s", diag);
}

/* MAIL, RCPTs and DATA; accepted[i] tells which recipients wait for the end. */
static int envelope(struct conn *c, struct mta_msg *m, const struct group *g, bool *accepted,
                    size_t *naccepted, struct ms_buf *text)
{
	struct ms_buf cmd;
	int code = 0, mail_code = 0, rc = -1;
	size_t i;

	ms_buf_init(&cmd);
	mail_cmd(c, m->env, &cmd);
	if (c->pipelining) {
		for (i = 0; i < g->n; i++) {
			struct mta_qrcpt r = m->env->rcpts[g->idx[i]];

			r.addr = g->to[i];
			rcpt_cmd(c, &r, &cmd);
		}
		ms_buf_puts(&cmd, "DATA\r\n");
		if (conn_write(c, cmd.data, cmd.len) < 0 || read_reply(c, &mail_code, text) < 0)
			goto out;
	} else if (command(c, cmd.data, &mail_code, text) < 0) {
		goto out;
	}
	if (mail_code / 100 != 2) {
		for (i = 0; i < g->n; i++)
			set_reply(&m->res[g->idx[i]], mail_code, text->data, c->host);
		if (c->pipelining)
			for (i = 0; i <= g->n; i++)
				if (read_reply(c, &code, text) < 0)
					goto out;
		rc = 1;
		goto out;
	}
	for (i = 0; i < g->n; i++) {
		struct mta_qrcpt r = m->env->rcpts[g->idx[i]];

		r.addr = g->to[i];
		ms_buf_reset(&cmd);
		rcpt_cmd(c, &r, &cmd);
		if ((c->pipelining ? read_reply(c, &code, text)
		                   : command(c, cmd.data, &code, text)) < 0)
			goto out;
		accepted[i] = code / 100 == 2;
		if (!accepted[i])
			set_reply(&m->res[g->idx[i]], code, text->data, c->host);
		else
			(*naccepted)++;
	}
	if (c->pipelining ? read_reply(c, &code, text) < 0
	                  : (*naccepted > 0 && command(c, "DATA\r\n", &code, text) < 0))
		goto out;
	if (*naccepted == 0) {
		if (code == 354 &&
		    (conn_write(c, ".\r\n", 3) < 0 || read_reply(c, &code, text) < 0))
			goto out;
		rc = 1;
		goto out;
	}
	if (code != 354) {
		for (i = 0; i < g->n; i++)
			if (accepted[i])
				set_reply(&m->res[g->idx[i]], code, text->data, c->host);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	ms_buf_deinit(&cmd);
	return rc;
}

/* One transaction on an open session; -1 when the connection broke. */
static int transaction(struct conn *c, struct mta_msg *m, const struct group *g)
{
	bool *accepted = ms_xcalloc(g->n, sizeof(bool));
	size_t naccepted = 0, i;
	struct ms_buf text;
	int code = 0, rc;

	ms_buf_init(&text);
	rc = envelope(c, m, g, accepted, &naccepted, &text);
	if (rc == 0 && send_body(c, m->fd, m->body_off) < 0)
		rc = -1;
	if (rc == 0 && !c->lmtp && read_reply(c, &code, &text) < 0)
		rc = -1;
	for (i = 0; rc == 0 && i < g->n; i++) {
		if (!accepted[i])
			continue;
		if (c->lmtp && read_reply(c, &code, &text) < 0) {
			rc = -1;
			break;
		}
		set_reply(&m->res[g->idx[i]], code, text.data, c->host);
	}
	free(accepted);
	ms_buf_deinit(&text);
	return rc;
}

static unsigned channel_port(struct mta_job *j, bool lmtp)
{
	const char *p = mta_channel_get(j->channels, j->ch, MS_OPT_CHANNEL_PORT);
	long v = p != NULL ? strtol(p, NULL, 10) : 0;

	return v > 0 && v < 65536 ? (unsigned)v : lmtp ? 225 : 25;
}

/* A host name, or the address of a domain literal ([192.0.2.1], [IPv6:...]). */
static void add_host_or_literal(struct hosts *h, const char *domain)
{
	size_t len = strlen(domain);

	if (domain[0] == '[' && len > 2 && domain[len - 1] == ']') {
		char *lit = ms_xstrndup(domain + 1, len - 2);

		hosts_add(h, strncasecmp(lit, "IPv6:", 5) == 0 ? lit + 5 : lit, 0);
		free(lit);
	} else {
		hosts_add(h, domain, 0);
	}
}

/* The hosts to try for a group; 0, or -1 with the group's results set. */
static int next_hops(struct mta_job *j, struct mta_msg *m, const struct group *g, bool lmtp,
                     struct hosts *h)
{
	const char *daemon = mta_channel_get(j->channels, j->ch, MS_OPT_CHANNEL_DAEMON);
	int rc = 0;

	if (daemon != NULL && *daemon != '\0' && strcmp(daemon, "1") != 0) {
		hosts_add(h, daemon, 0);
		return 0;
	}
	if (g->direct) {
		add_host_or_literal(h, g->domain);
		return 0;
	}
	if (!lmtp && !mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_NOMX) &&
	    g->domain[0] != '[')
		rc = mx_lookup(g->domain, h);
	if (rc == 1) {
		fail_group(m, g, 5, "5.1.2", NULL,
		           "Illegal host/domain name found (no such domain)");
		return -1;
	}
	if (rc < 0) {
		fail_group(m, g, 4, "4.4.3", NULL,
		           "DNS lookup of the MX records failed (try again)");
		return -1;
	}
	if (h->n == 0)
		add_host_or_literal(h, g->domain);
	return 0;
}

static void add_action(struct mta_msg *m, char c)
{
	size_t len = strlen(m->action);

	if (strchr(m->action, c) == NULL && len + 1 < sizeof(m->action)) {
		m->action[len] = c;
		m->action[len + 1] = '\0';
	}
}

/* An outbound connection record (mta_log.h): "- O" once connected, "- C"
 * before the close, application SMTP/initial-host/host (LMTP/...). */
static void log_conn(struct mta_job *j, const struct conn *c, const char *action,
                     const char *initial, const char *diag, long secs)
{
	struct sockaddr_storage ls, rs;
	socklen_t llen = sizeof(ls), rlen = sizeof(rs);
	char lip[64], rip[64];
	unsigned lport, rport;
	struct mta_connrec r = {0};
	char *tr, *app;

	if (!mta_log_connection_wanted(j->conf, action))
		return;
	memset(&ls, 0, sizeof(ls));
	memset(&rs, 0, sizeof(rs));
	if (getsockname(c->fd, (struct sockaddr *)&ls, &llen) < 0)
		ls.ss_family = AF_UNSPEC;
	if (getpeername(c->fd, (struct sockaddr *)&rs, &rlen) < 0)
		rs.ss_family = AF_UNSPEC;
	lport = ms_sockaddr_text(&ls, lip, sizeof(lip));
	rport = ms_sockaddr_text(&rs, rip, sizeof(rip));
	tr = ms_xasprintf("TCP|%s|%u|%s|%u", lip, lport, rip, rport);
	app = ms_xasprintf("%s/%s/%s", c->lmtp ? "LMTP" : "SMTP", initial, c->host);
	r.channel = j->channel;
	r.dir = '-';
	r.action = action;
	r.transport = tr;
	r.app = app;
	r.diag = diag;
	r.secs = secs;
	mta_log_connection(j->conf, j->channels, &r);
	free(tr);
	free(app);
}

static void deliver_group(struct mta_job *j, struct mta_msg *m, const struct group *g, bool lmtp)
{
	struct hosts h = {{0}, {0}, 0};
	struct ms_buf why, text;
	unsigned port = channel_port(j, lmtp);
	size_t i;
	int code = 0;
	time_t opened = 0;

	ms_buf_init(&why);
	ms_buf_init(&text);
	if (next_hops(j, m, g, lmtp, &h) < 0)
		goto out;
	for (i = 0; i < h.n; i++) {
		struct conn c;
		int rc = -1, try;

		for (try = 0; try < 2 && rc < 0; try++) {
			memset(&c, 0, sizeof(c));
			c.fd = -1;
			c.lmtp = lmtp;
			c.no_tls = try > 0;
			if (connect_host(&c, h.name[i], port, &why) < 0)
				break;
			opened = time(NULL);
			log_conn(j, &c, "O", g->domain, NULL, -1);
			rc = open_session(j, &c, &code, &text, &why);
			if (rc == -2)
				ms_log_notice(
				    "%s: STARTTLS with %s failed (%s): trying without TLS",
				    j->channel, h.name[i], why.data);
			if (rc < 0) {
				log_conn(j, &c, "C", g->domain, why.data,
				         (long)(time(NULL) - opened));
				conn_close(&c);
			}
			if (rc == -1)
				break;
		}
		if (rc < 0)
			continue;
		if (transaction(&c, m, g) < 0) {
			ms_buf_setf(&why, "lost connection to %s during the transaction",
			            h.name[i]);
			code = 0;
			fail_group(m, g, 4, "4.4.2", h.name[i], why.data);
		} else {
			(void)command(&c, "QUIT\r\n", &code, &text);
		}
		if (lmtp || c.esmtp)
			add_action(m, lmtp ? 'L' : 'E');
		if (c.ssl != NULL)
			add_action(m, 'S');
		if (c.pipelining)
			add_action(m, 'Q');
		log_conn(j, &c, "C", g->domain, NULL, (long)(time(NULL) - opened));
		conn_close(&c);
		goto out;
	}
	/* No host took the message: the last reason for everyone, retried
	 * (a 5xx greeting may come from an overloaded or misconfigured MX). */
	fail_group(m, g, 4, "4.4.1", NULL, why.len > 0 ? why.data : "no host to connect to");
out:
	hosts_free(&h);
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
}

static bool has_daemon(struct mta_job *j)
{
	const char *daemon = mta_channel_get(j->channels, j->ch, MS_OPT_CHANNEL_DAEMON);

	return daemon != NULL && *daemon != '\0' && strcmp(daemon, "1") != 0;
}

/* The mailHost of the address's user, or NULL. */
static char *mailhost_of(struct mta_job *j, const char *addr)
{
	struct ms_directory *dir;
	struct ms_directory_user *u = NULL;
	struct ms_buf why;
	char *host = NULL;

	ms_buf_init(&why);
	dir = mta_job_directory(j, &why);
	if (dir != NULL && ms_directory_user_by_address(dir, addr, &u, &why) == MS_E_NONE &&
	    u->mailhost != NULL && *u->mailhost != '\0')
		host = ms_xstrdup(u->mailhost);
	ms_directory_user_unref(&u);
	ms_buf_deinit(&why);
	return host;
}

/*
 * Where one recipient goes and how RCPT names it: the smart host (hop "");
 * the first host of a source route "@host[.lmtp],...:user@domain" (the
 * form the LMTP recipes route with; dequeue_removeroute sends only
 * user@domain); for LMTP the user's mailHost, else the domain; for SMTP
 * the domain (MX).
 */
static void hop_of(struct mta_job *j, const char *addr, bool lmtp, char **hop_r, char **to_r,
                   bool *direct_r)
{
	const char *at = strrchr(addr, '@');

	*direct_r = false;
	*to_r = ms_xstrdup(addr);
	if (addr[0] == '@' && strchr(addr, ':') != NULL) {
		size_t len = strcspn(addr + 1, ",:");

		*hop_r = ms_xstrndup(addr + 1, len);
		if (len > 5 && strcasecmp(*hop_r + len - 5, ".lmtp") == 0)
			(*hop_r)[len - 5] = '\0';
		*direct_r = true;
		if (mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_DEQUEUE_REMOVEROUTE)) {
			free(*to_r);
			*to_r = ms_xstrdup(strchr(addr, ':') + 1);
		}
		if (!has_daemon(j))
			return;
		free(*hop_r);
	}
	if (has_daemon(j)) {
		*hop_r = ms_xstrdup("");
		*direct_r = false;
		return;
	}
	if (lmtp) {
		*hop_r = mailhost_of(j, addr);
		*direct_r = true;
		if (*hop_r != NULL)
			return;
	}
	*hop_r = ms_xstrdup(at != NULL ? at + 1 : "localhost");
}

/* Group the recipients by next hop (one group with a smart host). */
static size_t make_groups(struct mta_job *j, struct mta_msg *m, bool lmtp, struct group **g_r)
{
	struct group *g = ms_xcalloc(m->env->nrcpts > 0 ? m->env->nrcpts : 1, sizeof(*g));
	size_t ng = 0, i, k;

	for (i = 0; i < m->env->nrcpts; i++) {
		char *hop, *to;
		bool direct;

		hop_of(j, m->env->rcpts[i].addr, lmtp, &hop, &to, &direct);
		for (k = 0; k < ng; k++)
			if (strcasecmp(g[k].domain, hop) == 0 && g[k].direct == direct)
				break;
		if (k == ng) {
			g[ng].domain = hop;
			g[ng++].direct = direct;
		} else {
			free(hop);
		}
		g[k].idx = ms_xrealloc(g[k].idx, (g[k].n + 1) * sizeof(size_t));
		g[k].to = ms_xrealloc(g[k].to, (g[k].n + 1) * sizeof(char *));
		g[k].idx[g[k].n] = i;
		g[k].to[g[k].n++] = to;
	}
	*g_r = g;
	return ng;
}

void mta_deliver_smtp(struct mta_job *j, struct mta_msg *m, bool lmtp)
{
	struct group *g;
	size_t ng = make_groups(j, m, lmtp, &g), k, i;

	for (k = 0; k < ng; k++) {
		deliver_group(j, m, &g[k], lmtp);
		for (i = 0; i < g[k].n; i++)
			free(g[k].to[i]);
		free(g[k].to);
		free(g[k].idx);
		free(g[k].domain);
	}
	free(g);
	for (i = 0; i < m->env->nrcpts; i++)
		if (m->res[i].cls == 0)
			mta_result_set(&m->res[i], 4, "4.4.2", NULL, "no reply for this recipient");
}
