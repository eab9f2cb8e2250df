/*
 * store_recover: leftovers of crashes in the partitions (see the header).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_db.h"
#include "store_int.h"
#include "store_lock.h"
#include "store_partition.h"
#include "store_recover.h"
#include "store_stage.h"

static int scan_stage(struct store *s, const struct store_partition *p, bool repair,
		      store_report_fn *report, void *ctx, unsigned *found, struct ms_buf *why)
{
	struct ms_buf dir, path;
	struct dirent *e;
	DIR *d;

	ms_buf_init(&dir);
	ms_buf_init(&path);
	store_stage_dir(p, &dir);
	d = opendir(dir.data);
	if (d == NULL) {
		int e2 = errno;
		ms_buf_deinit(&dir);
		ms_buf_deinit(&path);
		return e2 == ENOENT ? 0 : store_fail_errno(s, e2, why, "cannot read %s", dir.data);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ms_buf_setf(&path, "%s/%s", dir.data, e->d_name);
		/* A live writer holds its lock: leave its file alone. */
		if (store_lock_abandoned(path.data) != 1)
			continue;
		(*found)++;
		bool done = repair && unlink(path.data) == 0;
		if (report != NULL)
			report(ctx, path.data, "stage file of an interrupted delivery", done);
	}
	closedir(d);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&path);
	return 0;
}

static int scan_graves(struct store *s, const char *base, bool repair, store_report_fn *report,
		       void *ctx, unsigned *found, struct ms_buf *why)
{
	struct ms_buf dir, path;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	ms_buf_init(&dir);
	ms_buf_init(&path);
	ms_buf_printf(&dir, "%s/=deleted", base);
	d = opendir(dir.data);
	if (d == NULL) {
		int e2 = errno;
		ms_buf_deinit(&dir);
		ms_buf_deinit(&path);
		return e2 == ENOENT ? 0 : store_fail_errno(s, e2, why, "cannot read %s", dir.data);
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		ms_buf_setf(&path, "%s/%s", dir.data, e->d_name);
		(*found)++;
		bool done = repair && store_dir_remove(s, path.data, why) == 0;
		if (report != NULL)
			report(ctx, path.data, "files of a deleted user", done);
	}
	closedir(d);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&path);
	return rc;
}

int store_recover_partition(struct store *s, const struct store_partition *p, bool repair,
			    store_report_fn *report, void *ctx, unsigned *found_r,
			    struct ms_buf *why)
{
	struct store_db *list;
	unsigned found = 0;
	int rc;

	rc = scan_stage(s, p, repair, report, ctx, &found, why);
	/* Deletions run under the list lock: hold it so no running one is
	 * cut short under its feet. */
	if (rc == 0 && store_mboxlist_db(s, &list, why) == 0 &&
	    store_db_begin(s, list, true, why) == 0) {
		rc = scan_graves(s, p->path, repair, report, ctx, &found, why);
		if (rc == 0 && strcmp(p->path, p->msgpath) != 0)
			rc = scan_graves(s, p->msgpath, repair, report, ctx, &found, why);
		store_db_rollback(list);
	} else if (rc == 0) {
		rc = -1;
	}
	if (found_r != NULL)
		*found_r += found;
	return rc;
}

int store_recover_all(struct store *s, bool repair, store_report_fn *report, void *ctx,
		      unsigned *found_r, struct ms_buf *why)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (store_recover_partition(s, &s->parts[i], repair, report, ctx, found_r, why) < 0)
			return -1;
	return 0;
}
