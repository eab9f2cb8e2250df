/*
 * pop_session: one POP3 client connection: the reader (lines under
 * POP_LINE_MAX), the parser (command word, arguments, table lookup, state
 * check) and the replies.  The handlers are in pop_cmd_*.c.
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

#include "pop.h"
#include "server_login.h"
#include "store.h"

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

void pop_write(struct pop_session *s, const void *data, size_t len)
{
	ms_conn_write(s->conn, data, len);
	s->bytes_out += len;
}

void pop_puts(struct pop_session *s, const char *text)
{
	pop_write(s, text, strlen(text));
}

static void reply(struct pop_session *s, const char *status, const char *fmt, va_list ap)
{
	struct ms_buf b;

	ms_buf_init(&b);
	ms_buf_puts(&b, status);
	if (fmt != NULL && *fmt != '\0') {
		ms_buf_putc(&b, ' ');
		ms_buf_vprintf(&b, fmt, ap);
	}
	ms_buf_puts(&b, "\r\n");
	pop_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

void pop_ok(struct pop_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, "+OK", fmt, ap);
	va_end(ap);
}

void pop_err(struct pop_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, "-ERR", fmt, ap);
	va_end(ap);
}

bool pop_plaintext_ok(const struct pop_session *s)
{
	return server_login_plaintext_ok(s->srv->base.conf, MS_OPT_POP_PLAINTEXTMINCIPHER, s->tls);
}

/* The greeting: pop.banner with %h %p %P %V, or the built-in one. */
static void greet(struct pop_session *s)
{
	const char *banner = ms_conf_str(s->srv->base.conf, MS_OPT_POP_BANNER);
	struct ms_buf b;

	if (banner == NULL || *banner == '\0') {
		pop_ok(s, MS_PRODUCT_NAME " POP3 server ready");
		return;
	}
	ms_buf_init(&b);
	server_login_banner(banner, "POP3", &b);
	pop_ok(s, "%s", b.data);
	ms_buf_deinit(&b);
}

void pop_session_start(struct pop_server *srv, int fd, bool implicit_tls)
{
	struct pop_session *s = ms_xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->id = ++srv->base.next_id;
	s->lockfd = -1;
	s->start_ms = (long long)ms_loop_now_ms(srv->base.loop);
	s->connect_time = (long long)time(NULL);
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
			pop_session_free(s);
			return;
		}
		s->tls_pending = true;
		return; /* the greeting follows the handshake */
	}
	greet(s);
}

void pop_session_free(struct pop_session *s)
{
	struct pop_server *srv = s->srv;

	server_login_cancel(&s->req);
	server_log_close(&srv->base, s->peer, s->userid, s->login_time, s->connect_time,
			 s->start_ms, s->bytes_in, s->bytes_out);
	pop_maildrop_close(s);
	ms_conn_free(&s->conn);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->base.nsessions--;
	free(s->user);
	free(s->login);
	free(s->mech);
	free(s->userid);
	ms_buf_deinit(&s->line);
	free(s);
	server_session_gone(&srv->base);
}

void pop_session_quit(struct pop_session *s)
{
	/* lib/io.c waits for the socket to send the last reply, under TLS too. */
	s->state = POP_STATE_QUIT;
	ms_conn_close_after_flush(s->conn);
}

/* Split the line into words at runs of spaces; PASS keeps the rest of the
 * line as its one argument (a password may contain spaces). */
static int split(char *line, char **argv, int cap)
{
	int argc = 0;
	char *p = line;

	while (*p != '\0' && argc < cap) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		argv[argc++] = p;
		if (argc == 1 && strncasecmp(argv[0], "PASS ", 5) == 0) {
			p[4] = '\0';
			argv[argc++] = p + 5;
			break;
		}
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
	if (*p != '\0' && argc == cap)
		return cap + 1;
	return argc;
}

static void dispatch(struct pop_session *s, char *line)
{
	char *argv[8];
	int argc;
	const struct pop_command *c;

	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			pop_err(s, "Invalid characters in command");
			return;
		}
	}
	argc = split(line, argv, 8);
	if (argc == 0) {
		pop_err(s, "Empty command");
		return;
	}
	for (c = pop_commands; c->name != NULL; c++)
		if (strcasecmp(c->name, argv[0]) == 0)
			break;
	if (c->name == NULL) {
		pop_err(s, "Unknown command");
		return;
	}
	if ((c->states & POP_IN(s->state)) == 0) {
		pop_err(s, "Command not valid in this state");
		return;
	}
	if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
		pop_err(s, "Syntax error in %s", c->name);
		return;
	}
	c->handler(s, argc - 1, argv + 1);
}

void pop_session_input(struct pop_session *s)
{
	while (s->conn != NULL && (s->state == POP_STATE_AUTH || s->state == POP_STATE_TRANS) &&
	       !s->tls_pending) {
		int r = ms_conn_read_line(s->conn, &s->line, POP_LINE_MAX);
		if (r == MS_AGAIN)
			break;
		if (r != MS_OK) {
			s->bytes_in += POP_LINE_MAX;
			if (s->auth_plain_wait)
				s->auth_plain_wait = false;
			pop_err(s, "Line too long");
			continue;
		}
		s->bytes_in += s->line.len + 2;
		if (s->auth_plain_wait) {
			s->auth_plain_wait = false;
			pop_auth_plain_response(s, s->line.data);
			continue;
		}
		dispatch(s, s->line.data);
	}
}

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct pop_session *s = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_TLS_READY:
		s->tls_pending = false;
		s->tls = true;
		ms_log_debug("%s TLS %s", s->peer, ms_conn_tls_info(s->conn));
		if (s->state == POP_STATE_AUTH && s->bytes_out == 0)
			greet(s); /* implicit TLS: greet now */
		pop_session_input(s);
		break;
	case MS_CONN_DATA:
		pop_session_input(s);
		break;
	case MS_CONN_TIMEOUT:
		if (s->state == POP_STATE_QUIT) {
			pop_session_free(s);
			break;
		}
		ms_log_notice("%s idle timeout", s->peer);
		/* RFC 1939 section 3: an autologout timer ends the session
		 * without entering UPDATE, so no message is removed. */
		pop_err(s, "Idle timeout, closing connection");
		pop_session_quit(s);
		break;
	case MS_CONN_LOW_WATER:
	case MS_CONN_CONNECTED:
		break;
	case MS_CONN_ERROR:
		ms_log_debug("%s connection error: %s", s->peer, ms_conn_error(s->conn));
		pop_session_free(s);
		break;
	case MS_CONN_EOF:
		pop_session_free(s);
		break;
	}
}
