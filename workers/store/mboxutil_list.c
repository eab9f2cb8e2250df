/*
 * mboxutil_list: walking the store's mailboxes for mboxutil, and the
 * listing of mboxutil -l (the seed's columns):
 *
 *   msgs  Kbytes last msg          partition  quotaroot mailbox
 *   57       100 2010/04/29 11:18  primary           -1 user/han/INBOX
 *
 * msgs and Kbytes (rounded up) are the mailbox's; "last msg" is the time
 * of the last append ("-          -" when none); quotaroot is the storage
 * quota in KB of the user's quota root, on the INBOX line only ("-"
 * elsewhere; -1 unlimited).  Quotas come from the store.* defaults until
 * the directory is read.  -x adds "Path:" and "ACL:" lines, -s prints
 * names only, -z a total, -B joins the columns with its string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ms/buf.h>

#include "mboxutil.h"

void mboxutil_list_fail(struct mboxutil *m, const char *what, const char *why)
{
	fprintf(stderr, "mboxutil: %s: %s\n", what, why);
	m->failures++;
	enum ms_error code = store_errcode(m->store);
	if (code == MS_E_TEMPFAIL || code == MS_E_NOSPACE)
		m->temporary = true;
}

void mboxutil_list_name(const struct mboxutil *m, const char *stored, struct ms_buf *out)
{
	store_mutf7_export(stored, m->cs, out);
}

struct user_list {
	size_t n;
	char **ids;
};

static int add_user(void *ctx, const char *userid, const char *partition)
{
	struct user_list *l = ctx;

	(void)partition;
	l->ids = ms_xrealloc(l->ids, (l->n + 1) * sizeof(char *));
	l->ids[l->n++] = ms_xstrdup(userid);
	return 0;
}

struct mb_list {
	size_t n;
	struct store_mailbox_info *v;
};

static int add_mailbox(void *ctx, const struct store_mailbox_info *info)
{
	struct mb_list *l = ctx;

	l->v = ms_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n] = *info;
	l->v[l->n].name = ms_xstrdup(info->name);
	l->v[l->n].specialuse = info->specialuse != NULL ? ms_xstrdup(info->specialuse) : NULL;
	l->n++;
	return 0;
}

/* The one user a pattern names ("user/joe/..." without wildcards in joe), or NULL. */
static char *single_user(const char *pattern)
{
	const char *id, *end;

	if (pattern == NULL || strncmp(pattern, "user/", 5) != 0)
		return NULL;
	id = pattern + 5;
	end = strchr(id, '/');
	if (end == NULL)
		end = id + strlen(id);
	for (const char *p = id; p < end; p++)
		if (*p == '*' || *p == '%')
			return NULL;
	return end > id ? ms_xstrndup(id, (size_t)(end - id)) : NULL;
}

static bool matches(struct mboxutil *m, const char *full)
{
	if (m->pattern != NULL && !store_name_match(m->pattern, full))
		return false;
	if (m->have_re) {
		struct ms_buf local;
		bool ok;

		ms_buf_init(&local);
		store_mutf7_export(full, STORE_CHARSET_LOCAL, &local);
		ok = regexec(&m->re, local.data, 0, NULL, 0) == 0;
		ms_buf_deinit(&local);
		if (!ok)
			return false;
	}
	return true;
}

int mboxutil_list_each(struct mboxutil *m, int (*cb)(struct mboxutil *m,
						     const struct mboxutil_item *it, void *ctx),
		       void *ctx)
{
	struct user_list users = { 0, NULL };
	struct ms_buf why, full;
	char *one = single_user(m->pattern);
	int rc = 0;

	ms_buf_init(&why);
	ms_buf_init(&full);
	if (one != NULL) {
		int ex = store_user_exists(m->store, one, &why);
		if (ex < 0) {
			mboxutil_list_fail(m, one, why.data);
			rc = -1;
		} else if (ex == 1) {
			add_user(&users, one, NULL);
		}
		free(one);
	} else if (store_user_list(m->store, add_user, &users, &why) < 0) {
		mboxutil_list_fail(m, "cannot list the users", why.data);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < users.n; i++) {
		struct store_user *u = NULL;
		struct mb_list mbs = { 0, NULL };

		if (store_user_open(m->store, users.ids[i], 0, NULL, &u, &why) < 0) {
			mboxutil_list_fail(m, users.ids[i], why.data);
			continue;
		}
		if (store_mailbox_list(u, NULL, add_mailbox, &mbs, &why) < 0)
			mboxutil_list_fail(m, users.ids[i], why.data);
		for (size_t j = 0; j < mbs.n && rc == 0; j++) {
			ms_buf_reset(&full);
			store_name_full(users.ids[i], mbs.v[j].name, &full);
			if (!matches(m, full.data))
				continue;
			struct mboxutil_item it = { u, mbs.v[j], full.data };
			if (cb(m, &it, ctx) != 0)
				rc = 1;
		}
		for (size_t j = 0; j < mbs.n; j++)
			store_mailbox_info_deinit(&mbs.v[j]);
		free(mbs.v);
		store_user_close(&u);
	}
	for (size_t i = 0; i < users.n; i++)
		free(users.ids[i]);
	free(users.ids);
	ms_buf_deinit(&why);
	ms_buf_deinit(&full);
	return rc < 0 ? -1 : 0;
}

struct list_ctx {
	unsigned long count;
	struct store_quota_limits limits;
};

static int print_acl(void *ctx, const char *identifier, const char *rights)
{
	struct ms_buf *out = ctx;

	ms_buf_printf(out, " %s %s", identifier, rights);
	return 0;
}

static void column(const struct mboxutil *m, struct ms_buf *out, const char *fmt,
		   const char *value, bool last)
{
	if (m->bound != NULL) {
		ms_buf_puts(out, value);
		if (!last)
			ms_buf_puts(out, m->bound);
	} else {
		ms_buf_printf(out, fmt, value);
		if (!last)
			ms_buf_putc(out, ' ');
	}
}

static int list_one(struct mboxutil *m, const struct mboxutil_item *it, void *vctx)
{
	struct list_ctx *c = vctx;
	const struct store_mailbox_info *in = &it->info;
	struct ms_buf line, name, v;
	char date[16] = "-", hm[8] = "-";

	c->count++;
	ms_buf_init(&line);
	ms_buf_init(&name);
	ms_buf_init(&v);
	mboxutil_list_name(m, it->full, &name);
	if (m->names_only) {
		printf("%s\n", name.data);
		goto out;
	}
	if (in->last_append > 0) {
		time_t t = (time_t)in->last_append;
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y/%m/%d", &tm);
		strftime(hm, sizeof(hm), "%H:%M", &tm);
	}
	ms_buf_setf(&v, "%u", in->messages);
	column(m, &line, "%-5s", v.data, false);
	ms_buf_setf(&v, "%llu", (unsigned long long)((in->bytes + 1023) / 1024));
	column(m, &line, "%6s", v.data, false);
	column(m, &line, "%-10s", date, false);
	column(m, &line, "%-5s", hm, false);
	column(m, &line, "%-10s", store_user_partition(it->user), false);
	if (strcmp(in->name, "INBOX") == 0) {
		long long q = c->limits.n > 0 ? c->limits.roots[0].storage : -1;
		ms_buf_setf(&v, "%lld", q < 0 ? -1LL : (q + 1023) / 1024);
	} else {
		ms_buf_setf(&v, "-");
	}
	column(m, &line, "%9s", v.data, false);
	column(m, &line, "%s", name.data, true);
	printf("%s\n", line.data);
	if (m->extended) {
		struct ms_buf acl, why, path;
		ms_buf_init(&acl);
		ms_buf_init(&why);
		ms_buf_init(&path);
		ms_buf_printf(&path, "%s/m%u", store_user_msgdir(it->user), in->id);
		printf("    Path: %s\n", path.data);
		if (store_acl_list(it->user, in->name, print_acl, &acl, &why) < 0)
			mboxutil_list_fail(m, it->full, why.data);
		else
			printf("    ACL:%s\n", acl.data);
		ms_buf_deinit(&acl);
		ms_buf_deinit(&why);
		ms_buf_deinit(&path);
	}
out:
	ms_buf_deinit(&line);
	ms_buf_deinit(&name);
	ms_buf_deinit(&v);
	return 0;
}

int mboxutil_list(struct mboxutil *m, bool deleted)
{
	struct list_ctx c;
	struct ms_buf why;

	memset(&c, 0, sizeof(c));
	ms_buf_init(&why);
	store_quota_limits_init(&c.limits);
	if (store_quota_parse(m->store, NULL, NULL, &c.limits, &why) < 0) {
		fprintf(stderr, "mboxutil: %s\n", why.data);
		ms_buf_deinit(&why);
		return MBOXUTIL_EX_FAIL;
	}
	if (!m->names_only) {
		if (m->bound != NULL)
			printf("msgs%sKbytes%slast msg%spartition%squotaroot%smailbox\n", m->bound,
			       m->bound, m->bound, m->bound, m->bound);
		else
			printf("%-5s %6s %-16s %-10s %9s %s\n", "msgs", "Kbytes", "last msg",
			       "partition", "quotaroot", "mailbox");
	}
	/* Deleted mailboxes are removed at once (no store.mailboxpurgedelay):
	 * -D finds none. */
	if (!deleted && mboxutil_list_each(m, list_one, &c) < 0) {
		store_quota_limits_deinit(&c.limits);
		ms_buf_deinit(&why);
		return m->temporary ? MBOXUTIL_EX_TEMPFAIL : MBOXUTIL_EX_FAIL;
	}
	if (m->count)
		printf("Total: %lu mailbox(es)\n", c.count);
	store_quota_limits_deinit(&c.limits);
	ms_buf_deinit(&why);
	if (m->failures > 0)
		return m->temporary ? MBOXUTIL_EX_TEMPFAIL : MBOXUTIL_EX_PARTIAL;
	return 0;
}
