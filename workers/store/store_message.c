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

int store_message_link_txn(struct store_user *u, const char *from, uint32_t mailbox,
			   uint32_t uid, struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf path;
	int rc = -1;

	ms_buf_init(&path);
	store_user_message_path(u, mailbox, uid, &path);
	for (int attempt = 0; attempt < 3; attempt++) {
		if (store_fault(STORE_FAULT_LINK)) {
			store_fail_errno(s, errno, why, "cannot link %s", path.data);
			goto out;
		}
		if (link(from, path.data) == 0) {
			rc = 0;
			goto out;
		}
		switch (errno) {
		case ENOENT: {
			/* The NN directory (or, after a crash, the mailbox's) is missing. */
			char *dir = ms_xstrndup(path.data, (size_t)(strrchr(path.data, '/') - path.data));
			int r = store_dir_make(s, dir, why);
			free(dir);
			if (r < 0)
				goto out;
			break;
		}
		case EEXIST:
			/* Left by a transaction that never committed (its UID is not
			 * below UIDNEXT): we hold the write lock, so it is nobody's. */
			if (unlink(path.data) < 0 && errno != ENOENT) {
				store_fail_errno(s, errno, why, "cannot replace %s", path.data);
				goto out;
			}
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
	store_fail(s, MS_E_TEMPFAIL, why, "cannot link %s to %s", from, path.data);
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
