/*
 * configutil_show: what configutil prints without changing anything.  The
 * list of set options (no flag, or -p PATTERN, with -m marks), the value
 * of one option (-o NAME), and the help blocks in the 8.1 format (-H with
 * -o, -p or alone), each with the option's current values.  Values are
 * shown as the workers see them: an instance value hides the role values
 * of the same option, flags print as 1, and passwords are never printed.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "configutil_int.h"
#include "model.h"

/* ---- values ---- */

/* True when key is set in instance, so the role's values do not apply. */
static bool shadowed(const struct mc_config *cfg, const struct mc_entry *e)
{
	return e->name.scope == MS_SCOPE_ROLE &&
	       mc_config_find(cfg, MS_SCOPE_INSTANCE, e->key) >= 0;
}

/* The value as configutil shows it: flags are 1. */
static const char *shown_value(const struct mc_entry *e)
{
	return e->name.def->type == MS_OPT_TYPE_FLAG ? "1" : e->value;
}

/* NAME = VALUE, quoting a value that holds blanks, '=' or quotes (or is empty). */
static void format_pair(struct ms_buf *out, const char *name, const char *value)
{
	ms_buf_printf(out, "%s = ", name);
	if (*value != '\0' && strpbrk(value, " \t=\"") == NULL) {
		ms_buf_puts(out, value);
		return;
	}
	ms_buf_putc(out, '"');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			ms_buf_putc(out, '\\');
		ms_buf_putc(out, *p);
	}
	ms_buf_putc(out, '"');
}

/* ---- help blocks ---- */

static void flags_text(const struct ms_optdef *d, struct ms_buf *out)
{
	if (d->flags & MS_OPTF_RESTRICTED) {
		ms_buf_puts(out, "USAGE RESTRICTED");
		return;
	}
	if (!(d->flags & MS_OPTF_RESTART)) {
		ms_buf_puts(out, "[REFRESHABLE]");
		return;
	}
	/* One service reads it: MSG_RESTART_<SERVICE>; several (or all): _ALL. */
	const char *r = d->readers ? d->readers : "all";
	char one[64] = "";
	int count = 0;
	while (*r != '\0') {
		while (*r == ' ')
			r++;
		size_t len = strcspn(r, " ");
		if (len > 0 && !(len == 8 && strncmp(r, "msconfig", 8) == 0)) {
			count++;
			snprintf(one, sizeof(one), "%.*s", (int)len, r);
		}
		r += len;
	}
	if (count != 1 || strcmp(one, "all") == 0) {
		ms_buf_puts(out, "MSG_RESTART_ALL");
		return;
	}
	ms_buf_puts(out, "MSG_RESTART_");
	for (const char *p = one; *p != '\0'; p++)
		ms_buf_putc(out, (char)toupper((unsigned char)*p));
}

static const char *syntax_word(const struct ms_optdef *d)
{
	switch (d->type) {
	case MS_OPT_TYPE_INTEGER:
		return d->min >= 0 ? "uint" : "int";
	case MS_OPT_TYPE_BOOLEAN:
	case MS_OPT_TYPE_FLAG:
		return "bool";
	case MS_OPT_TYPE_PORT:
		return "tcpport";
	case MS_OPT_TYPE_PATH:
		return "filepath";
	default:
		return "string";
	}
}

/* "NAME is currently set to: VALUE" for each value of e's key. */
static void currently(const struct mc_config *cfg, const struct mc_entry *e, struct ms_buf *out)
{
	struct ms_buf name;

	ms_buf_init(&name);
	configutil_name_print(&e->name, &name);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *f = &cfg->entries[i];
		if (f->name.scope != e->name.scope || strcmp(f->key, e->key) != 0)
			continue;
		ms_buf_printf(out, "%s is currently set to: %s\n", name.data,
		              f->name.def->type == MS_OPT_TYPE_PASSWORD ? "(hidden)"
		                                                        : shown_value(f));
	}
	ms_buf_deinit(&name);
}

/* First entry of each effective key, in cfg order (cfg is sorted). */
static bool first_of_key(const struct mc_config *cfg, size_t i)
{
	const struct mc_entry *e = &cfg->entries[i];
	return !shadowed(cfg, e) && (i == 0 || cfg->entries[i - 1].name.scope != e->name.scope ||
	                             strcmp(cfg->entries[i - 1].key, e->key) != 0);
}

/*
 * The 8.1 help block of one option (n) or of a family (n == NULL: every
 * instance of the template d is listed).
 */
static void help_block(const struct mc_config *cfg, enum ms_opt id, const struct ms_optname *n,
                       struct ms_buf *out)
{
	const struct ms_optdef *d = &ms_optdefs[id];
	struct ms_buf name, uname;
	struct ms_optname plain;
	bool have_plain = false;

	ms_buf_init(&name);
	ms_buf_init(&uname);
	if (n == NULL && strchr(d->name, '*') == NULL &&
	    ms_optname_from_key(d->name, &plain) == 0) {
		n = &plain;
		have_plain = true;
	}
	if (n != NULL) {
		configutil_name_print(n, &name);
		ms_optname_display(n, false, &uname);
	} else {
		ms_buf_puts(&name, configutil_name_template(d));
		ms_buf_puts(&uname, d->name);
	}
	ms_buf_printf(out, "Configuration option: %s\n", name.data);
	ms_buf_printf(out, "  Description: %s\n", d->help ? d->help : "");
	ms_buf_printf(out, "  Unified Config Name: %s\n", uname.data);
	ms_buf_puts(out, "  Flags: ");
	flags_text(d, out);
	ms_buf_printf(out, "\n  Syntax: %s\n", syntax_word(d));
	if (d->defval != NULL)
		ms_buf_printf(out, "  Default: %s\n", *d->defval ? d->defval : "\"\"");
	else if (d->defaultfrom != NULL)
		ms_buf_printf(out, "  Default: (the value of %s)\n", d->defaultfrom);
	else
		ms_buf_puts(out, "  Default: NULL (unset)\n");

	bool any = false;
	struct ms_buf key;
	ms_buf_init(&key);
	if (n != NULL)
		ms_optname_key(n, &key);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (e->name.id != id || !first_of_key(cfg, i) ||
		    (n != NULL && strcmp(e->key, key.data) != 0) ||
		    (n != NULL && n->scope != MS_SCOPE_NONE && e->name.scope != n->scope))
			continue;
		currently(cfg, e, out);
		any = true;
	}
	if (!any)
		ms_buf_printf(out, "%s is currently unset\n", name.data);
	ms_buf_deinit(&key);
	ms_buf_deinit(&name);
	ms_buf_deinit(&uname);
	if (have_plain)
		ms_optname_deinit(&plain);
}

/* ---- listing ---- */

struct item {
	char *sort;                 /* printed name */
	size_t ord;                 /* keeps multi-values and blocks stable */
	enum ms_opt id;             /* help items */
	const struct ms_optname *n; /* help item of one option, or NULL */
	char *line;                 /* list items: the whole line */
};

static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = strcasecmp(a->sort, b->sort);
	if (c == 0)
		c = strcmp(a->sort, b->sort);
	return c != 0 ? c : (a->ord < b->ord ? -1 : a->ord > b->ord);
}

struct items {
	struct item *v;
	size_t n, cap;
};

static struct item *items_add(struct items *it)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 64;
		it->v = ms_xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	struct item *x = &it->v[it->n];
	memset(x, 0, sizeof(*x));
	x->ord = it->n++;
	return x;
}

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		free(it->v[i].sort);
		free(it->v[i].line);
	}
	free(it->v);
}

/* A -p pattern: case-insensitive glob; a trailing * when it has no '*'. */
static char *make_pattern(const char *p)
{
	return strchr(p, '*') ? ms_xstrdup(p) : ms_xasprintf("%s*", p);
}

static bool glob(const char *pat, const char *s)
{
	return fnmatch(pat, s, FNM_CASEFOLD) == 0;
}

static bool entry_matches(const char *pat, const struct mc_entry *e)
{
	struct ms_buf b;
	bool m;

	if (pat == NULL)
		return true;
	ms_buf_init(&b);
	configutil_name_print(&e->name, &b);
	m = glob(pat, b.data);
	if (!m) {
		ms_buf_reset(&b);
		ms_optname_display(&e->name, false, &b);
		m = glob(pat, b.data);
	}
	if (!m)
		m = glob(pat, e->key);
	ms_buf_deinit(&b);
	return m;
}

/* List the set options (matching pat when not NULL). */
static int list_options(const struct mc_config *cfg, const char *pat, bool meta)
{
	struct items it = {NULL, 0, 0};
	struct ms_buf name, line;

	ms_buf_init(&name);
	ms_buf_init(&line);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (shadowed(cfg, e) || e->name.def->type == MS_OPT_TYPE_PASSWORD ||
		    !entry_matches(pat, e))
			continue;
		ms_buf_reset(&name);
		ms_buf_reset(&line);
		configutil_name_print(&e->name, &name);
		format_pair(&line, name.data, shown_value(e));
		if (meta)
			ms_buf_puts(&line, (e->name.def->flags & MS_OPTF_RESTART)
			                       ? " [NOT REFRESHABLE]"
			                       : " [REFRESHABLE]");
		struct item *x = items_add(&it);
		x->sort = ms_xstrdup(name.data);
		x->line = ms_xstrdup(line.data);
	}
	if (it.n > 0) /* it.v is NULL then, and qsort's base must not be */
		qsort(it.v, it.n, sizeof(*it.v), item_cmp);
	for (size_t i = 0; i < it.n; i++)
		printf("%s\n", it.v[i].line);
	items_free(&it);
	ms_buf_deinit(&name);
	ms_buf_deinit(&line);
	return 0;
}

/* Help on every option or family matching pat (NULL: all). */
static int help_options(const struct mc_config *cfg, const char *pat)
{
	struct items it = {NULL, 0, 0};
	struct ms_buf b;

	ms_buf_init(&b);
	for (size_t o = 0; o < ms_optdefs_count; o++) {
		const struct ms_optdef *d = &ms_optdefs[o];
		const char *shown = configutil_name_template(d);
		if (pat == NULL || glob(pat, shown) || glob(pat, d->name)) {
			struct item *x = items_add(&it);
			x->sort = ms_xstrdup(shown);
			x->id = (enum ms_opt)o;
			continue;
		}
		if (strchr(d->name, '*') == NULL)
			continue;
		/* The pattern names instances of a family: a block for each. */
		for (size_t i = 0; i < cfg->n; i++) {
			const struct mc_entry *e = &cfg->entries[i];
			if (e->name.id != (enum ms_opt)o || !first_of_key(cfg, i) ||
			    !entry_matches(pat, e))
				continue;
			ms_buf_reset(&b);
			configutil_name_print(&e->name, &b);
			struct item *x = items_add(&it);
			x->sort = ms_xstrdup(b.data);
			x->id = (enum ms_opt)o;
			x->n = &e->name;
		}
	}
	ms_buf_deinit(&b);
	if (it.n == 0) {
		items_free(&it);
		fprintf(stderr, PROG ": no option matches '%s'\n", pat);
		return EX_FAIL;
	}
	qsort(it.v, it.n, sizeof(*it.v), item_cmp);
	for (size_t i = 0; i < it.n; i++) {
		struct ms_buf out;
		ms_buf_init(&out);
		help_block(cfg, it.v[i].id, it.v[i].n, &out);
		fputs(out.data, stdout);
		ms_buf_deinit(&out);
	}
	items_free(&it);
	return 0;
}

int configutil_show_list(const struct mc_config *cfg, const char *pattern, bool meta)
{
	char *pat = pattern ? make_pattern(pattern) : NULL;
	int ret = list_options(cfg, pat, meta);

	free(pat);
	return ret;
}

int configutil_show_help_matching(const struct mc_config *cfg, const char *pattern)
{
	char *pat = pattern ? make_pattern(pattern) : NULL;
	int ret = help_options(cfg, pat);

	free(pat);
	return ret;
}

/* ---- one option ---- */

/* configutil_name_resolve, saying why on stderr.  0, or EX_FAIL. */
static int resolve_or_say(const char *text, struct cu_name *r)
{
	struct ms_buf why;
	int ret = 0;

	ms_buf_init(&why);
	if (configutil_name_resolve(text, r, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		ret = EX_FAIL;
	}
	ms_buf_deinit(&why);
	return ret;
}

int configutil_show_value(const struct mc_config *cfg, const char *text)
{
	struct cu_name r;
	struct ms_buf key;
	int found = 0;

	if (resolve_or_say(text, &r) != 0)
		return EX_FAIL;
	if (r.family) {
		fprintf(stderr,
		        PROG ": '%s' names a family of options; name one of them, or use -H\n",
		        text);
		return EX_USAGE;
	}
	ms_buf_init(&key);
	ms_optname_key(&r.n, &key);
	/* The scope asked for, else the effective one (instance wins). */
	enum ms_scope scope = r.n.scope;
	if (scope == MS_SCOPE_NONE)
		scope = mc_config_find(cfg, MS_SCOPE_INSTANCE, key.data) >= 0 ? MS_SCOPE_INSTANCE
		                                                              : MS_SCOPE_ROLE;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (e->name.scope != scope || strcmp(e->key, key.data) != 0)
			continue;
		found++;
		if (e->name.def->type == MS_OPT_TYPE_PASSWORD) {
			fprintf(stderr, PROG ": %s is set; passwords are never shown\n", text);
			break;
		}
		printf("%s\n", shown_value(e));
	}
	ms_buf_deinit(&key);
	configutil_name_free(&r);
	return found ? 0 : EX_UNSET;
}

int configutil_show_help(const struct mc_config *cfg, const char *text)
{
	struct cu_name r;
	struct ms_buf out;

	if (resolve_or_say(text, &r) != 0)
		return EX_FAIL;
	ms_buf_init(&out);
	help_block(cfg, r.id, r.family ? NULL : &r.n, &out);
	fputs(out.data, stdout);
	ms_buf_deinit(&out);
	configutil_name_free(&r);
	return 0;
}
