/*
 * imap_cmd_append: APPEND (RFC 3501 6.3.11, APPENDUID of RFC 4315) and
 * IDLE (RFC 2177).
 *
 * APPEND stages the literal in the user's partition and appends it with
 * its flags and date (default: now).  The literal has already been
 * limited by the reader (IMAP_LITERAL_MAX); the quota is the store's.
 *
 * IDLE: changes committed by any process reach the idling session
 * through stored's relay at once (imap_notify.c), and imap_sync reports
 * them (EXISTS, EXPUNGE, FETCH); while stored is not reachable the
 * process polls the change sequence instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>

#include "imap.h"
#include "store.h"

/* date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded). */
static int parse_date_time(const char *s, int64_t *t)
{
	static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char m[4] = "", sign = 0;
	int d, y, hh, mm, ss, z, n = 0;
	struct tm tm;

	if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%2d %c%4d%n", &d, m, &y, &hh, &mm, &ss, &sign, &z, &n) !=
	        8 ||
	    s[n] != '\0' || (sign != '+' && sign != '-'))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mon = -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(m, mon[i], 3) == 0)
			tm.tm_mon = i;
	if (tm.tm_mon < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970)
		return -1;
	tm.tm_mday = d;
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*t = (int64_t)timegm(&tm) - (sign == '+' ? 1 : -1) * ((z / 100) * 3600 + (z % 100) * 60);
	return 0;
}

/* A reader's APPEND with \Seen into another user's mailbox: seen for them. */
static int appended_seen(struct imap_session *s, const struct imap_mbox *mb,
                         uint32_t uidvalidity, uint32_t uid, struct ms_buf *why)
{
	struct store_mailbox_info info;
	struct store_uidset one;
	int r;

	memset(&info, 0, sizeof(info));
	store_uidset_init(&one);
	store_uidset_add(&one, uid, uid);
	r = store_mailbox_get(mb->su, mb->name, &info, why);
	if (r == 0)
		r = store_seen_set(s->su, store_user_id(mb->su), info.id, uidvalidity, &one, true,
		                   why);
	store_uidset_deinit(&one);
	store_mailbox_info_deinit(&info);
	return r;
}

void imap_cmd_append(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, date, data, why;
	struct store_append_opts o;
	struct store_stage *st = NULL;
	char **kw = NULL;
	size_t nkw = 0;
	unsigned flags = 0;
	int64_t when = 0;
	uint32_t uid = 0, uidvalidity = 0;
	struct imap_mbox mb = {0};
	bool own_seen;

	ms_buf_init(&name);
	ms_buf_init(&date);
	ms_buf_init(&data);
	ms_buf_init(&why);
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &name) < 0 || imap_parse_sp(ps) < 0)
		goto bad;
	if (ps->p < ps->end && *ps->p == '(') {
		if (imap_parse_flags(ps, &flags, &kw, &nkw) < 0 || imap_parse_sp(ps) < 0)
			goto bad;
	}
	if (ps->p < ps->end && *ps->p == '"') {
		if (imap_parse_string(ps, &date) < 0 || parse_date_time(date.data, &when) < 0 ||
		    imap_parse_sp(ps) < 0)
			goto bad;
	}
	if (ps->p >= ps->end || *ps->p != '{' || imap_parse_string(ps, &data) < 0 ||
	    !imap_parse_eol(ps))
		goto bad;
	store_append_opts_init(&o);
	o.flags = flags;
	o.keywords = (const char *const *)kw;
	o.nkeywords = nkw;
	o.internaldate = when;
	/* RFC 4314 4: i on the target; flags without their right are dropped */
	if (imap_acl_target(s, tag, "APPEND", name.data, &mb) < 0)
		goto done;
	imap_acl_mask_flags(mb.rights, &o.flags, &o.nkeywords);
	/* per-user \Seen (docs/store.md): a reader's \Seen is their own */
	own_seen = mb.other && (o.flags & STORE_FLAG_SEEN) != 0 &&
	           store_seen_per_user(s->srv->base.store);
	if (own_seen)
		o.flags &= ~(unsigned)STORE_FLAG_SEEN;
	o.limits = mb.other ? NULL : &s->quota;
	if (store_stage_new(s->srv->base.store, store_user_partition(mb.su), &st, &why) < 0 ||
	    store_stage_write(st, data.data, data.len, &why) < 0 ||
	    store_stage_finish(st, &why) < 0 ||
	    store_append(mb.su, mb.name, st, &o, &uid, &uidvalidity, &why) < 0) {
		enum ms_error e = store_errcode(s->srv->base.store);
		if (e == MS_E_NOMAILBOX)
			imap_no(s, tag, "[TRYCREATE] Mailbox does not exist");
		else if (e == MS_E_OVERQUOTA)
			imap_no(s, tag, "[OVERQUOTA] APPEND failed: %s", why.data);
		else
			imap_no(s, tag, "APPEND failed: %s", why.data);
		ms_log_info("%s %s: APPEND %s: %s", s->peer, s->userid, name.data, why.data);
		goto done;
	}
	if (own_seen && appended_seen(s, &mb, uidvalidity, uid, &why) < 0)
		ms_log_error("%s %s: APPEND %s: setting \\Seen: %s", s->peer, s->userid, name.data,
		             why.data);
	if (s->selected && strcmp(s->sel.name, name.data) == 0)
		(void)imap_sync(s, true);
	imap_ok(s, tag, "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
	goto done;
bad:
	imap_bad(s, tag, "Invalid arguments to APPEND");
done:
	imap_mbox_close(&mb);
	store_stage_free(&st);
	imap_free_keywords(kw, nkw);
	ms_buf_deinit(&name);
	ms_buf_deinit(&date);
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
}

void imap_cmd_idle(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	/* the selection's owner (another user for a shared folder) is
	 * subscribed and looked at now: imap_notify.c */
	imap_notify_idle_start(s);
	s->idling = true;
	free(s->idle_tag);
	s->idle_tag = ms_xstrdup(tag);
	imap_printf(s, "+ idling\r\n");
}

void imap_idle_done(struct imap_session *s, const char *line)
{
	s->idling = false;
	if (strcasecmp(line, "DONE") == 0) {
		(void)imap_sync(s, true);
		imap_ok(s, s->idle_tag, "IDLE terminated");
	} else {
		imap_bad(s, s->idle_tag, "Expected DONE");
	}
	free(s->idle_tag);
	s->idle_tag = NULL;
}
