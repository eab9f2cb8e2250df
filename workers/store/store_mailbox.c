/*
 * store_mailbox: a user's mailboxes (see the header).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "store_copy.h"
#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_mboxlist.h"
#include "store_meta.h"
#include "store_name.h"
#include "store_notify.h"

/*
 * The columns of a mailbox's info.  INFO_COLUMNS adds the unseen, deleted
 * and recent counts, which scan the mailbox's messages: only the public
 * lookups want them, never a delivery.
 */
#define INFO_BASE                                                                           \
	"id, name, specialuse, uidvalidity, uidnext, highestmodseq, messages, bytes,"       \
	" recent_uid, expunged, created, last_append"
#define INFO_COLUMNS                                                                        \
	INFO_BASE ","                                                                       \
	" (SELECT count(*) FROM message m WHERE m.mailbox = mailbox.id AND (m.flags & 1) = 0)," \
	" (SELECT count(*) FROM message m WHERE m.mailbox = mailbox.id AND (m.flags & 8) != 0)," \
	" (SELECT count(*) FROM message m WHERE m.mailbox = mailbox.id AND m.uid > mailbox.recent_uid)"

static const char *const specialuses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
};

bool store_mailbox_specialuse_ok(const char *use)
{
	for (size_t i = 0; i < sizeof(specialuses) / sizeof(specialuses[0]); i++)
		if (strcmp(use, specialuses[i]) == 0)
			return true;
	return false;
}

void store_mailbox_info_deinit(struct store_mailbox_info *info)
{
	free(info->name);
	free(info->specialuse);
	info->name = NULL;
	info->specialuse = NULL;
}

/* Fill info from a row of INFO_COLUMNS; strings are copied when copy is set. */
static void fill_info(sqlite3_stmt *st, struct store_mailbox_info *info, bool copy)
{
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *use = (const char *)sqlite3_column_text(st, 2);

	info->id = (uint32_t)sqlite3_column_int64(st, 0);
	info->name = copy ? ms_xstrdup(name) : (char *)name;
	info->specialuse = use == NULL ? NULL : copy ? ms_xstrdup(use) : (char *)use;
	info->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
	info->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
	info->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
	info->messages = (uint32_t)sqlite3_column_int64(st, 6);
	info->bytes = (uint64_t)sqlite3_column_int64(st, 7);
	info->recent_uid = (uint32_t)sqlite3_column_int64(st, 8);
	info->expunged = (uint32_t)sqlite3_column_int64(st, 9);
	info->created = sqlite3_column_int64(st, 10);
	info->last_append = sqlite3_column_int64(st, 11);
	if (sqlite3_column_count(st) > 12) {
		info->unseen = (uint32_t)sqlite3_column_int64(st, 12);
		info->deleted = (uint32_t)sqlite3_column_int64(st, 13);
		info->recent = (uint32_t)sqlite3_column_int64(st, 14);
	} else {
		info->unseen = info->deleted = info->recent = 0;
	}
}

static int get_info(struct store_user *u, const char *name, uint32_t id, bool counts,
		    struct store_mailbox_info *info, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	memset(info, 0, sizeof(*info));
	if (name != NULL) {
		st = store_db_stmt(s, u->db,
				   counts ? "SELECT " INFO_COLUMNS " FROM mailbox WHERE name = ?"
					  : "SELECT " INFO_BASE " FROM mailbox WHERE name = ?",
				   why);
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	} else {
		st = store_db_stmt(s, u->db,
				   counts ? "SELECT " INFO_COLUMNS " FROM mailbox WHERE id = ?"
					  : "SELECT " INFO_BASE " FROM mailbox WHERE id = ?",
				   why);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
	}
	rc = store_db_step(s, u->db, st, why);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (name != NULL)
			return store_fail(s, MS_E_NOMAILBOX, why, "no mailbox %s of user %s", name,
					  u->userid);
		return store_fail(s, MS_E_NOMAILBOX, why, "no mailbox number %u of user %s", id,
				  u->userid);
	}
	fill_info(st, info, true);
	sqlite3_reset(st);
	return 0;
}

int store_mailbox_get_txn(struct store_user *u, const char *name, uint32_t id,
			  struct store_mailbox_info *info, struct ms_buf *why)
{
	return get_info(u, name, id, false, info, why);
}

static int get_any(struct store_user *u, const char *name, uint32_t id,
		   struct store_mailbox_info *info, struct ms_buf *why)
{
	struct ms_buf norm;
	int rc = -1;

	ms_buf_init(&norm);
	if (name != NULL && store_name_mailbox_norm(name, &norm, why) < 0) {
		store_fail(u->store, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, false, why) < 0)
		goto out;
	rc = get_info(u, name != NULL ? norm.data : NULL, id, true, info, why);
	store_user_rollback(u);
	if (rc == 0)
		store_ok(u->store);
out:
	ms_buf_deinit(&norm);
	return rc;
}

int store_mailbox_get(struct store_user *u, const char *name, struct store_mailbox_info *info,
		      struct ms_buf *why)
{
	return get_any(u, name, 0, info, why);
}

int store_mailbox_get_id(struct store_user *u, uint32_t id, struct store_mailbox_info *info,
			 struct ms_buf *why)
{
	return get_any(u, NULL, id, info, why);
}

int store_mailbox_highestmodseq(struct store_user *u, uint32_t id, uint64_t *modseq_r,
				struct ms_buf *why)
{
	struct store_mailbox_info info;
	int rc;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	rc = get_info(u, NULL, id, false, &info, why);
	store_user_rollback(u);
	if (rc < 0)
		return -1;
	*modseq_r = info.highestmodseq;
	store_mailbox_info_deinit(&info);
	store_ok(u->store);
	return 0;
}

int store_mailbox_new_uidvalidity(struct store_user *u, uint32_t *v_r, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	/* Unique per user and over time: never below the clock, always above
	 * the last one handed out (RFC 3501 2.3.1.1). */
	st = store_db_stmt(s, u->db,
			   "UPDATE user SET last_uidvalidity = max(?, last_uidvalidity + 1)"
			   " WHERE id = 1 RETURNING last_uidvalidity",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, store_now());
	rc = store_db_step(s, u->db, st, why);
	if (rc <= 0) {
		if (rc == 0)
			store_fail(s, MS_E_INTERNAL, why, "user %s has no user row", u->userid);
		return -1;
	}
	*v_r = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int store_mailbox_create_txn(struct store_user *u, const char *name, const char *specialuse,
			     bool subscribe, uint32_t *id_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf dir;
	sqlite3_stmt *st;
	uint32_t uidvalidity, id;
	int rc;

	if (specialuse != NULL && !store_mailbox_specialuse_ok(specialuse))
		return store_fail(s, MS_E_SYNTAX, why, "unknown special use \"%s\"", specialuse);
	st = store_db_stmt(s, u->db, "SELECT 1 FROM mailbox WHERE name = ?", why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = store_db_step(s, u->db, st, why);
	sqlite3_reset(st);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return store_fail(s, MS_E_EXISTS, why, "mailbox %s of user %s already exists", name,
				  u->userid);
	if (store_mailbox_new_uidvalidity(u, &uidvalidity, why) < 0)
		return -1;
	st = store_db_stmt(s, u->db,
			   "INSERT INTO mailbox (name, uidvalidity, specialuse, created)"
			   " VALUES (?, ?, ?, ?)",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uidvalidity);
	if (specialuse != NULL)
		sqlite3_bind_text(st, 3, specialuse, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_now());
	if (store_db_done(s, u->db, st, why) < 0)
		return -1;
	id = (uint32_t)sqlite3_last_insert_rowid(store_db_handle(u->db));
	st = store_db_stmt(s, u->db, "INSERT INTO acl (mailbox, identifier, rights) VALUES (?, ?, ?)",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, u->userid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, STORE_RIGHTS_OWNER, -1, SQLITE_STATIC);
	if (store_db_done(s, u->db, st, why) < 0)
		return -1;
	if (subscribe) {
		st = store_db_stmt(s, u->db, "INSERT OR IGNORE INTO subscription (name) VALUES (?)",
				   why);
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (store_db_done(s, u->db, st, why) < 0)
			return -1;
	}
	/* The directory and its meta file exist before the row commits, so a
	 * committed mailbox always has both (a rolled-back one leaves a
	 * directory without a row, which recovery removes). */
	ms_buf_init(&dir);
	store_user_mailbox_dir(u, id, &dir);
	rc = store_dir_make(s, dir.data, why);
	ms_buf_deinit(&dir);
	if (rc < 0)
		return -1;
	if (store_meta_write(u, id, why) < 0)
		return -1;
	store_user_note(u, STORE_NOTIFY_MAILBOX, id, 0, 1);
	if (id_r != NULL)
		*id_r = id;
	return 0;
}

int store_mailbox_create(struct store_user *u, const char *name, const char *specialuse,
			 uint32_t *id_r, struct ms_buf *why)
{
	struct ms_buf norm;
	int rc = -1;

	ms_buf_init(&norm);
	if (store_name_mailbox_norm(name, &norm, why) < 0) {
		store_fail(u->store, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (store_mailbox_create_txn(u, norm.data, specialuse, false, id_r, why) < 0) {
		store_user_rollback(u);
		goto out;
	}
	store_crashpoint("mailbox-create-before-commit");
	rc = store_user_commit(u, why);
out:
	ms_buf_deinit(&norm);
	return rc;
}

/* Delete rows of mailbox id (inside the caller's write transaction). */
static int delete_rows(struct store_user *u, uint32_t id, struct ms_buf *why)
{
	static const char *const sql[] = {
		"DELETE FROM message WHERE mailbox = ?",
		"DELETE FROM expunged WHERE mailbox = ?",
		"DELETE FROM acl WHERE mailbox = ?",
		"DELETE FROM mailbox WHERE id = ?",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = store_db_stmt(u->store, u->db, sql[i], why);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		if (store_db_done(u->store, u->db, st, why) < 0)
			return -1;
	}
	return 0;
}

int store_mailbox_delete(struct store_user *u, const char *name, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_mailbox_info info;
	struct ms_buf norm, dir, ignore;
	int rc = -1;

	ms_buf_init(&norm);
	ms_buf_init(&dir);
	ms_buf_init(&ignore);
	memset(&info, 0, sizeof(info));
	if (store_name_mailbox_norm(name, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (strcmp(norm.data, "INBOX") == 0) {
		store_fail(s, MS_E_NOPERM, why,
			   "INBOX cannot be deleted; deleting user/%s/INBOX deletes the user",
			   u->userid);
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0 ||
	    delete_rows(u, info.id, why) < 0) {
		store_user_rollback(u);
		goto out;
	}
	store_user_note(u, STORE_NOTIFY_MAILBOX, info.id, 0, 0);
	store_crashpoint("mailbox-delete-before-commit");
	if (store_user_commit(u, why) < 0)
		goto out;
	store_crashpoint("mailbox-delete-after-commit");
	/* After the commit nothing refers to the directory; if this fails or
	 * we die first, recovery removes it (a directory without a row). */
	store_user_mailbox_dir(u, info.id, &dir);
	(void)store_dir_remove(s, dir.data, &ignore);
	(void)store_mboxlist_lright_drop(s, u->userid, info.id, &ignore);
	store_ok(s);
	rc = 0;
out:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&ignore);
	return rc;
}

struct id_list {
	size_t n, cap;
	uint32_t *v;
};

static void ids_add(struct id_list *l, uint32_t v)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = ms_xrealloc(l->v, l->cap * sizeof(uint32_t));
	}
	l->v[l->n++] = v;
}

static int rename_inbox(struct store_user *u, const char *to, struct id_list *renamed,
			struct ms_buf *why)
{
	struct store_mailbox_info inbox;
	uint32_t id;
	int rc;

	if (store_mailbox_get_txn(u, "INBOX", 0, &inbox, why) < 0)
		return -1;
	rc = store_mailbox_create_txn(u, to, NULL, false, &id, why);
	if (rc == 0)
		rc = store_copy_txn(u, inbox.id, NULL, u, id, true, NULL, NULL, NULL, why);
	store_mailbox_info_deinit(&inbox);
	if (rc == 0)
		ids_add(renamed, id);
	return rc;
}

int store_mailbox_rename(struct store_user *u, const char *from, const char *to,
			 struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf nfrom, nto, newname, ignore;
	struct id_list renamed = { 0, 0, NULL };
	sqlite3_stmt *st;
	int rc = -1, step;

	ms_buf_init(&nfrom);
	ms_buf_init(&nto);
	ms_buf_init(&newname);
	ms_buf_init(&ignore);
	if (store_name_mailbox_norm(from, &nfrom, why) < 0 ||
	    store_name_mailbox_norm(to, &nto, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (strcmp(nto.data, "INBOX") == 0 || store_name_is_child(nfrom.data, nto.data) ||
	    strcmp(nfrom.data, nto.data) == 0) {
		store_fail(s, MS_E_SYNTAX, why, "cannot rename %s to %s", nfrom.data, nto.data);
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (strcmp(nfrom.data, "INBOX") == 0) {
		if (rename_inbox(u, nto.data, &renamed, why) < 0)
			goto fail;
	} else {
		size_t flen = nfrom.len;

		/* from itself must exist; the targets of it and its children must not. */
		st = store_db_stmt(s, u->db,
				   "SELECT id, name FROM mailbox WHERE name = ?1"
				   " OR substr(name, 1, length(?1) + 1) = ?1 || '/' ORDER BY name",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, nfrom.data, -1, SQLITE_STATIC);
		bool found = false;
		struct id_list ids = { 0, 0, NULL };
		char **names = NULL;
		while ((step = store_db_step(s, u->db, st, why)) == 1) {
			const char *n = (const char *)sqlite3_column_text(st, 1);
			if (strcmp(n, nfrom.data) == 0)
				found = true;
			ids_add(&ids, (uint32_t)sqlite3_column_int64(st, 0));
			names = ms_xrealloc(names, ids.n * sizeof(char *));
			names[ids.n - 1] = ms_xstrdup(n);
		}
		sqlite3_reset(st);
		if (step < 0 || !found) {
			if (step == 0)
				store_fail(s, MS_E_NOMAILBOX, why, "no mailbox %s of user %s",
					   nfrom.data, u->userid);
			for (size_t i = 0; i < ids.n; i++)
				free(names[i]);
			free(names);
			free(ids.v);
			goto fail;
		}
		step = 0;
		for (size_t i = 0; i < ids.n && step == 0; i++) {
			ms_buf_setf(&newname, "%s%s", nto.data, names[i] + flen);
			if (newname.len > STORE_NAME_MAX) {
				step = store_fail(s, MS_E_SYNTAX, why, "%s would be too long",
						  newname.data);
				break;
			}
			st = store_db_stmt(s, u->db, "UPDATE mailbox SET name = ? WHERE id = ?", why);
			if (st == NULL) {
				step = -1;
				break;
			}
			sqlite3_bind_text(st, 1, newname.data, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, ids.v[i]);
			if (sqlite3_step(st) != SQLITE_DONE) {
				int e = sqlite3_extended_errcode(store_db_handle(u->db));
				sqlite3_reset(st);
				if ((e & 0xff) == SQLITE_CONSTRAINT)
					step = store_fail(s, MS_E_EXISTS, why,
							  "mailbox %s of user %s already exists",
							  newname.data, u->userid);
				else
					step = store_db_fail(s, u->db, e, why, "cannot rename");
				break;
			}
			sqlite3_reset(st);
			ids_add(&renamed, ids.v[i]);
			store_user_note(u, STORE_NOTIFY_MAILBOX, ids.v[i], 0, 0);
		}
		for (size_t i = 0; i < ids.n; i++)
			free(names[i]);
		free(names);
		free(ids.v);
		if (step < 0)
			goto fail;
	}
	store_crashpoint("mailbox-rename-before-commit");
	if (store_user_commit(u, why) < 0)
		goto out;
	/* The database is authoritative; stale meta files are rewritten by
	 * reconstruct if we die before this loop ends. */
	for (size_t i = 0; i < renamed.n; i++)
		(void)store_meta_write(u, renamed.v[i], &ignore);
	store_ok(s);
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	free(renamed.v);
	ms_buf_deinit(&nfrom);
	ms_buf_deinit(&nto);
	ms_buf_deinit(&newname);
	ms_buf_deinit(&ignore);
	return rc;
}

int store_mailbox_list(struct store_user *u, const char *pattern,
		       int (*cb)(void *ctx, const struct store_mailbox_info *info), void *ctx,
		       struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, u->db, "SELECT " INFO_COLUMNS " FROM mailbox ORDER BY name != 'INBOX', name", why);
	if (st == NULL) {
		store_user_rollback(u);
		return -1;
	}
	while ((rc = store_db_step(s, u->db, st, why)) == 1) {
		struct store_mailbox_info info;

		fill_info(st, &info, false);
		if (pattern != NULL && !store_name_match(pattern, info.name))
			continue;
		if (cb(ctx, &info) != 0)
			break;
	}
	sqlite3_reset(st);
	store_user_rollback(u);
	if (rc < 0)
		return -1;
	store_ok(s);
	return 0;
}

int store_mailbox_set_specialuse(struct store_user *u, const char *name, const char *use,
				 struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_mailbox_info info;
	struct ms_buf norm, ignore;
	sqlite3_stmt *st;
	int rc = -1;

	ms_buf_init(&norm);
	ms_buf_init(&ignore);
	memset(&info, 0, sizeof(info));
	if (use != NULL && !store_mailbox_specialuse_ok(use)) {
		store_fail(s, MS_E_SYNTAX, why, "unknown special use \"%s\"", use);
		goto out;
	}
	if (store_name_mailbox_norm(name, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0)
		goto fail;
	st = store_db_stmt(s, u->db, "UPDATE mailbox SET specialuse = ? WHERE id = ?", why);
	if (st == NULL)
		goto fail;
	if (use != NULL)
		sqlite3_bind_text(st, 1, use, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, info.id);
	if (store_db_done(s, u->db, st, why) < 0)
		goto fail;
	store_user_note(u, STORE_NOTIFY_MAILBOX, info.id, 0, 0);
	if (store_user_commit(u, why) < 0)
		goto out;
	(void)store_meta_write(u, info.id, &ignore);
	store_ok(s);
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&ignore);
	return rc;
}

int store_mailbox_subscribe(struct store_user *u, const char *name, bool on, struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf norm;
	sqlite3_stmt *st;
	int rc = -1;

	ms_buf_init(&norm);
	if (store_name_mailbox_norm(name, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	st = store_db_stmt(s, u->db,
			   on ? "INSERT OR IGNORE INTO subscription (name) VALUES (?)"
			      : "DELETE FROM subscription WHERE name = ?",
			   why);
	if (st == NULL) {
		store_user_rollback(u);
		goto out;
	}
	sqlite3_bind_text(st, 1, norm.data, -1, SQLITE_STATIC);
	if (store_db_done(s, u->db, st, why) < 0) {
		store_user_rollback(u);
		goto out;
	}
	rc = store_user_commit(u, why);
out:
	ms_buf_deinit(&norm);
	return rc;
}

int store_mailbox_subscriptions(struct store_user *u, int (*cb)(void *ctx, const char *name),
				void *ctx, struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, u->db, "SELECT name FROM subscription ORDER BY name", why);
	if (st == NULL) {
		store_user_rollback(u);
		return -1;
	}
	while ((rc = store_db_step(s, u->db, st, why)) == 1)
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0)) != 0)
			break;
	sqlite3_reset(st);
	store_user_rollback(u);
	return rc < 0 ? -1 : 0;
}

int store_mailbox_claim_recent(struct store_user *u, uint32_t id, uint32_t *first_r,
			       struct ms_buf *why)
{
	struct store *s = u->store;
	sqlite3_stmt *st;
	int rc;

	if (store_user_begin(u, true, why) < 0)
		return -1;
	st = store_db_stmt(s, u->db, "SELECT recent_uid FROM mailbox WHERE id = ?", why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	rc = store_db_step(s, u->db, st, why);
	if (rc <= 0) {
		if (rc == 0)
			store_fail(s, MS_E_NOMAILBOX, why, "no mailbox number %u", id);
		goto fail;
	}
	*first_r = (uint32_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	st = store_db_stmt(s, u->db, "UPDATE mailbox SET recent_uid = uidnext - 1 WHERE id = ?",
			   why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (store_db_done(s, u->db, st, why) < 0)
		goto fail;
	return store_user_commit(u, why);
fail:
	store_user_rollback(u);
	return -1;
}
