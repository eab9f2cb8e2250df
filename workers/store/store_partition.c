/*
 * store_partition: partitions from the compiled configuration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>

#include "store_hashdir.h"
#include "store_int.h"
#include "store_partition.h"

bool store_partition_name_ok(const char *name)
{
	if (*name == '\0' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct store_partition *)a)->name,
		      ((const struct store_partition *)b)->name);
}

int store_partition_load(const struct ms_conf *conf, struct store_partition **parts_r,
			 size_t *n_r, struct ms_buf *why)
{
	/* The group name comes from the option's template ("partition:*.path"),
	 * so no option name is written here (STYLE 3). */
	const char *tmpl = ms_optdefs[MS_OPT_PARTITION_PATH].name;
	char *group = ms_xstrndup(tmpl, strcspn(tmpl, ":"));
	const char *const *names;
	size_t n = ms_conf_group_names(conf, group, &names), k = 0;
	struct store_partition *parts = ms_xcalloc(n == 0 ? 1 : n, sizeof(*parts));

	free(group);
	for (size_t i = 0; i < n; i++) {
		const char *path = ms_conf_named_str(conf, MS_OPT_PARTITION_PATH, names[i]);
		const char *mpath = ms_conf_named_str(conf, MS_OPT_PARTITION_MESSAGEPATH, names[i]);

		if (!store_partition_name_ok(names[i])) {
			ms_buf_setf(why,
				    "partition \"%s\": a nickname is lowercase letters and digits",
				    names[i]);
			goto fail;
		}
		if (path == NULL || *path == '\0') {
			ms_buf_setf(why, "partition %s has no path", names[i]);
			goto fail;
		}
		if (path[0] != '/' || (mpath != NULL && *mpath != '\0' && mpath[0] != '/')) {
			ms_buf_setf(why, "partition %s: paths must be absolute", names[i]);
			goto fail;
		}
		parts[k].name = ms_xstrdup(names[i]);
		parts[k].path = ms_xstrdup(path);
		parts[k].msgpath = ms_xstrdup(mpath != NULL && *mpath != '\0' ? mpath : path);
		k++;
	}
	if (k == 0) {
		ms_buf_setf(why, "no store partition is configured (%s)",
			    ms_optdefs[MS_OPT_PARTITION_PATH].name);
		goto fail;
	}
	qsort(parts, k, sizeof(*parts), by_name);
	*parts_r = parts;
	*n_r = k;
	return 0;
fail:
	store_partition_free_all(&parts, k);
	return -1;
}

void store_partition_free_all(struct store_partition **parts, size_t n)
{
	if (*parts == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*parts)[i].name);
		free((*parts)[i].path);
		free((*parts)[i].msgpath);
	}
	free(*parts);
	*parts = NULL;
}

const struct store_partition *store_partition_find(const struct store *s, const char *name)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (strcmp(s->parts[i].name, name) == 0)
			return &s->parts[i];
	return NULL;
}

const struct store_partition *store_partition_default(const struct store *s)
{
	return store_partition_find(s, s->opt.defaultpartition);
}

size_t store_partition_list(const struct store *s, const struct store_partition **parts_r)
{
	*parts_r = s->parts;
	return s->nparts;
}

int store_partition_space(struct store *s, const struct store_partition *p, struct ms_buf *why)
{
	struct statvfs sv;
	unsigned long long total, avail, used_pct;

	if (!s->opt.checkdiskusage)
		return 0;
	if (statvfs(p->msgpath, &sv) < 0)
		return store_fail_errno(s, errno, why, "partition %s: cannot examine %s", p->name,
					p->msgpath);
	/* As df: used / (used + available to unprivileged users). */
	total = (unsigned long long)(sv.f_blocks - sv.f_bfree) + sv.f_bavail;
	avail = sv.f_bavail;
	if (total == 0)
		return 0;
	used_pct = ((total - avail) * 100 + total - 1) / total;
	if ((long long)used_pct > s->opt.diskusagethreshold)
		return store_fail(s, MS_E_NOSPACE, why,
				  "partition %s is %llu%% full, above %s (%lld%%): new messages "
				  "are deferred",
				  p->name, used_pct, ms_optdefs[MS_OPT_STORE_DISKUSAGETHRESHOLD].name,
				  s->opt.diskusagethreshold);
	return 0;
}

void store_partition_user_dir(const struct store_partition *p, const char *userid, bool msg,
			      struct ms_buf *out)
{
	ms_buf_printf(out, "%s/=user/", msg ? p->msgpath : p->path);
	store_hashdir(userid, out);
	ms_buf_printf(out, "=%s", userid);
}
