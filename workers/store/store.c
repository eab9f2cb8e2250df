/*
 * store: opening and closing the store, the error state of a store handle,
 * and the option values the library reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>
#include <ms/path.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"

/* ---- errors ------------------------------------------------------------------ */

static int vfail(struct store *s, enum ms_error code, bool perm, struct ms_buf *why,
		 const char *fmt, va_list ap)
{
	int saved = errno;

	if (s != NULL) {
		s->err = code;
		s->errperm = perm;
	}
	if (why != NULL) {
		ms_buf_reset(why);
		ms_buf_vprintf(why, fmt, ap);
	}
	errno = saved;
	return -1;
}

int store_fail(struct store *s, enum ms_error code, struct ms_buf *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(s, code, false, why, fmt, ap);
	va_end(ap);
	return -1;
}

int store_fail_perm(struct store *s, enum ms_error code, struct ms_buf *why, const char *fmt,
		    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(s, code, true, why, fmt, ap);
	va_end(ap);
	return -1;
}

int store_fail_errno(struct store *s, int err, struct ms_buf *why, const char *fmt, ...)
{
	va_list ap;
	enum ms_error code = (err == ENOSPC || err == EDQUOT) ? MS_E_NOSPACE : MS_E_TEMPFAIL;

	va_start(ap, fmt);
	vfail(s, code, false, why, fmt, ap);
	va_end(ap);
	if (why != NULL)
		ms_buf_printf(why, ": %s", strerror(err));
	errno = err;
	return -1;
}

void store_ok(struct store *s)
{
	s->err = MS_E_NONE;
	s->errperm = false;
}

enum ms_error store_errcode(const struct store *s)
{
	return s->err;
}

bool store_errperm(const struct store *s)
{
	return s->errperm;
}

const char *store_root(const struct store *s)
{
	return s->root;
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- options ------------------------------------------------------------------- */

const char *store_conf_str(const struct ms_conf *conf, enum ms_opt opt)
{
	const char *v = conf != NULL ? ms_conf_str(conf, opt) : NULL;

	return v != NULL ? v : ms_optdefs[opt].defval;
}

long long store_conf_int(const struct ms_conf *conf, enum ms_opt opt)
{
	const char *v = store_conf_str(conf, opt);
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return n;
}

static void load_options(struct store *s, const struct ms_conf *conf)
{
	struct store_options *o = &s->opt;
	const char *v;

	o->quota_enforcement = store_conf_int(conf, MS_OPT_STORE_QUOTAENFORCEMENT) != 0;
	/* store.overquotastatus makes store.quotaoverdraft count as on (seed). */
	o->quota_overdraft = store_conf_int(conf, MS_OPT_STORE_QUOTAOVERDRAFT) != 0 ||
			     store_conf_int(conf, MS_OPT_STORE_OVERQUOTASTATUS) != 0;
	o->quota_grace = store_conf_int(conf, MS_OPT_STORE_QUOTAGRACEPERIOD) * 3600;
	v = store_conf_str(conf, MS_OPT_STORE_DEFAULTMAILBOXQUOTA);
	o->default_mailquota = ms_xstrdup(v != NULL ? v : "-1");
	o->default_msgquota = store_conf_str(conf, MS_OPT_STORE_DEFAULTMESSAGEQUOTA) != NULL
				      ? store_conf_int(conf, MS_OPT_STORE_DEFAULTMESSAGEQUOTA)
				      : -1;
	o->maxmessages = store_conf_int(conf, MS_OPT_STORE_MAXMESSAGES);
	if (o->maxmessages <= 0)
		o->maxmessages = 16000000;
	o->cleanupage = store_conf_int(conf, MS_OPT_STORE_CLEANUPAGE) * 3600;
	o->cleanupsize = store_conf_int(conf, MS_OPT_STORE_CLEANUPSIZE);
	o->checkdiskusage = store_conf_int(conf, MS_OPT_STORE_CHECKDISKUSAGE) != 0;
	o->diskusagethreshold = store_conf_int(conf, MS_OPT_STORE_DISKUSAGETHRESHOLD);
	if (o->diskusagethreshold <= 0 || o->diskusagethreshold > 100)
		o->diskusagethreshold = 99;
	v = store_conf_str(conf, MS_OPT_STORE_DEFAULTPARTITION);
	o->defaultpartition = ms_xstrdup(v != NULL && *v != '\0' ? v : "primary");
	v = store_conf_str(conf, MS_OPT_STORE_ADMINS);
	o->admins = v != NULL ? ms_xstrdup(v) : NULL;
}

/* ---- open and close -------------------------------------------------------------- */

int store_open_at(const struct ms_conf *conf, const char *root, const char *notify_path,
		  struct store **store_r, struct ms_buf *why)
{
	struct store *s = ms_xcalloc(1, sizeof(*s));

	s->conf = conf;
	s->root = ms_xstrdup(root);
	s->mboxlist_path = ms_xasprintf("%s/mboxlist/mboxlist.db", root);
	s->notify_path = notify_path != NULL ? ms_xstrdup(notify_path) : NULL;
	s->notify_fd = -1;
	load_options(s, conf);
	if (store_partition_load(conf, &s->parts, &s->nparts, why) < 0)
		goto fail;
	if (store_partition_default(s) == NULL) {
		ms_buf_setf(why, "%s names partition \"%s\", which is not configured",
			    ms_optdefs[MS_OPT_STORE_DEFAULTPARTITION].name, s->opt.defaultpartition);
		goto fail;
	}
	*store_r = s;
	return 0;
fail:
	store_close(&s);
	return -1;
}

int store_open(const struct ms_conf *conf, struct store **store_r, struct ms_buf *why)
{
	char *root = ms_instance_path("data/store");
	char *notify = ms_instance_path("data/run/stored.notify");
	int rc = store_open_at(conf, root, notify, store_r, why);

	free(root);
	free(notify);
	return rc;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	store_db_close(&s->mboxlist);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	store_partition_free_all(&s->parts, s->nparts);
	free(s->opt.default_mailquota);
	free(s->opt.defaultpartition);
	free(s->opt.admins);
	free(s->root);
	free(s->mboxlist_path);
	free(s->notify_path);
	free(s);
	*sp = NULL;
}

int store_mboxlist_db(struct store *s, struct store_db **db_r, struct ms_buf *why)
{
	if (s->mboxlist == NULL) {
		struct ms_buf dir;
		int rc;

		ms_buf_init(&dir);
		ms_buf_printf(&dir, "%s/mboxlist", s->root);
		rc = store_dir_make(s, dir.data, why);
		ms_buf_deinit(&dir);
		if (rc < 0)
			return -1;
		if (store_db_open(s, s->mboxlist_path, STORE_DB_MBOXLIST, true, &s->mboxlist, why) <
		    0)
			return -1;
	}
	*db_r = s->mboxlist;
	return 0;
}
