/*
 * imap_cmd_append: APPEND (RFC 3501 6.3.11, APPENDUID of RFC 4315) and
 * IDLE (RFC 2177).
 *
 * APPEND stages the literal in the user's partition and appends it with
 * its flags and date (default: now).  The literal has already been
 * limited by the reader (IMAP_LITERAL_MAX); the quota is the store's.
 *
 * IDLE: the store has no push channel to imapd yet, so while a session
 * idles a repeating timer compares the user's change sequence
 * (store_user_changeseq, which grows with every change any process
 * commits) and on a change reports EXISTS and EXPUNGE (imap_sync).
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

/* How often an idling session looks at the store, in milliseconds. */
#define IMAP_IDLE_POLL_MS 250

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
	o.limits = &s->quota;
	if (store_stage_new(s->srv->base.store, store_user_partition(s->su), &st, &why) < 0 ||
	    store_stage_write(st, data.data, data.len, &why) < 0 ||
	    store_stage_finish(st, &why) < 0 ||
	    store_append(s->su, name.data, st, &o, &uid, &uidvalidity, &why) < 0) {
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
	if (s->selected && strcmp(s->sel.name, name.data) == 0)
		(void)imap_sync(s, true);
	imap_ok(s, tag, "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
	goto done;
bad:
	imap_bad(s, tag, "Invalid arguments to APPEND");
done:
	store_stage_free(&st);
	imap_free_keywords(kw, nkw);
	ms_buf_deinit(&name);
	ms_buf_deinit(&date);
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
}

static void idle_tick(void *ctx)
{
	struct imap_session *s = ctx;
	struct ms_buf why;
	uint64_t seq = 0;

	ms_buf_init(&why);
	if (store_user_changeseq(s->su, &seq, &why) == 0 && seq != s->changeseq) {
		s->changeseq = seq;
		(void)imap_sync(s, true);
	}
	ms_buf_deinit(&why);
}

void imap_cmd_idle(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf why;

	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	ms_buf_init(&why);
	(void)store_user_changeseq(s->su, &s->changeseq, &why);
	ms_buf_deinit(&why);
	(void)imap_sync(s, true);
	s->idling = true;
	free(s->idle_tag);
	s->idle_tag = ms_xstrdup(tag);
	if (s->idle_timer == NULL)
		s->idle_timer = ms_timer_new(s->srv->base.loop, idle_tick, s);
	if (s->selected)
		ms_timer_start(s->idle_timer, IMAP_IDLE_POLL_MS, true);
	imap_printf(s, "+ idling\r\n");
}

void imap_idle_done(struct imap_session *s, const char *line)
{
	s->idling = false;
	if (s->idle_timer != NULL)
		ms_timer_stop(s->idle_timer);
	if (strcasecmp(line, "DONE") == 0) {
		(void)imap_sync(s, true);
		imap_ok(s, s->idle_tag, "IDLE terminated");
	} else {
		imap_bad(s, s->idle_tag, "Expected DONE");
	}
	free(s->idle_tag);
	s->idle_tag = NULL;
}
