/*
 * smtp_server_data: DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030) of the
 * SMTP server (smtp_server.h).
 *
 * The message goes to a spool file of the queue as it arrives
 * (mta_qmsg_write), after a Received: line of ours (RFC 5321 4.4).  At the
 * end, mta_qmsg_commit writes every channel's copy durably; only when it
 * returned 0 is 250 sent (DESIGN: nothing acknowledged is ever lost), and
 * then the job controller is told.  A message that grew past the size
 * limit, had a line longer than SMTP_DATA_LINE_MAX, or could not be
 * spooled is read to its end and refused; a client that goes away first
 * leaves no file (smtp_data_abort from the session's end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/version.h>

#include "mta_channel.h"
#include "mta_log.h"
#include "mta_queue.h"
#include "smtp_server.h"

enum {
	MSG_OK = 0,
	MSG_TOOBIG,
	MSG_LINE,
	MSG_IOERR,
	MSG_NORCPT,
};

void smtp_data_abort(struct smtp_session *s)
{
	mta_qmsg_abort(&s->msg);
	s->msg_bytes = 0;
	s->msg_error = MSG_OK;
	s->bdat_left = 0;
	s->bdat_last = false;
}

static void received_header(struct smtp_session *s, struct ms_buf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	ms_buf_printf(out, "Received: from %s ([%s])\r\n by %s (%s %s)\r\n with %s%s%s%s id %s",
		      s->helo, s->client_ip, s->snap->hostname, MS_PRODUCT_NAME, MS_VERSION,
		      s->smtputf8 ? "UTF8" : "", s->esmtp ? "ESMTP" : "SMTP", s->tls ? "S" : "",
		      s->auth_user != NULL ? "A" : "", mta_qmsg_id(s->msg));
	if (s->nrcpts == 1)
		ms_buf_printf(out, "\r\n for <%s>", s->rcpts[0].orig);
	ms_buf_printf(out, "; %s\r\n", date);
}

/* Open the spool file with our Received: line; 0, or -1 (after replying
 * 451 when reply, else with msg_error set for the end of the chunk). */
static int begin_message(struct smtp_session *s, bool reply)
{
	struct ms_buf why, hdr;
	int rc = 0;

	ms_buf_init(&why);
	ms_buf_init(&hdr);
	if (mta_qmsg_begin(s->srv->queue, &s->msg, &why) < 0) {
		ms_log_error("%s queue: %s", s->peer, why.data);
		if (reply)
			smtp_reply(s, 451, "4.3.0", "Cannot queue the message now, try again later");
		s->msg_error = reply ? MSG_OK : MSG_IOERR;
		rc = -1;
	} else {
		received_header(s, &hdr);
		if (mta_qmsg_write(s->msg, hdr.data, hdr.len, &why) < 0) {
			ms_log_error("%s queue: %s", s->peer, why.data);
			s->msg_error = MSG_IOERR;
		}
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&hdr);
	return rc;
}

/* Append message bytes under the size limit. */
static void put(struct smtp_session *s, const void *data, size_t len)
{
	uint64_t max = smtp_session_max_size(s);
	struct ms_buf why;

	s->msg_bytes += len;
	if (s->msg_error != MSG_OK || s->msg == NULL)
		return;
	if (max > 0 && s->msg_bytes > max) {
		s->msg_error = MSG_TOOBIG;
		return;
	}
	ms_buf_init(&why);
	if (mta_qmsg_write(s->msg, data, len, &why) < 0) {
		ms_log_error("%s queue: %s", s->peer, why.data);
		s->msg_error = MSG_IOERR;
	}
	ms_buf_deinit(&why);
}

static void refuse(struct smtp_session *s)
{
	switch (s->msg_error) {
	case MSG_TOOBIG:
		ms_log_notice("%s message of %llu bytes refused: too big", s->peer,
			      (unsigned long long)s->msg_bytes);
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		break;
	case MSG_LINE:
		smtp_reply(s, 500, "5.5.2", "Line too long in message");
		break;
	case MSG_NORCPT:
		smtp_reply(s, 554, "5.5.1", "No valid recipients");
		break;
	default:
		smtp_reply(s, 451, "4.3.0", "Error writing the message, try again later");
		break;
	}
}

/* E records; the envelope id is the client's ENVID, else the queue id. */
static void log_enqueue(struct smtp_session *s, const struct mta_qenv *env, const char *id)
{
	struct ms_buf action, conn;

	ms_buf_init(&action);
	ms_buf_init(&conn);
	ms_buf_printf(&action, "E%s%s%s%s", s->esmtp ? "E" : "", s->auth_user ? "A" : "",
		      s->tls ? "S" : "", s->used_bdat ? "C" : "");
	ms_buf_printf(&conn, "%s ([%s])", s->helo, s->client_ip);
	for (size_t i = 0; i < s->nrcpts; i++) {
		struct mta_logrec r = {0};
		r.src = s->channel->name;
		r.dst = s->rcpts[i].channel;
		r.action = action.data;
		r.size = env->size;
		r.from = s->from;
		r.orcpt = s->rcpts[i].orcpt;
		r.orig = s->rcpts[i].orig;
		r.to = s->rcpts[i].addr;
		r.notify = s->rcpts[i].notify;
		r.conn = conn.data;
		r.user = s->auth_user;
		r.envid = s->envid != NULL ? s->envid : id;
		r.queue_time = -1;
		mta_log_record(s->snap->conf, s->snap->channels, &r);
		mta_counters_add(s->rcpts[i].channel, MTA_CTR_RECEIVED, 1, 1, env->size, false, 0);
	}
	mta_counters_add(s->channel->name, MTA_CTR_SUBMITTED, 1, (long)s->nrcpts, env->size,
			 false, 0);
	ms_buf_deinit(&action);
	ms_buf_deinit(&conn);
}

/* Commit the spooled message; 250 only after it is durable. */
static void commit(struct smtp_session *s)
{
	struct mta_qenv env;
	struct mta_qrcpt *rc = ms_xcalloc(s->nrcpts, sizeof(*rc));
	const char **ch = ms_xcalloc(s->nrcpts, sizeof(*ch));
	char id[MTA_QUEUE_ID_LEN + 1];
	struct ms_buf why, recv;
	time_t now = time(NULL);

	memset(&env, 0, sizeof(env));
	ms_buf_init(&why);
	ms_buf_init(&recv);
	ms_buf_printf(&recv, "%s [%s]", s->helo, s->client_ip);
	env.from = s->from;
	env.created = env.next = now;
	env.source = (char *)s->channel->name;
	env.received_from = recv.data;
	env.auth = s->auth_user;
	env.envid = s->envid;
	env.ret = s->ret;
	env.body = s->body;
	env.smtputf8 = s->smtputf8;
	env.size = mta_qmsg_size(s->msg);
	for (size_t i = 0; i < s->nrcpts; i++) {
		rc[i].addr = s->rcpts[i].addr;
		rc[i].orig = s->rcpts[i].orig;
		rc[i].orcpt = s->rcpts[i].orcpt;
		rc[i].notify = s->rcpts[i].notify;
		ch[i] = s->rcpts[i].channel;
	}
	snprintf(id, sizeof(id), "%s", mta_qmsg_id(s->msg));
	if (mta_qmsg_commit(&s->msg, &env, rc, ch, s->nrcpts, &why) < 0) {
		ms_log_error("%s queue: message %s not queued: %s", s->peer, id, why.data);
		smtp_reply(s, 451, "4.3.0", "Error queueing the message, try again later");
	} else {
		ms_log_notice("%s queued %s from <%s> for %zu recipients, %llu bytes", s->peer, id,
			      s->from, s->nrcpts, (unsigned long long)env.size);
		smtp_reply(s, 250, "2.5.0", "Ok, message queued as %s", id);
		for (size_t i = 0; i < s->nrcpts; i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = strcmp(ch[j], ch[i]) == 0;
			if (!seen)
				mta_queue_notify(s->srv->run_dir, ch[i]);
		}
		log_enqueue(s, &env, id);
	}
	free(rc);
	free(ch);
	ms_buf_deinit(&why);
	ms_buf_deinit(&recv);
}

/* The end of the message (the final dot, or the LAST chunk). */
static void finish(struct smtp_session *s)
{
	s->state = SMTP_STATE_CMD;
	if (s->msg_error != MSG_OK || s->msg == NULL)
		refuse(s);
	else
		commit(s);
	smtp_session_reset(s);
}

void smtp_data_cmd(struct smtp_session *s, const char *args)
{
	if (*args != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: DATA");
	} else if (!s->in_mail) {
		smtp_reply(s, 503, "5.5.1", "Need MAIL command first");
	} else if (s->used_bdat) {
		smtp_reply(s, 503, "5.5.1", "DATA not allowed after BDAT");
	} else if (s->nrcpts == 0) {
		smtp_reply(s, 554, "5.5.1", "No valid recipients");
	} else if (begin_message(s, true) == 0) {
		s->state = SMTP_STATE_DATA;
		smtp_reply(s, 354, NULL, "Start mail input; end with <CRLF>.<CRLF>");
	}
}

void smtp_bdat_cmd(struct smtp_session *s, const char *args)
{
	char *end;
	unsigned long long size;
	bool last = false;

	size = strtoull(args, &end, 10);
	if (end == args || (*end != '\0' && *end != ' ') || args[0] == '-') {
		/* The chunk's length is unknown: its bytes cannot be skipped. */
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		smtp_session_close(s, "4.5.0", "Cannot resynchronise after a bad BDAT");
		return;
	}
	while (*end == ' ')
		end++;
	if (strcasecmp(end, "LAST") == 0)
		last = true;
	else if (*end != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		smtp_session_close(s, "4.5.0", "Cannot resynchronise after a bad BDAT");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->state = SMTP_STATE_BDAT;
	if (!s->in_mail || s->nrcpts == 0) {
		s->msg_error = MSG_NORCPT; /* the chunk is read and refused */
		return;
	}
	s->used_bdat = true;
	if (s->msg == NULL && s->msg_error == MSG_OK)
		(void)begin_message(s, false);
}

static int data_lines(struct smtp_session *s)
{
	for (;;) {
		int r = ms_conn_read_line(s->conn, &s->line, SMTP_DATA_LINE_MAX);
		const char *l = s->line.data;
		size_t len = s->line.len;
		if (r == MS_AGAIN)
			return MS_AGAIN;
		if (r == MS_ERROR) {
			if (s->msg_error == MSG_OK)
				s->msg_error = MSG_LINE;
			continue;
		}
		if (len == 1 && l[0] == '.') {
			finish(s);
			return MS_OK;
		}
		if (len > 0 && l[0] == '.') {
			l++; /* RFC 5321 4.5.2: transparency */
			len--;
		}
		put(s, l, len);
		put(s, "\r\n", 2);
	}
}

static int bdat_bytes(struct smtp_session *s)
{
	struct ms_buf chunk;

	ms_buf_init(&chunk);
	while (s->bdat_left > 0) {
		size_t want = s->bdat_left > 65536 ? 65536 : (size_t)s->bdat_left;
		size_t got = ms_conn_read(s->conn, &chunk, want);
		if (got == 0)
			break;
		put(s, chunk.data, got);
		ms_buf_reset(&chunk);
		s->bdat_left -= got;
	}
	ms_buf_deinit(&chunk);
	if (s->bdat_left > 0)
		return MS_AGAIN;
	if (s->bdat_last || s->msg_error != MSG_OK) {
		if (s->msg_error == MSG_NORCPT && !s->in_mail) {
			smtp_reply(s, 503, "5.5.1", "Need MAIL command first");
			s->msg_error = MSG_OK;
			s->state = SMTP_STATE_CMD;
			return MS_OK;
		}
		finish(s);
		return MS_OK;
	}
	s->state = SMTP_STATE_CMD;
	smtp_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)s->msg_bytes);
	return MS_OK;
}

int smtp_data_input(struct smtp_session *s)
{
	return s->state == SMTP_STATE_DATA ? data_lines(s) : bdat_bytes(s);
}
