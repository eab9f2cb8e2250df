/*
 * store_rebuild: a user's database from their files (see the header).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_mboxlist.h"
#include "store_meta.h"
#include "store_name.h"
#include "store_partition.h"
#include "store_rebuild.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The mailbox numbers of the m<ID> directories of dir, sorted. */
static size_t mailbox_dirs(const char *dir, uint32_t **ids_r)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	*ids_r = NULL;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long id;

		if (e->d_name[0] != 'm')
			continue;
		id = strtoul(e->d_name + 1, &end, 10);
		if (id == 0 || id > UINT32_MAX || *end != '\0')
			continue;
		ids = ms_xrealloc(ids, (n + 1) * sizeof(uint32_t));
		ids[n++] = (uint32_t)id;
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(uint32_t), cmp_u32);
	*ids_r = ids;
	return n;
}

/* Move a damaged database aside (its WAL too; the shared-memory file goes). */
static int set_aside(struct store *s, const char *dir, struct ms_buf *why)
{
	static const char *const suffix[] = { "", "-wal" };
	struct ms_buf from, to;
	long long now = (long long)store_now();
	int rc = 0;

	ms_buf_init(&from);
	ms_buf_init(&to);
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		ms_buf_setf(&from, "%s/store.db%s", dir, suffix[i]);
		ms_buf_setf(&to, "%s/store.db.damaged.%lld%s", dir, now, suffix[i]);
		if (rename(from.data, to.data) < 0 && errno != ENOENT)
			rc = store_fail_errno(s, errno, why, "cannot move %s aside", from.data);
	}
	ms_buf_setf(&from, "%s/store.db-shm", dir);
	(void)unlink(from.data);
	ms_buf_deinit(&from);
	ms_buf_deinit(&to);
	return rc;
}

static int insert_messages(struct store_user *u, uint32_t id, uint32_t *uidnext_r,
			   unsigned *count_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct ms_buf dir, sub, path;
	struct dirent *e, *f;
	uint64_t bytes = 0;
	uint32_t maxuid = 0, count = 0;
	DIR *d, *dd;
	int rc = -1;

	ms_buf_init(&dir);
	ms_buf_init(&sub);
	ms_buf_init(&path);
	store_user_mailbox_dir(u, id, &dir);
	d = opendir(dir.data);
	if (d == NULL) {
		rc = 0;
		goto done;
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 2 || e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    e->d_name[1] < '0' || e->d_name[1] > '9')
			continue;
		ms_buf_setf(&sub, "%s/%s", dir.data, e->d_name);
		dd = opendir(sub.data);
		if (dd == NULL)
			continue;
		while ((f = readdir(dd)) != NULL) {
			unsigned long uid;
			char *end;
			struct stat sb;
			sqlite3_stmt *st;

			uid = strtoul(f->d_name, &end, 10);
			if (uid == 0 || uid > UINT32_MAX - 1 || strcmp(end, ".msg") != 0)
				continue;
			ms_buf_setf(&path, "%s/%s", sub.data, f->d_name);
			if (lstat(path.data, &sb) < 0 || !S_ISREG(sb.st_mode))
				continue;
			if (store_user_hash_bucket((uint32_t)uid) !=
			    (unsigned)((e->d_name[0] - '0') * 10 + e->d_name[1] - '0')) {
				struct ms_buf to;
				ms_buf_init(&to);
				store_user_message_path(u, id, (uint32_t)uid, &to);
				char *parent = ms_xstrndup(to.data, (size_t)(strrchr(to.data, '/') - to.data));
				int r = store_dir_make(s, parent, why);
				free(parent);
				if (r == 0 && rename(path.data, to.data) < 0)
					r = -1;
				ms_buf_deinit(&to);
				if (r < 0)
					continue;
			}
			st = store_db_stmt(s, db,
					   "INSERT OR IGNORE INTO message (mailbox, uid, modseq, flags,"
					   " keywords, internaldate, savedate, size)"
					   " VALUES (?, ?, 2, 0, '', ?, ?, ?)",
					   why);
			if (st == NULL)
				goto out;
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)uid);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)sb.st_mtime);
			sqlite3_bind_int64(st, 4, store_now());
			sqlite3_bind_int64(st, 5, (sqlite3_int64)sb.st_size);
			if (store_db_done(s, db, st, why) < 0) {
				closedir(dd);
				goto out;
			}
			bytes += (uint64_t)sb.st_size;
			count++;
			if (uid > maxuid)
				maxuid = (uint32_t)uid;
		}
		closedir(dd);
	}
	sqlite3_stmt *st = store_db_stmt(s, db,
					 "UPDATE mailbox SET uidnext = ?, highestmodseq = 2, messages = ?,"
					 " bytes = ? WHERE id = ?",
					 why);
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)maxuid + 1);
	sqlite3_bind_int64(st, 2, count);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)bytes);
	sqlite3_bind_int64(st, 4, id);
	if (store_db_done(s, db, st, why) < 0)
		goto out;
	rc = 0;
out:
	closedir(d);
done:
	*uidnext_r = maxuid + 1;
	*count_r = count;
	ms_buf_deinit(&dir);
	ms_buf_deinit(&sub);
	ms_buf_deinit(&path);
	return rc;
}

static int add_mailbox(struct store_user *u, uint32_t id, const struct store_meta *meta,
		       struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct ms_buf name;
	sqlite3_stmt *st;
	uint32_t uidvalidity;
	int rc = -1;

	ms_buf_init(&name);
	if (meta != NULL && store_name_mailbox_norm(meta->name, &name, why) == 0)
		;
	else
		ms_buf_setf(&name, "Recovered/m%u", id);
	if (store_mailbox_new_uidvalidity(u, &uidvalidity, why) < 0)
		goto out;
	for (int attempt = 0;; attempt++) {
		st = store_db_stmt(s, db,
				   "INSERT INTO mailbox (id, name, uidvalidity, specialuse, created)"
				   " VALUES (?, ?, ?, ?, ?)",
				   why);
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name.data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, uidvalidity);
		if (meta != NULL && meta->specialuse != NULL &&
		    store_mailbox_specialuse_ok(meta->specialuse))
			sqlite3_bind_text(st, 4, meta->specialuse, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, store_now());
		int r = sqlite3_step(st);
		sqlite3_reset(st);
		if (r == SQLITE_DONE)
			break;
		if ((r & 0xff) != SQLITE_CONSTRAINT || attempt > 0) {
			store_db_fail(s, db, r, why, "cannot recreate a mailbox");
			goto out;
		}
		ms_buf_printf(&name, "-m%u", id); /* two directories claimed one name */
	}
	for (size_t i = 0; i < (meta != NULL ? meta->nacl : 0) + 1; i++) {
		const char *ident = meta != NULL && i < meta->nacl ? meta->acl_id[i] : u->userid;
		const char *rights = meta != NULL && i < meta->nacl ? meta->acl_rights[i]
								   : STORE_RIGHTS_OWNER;
		st = store_db_stmt(s, db,
				   "INSERT OR IGNORE INTO acl (mailbox, identifier, rights) VALUES (?, ?, ?)",
				   why);
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, ident, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, rights, -1, SQLITE_STATIC);
		if (store_db_done(s, db, st, why) < 0)
			goto out;
	}
	st = store_db_stmt(s, db, "INSERT OR IGNORE INTO subscription (name) VALUES (?)", why);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, name.data, -1, SQLITE_STATIC);
	if (store_db_done(s, db, st, why) < 0)
		goto out;
	rc = 0;
out:
	ms_buf_deinit(&name);
	return rc;
}

int store_rebuild_user(struct store *s, const struct store_partition *part, const char *userid,
		       unsigned *mailboxes_r, unsigned *messages_r, struct ms_buf *why)
{
	struct store_user *u = store_user_new_handle(s, userid, part);
	struct ms_buf path, ignore;
	uint32_t *ids = NULL;
	size_t n;
	unsigned nmb = 0, nmsg = 0;
	bool inbox = false;
	int rc = -1;

	ms_buf_init(&path);
	ms_buf_init(&ignore);
	if (store_dir_make(s, u->dir, why) < 0 || store_dir_make(s, u->msgdir, why) < 0 ||
	    set_aside(s, u->dir, why) < 0)
		goto out;
	ms_buf_setf(&path, "%s/store.db", u->dir);
	if (store_db_open(s, path.data, STORE_DB_USER, true, &u->db, why) < 0)
		goto out;
	if (store_db_begin(s, u->db, true, why) < 0)
		goto out;
	{
		sqlite3_stmt *st = store_db_stmt(s, u->db,
						 "INSERT INTO user (id, userid, created) VALUES (1, ?, ?)",
						 why);
		if (st == NULL)
			goto fail_db;
		sqlite3_bind_text(st, 1, userid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, store_now());
		if (store_db_done(s, u->db, st, why) < 0)
			goto fail_db;
		if (store_db_commit(s, u->db, NULL, why) < 0)
			goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	n = mailbox_dirs(u->msgdir, &ids);
	/* New UIDVALIDITYs must be above the old ones (clients must resync:
	 * flags and modseqs are gone). */
	{
		uint32_t maxv = 0;
		for (size_t i = 0; i < n; i++) {
			struct store_meta meta;
			ms_buf_setf(&path, "%s/m%u/mailbox.meta", u->msgdir, ids[i]);
			if (store_meta_read(path.data, &meta, &ignore) == 0) {
				if (meta.uidvalidity > maxv)
					maxv = meta.uidvalidity;
				store_meta_deinit(&meta);
			}
		}
		sqlite3_stmt *st = store_db_stmt(s, u->db,
						 "UPDATE user SET last_uidvalidity = ? WHERE id = 1", why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, maxv);
		if (store_db_done(s, u->db, st, why) < 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_meta meta;
		uint32_t next;
		unsigned count;

		ms_buf_setf(&path, "%s/m%u/mailbox.meta", u->msgdir, ids[i]);
		bool have = store_meta_read(path.data, &meta, &ignore) == 0;
		if (have && strcmp(meta.name, "INBOX") == 0)
			inbox = true;
		int r = add_mailbox(u, ids[i], have ? &meta : NULL, why);
		if (have)
			store_meta_deinit(&meta);
		if (r < 0 || insert_messages(u, ids[i], &next, &count, why) < 0)
			goto fail;
		nmb++;
		nmsg += count;
	}
	if (!inbox) {
		sqlite3_stmt *st = store_db_stmt(s, u->db, "SELECT 1 FROM mailbox WHERE name = 'INBOX'",
						 why);
		int r = st == NULL ? -1 : store_db_step(s, u->db, st, why);
		if (st != NULL)
			sqlite3_reset(st);
		if (r < 0 || (r == 0 && store_mailbox_create_txn(u, "INBOX", NULL, true, NULL, why) < 0))
			goto fail;
	}
	if (store_user_commit(u, why) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		(void)store_meta_write(u, ids[i], &ignore);
	if (store_mboxlist_put(s, userid, part->name, why) < 0)
		goto out;
	if (mailboxes_r != NULL)
		*mailboxes_r = nmb;
	if (messages_r != NULL)
		*messages_r = nmsg;
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
	goto out;
fail_db:
	store_db_rollback(u->db);
out:
	free(ids);
	store_user_close(&u);
	ms_buf_deinit(&path);
	ms_buf_deinit(&ignore);
	return rc;
}
