/*
 * imap_cmd_quota: QUOTA (RFC 2087, the resources STORAGE in units of 1024
 * octets and MESSAGE): GETQUOTAROOT, GETQUOTA, and SETQUOTA, which is
 * refused because quotas are set in the directory (mailQuota,
 * mailMsgQuota; see store_quota.h for the roots).  The session's limits
 * are built at login from the directory entry and the store's defaults,
 * and APPEND and COPY are checked against them too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/log.h>

#include "imap.h"
#include "store.h"

void imap_quota_load(struct imap_session *s, long long quota, long long msg_quota)
{
	char q[32], m[32];
	struct ms_buf why;

	ms_buf_init(&why);
	snprintf(q, sizeof(q), "%lld", quota);
	snprintf(m, sizeof(m), "%lld", msg_quota);
	store_quota_limits_deinit(&s->quota);
	store_quota_limits_init(&s->quota);
	if (store_quota_parse(s->srv->base.store, quota == -2 ? NULL : q, msg_quota == -2 ? NULL : m,
	                      &s->quota, &why) < 0) {
		ms_log_warning("%s %s: quota: %s; the store's defaults apply", s->peer, s->userid,
		               why.data);
		store_quota_limits_deinit(&s->quota);
		store_quota_limits_init(&s->quota);
		ms_buf_reset(&why);
		(void)store_quota_parse(s->srv->base.store, NULL, NULL, &s->quota, &why);
	}
	s->quota_loaded = true;
	ms_buf_deinit(&why);
}

/* The larger of the two usages of a root in percent of its limits, or -1. */
static long long percent_used(const struct store_quota_root *r, uint64_t bytes, uint64_t msgs)
{
	long long p = -1;

	if (r->storage > 0)
		p = (long long)((long double)bytes * 100 / (long double)r->storage);
	if (r->messages > 0) {
		long long m = (long long)((long double)msgs * 100 / (long double)r->messages);
		if (m > p)
			p = m;
	}
	return p;
}

void imap_quota_alert(struct imap_session *s)
{
	long long warn = ms_conf_int(s->srv->base.conf, MS_OPT_STORE_QUOTAWARN), p;
	uint64_t bytes = 0, msgs = 0;
	struct ms_buf why;

	if (!s->quota_loaded || s->su == NULL || s->quota.n == 0 || warn <= 0)
		return;
	ms_buf_init(&why);
	if (store_quota_usage(s->su, &s->quota, 0, &bytes, &msgs, &why) < 0) {
		ms_buf_deinit(&why);
		return;
	}
	ms_buf_deinit(&why);
	p = percent_used(&s->quota.roots[0], bytes, msgs);
	if (p < warn)
		return;
	/* Seed: clients that show ALERTs are warned at every SELECT, and the
	 * IMAP log says so. */
	imap_printf(s, "* OK [ALERT] Your mailbox is at %lld%% of its quota\r\n", p);
	ms_log_notice("%s %s: quota warning: %lld%% used (%llu bytes, %llu messages; warn at %lld%%)",
	              s->peer, s->userid, p, (unsigned long long)bytes, (unsigned long long)msgs,
	              warn);
}

/* "* QUOTA root (STORAGE used limit MESSAGE used limit)"; -1 on failure. */
static int quota_line(struct imap_session *s, size_t root, struct ms_buf *out, struct ms_buf *why)
{
	const struct store_quota_root *r = &s->quota.roots[root];
	uint64_t bytes = 0, msgs = 0;
	bool first = true;

	if (store_quota_usage(s->su, &s->quota, root, &bytes, &msgs, why) < 0)
		return -1;
	ms_buf_puts(out, "* QUOTA ");
	imap_buf_string(out, r->name, strlen(r->name));
	ms_buf_puts(out, " (");
	if (r->storage >= 0) {
		ms_buf_printf(out, "STORAGE %llu %lld", (unsigned long long)((bytes + 1023) / 1024),
		              r->storage / 1024);
		first = false;
	}
	if (r->messages >= 0)
		ms_buf_printf(out, "%sMESSAGE %llu %lld", first ? "" : " ",
		              (unsigned long long)msgs, r->messages);
	ms_buf_puts(out, ")\r\n");
	return 0;
}

void imap_cmd_getquotaroot(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why, out;
	struct store_mailbox_info info;
	size_t root;

	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&out);
	memset(&info, 0, sizeof(info));
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &name) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to GETQUOTAROOT");
		goto done;
	}
	if (store_mailbox_get(s->su, name.data, &info, &why) < 0) {
		imap_no(s, tag, "[NONEXISTENT] Mailbox does not exist");
		goto done;
	}
	root = store_quota_root_of(&s->quota, name.data);
	ms_buf_puts(&out, "* QUOTAROOT ");
	imap_buf_string(&out, name.data, name.len);
	ms_buf_putc(&out, ' ');
	imap_buf_string(&out, s->quota.roots[root].name, strlen(s->quota.roots[root].name));
	ms_buf_puts(&out, "\r\n");
	if (quota_line(s, root, &out, &why) < 0) {
		imap_no(s, tag, "GETQUOTAROOT failed: %s", why.data);
		goto done;
	}
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "GETQUOTAROOT completed");
done:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_getquota(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why, out;
	size_t i;

	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &name) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to GETQUOTA");
		goto done;
	}
	for (i = 0; i < s->quota.n; i++)
		if (strcmp(s->quota.roots[i].name, name.data) == 0)
			break;
	if (i == s->quota.n) {
		imap_no(s, tag, "[NONEXISTENT] No such quota root");
		goto done;
	}
	if (quota_line(s, i, &out, &why) < 0) {
		imap_no(s, tag, "GETQUOTA failed: %s", why.data);
		goto done;
	}
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "GETQUOTA completed");
done:
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_setquota(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	(void)ps;
	imap_no(s, tag, "[NOPERM] Quotas are set in the directory (mailQuota, mailMsgQuota)");
}
