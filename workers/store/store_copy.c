/*
 * store_copy: COPY and MOVE (see the header).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "store_copy.h"
#include "store_db.h"
#include "store_expunge.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_message.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_quota.h"
#include "store_stage.h"
#include "store_uidset.h"

struct row {
	uint32_t uid;
	unsigned flags;
	char *keywords;
	int64_t internaldate;
	uint64_t size;
	uint32_t newuid;
};

struct rows {
	size_t n, cap;
	struct row *v;
	uint64_t bytes;
};

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].keywords);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Read the rows of uids in mailbox src of u (inside a transaction). */
static int read_rows(struct store_user *u, uint32_t src, const struct store_uidset *uids,
		     struct rows *out, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st = store_db_stmt(s, db,
					 "SELECT uid, flags, keywords, internaldate, size FROM message"
					 " WHERE mailbox = ? AND uid BETWEEN ? AND ? ORDER BY uid",
					 why);
	int rc = 0;

	if (st == NULL)
		return -1;
	for (size_t r = 0; rc == 0 && r < (uids != NULL ? uids->n : 1); r++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, src);
		sqlite3_bind_int64(st, 2, uids != NULL ? uids->r[r].lo : 1);
		sqlite3_bind_int64(st, 3, uids != NULL ? uids->r[r].hi : UINT32_MAX);
		while ((rc = store_db_step(s, db, st, why)) == 1) {
			if (out->n == out->cap) {
				out->cap = out->cap == 0 ? 64 : out->cap * 2;
				out->v = ms_xrealloc(out->v, out->cap * sizeof(*out->v));
			}
			out->v[out->n++] = (struct row){
				(uint32_t)sqlite3_column_int64(st, 0),
				(unsigned)sqlite3_column_int64(st, 1),
				ms_xstrdup((const char *)sqlite3_column_text(st, 2)),
				sqlite3_column_int64(st, 3),
				(uint64_t)sqlite3_column_int64(st, 4),
				0,
			};
			out->bytes += (uint64_t)sqlite3_column_int64(st, 4);
		}
		if (rc == 1)
			rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * Link the file at path as a new message of dst in du at *uid or the next
 * free UID, copying it when it cannot be linked.
 */
static int link_or_copy(struct store_user *du, const char *path, uint32_t dst, uint32_t *uid,
			uint64_t modseq, struct ms_buf *why)
{
	struct store *s = du->store;
	struct store_stage *st = NULL;
	char buf[65536];
	ssize_t n;
	int lr = store_message_link_txn(du, path, dst, uid, modseq, why), fd;

	if (lr <= 0)
		return lr;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_fail_errno(s, errno, why, "cannot open %s", path);
	if (store_stage_new(s, du->part->name, &st, why) < 0) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (store_stage_write(st, buf, (size_t)n, why) < 0)
			break;
	close(fd);
	if (n != 0 || store_stage_finish(st, why) < 0) {
		if (n < 0)
			store_fail_errno(s, errno, why, "cannot read %s", path);
		store_stage_free(&st);
		return -1;
	}
	lr = store_message_link_txn(du, store_stage_path(st), dst, uid, modseq, why);
	store_stage_free(&st);
	if (lr == 1)
		return store_fail(s, MS_E_TEMPFAIL, why, "cannot link into %s", du->msgdir);
	return lr;
}

/*
 * Insert rows into dst of du (inside du's write transaction), the files
 * coming from mailbox src of su.  On failure the files linked so far are
 * removed (the caller then rolls back).
 */
static int insert_rows(struct store_user *su, uint32_t src, struct store_user *du, uint32_t dst,
		       struct rows *rows, struct ms_buf *why)
{
	struct store *s = du->store;
	struct store_db *db = store_user_db(du);
	struct store_mailbox_info to;
	struct ms_buf path;
	bool bucket[100] = { false };
	sqlite3_stmt *st;
	size_t linked = 0;
	uint64_t modseq;
	uint32_t next;
	int64_t now = store_now();

	if (store_mailbox_get_txn(du, NULL, dst, &to, why) < 0)
		return -1;
	next = to.uidnext;
	modseq = to.highestmodseq + 1;
	uint32_t have = to.messages;
	store_mailbox_info_deinit(&to);
	if ((uint64_t)next + rows->n >= UINT32_MAX)
		return store_fail(s, MS_E_OVERQUOTA, why, "mailbox has no UIDs left");
	if ((long long)have + (long long)rows->n > s->opt.maxmessages)
		return store_fail(s, MS_E_OVERQUOTA, why, "the mailbox would hold too many messages");
	ms_buf_init(&path);
	for (size_t i = 0; i < rows->n; i++) {
		uint32_t uid = next;

		ms_buf_reset(&path);
		store_user_message_path(su, src, rows->v[i].uid, &path);
		if (link_or_copy(du, path.data, dst, &uid, modseq, why) < 0)
			goto fail;
		rows->v[i].newuid = uid;
		next = uid + 1;
		linked++;
		bucket[store_user_hash_bucket(uid)] = true;
	}
	ms_buf_deinit(&path);
	store_crashpoint("copy-after-link");
	for (unsigned b = 0; b < 100; b++)
		if (bucket[b] && store_message_sync_dir(du, dst, b * 100, why) < 0)
			goto fail_nopath;
	for (size_t i = 0; i < rows->n; i++) {
		st = store_db_stmt(s, db,
				   "INSERT INTO message (mailbox, uid, modseq, flags, keywords,"
				   " internaldate, savedate, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				   why);
		if (st == NULL)
			goto fail_nopath;
		sqlite3_bind_int64(st, 1, dst);
		sqlite3_bind_int64(st, 2, rows->v[i].newuid);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 4, rows->v[i].flags);
		sqlite3_bind_text(st, 5, rows->v[i].keywords, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, rows->v[i].internaldate);
		sqlite3_bind_int64(st, 7, now);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)rows->v[i].size);
		if (store_db_done(s, db, st, why) < 0)
			goto fail_nopath;
	}
	if (rows->n > 0) {
		st = store_db_stmt(s, db,
				   "UPDATE mailbox SET uidnext = ?, highestmodseq = ?,"
				   " messages = messages + ?, bytes = bytes + ?, last_append = ?"
				   " WHERE id = ?",
				   why);
		if (st == NULL)
			goto fail_nopath;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)next);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)rows->n);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)rows->bytes);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, dst);
		if (store_db_done(s, db, st, why) < 0)
			goto fail_nopath;
		store_user_note(du, STORE_NOTIFY_APPEND, dst, next - 1, modseq);
	}
	return 0;
fail:
	ms_buf_deinit(&path);
fail_nopath:
	/* We still hold du's write lock: these UIDs are nobody else's yet. */
	for (size_t i = 0; i < linked; i++)
		store_message_unlink(du, dst, rows->v[i].newuid);
	return -1;
}

struct pairs {
	size_t n, cap;
	uint32_t *a, *b;
};

static int collect(void *ctx, uint32_t a, uint32_t b)
{
	struct pairs *p = ctx;

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 64 : p->cap * 2;
		p->a = ms_xrealloc(p->a, p->cap * sizeof(uint32_t));
		p->b = ms_xrealloc(p->b, p->cap * sizeof(uint32_t));
	}
	p->a[p->n] = a;
	p->b[p->n++] = b;
	return 0;
}

static int check_quota(struct store_user *du, const struct store_quota_limits *l, uint32_t dst,
		       const struct rows *rows, struct ms_buf *why)
{
	struct store_mailbox_info to;
	int rc;

	if (l == NULL || rows->n == 0)
		return 0;
	if (store_mailbox_get_txn(du, NULL, dst, &to, why) < 0)
		return -1;
	rc = store_quota_check_txn(du, l, to.name, rows->bytes, rows->n, why);
	store_mailbox_info_deinit(&to);
	return rc;
}

static int expunge_rows(struct store_user *u, uint32_t src, const struct rows *rows,
			struct ms_buf *why)
{
	uint32_t *uids = ms_xcalloc(rows->n + 1, sizeof(uint32_t));
	int rc;

	for (size_t i = 0; i < rows->n; i++)
		uids[i] = rows->v[i].uid;
	rc = store_expunge_uids_txn(u, src, uids, rows->n, NULL, why);
	free(uids);
	return rc;
}

int store_copy_txn(struct store_user *u, uint32_t src, const struct store_uidset *uids,
		   struct store_user *du, uint32_t dst, bool move,
		   const struct store_quota_limits *check,
		   int (*cb)(void *ctx, uint32_t src_uid, uint32_t dst_uid), void *ctx,
		   struct ms_buf *why)
{
	struct rows rows = { 0, 0, NULL, 0 };
	int rc = -1;

	MS_ASSERT(u == du);
	if (src == dst && move) {
		rc = store_fail(u->store, MS_E_SYNTAX, why, "cannot move a mailbox's messages into itself");
		goto out;
	}
	if (read_rows(u, src, uids, &rows, why) < 0)
		goto out;
	if (check_quota(du, check, dst, &rows, why) < 0)
		goto out;
	if (insert_rows(u, src, du, dst, &rows, why) < 0)
		goto out;
	if (move && expunge_rows(u, src, &rows, why) < 0) {
		for (size_t i = 0; i < rows.n; i++)
			store_message_unlink(du, dst, rows.v[i].newuid);
		goto out;
	}
	for (size_t i = 0; cb != NULL && i < rows.n; i++)
		if (cb(ctx, rows.v[i].uid, rows.v[i].newuid) != 0)
			break;
	rc = 0;
out:
	rows_free(&rows);
	return rc;
}

int store_copy(struct store_user *su, uint32_t src_mailbox, const struct store_uidset *uids,
	       struct store_user *du, const char *dst, bool move,
	       const struct store_quota_limits *limits,
	       int (*cb)(void *ctx, uint32_t src_uid, uint32_t dst_uid), void *ctx,
	       uint32_t *uidvalidity_r, struct ms_buf *why)
{
	struct store *s = du->store;
	struct store_quota_limits deflimits;
	const struct store_quota_limits *l = limits;
	struct store_mailbox_info from, to;
	struct rows rows = { 0, 0, NULL, 0 };
	struct pairs pairs = { 0, 0, NULL, NULL };
	struct ms_buf norm;
	int rc = -1;

	memset(&from, 0, sizeof(from));
	memset(&to, 0, sizeof(to));
	ms_buf_init(&norm);
	store_quota_limits_init(&deflimits);
	if (store_name_mailbox_norm(dst, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (l == NULL) {
		if (store_quota_parse(s, NULL, NULL, &deflimits, why) < 0)
			goto out;
		l = &deflimits;
	}
	if (su == du) {
		if (store_user_begin(su, true, why) < 0)
			goto out;
		if (store_mailbox_get_txn(su, NULL, src_mailbox, &from, why) < 0 ||
		    store_mailbox_get_txn(su, norm.data, 0, &to, why) < 0)
			goto fail;
		bool same_root = store_quota_root_of(l, from.name) == store_quota_root_of(l, to.name);
		if (store_copy_txn(su, src_mailbox, uids, su, to.id, move,
				   move && same_root ? NULL : l, collect, &pairs, why) < 0)
			goto fail;
		store_crashpoint("copy-before-commit");
		if (store_user_commit(su, why) < 0)
			goto out;
		for (size_t i = 0; cb != NULL && i < pairs.n; i++)
			if (cb(ctx, pairs.a[i], pairs.b[i]) != 0)
				break;
		rc = 0;
		goto done;
	}

	/* Two users: read the source, then one transaction on the destination. */
	if (store_user_begin(su, false, why) < 0)
		goto out;
	rc = read_rows(su, src_mailbox, uids, &rows, why);
	store_user_rollback(su);
	if (rc < 0)
		goto out;
	rc = -1;
	if (store_user_begin(du, true, why) < 0)
		goto out;
	if (store_mailbox_get_txn(du, norm.data, 0, &to, why) < 0 ||
	    check_quota(du, l, to.id, &rows, why) < 0 ||
	    insert_rows(su, src_mailbox, du, to.id, &rows, why) < 0)
		goto fail_du;
	store_crashpoint("copy-before-commit");
	if (store_user_commit(du, why) < 0)
		goto out;
	if (move && rows.n > 0) {
		/* The copy is committed; a crash from here leaves a duplicate, not a loss. */
		store_crashpoint("move-before-expunge");
		if (store_user_begin(su, true, why) < 0)
			goto out;
		if (expunge_rows(su, src_mailbox, &rows, why) < 0) {
			store_user_rollback(su);
			goto out;
		}
		if (store_user_commit(su, why) < 0)
			goto out;
	}
	for (size_t i = 0; cb != NULL && i < rows.n; i++)
		if (cb(ctx, rows.v[i].uid, rows.v[i].newuid) != 0)
			break;
	rc = 0;
	goto done;
fail_du:
	store_user_rollback(du);
	goto out;
fail:
	store_user_rollback(su);
	goto out;
done:
	if (uidvalidity_r != NULL)
		*uidvalidity_r = to.uidvalidity;
	store_ok(s);
out:
	rows_free(&rows);
	free(pairs.a);
	free(pairs.b);
	store_mailbox_info_deinit(&from);
	store_mailbox_info_deinit(&to);
	store_quota_limits_deinit(&deflimits);
	ms_buf_deinit(&norm);
	return rc;
}
