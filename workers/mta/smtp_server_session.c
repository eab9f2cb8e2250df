/*
 * smtp_server_session: one SMTP connection (smtp_server.h).
 *
 * Reader: command lines are read under SMTP_LINE_MAX (a longer line is
 * answered 500 5.5.2 and skipped); the command table runs each one.  A
 * command that waits for the directory (RCPT, AUTH) or for a TLS
 * handshake sets SMTP_STATE_BUSY: pipelined input stays buffered and is
 * read, in order, when the answer has been sent (RFC 2920: replies in
 * command order).  The connection is freed only from its own event
 * callback (EOF, error, or the end of a close-after-flush) or, after the
 * client's EOF, once the input it left has been answered; that is where a
 * message being received is dropped, so a client that disconnects in the
 * middle of DATA leaves nothing in the queue.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/version.h>

#include "mta_access.h"
#include "mta_channel.h"
#include "mta_log.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"
#include "smtp_server.h"

static void addr_of(const struct sockaddr_storage *ss, char *ip, size_t ipsize, char *port,
		    size_t portsize)
{
	snprintf(port, portsize, "%u", ms_sockaddr_text(ss, ip, ipsize));
}

static void find_addresses(struct smtp_session *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	addr_of(&ss, s->client_ip, sizeof(s->client_ip), s->client_port, sizeof(s->client_port));
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	addr_of(&ss, s->server_ip, sizeof(s->server_ip), s->server_port, sizeof(s->server_port));
	snprintf(s->peer, sizeof(s->peer), "[%s:%s]", s->client_ip, s->client_port);
}

void smtp_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	ms_buf_printf(&b, "%d ", code);
	if (esc != NULL)
		ms_buf_printf(&b, "%s ", esc);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ms_buf_puts(&b, "\r\n");
	ms_conn_write(s->conn, b.data, b.len);
	if (code >= 400 && code != 421) /* protocol errors and refusals */
		ms_log_notice("%s reply: %.*s", s->peer, (int)(b.len - 2), b.data);
	ms_buf_deinit(&b);
}

void smtp_session_close(struct smtp_session *s, const char *esc, const char *text)
{
	s->end_why = text;
	smtp_reply(s, 421, esc, "%s %s", s->snap->hostname, text);
	s->state = SMTP_STATE_CLOSING;
	ms_conn_close_after_flush(s->conn);
}

void smtp_session_log_conn(struct smtp_session *s, const char *channel, const char *action,
			   const char *user, const char *diag, long secs)
{
	struct mta_connrec r = {0};
	char *tr;

	if (channel == NULL || !mta_log_connection_wanted(s->snap->conf, action))
		return;
	tr = ms_xasprintf("TCP|%s|%s|%s|%s", s->server_ip, s->server_port, s->client_ip,
			  s->client_port);
	r.channel = channel;
	r.dir = '+';
	r.action = action;
	r.transport = tr;
	r.app = s->app_info != NULL ? s->app_info : "SMTP";
	r.user = user != NULL ? user : s->auth_user;
	r.diag = diag;
	r.secs = secs;
	mta_log_connection(s->snap->conf, s->snap->channels, &r);
	free(tr);
}

bool smtp_session_flag(const struct smtp_session *s, int opt)
{
	return mta_channel_flag(s->snap->channels, s->channel, (enum ms_opt)opt);
}

bool smtp_session_switch_channel(struct smtp_session *s, const char *name, const char *why)
{
	const struct mta_channel *ch = mta_channel_find(s->snap->channels, name);

	if (ch == NULL) {
		ms_log_warning("%s cannot switch to channel %s (%s): no such channel", s->peer, name,
			       why);
		return false;
	}
	if (ch != s->channel)
		ms_log_info("%s source channel %s -> %s (%s)", s->peer, s->channel->name, ch->name,
			    why);
	s->channel = ch;
	return true;
}

uint64_t smtp_session_max_size(const struct smtp_session *s)
{
	uint64_t best = 0;
	const enum ms_opt opts[] = {MS_OPT_CHANNEL_BLOCKLIMIT, MS_OPT_CHANNEL_SOURCEBLOCKLIMIT};

	for (size_t i = 0; i < 2; i++) {
		const char *v = mta_channel_get(s->snap->channels, s->channel, opts[i]);
		unsigned long long blocks = v != NULL ? strtoull(v, NULL, 10) : 0;
		uint64_t bytes = (uint64_t)blocks * s->snap->block_size;
		if (blocks > 0 && (best == 0 || bytes < best))
			best = bytes;
	}
	return best;
}

size_t smtp_session_max_rcpts(const struct smtp_session *s)
{
	const char *v;
	unsigned long long n;

	if (s->snap->max_rcpts > 0)
		return s->snap->max_rcpts;
	v = mta_channel_get(s->snap->channels, s->channel, MS_OPT_CHANNEL_RECIPIENTLIMIT);
	n = v != NULL ? strtoull(v, NULL, 10) : 0;
	return n > 0 ? (size_t)n : SMTP_DEFAULT_MAX_RCPTS;
}

int smtp_session_access(struct smtp_session *s, const char *table, const char *probe,
			struct ms_buf *esc, struct ms_buf *text)
{
	struct mta_mapping_result r;
	struct mta_access_verdict v;
	int rc = 0;

	if (!mta_mapping_set_has(s->snap->maps, table))
		return 0;
	mta_mapping_result_init(&r);
	ms_buf_reset(text);
	if (mta_mapping_apply(s->snap->maps, table, probe, 0, NULL, &r, text) < 0) {
		ms_log_error("%s %s: mapping error: %s", s->peer, table, text->data);
		mta_mapping_result_deinit(&r);
		return -1;
	}
	mta_access_verdict_read(&r, &v);
	if (v.decision == MTA_ACCESS_REJECT) {
		const char *x = mta_access_arg(&v, 'X');
		const char *n = mta_access_arg(&v, 'N');
		ms_buf_setf(esc, "%s", x != NULL && *x != '\0' ? x : "5.7.1");
		ms_buf_setf(text, "%s", n != NULL && *n != '\0' ? n : "Access denied");
		ms_log_notice("%s %s refused '%s': %s", s->peer, table, probe, text->data);
		rc = 1;
	}
	mta_access_verdict_deinit(&v);
	mta_mapping_result_deinit(&r);
	return rc;
}

/* PORT_ACCESS at connect: 0 go on, -1 the session was closed. */
static int port_access(struct smtp_session *s)
{
	struct mta_access_conn c = {s->server_ip, s->server_port, s->client_ip, s->client_port};
	struct mta_mapping_result r;
	struct mta_access_verdict v;
	struct ms_buf probe, why;
	int rc = 0;

	ms_buf_init(&probe);
	ms_buf_init(&why);
	mta_mapping_result_init(&r);
	mta_access_probe_port(&c, &probe);
	s->app_info = ms_xstrdup("SMTP");
	if (!mta_mapping_set_has(s->snap->maps, "PORT_ACCESS")) {
		/* nothing to check */
	} else if (mta_mapping_apply(s->snap->maps, "PORT_ACCESS", probe.data, 0, NULL, &r,
				     &why) < 0) {
		ms_log_error("%s PORT_ACCESS: mapping error: %s", s->peer, why.data);
		smtp_session_close(s, "4.3.0", "Temporary configuration error, try again later");
		rc = -1;
	} else {
		mta_access_verdict_read(&r, &v);
		if (v.decision == MTA_ACCESS_REJECT) {
			const char *n = mta_access_arg(&v, 'N');
			const char *x = mta_access_arg(&v, 'X');
			int code = 554;
			/* "$N421$ Connection$ declined": the text may start with the code. */
			if (n != NULL && strlen(n) >= 3 && n[0] >= '4' && n[0] <= '5' &&
			    (n[3] == ' ' || n[3] == '\0')) {
				code = atoi(n);
				n = n[3] == ' ' ? n + 4 : n + 3;
			}
			ms_log_notice("%s PORT_ACCESS refused %s: %s", s->peer, probe.data,
				      n ? n : "");
			smtp_session_log_conn(s, s->channel->name, "X", NULL,
					      n != NULL && *n != '\0' ? n : "Connection refused", -1);
			smtp_reply(s, code, x ? x : code == 421 ? "4.7.0" : "5.7.1", "%s",
				   n != NULL && *n != '\0' ? n : "Connection refused");
			s->state = SMTP_STATE_CLOSING;
			ms_conn_close_after_flush(s->conn);
			rc = -1;
		} else if (r.matched && r.out.len > 0) {
			free(s->app_info);
			s->app_info = ms_xasprintf("SMTP/%s", r.out.data);
		}
		mta_access_verdict_deinit(&v);
	}
	mta_mapping_result_deinit(&r);
	ms_buf_deinit(&probe);
	ms_buf_deinit(&why);
	return rc;
}

/* switchchannel: an internal client's IP literal, rewritten as a backward
 * envelope address, may select another source channel (docs/mta.md). */
static void switch_by_address(struct smtp_session *s)
{
	struct mta_rewrite_ctx ctx = {0};
	struct mta_rewrite_result r;
	struct ms_buf why;
	char *addr;

	if (!smtp_session_flag(s, MS_OPT_CHANNEL_SWITCHCHANNEL))
		return;
	addr = strchr(s->client_ip, ':') != NULL
		       ? ms_xasprintf("postmaster@[IPv6:%s]", s->client_ip)
		       : ms_xasprintf("postmaster@[%s]", s->client_ip);
	ctx.backward = true;
	ctx.source_channel = s->channel->name;
	ctx.size_blocks = -1;
	ms_buf_init(&why);
	memset(&r, 0, sizeof(r));
	if (mta_rewrite_address(s->snap->rw, addr, &ctx, &r, &why) == 0 && r.channel != NULL &&
	    r.channel != s->channel &&
	    mta_channel_flag(s->snap->channels, r.channel, MS_OPT_CHANNEL_ALLOWSWITCHCHANNEL))
		(void)smtp_session_switch_channel(s, r.channel->name, "switchchannel");
	mta_rewrite_result_deinit(&r);
	ms_buf_deinit(&why);
	free(addr);
}

static void greet(struct smtp_session *s)
{
	if (port_access(s) < 0)
		return;
	s->log_channel = s->channel->name;
	smtp_session_log_conn(s, s->log_channel, "O", NULL, NULL, -1);
	switch_by_address(s);
	s->state = SMTP_STATE_CMD;
	smtp_reply(s, 220, NULL, "%s -- Server ESMTP (%s %s)", s->snap->hostname,
		   MS_PRODUCT_NAME, MS_VERSION);
}

void smtp_session_reset(struct smtp_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orig);
		free(s->rcpts[i].orcpt);
		free(s->rcpts[i].channel);
	}
	s->nrcpts = 0;
	s->rcpts_tried = 0;
	free(s->from);
	s->from = NULL;
	free(s->envid);
	s->envid = NULL;
	s->in_mail = false;
	s->ret = MTA_RET_UNSET;
	s->body = MTA_BODY_7BIT;
	s->smtputf8 = false;
	s->declared_size = 0;
	s->used_bdat = false;
	smtp_data_abort(s);
}

/* The diagnostic of the C record: none after QUIT. */
static const char *close_why(struct smtp_session *s)
{
	if (s->end_why != NULL)
		return s->end_why;
	if (s->state == SMTP_STATE_CLOSING)
		return NULL;
	if (*ms_conn_error(s->conn) != '\0')
		return ms_conn_error(s->conn);
	return "Connection closed by the client";
}

static void session_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	long long secs = (long long)((ms_loop_now_ms(srv->loop) - s->start_ms) / 1000);

	if (s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT)
		ms_log_notice("%s connection lost during the message: %s; nothing queued",
			      s->peer, *ms_conn_error(s->conn) ? ms_conn_error(s->conn) : "EOF");
	if (s->req != NULL)
		ms_directory_cancel(s->req);
	s->req = NULL;
	smtp_rcpt_cancel(s);
	smtp_session_reset(s);
	if (s->log_channel != NULL)
		smtp_session_log_conn(s, s->log_channel, "C", NULL, close_why(s), (long)secs);
	ms_log_notice("close %s %s %lld:%02lld:%02lld", s->peer,
		      s->auth_user != NULL ? s->auth_user : "[unauthenticated]", secs / 3600,
		      secs / 60 % 60, secs % 60);
	ms_conn_free(&s->conn);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s->rcpts);
	free(s->helo);
	free(s->app_info);
	free(s->auth_user);
	free(s->auth_login);
	ms_buf_deinit(&s->line);
	smtp_snap_unref(&s->snap);
	free(s);
	srv->nsessions--;
	smtp_server_session_gone(srv);
}

void smtp_session_resume(struct smtp_session *s)
{
	for (;;) {
		int r;
		if (s->srv->draining && s->state == SMTP_STATE_CMD && !s->in_mail) {
			/* stopping: a session between transactions ends now */
			smtp_session_close(s, "4.3.2", "Service shutting down, try again later");
			return;
		}
		switch (s->state) {
		case SMTP_STATE_CMD:
		case SMTP_STATE_AUTH:
			r = ms_conn_read_line(s->conn, &s->line, SMTP_LINE_MAX);
			if (r == MS_AGAIN) {
				if (s->peer_closed)
					session_free(s);
				return;
			}
			if (r == MS_ERROR) {
				smtp_reply(s, 500, "5.5.2", "Line too long");
				if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
					smtp_session_close(s, "4.7.0", "Too many errors");
				s->state = s->state == SMTP_STATE_AUTH ? SMTP_STATE_CMD : s->state;
				continue;
			}
			if (ms_conn_input_len(s->conn) > 0)
				s->used_pipelining = true;
			if (s->state == SMTP_STATE_AUTH)
				smtp_auth_line(s, s->line.data);
			else
				smtp_cmd_run(s, s->line.data);
			break;
		case SMTP_STATE_DATA:
		case SMTP_STATE_BDAT:
			if (smtp_data_input(s) == MS_AGAIN) {
				if (s->peer_closed)
					session_free(s); /* a truncated message: dropped */
				return;
			}
			break;
		case SMTP_STATE_BUSY:
		case SMTP_STATE_CLOSING:
			return;
		}
	}
}

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct smtp_session *s = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_TLS_READY:
		s->tls = true;
		if (s->implicit_tls) {
			s->implicit_tls = false;
			greet(s);
		} else {
			s->state = SMTP_STATE_CMD;
		}
		ms_log_info("%s TLS: %s", s->peer, ms_conn_tls_info(s->conn));
		smtp_session_resume(s);
		break;
	case MS_CONN_DATA:
		smtp_session_resume(s);
		break;
	case MS_CONN_TIMEOUT:
		ms_log_notice("%s timed out%s", s->peer,
			      s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT
				      ? " during the message; nothing queued" : "");
		smtp_data_abort(s);
		if (s->state == SMTP_STATE_CLOSING) {
			session_free(s);
			break;
		}
		smtp_session_close(s, "4.4.2", "Timeout, closing connection");
		break;
	case MS_CONN_LOW_WATER:
	case MS_CONN_CONNECTED:
		break;
	case MS_CONN_EOF:
		/* The client may have sent its last commands and shut its side
		 * (half-close): answer what is buffered, then end. */
		if (s->state == SMTP_STATE_CLOSING) {
			session_free(s);
			break;
		}
		s->peer_closed = true;
		smtp_session_resume(s);
		break;
	case MS_CONN_ERROR:
		session_free(s);
		break;
	}
}

void smtp_session_start(struct smtp_server *srv, int fd, bool tls)
{
	struct smtp_session *s = ms_xcalloc(1, sizeof(*s));
	struct ms_buf why;

	s->srv = srv;
	s->snap = smtp_snap_ref(srv->snap);
	s->id = ++srv->next_id;
	s->start_ms = ms_loop_now_ms(srv->loop);
	ms_buf_init(&s->line);
	find_addresses(s, fd);
	s->conn = ms_conn_new(srv->loop, fd, on_conn, s);
	ms_conn_set_timeouts(s->conn, s->snap->idle_ms, s->snap->idle_ms);
	s->channel = mta_channel_find(s->snap->channels, srv->channel);
	if (s->channel == NULL) /* the channel went away in a refresh */
		s->channel = mta_channel_find(srv->snap->channels, "tcp_local");
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	ms_log_notice("connect %s to %s:%s (%s)", s->peer, s->server_ip, s->server_port,
		      tls ? "SSL" : "plain");
	if (s->channel == NULL) {
		smtp_session_close(s, "4.3.0", "Temporary configuration error");
		return;
	}
	if (!tls) {
		greet(s);
		return;
	}
	ms_buf_init(&why);
	s->implicit_tls = true;
	s->state = SMTP_STATE_BUSY;
	if (srv->tls == NULL || ms_conn_start_tls(s->conn, srv->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s TLS: %s", s->peer, srv->tls == NULL ? "no certificate" : why.data);
		s->state = SMTP_STATE_CLOSING;
		ms_conn_close_after_flush(s->conn);
	}
	ms_buf_deinit(&why);
}

void smtp_session_drain(struct smtp_server *srv)
{
	struct smtp_session *next;

	for (struct smtp_session *s = srv->sessions; s != NULL; s = next) {
		next = s->next; /* resume may end (free) s */
		if (s->state == SMTP_STATE_CMD || s->state == SMTP_STATE_AUTH)
			smtp_session_resume(s);
	}
}

void smtp_session_free_all(struct smtp_server *srv)
{
	while (srv->sessions != NULL)
		session_free(srv->sessions);
}
