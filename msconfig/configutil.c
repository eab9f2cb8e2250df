/*
 * configutil: the legacy configuration tool, as a front end on the msconfig
 * model (DESIGN.md).  Names are the seed's configutil names where the
 * schema records one (ms_optdefs[].legacy, '*' standing for a named group's
 * name: store.partition.primary.path is partition:primary.path), or
 * unified names.  Every write is one msconfig commit, so it is validated,
 * kept in the history and compiled.
 *
 *   configutil                        list every set option
 *   configutil -o NAME                print its value
 *   configutil -o NAME -v VALUE       set it ("OK SET")
 *   configutil -o NAME -v "" | -d -o NAME   delete it
 *   configutil -H -o NAME             help block (8.1 format)
 *   configutil -p PATTERN [-H] [-m]   list, or help on, matching options
 *   configutil -i FILE|-              import NAME=VALUE lines, one commit
 *   configutil -V                     validate the configuration
 *   configutil NAME [VALUE]           shorthand for -o NAME [-v VALUE]
 *
 * Exit status (spec: store-commands.md, configutil): 0 success; 1 the
 * option is unset, or -V found problems; 2 no such option, a bad value, or
 * the configuration could not be read or written; 64 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optname.h>
#include <ms/path.h>

#include "model.h"
#include "repo.h"

#define PROG            "configutil"
#define EX_UNSET        1
#define EX_FAIL         2
#define EX_USAGE        64
#define MAX_IMPORT_LINE 65536

struct cu {
	struct mc_repo *repo;
	struct mc_config *cfg; /* as loaded */
	struct ms_buf why;
};

/* An option as the user named it: one option, or a whole template. */
struct cu_name {
	struct ms_optname n; /* valid when !family */
	bool family;         /* a template such as store.partition.*.path */
	enum ms_opt id;      /* always set */
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: configutil [-s SERVERROOT | -f CONFIGFILE] [-o NAME [-v VALUE]] [-d] [-H]\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] [-p PATTERN] [-H] [-m]\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] -i FILE|-\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] -V\n"
	        "       configutil NAME [VALUE]\n"
	        "  (no flag)     list every option that is set, as NAME = VALUE\n"
	        "  -o NAME       print the option's value (exit 1 when unset)\n"
	        "  -v VALUE      with -o: set the option; -v \"\" deletes it\n"
	        "  -d            with -o: delete the option\n"
	        "  -H            with -o or -p: help on the options; alone: on every option\n"
	        "  -p PATTERN    list the options matching PATTERN (* is the wildcard; a\n"
	        "                trailing * is implied when there is none)\n"
	        "  -m            with -p or alone: mark each option [REFRESHABLE] or\n"
	        "                [NOT REFRESHABLE]\n"
	        "  -i FILE       import NAME=VALUE lines from FILE (- is standard input)\n"
	        "  -V            validate the configuration\n"
	        "  -s DIR        the instance (default $SERVERROOT, now %s)\n"
	        "  -f FILE       the instance's config.xml or config folder (legacy form)\n"
	        "NAME is a configutil name (service.imap.port, store.partition.primary.path)\n"
	        "or a unified name (imap.port, partition:primary.path).  See configutil(8).\n",
	        ms_serverroot());
}

/* ---- names ---- */

static size_t count_stars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s == '*';
	return n;
}

/*
 * Match text against a legacy template: literal parts case-insensitively,
 * each '*' against a name (no dots) or against a literal '*'.  Fills
 * names (owned by the caller) and *family when every '*' was literal.
 */
static bool match_legacy(const char *tmpl, const char *text, char **names, size_t *nnames,
                         bool *family)
{
	size_t n = 0, literal = 0;
	const char *t = tmpl, *s = text;

	while (*t != '\0') {
		if (*t == '*') {
			const char *e = s;
			if (*s == '*') {
				e = s + 1;
				literal++;
			} else {
				while (*e != '\0' && *e != '.')
					e++;
			}
			if (e == s || n >= MS_OPTNAME_MAXNAMES)
				goto no;
			names[n++] = *s == '*' ? NULL : ms_xstrndup(s, (size_t)(e - s));
			s = e;
			t++;
			continue;
		}
		if (tolower((unsigned char)*t) != tolower((unsigned char)*s))
			goto no;
		t++;
		s++;
	}
	if (*s != '\0' || (literal > 0 && literal != n))
		goto no;
	*nnames = n;
	*family = n > 0 && literal == n;
	return true;
no:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = ms_xcalloc(lb + 1, sizeof(*row));

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (tolower((unsigned char)a[i - 1]) !=
			                                   tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}

/* The closest legacy or unified name to text, or NULL when nothing is close. */
static const char *suggest(const char *text)
{
	const char *u = ms_optname_suggest(text), *best = NULL;
	size_t ud = u ? edit_distance(text, u) : (size_t)-1, best_d = (size_t)-1;

	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *l = ms_optdefs[i].legacy;
		size_t d = l ? edit_distance(text, l) : (size_t)-1;
		if (d < best_d) {
			best_d = d;
			best = l;
		}
	}
	/* Far-off legacy names are noise (the same rule as ms_optname_suggest). */
	if (best != NULL && best_d < ud && (best_d <= 3 || best_d * 3 <= strlen(text)))
		return best;
	/* So is a unified name whose leaf shares nothing with the text's ("b" -> mx). */
	if (u != NULL && ud > 3) {
		const char *tl = strrchr(text, '.'), *ul = strrchr(u, '.');
		tl = tl ? tl + 1 : text;
		ul = ul ? ul + 1 : u;
		if (edit_distance(tl, ul) >= strlen(tl))
			return NULL;
	}
	return u;
}

/* Resolve text to an option or a family.  0, or -1 with why. */
static int resolve(const char *text, struct cu_name *r, struct ms_buf *why)
{
	memset(r, 0, sizeof(*r));
	if (strstr(text, ";lang-") == NULL) {
		for (size_t i = 0; i < ms_optdefs_count; i++) {
			const struct ms_optdef *d = &ms_optdefs[i];
			char *names[MS_OPTNAME_MAXNAMES];
			size_t nn;
			bool family;
			if (d->legacy == NULL || count_stars(d->legacy) != count_stars(d->name) ||
			    !match_legacy(d->legacy, text, names, &nn, &family))
				continue;
			r->id = (enum ms_opt)i;
			r->family = family;
			r->n.id = r->id;
			r->n.def = d;
			r->n.nnames = family ? 0 : nn;
			for (size_t k = 0; k < nn; k++)
				if (family)
					free(names[k]);
				else
					r->n.names[k] = names[k];
			return 0;
		}
	}
	if (strchr(text, '*') != NULL) {
		for (size_t i = 0; i < ms_optdefs_count; i++) {
			if (strcasecmp(ms_optdefs[i].name, text) == 0) {
				r->id = (enum ms_opt)i;
				r->family = true;
				r->n.def = &ms_optdefs[i];
				r->n.id = r->id;
				return 0;
			}
		}
	}
	if (ms_optname_parse(text, &r->n, why) == 0) {
		r->id = r->n.id;
		return 0;
	}
	if (strstr(why->data, "ambiguous") != NULL)
		return -1;
	const char *s = suggest(text);
	if (s != NULL)
		ms_buf_setf(why, "no such option '%s'; did you mean '%s'?", text, s);
	else
		ms_buf_setf(why, "no such option '%s' (configutil -H lists every option)", text);
	return -1;
}

static void name_free(struct cu_name *r)
{
	if (!r->family)
		ms_optname_deinit(&r->n);
}

/* The name configutil prints: the legacy name when there is one, else unified. */
static void print_name(const struct ms_optname *n, struct ms_buf *out)
{
	const char *l = n->def->legacy;

	if (l != NULL && count_stars(l) == n->nnames) {
		size_t k = 0;
		for (; *l != '\0'; l++) {
			if (*l == '*')
				ms_buf_puts(out, n->names[k++]);
			else
				ms_buf_putc(out, *l);
		}
		return;
	}
	ms_optname_display(n, false, out);
}

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

/*
 * Legacy booleans: yes/no, on/off, true/false become 1/0 for boolean and
 * flag options.  Returns a static string or value itself.
 */
static const char *normalise_value(const struct ms_optdef *d, const char *value)
{
	static const char *const yes[] = {"yes", "on", "true", "enable", "enabled"};
	static const char *const no[] = {"no", "off", "false", "disable", "disabled"};

	if (d->type != MS_OPT_TYPE_BOOLEAN && d->type != MS_OPT_TYPE_FLAG)
		return value;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return "1";
		if (strcasecmp(value, no[i]) == 0)
			return "0";
	}
	return value;
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
	print_name(&e->name, &name);
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
		print_name(n, &name);
		ms_optname_display(n, false, &uname);
	} else {
		ms_buf_puts(&name, d->legacy && count_stars(d->legacy) == count_stars(d->name)
		                       ? d->legacy
		                       : d->name);
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
	print_name(&e->name, &b);
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
		print_name(&e->name, &name);
		format_pair(&line, name.data, shown_value(e));
		if (meta)
			ms_buf_puts(&line, (e->name.def->flags & MS_OPTF_RESTART)
			                       ? " [NOT REFRESHABLE]"
			                       : " [REFRESHABLE]");
		struct item *x = items_add(&it);
		x->sort = ms_xstrdup(name.data);
		x->line = ms_xstrdup(line.data);
	}
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
		const char *shown = d->legacy && count_stars(d->legacy) == count_stars(d->name)
		                        ? d->legacy
		                        : d->name;
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
			print_name(&e->name, &b);
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

/* ---- one option ---- */

static int show_option(const struct mc_config *cfg, const char *text)
{
	struct cu_name r;
	struct ms_buf why, key;
	int found = 0;

	ms_buf_init(&why);
	if (resolve(text, &r, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	ms_buf_deinit(&why);
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
	name_free(&r);
	return found ? 0 : EX_UNSET;
}

static int help_option(const struct mc_config *cfg, const char *text)
{
	struct cu_name r;
	struct ms_buf why, out;

	ms_buf_init(&why);
	if (resolve(text, &r, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	ms_buf_deinit(&why);
	ms_buf_init(&out);
	help_block(cfg, r.id, r.family ? NULL : &r.n, &out);
	fputs(out.data, stdout);
	ms_buf_deinit(&out);
	name_free(&r);
	return 0;
}

/*
 * Apply one change to work: del, VALUE "" (or 0 for a flag) deletes; any
 * other value replaces every value of the option.  0 or -1 with why, and
 * work unchanged.  *deleted_r is how many entries a delete removed, or -1
 * when the change was a set.
 */
static int apply(struct mc_config *work, const char *text, const char *value, bool del,
                 long *deleted_r, struct ms_buf *why)
{
	struct cu_name r;
	struct ms_buf disp;
	int ret = -1;

	*deleted_r = -1;
	if (resolve(text, &r, why) < 0)
		return -1;
	if (r.family) {
		ms_buf_setf(why, "'%s' names a family of options; name one of them", text);
		return -1;
	}
	ms_buf_init(&disp);
	ms_optname_display(&r.n, false, &disp);
	value = normalise_value(r.n.def, value);
	if (r.n.def->type == MS_OPT_TYPE_FLAG && strcmp(value, "0") == 0)
		del = true;
	if (del || *value == '\0') {
		*deleted_r = (long)mc_config_unset(work, &r.n, NULL);
		ret = 0;
		goto out;
	}
	if (r.n.def->type == MS_OPT_TYPE_FLAG && strcmp(value, "1") == 0)
		value = "";
	/* A restricted option needs an explicit confirmation, which only
	 * msconfig asks for; deleting one needs none. */
	if (r.n.def->flags & MS_OPTF_RESTRICTED) {
		ms_buf_setf(why,
		            "%s is a restricted option (set it only when support asks you to); "
		            "configutil does not set it: use msconfig set -restricted %s VALUE",
		            text, disp.data);
		goto out;
	}
	/* configutil sets a value: a multi-valued option keeps only this one. */
	struct mc_config *probe = mc_config_clone(work);
	if (r.n.def->flags & MS_OPTF_MULTI)
		mc_config_unset(probe, &r.n, NULL);
	if (mc_config_set(probe, &r.n, value, 0, mc_user_name(), NULL, why) < 0) {
		mc_config_free(&probe);
		goto out;
	}
	/* Swap the probe's entries into work, so work is untouched on failure. */
	struct mc_config tmp = *work;
	*work = *probe;
	*probe = tmp;
	mc_config_free(&probe);
	ret = 0;
out:
	ms_buf_deinit(&disp);
	name_free(&r);
	return ret;
}

/* Commit work when it differs from cu->cfg; print warnings.  0 or EX_FAIL. */
static int commit(struct cu *cu, struct mc_config *work, const char *comment)
{
	struct ms_buf report, diff;
	int ret = 0;

	ms_buf_init(&diff);
	size_t changes = mc_config_diff(cu->cfg, work, &diff);
	ms_buf_deinit(&diff);
	if (changes == 0)
		return 0;
	ms_buf_init(&report);
	if (mc_repo_commit(cu->repo, work, cu->cfg->seq, comment, &report, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n" PROG ": nothing was changed\n", cu->why.data);
		ret = EX_FAIL;
	} else {
		for (char *l = strtok(report.data, "\n"); l != NULL; l = strtok(NULL, "\n"))
			if (strncmp(l, "warning:", 8) == 0 || strncmp(l, "run `", 5) == 0)
				fprintf(stderr, PROG ": %s\n", l);
	}
	ms_buf_deinit(&report);
	return ret;
}

static int set_option(struct cu *cu, const char *text, const char *value, bool del)
{
	struct mc_config *work = mc_config_clone(cu->cfg);
	long deleted;
	int ret;

	struct cu_name r;
	ms_buf_reset(&cu->why);
	if (resolve(text, &r, &cu->why) == 0) {
		bool family = r.family;
		name_free(&r);
		if (family) {
			fprintf(stderr, PROG ": '%s' names a family of options; name one of them\n",
			        text);
			mc_config_free(&work);
			return EX_USAGE;
		}
	}
	if (apply(work, text, value, del, &deleted, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		mc_config_free(&work);
		return EX_FAIL;
	}
	if (deleted == 0) {
		fprintf(stderr, PROG ": %s is not set; nothing to delete\n", text);
		mc_config_free(&work);
		return EX_UNSET;
	}
	char *comment = ms_xasprintf("configutil %s-o %s", deleted > 0 ? "-d " : "", text);
	ret = commit(cu, work, comment);
	free(comment);
	mc_config_free(&work);
	if (ret == 0)
		printf(deleted > 0 ? "OK DELETE\n" : "OK SET\n");
	return ret;
}

/* ---- import ---- */

/* Undo format_pair's quoting: "a \"b\"" -> a "b". */
static char *unquote(const char *v)
{
	size_t len = strlen(v);
	if (len < 2 || v[0] != '"' || v[len - 1] != '"')
		return ms_xstrdup(v);
	struct ms_buf b;
	ms_buf_init(&b);
	for (size_t i = 1; i + 1 < len; i++) {
		if (v[i] == '\\' && i + 2 < len)
			i++;
		ms_buf_putc(&b, v[i]);
	}
	return ms_buf_steal(&b);
}

static int import(struct cu *cu, const char *file)
{
	struct ms_buf data, errs;
	struct mc_config *work;
	size_t applied = 0, lineno = 0;
	const char *shown = strcmp(file, "-") == 0 ? "(stdin)" : file;

	ms_buf_init(&data);
	ms_buf_init(&errs);
	if (strcmp(file, "-") == 0) {
		char chunk[8192];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			ms_buf_append(&data, chunk, n);
	} else if (ms_file_read(file, &data, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		ms_buf_deinit(&data);
		ms_buf_deinit(&errs);
		return EX_FAIL;
	}
	work = mc_config_clone(cu->cfg);
	for (char *line = data.data, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		size_t len = strlen(line);
		if (len > MAX_IMPORT_LINE) {
			ms_buf_printf(&errs, PROG ": %s:%zu: line longer than %d bytes\n", shown,
			              lineno, MAX_IMPORT_LINE);
			continue;
		}
		while (len > 0 && (line[len - 1] == '\r' || isspace((unsigned char)line[len - 1])))
			line[--len] = '\0';
		while (isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		char *eq = strchr(line, '=');
		if (eq == NULL) {
			ms_buf_printf(&errs, PROG ": %s:%zu: expected NAME=VALUE\n", shown, lineno);
			continue;
		}
		char *name_end = eq;
		while (name_end > line && isspace((unsigned char)name_end[-1]))
			name_end--;
		*name_end = '\0';
		char *v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *value = unquote(v);
		long deleted;
		ms_buf_reset(&cu->why);
		if (*line == '\0')
			ms_buf_setf(&cu->why, "expected NAME=VALUE");
		if (*line == '\0' || apply(work, line, value, false, &deleted, &cu->why) < 0)
			ms_buf_printf(&errs, PROG ": %s:%zu: %s\n", shown, lineno, cu->why.data);
		else
			applied++;
		free(value);
	}
	int ret = 0;
	if (errs.len > 0) {
		fputs(errs.data, stderr);
		fprintf(stderr, PROG ": nothing was imported\n");
		ret = EX_FAIL;
	} else {
		char *comment = ms_xasprintf("configutil -i %s", file);
		ret = commit(cu, work, comment);
		free(comment);
		if (ret == 0)
			printf("OK IMPORT %zu\n", applied);
	}
	mc_config_free(&work);
	ms_buf_deinit(&data);
	ms_buf_deinit(&errs);
	return ret;
}

/* ---- -V ---- */

static int validate(struct cu *cu)
{
	struct mc_config *cfg = NULL;
	int ret = 0;

	if (mc_repo_load(cu->repo, &cfg, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		return EX_UNSET;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		struct ms_buf disp, why;
		ms_buf_init(&disp);
		ms_buf_init(&why);
		print_name(&cfg->entries[i].name, &disp);
		if (mc_value_check(cfg->entries[i].name.def, disp.data, cfg->entries[i].value,
		                   &why) < 0) {
			fprintf(stderr, PROG ": %s\n", why.data);
			ret = EX_UNSET;
		}
		ms_buf_deinit(&disp);
		ms_buf_deinit(&why);
	}
	if (ret == 0)
		printf("configuration %lu is valid (%zu options)%s\n", cfg->seq, cfg->n,
		       mc_repo_stale(cu->repo) ? " (not compiled)" : "");
	mc_config_free(&cfg);
	return ret;
}

/* ---- main ---- */

/* -f FILE: config.xml, or the config folder; the instance is above it. */
static char *root_from_configfile(const char *f)
{
	struct stat st;
	char *dir = ms_xstrdup(f);

	if (stat(f, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');
		if (slash == NULL) {
			free(dir);
			dir = ms_xstrdup(".");
		} else {
			*slash = '\0';
		}
	}
	char *r = ms_xasprintf("%s/..", *dir ? dir : "/");
	free(dir);
	return r;
}

struct args {
	const char *root, *cfgfile, *opt, *value, *pattern, *input;
	bool help, meta, validate, del, have_value;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *f = argv[i];
		bool need = strchr("osfvpi", f[1]) != NULL && f[2] == '\0';
		if (strcmp(f, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0 || strcmp(f, "-help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (need && i + 1 >= argc) {
			fprintf(stderr, PROG ": %s needs a value\n", f);
			usage(stderr);
			return EX_USAGE;
		}
		if (strcmp(f, "-o") == 0)
			a->opt = argv[++i];
		else if (strcmp(f, "-v") == 0) {
			a->value = argv[++i];
			a->have_value = true;
		} else if (strcmp(f, "-s") == 0)
			a->root = argv[++i];
		else if (strcmp(f, "-f") == 0)
			a->cfgfile = argv[++i];
		else if (strcmp(f, "-p") == 0)
			a->pattern = argv[++i];
		else if (strcmp(f, "-i") == 0)
			a->input = argv[++i];
		else if (strcmp(f, "-H") == 0)
			a->help = true;
		else if (strcmp(f, "-m") == 0)
			a->meta = true;
		else if (strcmp(f, "-V") == 0)
			a->validate = true;
		else if (strcmp(f, "-d") == 0)
			a->del = true;
		else {
			fprintf(stderr, PROG ": unknown flag %s\n", f);
			usage(stderr);
			return EX_USAGE;
		}
	}
	/* "configutil NAME VALUE..." and "configutil -o NAME VALUE...". */
	if (i < argc && a->opt == NULL && a->pattern == NULL && a->input == NULL)
		a->opt = argv[i++];
	if (i + 1 < argc && a->opt != NULL && !a->have_value && strcmp(argv[i], "-v") == 0) {
		a->value = argv[i + 1];
		a->have_value = true;
		i += 2;
	}
	if (i < argc && a->opt != NULL && !a->have_value) {
		struct ms_buf v;
		ms_buf_init(&v);
		for (; i < argc; i++)
			ms_buf_printf(&v, "%s%s", v.len ? " " : "", argv[i]);
		a->value = ms_buf_steal(&v);
		a->have_value = true;
	}
	if (i < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[i]);
		usage(stderr);
		return EX_USAGE;
	}
	const char *bad = NULL;
	if (a->opt && a->pattern)
		bad = "-o and -p do not go together";
	else if (a->have_value && a->opt == NULL)
		bad = "-v needs -o NAME";
	else if (a->del && a->opt == NULL)
		bad = "-d needs -o NAME";
	else if (a->del && a->have_value)
		bad = "-d and -v do not go together";
	else if ((a->have_value || a->del) && a->help)
		bad = "-H shows help; it does not go with -v or -d";
	else if (a->input && (a->opt || a->pattern || a->help || a->meta || a->validate))
		bad = "-i goes with no other flag";
	else if (a->validate && (a->opt || a->pattern || a->help || a->meta))
		bad = "-V goes with no other flag";
	else if (a->root && a->cfgfile)
		bad = "-s and -f do not go together";
	if (bad != NULL) {
		fprintf(stderr, PROG ": %s\n", bad);
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	struct cu cu;
	char *root = NULL;
	int ret;

	memset(&a, 0, sizeof(a));
	memset(&cu, 0, sizeof(cu));
	if ((ret = parse_args(argc, argv, &a)) != 0)
		return ret;
	umask(027);
	ms_buf_init(&cu.why);
	if (a.cfgfile != NULL)
		root = root_from_configfile(a.cfgfile);
	else if (a.root != NULL)
		root = ms_xstrdup(a.root);
	else if (getenv("SERVERROOT") == NULL && getenv("CONFIGROOT") != NULL)
		root = root_from_configfile(getenv("CONFIGROOT"));
	cu.repo = mc_repo_open(root);

	if (a.validate) {
		ret = validate(&cu);
		goto out;
	}
	/* Help needs no configuration, but shows current values when there is one. */
	if (mc_repo_load(cu.repo, &cu.cfg, &cu.why) < 0) {
		if (!a.help || a.have_value || a.del) {
			fprintf(stderr, PROG ": %s\n", cu.why.data);
			ret = EX_FAIL;
			goto out;
		}
		cu.cfg = mc_config_new();
	}
	mc_config_sort(cu.cfg);
	if (a.input != NULL)
		ret = import(&cu, a.input);
	else if (a.opt != NULL && (a.have_value || a.del))
		ret = set_option(&cu, a.opt, a.have_value ? a.value : "", a.del);
	else if (a.opt != NULL && a.help)
		ret = help_option(cu.cfg, a.opt);
	else if (a.opt != NULL)
		ret = show_option(cu.cfg, a.opt);
	else if (a.help) {
		char *pat = a.pattern ? make_pattern(a.pattern) : NULL;
		ret = help_options(cu.cfg, pat);
		free(pat);
	} else {
		char *pat = a.pattern ? make_pattern(a.pattern) : NULL;
		ret = list_options(cu.cfg, pat, a.meta);
		free(pat);
	}
out:
	mc_config_free(&cu.cfg);
	mc_repo_close(&cu.repo);
	ms_buf_deinit(&cu.why);
	free(root);
	return ret;
}
