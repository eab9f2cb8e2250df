/*
 * probe: protocol scripts run over lib/io.c connections.  See probe.h.
 *
 * A script is a table of steps: what to send (or nothing), then what the
 * answer must start with (or nothing: do not wait).  How an answer is
 * read depends on the protocol: IMAP skips untagged "* " lines before a
 * tagged answer; SMTP and LMTP read "250-" continuation lines until the
 * last "250 " line.  Lines are read under a 4 KiB limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>

#include "probe.h"

struct step {
	const char *send;   /* NULL: send nothing */
	const char *expect; /* NULL: do not wait for an answer */
};

static const struct step imap_script[] = {
	{NULL, "* OK"}, {"A1 NOOP\r\n", "A1 OK"}, {"A2 LOGOUT\r\n", NULL}, {NULL, NULL}};
static const struct step pop_script[] = {{NULL, "+OK"}, {"QUIT\r\n", "+OK"}, {NULL, NULL}};
static const struct step smtp_script[] = {
	{NULL, "220"}, {"EHLO msprobe\r\n", "250"}, {"QUIT\r\n", NULL}, {NULL, NULL}};
static const struct step lmtp_script[] = {
	{NULL, "220"}, {"LHLO msprobe\r\n", "250"}, {"QUIT\r\n", NULL}, {NULL, NULL}};
static const struct step http_script[] = {{"GET / HTTP/1.0\r\n\r\n", "HTTP/"}, {NULL, NULL}};
static const struct step tcp_script[] = {{NULL, NULL}};

static const struct step *const scripts[] = {
	[PROBE_IMAP] = imap_script, [PROBE_POP] = pop_script, [PROBE_SMTP] = smtp_script,
	[PROBE_LMTP] = lmtp_script, [PROBE_HTTP] = http_script, [PROBE_TCP] = tcp_script,
	[PROBE_CTL] = tcp_script,
};

struct probe {
	struct probe_target t;
	struct ms_loop *loop;
	struct ms_conn *conn;
	struct ms_timer *timer;
	probe_done_fn *done;
	void *ctx;
	const struct step *step;
	uint64_t started;
	long elapsed;
	bool connected;
	enum probe_status status;
	char message[256];
};

const char *probe_status_name(enum probe_status s)
{
	switch (s) {
	case PROBE_OK:
		return "OK";
	case PROBE_SLOW:
		return "SLOW";
	case PROBE_BAD:
		return "BAD";
	case PROBE_PENDING:
		break;
	}
	return "PENDING";
}

static void finish(struct probe *p, enum probe_status st, const char *msg)
{
	if (p->status != PROBE_PENDING)
		return;
	p->elapsed = p->connected ? (long)(ms_loop_now_ms(p->loop) - p->started) : -1;
	if (st == PROBE_OK && p->elapsed >= 0 && (uint64_t)p->elapsed > p->t.warning_ms)
		st = PROBE_SLOW;
	p->status = st;
	snprintf(p->message, sizeof(p->message), "%s", msg);
	ms_timer_stop(p->timer);
	ms_conn_free(&p->conn);
	p->done(p, p->ctx);
}

/* Send what the current step sends; finish when the script is over. */
static void run_steps(struct probe *p)
{
	while (p->step->send != NULL || p->step->expect != NULL) {
		if (p->step->send != NULL) {
			if (p->t.debug)
				fprintf(stderr, "msprobe %u> %s", p->t.port, p->step->send);
			ms_conn_puts(p->conn, p->step->send);
		}
		if (p->step->expect != NULL)
			return; /* wait for the answer */
		p->step++;
	}
	finish(p, PROBE_OK, "No error");
}

/* Is line the end of the answer the step waits for?  1 yes, 0 read on, -1 wrong. */
static int judge(const struct probe *p, const char *line)
{
	const char *want = p->step->expect;
	size_t wl = strlen(want);

	if (p->t.proto == PROBE_IMAP && want[0] != '*' && strncmp(line, "* ", 2) == 0)
		return 0;
	if (p->t.proto == PROBE_SMTP || p->t.proto == PROBE_LMTP) {
		if (strncmp(line, want, wl) != 0)
			return -1;
		return line[wl] == '-' ? 0 : 1;
	}
	return strncmp(line, want, wl) == 0 ? 1 : -1;
}

static void on_ctl(struct probe *p)
{
	struct ms_ctl_msg m;
	struct ms_buf why;

	ms_ctl_msg_init(&m);
	ms_buf_init(&why);
	int r = ms_ctl_conn_read(p->conn, &m, &why);
	if (r == MS_OK && m.type == MS_CTL_DONE && strcmp(m.args[0], "0") == 0)
		finish(p, PROBE_OK, "No error");
	else if (r != MS_AGAIN)
		finish(p, PROBE_BAD, r == MS_ERROR ? why.data : "Unexpected reply");
	ms_ctl_msg_deinit(&m);
	ms_buf_deinit(&why);
}

static void on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct probe *p = ctx;
	struct ms_buf line, msg;

	switch (ev) {
	case MS_CONN_CONNECTED:
		p->connected = true;
		if (p->t.proto == PROBE_CTL)
			ms_ctl_conn_send(conn, MS_CTL_PING, NULL, 0);
		else
			run_steps(p);
		return;
	case MS_CONN_DATA:
		if (p->t.proto == PROBE_CTL) {
			on_ctl(p);
			return;
		}
		ms_buf_init(&line);
		ms_buf_init(&msg);
		for (;;) {
			int r = ms_conn_read_line(conn, &line, 4096);
			if (r == MS_AGAIN)
				break;
			if (r == MS_ERROR) {
				finish(p, PROBE_BAD, "Reply line too long");
				break;
			}
			if (p->t.debug)
				fprintf(stderr, "msprobe %u< %s\n", p->t.port, line.data);
			int j = judge(p, line.data);
			if (j < 0) {
				ms_buf_printf(&msg, "Unexpected reply: %.80s", line.data);
				finish(p, PROBE_BAD, msg.data);
				break;
			}
			if (j == 0)
				continue;
			p->step++;
			run_steps(p);
			if (p->status != PROBE_PENDING)
				break;
		}
		ms_buf_deinit(&line);
		ms_buf_deinit(&msg);
		return;
	case MS_CONN_EOF:
		finish(p, PROBE_BAD, "Connection closed");
		return;
	case MS_CONN_ERROR:
		finish(p, PROBE_BAD, ms_conn_error(conn));
		return;
	case MS_CONN_TIMEOUT:
		finish(p, PROBE_BAD, "Timed out");
		return;
	default:
		return;
	}
}

static void on_timeout(void *ctx)
{
	struct probe *p = ctx;
	char msg[sizeof(p->message)];

	/* No connection object at all: the reason was kept in message. */
	snprintf(msg, sizeof(msg), "%s", p->conn == NULL && p->message[0] ? p->message : "Timed out");
	finish(p, PROBE_BAD, msg);
}

struct probe *probe_start(struct ms_loop *loop, const struct probe_target *t, probe_done_fn *done,
			  void *ctx)
{
	struct probe *p = ms_xcalloc(1, sizeof(*p));
	struct ms_buf why;

	p->t = *t;
	p->loop = loop;
	p->done = done;
	p->ctx = ctx;
	p->step = scripts[t->proto];
	p->timer = ms_timer_new(loop, on_timeout, p);
	p->started = ms_loop_now_ms(loop);
	ms_buf_init(&why);
	if (t->proto == PROBE_CTL)
		p->conn = ms_conn_connect_unix(loop, t->path, on_conn, p, &why);
	else
		p->conn = ms_conn_connect_tcp(loop, t->host, t->port, on_conn, p, &why);
	if (p->conn == NULL) {
		/* Deliver the failure from the loop too, like every other result. */
		snprintf(p->message, sizeof(p->message), "%s", why.data);
		ms_timer_start(p->timer, 0, false);
	} else {
		ms_timer_start(p->timer, t->timeout_ms, false);
	}
	ms_buf_deinit(&why);
	return p;
}

enum probe_status probe_status(const struct probe *p)
{
	return p->status;
}

long probe_time_ms(const struct probe *p)
{
	return p->elapsed;
}

const char *probe_message(const struct probe *p)
{
	return p->message;
}

bool probe_connected(const struct probe *p)
{
	return p->connected;
}

void probe_free(struct probe **p)
{
	if (p == NULL || *p == NULL)
		return;
	ms_conn_free(&(*p)->conn);
	ms_timer_free(&(*p)->timer);
	free(*p);
	*p = NULL;
}
