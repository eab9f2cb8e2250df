/*
 * store_mboxlist: the mailbox list database (see the header).
 */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_int.h"
#include "store_mboxlist.h"

/* One statement in its own short transaction (autocommit). */
static int run1(struct store *s, const char *sql, const char *a, const char *b, const char *c,
		int64_t n, struct ms_buf *why)
{
	struct store_db *db;
	sqlite3_stmt *st;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db, sql, why);
	if (st == NULL)
		return -1;
	if (a != NULL)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (c != NULL)
		sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	if (n >= 0)
		sqlite3_bind_int64(st, c != NULL ? 4 : 3, n);
	return store_db_done(s, db, st, why);
}

int store_mboxlist_get(struct store *s, const char *userid, struct ms_buf *partition,
		       struct ms_buf *why)
{
	struct store_db *db;
	sqlite3_stmt *st;
	int rc;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db, "SELECT partition FROM users WHERE userid = ?", why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, userid, -1, SQLITE_STATIC);
	rc = store_db_step(s, db, st, why);
	if (rc == 1) {
		ms_buf_setf(partition, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	return rc;
}

int store_mboxlist_put(struct store *s, const char *userid, const char *partition,
		       struct ms_buf *why)
{
	return run1(s,
		    "INSERT INTO users (userid, partition, created) VALUES (?, ?, ?)"
		    " ON CONFLICT (userid) DO UPDATE SET partition = excluded.partition",
		    userid, partition, NULL, store_now(), why);
}

int store_mboxlist_remove(struct store *s, const char *userid, struct ms_buf *why)
{
	if (run1(s, "DELETE FROM users WHERE userid = ?", userid, NULL, NULL, -1, why) < 0)
		return -1;
	return store_mboxlist_lright_drop(s, userid, 0, why);
}

struct pair_list {
	size_t n, cap;
	char **a, **b;
};

static void pairs_free(struct pair_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->a[i]);
		free(l->b[i]);
	}
	free(l->a);
	free(l->b);
}

int store_mboxlist_users(struct store *s,
			 int (*cb)(void *ctx, const char *userid, const char *partition),
			 void *ctx, struct ms_buf *why)
{
	struct store_db *db;
	sqlite3_stmt *st;
	struct pair_list l = { 0, 0, NULL, NULL };
	int rc;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db, "SELECT userid, partition FROM users ORDER BY userid", why);
	if (st == NULL)
		return -1;
	while ((rc = store_db_step(s, db, st, why)) == 1) {
		if (l.n == l.cap) {
			l.cap = l.cap == 0 ? 64 : l.cap * 2;
			l.a = ms_xrealloc(l.a, l.cap * sizeof(char *));
			l.b = ms_xrealloc(l.b, l.cap * sizeof(char *));
		}
		l.a[l.n] = ms_xstrdup((const char *)sqlite3_column_text(st, 0));
		l.b[l.n] = ms_xstrdup((const char *)sqlite3_column_text(st, 1));
		l.n++;
	}
	sqlite3_reset(st);
	if (rc < 0) {
		pairs_free(&l);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++)
		if (cb(ctx, l.a[i], l.b[i]) != 0)
			break;
	pairs_free(&l);
	return 0;
}

int store_mboxlist_lright_set(struct store *s, const char *identifier, const char *owner,
			      uint32_t mailbox, bool on, struct ms_buf *why)
{
	if (on)
		return run1(s,
			    "INSERT OR IGNORE INTO lright (identifier, owner, mailbox)"
			    " VALUES (?, ?, ?)",
			    identifier, owner, NULL, mailbox, why);
	return run1(s, "DELETE FROM lright WHERE identifier = ? AND owner = ? AND mailbox = ?",
		    identifier, owner, NULL, mailbox, why);
}

int store_mboxlist_lright_drop(struct store *s, const char *owner, uint32_t mailbox,
			       struct ms_buf *why)
{
	if (mailbox == 0)
		return run1(s, "DELETE FROM lright WHERE owner = ?", owner, NULL, NULL, -1, why);
	/* run1 binds n after the texts: owner is ?1, mailbox ?2. */
	struct store_db *db;
	sqlite3_stmt *st;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db, "DELETE FROM lright WHERE owner = ? AND mailbox = ?", why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox);
	return store_db_done(s, db, st, why);
}

int store_mboxlist_lright_list(struct store *s, const char *identifier,
			       int (*cb)(void *ctx, const char *owner, uint32_t mailbox),
			       void *ctx, struct ms_buf *why)
{
	struct store_db *db;
	sqlite3_stmt *st;
	int rc;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT owner, mailbox FROM lright WHERE identifier = ?"
			   " ORDER BY owner, mailbox",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, identifier, -1, SQLITE_STATIC);
	while ((rc = store_db_step(s, db, st, why)) == 1) {
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
		       (uint32_t)sqlite3_column_int64(st, 1)) != 0)
			break;
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

int store_mboxlist_lright_all(struct store *s,
			      int (*cb)(void *ctx, const char *identifier, const char *owner,
					uint32_t mailbox),
			      void *ctx, struct ms_buf *why)
{
	struct store_db *db;
	sqlite3_stmt *st;
	int rc;

	if (store_mboxlist_db(s, &db, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT identifier, owner, mailbox FROM lright"
			   " ORDER BY identifier, owner, mailbox",
			   why);
	if (st == NULL)
		return -1;
	while ((rc = store_db_step(s, db, st, why)) == 1) {
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1),
		       (uint32_t)sqlite3_column_int64(st, 2)) != 0)
			break;
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}
