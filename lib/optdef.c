/*
 * optdef: finding an option's definition from a key, and the key syntax
 * itself (<ms/optkey.h>).
 *
 * The generated table ms_optdefs[] is indexed by enum ms_opt, in schema
 * order.  ms_optdef_find() searches a second, sorted view of it, built at
 * the first call and kept for the life of the process: the table never
 * changes, so the index is a cache rather than state.
 */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>

static const char *const type_names[] = {
	[MS_OPT_TYPE_STRING] = "string",
	[MS_OPT_TYPE_INTEGER] = "integer",
	[MS_OPT_TYPE_BOOLEAN] = "boolean",
	[MS_OPT_TYPE_ENUM] = "enum",
	[MS_OPT_TYPE_FLAG] = "flag",
	[MS_OPT_TYPE_PORT] = "port",
	[MS_OPT_TYPE_PATH] = "path",
	[MS_OPT_TYPE_RULE] = "rule",
	[MS_OPT_TYPE_PASSWORD] = "password",
	[MS_OPT_TYPE_CRONTAB] = "crontab",
};

_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == MS_OPT_TYPE_COUNT,
	       "type_names must name every enum ms_opt_type value");

const char *ms_opt_type_name(enum ms_opt_type type)
{
	if ((unsigned)type >= MS_OPT_TYPE_COUNT)
		return "unknown";
	return type_names[type];
}

void ms_optkey_escape_name(struct ms_buf *out, const char *name)
{
	for (; *name != '\0'; name++) {
		if (*name == '\\' || *name == '.')
			ms_buf_putc(out, '\\');
		ms_buf_putc(out, *name);
	}
}

int ms_optkey_build(struct ms_buf *out, enum ms_opt opt, const char *const *names)
{
	size_t start = out->len, used = 0;
	const char *t;

	if ((size_t)opt >= ms_optdefs_count)
		return -1;
	for (t = ms_optdefs[opt].name; *t != '\0'; t++) {
		if (*t != '*') {
			ms_buf_putc(out, *t);
			continue;
		}
		if (names == NULL || names[used] == NULL) {
			ms_buf_truncate(out, start);
			return -1;
		}
		ms_optkey_escape_name(out, names[used++]);
	}
	return 0;
}

/*
 * The one scanner of key syntax.  Copies key to tmpl (when not NULL) with
 * '*' in place of each name, and calls fn (when not NULL) with each name
 * unescaped.
 */
static void scan_key(const char *key, struct ms_buf *tmpl,
		     void (*fn)(void *ctx, const char *key, size_t group_len,
				const char *name),
		     void *ctx)
{
	struct ms_buf name;
	const char *p = key;

	ms_buf_init(&name);
	while (*p != '\0') {
		size_t group_len = (size_t)(p - key);

		if (tmpl != NULL)
			ms_buf_putc(tmpl, *p);
		if (*p++ != ':')
			continue;
		ms_buf_reset(&name);
		while (*p != '\0' && *p != '.') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			ms_buf_putc(&name, *p++);
		}
		if (tmpl != NULL)
			ms_buf_putc(tmpl, '*');
		if (fn != NULL)
			fn(ctx, key, group_len, name.data);
	}
	ms_buf_deinit(&name);
}

void ms_optkey_template(struct ms_buf *out, const char *key)
{
	scan_key(key, out, NULL, NULL);
}

void ms_optkey_foreach_name(const char *key,
			    void (*fn)(void *ctx, const char *key, size_t group_len,
				       const char *name),
			    void *ctx)
{
	scan_key(key, NULL, fn, ctx);
}

struct name_list {
	char **names;
	size_t count;
};

static void collect_name(void *ctx, const char *key, size_t group_len, const char *name)
{
	struct name_list *list = ctx;

	(void)key;
	(void)group_len;
	list->names = ms_xrealloc(list->names, (list->count + 2) * sizeof(char *));
	list->names[list->count++] = ms_xstrdup(name);
}

size_t ms_optkey_names(const char *key, char ***names_r)
{
	struct name_list list = { NULL, 0 };

	ms_optkey_foreach_name(key, collect_name, &list);
	if (list.names == NULL)
		list.names = ms_xmalloc(sizeof(char *));
	list.names[list.count] = NULL;
	*names_r = list.names;
	return list.count;
}

/* ms_optdefs sorted by template; built by the first ms_optdef_find(). */
static const struct ms_optdef **sorted_defs;

static int cmp_def(const void *a, const void *b)
{
	const struct ms_optdef *const *da = a, *const *db = b;

	return strcmp((*da)->name, (*db)->name);
}

static int cmp_key_def(const void *key, const void *elem)
{
	const struct ms_optdef *const *d = elem;

	return strcmp(key, (*d)->name);
}

const struct ms_optdef *ms_optdef_find(const char *key)
{
	const struct ms_optdef **found;
	struct ms_buf tmpl;
	size_t i;

	if (sorted_defs == NULL) {
		sorted_defs = ms_xcalloc(ms_optdefs_count + 1, sizeof(*sorted_defs));
		for (i = 0; i < ms_optdefs_count; i++)
			sorted_defs[i] = &ms_optdefs[i];
		qsort(sorted_defs, ms_optdefs_count, sizeof(*sorted_defs), cmp_def);
	}
	ms_buf_init(&tmpl);
	ms_optkey_template(&tmpl, key);
	found = bsearch(tmpl.data, sorted_defs, ms_optdefs_count, sizeof(*sorted_defs),
			cmp_key_def);
	ms_buf_deinit(&tmpl);
	return found != NULL ? *found : NULL;
}
