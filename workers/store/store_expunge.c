/*
 * store_expunge: expunge, VANISHED, restore, cleanup (see the header).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_message.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_uidset.h"

struct u32_list {
	size_t n, cap;
	uint32_t *v;
};

static void u32_add(struct u32_list *l, uint32_t v)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->v = ms_xrealloc(l->v, l->cap * sizeof(uint32_t));
	}
	l->v[l->n++] = v;
}

int store_expunge_uids_txn(struct store_user *u, uint32_t mailbox, const uint32_t *uids,
			   size_t n, uint64_t *modseq_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	uint64_t modseq;
	int64_t now = store_now();
	int rc;

	st = store_db_stmt(s, db, "SELECT highestmodseq FROM mailbox WHERE id = ?", why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox);
	rc = store_db_step(s, db, st, why);
	if (rc <= 0) {
		if (rc == 0)
			store_fail(s, MS_E_NOMAILBOX, why, "no mailbox number %u of %s", mailbox,
				   u->userid);
		return -1;
	}
	modseq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (n == 0) {
		if (modseq_r != NULL)
			*modseq_r = modseq;
		return 0;
	}
	modseq++;
	for (size_t i = 0; i < n; i++) {
		st = store_db_stmt(s, db,
				   "INSERT OR REPLACE INTO expunged (mailbox, uid, modseq, flags, keywords,"
				   " internaldate, size, expunged_at, purged)"
				   " SELECT mailbox, uid, ?, flags, keywords, internaldate, size, ?, 0"
				   " FROM message WHERE mailbox = ? AND uid = ?",
				   why);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, mailbox);
		sqlite3_bind_int64(st, 4, uids[i]);
		if (store_db_done(s, db, st, why) < 0)
			return -1;
		st = store_db_stmt(s, db,
				   "UPDATE mailbox SET messages = messages - 1,"
				   " bytes = bytes - (SELECT size FROM message WHERE mailbox = ?1 AND uid = ?2),"
				   " expunged = expunged + 1"
				   " WHERE id = ?1 AND EXISTS"
				   " (SELECT 1 FROM message WHERE mailbox = ?1 AND uid = ?2)",
				   why);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox);
		sqlite3_bind_int64(st, 2, uids[i]);
		if (store_db_done(s, db, st, why) < 0)
			return -1;
		st = store_db_stmt(s, db, "DELETE FROM message WHERE mailbox = ? AND uid = ?", why);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox);
		sqlite3_bind_int64(st, 2, uids[i]);
		if (store_db_done(s, db, st, why) < 0)
			return -1;
	}
	st = store_db_stmt(s, db, "UPDATE mailbox SET highestmodseq = ? WHERE id = ?", why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)modseq);
	sqlite3_bind_int64(st, 2, mailbox);
	if (store_db_done(s, db, st, why) < 0)
		return -1;
	store_user_note(u, STORE_NOTIFY_EXPUNGE, mailbox, 0, modseq);
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
}

int store_expunge(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		  int (*cb)(void *ctx, uint32_t uid), void *ctx, uint64_t *modseq_r,
		  struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct u32_list list = { 0, 0, NULL };
	sqlite3_stmt *st;
	int rc = -1, step;

	if (store_user_begin(u, true, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT uid FROM message WHERE mailbox = ? AND (flags & 8) != 0"
			   " ORDER BY uid",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, mailbox);
	while ((step = store_db_step(s, db, st, why)) == 1) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		if (uids == NULL || store_uidset_contains(uids, uid))
			u32_add(&list, uid);
	}
	sqlite3_reset(st);
	if (step < 0)
		goto fail;
	if (store_expunge_uids_txn(u, mailbox, list.v, list.n, modseq_r, why) < 0)
		goto fail;
	store_crashpoint("expunge-before-commit");
	if (store_user_commit(u, why) < 0)
		goto out;
	for (size_t i = 0; cb != NULL && i < list.n; i++)
		if (cb(ctx, list.v[i]) != 0)
			break;
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	free(list.v);
	return rc;
}

int store_expunge_vanished(struct store_user *u, uint32_t mailbox, uint64_t since,
			   const struct store_uidset *uids, struct store_uidset *out,
			   struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	int rc;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT uid FROM expunged WHERE mailbox = ? AND modseq > ? ORDER BY uid",
			   why);
	if (st == NULL) {
		store_user_rollback(u);
		return -1;
	}
	sqlite3_bind_int64(st, 1, mailbox);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	while ((rc = store_db_step(s, db, st, why)) == 1) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		if (uids == NULL || store_uidset_contains(uids, uid))
			store_uidset_add(out, uid, uid);
	}
	sqlite3_reset(st);
	store_user_rollback(u);
	return rc < 0 ? -1 : 0;
}

struct restorable {
	uint32_t uid;
	unsigned flags;
	char *keywords;
	int64_t internaldate;
	uint64_t size;
};

int store_expunge_restore(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
			  const char *dest, uint32_t *count_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_mailbox_info to;
	struct restorable *list = NULL;
	size_t n = 0, cap = 0, done = 0;
	struct ms_buf path;
	sqlite3_stmt *st;
	uint64_t modseq;
	uint64_t bytes = 0;
	int rc = -1, step;

	memset(&to, 0, sizeof(to));
	ms_buf_init(&path);
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (dest != NULL) {
		struct ms_buf norm;
		ms_buf_init(&norm);
		step = store_name_mailbox_norm(dest, &norm, why);
		if (step == 0)
			step = store_mailbox_get_txn(u, norm.data, 0, &to, why);
		else
			store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		ms_buf_deinit(&norm);
	} else {
		step = store_mailbox_get_txn(u, NULL, mailbox, &to, why);
	}
	if (step < 0)
		goto fail;
	st = store_db_stmt(s, db,
			   "SELECT uid, flags, keywords, internaldate, size FROM expunged"
			   " WHERE mailbox = ? AND purged = 0 AND expunged_at > 0 ORDER BY uid",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, mailbox);
	while ((step = store_db_step(s, db, st, why)) == 1) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		if (uids != NULL && !store_uidset_contains(uids, uid))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			list = ms_xrealloc(list, cap * sizeof(*list));
		}
		list[n++] = (struct restorable){
			uid, (unsigned)sqlite3_column_int64(st, 1) & ~(unsigned)STORE_FLAG_DELETED,
			ms_xstrdup((const char *)sqlite3_column_text(st, 2)),
			sqlite3_column_int64(st, 3), (uint64_t)sqlite3_column_int64(st, 4)
		};
	}
	sqlite3_reset(st);
	if (step < 0)
		goto fail;
	modseq = to.highestmodseq + 1;
	uint32_t next = to.uidnext;
	for (size_t i = 0; i < n; i++) {
		struct stat sb;

		ms_buf_reset(&path);
		store_user_message_path(u, mailbox, list[i].uid, &path);
		if (stat(path.data, &sb) < 0)
			continue; /* already cleaned */
		uint32_t use = next;
		int lr = store_message_link_txn(u, path.data, to.id, &use, modseq, why);
		if (lr != 0) {
			if (lr == 1)
				store_fail(s, MS_E_TEMPFAIL, why, "cannot link %s", path.data);
			goto fail;
		}
		next = use;
		if (store_message_sync_dir(u, to.id, next, why) < 0)
			goto fail;
		st = store_db_stmt(s, db,
				   "INSERT INTO message (mailbox, uid, modseq, flags, keywords,"
				   " internaldate, savedate, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, to.id);
		sqlite3_bind_int64(st, 2, next);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 4, list[i].flags);
		sqlite3_bind_text(st, 5, list[i].keywords, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, list[i].internaldate);
		sqlite3_bind_int64(st, 7, store_now());
		sqlite3_bind_int64(st, 8, (sqlite3_int64)list[i].size);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
		/* The expunged copy is spent: its file goes after the commit. */
		st = store_db_stmt(s, db,
				   "UPDATE expunged SET purged = 1 WHERE mailbox = ? AND uid = ?", why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, mailbox);
		sqlite3_bind_int64(st, 2, list[i].uid);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
		bytes += list[i].size;
		next++;
		done++;
		store_user_note(u, STORE_NOTIFY_APPEND, to.id, next - 1, modseq);
	}
	if (done > 0) {
		st = store_db_stmt(s, db,
				   "UPDATE mailbox SET uidnext = ?, highestmodseq = ?,"
				   " messages = messages + ?, bytes = bytes + ?, last_append = ?"
				   " WHERE id = ?",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, next);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)done);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)bytes);
		sqlite3_bind_int64(st, 5, store_now());
		sqlite3_bind_int64(st, 6, to.id);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
		st = store_db_stmt(s, db,
				   "UPDATE mailbox SET expunged = (SELECT count(*) FROM expunged"
				   " WHERE mailbox = ?1 AND purged = 0) WHERE id = ?1",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, mailbox);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
	}
	if (store_user_commit(u, why) < 0)
		goto out;
	/* The restored messages are new links; drop the expunged ones. */
	for (size_t i = 0; i < n; i++)
		store_message_unlink(u, mailbox, list[i].uid);
	if (count_r != NULL)
		*count_r = (uint32_t)done;
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	for (size_t i = 0; i < n; i++)
		free(list[i].keywords);
	free(list);
	store_mailbox_info_deinit(&to);
	ms_buf_deinit(&path);
	return rc;
}

int store_expunge_cleanup(struct store_user *u, uint32_t mailbox, int64_t min_age,
			  uint32_t *removed_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct u32_list mb = { 0, 0, NULL }, uid = { 0, 0, NULL };
	sqlite3_stmt *st;
	int rc = -1, step;

	if (min_age < 0)
		min_age = s->opt.cleanupage;
	if (store_user_begin(u, true, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT mailbox, uid FROM expunged WHERE purged = 0 AND expunged_at <= ?"
			   " AND (?2 = 0 OR mailbox = ?2)",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, store_now() - min_age);
	sqlite3_bind_int64(st, 2, mailbox);
	while ((step = store_db_step(s, db, st, why)) == 1) {
		u32_add(&mb, (uint32_t)sqlite3_column_int64(st, 0));
		u32_add(&uid, (uint32_t)sqlite3_column_int64(st, 1));
	}
	sqlite3_reset(st);
	if (step < 0)
		goto fail;
	/* Files first, rows after: a crash between leaves rows whose files
	 * are gone, which the next cleanup finishes (ENOENT is fine). */
	for (size_t i = 0; i < mb.n; i++)
		store_message_unlink(u, mb.v[i], uid.v[i]);
	for (size_t i = 0; i < mb.n; i++) {
		st = store_db_stmt(s, db, "UPDATE expunged SET purged = 1 WHERE mailbox = ? AND uid = ?",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, mb.v[i]);
		sqlite3_bind_int64(st, 2, uid.v[i]);
		if (store_db_done(s, db, st, why) < 0)
			goto fail;
	}
	if (store_db_exec(s, db,
			  "UPDATE mailbox SET expunged = (SELECT count(*) FROM expunged e"
			  " WHERE e.mailbox = mailbox.id AND e.purged = 0)",
			  why) < 0)
		goto fail;
	if (store_user_commit(u, why) < 0)
		goto out;
	if (removed_r != NULL)
		*removed_r = (uint32_t)mb.n;
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	free(mb.v);
	free(uid.v);
	return rc;
}
