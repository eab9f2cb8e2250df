/*
 * store_message: message files and rows (see the header).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_message.h"
#include "store_uidset.h"

void store_message_path(struct store_user *u, uint32_t mailbox, uint32_t uid, struct ms_buf *out)
{
	store_user_message_path(u, mailbox, uid, out);
}

int store_message_open(struct store_user *u, uint32_t mailbox, uint32_t uid, int *fd_r,
		       uint64_t *size_r, struct ms_buf *why)
{
	struct ms_buf path;
	struct stat st;
	int fd;

	ms_buf_init(&path);
	store_user_message_path(u, mailbox, uid, &path);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			store_fail(u->store, MS_E_NOMAILBOX, why, "message %u of mailbox %u of %s is gone",
				   uid, mailbox, u->userid);
		else
			store_fail_errno(u->store, e, why, "cannot open %s", path.data);
		ms_buf_deinit(&path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		store_fail_errno(u->store, errno, why, "cannot examine %s", path.data);
		close(fd);
		ms_buf_deinit(&path);
		return -1;
	}
	ms_buf_deinit(&path);
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	store_ok(u->store);
	return 0;
}

int store_message_list(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		       uint64_t changedsince, int (*cb)(void *ctx, const struct store_msg *msg),
		       void *ctx, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = u->db;
	sqlite3_stmt *st;
	size_t nranges = uids != NULL ? uids->n : 1;
	int rc = 0;
	bool stop = false;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT uid, modseq, flags, keywords, internaldate, savedate, size"
			   " FROM message WHERE mailbox = ? AND uid BETWEEN ? AND ? AND modseq > ?"
			   " ORDER BY uid",
			   why);
	if (st == NULL)
		rc = -1;
	for (size_t i = 0; rc == 0 && !stop && i < nranges; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, mailbox);
		sqlite3_bind_int64(st, 2, uids != NULL ? uids->r[i].lo : 1);
		sqlite3_bind_int64(st, 3, uids != NULL ? uids->r[i].hi : UINT32_MAX);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)changedsince);
		while ((rc = store_db_step(s, db, st, why)) == 1) {
			struct store_msg m = {
				.uid = (uint32_t)sqlite3_column_int64(st, 0),
				.modseq = (uint64_t)sqlite3_column_int64(st, 1),
				.flags = (unsigned)sqlite3_column_int64(st, 2),
				.keywords = (const char *)sqlite3_column_text(st, 3),
				.internaldate = sqlite3_column_int64(st, 4),
				.savedate = sqlite3_column_int64(st, 5),
				.size = (uint64_t)sqlite3_column_int64(st, 6),
			};
			if (cb(ctx, &m) != 0) {
				stop = true;
				break;
			}
		}
		if (rc == 1)
			rc = 0;
	}
	if (st != NULL)
		sqlite3_reset(st);
	store_user_rollback(u);
	if (rc < 0)
		return -1;
	store_ok(s);
	return 0;
}

/* Record a UID whose file is already there as expunged (see the header). */
static int skip_uid(struct store_user *u, uint32_t mailbox, uint32_t uid, const char *path,
		    uint64_t modseq, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct stat st;
	sqlite3_stmt *sql;

	sql = store_db_stmt(s, db,
			    "INSERT OR IGNORE INTO expunged (mailbox, uid, modseq, size, expunged_at,"
			    " purged) VALUES (?, ?, ?, ?, 0, 0)",
			    why);
	if (sql == NULL)
		return -1;
	sqlite3_bind_int64(sql, 1, mailbox);
	sqlite3_bind_int64(sql, 2, uid);
	sqlite3_bind_int64(sql, 3, (sqlite3_int64)modseq);
	sqlite3_bind_int64(sql, 4, stat(path, &st) == 0 ? (sqlite3_int64)st.st_size : 0);
	if (store_db_done(s, db, sql, why) < 0)
		return -1;
	if (sqlite3_changes(store_db_handle(db)) == 0)
		return 0;
	sql = store_db_stmt(s, db, "UPDATE mailbox SET expunged = expunged + 1 WHERE id = ?", why);
	if (sql == NULL)
		return -1;
	sqlite3_bind_int64(sql, 1, mailbox);
	return store_db_done(s, db, sql, why);
}

int store_message_link_txn(struct store_user *u, const char *from, uint32_t mailbox,
			   uint32_t *uid_io, uint64_t modseq, struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf path;
	uint32_t uid = *uid_io;
	int rc = -1, mkdirs = 0;

	ms_buf_init(&path);
	for (;;) {
		if (uid == 0 || uid == UINT32_MAX) {
			store_fail(s, MS_E_OVERQUOTA, why, "mailbox %u of %s has used every UID",
				   mailbox, u->userid);
			goto out;
		}
		ms_buf_reset(&path);
		store_user_message_path(u, mailbox, uid, &path);
		if (store_fault(STORE_FAULT_LINK)) {
			store_fail_errno(s, errno, why, "cannot link %s", path.data);
			goto out;
		}
		if (link(from, path.data) == 0) {
			*uid_io = uid;
			rc = 0;
			goto out;
		}
		switch (errno) {
		case ENOENT: {
			/* The NN directory (or, after a crash, the mailbox's) is missing. */
			if (mkdirs++ > 2) {
				store_fail_errno(s, ENOENT, why, "cannot link %s to %s", from, path.data);
				goto out;
			}
			char *dir = ms_xstrndup(path.data, (size_t)(strrchr(path.data, '/') - path.data));
			int r = store_dir_make(s, dir, why);
			free(dir);
			if (r < 0)
				goto out;
			break;
		}
		case EEXIST:
			if (skip_uid(u, mailbox, uid, path.data, modseq, why) < 0)
				goto out;
			uid++;
			break;
		case EXDEV:
		case EMLINK:
		case EPERM:
			rc = 1;
			goto out;
		default:
			store_fail_errno(s, errno, why, "cannot link %s to %s", from, path.data);
			goto out;
		}
	}
out:
	ms_buf_deinit(&path);
	return rc;
}

int store_message_sync_dir(struct store_user *u, uint32_t mailbox, uint32_t uid,
			   struct ms_buf *why)
{
	struct ms_buf dir;
	int rc;

	ms_buf_init(&dir);
	ms_buf_printf(&dir, "%s/m%u/%02u", u->msgdir, mailbox, store_user_hash_bucket(uid));
	rc = store_dir_sync(u->store, dir.data, why);
	ms_buf_deinit(&dir);
	return rc;
}

void store_message_unlink(struct store_user *u, uint32_t mailbox, uint32_t uid)
{
	struct ms_buf path;
	int saved = errno;

	ms_buf_init(&path);
	store_user_message_path(u, mailbox, uid, &path);
	(void)unlink(path.data);
	ms_buf_deinit(&path);
	errno = saved;
}
