/*
 * store_check: check and repair of one user's mailboxes (see the header).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "store_check.h"
#include "store_db.h"
#include "store_expunge.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_mboxlist.h"
#include "store_meta.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_partition.h"
#include "store_rebuild.h"
#include "store_user.h"

struct check {
	struct store *s;
	const struct store_check_opts *o;
	struct store_check_stats *st;
	struct store_user *u;
	struct ms_buf where;
	struct ms_buf what;
	size_t nlater;
	char **later; /* files to remove once the repair has committed */
};

static void report(struct check *c, enum store_check_kind kind, bool repaired)
{
	if (kind == STORE_CHECK_PROBLEM)
		c->st->problems++;
	else
		c->st->leftovers++;
	if (repaired)
		c->st->repaired++;
	if (c->o->report != NULL)
		c->o->report(c->o->ctx, kind, c->where.data, c->what.data, repaired);
}

struct file {
	uint32_t uid;
	uint64_t size;
	int64_t mtime;
	unsigned bucket; /* directory it was found in */
};

struct row {
	uint32_t uid;
	uint64_t size;
	uint64_t modseq;
	int purged; /* expunged rows: purged flag */
};

struct mbox {
	uint32_t id;
	char *name;
	uint32_t uidnext;
	uint64_t highestmodseq, messages, bytes, expunged;
};

static int cmp_file(const void *a, const void *b)
{
	uint32_t x = ((const struct file *)a)->uid, y = ((const struct file *)b)->uid;
	return x < y ? -1 : x > y;
}

static const struct row *find_row(const struct row *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].uid == uid)
			return &v[mid];
		if (v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct file *find_file(struct file *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].uid == uid)
			return &v[mid];
		if (v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* "123.msg" -> 123; 0 when the name is not a message file. */
static uint32_t msg_uid(const char *name)
{
	unsigned long long v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT32_MAX)
			return 0;
		p++;
	}
	return strcmp(p, ".msg") == 0 ? (uint32_t)v : 0;
}

/* Collect the message files of mailbox dir; unknown entries are reported. */
static int scan_files(struct check *c, const char *dir, struct file **files_r, size_t *n_r,
		      struct ms_buf *why)
{
	struct file *v = NULL;
	size_t n = 0, cap = 0;
	struct ms_buf sub, path;
	struct dirent *e, *f;
	DIR *d, *dd;

	*files_r = NULL;
	*n_r = 0;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : store_fail_errno(c->s, errno, why, "cannot read %s", dir);
	ms_buf_init(&sub);
	ms_buf_init(&path);
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		bool bucket = strlen(name) == 2 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' &&
			      name[1] <= '9';

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strcmp(name, "mailbox.meta") == 0)
			continue;
		if (strncmp(name, "mailbox.meta.tmp.", 17) == 0) {
			ms_buf_setf(&path, "%s/%s", dir, name);
			ms_buf_setf(&c->what, "temporary file %s of an interrupted write", name);
			report(c, STORE_CHECK_LEFTOVER, c->o->repair && unlink(path.data) == 0);
			continue;
		}
		if (!bucket) {
			ms_buf_setf(&c->what, "unknown file %s/%s (left alone)", dir, name);
			report(c, STORE_CHECK_PROBLEM, false);
			continue;
		}
		ms_buf_setf(&sub, "%s/%s", dir, name);
		dd = opendir(sub.data);
		if (dd == NULL)
			continue;
		while ((f = readdir(dd)) != NULL) {
			uint32_t uid = msg_uid(f->d_name);
			struct stat sb;

			if (strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0)
				continue;
			ms_buf_setf(&path, "%s/%s", sub.data, f->d_name);
			if (uid == 0 || lstat(path.data, &sb) < 0 || !S_ISREG(sb.st_mode)) {
				ms_buf_setf(&c->what, "unknown file %s (left alone)", path.data);
				report(c, STORE_CHECK_PROBLEM, false);
				continue;
			}
			if (n == cap) {
				cap = cap == 0 ? 256 : cap * 2;
				v = ms_xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = (struct file){ uid, (uint64_t)sb.st_size, (int64_t)sb.st_mtime,
						(unsigned)((name[0] - '0') * 10 + (name[1] - '0')) };
		}
		closedir(dd);
	}
	closedir(d);
	ms_buf_deinit(&sub);
	ms_buf_deinit(&path);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_file);
	*files_r = v;
	*n_r = n;
	return 0;
}

static int read_rows(struct check *c, const char *sql, uint32_t id, struct row **rows_r,
		     size_t *n_r, struct ms_buf *why)
{
	struct store_db *db = store_user_db(c->u);
	sqlite3_stmt *st = store_db_stmt(c->s, db, sql, why);
	struct row *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = store_db_step(c->s, db, st, why)) == 1) {
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			v = ms_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct row){ (uint32_t)sqlite3_column_int64(st, 0),
				       (uint64_t)sqlite3_column_int64(st, 1),
				       (uint64_t)sqlite3_column_int64(st, 2),
				       sqlite3_column_int(st, 3) };
	}
	sqlite3_reset(st);
	if (rc < 0) {
		free(v);
		return -1;
	}
	*rows_r = v;
	*n_r = n;
	return 0;
}

static int exec_id2(struct check *c, const char *sql, uint32_t id, int64_t a, struct ms_buf *why)
{
	struct store_db *db = store_user_db(c->u);
	sqlite3_stmt *st = store_db_stmt(c->s, db, sql, why);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, a);
	return store_db_done(c->s, db, st, why);
}

static int adopt(struct check *c, uint32_t id, const struct file *f, uint64_t modseq,
		 struct ms_buf *why)
{
	struct store_db *db = store_user_db(c->u);
	sqlite3_stmt *st = store_db_stmt(c->s, db,
					 "INSERT INTO message (mailbox, uid, modseq, flags, keywords,"
					 " internaldate, savedate, size) VALUES (?, ?, ?, 0, '', ?, ?, ?)",
					 why);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, f->uid);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
	sqlite3_bind_int64(st, 4, f->mtime);
	sqlite3_bind_int64(st, 5, store_now());
	sqlite3_bind_int64(st, 6, (sqlite3_int64)f->size);
	return store_db_done(c->s, db, st, why);
}

/* The values of one query returning a single integer. */
static int one_int(struct check *c, const char *sql, uint32_t id, int64_t *v, struct ms_buf *why)
{
	struct store_db *db = store_user_db(c->u);
	sqlite3_stmt *st = store_db_stmt(c->s, db, sql, why);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = store_db_step(c->s, db, st, why);
	if (rc == 1)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

static int check_meta(struct check *c, struct mbox *m, struct ms_buf *why)
{
	struct ms_buf want, have, path, ignore;
	int rc = 0;

	ms_buf_init(&want);
	ms_buf_init(&have);
	ms_buf_init(&path);
	ms_buf_init(&ignore);
	if (store_meta_render(c->u, m->id, &want, why) < 0) {
		rc = -1;
		goto out;
	}
	store_user_mailbox_dir(c->u, m->id, &path);
	ms_buf_puts(&path, "/mailbox.meta");
	bool same = ms_file_read(path.data, &have, &ignore) == 0 && have.len == want.len &&
		    memcmp(have.data, want.data, want.len) == 0;
	if (!same || (c->o->force && c->o->repair)) {
		bool done = c->o->repair &&
			    ms_file_replace(path.data, want.data, want.len, 0600, &ignore) == 0;
		if (!same) {
			ms_buf_setf(&c->what, "mailbox.meta missing or out of date");
			report(c, STORE_CHECK_LEFTOVER, done);
		}
	}
out:
	ms_buf_deinit(&want);
	ms_buf_deinit(&have);
	ms_buf_deinit(&path);
	ms_buf_deinit(&ignore);
	return rc;
}

static int check_mailbox(struct check *c, struct mbox *m, struct ms_buf *why)
{
	struct store_user *u = c->u;
	bool repair = c->o->repair;
	struct file *files = NULL;
	struct row *rows = NULL, *exp = NULL;
	size_t nfiles = 0, nrows = 0, nexp = 0;
	uint32_t *lost = NULL;
	size_t nlost = 0;
	struct ms_buf dir, path, to;
	uint64_t modseq = m->highestmodseq;
	int rc = -1;

	ms_buf_init(&dir);
	ms_buf_init(&path);
	ms_buf_init(&to);
	c->st->mailboxes++;
	ms_buf_reset(&c->where);
	store_name_full(u->userid, m->name, &c->where);
	store_user_mailbox_dir(u, m->id, &dir);
	if (access(dir.data, F_OK) < 0) {
		ms_buf_setf(&c->what, "mailbox directory %s is missing", dir.data);
		bool done = repair && store_dir_make(c->s, dir.data, why) == 0;
		report(c, STORE_CHECK_PROBLEM, done);
	}
	if (scan_files(c, dir.data, &files, &nfiles, why) < 0)
		goto out;
	if (read_rows(c, "SELECT uid, size, modseq, 0 FROM message WHERE mailbox = ? ORDER BY uid",
		      m->id, &rows, &nrows, why) < 0 ||
	    read_rows(c,
		      "SELECT uid, size, modseq, purged FROM expunged WHERE mailbox = ? ORDER BY uid",
		      m->id, &exp, &nexp, why) < 0)
		goto out;
	c->st->messages += (unsigned)nrows;

	/* Rows against files. */
	for (size_t i = 0; i < nrows; i++) {
		struct file *f = find_file(files, nfiles, rows[i].uid);

		if (rows[i].modseq > modseq)
			modseq = rows[i].modseq;
		if (f == NULL) {
			ms_buf_setf(&c->what, "message UID %u has no file (index entry removed)",
				    rows[i].uid);
			report(c, STORE_CHECK_PROBLEM, repair);
			lost = ms_xrealloc(lost, (nlost + 1) * sizeof(uint32_t));
			lost[nlost++] = rows[i].uid;
			continue;
		}
		if (f->bucket != store_user_hash_bucket(f->uid)) {
			ms_buf_reset(&path);
			ms_buf_printf(&path, "%s/%02u/%u.msg", dir.data, f->bucket, f->uid);
			ms_buf_reset(&to);
			store_user_message_path(u, m->id, f->uid, &to);
			ms_buf_setf(&c->what, "file of UID %u is in directory %02u", f->uid, f->bucket);
			bool done = false;
			if (repair) {
				char *parent = ms_xstrndup(to.data, (size_t)(strrchr(to.data, '/') - to.data));
				done = store_dir_make(c->s, parent, why) == 0 &&
				       rename(path.data, to.data) == 0;
				free(parent);
			}
			report(c, STORE_CHECK_PROBLEM, done);
		}
		if (f->size != rows[i].size) {
			ms_buf_setf(&c->what, "message UID %u: index says %llu bytes, file has %llu",
				    rows[i].uid, (unsigned long long)rows[i].size,
				    (unsigned long long)f->size);
			if (repair) {
				sqlite3_stmt *st = store_db_stmt(
					c->s, store_user_db(u),
					"UPDATE message SET size = ? WHERE mailbox = ? AND uid = ?", why);
				if (st == NULL)
					goto out;
				sqlite3_bind_int64(st, 1, (sqlite3_int64)f->size);
				sqlite3_bind_int64(st, 2, m->id);
				sqlite3_bind_int64(st, 3, rows[i].uid);
				if (store_db_done(c->s, store_user_db(u), st, why) < 0)
					goto out;
			}
			report(c, STORE_CHECK_PROBLEM, repair);
		}
	}
	for (size_t i = 0; i < nexp; i++) {
		if (exp[i].modseq > modseq)
			modseq = exp[i].modseq;
		if (!exp[i].purged && find_file(files, nfiles, exp[i].uid) == NULL) {
			ms_buf_setf(&c->what, "expunged UID %u: its file is already gone", exp[i].uid);
			bool done = repair && exec_id2(c,
						       "UPDATE expunged SET purged = 1 WHERE mailbox = ?1"
						       " AND uid = ?2",
						       m->id, exp[i].uid, why) == 0;
			report(c, STORE_CHECK_LEFTOVER, done);
		}
	}

	/* Files against rows. */
	uint32_t uidnext = m->uidnext;
	for (size_t i = 0; i < nfiles; i++) {
		const struct file *f = &files[i];
		const struct row *e;

		if (find_row(rows, nrows, f->uid) != NULL)
			continue;
		ms_buf_reset(&path);
		ms_buf_printf(&path, "%s/%02u/%u.msg", dir.data, f->bucket, f->uid);
		e = find_row(exp, nexp, f->uid);
		if (e != NULL && !e->purged)
			continue; /* expunged, waiting for cleanup */
		if (e != NULL) {
			ms_buf_setf(&c->what, "file of UID %u, expunged and cleaned up, is still there",
				    f->uid);
			report(c, STORE_CHECK_LEFTOVER, repair && unlink(path.data) == 0);
			continue;
		}
		if (f->uid >= m->uidnext && !c->o->adopt_partial) {
			/* Its transaction may yet be recovered from the WAL by SQLite
			 * (killed during COMMIT): record the UID as expunged, so that
			 * this repair's commit supersedes it, and remove the file only
			 * after that commit. */
			ms_buf_setf(&c->what, "file of UID %u from an interrupted delivery or copy",
				    f->uid);
			if (repair) {
				sqlite3_stmt *st = store_db_stmt(
					c->s, store_user_db(u),
					"INSERT OR REPLACE INTO expunged (mailbox, uid, modseq, size,"
					" expunged_at, purged) VALUES (?, ?, ?, ?, ?, 1)",
					why);
				if (st == NULL)
					goto out;
				modseq++;
				sqlite3_bind_int64(st, 1, m->id);
				sqlite3_bind_int64(st, 2, f->uid);
				sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
				sqlite3_bind_int64(st, 4, (sqlite3_int64)f->size);
				sqlite3_bind_int64(st, 5, store_now());
				if (store_db_done(c->s, store_user_db(u), st, why) < 0)
					goto out;
				if (f->uid >= uidnext)
					uidnext = f->uid + 1;
				c->later = ms_xrealloc(c->later, (c->nlater + 1) * sizeof(char *));
				c->later[c->nlater++] = ms_xstrdup(path.data);
			}
			report(c, STORE_CHECK_LEFTOVER, repair);
			continue;
		}
		if (f->uid >= m->uidnext)
			ms_buf_setf(&c->what, "file of UID %u from an interrupted delivery adopted",
				    f->uid);
		else
			ms_buf_setf(&c->what, "file of UID %u has no index entry (adopted)", f->uid);
		bool done = false;
		if (repair) {
			if (f->bucket != store_user_hash_bucket(f->uid)) {
				ms_buf_reset(&to);
				store_user_message_path(u, m->id, f->uid, &to);
				char *parent = ms_xstrndup(to.data, (size_t)(strrchr(to.data, '/') - to.data));
				int r = store_dir_make(c->s, parent, why);
				free(parent);
				if (r < 0 || rename(path.data, to.data) < 0)
					goto out;
			}
			if (adopt(c, m->id, f, modseq + 1, why) < 0)
				goto out;
			done = true;
			if (f->uid >= uidnext)
				uidnext = f->uid + 1;
		}
		report(c, f->uid >= m->uidnext ? STORE_CHECK_LEFTOVER : STORE_CHECK_PROBLEM, done);
	}
	if (repair && nlost > 0) {
		uint64_t ms;
		if (store_expunge_uids_txn(u, m->id, lost, nlost, &ms, why) < 0)
			goto out;
		for (size_t i = 0; i < nlost; i++)
			if (exec_id2(c, "UPDATE expunged SET purged = 1 WHERE mailbox = ?1 AND uid = ?2",
				     m->id, lost[i], why) < 0)
				goto out;
		if (ms > modseq)
			modseq = ms;
	}

	/* Counters, UIDNEXT, HIGHESTMODSEQ from the rows as they are now. */
	int64_t cnt = 0, bytes = 0, maxuid = 0, maxexp = 0, pend = 0, maxmod = 0, maxmodx = 0;
	if (one_int(c, "SELECT count(*) FROM message WHERE mailbox = ?", m->id, &cnt, why) < 0 ||
	    one_int(c, "SELECT coalesce(sum(size), 0) FROM message WHERE mailbox = ?", m->id, &bytes,
		    why) < 0 ||
	    one_int(c, "SELECT coalesce(max(uid), 0) FROM message WHERE mailbox = ?", m->id, &maxuid,
		    why) < 0 ||
	    one_int(c, "SELECT coalesce(max(uid), 0) FROM expunged WHERE mailbox = ?", m->id,
		    &maxexp, why) < 0 ||
	    one_int(c, "SELECT count(*) FROM expunged WHERE mailbox = ? AND purged = 0", m->id, &pend,
		    why) < 0 ||
	    one_int(c, "SELECT coalesce(max(modseq), 0) FROM message WHERE mailbox = ?", m->id,
		    &maxmod, why) < 0 ||
	    one_int(c, "SELECT coalesce(max(modseq), 0) FROM expunged WHERE mailbox = ?", m->id,
		    &maxmodx, why) < 0)
		goto out;
	if (maxexp > maxuid)
		maxuid = maxexp;
	if (maxmodx > maxmod)
		maxmod = maxmodx;
	/* Re-read what this check itself may have changed. */
	int64_t cur_next = uidnext, cur_hms = 0, cur_msgs = 0, cur_bytes = 0, cur_exp = 0;
	if (one_int(c, "SELECT highestmodseq FROM mailbox WHERE id = ?", m->id, &cur_hms, why) < 0 ||
	    one_int(c, "SELECT messages FROM mailbox WHERE id = ?", m->id, &cur_msgs, why) < 0 ||
	    one_int(c, "SELECT bytes FROM mailbox WHERE id = ?", m->id, &cur_bytes, why) < 0 ||
	    one_int(c, "SELECT expunged FROM mailbox WHERE id = ?", m->id, &cur_exp, why) < 0)
		goto out;
	if (!repair) {
		/* Nothing was written: compare with what the adoptions would do. */
		cur_next = m->uidnext;
	}
	if (repair && (int64_t)modseq > cur_hms)
		cur_hms = (int64_t)modseq;
	bool fix = false;
	if (cnt != cur_msgs || bytes != cur_bytes) {
		ms_buf_setf(&c->what,
			    "counters say %lld messages, %lld bytes; the index holds %lld, %lld",
			    (long long)cur_msgs, (long long)cur_bytes, (long long)cnt, (long long)bytes);
		report(c, STORE_CHECK_PROBLEM, repair);
		fix = true;
	}
	if (pend != cur_exp) {
		ms_buf_setf(&c->what, "expunged counter says %lld; %lld files wait for cleanup",
			    (long long)cur_exp, (long long)pend);
		report(c, STORE_CHECK_PROBLEM, repair);
		fix = true;
	}
	if (maxuid >= cur_next) {
		ms_buf_setf(&c->what, "UIDNEXT %lld is not above the highest UID %lld",
			    (long long)cur_next, (long long)maxuid);
		report(c, STORE_CHECK_PROBLEM, repair);
		cur_next = maxuid + 1;
		fix = true;
	}
	if (maxmod > cur_hms) {
		ms_buf_setf(&c->what, "HIGHESTMODSEQ %lld is below a message's MODSEQ %lld",
			    (long long)cur_hms, (long long)maxmod);
		report(c, STORE_CHECK_PROBLEM, repair);
		cur_hms = maxmod;
		fix = true;
	}
	if (repair && (fix || uidnext != m->uidnext || (int64_t)modseq > (int64_t)m->highestmodseq)) {
		sqlite3_stmt *st = store_db_stmt(c->s, store_user_db(u),
						 "UPDATE mailbox SET messages = ?, bytes = ?, expunged = ?,"
						 " uidnext = max(uidnext, ?), highestmodseq = max(highestmodseq, ?)"
						 " WHERE id = ?",
						 why);
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, cnt);
		sqlite3_bind_int64(st, 2, bytes);
		sqlite3_bind_int64(st, 3, pend);
		sqlite3_bind_int64(st, 4, cur_next > (int64_t)uidnext ? cur_next : (int64_t)uidnext);
		sqlite3_bind_int64(st, 5, cur_hms);
		sqlite3_bind_int64(st, 6, m->id);
		if (store_db_done(c->s, store_user_db(u), st, why) < 0)
			goto out;
		store_user_note(u, STORE_NOTIFY_MAILBOX, m->id, 0, (uint64_t)cur_hms);
	}
	if (check_meta(c, m, why) < 0)
		goto out;
	rc = 0;
out:
	free(files);
	free(rows);
	free(exp);
	free(lost);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&path);
	ms_buf_deinit(&to);
	return rc;
}

/* Mailbox directories of the user without a row. */
static int check_dirs(struct check *c, const struct mbox *mb, size_t n, struct ms_buf *why)
{
	struct store_user *u = c->u;
	struct ms_buf path;
	struct dirent *e;
	DIR *d = opendir(u->msgdir);

	if (d == NULL)
		return errno == ENOENT ? 0 : store_fail_errno(c->s, errno, why, "cannot read %s", u->msgdir);
	ms_buf_init(&path);
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		char *end;
		unsigned long id;
		bool known = false;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strncmp(name, "store.db", 8) == 0)
			continue;
		ms_buf_reset(&c->where);
		ms_buf_printf(&c->where, "user/%s", u->userid);
		ms_buf_setf(&path, "%s/%s", u->msgdir, name);
		if (name[0] != 'm' || (id = strtoul(name + 1, &end, 10)) == 0 || *end != '\0') {
			if (strncmp(name, "store.db.damaged.", 17) == 0)
				continue;
			ms_buf_setf(&c->what, "unknown file %s (left alone)", path.data);
			report(c, STORE_CHECK_PROBLEM, false);
			continue;
		}
		for (size_t i = 0; i < n && !known; i++)
			known = mb[i].id == id;
		if (known)
			continue;
		ms_buf_setf(&c->what, "directory %s of a deleted mailbox", path.data);
		report(c, STORE_CHECK_LEFTOVER,
		       c->o->repair && store_dir_remove(c->s, path.data, why) == 0);
	}
	closedir(d);
	ms_buf_deinit(&path);
	return 0;
}

static int rebuild(struct check *c, const struct store_partition *part, const char *userid,
		   struct ms_buf *why)
{
	struct store_db *list;
	unsigned mbx = 0, msgs = 0;
	int rc;

	if (!c->o->repair) {
		report(c, STORE_CHECK_PROBLEM, false);
		return 0;
	}
	if (store_mboxlist_db(c->s, &list, why) < 0 || store_db_begin(c->s, list, true, why) < 0)
		return -1;
	rc = store_rebuild_user(c->s, part, userid, &mbx, &msgs, why);
	store_db_rollback(list);
	if (rc < 0) {
		report(c, STORE_CHECK_PROBLEM, false);
		return -1;
	}
	ms_buf_printf(&c->what, "; rebuilt from the files: %u mailboxes, %u messages", mbx, msgs);
	report(c, STORE_CHECK_PROBLEM, true);
	return 0;
}

static bool wanted(const char *name, const char *mailbox, bool recurse)
{
	if (mailbox == NULL)
		return true;
	return strcmp(name, mailbox) == 0 || (recurse && store_name_is_child(mailbox, name));
}

int store_check_user(struct store *s, const char *userid, const char *mailbox, bool recurse,
		     const struct store_check_opts *o, struct store_check_stats *stats,
		     struct ms_buf *why)
{
	struct check c = { s, o, stats, NULL, { 0 }, { 0 }, 0, NULL };
	struct ms_buf pname, norm, report_text, id, state;
	const struct store_partition *part;
	struct mbox *mb = NULL;
	size_t nmb = 0;
	char *dbpath = NULL;
	int rc = -1, found;

	ms_buf_init(&c.where);
	ms_buf_init(&c.what);
	ms_buf_init(&pname);
	ms_buf_init(&norm);
	ms_buf_init(&report_text);
	ms_buf_init(&id);
	ms_buf_init(&state);
	if (store_name_userid_check(userid, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (mailbox != NULL && store_name_mailbox_norm(mailbox, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	found = store_mboxlist_get(s, userid, &pname, why);
	if (found <= 0) {
		if (found == 0)
			store_fail(s, MS_E_NOUSER, why,
				   "no user %s in the mailbox list (reconstruct -m finds directories "
				   "the list lacks)",
				   userid);
		goto out;
	}
	part = store_partition_find(s, pname.data);
	if (part == NULL) {
		store_fail(s, MS_E_TEMPFAIL, why, "user %s is in unknown partition %s", userid,
			   pname.data);
		goto out;
	}
	stats->users++;
	c.u = store_user_new_handle(s, userid, part);
	ms_buf_setf(&c.where, "user/%s", userid);
	dbpath = ms_xasprintf("%s/store.db", c.u->dir);
	if (access(dbpath, F_OK) < 0) {
		ms_buf_setf(&c.what, "the database %s is missing", dbpath);
		rc = rebuild(&c, part, userid, why);
		goto out;
	}
	if (store_db_open(s, dbpath, STORE_DB_USER, false, &c.u->db, why) < 0) {
		if (store_errcode(s) != MS_E_INTERNAL)
			goto out;
		ms_buf_setf(&c.what, "the database is damaged (%s)", why->data);
		rc = rebuild(&c, part, userid, why);
		goto out;
	}
	if (store_db_integrity(s, c.u->db, !o->force, &report_text, why) < 0)
		goto out;
	if (report_text.len > 0) {
		store_db_close(&c.u->db);
		ms_buf_setf(&c.what, "the database is damaged (%.200s)", report_text.data);
		rc = rebuild(&c, part, userid, why);
		goto out;
	}
	{
		sqlite3_stmt *st = store_db_stmt(s, c.u->db, "SELECT userid, state FROM user", why);
		int r = st == NULL ? -1 : store_db_step(s, c.u->db, st, why);
		if (r < 0)
			goto out;
		if (r == 1) {
			ms_buf_setf(&id, "%s", (const char *)sqlite3_column_text(st, 0));
			ms_buf_setf(&state, "%s", (const char *)sqlite3_column_text(st, 1));
			sqlite3_reset(st);
		}
		if (r == 0 || strcmp(id.data, userid) != 0 || strcmp(state.data, "active") != 0) {
			const char *what = "";
			store_db_close(&c.u->db);
			ms_buf_setf(&c.what, "an interrupted delete, rename or move (state %s)",
				    r == 0 ? "none" : state.data);
			if (o->repair && r == 1) {
				if (store_user_finish(s, c.u->dir, part->name, &what, why) < 0)
					goto out;
				ms_buf_printf(&c.what, ": %s", what);
			}
			report(&c, STORE_CHECK_LEFTOVER, o->repair && r == 1);
			rc = 0;
			goto out;
		}
	}
	if (store_user_begin(c.u, o->repair, why) < 0)
		goto out;
	{
		sqlite3_stmt *st = store_db_stmt(s, c.u->db,
						 "SELECT id, name, uidnext, highestmodseq, messages, bytes,"
						 " expunged FROM mailbox ORDER BY name",
						 why);
		int r;
		if (st == NULL)
			goto fail;
		while ((r = store_db_step(s, c.u->db, st, why)) == 1) {
			mb = ms_xrealloc(mb, (nmb + 1) * sizeof(*mb));
			mb[nmb++] = (struct mbox){ (uint32_t)sqlite3_column_int64(st, 0),
						   ms_xstrdup((const char *)sqlite3_column_text(st, 1)),
						   (uint32_t)sqlite3_column_int64(st, 2),
						   (uint64_t)sqlite3_column_int64(st, 3),
						   (uint64_t)sqlite3_column_int64(st, 4),
						   (uint64_t)sqlite3_column_int64(st, 5),
						   (uint64_t)sqlite3_column_int64(st, 6) };
		}
		sqlite3_reset(st);
		if (r < 0)
			goto fail;
	}
	if (mailbox == NULL && check_dirs(&c, mb, nmb, why) < 0)
		goto fail;
	bool any = mailbox == NULL;
	for (size_t i = 0; i < nmb; i++) {
		if (!wanted(mb[i].name, mailbox != NULL ? norm.data : NULL, recurse))
			continue;
		any = true;
		if (check_mailbox(&c, &mb[i], why) < 0)
			goto fail;
	}
	if (!any) {
		store_fail(s, MS_E_NOMAILBOX, why, "no mailbox %s of user %s", norm.data, userid);
		goto fail;
	}
	if (o->repair) {
		if (store_user_commit(c.u, why) < 0)
			goto out;
		for (size_t i = 0; i < c.nlater; i++)
			(void)unlink(c.later[i]);
	} else {
		store_user_rollback(c.u);
	}
	rc = 0;
	goto out;
fail:
	store_user_rollback(c.u);
out:
	for (size_t i = 0; i < nmb; i++)
		free(mb[i].name);
	free(mb);
	for (size_t i = 0; i < c.nlater; i++)
		free(c.later[i]);
	free(c.later);
	free(dbpath);
	store_user_close(&c.u);
	ms_buf_deinit(&c.where);
	ms_buf_deinit(&c.what);
	ms_buf_deinit(&pname);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&report_text);
	ms_buf_deinit(&id);
	ms_buf_deinit(&state);
	return rc;
}
