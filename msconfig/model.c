/*
 * model: option entries and the rules of Unified Configuration.
 * See model.h for the contract.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/utf8.h>

#include "model.h"

struct mc_config *mc_config_new(void)
{
	struct mc_config *cfg = ms_xcalloc(1, sizeof(*cfg));
	cfg->role_name = ms_xstrdup("default");
	cfg->instance_name = ms_xstrdup("ims");
	return cfg;
}

static void entry_deinit(struct mc_entry *e)
{
	ms_optname_deinit(&e->name);
	free(e->key);
	free(e->value);
	free(e->annotation);
	free(e->author);
	free(e->mtime);
	memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
	return s ? ms_xstrdup(s) : NULL;
}

static void entry_copy(struct mc_entry *dst, const struct mc_entry *src)
{
	ms_optname_copy(&dst->name, &src->name);
	dst->key = ms_xstrdup(src->key);
	dst->value = ms_xstrdup(src->value);
	dst->annotation = dup_or_null(src->annotation);
	dst->author = dup_or_null(src->author);
	dst->mtime = dup_or_null(src->mtime);
	dst->ord = src->ord;
}

void mc_config_free(struct mc_config **cfgp)
{
	struct mc_config *cfg;

	if (cfgp == NULL || *cfgp == NULL)
		return;
	cfg = *cfgp;
	for (size_t i = 0; i < cfg->n; i++)
		entry_deinit(&cfg->entries[i]);
	free(cfg->entries);
	free(cfg->author);
	free(cfg->mtime);
	free(cfg->comment);
	free(cfg->role_name);
	free(cfg->instance_name);
	free(cfg);
	*cfgp = NULL;
}

struct mc_config *mc_config_clone(const struct mc_config *cfg)
{
	struct mc_config *c = ms_xcalloc(1, sizeof(*c));

	c->seq = cfg->seq;
	c->author = dup_or_null(cfg->author);
	c->mtime = dup_or_null(cfg->mtime);
	c->comment = dup_or_null(cfg->comment);
	c->role_name = dup_or_null(cfg->role_name);
	c->instance_name = dup_or_null(cfg->instance_name);
	c->cap = cfg->n ? cfg->n : 1;
	c->entries = ms_xcalloc(c->cap, sizeof(*c->entries));
	for (size_t i = 0; i < cfg->n; i++)
		entry_copy(&c->entries[i], &cfg->entries[i]);
	c->n = cfg->n;
	c->next_ord = cfg->next_ord;
	c->loaded_digest = cfg->loaded_digest;
	return c;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct mc_entry *a = pa, *b = pb;

	if (a->name.scope != b->name.scope)
		return a->name.scope < b->name.scope ? -1 : 1;
	if (a->name.id != b->name.id)
		return a->name.id < b->name.id ? -1 : 1;
	for (size_t i = 0; i < a->name.nnames && i < b->name.nnames; i++) {
		int c = strcmp(a->name.names[i], b->name.names[i]);
		if (c != 0)
			return c;
	}
	if (a->ord != b->ord)
		return a->ord < b->ord ? -1 : 1;
	return 0;
}

void mc_config_sort(struct mc_config *cfg)
{
	/* ord is unique, so qsort's instability cannot reorder multi-values. */
	qsort(cfg->entries, cfg->n, sizeof(*cfg->entries), entry_cmp);
}

long mc_config_find(const struct mc_config *cfg, enum ms_scope scope, const char *key)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->entries[i].name.scope == scope && strcmp(cfg->entries[i].key, key) == 0)
			return (long)i;
	return -1;
}

static bool parse_ll(const char *s, long long *v)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool word_in(const char *word, const char *list)
{
	size_t len = strlen(word);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		if ((size_t)(e - p) == len && strncmp(p, word, len) == 0)
			return true;
		p = e;
	}
	return false;
}

static bool valid_cron_field(const char *f)
{
	/* Digits, '*', ',', '-', '/' only: the crontab(5) subset imsched reads. */
	if (*f == '\0')
		return false;
	for (; *f != '\0'; f++)
		if (!isdigit((unsigned char)*f) && strchr("*,-/", *f) == NULL)
			return false;
	return true;
}

int mc_value_check(const struct ms_optdef *def, const char *display, const char *value,
		   struct ms_buf *why)
{
	long long v;

	if (!ms_utf8_text(value, true)) {
		ms_buf_setf(why,
			    "%s: a value must be UTF-8 text without control characters (line "
			    "breaks included)",
			    display);
		return -1;
	}
	switch (def->type) {
	case MS_OPT_TYPE_INTEGER:
		if (!parse_ll(value, &v) || v < def->min || v > def->max) {
			if (def->min == LLONG_MIN && def->max == LLONG_MAX)
				ms_buf_setf(why, "%s takes an integer, not '%s'", display, value);
			else
				ms_buf_setf(why, "%s takes an integer from %lld to %lld, not '%s'",
					    display, def->min, def->max, value);
			return -1;
		}
		return 0;
	case MS_OPT_TYPE_BOOLEAN:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
			ms_buf_setf(why, "%s takes a boolean (0 or 1), not '%s'", display, value);
			return -1;
		}
		return 0;
	case MS_OPT_TYPE_ENUM:
		if (def->enumvals == NULL || !word_in(value, def->enumvals)) {
			ms_buf_setf(why, "%s takes one of: %s; not '%s'", display,
				    def->enumvals ? def->enumvals : "(none)", value);
			return -1;
		}
		return 0;
	case MS_OPT_TYPE_FLAG:
		if (*value != '\0' && strcmp(value, "1") != 0) {
			ms_buf_setf(why, "%s is a flag and takes no value (got '%s')", display,
				    value);
			return -1;
		}
		return 0;
	case MS_OPT_TYPE_PORT: {
		const char *p = value;
		bool any = false;
		while (*p != '\0') {
			long long port = 0;
			size_t digits = 0;
			while (isdigit((unsigned char)*p) && digits < 6) {
				port = port * 10 + (*p - '0');
				p++;
				digits++;
			}
			if (digits == 0 || digits > 5 || port > 65535 ||
			    (*p != '\0' && *p != ' ') || (*p == ' ' && p[1] == '\0'))
				goto bad_port;
			any = true;
			if (*p == ' ')
				p++;
		}
		if (!any)
			goto bad_port;
		return 0;
	bad_port:
		ms_buf_setf(why,
			    "%s takes a port number 0-65535 (or several separated by "
			    "spaces), not '%s'",
			    display, value);
		return -1;
	}
	case MS_OPT_TYPE_RULE: {
		char *pat, *tpl;
		mc_rule_split(value, &pat, &tpl);
		bool ok = *pat != '\0' && *tpl != '\0';
		free(pat);
		free(tpl);
		if (!ok) {
			ms_buf_setf(why, "%s takes a rule: PATTERN TEMPLATE (two fields), not '%s'",
				    display, value);
			return -1;
		}
		return 0;
	}
	case MS_OPT_TYPE_CRONTAB: {
		/* five time fields and a command */
		char *copy = ms_xstrdup(value), *save = NULL, *tok;
		int fields = 0;
		bool ok = true;
		for (tok = strtok_r(copy, " \t", &save); tok && fields < 5;
		     tok = strtok_r(NULL, " \t", &save), fields++)
			ok = ok && valid_cron_field(tok);
		ok = ok && fields == 5 && tok != NULL;
		free(copy);
		if (!ok) {
			ms_buf_setf(why,
				    "%s takes a crontab entry: \"minute hour day month weekday "
				    "command [args]\", not '%s'",
				    display, value);
			return -1;
		}
		return 0;
	}
	case MS_OPT_TYPE_PATH:
		if (*value == '\0') {
			ms_buf_setf(why, "%s takes a path, not an empty value", display);
			return -1;
		}
		return 0;
	case MS_OPT_TYPE_STRING:
	case MS_OPT_TYPE_PASSWORD:
	case MS_OPT_TYPE_COUNT:
		return 0;
	}
	return 0;
}

void mc_rule_split(const char *value, char **pattern_r, char **template_r)
{
	const char *p = value;

	while (*p == ' ' || *p == '\t')
		p++;
	const char *start = p;
	/* "$ " is an escaped blank inside a pattern (mapping-file syntax). */
	while (*p != '\0' && *p != ' ' && *p != '\t') {
		if (*p == '$' && p[1] != '\0')
			p++;
		p++;
	}
	*pattern_r = ms_xstrndup(start, (size_t)(p - start));
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	*template_r = ms_xstrndup(p, len);
}

/* Normalise a value before storing: rules get exactly one blank. */
static char *normalise(const struct ms_optdef *def, const char *value)
{
	if (def->type == MS_OPT_TYPE_FLAG)
		return ms_xstrdup("");
	if (def->type == MS_OPT_TYPE_RULE) {
		char *pat, *tpl, *r;
		mc_rule_split(value, &pat, &tpl);
		r = ms_xasprintf("%s %s", pat, tpl);
		free(pat);
		free(tpl);
		return r;
	}
	return ms_xstrdup(value);
}

static struct mc_entry *append_entry(struct mc_config *cfg)
{
	if (cfg->n == cfg->cap) {
		cfg->cap = cfg->cap ? cfg->cap * 2 : 32;
		cfg->entries = ms_xrealloc(cfg->entries, cfg->cap * sizeof(*cfg->entries));
	}
	struct mc_entry *e = &cfg->entries[cfg->n++];
	memset(e, 0, sizeof(*e));
	e->ord = cfg->next_ord++;
	return e;
}

static void remove_at(struct mc_config *cfg, size_t i)
{
	entry_deinit(&cfg->entries[i]);
	memmove(&cfg->entries[i], &cfg->entries[i + 1],
		(cfg->n - i - 1) * sizeof(*cfg->entries));
	cfg->n--;
}

/* Same named groups (the group path up to the option) as n? */
static bool same_parent(const struct mc_entry *e, const struct ms_optname *n)
{
	const char *a = e->name.def->name, *b = n->def->name;
	const char *la = strrchr(a, '.'), *lb = strrchr(b, '.');
	size_t pa = la ? (size_t)(la - a) : 0, pb = lb ? (size_t)(lb - b) : 0;

	if (pa != pb || strncmp(a, b, pa) != 0 || e->name.nnames != n->nnames)
		return false;
	for (size_t i = 0; i < n->nnames; i++)
		if (strcmp(e->name.names[i], n->names[i]) != 0)
			return false;
	return true;
}

static void display_name(const struct ms_optname *n, enum ms_scope scope, struct ms_buf *out)
{
	struct ms_optname tmp = *n;
	tmp.scope = scope;
	ms_optname_display(&tmp, true, out);
}

int mc_config_set(struct mc_config *cfg, const struct ms_optname *name, const char *value,
		  unsigned flags, const char *author, struct ms_buf *notes,
		  struct ms_buf *why)
{
	const struct ms_optdef *def = name->def;
	struct ms_buf key, disp;
	enum ms_scope scope = name->scope;
	bool loading = (flags & MC_SET_LOADING) != 0;
	int ret = -1;

	ms_buf_init(&key);
	ms_buf_init(&disp);
	ms_optname_key(name, &key);
	ms_optname_display(name, false, &disp);
	if (value == NULL)
		value = "";
	if (!loading && (def->flags & MS_OPTF_OBSOLETE) != 0) {
		ms_buf_setf(why,
			    "%s is obsolete: it can no longer be set, only removed (msconfig "
			    "unset %s)",
			    disp.data, disp.data);
		goto out;
	}
	if (def->type == MS_OPT_TYPE_FLAG && *value == '\0')
		value = "";
	else if (def->type != MS_OPT_TYPE_FLAG && def->type != MS_OPT_TYPE_STRING &&
		 def->type != MS_OPT_TYPE_PASSWORD && *value == '\0' && !loading) {
		ms_buf_setf(why, "%s needs a value (msconfig help %s)", disp.data, disp.data);
		goto out;
	}
	if (mc_value_check(def, disp.data, value, why) < 0)
		goto out;
	if (!loading && (def->flags & MS_OPTF_RESTRICTED) != 0 &&
	    (flags & MC_SET_RESTRICTED_OK) == 0) {
		ms_buf_setf(why,
			    "%s is a restricted option: setting it makes the configuration "
			    "unsupported; confirm with: set -restricted %s VALUE",
			    disp.data, disp.data);
		goto out;
	}

	/* Placement: named scope, else where it already lives, else the schema's. */
	if (scope == MS_SCOPE_NONE) {
		if (!loading && mc_config_find(cfg, MS_SCOPE_INSTANCE, key.data) >= 0)
			scope = MS_SCOPE_INSTANCE;
		else if (!loading && mc_config_find(cfg, MS_SCOPE_ROLE, key.data) >= 0)
			scope = MS_SCOPE_ROLE;
		else
			scope = (def->flags & MS_OPTF_INSTANCE) ? MS_SCOPE_INSTANCE
								: MS_SCOPE_ROLE;
	}

	char *norm = normalise(def, value);
	long at = mc_config_find(cfg, scope, key.data);
	if ((def->flags & MS_OPTF_MULTI) != 0) {
		for (size_t i = 0; i < cfg->n; i++) {
			struct mc_entry *e = &cfg->entries[i];
			if (e->name.scope == scope && strcmp(e->key, key.data) == 0 &&
			    strcmp(e->value, norm) == 0) {
				free(norm);
				ret = 0; /* already there: nothing to do */
				goto out;
			}
		}
		at = -1;
	}
	if (!loading && def->exclusive != NULL) {
		for (size_t i = 0; i < cfg->n;) {
			struct mc_entry *e = &cfg->entries[i];
			if (e->name.scope == scope && e->name.def != def &&
			    e->name.def->exclusive != NULL &&
			    strcmp(e->name.def->exclusive, def->exclusive) == 0 &&
			    same_parent(e, name)) {
				if (notes != NULL) {
					ms_buf_puts(notes, "removed ");
					display_name(&e->name, e->name.scope, notes);
					ms_buf_printf(notes, " (it excludes %s)\n", disp.data);
				}
				remove_at(cfg, i);
				continue;
			}
			i++;
		}
	}
	struct mc_entry *e;
	if (at >= 0) {
		e = &cfg->entries[at];
		free(e->value);
		e->value = norm;
		free(e->author);
		free(e->mtime);
	} else {
		e = append_entry(cfg);
		ms_optname_copy(&e->name, name);
		e->name.scope = scope;
		e->key = ms_xstrdup(key.data);
		e->value = norm;
	}
	e->author = loading || author == NULL ? NULL : ms_xstrdup(author);
	e->mtime = loading ? NULL : mc_now_xmtime();
	if (!loading && (def->flags & MS_OPTF_RESTRICTED) != 0) {
		free(e->annotation);
		e->annotation = ms_xstrdup("RESTRICTED USAGE OPTION");
	}
	if (!loading && notes != NULL && scope == MS_SCOPE_ROLE &&
	    mc_config_find(cfg, MS_SCOPE_INSTANCE, key.data) >= 0) {
		ms_buf_puts(notes, "note: ");
		display_name(name, MS_SCOPE_INSTANCE, notes);
		ms_buf_puts(notes, " is also set and overrides this role setting\n");
	}
	ret = 0;
out:
	ms_buf_deinit(&key);
	ms_buf_deinit(&disp);
	return ret;
}

size_t mc_config_unset(struct mc_config *cfg, const struct ms_optname *name,
		       const char *value)
{
	struct ms_buf key;
	char *norm = value ? normalise(name->def, value) : NULL;
	size_t removed = 0;

	ms_buf_init(&key);
	ms_optname_key(name, &key);
	for (size_t i = 0; i < cfg->n;) {
		struct mc_entry *e = &cfg->entries[i];
		if (strcmp(e->key, key.data) == 0 &&
		    (name->scope == MS_SCOPE_NONE || name->scope == e->name.scope) &&
		    (norm == NULL || strcmp(e->value, norm) == 0)) {
			remove_at(cfg, i);
			removed++;
			continue;
		}
		i++;
	}
	free(norm);
	ms_buf_deinit(&key);
	return removed;
}

void mc_entry_format(const struct mc_entry *e, bool show_password, struct ms_buf *out)
{
	ms_optname_display(&e->name, true, out);
	if (e->name.def->type == MS_OPT_TYPE_FLAG)
		return;
	if (e->name.def->type == MS_OPT_TYPE_PASSWORD && !show_password)
		ms_buf_puts(out, " = (hidden)");
	else
		ms_buf_printf(out, " = %s", e->value);
}

/* Compare the option (scope, id, names) of two entries, ignoring order. */
static int option_cmp(const struct mc_entry *a, const struct mc_entry *b)
{
	if (a->name.scope != b->name.scope)
		return a->name.scope < b->name.scope ? -1 : 1;
	if (a->name.id != b->name.id)
		return a->name.id < b->name.id ? -1 : 1;
	for (size_t i = 0; i < a->name.nnames && i < b->name.nnames; i++) {
		int c = strcmp(a->name.names[i], b->name.names[i]);
		if (c != 0)
			return c;
	}
	return 0;
}

static void diff_line(const struct mc_entry *e, const char *verb, struct ms_buf *out,
		      size_t *lines)
{
	ms_buf_printf(out, "%-8s ", verb);
	mc_entry_format(e, false, out);
	ms_buf_putc(out, '\n');
	(*lines)++;
}

static bool value_in(const struct mc_entry *v, size_t n, const char *value)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].value, value) == 0)
			return true;
	return false;
}

size_t mc_config_diff(const struct mc_config *a, const struct mc_config *b,
		      struct ms_buf *out)
{
	struct mc_config *sa = mc_config_clone(a), *sb = mc_config_clone(b);
	size_t lines = 0, i = 0, j = 0;

	mc_config_sort(sa);
	mc_config_sort(sb);
	/* A merge of the two sorted lists, one option (all its values) at a time. */
	while (i < sa->n || j < sb->n) {
		size_t ie = i, je = j;
		int c = i == sa->n ? 1 : j == sb->n ? -1 : option_cmp(&sa->entries[i], &sb->entries[j]);
		if (c <= 0)
			while (ie < sa->n && option_cmp(&sa->entries[ie], &sa->entries[i]) == 0)
				ie++;
		if (c >= 0)
			while (je < sb->n && option_cmp(&sb->entries[je], &sb->entries[j]) == 0)
				je++;
		const struct mc_entry *va = &sa->entries[i], *vb = &sb->entries[j];
		size_t na = ie - i, nb = je - j;
		if (c < 0) {
			for (size_t k = 0; k < na; k++)
				diff_line(&va[k], "removed", out, &lines);
		} else if (c > 0) {
			for (size_t k = 0; k < nb; k++)
				diff_line(&vb[k], "added", out, &lines);
		} else if ((va->name.def->flags & MS_OPTF_MULTI) != 0 || na != 1 || nb != 1) {
			for (size_t k = 0; k < na; k++)
				if (!value_in(vb, nb, va[k].value))
					diff_line(&va[k], "removed", out, &lines);
			for (size_t k = 0; k < nb; k++)
				if (!value_in(va, na, vb[k].value))
					diff_line(&vb[k], "added", out, &lines);
			/* Same values in another order count as a change of order. */
			bool same_order = na == nb;
			for (size_t k = 0; same_order && k < na; k++)
				same_order = strcmp(va[k].value, vb[k].value) == 0;
			if (!same_order && na == nb) {
				bool same_set = true;
				for (size_t k = 0; same_set && k < na; k++)
					same_set = value_in(vb, nb, va[k].value);
				if (same_set) {
					ms_buf_printf(out, "%-8s ", "reordered");
					ms_optname_display(&va->name, true, out);
					ms_buf_putc(out, '\n');
					lines++;
				}
			}
		} else if (strcmp(va->value, vb->value) != 0) {
			ms_buf_printf(out, "%-8s ", "changed");
			ms_optname_display(&va->name, true, out);
			if (va->name.def->type == MS_OPT_TYPE_PASSWORD)
				ms_buf_puts(out, ": (hidden) -> (hidden)\n");
			else
				ms_buf_printf(out, ": %s -> %s\n", va->value, vb->value);
			lines++;
		}
		i = ie;
		j = je;
	}
	mc_config_free(&sa);
	mc_config_free(&sb);
	return lines;
}

char *mc_now_xmtime(void)
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[64];

	localtime_r(&now, &tm);
	long off = tm.tm_gmtoff / 60;
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		 labs(off) / 60, labs(off) % 60);
	return ms_xstrdup(buf);
}

const char *mc_user_name(void)
{
	static char name[64];
	const char *env;
	struct passwd *pw;

	if (name[0] != '\0')
		return name;
	pw = getpwuid(getuid());
	if (pw != NULL)
		snprintf(name, sizeof(name), "%s", pw->pw_name);
	else if ((env = getenv("USER")) != NULL)
		snprintf(name, sizeof(name), "%s", env);
	else
		snprintf(name, sizeof(name), "uid%ld", (long)getuid());
	return name;
}
