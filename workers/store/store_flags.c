/*
 * store_flags: flags and keywords (see the header).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "store_db.h"
#include "store_int.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_uidset.h"

static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", STORE_FLAG_SEEN },       { "\\Answered", STORE_FLAG_ANSWERED },
	{ "\\Flagged", STORE_FLAG_FLAGGED }, { "\\Deleted", STORE_FLAG_DELETED },
	{ "\\Draft", STORE_FLAG_DRAFT },
};
#define NSYSTEM (sizeof(system_flags) / sizeof(system_flags[0]))

int store_flags_parse(const char *name, unsigned *flag_r)
{
	for (size_t i = 0; i < NSYSTEM; i++) {
		if (strcasecmp(name, system_flags[i].name) == 0) {
			*flag_r = system_flags[i].bit;
			return 1;
		}
	}
	if (name[0] == '\\' || !store_name_keyword_ok(name))
		return -1;
	return 0;
}

void store_flags_format(unsigned flags, const char *keywords, struct ms_buf *out)
{
	bool first = true;

	for (size_t i = 0; i < NSYSTEM; i++) {
		if (flags & system_flags[i].bit) {
			if (!first)
				ms_buf_putc(out, ' ');
			ms_buf_puts(out, system_flags[i].name);
			first = false;
		}
	}
	if (keywords != NULL && *keywords != '\0') {
		if (!first)
			ms_buf_putc(out, ' ');
		ms_buf_puts(out, keywords);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_flags_keywords(const char *have, const char *const *kw, size_t n,
			  enum store_flags_op op, struct ms_buf *out)
{
	char **list = NULL;
	size_t count = 0, cap = 0;
	char *copy = ms_xstrdup(have != NULL ? have : ""), *save = NULL, *w;

	if (op != STORE_FLAGS_REPLACE) {
		for (w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
			bool drop = false;
			if (op == STORE_FLAGS_REMOVE)
				for (size_t i = 0; i < n && !drop; i++)
					drop = strcmp(w, kw[i]) == 0;
			if (drop)
				continue;
			if (count == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				list = ms_xrealloc(list, cap * sizeof(char *));
			}
			list[count++] = w;
		}
	}
	if (op != STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < n; i++) {
			if (count == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				list = ms_xrealloc(list, cap * sizeof(char *));
			}
			list[count++] = (char *)kw[i];
		}
	}
	if (count > 1)
		qsort(list, count, sizeof(char *), cmp_str);
	ms_buf_reset(out);
	for (size_t i = 0; i < count; i++) {
		if (i > 0 && strcmp(list[i], list[i - 1]) == 0)
			continue;
		if (out->len > 0)
			ms_buf_putc(out, ' ');
		ms_buf_puts(out, list[i]);
	}
	free(list);
	free(copy);
}

struct pending_row {
	uint32_t uid;
	unsigned flags;
	char *keywords;
	uint64_t modseq;
	int64_t internaldate, savedate;
	uint64_t size;
	bool changed;
};

int store_flags_store(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		      const struct store_flags_change *c,
		      int (*cb)(void *ctx, const struct store_msg *msg), void *ctx,
		      struct store_uidset *failed, uint64_t *modseq_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct pending_row *rows = NULL;
	size_t nrows = 0, cap = 0, nchanged = 0;
	struct ms_buf kw;
	sqlite3_stmt *st;
	uint64_t highest = 0, modseq;
	int rc = -1, step = 0;

	for (size_t i = 0; i < c->nkeywords; i++)
		if (!store_name_keyword_ok(c->keywords[i]))
			return store_fail(s, MS_E_SYNTAX, why, "bad keyword \"%s\"", c->keywords[i]);
	if (c->flags & ~(unsigned)STORE_FLAG_ALL)
		return store_fail(s, MS_E_SYNTAX, why, "unknown system flag bits");
	ms_buf_init(&kw);
	if (store_user_begin(u, true, why) < 0)
		goto out;
	st = store_db_stmt(s, db, "SELECT highestmodseq FROM mailbox WHERE id = ?", why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, mailbox);
	step = store_db_step(s, db, st, why);
	if (step <= 0) {
		if (step == 0)
			store_fail(s, MS_E_NOMAILBOX, why, "no mailbox number %u of %s", mailbox,
				   u->userid);
		goto fail;
	}
	highest = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	modseq = highest + 1;
	/* Read the set first, then update: no statement is stepped while the
	 * table changes under it. */
	st = store_db_stmt(s, db,
			   "SELECT uid, modseq, flags, keywords, internaldate, savedate, size"
			   " FROM message WHERE mailbox = ? AND uid BETWEEN ? AND ? ORDER BY uid",
			   why);
	if (st == NULL)
		goto fail;
	for (size_t r = 0; r < (uids != NULL ? uids->n : 1); r++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, mailbox);
		sqlite3_bind_int64(st, 2, uids != NULL ? uids->r[r].lo : 1);
		sqlite3_bind_int64(st, 3, uids != NULL ? uids->r[r].hi : UINT32_MAX);
		while ((step = store_db_step(s, db, st, why)) == 1) {
			struct pending_row p;
			unsigned f = (unsigned)sqlite3_column_int64(st, 2);
			const char *have = (const char *)sqlite3_column_text(st, 3);

			p.uid = (uint32_t)sqlite3_column_int64(st, 0);
			p.modseq = (uint64_t)sqlite3_column_int64(st, 1);
			if (c->unchangedsince != 0 && p.modseq > c->unchangedsince) {
				if (failed != NULL)
					store_uidset_add(failed, p.uid, p.uid);
				continue;
			}
			switch (c->op) {
			case STORE_FLAGS_ADD:
				p.flags = f | c->flags;
				break;
			case STORE_FLAGS_REMOVE:
				p.flags = f & ~c->flags;
				break;
			case STORE_FLAGS_REPLACE_KEEP_SEEN:
				p.flags = (c->flags & ~(unsigned)STORE_FLAG_SEEN) |
					  (f & STORE_FLAG_SEEN);
				break;
			default:
				p.flags = c->flags;
				break;
			}
			store_flags_keywords(have, c->keywords, c->nkeywords,
					     c->op == STORE_FLAGS_ADD || c->op == STORE_FLAGS_REMOVE
						     ? c->op
						     : STORE_FLAGS_REPLACE,
					     &kw);
			p.changed = p.flags != f || strcmp(kw.data, have != NULL ? have : "") != 0;
			p.keywords = ms_xstrdup(kw.data);
			p.internaldate = sqlite3_column_int64(st, 4);
			p.savedate = sqlite3_column_int64(st, 5);
			p.size = (uint64_t)sqlite3_column_int64(st, 6);
			if (p.changed) {
				p.modseq = modseq;
				nchanged++;
			}
			if (nrows == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				rows = ms_xrealloc(rows, cap * sizeof(*rows));
			}
			rows[nrows++] = p;
		}
		if (step < 0)
			goto fail;
	}
	sqlite3_reset(st);
	if (nchanged > 0) {
		st = store_db_stmt(s, db,
				   "UPDATE message SET flags = ?, keywords = ?, modseq = ?"
				   " WHERE mailbox = ? AND uid = ?",
				   why);
		if (st == NULL)
			goto fail;
		for (size_t i = 0; i < nrows; i++) {
			if (!rows[i].changed)
				continue;
			sqlite3_bind_int64(st, 1, rows[i].flags);
			sqlite3_bind_text(st, 2, rows[i].keywords, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
			sqlite3_bind_int64(st, 4, mailbox);
			sqlite3_bind_int64(st, 5, rows[i].uid);
			if (store_db_done(s, db, st, why) < 0)
				goto fail;
		}
		st = store_db_stmt(s, db, "UPDATE mailbox SET highestmodseq = ? WHERE id = ?", why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 2, mailbox);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
		store_user_note(u, STORE_NOTIFY_FLAGS, mailbox, 0, modseq);
		highest = modseq;
	}
	if (store_user_commit(u, why) < 0)
		goto out;
	if (modseq_r != NULL)
		*modseq_r = highest;
	for (size_t i = 0; cb != NULL && i < nrows; i++) {
		struct store_msg m = { rows[i].uid,      rows[i].modseq,   rows[i].flags,
				       rows[i].keywords, rows[i].internaldate, rows[i].savedate,
				       rows[i].size };
		if (cb(ctx, &m) != 0)
			break;
	}
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].keywords);
	free(rows);
	ms_buf_deinit(&kw);
	return rc;
}

/* ---- per-user \Seen ------------------------------------------------------------ */

bool store_seen_per_user(struct store *s)
{
	return store_conf_int(s->conf, MS_OPT_STORE_PRIVATESHAREDFOLDERS_SHAREFLAGS) == 0;
}

void store_seen_subtract(struct store_uidset *set, const struct store_uidset *minus)
{
	struct store_uidset out;
	size_t j = 0;

	if (minus->n == 0)
		return;
	store_uidset_init(&out);
	for (size_t i = 0; i < set->n; i++) {
		uint64_t lo = set->r[i].lo, hi = set->r[i].hi;

		while (j < minus->n && minus->r[j].hi < lo)
			j++;
		for (size_t k = j; k < minus->n && minus->r[k].lo <= hi && lo <= hi; k++) {
			if (minus->r[k].lo > lo)
				store_uidset_add(&out, (uint32_t)lo, minus->r[k].lo - 1);
			lo = (uint64_t)minus->r[k].hi + 1;
		}
		if (lo <= hi)
			store_uidset_add(&out, (uint32_t)lo, (uint32_t)hi);
	}
	store_uidset_deinit(set);
	*set = out;
}

/* Inside the caller's transaction: the reader's row into set (cleared). */
static int seen_read(struct store_user *u, const char *owner, uint32_t mailbox,
		     uint32_t uidvalidity, struct store_uidset *set, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	int step, rc = 0;

	store_uidset_clear(set);
	st = store_db_stmt(s, db,
			   "SELECT uidvalidity, seen FROM peruser WHERE owner = ? AND mailbox = ?",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox);
	step = store_db_step(s, db, st, why);
	if (step < 0)
		return -1;
	if (step == 1 && (uint32_t)sqlite3_column_int64(st, 0) == uidvalidity) {
		const char *text = (const char *)sqlite3_column_text(st, 1);

		if (text != NULL && *text != '\0' &&
		    store_uidset_parse(text, UINT32_MAX, set, why) < 0)
			rc = store_fail(s, MS_E_INTERNAL, why,
					"%s: bad seen set for %s mailbox %u (run reconstruct)",
					u->userid, owner, mailbox);
	}
	sqlite3_reset(st);
	return rc;
}

int store_seen_get(struct store_user *reader, const char *owner, uint32_t mailbox,
		   uint32_t uidvalidity, struct store_uidset *set, struct ms_buf *why)
{
	int rc;

	if (store_user_begin(reader, false, why) < 0)
		return -1;
	rc = seen_read(reader, owner, mailbox, uidvalidity, set, why);
	if (rc < 0) {
		store_user_rollback(reader);
		return -1;
	}
	return store_user_commit(reader, why);
}

int store_seen_set(struct store_user *reader, const char *owner, uint32_t mailbox,
		   uint32_t uidvalidity, const struct store_uidset *uids, bool seen,
		   struct ms_buf *why)
{
	struct store *s = reader->store;
	struct store_db *db = store_user_db(reader);
	struct store_uidset set;
	struct ms_buf text;
	sqlite3_stmt *st;
	int rc = -1;

	store_uidset_init(&set);
	ms_buf_init(&text);
	if (store_user_begin(reader, true, why) < 0)
		goto out;
	if (seen_read(reader, owner, mailbox, uidvalidity, &set, why) < 0)
		goto fail;
	if (seen) {
		for (size_t i = 0; i < uids->n; i++)
			store_uidset_add(&set, uids->r[i].lo, uids->r[i].hi);
	} else {
		store_seen_subtract(&set, uids);
	}
	store_uidset_format(&set, &text);
	st = store_db_stmt(s, db,
			   "INSERT OR REPLACE INTO peruser (owner, mailbox, uidvalidity, seen,"
			   " last_access) VALUES (?, ?, ?, ?, ?)",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_text(st, 4, text.len > 0 ? text.data : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	if (store_db_done(s, db, st, why) < 0)
		goto fail;
	rc = store_user_commit(reader, why);
	goto out;
fail:
	store_user_rollback(reader);
out:
	store_uidset_deinit(&set);
	ms_buf_deinit(&text);
	return rc;
}
