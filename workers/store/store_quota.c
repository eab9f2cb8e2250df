/*
 * store_quota: quota roots, usage and the verdict (see the header).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "store_db.h"
#include "store_int.h"
#include "store_name.h"
#include "store_quota.h"

void store_quota_limits_init(struct store_quota_limits *l)
{
	l->n = 0;
	l->roots = NULL;
}

void store_quota_limits_deinit(struct store_quota_limits *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->roots[i].name);
	free(l->roots);
	store_quota_limits_init(l);
}

int store_quota_value(const char *text, long long *v_r)
{
	char *end;
	long long v, mult = 1;

	while (isspace((unsigned char)*text))
		text++;
	if (*text == '\0')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024LL * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024LL * 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -1;
	if (v < -2)
		return -1;
	if (v > 0 && v > LLONG_MAX / mult)
		return -1;
	*v_r = v > 0 ? v * mult : v;
	return 0;
}

static struct store_quota_root *root_named(struct store_quota_limits *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->roots[i].name, name) == 0)
			return &l->roots[i];
	l->roots = ms_xrealloc(l->roots, (l->n + 1) * sizeof(*l->roots));
	l->roots[l->n] = (struct store_quota_root){ ms_xstrdup(name), -2, -2 };
	return &l->roots[l->n++];
}

/* Parse "<default>[;name%value]..." into the storage (which 0) or message (1) limits. */
static int parse_list(const char *text, int which, struct store_quota_limits *l,
		      struct ms_buf *why)
{
	char *copy = ms_xstrdup(text), *save = NULL, *item;
	bool first = true;
	int rc = -1;

	for (item = strtok_r(copy, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
		char *pct = strrchr(item, '%');
		struct store_quota_root *r;
		long long v;

		if (first && pct == NULL) {
			r = &l->roots[0];
			if (store_quota_value(item, &v) < 0)
				goto bad;
		} else {
			struct ms_buf norm;
			if (pct == NULL || pct == item)
				goto bad;
			*pct = '\0';
			if (store_quota_value(pct + 1, &v) < 0)
				goto bad;
			ms_buf_init(&norm);
			if (item[0] == '#') {
				if (item[1] == '\0') {
					ms_buf_deinit(&norm);
					goto bad;
				}
				ms_buf_puts(&norm, item);
			} else if (store_name_mailbox_norm(item, &norm, why) < 0) {
				ms_buf_deinit(&norm);
				goto out;
			}
			r = root_named(l, norm.data);
			ms_buf_deinit(&norm);
		}
		first = false;
		if (which == 0)
			r->storage = v;
		else
			r->messages = v;
	}
	rc = 0;
	goto out;
bad:
	ms_buf_setf(why, "bad quota \"%s\" (want <value>[;<root>%%<value>]..., -1 unlimited)",
		    text);
out:
	free(copy);
	return rc;
}

int store_quota_parse(struct store *s, const char *mailquota, const char *mailmsgquota,
		      struct store_quota_limits *l, struct ms_buf *why)
{
	struct store_quota_limits def;
	char num[32];

	store_quota_limits_init(l);
	store_quota_limits_init(&def);
	l->roots = ms_xcalloc(1, sizeof(*l->roots));
	l->roots[0] = (struct store_quota_root){ ms_xstrdup(""), -2, -2 };
	l->n = 1;
	def.roots = ms_xcalloc(1, sizeof(*def.roots));
	def.roots[0] = (struct store_quota_root){ ms_xstrdup(""), -1, -1 };
	def.n = 1;
	snprintf(num, sizeof(num), "%lld", s->opt.default_msgquota);
	if (parse_list(s->opt.default_mailquota, 0, &def, why) < 0 ||
	    parse_list(num, 1, &def, why) < 0) {
		ms_buf_printf(why, " in %s", ms_optdefs[MS_OPT_STORE_DEFAULTMAILBOXQUOTA].name);
		goto fail;
	}
	if ((mailquota != NULL && parse_list(mailquota, 0, l, why) < 0) ||
	    (mailmsgquota != NULL && parse_list(mailmsgquota, 1, l, why) < 0))
		goto fail;
	/* -2 (or unset): the default's value for the same root, else unlimited. */
	for (size_t i = 0; i < def.n; i++)
		if (i > 0 && (mailquota == NULL || strcmp(mailquota, "-2") == 0))
			(void)root_named(l, def.roots[i].name);
	for (size_t i = 0; i < l->n; i++) {
		struct store_quota_root *r = &l->roots[i], *d = NULL;
		for (size_t j = 0; j < def.n; j++)
			if (strcmp(def.roots[j].name, r->name) == 0)
				d = &def.roots[j];
		if (r->storage == -2)
			r->storage = d != NULL && d->storage != -2 ? d->storage : -1;
		if (r->messages == -2)
			r->messages = d != NULL && d->messages != -2 ? d->messages : -1;
	}
	store_quota_limits_deinit(&def);
	return 0;
fail:
	store_quota_limits_deinit(&def);
	store_quota_limits_deinit(l);
	return store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
}

size_t store_quota_root_of(const struct store_quota_limits *l, const char *mailbox)
{
	size_t best = 0, bestlen = 0;

	for (size_t i = 1; i < l->n; i++) {
		const char *name = l->roots[i].name;
		size_t n = strlen(name);

		if (name[0] == '#')
			continue;
		if ((strcmp(name, mailbox) == 0 || store_name_is_child(name, mailbox)) && n > bestlen) {
			best = i;
			bestlen = n;
		}
	}
	return best;
}

int store_quota_usage_txn(struct store_user *u, const struct store_quota_limits *l, size_t root,
			  uint64_t *bytes_r, uint64_t *messages_r, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	*bytes_r = *messages_r = 0;
	if (root < l->n && l->roots[root].name[0] == '#')
		return 0;
	st = store_db_stmt(s, store_user_db(u), "SELECT name, messages, bytes FROM mailbox", why);
	if (st == NULL)
		return -1;
	while ((rc = store_db_step(s, store_user_db(u), st, why)) == 1) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (store_quota_root_of(l, name) != root)
			continue;
		*messages_r += (uint64_t)sqlite3_column_int64(st, 1);
		*bytes_r += (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

int store_quota_usage(struct store_user *u, const struct store_quota_limits *l, size_t root,
		      uint64_t *bytes_r, uint64_t *messages_r, struct ms_buf *why)
{
	int rc;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	rc = store_quota_usage_txn(u, l, root, bytes_r, messages_r, why);
	store_user_rollback(u);
	return rc;
}

static int64_t over_since(struct store_user *u, struct ms_buf *why, bool *err)
{
	struct store *s = u->store;
	sqlite3_stmt *st = store_db_stmt(s, store_user_db(u),
					 "SELECT overquota_since FROM user WHERE id = 1", why);
	int64_t v = 0;

	*err = false;
	if (st == NULL || store_db_step(s, store_user_db(u), st, why) != 1) {
		*err = true;
		return 0;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int store_quota_check_txn(struct store_user *u, const struct store_quota_limits *l,
			  const char *mailbox, uint64_t bytes, uint64_t messages,
			  struct ms_buf *why)
{
	struct store *s = u->store;
	size_t root = store_quota_root_of(l, mailbox);
	const struct store_quota_root *r = &l->roots[root];
	uint64_t used_b, used_m;
	bool over, err;
	int64_t since;

	/* One message bigger than the whole quota can never fit: bounce it. */
	if (messages == 1 && r->storage >= 0 && bytes > (uint64_t)r->storage)
		return store_fail_perm(s, MS_E_TOOBIG, why,
				       "message of %llu bytes is larger than the whole quota of %s "
				       "(%lld bytes)",
				       (unsigned long long)bytes,
				       r->name[0] != '\0' ? r->name : "the mailbox", r->storage);
	if (!s->opt.quota_enforcement || (r->storage < 0 && r->messages < 0))
		goto accepted;
	if (store_quota_usage_txn(u, l, root, &used_b, &used_m, why) < 0)
		return -1;
	if (s->opt.quota_overdraft)
		over = (r->storage >= 0 && used_b > (uint64_t)r->storage) ||
		       (r->messages >= 0 && used_m >= (uint64_t)r->messages);
	else
		over = (r->storage >= 0 && used_b + bytes > (uint64_t)r->storage) ||
		       (r->messages >= 0 && used_m + messages > (uint64_t)r->messages);
	if (!over)
		goto accepted;
	since = over_since(u, why, &err);
	if (err)
		return -1;
	if (since > 0 && store_now() - since > s->opt.quota_grace)
		return store_fail_perm(s, MS_E_OVERQUOTA, why,
				       "mailbox of %s over quota for longer than the grace period "
				       "(%lld hours): used %llu bytes, %llu messages",
				       u->userid, s->opt.quota_grace / 3600,
				       (unsigned long long)used_b, (unsigned long long)used_m);
	return store_fail(s, MS_E_OVERQUOTA, why,
			  "mailbox of %s over quota: used %llu of %lld bytes, %llu of %lld messages",
			  u->userid, (unsigned long long)used_b, r->storage,
			  (unsigned long long)used_m, r->messages);
accepted: {
	sqlite3_stmt *st = store_db_stmt(s, store_user_db(u),
					 "UPDATE user SET overquota_since = NULL WHERE id = 1"
					 " AND overquota_since IS NOT NULL",
					 why);
	if (st == NULL || store_db_done(s, store_user_db(u), st, why) < 0)
		return -1;
	return 0;
}
}

void store_quota_mark_over(struct store_user *u)
{
	struct store *s = u->store;
	enum ms_error err = s->err;
	bool perm = s->errperm;
	struct ms_buf why;
	sqlite3_stmt *st;

	/* Best effort, in its own transaction (the refused one was rolled
	 * back); the caller's error stays what it was. */
	ms_buf_init(&why);
	if (store_db_begin(s, store_user_db(u), true, &why) == 0) {
		st = store_db_stmt(s, store_user_db(u),
				   "UPDATE user SET overquota_since = ? WHERE id = 1"
				   " AND overquota_since IS NULL",
				   &why);
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, store_now());
			if (store_db_done(s, store_user_db(u), st, &why) == 0) {
				store_db_commit(s, store_user_db(u), NULL, &why);
				st = NULL;
			}
		}
		if (store_db_in_txn(store_user_db(u)))
			store_db_rollback(store_user_db(u));
	}
	ms_buf_deinit(&why);
	s->err = err;
	s->errperm = perm;
}
