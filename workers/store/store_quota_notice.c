/*
 * store_quota_notice: the over-quota warning message.  See the header.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/log.h>

#include "store_append.h"
#include "store_int.h"
#include "store_quota.h"
#include "store_quota_notice.h"
#include "store_stage.h"
#include "store_user.h"

#define NOTIFIED_FILE "quota.notified"

static void put_number(struct ms_buf *out, long long v)
{
	ms_buf_printf(out, "%lld", v);
}

/* One [NAME] variable at p (which starts with '['): its length, or 0. */
static size_t variable(const char *p, const struct store_quota_notice_vars *v,
                       struct ms_buf *out)
{
	static const char *const names[] = {"[ID]", "[DISKUSAGE]", "[NUMMSG]",
	                                    "[PERCENT]", "[QUOTA]", "[MSGQUOTA]"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (strncasecmp(p, names[i], n) != 0)
			continue;
		switch (i) {
		case 0: ms_buf_puts(out, v->userid); break;
		case 1: put_number(out, (long long)((v->used_bytes + 1023) / 1024)); break;
		case 2: put_number(out, (long long)v->used_messages); break;
		case 3: put_number(out, v->percent); break;
		case 4: put_number(out, v->quota_bytes < 0 ? -1 : v->quota_bytes / 1024); break;
		default: put_number(out, v->quota_messages); break;
		}
		return n;
	}
	return 0;
}

/* The template with "$" as CRLF and the variables replaced. */
static void expand(const char *t, const struct store_quota_notice_vars *v, struct ms_buf *out)
{
	for (const char *p = t; *p != '\0';) {
		size_t n;
		if (*p == '$') {
			ms_buf_puts(out, "\r\n");
			p++;
		} else if (*p == '[' && (n = variable(p, v, out)) > 0) {
			p += n;
		} else if (*p == '\r' || *p == '\n') {
			p++; /* line breaks are written as "$" */
		} else {
			ms_buf_putc(out, *p++);
		}
	}
}

/* Does the header part (up to the blank line) have a field called name? */
static bool has_field(const char *msg, size_t hdr_len, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = msg; p < msg + hdr_len;) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return true;
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		p = eol + 2;
	}
	return false;
}

int store_quota_notice_render(const char *template, const struct store_quota_notice_vars *vars,
                              const char *postmaster, const char *to, int64_t now,
                              struct ms_buf *out, struct ms_buf *why)
{
	struct ms_buf text;
	char date[64];
	time_t t = (time_t)now;
	struct tm tm;

	ms_buf_init(&text);
	expand(template, vars, &text);
	const char *end = strstr(text.data, "\r\n\r\n");
	if (end == NULL || !has_field(text.data, (size_t)(end - text.data) + 2, "Subject")) {
		ms_buf_setf(why, "store.quotaexceededmsg needs a header part with a Subject: "
		                 "line, then $$ and the body");
		ms_buf_deinit(&text);
		return -1;
	}
	size_t hdr = (size_t)(end - text.data) + 2;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (!has_field(text.data, hdr, "Date"))
		ms_buf_printf(out, "Date: %s\r\n", date);
	if (postmaster != NULL && *postmaster != '\0' && !has_field(text.data, hdr, "From"))
		ms_buf_printf(out, "From: %s\r\n", postmaster);
	if (to != NULL && *to != '\0' && !has_field(text.data, hdr, "To"))
		ms_buf_printf(out, "To: %s\r\n", to);
	if (!has_field(text.data, hdr, "Message-ID"))
		ms_buf_printf(out, "Message-ID: <quota.%" PRId64 ".%ld@%s>\r\n", now, (long)getpid(),
		              vars->userid);
	ms_buf_append(out, text.data, text.len);
	if (text.len < 2 || strcmp(text.data + text.len - 2, "\r\n") != 0)
		ms_buf_puts(out, "\r\n");
	ms_buf_deinit(&text);
	return 0;
}

static int64_t last_notified(struct store_user *u)
{
	struct ms_buf path, text, ignore;
	int64_t v = 0;

	ms_buf_init(&path);
	ms_buf_init(&text);
	ms_buf_init(&ignore);
	ms_buf_printf(&path, "%s/%s", store_user_dir(u), NOTIFIED_FILE);
	if (ms_file_read(path.data, &text, &ignore) == 0)
		v = strtoll(text.data, NULL, 10);
	ms_buf_deinit(&path);
	ms_buf_deinit(&text);
	ms_buf_deinit(&ignore);
	return v;
}

static int set_notified(struct store_user *u, int64_t now, struct ms_buf *why)
{
	struct ms_buf path, text;
	int rc;

	ms_buf_init(&path);
	ms_buf_init(&text);
	ms_buf_printf(&path, "%s/%s", store_user_dir(u), NOTIFIED_FILE);
	ms_buf_printf(&text, "%" PRId64 "\n", now);
	rc = ms_file_replace(path.data, text.data, text.len, 0600, why);
	ms_buf_deinit(&path);
	ms_buf_deinit(&text);
	return rc;
}

/* Has usage reached percent of a limit of the default root? */
static bool reached(const struct store_quota_root *r, uint64_t bytes, uint64_t msgs,
                    long long percent)
{
	if (r->storage > 0 && (long double)bytes * 100 >= (long double)r->storage * percent)
		return true;
	if (r->messages > 0 && (long double)msgs * 100 >= (long double)r->messages * percent)
		return true;
	return false;
}

static int deliver_notice(struct store_user *u, const char *msg, size_t len, struct ms_buf *why)
{
	struct store *s = store_user_store(u);
	struct store_stage *st = NULL;
	struct store_append_opts o;
	int rc = -1;

	if (store_stage_new(s, store_user_partition(u), &st, why) < 0)
		return -1;
	if (store_stage_write(st, msg, len, why) == 0 && store_stage_finish(st, why) == 0) {
		store_append_opts_init(&o);
		o.no_quota = true; /* the warning must arrive although the user is full */
		rc = store_append(u, "INBOX", st, &o, NULL, NULL, why);
	}
	store_stage_free(&st);
	return rc;
}

int store_quota_notice_check(struct store_user *u, const struct store_quota_limits *l,
                             struct ms_buf *why)
{
	struct store *s = store_user_store(u);
	const struct ms_conf *conf = s->conf;
	struct store_quota_limits defaults;
	struct store_quota_notice_vars v;
	struct ms_buf msg;
	uint64_t bytes = 0, msgs = 0;
	int rc = 0;

	if (store_conf_int(conf, MS_OPT_STORE_QUOTANOTIFICATION) == 0)
		return 0;
	const char *template = store_conf_str(conf, MS_OPT_STORE_QUOTAEXCEEDEDMSG);
	if (template == NULL || *template == '\0')
		return 0;
	store_quota_limits_init(&defaults);
	if (l == NULL) {
		if (store_quota_parse(s, NULL, NULL, &defaults, why) < 0) {
			store_quota_limits_deinit(&defaults);
			return -1;
		}
		l = &defaults;
	}
	long long percent = store_conf_int(conf, MS_OPT_STORE_QUOTAWARN);
	long long threshold = s->opt.quota_overdraft ? 100 : percent;
	int64_t now = store_now();
	long long interval = store_conf_int(conf, MS_OPT_STORE_QUOTAEXCEEDEDMSGINTERVAL) * 86400;

	if (store_quota_usage(u, l, 0, &bytes, &msgs, why) < 0) {
		rc = -1;
	} else if (reached(&l->roots[0], bytes, msgs, threshold) &&
	           now - last_notified(u) >= interval) {
		v.userid = store_user_id(u);
		v.used_bytes = bytes;
		v.used_messages = msgs;
		v.percent = percent;
		v.quota_bytes = l->roots[0].storage;
		v.quota_messages = l->roots[0].messages;
		ms_buf_init(&msg);
		if (store_quota_notice_render(template, &v, store_conf_str(conf, MS_OPT_BASE_POSTMASTER),
		                              store_user_id(u), now, &msg, why) < 0 ||
		    deliver_notice(u, msg.data, msg.len, why) < 0 || set_notified(u, now, why) < 0) {
			rc = -1;
		} else {
			ms_log_notice("quota warning sent to %s: %" PRIu64 " bytes, %" PRIu64
			              " messages used (warn at %lld%%)",
			              store_user_id(u), bytes, msgs, threshold);
			rc = 1;
		}
		ms_buf_deinit(&msg);
	}
	store_quota_limits_deinit(&defaults);
	return rc;
}
