/*
 * lmtp_server_deliver: the end of a message (lmtp_server.h).
 *
 * RFC 2033 4.2: after the final "." (or BDAT LAST) the server answers
 * once per accepted recipient, in RCPT order.  Each copy goes through
 * store_deliver (store_deliver.h), which returns only after the store has
 * committed and fsynced it, so a 250 is never sent for a copy a crash
 * could lose.  The replies:
 *
 *   250 2.1.5  delivered (with UID=RET: <UIDVALIDITY:UID:[:folder]> first)
 *   452 4.2.2  over quota (temporary: the client retries)
 *   552 5.2.2  over quota past store.quotagraceperiod (permanent)
 *   552 5.2.3  larger than the whole quota
 *   552 5.3.4  larger than the channel's blocklimit
 *   452 4.3.1  the store's disk is full
 *   451 4.3.0  any other store trouble (temporary)
 *
 * Each delivered copy is logged at Information level in the seed's store
 * form "append:USER:MAILBOX:SIZE:MESSAGE-ID", and, when the channel (or
 * the defaults channel) has the logging keyword, gets an S record in the
 * MTA message log data/log/mail.log_current (mta_log.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>

#include "lmtp_server.h"
#include "mta_log.h"
#include "store_deliver.h"

/* The Message-ID field of the header (appended to out; nothing if none). */
static void message_id(const struct ms_buf *header, struct ms_buf *out)
{
	const char *p = header->data, *end = p + header->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		if (le == p || (le == p + 1 && *p == '\r'))
			return; /* the blank line: end of the header */
		if ((size_t)(le - p) > 11 && strncasecmp(p, "Message-ID:", 11) == 0) {
			const char *v = p + 11;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			if (v == le && nl != NULL && nl + 1 < end &&
			    (nl[1] == ' ' || nl[1] == '\t')) { /* folded */
				v = nl + 1;
				while (v < end && (*v == ' ' || *v == '\t'))
					v++;
				le = memchr(v, '\n', (size_t)(end - v));
				if (le == NULL)
					le = end;
			}
			while (le > v && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
				le--;
			ms_buf_append(out, v, (size_t)(le - v));
			return;
		}
		if (nl == NULL)
			return;
		p = nl + 1;
	}
}

/*
 * One S (LMTP deposit) record per delivered copy in the MTA message log
 * (mta_log.h: written only when the channel logs), with the modifiers in
 * use: L (LMTP), then S (TLS), Q (pipelining), C (chunking).
 */
static void mail_log(struct lmtp_session *s, const struct lmtp_rcpt *r, uint64_t size,
                     const char *msgid)
{
	struct mta_logrec rec;
	char action[8];
	struct ms_buf orcpt, diag;

	if (s->srv->channels == NULL)
		return;
	snprintf(action, sizeof(action), "SL%s%s%s", s->tls ? "S" : "", s->pipelined ? "Q" : "",
	         s->chunking ? "C" : "");
	ms_buf_init(&orcpt);
	ms_buf_init(&diag);
	ms_buf_printf(&orcpt, "rfc822;%s", r->address);
	ms_buf_printf(&diag, "lmtp;250 2.1.5 delivered to %s", r->userid);
	memset(&rec, 0, sizeof(rec));
	rec.src = s->srv->channel;
	rec.action = action;
	rec.size = size;
	rec.from = s->from;
	rec.orcpt = orcpt.data;
	rec.orig = r->address;
	rec.to = r->address;
	rec.msgid = *msgid != '\0' ? msgid : NULL;
	rec.conn = s->peer;
	rec.queue_time = -1;
	rec.diag = diag.data;
	mta_log_record(s->srv->conf, s->srv->channels, &rec);
	ms_buf_deinit(&orcpt);
	ms_buf_deinit(&diag);
}

/* The reply to a failed copy (code and permanence on the store). */
static void failure_reply(struct lmtp_session *s, const struct lmtp_rcpt *r, enum ms_error code,
                          bool perm)
{
	const char *a = r->address;

	switch (code) {
	case MS_E_OVERQUOTA:
		if (perm)
			lmtp_reply(s, "552 5.2.2 <%s> Mailbox over quota", a);
		else
			lmtp_reply(s, "452 4.2.2 <%s> Mailbox over quota, try again later", a);
		break;
	case MS_E_TOOBIG:
		lmtp_reply(s, "552 5.2.3 <%s> Message larger than the mailbox quota", a);
		break;
	case MS_E_NOSPACE:
		lmtp_reply(s, "452 4.3.1 <%s> Mail system full, try again later", a);
		break;
	case MS_E_SYNTAX:
		lmtp_reply(s, "550 5.1.3 <%s> Not a valid store user", a);
		break;
	default:
		if (perm)
			lmtp_reply(s, "554 5.3.0 <%s> Cannot deliver to the mailbox", a);
		else
			lmtp_reply(
			    s, "451 4.3.0 <%s> Cannot store the message now, try again later", a);
		break;
	}
}

static void deliver_one(struct lmtp_session *s, const struct lmtp_rcpt *r, const char *msgid)
{
	struct store *store = s->srv->store;
	struct store_deliver_opts d;
	struct ms_buf why, mailbox, notice;
	uint32_t uid = 0, uidv = 0;
	uint64_t size = store_stage_size(s->stage);

	ms_buf_init(&why);
	ms_buf_init(&mailbox);
	ms_buf_init(&notice);
	store_deliver_opts_init(&d);
	d.folder = r->folder;
	d.create_user = true; /* the directory knows them: the store makes their mailboxes */
	d.append.limits = &r->limits;
	d.quota_notice = true;
	d.notice_why = &notice;
	if (store_deliver(store, r->userid, &d, s->stage, &uid, &uidv, &mailbox, &why) < 0) {
		enum ms_error code = store_errcode(store);
		bool perm = store_deliver_permanent(store);
		ms_log_notice("%s delivery of %s to %s (%s) failed: %s (%s failure)", s->peer,
		              msgid, r->address, r->userid, why.data,
		              perm ? "permanent" : "temporary");
		failure_reply(s, r, code, perm);
	} else {
		bool inbox = strcmp(mailbox.data, "INBOX") == 0;
		ms_log_info("append:%s:user/%s%s%s:%llu:%s", r->userid, r->userid, inbox ? "" : "/",
		            inbox ? "" : mailbox.data, (unsigned long long)size, msgid);
		if (s->uid_ret)
			lmtp_reply(s, "250 2.1.5 <%u:%u:%s%s> <%s> delivered", uidv, uid,
			           inbox ? "" : ":", inbox ? "" : mailbox.data, r->address);
		else
			lmtp_reply(s, "250 2.1.5 <%s> delivered", r->address);
		s->delivered++;
		mail_log(s, r, size, msgid);
	}
	if (notice.len > 0)
		ms_log_warning("%s: over-quota warning not sent: %s", r->userid, notice.data);
	ms_buf_deinit(&notice);
	ms_buf_deinit(&mailbox);
	ms_buf_deinit(&why);
}

void lmtp_deliver_message(struct lmtp_session *s)
{
	struct ms_buf msgid;
	const struct ms_error_info *e = ms_error_info(s->stage_err);

	ms_buf_init(&msgid);
	message_id(&s->header, &msgid);
	s->messages++;
	for (size_t i = 0; i < s->nrcpts; i++) {
		const struct lmtp_rcpt *r = &s->rcpts[i];
		if (s->too_big)
			lmtp_reply(s, "552 5.3.4 <%s> Message too big for this server", r->address);
		else if (s->stage_failed)
			lmtp_reply(s, "%d %s <%s> Cannot store the message now, try again later",
			           e->smtp_reply / 100 == 4 ? e->smtp_reply : 451,
			           e->smtp_status[0] == '4' ? e->smtp_status : "4.3.0", r->address);
		else
			deliver_one(s, r, msgid.data);
	}
	if (s->too_big)
		ms_log_notice("%s message of more than %llu bytes refused", s->peer,
		              (unsigned long long)lmtp_server_max_size(s->srv));
	ms_buf_deinit(&msgid);
	lmtp_session_reset(s);
}
