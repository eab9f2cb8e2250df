/*
 * store_user: opening, creating, deleting, renaming and moving users (see
 * the header), and the transactions on a user's database.
 *
 * The steps of the whole-user operations, each under the mailbox list's
 * write lock (docs/store.md, "Whole-user operations"):
 *
 *   delete   state='deleted' (commit) -> rename the directories into the
 *            partition's =deleted/ -> drop the list row -> remove them
 *   rename   state='moving', target 'user:NEW' (commit) -> rename the
 *            directories to NEW's hashed place -> userid=NEW,
 *            state='active' (commit) -> list row OLD -> NEW
 *   move     state='moving', target 'partition:P' (commit) -> copy the
 *            database (online backup) and the message files to P ->
 *            state='active' in the copy -> list row -> P -> remove the
 *            old directories
 *
 * store_user_finish completes (or, for a move whose list row still names
 * the old partition, rolls back) whichever step a crash interrupted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_mboxlist.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_partition.h"
#include "store_user.h"

/* Folders of a new user (RFC 6154 attributes). */
static const struct {
	const char *name;
	const char *use;
} standard_folders[] = {
	{ "INBOX", NULL },      { "Drafts", "\\Drafts" }, { "Sent", "\\Sent" },
	{ "Trash", "\\Trash" }, { "Junk", "\\Junk" },
};

/* ---- paths ----------------------------------------------------------------- */

void store_user_mailbox_dir(const struct store_user *u, uint32_t mailbox, struct ms_buf *out)
{
	ms_buf_printf(out, "%s/m%u", u->msgdir, mailbox);
}

unsigned store_user_hash_bucket(uint32_t uid)
{
	return (uid / 100) % 100;
}

void store_user_message_path(const struct store_user *u, uint32_t mailbox, uint32_t uid,
			     struct ms_buf *out)
{
	ms_buf_printf(out, "%s/m%u/%02u/%u.msg", u->msgdir, mailbox, store_user_hash_bucket(uid),
		      uid);
}

static char *db_path(const char *dir)
{
	return ms_xasprintf("%s/store.db", dir);
}

struct store_user *store_user_new_handle(struct store *s, const char *userid,
					  const struct store_partition *part)
{
	struct store_user *u = ms_xcalloc(1, sizeof(*u));
	struct ms_buf b;

	u->store = s;
	u->userid = ms_xstrdup(userid);
	u->part = part;
	ms_buf_init(&b);
	store_partition_user_dir(part, userid, false, &b);
	u->dir = ms_buf_steal(&b);
	ms_buf_init(&b);
	store_partition_user_dir(part, userid, true, &b);
	u->msgdir = ms_buf_steal(&b);
	return u;
}

void store_user_close(struct store_user **up)
{
	struct store_user *u = *up;

	if (u == NULL)
		return;
	store_db_close(&u->db);
	free(u->userid);
	free(u->dir);
	free(u->msgdir);
	free(u->pending);
	free(u);
	*up = NULL;
}

void store_user_release_memory(struct store_user *u)
{
	if (u != NULL && u->txn == STORE_TXN_NONE)
		store_db_release_memory(u->db);
}

const char *store_user_id(const struct store_user *u)
{
	return u->userid;
}

const char *store_user_partition(const struct store_user *u)
{
	return u->part->name;
}

const char *store_user_dir(const struct store_user *u)
{
	return u->dir;
}

const char *store_user_msgdir(const struct store_user *u)
{
	return u->msgdir;
}

struct store *store_user_store(struct store_user *u)
{
	return u->store;
}

struct store_db *store_user_db(struct store_user *u)
{
	return u->db;
}

/* ---- transactions ------------------------------------------------------------- */

/* The user row: 1 found (userid, state, target into the buffers), 0 none, -1. */
static int read_row(struct store *s, struct store_db *db, struct ms_buf *userid,
		    struct ms_buf *state, struct ms_buf *target, struct ms_buf *why)
{
	sqlite3_stmt *st = store_db_stmt(s, db, "SELECT userid, state, target FROM user WHERE id = 1",
					 why);
	int rc;

	if (st == NULL)
		return -1;
	rc = store_db_step(s, db, st, why);
	if (rc == 1) {
		const char *t = (const char *)sqlite3_column_text(st, 2);
		ms_buf_setf(userid, "%s", (const char *)sqlite3_column_text(st, 0));
		ms_buf_setf(state, "%s", (const char *)sqlite3_column_text(st, 1));
		ms_buf_setf(target, "%s", t != NULL ? t : "");
		sqlite3_reset(st);
	}
	return rc;
}

int store_user_begin(struct store_user *u, bool write, struct ms_buf *why)
{
	struct store *s = u->store;

	MS_ASSERT(u->txn == STORE_TXN_NONE);
	if (store_db_begin(s, u->db, write, why) < 0)
		return -1;
	u->txn = write ? STORE_TXN_WRITE : STORE_TXN_READ;
	u->changed = false;
	u->npending = 0;
	if (write) {
		struct ms_buf id, state, target;
		int rc;

		ms_buf_init(&id);
		ms_buf_init(&state);
		ms_buf_init(&target);
		rc = read_row(s, u->db, &id, &state, &target, why);
		if (rc == 1 && (strcmp(state.data, "active") != 0 || strcmp(id.data, u->userid) != 0))
			rc = store_fail(s, MS_E_TEMPFAIL, why,
					"user %s was deleted, renamed or moved since it was opened "
					"(or is being so now); open it again",
					u->userid);
		else if (rc == 0)
			rc = store_fail(s, MS_E_INTERNAL, why,
					"the database of user %s has no user row (run reconstruct)",
					u->userid);
		ms_buf_deinit(&id);
		ms_buf_deinit(&state);
		ms_buf_deinit(&target);
		if (rc < 0) {
			store_user_rollback(u);
			return -1;
		}
	}
	return 0;
}

void store_user_note(struct store_user *u, int kind, uint32_t mailbox, uint32_t uid,
		     uint64_t modseq)
{
	u->changed = true;
	if (u->npending == u->cappending) {
		u->cappending = u->cappending == 0 ? 8 : u->cappending * 2;
		u->pending = ms_xrealloc(u->pending, u->cappending * sizeof(*u->pending));
	}
	u->pending[u->npending++] = (struct store_pending){ kind, mailbox, uid, modseq };
}

int store_user_commit(struct store_user *u, struct ms_buf *why)
{
	struct store *s = u->store;
	uint64_t seq = 0;

	MS_ASSERT(u->txn != STORE_TXN_NONE);
	if (u->changed) {
		sqlite3_stmt *st = store_db_stmt(s, u->db,
						 "UPDATE user SET changeseq = changeseq + 1"
						 " WHERE id = 1 RETURNING changeseq",
						 why);
		if (st == NULL || store_db_step(s, u->db, st, why) != 1) {
			if (st != NULL)
				sqlite3_reset(st);
			store_user_rollback(u);
			return -1;
		}
		seq = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (store_db_commit(s, u->db, NULL, why) < 0) {
		u->txn = STORE_TXN_NONE;
		u->npending = 0;
		return -1;
	}
	u->txn = STORE_TXN_NONE;
	for (size_t i = 0; i < u->npending; i++) {
		struct store_notice n = { .kind = u->pending[i].kind,
					  .changeseq = seq,
					  .modseq = u->pending[i].modseq,
					  .mailbox = u->pending[i].mailbox,
					  .uid = u->pending[i].uid };
		snprintf(n.userid, sizeof(n.userid), "%s", u->userid);
		store_notify_send(s, &n);
	}
	u->npending = 0;
	store_ok(s);
	return 0;
}

void store_user_rollback(struct store_user *u)
{
	if (u == NULL || u->txn == STORE_TXN_NONE)
		return;
	store_db_rollback(u->db);
	u->txn = STORE_TXN_NONE;
	u->npending = 0;
	u->changed = false;
}

int store_user_changeseq(struct store_user *u, uint64_t *seq_r, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st = store_db_stmt(s, u->db, "SELECT changeseq FROM user WHERE id = 1", why);
	int rc;

	if (st == NULL)
		return -1;
	rc = store_db_step(s, u->db, st, why);
	if (rc <= 0) {
		if (rc == 0)
			store_fail(s, MS_E_INTERNAL, why, "no user row in %s", u->dir);
		return -1;
	}
	*seq_r = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* ---- directories of whole-user operations -------------------------------------- */


/* Put the user directories of userid in part into =deleted/ and remove them. */
static int remove_user_dirs(struct store *s, const struct store_partition *part,
			    const char *userid, struct ms_buf *why)
{
	struct ms_buf dir, grave;
	bool split = strcmp(part->path, part->msgpath) != 0;
	int rc = -1;

	ms_buf_init(&dir);
	ms_buf_init(&grave);
	for (int pass = 0; pass < (split ? 2 : 1); pass++) {
		const char *base = pass == 0 ? part->path : part->msgpath;

		ms_buf_reset(&dir);
		store_partition_user_dir(part, userid, pass == 1, &dir);
		ms_buf_setf(&grave, "%s/=deleted/%s.%lld.%ld", base, userid, (long long)store_now(),
			    (long)getpid());
		if (store_dir_move(s, dir.data, grave.data, why) < 0)
			goto out;
		store_crashpoint("user-delete-after-rename");
		if (store_dir_remove(s, grave.data, why) < 0)
			goto out;
	}
	rc = 0;
out:
	ms_buf_deinit(&dir);
	ms_buf_deinit(&grave);
	return rc;
}

/* Set the user row of db (inside no transaction). */
static int set_row(struct store *s, struct store_db *db, const char *userid, const char *state,
		   const char *target, struct ms_buf *why)
{
	sqlite3_stmt *st;

	if (store_db_begin(s, db, true, why) < 0)
		return -1;
	st = store_db_stmt(s, db, "UPDATE user SET userid = ?, state = ?, target = ? WHERE id = 1",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, userid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	if (target != NULL)
		sqlite3_bind_text(st, 3, target, -1, SQLITE_STATIC);
	if (store_db_done(s, db, st, why) < 0)
		goto fail;
	return store_db_commit(s, db, NULL, why);
fail:
	store_db_rollback(db);
	return -1;
}

/* ---- open and create -------------------------------------------------------------- */

static int open_db(struct store_user *u, struct ms_buf *why)
{
	char *path = db_path(u->dir);
	int rc = store_db_open(u->store, path, STORE_DB_USER, false, &u->db, why);

	free(path);
	if (rc < 0 && store_errcode(u->store) == MS_E_NOMAILBOX)
		return store_fail(u->store, MS_E_TEMPFAIL, why,
				  "the database of user %s is missing from %s (run reconstruct -m)",
				  u->userid, u->dir);
	return rc;
}

/* Give a new database its user row and standard folders (one transaction). */
static int init_user(struct store_user *u, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;

	if (store_db_begin(s, u->db, true, why) < 0)
		return -1;
	u->txn = STORE_TXN_WRITE;
	u->npending = 0;
	st = store_db_stmt(s, u->db, "INSERT INTO user (id, userid, created) VALUES (1, ?, ?)", why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, u->userid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, store_now());
	if (store_db_done(s, u->db, st, why) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(standard_folders) / sizeof(standard_folders[0]); i++)
		if (store_mailbox_create_txn(u, standard_folders[i].name, standard_folders[i].use,
					     true, NULL, why) < 0)
			goto fail;
	store_crashpoint("user-create-before-commit");
	return store_user_commit(u, why);
fail:
	store_user_rollback(u);
	return -1;
}

static int finish_locked(struct store *s, const struct store_partition *part, const char *userid,
			 const char **what_r, struct ms_buf *why);

/* Create userid in part (the mailbox list's write lock is held). */
static int create_locked(struct store *s, const char *userid, const struct store_partition *part,
			 struct ms_buf *why)
{
	struct store_user *u = store_user_new_handle(s, userid, part);
	struct ms_buf id, state, target;
	char *path;
	int rc = -1, row;

	ms_buf_init(&id);
	ms_buf_init(&state);
	ms_buf_init(&target);
	if (store_dir_make(s, u->dir, why) < 0 || store_dir_make(s, u->msgdir, why) < 0)
		goto out;
	path = db_path(u->dir);
	rc = store_db_open(s, path, STORE_DB_USER, true, &u->db, why);
	free(path);
	if (rc < 0)
		goto out;
	rc = -1;
	row = read_row(s, u->db, &id, &state, &target, why);
	if (row < 0)
		goto out;
	if (row == 0) {
		if (init_user(u, why) < 0)
			goto out;
	} else if (strcmp(state.data, "active") != 0 || strcmp(id.data, userid) != 0) {
		/* Left over from an interrupted operation: finish it, then retry. */
		const char *what;
		store_user_close(&u);
		if (finish_locked(s, part, userid, &what, why) < 0)
			goto out;
		rc = create_locked(s, userid, part, why);
		goto out;
	}
	rc = store_mboxlist_put(s, userid, part->name, why);
out:
	ms_buf_deinit(&id);
	ms_buf_deinit(&state);
	ms_buf_deinit(&target);
	store_user_close(&u);
	return rc;
}

/* Take the mailbox list's write lock.  0 or -1. */
static int lock_list(struct store *s, struct store_db **db_r, struct ms_buf *why)
{
	if (store_mboxlist_db(s, db_r, why) < 0)
		return -1;
	return store_db_begin(s, *db_r, true, why);
}

static int unlock_list(struct store *s, struct store_db *db, int rc, struct ms_buf *why)
{
	if (rc < 0) {
		store_db_rollback(db);
		return -1;
	}
	return store_db_commit(s, db, NULL, why);
}

static const struct store_partition *user_partition(struct store *s, const char *userid,
						    int *found_r, struct ms_buf *why)
{
	struct ms_buf pname;
	const struct store_partition *p = NULL;
	int rc;

	ms_buf_init(&pname);
	rc = store_mboxlist_get(s, userid, &pname, why);
	*found_r = rc;
	if (rc == 1) {
		p = store_partition_find(s, pname.data);
		if (p == NULL) {
			store_fail(s, MS_E_TEMPFAIL, why,
				   "user %s is in partition %s, which is not configured "
				   "(Unknown/invalid partition)",
				   userid, pname.data);
			*found_r = -1;
		}
	}
	ms_buf_deinit(&pname);
	return p;
}

int store_user_open(struct store *s, const char *userid, unsigned flags, const char *partition,
		    struct store_user **u_r, struct ms_buf *why)
{
	const struct store_partition *part;
	struct store_user *u;
	struct store_db *list;
	int found;

	if (store_name_userid_check(userid, why) < 0)
		return store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
	for (int attempt = 0;; attempt++) {
		part = user_partition(s, userid, &found, why);
		if (found < 0)
			return -1;
		if (found == 1) {
			struct ms_buf id, state, target;
			int row;

			u = store_user_new_handle(s, userid, part);
			if (open_db(u, why) < 0) {
				store_user_close(&u);
				return -1;
			}
			ms_buf_init(&id);
			ms_buf_init(&state);
			ms_buf_init(&target);
			row = read_row(s, u->db, &id, &state, &target, why);
			bool ok = row == 1 && strcmp(state.data, "active") == 0 &&
				  strcmp(id.data, userid) == 0;
			ms_buf_deinit(&id);
			ms_buf_deinit(&state);
			ms_buf_deinit(&target);
			if (ok) {
				*u_r = u;
				store_ok(s);
				return 0;
			}
			store_user_close(&u);
			if (row < 0)
				return -1;
			if (attempt > 0)
				return store_fail(s, MS_E_TEMPFAIL, why,
						  "user %s is being deleted, renamed or moved", userid);
			/* Interrupted or running whole-user operation: wait for the
			 * list lock (a running one holds it), then finish it. */
			const char *what;
			if (lock_list(s, &list, why) < 0)
				return -1;
			int rc = finish_locked(s, part, userid, &what, why);
			if (unlock_list(s, list, rc, why) < 0)
				return -1;
			continue;
		}
		if (!(flags & STORE_USER_CREATE))
			return store_fail(s, MS_E_NOUSER, why, "no user %s in the store", userid);
		if (attempt > 1)
			return store_fail(s, MS_E_TEMPFAIL, why, "cannot create user %s", userid);
		part = partition != NULL ? store_partition_find(s, partition)
					 : store_partition_default(s);
		if (part == NULL)
			return store_fail(s, MS_E_SYNTAX, why, "Unknown/invalid partition %s",
					  partition);
		if (lock_list(s, &list, why) < 0)
			return -1;
		/* Someone may have created the user while we waited for the lock. */
		struct ms_buf pname;
		ms_buf_init(&pname);
		int rc = store_mboxlist_get(s, userid, &pname, why);
		ms_buf_deinit(&pname);
		if (rc == 0)
			rc = create_locked(s, userid, part, why);
		if (unlock_list(s, list, rc < 0 ? -1 : 0, why) < 0)
			return -1;
	}
}

int store_user_exists(struct store *s, const char *userid, struct ms_buf *why)
{
	struct ms_buf pname;
	int rc;

	ms_buf_init(&pname);
	rc = store_mboxlist_get(s, userid, &pname, why);
	ms_buf_deinit(&pname);
	return rc;
}

int store_user_list(struct store *s,
		    int (*cb)(void *ctx, const char *userid, const char *partition), void *ctx,
		    struct ms_buf *why)
{
	return store_mboxlist_users(s, cb, ctx, why);
}

/* ---- delete ------------------------------------------------------------------------- */

static int delete_locked(struct store *s, const struct store_partition *part, const char *userid,
			 struct ms_buf *why)
{
	struct store_user *u = store_user_new_handle(s, userid, part);
	int rc;

	if (open_db(u, why) == 0) {
		rc = set_row(s, u->db, userid, "deleted", NULL, why);
		store_user_close(&u);
		if (rc < 0)
			return -1;
	} else {
		store_user_close(&u);
	}
	store_crashpoint("user-delete-after-mark");
	if (remove_user_dirs(s, part, userid, why) < 0)
		return -1;
	return store_mboxlist_remove(s, userid, why);
}

int store_user_delete(struct store *s, const char *userid, struct ms_buf *why)
{
	const struct store_partition *part;
	struct store_db *list;
	int found, rc;

	if (store_name_userid_check(userid, why) < 0)
		return store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
	if (lock_list(s, &list, why) < 0)
		return -1;
	part = user_partition(s, userid, &found, why);
	if (found == 0)
		rc = store_fail(s, MS_E_NOUSER, why, "no user %s in the store", userid);
	else if (found < 0)
		rc = -1;
	else
		rc = delete_locked(s, part, userid, why);
	if (unlock_list(s, list, rc, why) < 0)
		return -1;
	store_ok(s);
	return 0;
}

/* ---- rename ------------------------------------------------------------------------- */

/* Steps after state='moving' target 'user:TO' was committed in from's database. */
static int rename_rest(struct store *s, const struct store_partition *part, const char *from,
		       const char *to, struct ms_buf *why)
{
	struct store_user *old = store_user_new_handle(s, from, part), *nu = store_user_new_handle(s, to, part);
	bool split = strcmp(part->path, part->msgpath) != 0;
	int rc = -1;

	if (store_dir_move(s, old->dir, nu->dir, why) < 0)
		goto out;
	if (split && store_dir_move(s, old->msgdir, nu->msgdir, why) < 0)
		goto out;
	store_crashpoint("user-rename-after-move");
	if (open_db(nu, why) < 0 || set_row(s, nu->db, to, "active", NULL, why) < 0)
		goto out;
	if (store_mboxlist_remove(s, from, why) < 0 || store_mboxlist_put(s, to, part->name, why) < 0)
		goto out;
	rc = 0;
out:
	store_user_close(&old);
	store_user_close(&nu);
	return rc;
}

int store_user_rename(struct store *s, const char *from, const char *to, struct ms_buf *why)
{
	const struct store_partition *part;
	struct store_db *list;
	struct store_user *u = NULL;
	struct ms_buf target;
	int found, rc = -1;

	if (store_name_userid_check(from, why) < 0 || store_name_userid_check(to, why) < 0)
		return store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
	if (lock_list(s, &list, why) < 0)
		return -1;
	ms_buf_init(&target);
	part = user_partition(s, from, &found, why);
	if (found <= 0) {
		if (found == 0)
			store_fail(s, MS_E_NOUSER, why, "no user %s in the store", from);
		goto out;
	}
	found = store_user_exists(s, to, why);
	if (found != 0) {
		if (found == 1)
			store_fail(s, MS_E_EXISTS, why, "user %s already exists", to);
		goto out;
	}
	u = store_user_new_handle(s, from, part);
	{
		struct stat st;
		struct store_user *probe = store_user_new_handle(s, to, part);
		bool busy = stat(probe->dir, &st) == 0;
		store_user_close(&probe);
		if (busy) {
			store_fail(s, MS_E_EXISTS, why,
				   "a directory for user %s already exists (run reconstruct -m)", to);
			goto out;
		}
	}
	if (open_db(u, why) < 0)
		goto out;
	ms_buf_setf(&target, "user:%s", to);
	if (set_row(s, u->db, from, "moving", target.data, why) < 0)
		goto out;
	store_user_close(&u);
	store_crashpoint("user-rename-after-mark");
	rc = rename_rest(s, part, from, to, why);
out:
	store_user_close(&u);
	ms_buf_deinit(&target);
	if (unlock_list(s, list, rc, why) < 0)
		return -1;
	store_ok(s);
	return 0;
}

/* ---- move to another partition ---------------------------------------------------------- */

int store_user_move(struct store *s, const char *userid, const char *partition,
		    struct ms_buf *why)
{
	const struct store_partition *from, *to;
	struct store_db *list;
	struct store_user *u = NULL, *nu = NULL;
	struct ms_buf target;
	char *path;
	int found, rc = -1;

	if (store_name_userid_check(userid, why) < 0)
		return store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
	to = store_partition_find(s, partition);
	if (to == NULL)
		return store_fail(s, MS_E_SYNTAX, why, "Unknown/invalid partition %s", partition);
	if (lock_list(s, &list, why) < 0)
		return -1;
	ms_buf_init(&target);
	from = user_partition(s, userid, &found, why);
	if (found <= 0) {
		if (found == 0)
			store_fail(s, MS_E_NOUSER, why, "no user %s in the store", userid);
		goto out;
	}
	if (from == to) {
		rc = 0;
		goto out;
	}
	u = store_user_new_handle(s, userid, from);
	nu = store_user_new_handle(s, userid, to);
	if (open_db(u, why) < 0)
		goto out;
	ms_buf_setf(&target, "partition:%s", to->name);
	if (set_row(s, u->db, userid, "moving", target.data, why) < 0)
		goto out;
	/* A partial copy from an earlier attempt goes first. */
	if (store_dir_remove(s, nu->dir, why) < 0 || store_dir_remove(s, nu->msgdir, why) < 0)
		goto out;
	if (store_dir_copy(s, u->msgdir, nu->msgdir, why) < 0 || store_dir_make(s, nu->dir, why) < 0)
		goto out;
	path = db_path(nu->dir);
	rc = store_db_backup(s, u->db, path, why);
	free(path);
	if (rc < 0)
		goto out;
	rc = -1;
	if (store_dir_sync(s, nu->dir, why) < 0)
		goto out;
	store_crashpoint("user-move-after-copy");
	if (open_db(nu, why) < 0 || set_row(s, nu->db, userid, "active", NULL, why) < 0)
		goto out;
	if (store_mboxlist_put(s, userid, to->name, why) < 0)
		goto out;
	store_user_close(&u);
	rc = 0;
out:
	store_user_close(&u);
	store_user_close(&nu);
	ms_buf_deinit(&target);
	if (unlock_list(s, list, rc, why) < 0)
		return -1;
	/* The new copy is committed; the old directories only take space now. */
	if (rc == 0) {
		struct ms_buf ignore;
		ms_buf_init(&ignore);
		if (store_db_begin(s, list, true, &ignore) == 0) {
			(void)remove_user_dirs(s, from, userid, &ignore);
			store_db_commit(s, list, NULL, &ignore);
		}
		ms_buf_deinit(&ignore);
	}
	store_ok(s);
	return 0;
}

/* ---- finishing interrupted operations ------------------------------------------------------- */

/*
 * The user directory of userid in part has a database whose state is not
 * 'active' (or a list row that disagrees).  Called with the list lock held.
 */
static int finish_locked(struct store *s, const struct store_partition *part, const char *userid,
			 const char **what_r, struct ms_buf *why)
{
	struct store_user *u = store_user_new_handle(s, userid, part);
	struct ms_buf id, state, target, listpart;
	int rc = -1, row, listed;

	*what_r = "";
	ms_buf_init(&id);
	ms_buf_init(&state);
	ms_buf_init(&target);
	ms_buf_init(&listpart);
	if (open_db(u, why) < 0) {
		rc = 0; /* no database here: nothing to finish */
		goto out;
	}
	row = read_row(s, u->db, &id, &state, &target, why);
	if (row < 0)
		goto out;
	if (row == 0) {
		/* A creation that never committed leaves a database without a
		 * user row and without mailboxes: nothing to keep. */
		sqlite3_stmt *st = store_db_stmt(s, u->db, "SELECT count(*) FROM mailbox", why);
		int r = st == NULL ? -1 : store_db_step(s, u->db, st, why);
		bool empty = r == 1 && sqlite3_column_int64(st, 0) == 0;
		if (st != NULL)
			sqlite3_reset(st);
		if (r < 0)
			goto out;
		if (!empty) {
			store_fail(s, MS_E_INTERNAL, why, "no user row in %s (run reconstruct)", u->dir);
			goto out;
		}
		store_user_close(&u);
		if (remove_user_dirs(s, part, userid, why) < 0)
			goto out;
		*what_r = "removed an interrupted user creation";
		rc = 0;
		goto out;
	}
	listed = store_mboxlist_get(s, id.data, &listpart, why);
	if (listed < 0)
		goto out;
	bool here = listed == 1 && strcmp(listpart.data, part->name) == 0;
	if (strcmp(state.data, "deleted") == 0) {
		store_user_close(&u);
		if (remove_user_dirs(s, part, userid, why) < 0)
			goto out;
		if ((here || listed == 0) && store_mboxlist_remove(s, id.data, why) < 0)
			goto out;
		*what_r = "finished an interrupted delete";
	} else if (strcmp(state.data, "moving") == 0 && strncmp(target.data, "user:", 5) == 0) {
		const char *to = target.data + 5;
		store_user_close(&u);
		if (strcmp(userid, id.data) == 0) {
			/* Still under the old name: do the rest of the rename. */
			if (rename_rest(s, part, id.data, to, why) < 0)
				goto out;
		} else {
			/* Already renamed on disk (userid is the new name). */
			struct store_user *nu = store_user_new_handle(s, userid, part);
			int r = open_db(nu, why);
			if (r == 0)
				r = set_row(s, nu->db, userid, "active", NULL, why);
			store_user_close(&nu);
			if (r < 0 || store_mboxlist_remove(s, id.data, why) < 0 ||
			    store_mboxlist_put(s, userid, part->name, why) < 0)
				goto out;
		}
		*what_r = "finished an interrupted rename";
	} else if (strcmp(state.data, "moving") == 0 && strncmp(target.data, "partition:", 10) == 0) {
		bool target_here = strcmp(target.data + 10, part->name) == 0;
		if (target_here && here) {
			/* The copy was committed to the list: it is the user now. */
			if (set_row(s, u->db, userid, "active", NULL, why) < 0)
				goto out;
			*what_r = "finished an interrupted partition move";
		} else if (target_here) {
			/* A copy the list never pointed to. */
			store_user_close(&u);
			if (remove_user_dirs(s, part, userid, why) < 0)
				goto out;
			*what_r = "removed a partial copy of an interrupted partition move";
		} else if (here) {
			/* The source, and the list still names it: roll the move back. */
			if (set_row(s, u->db, userid, "active", NULL, why) < 0)
				goto out;
			*what_r = "rolled back an interrupted partition move";
		} else {
			store_user_close(&u);
			if (remove_user_dirs(s, part, userid, why) < 0)
				goto out;
			*what_r = "removed the old copy of a finished partition move";
		}
	} else if (strcmp(state.data, "active") == 0) {
		if (listed == 0) {
			if (store_mboxlist_put(s, id.data, part->name, why) < 0)
				goto out;
			*what_r = "added to the mailbox list";
		} else if (!here) {
			/* The list names another partition: keep whichever holds the user. */
			const struct store_partition *other = store_partition_find(s, listpart.data);
			struct stat st;
			bool other_ok = false;
			if (other != NULL) {
				struct store_user *o = store_user_new_handle(s, userid, other);
				char *p = db_path(o->dir);
				other_ok = stat(p, &st) == 0;
				free(p);
				store_user_close(&o);
			}
			store_user_close(&u);
			if (other_ok) {
				if (remove_user_dirs(s, part, userid, why) < 0)
					goto out;
				*what_r = "removed a stale copy (the user lives in another partition)";
			} else {
				if (store_mboxlist_put(s, userid, part->name, why) < 0)
					goto out;
				*what_r = "the mailbox list now names this partition";
			}
		}
	}
	rc = 0;
out:
	store_user_close(&u);
	ms_buf_deinit(&id);
	ms_buf_deinit(&state);
	ms_buf_deinit(&target);
	ms_buf_deinit(&listpart);
	return rc;
}

int store_user_finish(struct store *s, const char *dir, const char *partition,
		      const char **what_r, struct ms_buf *why)
{
	const struct store_partition *part = store_partition_find(s, partition);
	const char *base = strrchr(dir, '/');
	struct store_db *list;
	int rc;

	*what_r = "";
	if (part == NULL)
		return store_fail(s, MS_E_SYNTAX, why, "Unknown/invalid partition %s", partition);
	if (base == NULL || base[1] != '=')
		return store_fail(s, MS_E_SYNTAX, why, "%s is not a user directory", dir);
	if (lock_list(s, &list, why) < 0)
		return -1;
	rc = finish_locked(s, part, base + 2, what_r, why);
	return unlock_list(s, list, rc, why);
}
