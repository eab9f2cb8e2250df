/*
 * legacy_import: edited legacy text back into a configuration
 * (mc_legacy_import; the formats and the contract are in legacy.h).  This
 * file is the transaction: it checks the text as a whole, clones the
 * configuration, removes the options of the kind, lets legacy_parse.c read
 * the text into the clone through mc_legacy_import_put, and swaps the
 * clone in only when every line was accepted.  put decides where a value
 * goes (instance or role) and keeps the provenance of values that did not
 * change; it also remembers the line of each value for the "repeats line
 * M" message.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/log.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "legacy.h"
#include "legacy_int.h"
#include "model.h"

/* ---- errors and values ---- */

/* The line of the text that set the value with that ordinal. */
struct mc_legacy_origin {
	size_t ord;
	long line;
};

int mc_legacy_import_fail(struct mc_legacy_import *im, long line, const char *fmt, ...)
{
	va_list ap;

	ms_buf_setf(im->why, "line %ld: ", line);
	va_start(ap, fmt);
	ms_buf_vprintf(im->why, fmt, ap);
	va_end(ap);
	return -1;
}

static long origin_line(const struct mc_legacy_import *im, size_t ord)
{
	for (size_t i = 0; i < im->norigins; i++)
		if (im->origins[i].ord == ord)
			return im->origins[i].line;
	return 0;
}

static int old_cmp(const void *pa, const void *pb)
{
	const struct mc_entry *a = *(const struct mc_entry *const *)pa;
	const struct mc_entry *b = *(const struct mc_entry *const *)pb;
	int c;

	if (a->name.scope != b->name.scope)
		return a->name.scope < b->name.scope ? -1 : 1;
	if ((c = strcmp(a->key, b->key)) != 0)
		return c;
	return strcmp(a->value, b->value);
}

/* The old entry with that scope, key and value, or NULL. */
static const struct mc_entry *old_value(const struct mc_legacy_import *im, enum ms_scope scope,
					const char *key, const char *value)
{
	struct mc_entry like;
	const struct mc_entry *p = &like, *const *hit;

	memset(&like, 0, sizeof(like));
	like.name.scope = scope;
	like.key = (char *)key;
	like.value = (char *)value;
	hit = bsearch(&p, im->old_kind, im->nold_kind, sizeof(*im->old_kind), old_cmp);
	return hit ? *hit : NULL;
}

/*
 * Set option id of group name to value in the clone, placed where the old
 * configuration had it (else where the schema says).  A value the old
 * configuration already held keeps its provenance (and may be an obsolete
 * or restricted option); a new one is checked as `set` checks it.
 */
int mc_legacy_import_put(struct mc_legacy_import *im, long line, enum ms_opt id, const char *name,
                         const char *value)
{
	struct ms_optname n;
	struct ms_buf key, disp;
	int ret = -1;

	memset(&n, 0, sizeof(n));
	n.id = id;
	n.def = &ms_optdefs[id];
	if (name != NULL) {
		n.nnames = 1;
		n.names[0] = (char *)name; /* borrowed: mc_config_set copies it */
	}
	ms_buf_init(&key);
	ms_buf_init(&disp);
	ms_optname_key(&n, &key);
	if (mc_legacy_keyset_has(&im->old_instance, key.data) ||
	    (n.def->flags & MS_OPTF_INSTANCE) != 0)
		n.scope = MS_SCOPE_INSTANCE;
	else
		n.scope = MS_SCOPE_ROLE;

	const struct mc_entry *was = old_value(im, n.scope, key.data,
					       n.def->type == MS_OPT_TYPE_FLAG ? "" : value);
	size_t before = im->cfg->n;
	unsigned flags = was ? MC_SET_LOADING | MC_SET_RESTRICTED_OK : 0;
	if (mc_config_set(im->cfg, &n, value, flags, im->author, NULL, &disp) < 0) {
		mc_legacy_import_fail(im, line, "%s", disp.data);
		goto out;
	}
	bool multi = (n.def->flags & MS_OPTF_MULTI) != 0;
	if (multi && im->cfg->n == before) {
		/* A value already there: the text repeats itself. */
		ms_buf_reset(&disp);
		ms_optname_display(&n, false, &disp);
		for (size_t i = 0; i < im->cfg->n; i++) {
			const struct mc_entry *e = &im->cfg->entries[i];
			if (e->name.scope == n.scope && strcmp(e->key, key.data) == 0 &&
			    strcmp(e->value, value) == 0) {
				mc_legacy_import_fail(im, line, "%s: '%s' repeats line %ld",
				                      disp.data, value, origin_line(im, e->ord));
				goto out;
			}
		}
		mc_legacy_import_fail(im, line, "%s: '%s' is given twice", disp.data, value);
		goto out;
	}
	/* A new multi-value is appended; a single value may be replaced in place. */
	long at = multi ? (long)im->cfg->n - 1 : mc_config_find(im->cfg, n.scope, key.data);
	MS_ASSERT(at >= 0 && (size_t)at < im->cfg->n);
	struct mc_entry *e = &im->cfg->entries[at];
	if (was != NULL) {
		free(e->author);
		free(e->mtime);
		free(e->annotation);
		e->author = was->author ? ms_xstrdup(was->author) : NULL;
		e->mtime = was->mtime ? ms_xstrdup(was->mtime) : NULL;
		e->annotation = was->annotation ? ms_xstrdup(was->annotation) : NULL;
	}
	if (im->norigins == im->corigins) {
		im->corigins = im->corigins ? im->corigins * 2 : 64;
		im->origins = ms_xrealloc(im->origins, im->corigins * sizeof(*im->origins));
	}
	im->origins[im->norigins].ord = e->ord;
	im->origins[im->norigins].line = line;
	im->norigins++;
	ret = 0;
out:
	ms_buf_deinit(&key);
	ms_buf_deinit(&disp);
	return ret;
}

/*
 * Remove every entry of kind from the clone, except role values hidden by
 * an instance value of the same option (the text never showed them).
 */
static void remove_kind(struct mc_legacy_import *im, enum mc_legacy_kind kind)
{
	struct mc_config *cfg = im->cfg;

	for (size_t i = 0; i < cfg->n;) {
		const struct mc_entry *e = &cfg->entries[i];
		if (!mc_legacy_entry_in_kind(e, kind) ||
		    (e->name.scope == MS_SCOPE_ROLE &&
		     mc_legacy_keyset_has(&im->old_instance, e->key))) {
			i++;
			continue;
		}
		/* Every value of that option in that scope; later ones shift down to i. */
		struct ms_optname n;
		ms_optname_copy(&n, &e->name);
		mc_config_unset(cfg, &n, NULL);
		ms_optname_deinit(&n);
	}
}

/* ---- the transaction ---- */

int mc_legacy_import(struct mc_config *cfg, enum mc_legacy_kind kind, const char *text,
		     size_t len, struct ms_buf *why)
{
	struct mc_legacy_import im;
	int r;

	if (len > MC_LEGACY_MAX_TEXT) {
		ms_buf_setf(why, "the text is larger than %u bytes", MC_LEGACY_MAX_TEXT);
		return -1;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul != NULL) {
		long line = 1;
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		ms_buf_setf(why, "line %ld: the text holds a NUL byte", line);
		return -1;
	}
	memset(&im, 0, sizeof(im));
	im.old = cfg;
	im.cfg = mc_config_clone(cfg);
	im.why = why;
	im.author = mc_user_name();
	mc_legacy_keyset_init(&im.old_instance, cfg);
	im.old_kind = ms_xcalloc(cfg->n + 1, sizeof(*im.old_kind));
	for (size_t i = 0; i < cfg->n; i++)
		if (mc_legacy_entry_in_kind(&cfg->entries[i], kind))
			im.old_kind[im.nold_kind++] = &cfg->entries[i];
	qsort(im.old_kind, im.nold_kind, sizeof(*im.old_kind), old_cmp);
	ms_buf_init(&im.tok);
	remove_kind(&im, kind);
	r = mc_legacy_parse(&im, kind, text, len);
	if (r == 0) {
		/* Swap the contents so that the caller's pointer stays valid. */
		struct mc_config tmp = *cfg;
		*cfg = *im.cfg;
		*im.cfg = tmp;
	}
	mc_config_free(&im.cfg);
	mc_legacy_keyset_deinit(&im.old_instance);
	free(im.old_kind);
	free(im.origins);
	ms_buf_deinit(&im.tok);
	return r;
}
