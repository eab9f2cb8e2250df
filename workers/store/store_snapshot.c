/*
 * store_snapshot: snapshots of the mailbox list (see the header).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "store_db.h"
#include "store_int.h"
#include "store_lock.h"
#include "store_partition.h"
#include "store_snapshot.h"

#define SNAPSHOT_DEFAULT_PATH "dbdata/snapshots"
#define SNAPSHOT_DB           "mboxlist.db"
#define SNAPSHOT_NAME_LEN     14 /* YYYYMMDDhhmmss */

char *store_snapshot_dir(const struct store *s, const char *option)
{
	const char *v = option != NULL && *option != '\0' ? option : SNAPSHOT_DEFAULT_PATH;

	if (v[0] == '/')
		return ms_xstrdup(v);
	return ms_xasprintf("%s/%s", s->root, v);
}

/* YYYYMMDDhhmmss, optionally followed by .NN. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n != SNAPSHOT_NAME_LEN && n != SNAPSHOT_NAME_LEN + 3)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dot = i == SNAPSHOT_NAME_LEN;
		if (dot ? name[i] != '.' : (name[i] < '0' || name[i] > '9'))
			return false;
	}
	return true;
}

static void stamp(struct ms_buf *out)
{
	char text[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(text, sizeof(text), "%Y%m%d%H%M%S", &tm);
	ms_buf_setf(out, "%s", text);
}

/*
 * Create a new directory under parent named by the time (with .NN when
 * taken): name_r gets the name, path_r the full path.  The name sorts
 * after after (NULL: no constraint), the newest existing snapshot, even
 * when the clock went back or that second's name was pruned already.
 * 0 or -1.
 */
static int make_stamped_dir(struct store *s, const char *parent, const char *after,
			    struct ms_buf *name_r, struct ms_buf *path_r, struct ms_buf *why)
{
	struct ms_buf base;
	int first = 0;

	ms_buf_init(&base);
	stamp(&base);
	if (after != NULL && strncmp(base.data, after, SNAPSHOT_NAME_LEN) <= 0) {
		ms_buf_setf(&base, "%.*s", SNAPSHOT_NAME_LEN, after);
		first = after[SNAPSHOT_NAME_LEN] == '.' ? atoi(after + SNAPSHOT_NAME_LEN + 1) + 1 : 1;
	}
	if (ms_file_mkdirs(parent, 0700, why) < 0) {
		ms_buf_deinit(&base);
		return store_fail(s, MS_E_TEMPFAIL, NULL, "%s", "");
	}
	for (int i = first; i < 100; i++) {
		if (i == 0)
			ms_buf_setf(name_r, "%s", base.data);
		else
			ms_buf_setf(name_r, "%s.%02d", base.data, i);
		ms_buf_setf(path_r, "%s/%s", parent, name_r->data);
		if (mkdir(path_r->data, 0700) == 0) {
			ms_buf_deinit(&base);
			return store_dir_sync(s, parent, why);
		}
		if (errno != EEXIST) {
			int e = errno;
			ms_buf_deinit(&base);
			return store_fail_errno(s, e, why, "cannot create %s", path_r->data);
		}
	}
	ms_buf_deinit(&base);
	return store_fail(s, MS_E_TEMPFAIL, why, "%s: 100 directories named %s already", parent,
			  name_r->data);
}

/* ---- the snapshot names of a directory ------------------------------------- */

struct names {
	size_t n, cap;
	char **v;
};

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The snapshot directories of snapdir, oldest first (absent snapdir: none). */
static int list_names(struct store *s, const char *snapdir, struct names *l, struct ms_buf *why)
{
	DIR *d = opendir(snapdir);
	struct dirent *e;

	if (d == NULL)
		return errno == ENOENT ? 0 : store_fail_errno(s, errno, why, "cannot read %s", snapdir);
	while ((e = readdir(d)) != NULL) {
		if (!name_ok(e->d_name))
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = ms_xrealloc(l->v, l->cap * sizeof(*l->v));
		}
		l->v[l->n++] = ms_xstrdup(e->d_name);
	}
	closedir(d);
	qsort(l->v, l->n, sizeof(*l->v), cmp_name);
	return 0;
}

static bool is_verified(const char *snapdir, const char *name)
{
	char *p = ms_xasprintf("%s/%s/" STORE_SNAPSHOT_VERIFIED, snapdir, name);
	bool ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

int store_snapshot_prune(struct store *s, const char *snapdir, unsigned keep,
			 unsigned *removed_r, struct ms_buf *why)
{
	struct names l = { 0, 0, NULL };
	unsigned kept = 0, removed = 0;
	int rc = 0;

	if (list_names(s, snapdir, &l, why) < 0)
		return -1;
	for (size_t i = l.n; i-- > 0;) {
		char *p;
		if (is_verified(snapdir, l.v[i]) && kept < keep) {
			kept++;
			continue;
		}
		p = ms_xasprintf("%s/%s", snapdir, l.v[i]);
		if (store_dir_remove(s, p, why) < 0)
			rc = -1;
		else
			removed++;
		free(p);
		if (rc < 0)
			break;
	}
	names_free(&l);
	if (removed_r != NULL)
		*removed_r = removed;
	return rc;
}

/* ---- checks ----------------------------------------------------------------- */

static bool damaged_rc(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* integrity_check: 1 ok, 0 damaged (report), -1 cannot run (why). */
static int integrity(sqlite3 *db, const char *path, struct ms_buf *report, struct ms_buf *why)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);

	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *line = (const char *)sqlite3_column_text(st, 0);
			if (line != NULL && strcmp(line, "ok") != 0 && report->len < 400)
				ms_buf_printf(report, "%s%s", report->len > 0 ? "; " : "", line);
		}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return report->len == 0 ? 1 : 0;
	if (damaged_rc(rc)) {
		ms_buf_printf(report, "%s%s", report->len > 0 ? "; " : "", sqlite3_errstr(rc));
		return 0;
	}
	ms_buf_setf(why, "cannot check %s: %s", path, sqlite3_errstr(rc));
	return -1;
}

/* The users of a sound file: 1 with *n_r, 0 no mailbox list schema, -1 (why). */
static int count_users(sqlite3 *db, const char *path, long long *n_r, struct ms_buf *why)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &st, NULL);

	if (rc == SQLITE_ERROR) /* no such table */
		return 0;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*n_r = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 1;
	}
	sqlite3_finalize(st);
	ms_buf_setf(why, "cannot read %s: %s", path, sqlite3_errstr(rc));
	return -1;
}

/* 1 sound, 0 damaged, 2 a database without the schema, -1 cannot tell. */
static int verify_file(const char *path, long long *users_r, struct ms_buf *report,
		       struct ms_buf *why)
{
	sqlite3 *db = NULL;
	long long n = 0;
	int rc;

	ms_buf_reset(report);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, STORE_LOCK_BUSY_MS);
		rc = integrity(db, path, report, why);
	} else if (damaged_rc(rc)) {
		ms_buf_setf(report, "%s", sqlite3_errstr(rc));
		rc = 0;
	} else {
		ms_buf_setf(why, "cannot open %s: %s", path, sqlite3_errstr(rc));
		rc = -1;
	}
	if (rc == 1) {
		rc = count_users(db, path, &n, why);
		if (rc == 0) {
			ms_buf_setf(report, "%s", "no mailbox list in it (no users table)");
			rc = 2;
		}
	}
	sqlite3_close(db);
	if (rc == 1 && users_r != NULL)
		*users_r = n;
	return rc;
}

int store_snapshot_verify(const char *path, long long *users_r, struct ms_buf *report,
			  struct ms_buf *why)
{
	int rc = verify_file(path, users_r, report, why);

	return rc == 2 ? 0 : rc;
}

/* True when some partition has a user directory (=user/ is not empty). */
static bool user_dirs_exist(const struct store *s)
{
	bool found = false;

	for (size_t i = 0; i < s->nparts && !found; i++) {
		char *p = ms_xasprintf("%s/=user", s->parts[i].path);
		DIR *d = opendir(p);
		struct dirent *e;

		free(p);
		if (d == NULL)
			continue;
		while (!found && (e = readdir(d)) != NULL)
			found = e->d_name[0] != '.';
		closedir(d);
	}
	return found;
}

int store_snapshot_check_list(struct store *s, enum store_list_state *state_r,
			      struct ms_buf *report, struct ms_buf *why)
{
	struct stat sb;
	bool absent = false;
	int rc;

	ms_buf_reset(report);
	if (stat(s->mboxlist_path, &sb) < 0) {
		if (errno != ENOENT)
			return store_fail_errno(s, errno, why, "cannot read %s", s->mboxlist_path);
		absent = true;
	}
	if (absent || sb.st_size == 0) {
		bool users = user_dirs_exist(s);
		*state_r = users ? STORE_LIST_MISSING : STORE_LIST_NEW;
		if (users)
			ms_buf_setf(report, "%s while user directories exist",
				    absent ? "missing" : "empty");
		return 0;
	}
	rc = verify_file(s->mboxlist_path, NULL, report, why);
	if (rc < 0)
		return store_fail(s, MS_E_TEMPFAIL, NULL, "%s", "");
	if (rc == 1)
		*state_r = STORE_LIST_OK;
	else if (rc == 2 && !user_dirs_exist(s))
		*state_r = STORE_LIST_NEW; /* created, never initialised: the store will */
	else
		*state_r = STORE_LIST_DAMAGED;
	if (*state_r != STORE_LIST_DAMAGED)
		ms_buf_reset(report);
	return 0;
}

/* ---- taking one ------------------------------------------------------------- */

static int mark_verified(struct store *s, const char *dir, long long users, struct ms_buf *why)
{
	char *p = ms_xasprintf("%s/" STORE_SNAPSHOT_VERIFIED, dir);
	char *text = ms_xasprintf("integrity_check ok; %lld users\n", users);
	int rc = ms_file_replace(p, text, strlen(text), 0600, why);

	if (rc < 0)
		store_fail_errno(s, errno, NULL, "%s", "");
	free(p);
	free(text);
	return rc;
}

int store_snapshot_take(struct store *s, const char *snapdir, struct ms_buf *name_r,
			long long *users_r, struct ms_buf *why)
{
	struct ms_buf dir, path, report;
	struct names l = { 0, 0, NULL };
	struct store_db *list;
	long long users = 0;
	int rc = -1;

	ms_buf_init(&dir);
	ms_buf_init(&path);
	ms_buf_init(&report);
	if (store_mboxlist_db(s, &list, why) < 0 || list_names(s, snapdir, &l, why) < 0)
		goto out;
	/* After the newest verified one (unverified ones go at the prune). */
	while (l.n > 0 && !is_verified(snapdir, l.v[l.n - 1]))
		free(l.v[--l.n]);
	if (make_stamped_dir(s, snapdir, l.n > 0 ? l.v[l.n - 1] : NULL, name_r, &dir, why) < 0)
		goto out;
	ms_buf_setf(&path, "%s/" SNAPSHOT_DB, dir.data);
	if (store_db_backup(s, list, path.data, why) < 0)
		goto discard;
	rc = verify_file(path.data, &users, &report, why);
	if (rc != 1) {
		if (rc >= 0)
			store_fail(s, MS_E_INTERNAL, why, "snapshot %s failed its check: %s",
				   path.data, report.data);
		rc = -1;
		goto discard;
	}
	rc = -1;
	if (mark_verified(s, dir.data, users, why) < 0)
		goto discard;
	if (users_r != NULL)
		*users_r = users;
	rc = 0;
	goto out;
discard:
	{
		struct ms_buf ignore;
		ms_buf_init(&ignore);
		(void)store_dir_remove(s, dir.data, &ignore);
		ms_buf_deinit(&ignore);
	}
out:
	names_free(&l);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&path);
	ms_buf_deinit(&report);
	return rc;
}

/* ---- restoring -------------------------------------------------------------- */

/* Move mboxlist.db, -wal and -shm into mboxlist/removed/<stamp>/. */
static int move_aside(struct store *s, struct ms_buf *removed_r, struct ms_buf *why)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	struct ms_buf parent, name, from, to;
	int rc = 0;

	ms_buf_init(&parent);
	ms_buf_init(&name);
	ms_buf_init(&from);
	ms_buf_init(&to);
	ms_buf_reset(removed_r);
	ms_buf_printf(&parent, "%s/mboxlist/removed", s->root);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]) && rc == 0; i++) {
		struct stat sb;
		ms_buf_setf(&from, "%s%s", s->mboxlist_path, suffix[i]);
		if (lstat(from.data, &sb) < 0)
			continue;
		if (removed_r->len == 0)
			rc = make_stamped_dir(s, parent.data, NULL, &name, removed_r, why);
		ms_buf_setf(&to, "%s/" SNAPSHOT_DB "%s", removed_r->data, suffix[i]);
		if (rc == 0 && rename(from.data, to.data) < 0)
			rc = store_fail_errno(s, errno, why, "cannot move %s to %s", from.data,
					      to.data);
	}
	if (rc == 0 && removed_r->len > 0) {
		ms_buf_setf(&from, "%s/mboxlist", s->root);
		if (store_dir_sync(s, removed_r->data, why) < 0 ||
		    store_dir_sync(s, from.data, why) < 0)
			rc = -1;
	}
	ms_buf_deinit(&parent);
	ms_buf_deinit(&name);
	ms_buf_deinit(&from);
	ms_buf_deinit(&to);
	return rc;
}

/* Copy file into the list's place atomically, with mode.  0 or -1. */
static int install(struct store *s, const char *file, mode_t mode, struct ms_buf *why)
{
	struct ms_buf data, dir;
	int rc = -1;

	ms_buf_init(&data);
	ms_buf_init(&dir);
	ms_buf_printf(&dir, "%s/mboxlist", s->root);
	if (store_dir_make(s, dir.data, why) == 0) {
		if (ms_file_read(file, &data, why) < 0 ||
		    ms_file_replace(s->mboxlist_path, data.data, data.len, mode, why) < 0)
			store_fail_errno(s, errno, NULL, "%s", "");
		else
			rc = 0;
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&dir);
	return rc;
}

int store_snapshot_restore(struct store *s, const char *snapdir, struct ms_buf *chosen_r,
			   struct ms_buf *removed_r, struct ms_buf *why)
{
	struct names l = { 0, 0, NULL };
	struct ms_buf report, err;
	struct stat sb;
	mode_t mode = 0600; /* or the bad file's */
	int rc = 0;

	store_db_close(&s->mboxlist);
	ms_buf_reset(chosen_r);
	if (stat(s->mboxlist_path, &sb) == 0)
		mode = sb.st_mode & 0777;
	if (move_aside(s, removed_r, why) < 0 || list_names(s, snapdir, &l, why) < 0)
		return -1;
	ms_buf_init(&report);
	ms_buf_init(&err);
	for (size_t i = l.n; i-- > 0 && rc == 0;) {
		char *p;
		if (!is_verified(snapdir, l.v[i]))
			continue;
		p = ms_xasprintf("%s/%s/" SNAPSHOT_DB, snapdir, l.v[i]);
		/* Checked again: a verified copy may have rotted on disk since. */
		if (verify_file(p, NULL, &report, &err) == 1) {
			rc = install(s, p, mode, why) < 0 ? -1 : 1;
			ms_buf_setf(chosen_r, "%s", l.v[i]);
		}
		free(p);
	}
	names_free(&l);
	ms_buf_deinit(&report);
	ms_buf_deinit(&err);
	return rc;
}
