/*
 * imap_session: one IMAP client connection: the reader (one command at a
 * time: its lines under IMAP_LINE_MAX, its literals under
 * IMAP_LITERAL_MAX, the "+" continuation for synchronising literals), the
 * dispatcher (tag, command name, table lookup, state check) and the
 * replies.  The handlers are in imap_cmd_*.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/version.h>

#include "imap.h"
#include "server_login.h"
#include "store.h"

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

/* Buffers above this size are freed once a command is done. */
#define IMAP_TRIM_BYTES 16384

void imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (s->conn == NULL)
		return;
	ms_conn_write(s->conn, data, len);
	s->bytes_out += len;
}

void imap_printf(struct imap_session *s, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	imap_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

static void reply(struct imap_session *s, const char *tag, const char *status, const char *fmt,
                  va_list ap)
{
	struct ms_buf b;

	ms_buf_init(&b);
	ms_buf_printf(&b, "%s %s ", tag, status);
	ms_buf_vprintf(&b, fmt, ap);
	ms_buf_puts(&b, "\r\n");
	imap_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

void imap_ok(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, tag, "OK", fmt, ap);
	va_end(ap);
}

void imap_no(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, tag, "NO", fmt, ap);
	va_end(ap);
}

void imap_bad(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, tag, "BAD", fmt, ap);
	va_end(ap);
}

void imap_buf_string(struct ms_buf *b, const char *data, size_t len)
{
	bool plain = len < 1024;

	for (size_t i = 0; plain && i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\0' || c == '\r' || c == '\n' || c == '"' || c == '\\' || c >= 0x80)
			plain = false;
	}
	if (plain) {
		ms_buf_putc(b, '"');
		ms_buf_append(b, data, len);
		ms_buf_putc(b, '"');
	} else {
		ms_buf_printf(b, "{%zu}\r\n", len);
		ms_buf_append(b, data, len);
	}
}

bool imap_plaintext_ok(const struct imap_session *s)
{
	return server_login_plaintext_ok(s->srv->base.conf, MS_OPT_IMAP_PLAINTEXTMINCIPHER,
	                                 s->tls);
}

void imap_capabilities(const struct imap_session *s, struct ms_buf *b)
{
	ms_buf_puts(
	    b, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT QUOTA "
	       "CHILDREN SPECIAL-USE CONDSTORE QRESYNC ACL RIGHTS=texk");
	if (s->state == IMAP_STATE_NOTAUTH || s->state == IMAP_STATE_WAIT) {
		if (s->srv->base.tls != NULL && !s->tls)
			ms_buf_puts(b, " STARTTLS");
		if (imap_plaintext_ok(s))
			ms_buf_puts(b, " AUTH=PLAIN");
		else
			ms_buf_puts(b, " LOGINDISABLED");
	}
}

/* The greeting: imap.banner with %h %p %P %V, or the built-in one. */
static void greet(struct imap_session *s)
{
	const char *banner = ms_conf_str(s->srv->base.conf, MS_OPT_IMAP_BANNER);
	struct ms_buf b, caps;

	ms_buf_init(&b);
	ms_buf_init(&caps);
	imap_capabilities(s, &caps);
	if (banner == NULL || *banner == '\0') {
		ms_buf_puts(&b, MS_PRODUCT_NAME " IMAP4 server ready");
	} else {
		server_login_banner(banner, "IMAP4", &b);
	}
	imap_printf(s, "* OK [CAPABILITY %s] %s\r\n", caps.data, b.data);
	ms_buf_deinit(&b);
	ms_buf_deinit(&caps);
}

void imap_session_start(struct imap_server *srv, int fd, bool implicit_tls)
{
	struct imap_session *s = ms_xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->base.next_id;
	s->start_ms = (long long)ms_loop_now_ms(srv->base.loop);
	s->connect_time = (long long)time(NULL);
	ms_buf_init(&s->cmd);
	ms_buf_init(&s->line);
	server_peer_name(fd, s->client, sizeof(s->client), s->peer, sizeof(s->peer));
	s->conn = server_conn_new(&srv->base, fd, on_conn, s);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->base.nsessions++;
	ms_log_debug("connect %s session %lu", s->peer, s->id);
	if (implicit_tls) {
		if (server_start_tls(&srv->base, s->conn, s->peer) < 0) {
			imap_session_free(s);
			return;
		}
		s->tls_pending = true;
		return; /* the greeting follows the handshake */
	}
	greet(s);
}

void imap_session_free(struct imap_session *s)
{
	struct imap_server *srv = s->srv;

	server_login_cancel(&s->req);
	imap_remote_free(s);
	server_log_close(&srv->base, s->peer, s->userid, s->login_time, s->connect_time,
	                 s->start_ms, s->bytes_in, s->bytes_out);
	imap_notify_untrack(s);
	imap_unselect(s);
	store_user_close(&s->su);
	if (s->quota_loaded)
		store_quota_limits_deinit(&s->quota);
	ms_conn_free(&s->conn);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->base.nsessions--;
	free(s->login);
	free(s->mech);
	free(s->auth_tag);
	free(s->wait_tag);
	free(s->idle_tag);
	free(s->userid);
	for (size_t i = 0; i < s->ngroups; i++)
		free(s->groups[i]);
	free(s->groups);
	ms_buf_deinit(&s->cmd);
	ms_buf_deinit(&s->line);
	free(s);
	server_session_gone(&srv->base);
}

void imap_session_logout(struct imap_session *s)
{
	s->state = IMAP_STATE_LOGOUT;
	ms_conn_close_after_flush(s->conn);
}

static void dispatch(struct imap_session *s)
{
	struct imap_parser ps = {s->cmd.data, s->cmd.data + s->cmd.len};
	struct ms_buf tag, name, word;
	const struct imap_command *c;

	if (imap_remote_command(s))
		return; /* relayed to another store, or held */
	ms_buf_init(&tag);
	ms_buf_init(&name);
	ms_buf_init(&word);
	if (imap_parse_tag(&ps, &tag) < 0) {
		imap_printf(s, "* BAD Invalid tag\r\n");
		goto done;
	}
	if (imap_parse_sp(&ps) < 0 || imap_parse_atom(&ps, &name) < 0) {
		imap_bad(s, tag.data, "Missing command");
		goto done;
	}
	if (strcasecmp(name.data, "UID") == 0) {
		if (imap_parse_sp(&ps) < 0 || imap_parse_atom(&ps, &word) < 0) {
			imap_bad(s, tag.data, "Missing command after UID");
			goto done;
		}
		ms_buf_printf(&name, " %s", word.data);
	}
	for (c = imap_commands; c->name != NULL; c++)
		if (strcasecmp(c->name, name.data) == 0)
			break;
	if (c->name == NULL) {
		imap_bad(s, tag.data, "Unrecognized command");
		goto done;
	}
	if ((c->states & IMAP_IN(s->state)) == 0) {
		imap_bad(s, tag.data, "Command not valid in this state");
		goto done;
	}
	if (s->srv->base.conf != NULL && ms_conf_bool(s->srv->base.conf, MS_OPT_IMAP_LOGCOMMANDS))
		ms_log_info("%s %s command %s", s->peer, s->userid ? s->userid : "-", c->name);
	c->handler(s, tag.data, &ps);
	imap_notify_track(s); /* the relay references this state needs */
done:
	ms_buf_deinit(&tag);
	ms_buf_deinit(&name);
	ms_buf_deinit(&word);
}

/* The tag of the command being assembled, for an answer before its end. */
static void cmd_tag(struct imap_session *s, char *out, size_t cap)
{
	size_t n = strcspn(s->cmd.data != NULL ? s->cmd.data : "", " \r\n");

	if (n == 0 || n >= cap) {
		snprintf(out, cap, "*");
		return;
	}
	memcpy(out, s->cmd.data, n);
	out[n] = '\0';
}

/* Does the line end in a literal "{n}" or "{n+}"?  Its size in n. */
static bool ends_in_literal(const struct ms_buf *l, uint64_t *n, bool *plus)
{
	size_t i;
	uint64_t v = 0, mul = 1;

	if (l->len < 3 || l->data[l->len - 1] != '}')
		return false;
	i = l->len - 1;
	*plus = l->data[i - 1] == '+';
	if (*plus)
		i--;
	if (i == 0)
		return false;
	while (i > 0 && l->data[i - 1] >= '0' && l->data[i - 1] <= '9') {
		i--;
		if (mul > 1000000000000ull)
			v = UINT64_MAX / 2; /* far too large */
		else
			v += (uint64_t)(l->data[i] - '0') * mul;
		mul *= 10;
	}
	if (i == 0 || l->data[i - 1] != '{' || mul == 1)
		return false;
	*n = v;
	return true;
}

/* After a large command (an APPEND literal) give its memory back: an
 * idle session keeps only small buffers. */
static void imap_session_trim(struct imap_session *s)
{
	if (s->cmd.cap > IMAP_TRIM_BYTES && s->literal_left == 0) {
		ms_buf_deinit(&s->cmd);
		ms_buf_init(&s->cmd);
	}
	if (s->line.cap > IMAP_TRIM_BYTES) {
		ms_buf_deinit(&s->line);
		ms_buf_init(&s->line);
	}
}

static bool reading(const struct imap_session *s)
{
	return s->conn != NULL && !s->tls_pending && !s->held &&
	       (s->state == IMAP_STATE_NOTAUTH || s->state == IMAP_STATE_AUTH ||
	        s->state == IMAP_STATE_SELECTED);
}

void imap_session_input(struct imap_session *s)
{
	char tag[64];

	while (reading(s)) {
		uint64_t n;
		bool plus;
		int r;

		if (s->literal_left > 0) {
			size_t got;
			if (s->discard) {
				size_t have = ms_conn_input_len(s->conn);
				got = have < s->literal_left ? have : (size_t)s->literal_left;
				ms_conn_drain(s->conn, got);
			} else {
				got = ms_conn_read(s->conn, &s->cmd, s->literal_left);
			}
			if (got == 0)
				break;
			s->literal_left -= got;
			s->bytes_in += got;
			continue;
		}
		if (s->cmd.len == 0 && !s->discard) {
			/* the tag, in case the line turns out too long to keep */
			size_t k = ms_conn_peek(s->conn, tag, sizeof(tag) - 1);
			tag[k] = '\0';
		}
		r = ms_conn_read_line(s->conn, &s->line, IMAP_LINE_MAX);
		if (r == MS_AGAIN)
			break;
		if (r != MS_OK) {
			s->bytes_in += IMAP_LINE_MAX;
			if (s->cmd.len > 0) {
				cmd_tag(s, tag, sizeof(tag));
			} else {
				size_t k = strcspn(tag, " \r\n");
				tag[k] = '\0';
				if (k == 0 || k == sizeof(tag) - 1)
					snprintf(tag, sizeof(tag), "*");
			}
			if (s->discard) {
				; /* already answered */
			} else if (s->auth_tag != NULL) {
				/* the SASL exchange ends with the command */
				imap_bad(s, s->auth_tag, "Authentication response too long");
				free(s->auth_tag);
				s->auth_tag = NULL;
			} else if (s->idling) {
				imap_printf(s, "* BAD Line too long\r\n");
			} else
				imap_bad(s, tag, "Command line too long");
			ms_buf_reset(&s->cmd);
			s->discard = false;
			continue;
		}
		s->bytes_in += s->line.len + 2;
		if (s->auth_tag != NULL) {
			char *t = s->auth_tag;
			s->auth_tag = NULL;
			imap_auth_plain_response(s, t, s->line.data);
			free(t);
			continue;
		}
		if (s->idling) {
			imap_idle_done(s, s->line.data);
			continue;
		}
		if (!s->discard)
			ms_buf_append(&s->cmd, s->line.data, s->line.len);
		if (ends_in_literal(&s->line, &n, &plus)) {
			if (s->discard) {
				if (plus)
					s->literal_left = n;
				continue;
			}
			if (n > IMAP_LITERAL_MAX || s->cmd.len + n > IMAP_LITERAL_MAX) {
				cmd_tag(s, tag, sizeof(tag));
				if (!plus) {
					/* the client waits for "+": refuse, it sends nothing more
					 */
					imap_bad(s, tag, "Literal too large");
					ms_buf_reset(&s->cmd);
					continue;
				}
				if (n > IMAP_LITERAL_MAX * 4ull) {
					imap_printf(s, "* BYE Literal too large\r\n");
					imap_session_logout(s);
					return;
				}
				imap_bad(s, tag, "Literal too large");
				s->discard = true;
				s->literal_left = n;
				continue;
			}
			if (!plus)
				imap_printf(s, "+ Ready for literal data\r\n");
			ms_buf_puts(&s->cmd, "\r\n");
			s->literal_left = n;
			continue;
		}
		if (s->discard) {
			s->discard = false;
			ms_buf_reset(&s->cmd);
			continue;
		}
		if (s->cmd.len > IMAP_LITERAL_MAX) {
			cmd_tag(s, tag, sizeof(tag));
			imap_bad(s, tag, "Command too long");
		} else {
			dispatch(s);
		}
		ms_buf_reset(&s->cmd);
		imap_session_trim(s);
	}
}

void imap_session_resume(struct imap_session *s, const char *cmd, size_t len)
{
	s->held = false;
	ms_buf_reset(&s->cmd);
	ms_buf_append(&s->cmd, cmd, len);
	dispatch(s);
	ms_buf_reset(&s->cmd);
	imap_session_input(s);
}

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct imap_session *s = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_TLS_READY:
		s->tls_pending = false;
		s->tls = true;
		ms_log_debug("%s TLS %s", s->peer, ms_conn_tls_info(s->conn));
		if (s->bytes_out == 0)
			greet(s); /* implicit TLS: greet now */
		imap_session_input(s);
		break;
	case MS_CONN_DATA:
		imap_session_input(s);
		break;
	case MS_CONN_TIMEOUT:
		if (s->state == IMAP_STATE_LOGOUT) {
			imap_session_free(s);
			break;
		}
		ms_log_notice("%s idle timeout", s->peer);
		imap_printf(s, "* BYE Idle timeout, closing connection\r\n");
		imap_session_logout(s);
		break;
	case MS_CONN_LOW_WATER:
		imap_remote_low_water(s); /* a relay waits for the client */
		break;
	case MS_CONN_CONNECTED:
		break;
	case MS_CONN_ERROR:
		ms_log_debug("%s connection error: %s", s->peer, ms_conn_error(s->conn));
		imap_session_free(s);
		break;
	case MS_CONN_EOF:
		imap_session_free(s);
		break;
	}
}
