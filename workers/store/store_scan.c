/*
 * store_scan: the mailbox list against the partitions (see the header).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_check.h"
#include "store_db.h"
#include "store_hashdir.h"
#include "store_int.h"
#include "store_mboxlist.h"
#include "store_partition.h"
#include "store_rebuild.h"
#include "store_recover.h"
#include "store_scan.h"
#include "store_user.h"

struct scan {
	struct store *s;
	const struct store_check_opts *o;
	struct store_check_stats *st;
	const char *only_user;
};

static void emit(struct scan *c, enum store_check_kind kind, const char *where, const char *what,
		 bool repaired)
{
	if (kind == STORE_CHECK_PROBLEM)
		c->st->problems++;
	else
		c->st->leftovers++;
	if (repaired)
		c->st->repaired++;
	if (c->o->report != NULL)
		c->o->report(c->o->ctx, kind, where, what, repaired);
}

static void recover_report(void *ctx, const char *where, const char *what, bool repaired)
{
	emit(ctx, STORE_CHECK_LEFTOVER, where, what, repaired);
}

/* Does a user's message directory hold any message file (m<ID>/NN/<UID>.msg)? */
static bool has_messages(const char *msgdir)
{
	struct ms_buf sub, nn;
	struct dirent *a, *b, *e;
	DIR *d1, *d2, *d3;
	bool found = false;

	d1 = opendir(msgdir);
	if (d1 == NULL)
		return false;
	ms_buf_init(&sub);
	ms_buf_init(&nn);
	while (!found && (a = readdir(d1)) != NULL) {
		if (a->d_name[0] != 'm')
			continue;
		ms_buf_setf(&sub, "%s/%s", msgdir, a->d_name);
		d2 = opendir(sub.data);
		if (d2 == NULL)
			continue;
		while (!found && (b = readdir(d2)) != NULL) {
			if (b->d_name[0] < '0' || b->d_name[0] > '9')
				continue;
			ms_buf_setf(&nn, "%s/%s", sub.data, b->d_name);
			d3 = opendir(nn.data);
			if (d3 == NULL)
				continue;
			while (!found && (e = readdir(d3)) != NULL) {
				size_t n = strlen(e->d_name);
				found = n > 4 && strcmp(e->d_name + n - 4, ".msg") == 0;
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
	ms_buf_deinit(&sub);
	ms_buf_deinit(&nn);
	return found;
}

/* Without repairing: what store_user_finish would find in this directory. */
static void classify(struct scan *c, const struct store_partition *p, const char *userid,
		     const char *dir)
{
	struct store *s = c->s;
	struct store_db *db = NULL;
	struct ms_buf why, listed, where;
	char *path = ms_xasprintf("%s/store.db", dir);

	ms_buf_init(&why);
	ms_buf_init(&listed);
	ms_buf_init(&where);
	ms_buf_setf(&where, "user/%s", userid);
	int inlist = store_mboxlist_get(s, userid, &listed, &why);
	if (store_db_open(s, path, STORE_DB_USER, false, &db, &why) == 0) {
		sqlite3_stmt *st = store_db_stmt(s, db, "SELECT state FROM user WHERE id = 1", &why);
		int step = st == NULL ? -1 : store_db_step(s, db, st, &why);
		if (step == 1) {
			const char *state = (const char *)sqlite3_column_text(st, 0);
			if (strcmp(state, "active") != 0) {
				ms_buf_setf(&why, "an interrupted delete, rename or move (state %s)",
					    state);
				emit(c, STORE_CHECK_LEFTOVER, where.data, why.data, false);
			} else if (inlist == 0) {
				/* With mail it is a problem (the mail is invisible); an
				 * empty one is what an interrupted creation leaves. */
				struct ms_buf msgdir;
				ms_buf_init(&msgdir);
				store_partition_user_dir(p, userid, true, &msgdir);
				emit(c, has_messages(msgdir.data) ? STORE_CHECK_PROBLEM : STORE_CHECK_LEFTOVER,
				     where.data, "user directory not in the mailbox list", false);
				ms_buf_deinit(&msgdir);
			} else if (inlist == 1 && strcmp(listed.data, p->name) != 0) {
				ms_buf_setf(&why, "a copy in partition %s, but the list names %s",
					    p->name, listed.data);
				emit(c, STORE_CHECK_LEFTOVER, where.data, why.data, false);
			}
		} else if (step == 0) {
			emit(c, STORE_CHECK_LEFTOVER, where.data,
			     "a database without a user row (an interrupted creation)", false);
		}
		if (st != NULL)
			sqlite3_reset(st);
		store_db_close(&db);
	}
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&listed);
	ms_buf_deinit(&where);
}

static int with_list_lock(struct scan *c, struct store_db **list, struct ms_buf *why)
{
	if (store_mboxlist_db(c->s, list, why) < 0)
		return -1;
	return store_db_begin(c->s, *list, true, why);
}

/* One user directory <base>/=user/h1/h2/=<userid> of partition p. */
static int one_user(struct scan *c, const struct store_partition *p, const char *h1,
		    const char *h2, const char *userid, bool msgonly, struct ms_buf *why)
{
	struct ms_buf hash, where, dir;
	struct stat sb;
	int rc = 0;

	ms_buf_init(&hash);
	ms_buf_init(&where);
	ms_buf_init(&dir);
	ms_buf_setf(&where, "user/%s", userid);
	store_hashdir(userid, &hash);
	if (strncmp(hash.data, h1, 2) != 0 || strncmp(hash.data + 3, h2, 2) != 0) {
		ms_buf_setf(&dir, "directory %s/%s/=%s is not where user %s belongs (%s; left alone)",
			    h1, h2, userid, userid, hash.data);
		emit(c, STORE_CHECK_PROBLEM, where.data, dir.data, false);
		goto out;
	}
	c->st->users++;
	store_partition_user_dir(p, userid, false, &dir);
	char *db = ms_xasprintf("%s/store.db", dir.data);
	bool have_db = stat(db, &sb) == 0;
	free(db);
	if (msgonly && have_db)
		goto out; /* seen through the index path */
	if (!have_db) {
		struct ms_buf msgdir;
		bool done = false, files;

		ms_buf_init(&msgdir);
		store_partition_user_dir(p, userid, true, &msgdir);
		files = has_messages(msgdir.data);
		if (c->o->repair) {
			/* Under the list lock: a creation in progress holds it. */
			struct store_db *list;
			if (with_list_lock(c, &list, why) == 0) {
				db = ms_xasprintf("%s/store.db", dir.data);
				bool still = stat(db, &sb) < 0;
				free(db);
				if (still && files)
					done = store_rebuild_user(c->s, p, userid, NULL, NULL, why) == 0;
				else if (still)
					done = store_dir_remove(c->s, msgdir.data, why) == 0 &&
					       store_dir_remove(c->s, dir.data, why) == 0;
				store_db_rollback(list);
			}
		}
		if (files)
			emit(c, STORE_CHECK_PROBLEM, where.data,
			     done ? "user directory without a database: rebuilt from the files"
				  : "user directory without a database",
			     done);
		else
			emit(c, STORE_CHECK_LEFTOVER, where.data,
			     "user directory without a database or messages (an interrupted creation)",
			     done);
		ms_buf_deinit(&msgdir);
		goto out;
	}
	if (!c->o->repair) {
		classify(c, p, userid, dir.data);
		goto out;
	}
	const char *what = "";
	if (store_user_finish(c->s, dir.data, p->name, &what, why) < 0) {
		emit(c, STORE_CHECK_PROBLEM, where.data, why->data, false);
		goto out;
	}
	if (*what != '\0') {
		struct ms_buf msgdir;
		ms_buf_init(&msgdir);
		store_partition_user_dir(p, userid, true, &msgdir);
		bool mail = has_messages(msgdir.data);
		ms_buf_deinit(&msgdir);
		emit(c,
		     mail && (strcmp(what, "added to the mailbox list") == 0 ||
			      strncmp(what, "the mailbox list now", 20) == 0)
			     ? STORE_CHECK_PROBLEM
			     : STORE_CHECK_LEFTOVER,
		     where.data, what, true);
	}
out:
	ms_buf_deinit(&hash);
	ms_buf_deinit(&where);
	ms_buf_deinit(&dir);
	return rc;
}

static bool hex2(const char *n)
{
	static const char hex[] = "0123456789abcdef";
	return strlen(n) == 2 && strchr(hex, n[0]) != NULL && strchr(hex, n[1]) != NULL &&
	       n[0] != '\0' && n[1] != '\0';
}

static int scan_base(struct scan *c, const struct store_partition *p, const char *base,
		     bool msgonly, struct ms_buf *why)
{
	struct ms_buf top, l1, l2;
	DIR *d1, *d2, *d3;
	struct dirent *a, *b, *e;

	ms_buf_init(&top);
	ms_buf_init(&l1);
	ms_buf_init(&l2);
	ms_buf_printf(&top, "%s/=user", base);
	d1 = opendir(top.data);
	if (d1 == NULL)
		goto out;
	while ((a = readdir(d1)) != NULL) {
		if (!hex2(a->d_name))
			continue;
		ms_buf_setf(&l1, "%s/%s", top.data, a->d_name);
		d2 = opendir(l1.data);
		if (d2 == NULL)
			continue;
		while ((b = readdir(d2)) != NULL) {
			if (!hex2(b->d_name))
				continue;
			ms_buf_setf(&l2, "%s/%s", l1.data, b->d_name);
			d3 = opendir(l2.data);
			if (d3 == NULL)
				continue;
			while ((e = readdir(d3)) != NULL) {
				if (e->d_name[0] != '=' || e->d_name[1] == '\0')
					continue;
				if (c->only_user != NULL && strcmp(e->d_name + 1, c->only_user) != 0)
					continue;
				one_user(c, p, a->d_name, b->d_name, e->d_name + 1, msgonly, why);
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
out:
	ms_buf_deinit(&top);
	ms_buf_deinit(&l1);
	ms_buf_deinit(&l2);
	return 0;
}

struct listed {
	size_t n;
	char **user, **part;
};

static int collect(void *ctx, const char *userid, const char *partition)
{
	struct listed *l = ctx;

	l->user = ms_xrealloc(l->user, (l->n + 1) * sizeof(char *));
	l->part = ms_xrealloc(l->part, (l->n + 1) * sizeof(char *));
	l->user[l->n] = ms_xstrdup(userid);
	l->part[l->n++] = ms_xstrdup(partition);
	return 0;
}

int store_scan_partitions(struct store *s, const char *partition, const char *userid,
			  const struct store_check_opts *o, struct store_check_stats *stats,
			  struct ms_buf *why)
{
	struct scan c = { s, o, stats, userid };
	struct listed l = { 0, NULL, NULL };
	int rc = -1;

	if (partition != NULL && store_partition_find(s, partition) == NULL)
		return store_fail(s, MS_E_SYNTAX, why, "Unknown/invalid partition %s", partition);
	for (size_t i = 0; i < s->nparts; i++) {
		const struct store_partition *p = &s->parts[i];
		unsigned found = 0;

		if (partition != NULL && strcmp(partition, p->name) != 0)
			continue;
		if (userid == NULL &&
		    store_recover_partition(s, p, o->repair, recover_report, &c, &found, why) < 0)
			return -1;
		scan_base(&c, p, p->path, false, why);
		if (strcmp(p->path, p->msgpath) != 0)
			scan_base(&c, p, p->msgpath, true, why);
	}
	/* Listed users whose directory is gone. */
	if (store_mboxlist_users(s, collect, &l, why) < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		const struct store_partition *p = store_partition_find(s, l.part[i]);
		struct ms_buf dir, where;
		struct stat sb;

		if ((userid != NULL && strcmp(userid, l.user[i]) != 0) ||
		    (partition != NULL && strcmp(partition, l.part[i]) != 0))
			continue;
		ms_buf_init(&dir);
		ms_buf_init(&where);
		ms_buf_setf(&where, "user/%s", l.user[i]);
		if (p == NULL) {
			ms_buf_setf(&dir, "listed in unknown partition %s (left alone)", l.part[i]);
			emit(&c, STORE_CHECK_PROBLEM, where.data, dir.data, false);
		} else {
			store_partition_user_dir(p, l.user[i], false, &dir);
			ms_buf_puts(&dir, "/store.db");
			if (stat(dir.data, &sb) < 0) {
				bool done = o->repair && store_mboxlist_remove(s, l.user[i], why) == 0;
				emit(&c, STORE_CHECK_PROBLEM, where.data,
				     "listed user has no directory (removed from the list)", done);
			}
		}
		ms_buf_deinit(&dir);
		ms_buf_deinit(&where);
	}
	rc = 0;
out:
	for (size_t i = 0; i < l.n; i++) {
		free(l.user[i]);
		free(l.part[i]);
	}
	free(l.user);
	free(l.part);
	return rc;
}
