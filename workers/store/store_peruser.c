/*
 * store_peruser: who reads which shared folder (see the header).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_int.h"
#include "store_peruser.h"
#include "store_user.h"

/* ---- touch ------------------------------------------------------------------------------ */

/* Inside a read transaction: 1 when the row is recent enough to leave alone. */
static int touch_needed(struct store_user *u, const char *owner, uint32_t mailbox,
			uint32_t uidvalidity, int64_t now, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	int step, needed = 1;

	st = store_db_stmt(s, db,
			   "SELECT uidvalidity, last_access FROM peruser"
			   " WHERE owner = ? AND mailbox = ?",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox);
	step = store_db_step(s, db, st, why);
	if (step < 0)
		return -1;
	if (step == 1 && (uint32_t)sqlite3_column_int64(st, 0) == uidvalidity &&
	    sqlite3_column_int64(st, 1) + STORE_PERUSER_TOUCH_SECS > now)
		needed = 0;
	sqlite3_reset(st);
	return needed;
}

static int touch_write(struct store_user *u, const char *owner, uint32_t mailbox,
		       uint32_t uidvalidity, int64_t now, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;

	/* A row of another UIDVALIDITY counts as empty (store_seen_get):
	 * it starts again with nothing seen. */
	st = store_db_stmt(s, db,
			   "INSERT INTO peruser (owner, mailbox, uidvalidity, seen, last_access)"
			   " VALUES (?1, ?2, ?3, '', ?4) ON CONFLICT (owner, mailbox) DO UPDATE SET"
			   " seen = CASE WHEN uidvalidity = ?3 THEN seen ELSE '' END,"
			   " uidvalidity = ?3, last_access = MAX(last_access, ?4)",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_int64(st, 4, now);
	return store_db_done(s, db, st, why);
}

int store_peruser_touch(struct store_user *reader, const char *owner, uint32_t mailbox,
			uint32_t uidvalidity, struct ms_buf *why)
{
	int64_t now = (int64_t)time(NULL);
	int needed;

	if (store_user_begin(reader, false, why) < 0)
		return -1;
	needed = touch_needed(reader, owner, mailbox, uidvalidity, now, why);
	if (needed < 0) {
		store_user_rollback(reader);
		return -1;
	}
	if (store_user_commit(reader, why) < 0)
		return -1;
	if (needed == 0)
		return 0;
	if (store_user_begin(reader, true, why) < 0)
		return -1;
	if (touch_write(reader, owner, mailbox, uidvalidity, now, why) < 0) {
		store_user_rollback(reader);
		return -1;
	}
	return store_user_commit(reader, why);
}

/* ---- the walk over every user ---------------------------------------------------------- */

struct userids {
	char **v;
	size_t n;
};

static int add_user(void *ctx, const char *userid, const char *partition)
{
	struct userids *l = ctx;

	(void)partition;
	l->v = ms_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = ms_xstrdup(userid);
	return 0;
}

static void userids_free(struct userids *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* What to do with one opened user: -1 failed (why set), 1 stop, 0 go on. */
typedef int (*user_fn)(struct store_user *u, void *arg, struct ms_buf *why);

static int walk(struct store *s, const struct store_peruser_walk *w, user_fn fn, void *arg,
		size_t *failed_r, struct ms_buf *why)
{
	struct userids l = { NULL, 0 };
	struct ms_buf uwhy;
	size_t failed = 0;
	int r = 0;

	if (store_user_list(s, add_user, &l, why) < 0) {
		userids_free(&l);
		return -1;
	}
	ms_buf_init(&uwhy);
	for (size_t i = 0; i < l.n && r != 1; i++) {
		struct store_user *u = NULL;

		ms_buf_reset(&uwhy);
		if (store_user_open(s, l.v[i], 0, NULL, &u, &uwhy) < 0) {
			r = store_errcode(s) == MS_E_NOUSER ? 0 : -1;
		} else {
			r = fn(u, arg, &uwhy);
			store_user_close(&u);
		}
		if (r < 0) {
			failed++;
			if (w->failed != NULL)
				w->failed(w->ctx, l.v[i], uwhy.data);
		}
		if (w->progress != NULL)
			w->progress(w->ctx, i + 1, l.n);
	}
	ms_buf_deinit(&uwhy);
	userids_free(&l);
	if (failed_r != NULL)
		*failed_r = failed;
	store_ok(s);
	return 0;
}

/* ---- scan ------------------------------------------------------------------------------- */

struct scan_arg {
	const struct store_peruser_walk *w;
	int64_t since;
};

static int scan_rows(struct store_user *u, const struct scan_arg *a, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_peruser_row row;
	sqlite3_stmt *st;
	int step = 0, stop = 0;

	st = store_db_stmt(s, db,
			   "SELECT owner, mailbox, uidvalidity, last_access FROM peruser"
			   " WHERE last_access >= ? ORDER BY owner, mailbox",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a->since);
	row.reader = u->userid;
	while (stop == 0 && (step = store_db_step(s, db, st, why)) == 1) {
		row.owner = (const char *)sqlite3_column_text(st, 0);
		row.mailbox = (uint32_t)sqlite3_column_int64(st, 1);
		row.uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
		row.last_access = sqlite3_column_int64(st, 3);
		if (row.owner != NULL && a->w->row != NULL && a->w->row(a->w->ctx, &row) != 0)
			stop = 1;
	}
	sqlite3_reset(st);
	return stop != 0 ? 1 : step < 0 ? -1 : 0;
}

static int scan_user(struct store_user *u, void *arg, struct ms_buf *why)
{
	int r;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	r = scan_rows(u, arg, why);
	if (r < 0) {
		store_user_rollback(u);
		return -1;
	}
	return store_user_commit(u, why) < 0 ? -1 : r;
}

int store_peruser_scan(struct store *s, int64_t since, const struct store_peruser_walk *w,
		       size_t *failed_r, struct ms_buf *why)
{
	struct scan_arg a = { w, since };

	return walk(s, w, scan_user, &a, failed_r, why);
}

/* ---- expire ----------------------------------------------------------------------------- */

struct expire_arg {
	int64_t before;
	uint64_t removed;
};

/* The rows of u older than before, counted in a read transaction. */
static int count_old(struct store_user *u, int64_t before, int64_t *n_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	int step;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, db, "SELECT count(*) FROM peruser WHERE last_access < ?", why);
	if (st == NULL) {
		store_user_rollback(u);
		return -1;
	}
	sqlite3_bind_int64(st, 1, before);
	step = store_db_step(s, db, st, why);
	*n_r = step == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (step < 0) {
		store_user_rollback(u);
		return -1;
	}
	return store_user_commit(u, why);
}

static int expire_user(struct store_user *u, void *arg, struct ms_buf *why)
{
	struct expire_arg *a = arg;
	struct store *s = u->store;
	struct store_db *db;
	sqlite3_stmt *st;
	int64_t n;

	if (count_old(u, a->before, &n, why) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (store_user_begin(u, true, why) < 0)
		return -1;
	db = store_user_db(u);
	st = store_db_stmt(s, db, "DELETE FROM peruser WHERE last_access < ?", why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, a->before);
	if (store_db_done(s, db, st, why) < 0)
		goto fail;
	n = sqlite3_changes(store_db_handle(db));
	if (store_user_commit(u, why) < 0)
		return -1;
	a->removed += (uint64_t)n;
	return 0;
fail:
	store_user_rollback(u);
	return -1;
}

int store_peruser_expire(struct store *s, int64_t before, const struct store_peruser_walk *w,
			 uint64_t *removed_r, size_t *failed_r, struct ms_buf *why)
{
	struct expire_arg a = { before, 0 };
	int rc;

	rc = walk(s, w, expire_user, &a, failed_r, why);
	*removed_r = a.removed;
	return rc;
}
