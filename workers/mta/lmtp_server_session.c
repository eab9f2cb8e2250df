/*
 * lmtp_server_session: one LMTP client connection (lmtp_server.h): the
 * reader of command lines and message bytes, the replies, the session's
 * life.
 *
 * DATA (RFC 5321 4.5.2): the bytes are read as they come and unstuffed
 * on the fly (a '.' that starts a line is dropped; "." alone on a line
 * ends the message, and the CRLF before it belongs to the message), then
 * written to a store stage, so a message never has to fit in memory.  The
 * end-of-data scan looks only at buffered input (ms_conn_peek) and
 * consumes exactly the message, so commands pipelined after the final
 * "." stay in the buffer for the command reader.  BDAT (RFC 3030) chunks
 * are counted bytes, written as they are.  A connection that ends before
 * the end of the message delivers nothing: the stage is removed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/version.h>

#include "lmtp_server.h"
#include "mta_access.h"
#include "mta_mapping.h"

/* Bytes of message gathered before they go to the stage. */
#define OUT_FLUSH 65536
/* Bytes of input looked at in one step of the DATA reader. */
#define PEEK_MAX 65536
/* Replies queued before commands are no longer read. */
#define OUTPUT_MAX (256 * 1024)

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

void lmtp_write(struct lmtp_session *s, const void *data, size_t len)
{
	if (s->conn == NULL)
		return;
	ms_conn_write(s->conn, data, len);
	s->bytes_out += len;
}

void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ms_buf_puts(&b, "\r\n");
	lmtp_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

/* "ADDR" and "PORT" of a socket address (IPv4-mapped IPv6 as IPv4). */
static void addr_text(const struct sockaddr_storage *ss, char *addr, size_t asize, char *port,
                      size_t psize)
{
	snprintf(port, psize, "%u", ms_sockaddr_text(ss, addr, asize));
}

static void names(struct lmtp_session *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	(void)getpeername(fd, (struct sockaddr *)&ss, &len);
	addr_text(&ss, s->client, sizeof(s->client), s->client_port, sizeof(s->client_port));
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	(void)getsockname(fd, (struct sockaddr *)&ss, &len);
	addr_text(&ss, s->server, sizeof(s->server), s->server_port, sizeof(s->server_port));
	snprintf(s->peer, sizeof(s->peer), "[%s:%s]", s->client, s->client_port);
}

/*
 * PORT_ACCESS at connect (the backendLMTP recipe lists the front ends
 * there): 0 go on, -1 refused (the reply is queued and the session
 * closing).  "$N421$ text" gives a 421, anything else 554.
 */
static int port_access(struct lmtp_session *s)
{
	struct mta_access_conn c = {s->server, s->server_port, s->client, s->client_port};
	struct mta_mapping_result r;
	struct mta_access_verdict v;
	struct ms_buf probe, why;
	int rc = 0;

	if (s->srv->maps == NULL || !mta_mapping_set_has(s->srv->maps, "PORT_ACCESS"))
		return 0;
	ms_buf_init(&probe);
	ms_buf_init(&why);
	mta_mapping_result_init(&r);
	mta_access_probe_port(&c, &probe);
	if (mta_mapping_apply(s->srv->maps, "PORT_ACCESS", probe.data, 0, NULL, &r, &why) < 0) {
		ms_log_error("%s PORT_ACCESS: mapping error: %s", s->peer, why.data);
		lmtp_reply(s, "421 4.3.0 Temporary configuration error, try again later");
		rc = -1;
	} else {
		mta_access_verdict_read(&r, &v);
		if (v.decision == MTA_ACCESS_REJECT) {
			const char *n = mta_access_arg(&v, 'N');
			int code = 554;
			if (n != NULL && strlen(n) >= 3 && (n[0] == '4' || n[0] == '5') &&
			    (n[3] == ' ' || n[3] == '\0')) {
				code = atoi(n);
				n = n[3] == ' ' ? n + 4 : n + 3;
			}
			ms_log_notice("%s PORT_ACCESS refused %s: %s", s->peer, probe.data,
			              n != NULL ? n : "");
			lmtp_reply(s, "%d %s %s", code, code / 100 == 4 ? "4.7.0" : "5.7.1",
			           n != NULL && *n != '\0' ? n : "Connection refused");
			rc = -1;
		}
		mta_access_verdict_deinit(&v);
	}
	mta_mapping_result_deinit(&r);
	ms_buf_deinit(&probe);
	ms_buf_deinit(&why);
	if (rc < 0)
		lmtp_session_quit(s);
	return rc;
}

static void greet(struct lmtp_session *s)
{
	const char *host = ms_conf_str(s->srv->conf, MS_OPT_BASE_HOSTNAME);

	if (host == NULL || *host == '\0')
		host = s->srv->hostname;
	lmtp_reply(s, "220 %s -- Server LMTP (" MS_PRODUCT_NAME " " MS_VERSION ")", host);
}

void lmtp_session_start(struct lmtp_server *srv, int fd, bool tls)
{
	struct ms_buf why;
	struct lmtp_session *s = ms_xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->next_id;
	s->start_ms = (long long)ms_loop_now_ms(srv->loop);
	s->connect_time = (long long)time(NULL);
	ms_buf_init(&s->line);
	ms_buf_init(&s->stage_why);
	ms_buf_init(&s->header);
	ms_buf_init(&s->out);
	names(s, fd);
	s->conn = ms_conn_new(srv->loop, fd, on_conn, s);
	ms_conn_set_timeouts(s->conn, srv->idle_ms, srv->idle_ms);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	lmtp_server_report(srv);
	ms_log_debug("connect %s session %lu", s->peer, s->id);
	if (port_access(s) < 0)
		return;
	if (!tls) {
		greet(s);
		return;
	}
	ms_buf_init(&why);
	if (srv->tls == NULL) /* the certificate went away with a refresh */
		ms_buf_setf(&why, "no server certificate (base.sslcertfile)");
	if (srv->tls == NULL ||
	    ms_conn_start_tls(s->conn, srv->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s TLS: %s", s->peer, why.data);
		ms_buf_deinit(&why);
		lmtp_session_free(s);
		return;
	}
	ms_buf_deinit(&why);
	s->tls_pending = true; /* the greeting follows the handshake */
}

/* The message in progress is abandoned (its stage file removed). */
static void message_abort(struct lmtp_session *s)
{
	store_stage_free(&s->stage);
	ms_buf_reset(&s->out);
	ms_buf_reset(&s->header);
	ms_buf_reset(&s->stage_why);
	s->msg_bytes = 0;
	s->bdat_left = 0;
	s->bdat_last = false;
	s->too_big = false;
	s->stage_failed = false;
	s->chunking = false;
	s->dot = LMTP_DOT_BOL;
}

void lmtp_session_reset(struct lmtp_session *s)
{
	message_abort(s);
	for (size_t i = 0; i < s->nrcpts; i++)
		lmtp_rcpt_deinit(&s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->from);
	s->from = NULL;
	s->uid_ret = false;
	if (s->state != LMTP_STATE_GREET && s->state != LMTP_STATE_QUIT)
		s->state = LMTP_STATE_READY;
}

static void log_close(struct lmtp_session *s)
{
	long long dur = ((long long)ms_loop_now_ms(s->srv->loop) - s->start_ms) / 1000;

	ms_log_notice("close %s %s %lld:%02lld:%02lld %llu %llu messages %lu delivered %lu",
	              s->peer, s->helo != NULL ? s->helo : "[no LHLO]", dur / 3600, dur / 60 % 60,
	              dur % 60, (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	              s->messages, s->delivered);
}

void lmtp_session_free(struct lmtp_session *s)
{
	struct lmtp_server *srv = s->srv;

	if (s->req != NULL)
		ms_directory_cancel(s->req);
	if (s->state == LMTP_STATE_DATA || s->state == LMTP_STATE_BDAT || s->chunking)
		ms_log_notice("%s connection ended in the middle of a message: nothing delivered",
		              s->peer);
	log_close(s);
	lmtp_session_reset(s);
	lmtp_lookup_deinit(&s->look);
	ms_conn_free(&s->conn);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsessions--;
	lmtp_server_report(srv);
	free(s->helo);
	free(s->bdat_refusal);
	ms_buf_deinit(&s->line);
	ms_buf_deinit(&s->stage_why);
	ms_buf_deinit(&s->header);
	ms_buf_deinit(&s->out);
	free(s);
	lmtp_server_session_gone(srv);
}

void lmtp_session_quit(struct lmtp_session *s)
{
	s->state = LMTP_STATE_QUIT;
	ms_conn_close_after_flush(s->conn);
}

void lmtp_session_drain(struct lmtp_session *s)
{
	if (s->state == LMTP_STATE_QUIT)
		return;
	if (s->waiting || s->state == LMTP_STATE_DATA || s->state == LMTP_STATE_BDAT) {
		s->quit_after = true; /* answer what is under way first */
		return;
	}
	lmtp_reply(s, "421 4.3.2 Server shutting down");
	lmtp_session_quit(s);
}

int lmtp_session_begin_message(struct lmtp_session *s, struct ms_buf *reply)
{
	message_abort(s);
	if (store_stage_new(s->srv->store, NULL, &s->stage, &s->stage_why) < 0) {
		const struct ms_error_info *e = ms_error_info(store_errcode(s->srv->store));
		ms_log_error("%s cannot start a message in the store: %s", s->peer,
		             s->stage_why.data);
		ms_buf_setf(reply, "%d %s Cannot store the message now, try again later",
		            e->smtp_reply / 100 == 4 ? e->smtp_reply : 451,
		            e->smtp_status[0] == '4' ? e->smtp_status : "4.3.0");
		return -1;
	}
	return 0;
}

/* Move the gathered bytes to the stage (once it failed, drop them). */
static void out_flush(struct lmtp_session *s)
{
	if (s->out.len > 0 && !s->stage_failed && !s->too_big && s->stage != NULL &&
	    store_stage_write(s->stage, s->out.data, s->out.len, &s->stage_why) < 0) {
		s->stage_failed = true;
		s->stage_err = store_errcode(s->srv->store);
		ms_log_error("%s cannot write the message to the store: %s", s->peer,
		             s->stage_why.data);
	}
	ms_buf_reset(&s->out);
}

/* Bytes of the message itself (after unstuffing). */
static void message_bytes(struct lmtp_session *s, const char *p, size_t n)
{
	uint64_t max = lmtp_server_max_size(s->srv);

	if (n == 0)
		return;
	if (s->header.len < LMTP_HEADER_KEEP) {
		size_t k = LMTP_HEADER_KEEP - s->header.len;
		ms_buf_append(&s->header, p, n < k ? n : k);
	}
	s->msg_bytes += n;
	if (max > 0 && s->msg_bytes > max && !s->too_big) {
		s->too_big = true;
		ms_buf_reset(&s->out);
	}
	if (s->too_big || s->stage_failed)
		return;
	ms_buf_append(&s->out, p, n);
	if (s->out.len >= OUT_FLUSH)
		out_flush(s);
}

/* The message has ended: deliver, then read commands again. */
static void message_end(struct lmtp_session *s)
{
	out_flush(s);
	if (!s->stage_failed && !s->too_big && store_stage_finish(s->stage, &s->stage_why) < 0) {
		s->stage_failed = true;
		s->stage_err = store_errcode(s->srv->store);
		ms_log_error("%s cannot fsync the message: %s", s->peer, s->stage_why.data);
	}
	lmtp_deliver_message(s);
}

/*
 * Run the dot-stuffing grammar over p[0..n), passing the message bytes
 * to message_bytes in runs.  Returns how many bytes were used: all n, or
 * up to and including the LF of the final "." line, with *end_r set.  A
 * ".\r" at the end of p is held in the state (its CR is passed on only
 * if the next byte shows it is text).
 */
static size_t unstuff(struct lmtp_session *s, const char *p, size_t n, bool *end_r)
{
	size_t run = 0; /* start of the message bytes not yet passed on */

	*end_r = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		switch (s->dot) {
		case LMTP_DOT_BOL:
			if (c == '.') {
				message_bytes(s, p + run, i - run);
				run = i + 1; /* the leading dot is never message text */
				s->dot = LMTP_DOT_DOT;
			} else {
				s->dot = c == '\n' ? LMTP_DOT_BOL : LMTP_DOT_TEXT;
			}
			break;
		case LMTP_DOT_TEXT:
			if (c == '\n')
				s->dot = LMTP_DOT_BOL;
			break;
		case LMTP_DOT_DOT:
			if (c == '\n') { /* ".\n": a lenient end of data */
				*end_r = true;
				return i + 1;
			}
			s->dot = c == '\r' ? LMTP_DOT_DOTCR : LMTP_DOT_TEXT;
			break;
		case LMTP_DOT_DOTCR:
			if (c == '\n') {
				*end_r = true;
				return i + 1;
			}
			/* ".\r" then text: the CR is text.  It is at p[run] when
			 * it came in this input, else it was held: pass it now. */
			if (run == i)
				message_bytes(s, "\r", 1);
			s->dot = LMTP_DOT_TEXT;
			break;
		}
	}
	if (s->dot != LMTP_DOT_DOTCR)
		message_bytes(s, p + run, n - run);
	return n;
}

/* DATA: MS_OK when some input was used, MS_AGAIN when none is there. */
static int read_data(struct lmtp_session *s)
{
	char buf[PEEK_MAX];
	size_t n = ms_conn_peek(s->conn, buf, sizeof(buf)), used;
	bool end;

	if (n == 0)
		return MS_AGAIN;
	used = unstuff(s, buf, n, &end);
	ms_conn_drain(s->conn, used);
	s->bytes_in += used;
	if (end)
		message_end(s);
	return MS_OK;
}

/* BDAT: the chunk's bytes as they are. */
static int read_bdat(struct lmtp_session *s)
{
	char buf[PEEK_MAX];
	size_t want = s->bdat_left < sizeof(buf) ? (size_t)s->bdat_left : sizeof(buf);
	size_t n = want > 0 ? ms_conn_peek(s->conn, buf, want) : 0;

	if (want > 0 && n == 0)
		return MS_AGAIN;
	ms_conn_drain(s->conn, n);
	s->bytes_in += n;
	s->bdat_left -= n;
	if (s->bdat_refusal == NULL)
		message_bytes(s, buf, n);
	if (s->bdat_left > 0)
		return MS_OK;
	if (s->bdat_refusal != NULL) { /* a chunk read only to be refused */
		lmtp_reply(s, "%s", s->bdat_refusal);
		free(s->bdat_refusal);
		s->bdat_refusal = NULL;
		s->state = s->from != NULL ? LMTP_STATE_MAIL : LMTP_STATE_READY;
		if (s->helo == NULL)
			s->state = LMTP_STATE_GREET;
		return MS_OK;
	}
	if (s->bdat_last) {
		message_end(s);
		return MS_OK;
	}
	s->state = LMTP_STATE_MAIL;
	lmtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->msg_bytes);
	return MS_OK;
}

void lmtp_session_input(struct lmtp_session *s)
{
	if (s->in_input)
		return;
	s->in_input = true;
	while (s->conn != NULL && !s->waiting && !s->tls_pending && s->state != LMTP_STATE_QUIT) {
		if (s->state == LMTP_STATE_DATA) {
			if (read_data(s) == MS_AGAIN)
				break;
			continue;
		}
		if (s->state == LMTP_STATE_BDAT) {
			if (read_bdat(s) == MS_AGAIN)
				break;
			continue;
		}
		if (ms_conn_output_len(s->conn) > OUTPUT_MAX) {
			/* A client that sends and never reads: stop reading it
			 * (its input then backs up in the kernel) until the
			 * replies have gone out. */
			ms_conn_set_low_water(s->conn, OUTPUT_MAX / 2);
			break;
		}
		if (s->quit_after) { /* draining, and the last answer is given */
			lmtp_reply(s, "421 4.3.2 Server shutting down");
			lmtp_session_quit(s);
			break;
		}
		int r = ms_conn_read_line(s->conn, &s->line, LMTP_LINE_MAX);
		if (r == MS_AGAIN)
			break;
		if (r != MS_OK) {
			s->bytes_in += LMTP_LINE_MAX;
			lmtp_reply(s, "500 5.5.2 Line too long");
			continue;
		}
		s->bytes_in += s->line.len + 2;
		if (ms_conn_input_len(s->conn) > 0)
			s->pipelined = true;
		lmtp_cmd_dispatch(s, s->line.data, s->line.len);
	}
	s->in_input = false;
}

void lmtp_session_resume(struct lmtp_session *s)
{
	if (!s->in_input)
		lmtp_session_input(s);
}

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct lmtp_session *s = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_TLS_READY:
		s->tls_pending = false;
		s->tls = true;
		ms_log_info("%s TLS %s", s->peer, ms_conn_tls_info(s->conn));
		if (s->bytes_out == 0)
			greet(s); /* implicit TLS: greet now */
		lmtp_session_input(s);
		break;
	case MS_CONN_DATA:
		lmtp_session_input(s);
		break;
	case MS_CONN_TIMEOUT:
		if (s->state == LMTP_STATE_QUIT) {
			lmtp_session_free(s);
			break;
		}
		ms_log_notice("%s idle timeout", s->peer);
		lmtp_reply(s, "421 4.4.2 Idle timeout, closing connection");
		lmtp_session_quit(s);
		break;
	case MS_CONN_LOW_WATER:
		lmtp_session_input(s);
		break;
	case MS_CONN_CONNECTED:
		break;
	case MS_CONN_ERROR:
		ms_log_debug("%s connection error: %s", s->peer, ms_conn_error(s->conn));
		lmtp_session_free(s);
		break;
	case MS_CONN_EOF:
		lmtp_session_free(s);
		break;
	}
}
