/*
 * recipe_edit: the built-ins that edit groups of options (see recipe.h):
 * channels and other named groups (a group path such as
 * "dispatcher.service:LMTPSS" is matched against the schema's templates,
 * so names may hold dots), mapping tables and rewrite rules (multi-valued
 * rule options whose order matters: prepend renumbers the insertion order
 * the model keeps), and aliases.  They are listed in mc_recipe_builtins[]
 * (recipe_api.c); the contract of each is its help text there.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>

#include "model.h"
#include "recipe.h"

static struct mc_config *cfg_of(lua_State *L)
{
	return mc_recipe_of(L)->cfg;
}

/* ---- groups: "channel:tcp_local", "dispatcher.service:LMTPSS" ---- */

struct group_ref {
	enum ms_scope scope;
	char *tmpl;  /* "dispatcher.service:*" */
	size_t segs; /* segments of tmpl: a longer match wins */
	size_t nnames;
	char *names[MS_OPTNAME_MAXNAMES];
};

static void group_deinit(struct group_ref *g)
{
	free(g->tmpl);
	for (size_t i = 0; i < g->nnames; i++)
		free(g->names[i]);
	memset(g, 0, sizeof(*g));
}

struct gmatch {
	const char *start[MS_OPTNAME_MAXNAMES];
	size_t len[MS_OPTNAME_MAXNAMES];
	size_t n;
};

/* Does text s match template t (both a run of segments)? */
static bool tmatch(const char *t, const char *s, struct gmatch *m)
{
	const char *te = strchr(t, '.');
	size_t tl = te ? (size_t)(te - t) : strlen(t);
	bool named = tl >= 2 && t[tl - 2] == ':' && t[tl - 1] == '*';

	if (!named) {
		if (strncasecmp(t, s, tl) != 0)
			return false;
		if (te == NULL)
			return s[tl] == '\0';
		return s[tl] == '.' && tmatch(te + 1, s + tl + 1, m);
	}
	if (strncasecmp(t, s, tl - 1) != 0 || m->n >= MS_OPTNAME_MAXNAMES)
		return false; /* tl - 1 covers "group:" */
	const char *name = s + tl - 1;
	size_t k = m->n++;
	m->start[k] = name;
	if (te == NULL) {
		m->len[k] = strlen(name);
		if (m->len[k] > 0)
			return true;
	} else {
		/* The name runs to a dot after which the rest matches, shortest first. */
		for (const char *p = name; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p != '.' || p == name)
				continue;
			m->len[k] = (size_t)(p - name);
			size_t saved = m->n;
			if (tmatch(te + 1, p + 1, m))
				return true;
			m->n = saved;
		}
	}
	m->n = k;
	return false;
}

/* Parse a group path (optionally role./instance., aliases allowed).  0 or -1 with why. */
static int group_parse(const char *text, struct group_ref *g, struct ms_buf *why)
{
	char *alias = NULL;
	struct ms_buf tmpl;

	memset(g, 0, sizeof(*g));
	if (strncasecmp(text, "role.", 5) == 0) {
		g->scope = MS_SCOPE_ROLE;
		text += 5;
	} else if (strncasecmp(text, "instance.", 9) == 0) {
		g->scope = MS_SCOPE_INSTANCE;
		text += 9;
	}
	for (size_t i = 0; i < ms_optaliases_count; i++) {
		size_t len = strlen(ms_optaliases[i].alias);
		if (strncasecmp(text, ms_optaliases[i].alias, len) == 0 &&
		    (text[len] == '.' || text[len] == ':' || text[len] == '\0')) {
			alias = ms_xasprintf("%s%s", ms_optaliases[i].canonical, text + len);
			text = alias;
			break;
		}
	}
	ms_buf_init(&tmpl);
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *name = ms_optdefs[i].name;
		size_t segs = 1;
		for (const char *dot = strchr(name, '.'); dot != NULL;
		     dot = strchr(dot + 1, '.'), segs++) {
			if (segs <= g->segs)
				continue;
			ms_buf_reset(&tmpl);
			ms_buf_append(&tmpl, name, (size_t)(dot - name));
			struct gmatch m;
			memset(&m, 0, sizeof(m));
			if (!tmatch(tmpl.data, text, &m))
				continue;
			enum ms_scope scope = g->scope;
			group_deinit(g);
			g->scope = scope;
			g->tmpl = ms_xstrdup(tmpl.data);
			g->segs = segs;
			g->nnames = m.n;
			for (size_t k = 0; k < m.n; k++) {
				struct ms_buf nb;
				ms_buf_init(&nb);
				for (size_t c = 0; c < m.len[k]; c++) {
					if (m.start[k][c] == '\\' && c + 1 < m.len[k])
						c++;
					ms_buf_putc(&nb, m.start[k][c]);
				}
				g->names[k] = ms_buf_steal(&nb);
			}
		}
	}
	ms_buf_deinit(&tmpl);
	if (g->tmpl == NULL) {
		ms_buf_setf(
		    why, "'%s' is not a group of options (msconfig help options lists them)", text);
		free(alias);
		return -1;
	}
	free(alias);
	return 0;
}

static bool in_group(const struct mc_entry *e, const struct group_ref *g)
{
	size_t tl = strlen(g->tmpl);

	if (g->scope != MS_SCOPE_NONE && e->name.scope != g->scope)
		return false;
	if (strncmp(e->name.def->name, g->tmpl, tl) != 0 || e->name.def->name[tl] != '.' ||
	    e->name.nnames < g->nnames)
		return false;
	for (size_t i = 0; i < g->nnames; i++)
		if (strcmp(e->name.names[i], g->names[i]) != 0)
			return false;
	return true;
}

/* The option's name below the group: "maxjobs", "options.trace_level". */
static void relative_name(const struct mc_entry *e, const struct group_ref *g, struct ms_buf *out)
{
	size_t k = g->nnames;
	for (const char *t = e->name.def->name + strlen(g->tmpl) + 1; *t != '\0'; t++) {
		if (*t == '*' && k < e->name.nnames)
			ms_buf_puts(out, e->name.names[k++]);
		else
			ms_buf_putc(out, *t);
	}
}

/* Parse arg idx as a group path, or raise. */
static void check_group(lua_State *L, int idx, struct group_ref *g)
{
	const char *text = luaL_checkstring(L, idx);
	struct ms_buf why;

	ms_buf_init(&why);
	if (group_parse(text, g, &why) < 0)
		mc_recipe_raise(L, &why);
	ms_buf_deinit(&why);
}

/* The group path of a named group of option id ("channel:" + escaped name). */
static char *named_group_path(enum ms_opt id, const char *name)
{
	const char *t = ms_optdefs[id].name, *star = strchr(t, '*');
	struct ms_buf b;

	ms_buf_init(&b);
	ms_buf_append(&b, t, (size_t)(star - t));
	ms_optkey_escape_name(&b, name);
	return ms_buf_steal(&b);
}

/* Arg idx as a channel's group path (caller frees). */
static char *channel_path(lua_State *L, int idx)
{
	const char *name = luaL_checkstring(L, idx);
	if (*name == '\0' || strpbrk(name, " \t\r\n") != NULL)
		luaL_error(L, "'%s' is not a channel name", name);
	return named_group_path(MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, name);
}

static bool group_exists(const struct mc_config *cfg, const struct group_ref *g)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (in_group(&cfg->entries[i], g))
			return true;
	return false;
}

static size_t group_delete(struct mc_config *cfg, const struct group_ref *g)
{
	size_t removed = 0;
	for (size_t i = cfg->n; i-- > 0;) {
		if (!in_group(&cfg->entries[i], g))
			continue;
		struct ms_optname n;
		ms_optname_copy(&n, &cfg->entries[i].name);
		removed += mc_config_unset(cfg, &n, cfg->entries[i].value);
		ms_optname_deinit(&n);
		if (i > cfg->n)
			i = cfg->n;
	}
	return removed;
}

/* Set name (the string at -2) = value (at -1) under path in copy; 0 or -1 with why. */
static int add_one(lua_State *L, struct mc_config *copy, const char *path, struct ms_buf *why)
{
	struct ms_optname n;
	struct ms_buf text;
	int r = -1;

	if (lua_type(L, -2) != LUA_TSTRING) {
		ms_buf_setf(why, "option names in the list must be strings, not %s",
		            luaL_typename(L, -2));
		return -1;
	}
	ms_buf_init(&text);
	ms_buf_printf(&text, "%s.%s", path, lua_tostring(L, -2));
	if (ms_optname_parse(text.data, &n, why) == 0) {
		if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 0 &&
		    n.def->type != MS_OPT_TYPE_FLAG && n.def->type != MS_OPT_TYPE_STRING)
			ms_buf_setf(why, "%s needs a value (\"\" is only for flags)", text.data);
		else
			r = mc_recipe_set_value(L, copy, &n, -1, why);
		ms_optname_deinit(&n);
	}
	ms_buf_deinit(&text);
	return r;
}

/* Set every name, value of the optlist at idx under group path; all or nothing. */
static void add_optlist(lua_State *L, const char *path, int idx)
{
	struct ms_buf why;
	int count = 0, r = 0;

	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
	if (len % 2 != 0)
		luaL_error(L, "the option list must alternate names and values (%d elements)",
		           (int)len);
	ms_buf_init(&why);
	struct mc_config *copy = mc_recipe_edit_begin(L);
	if (len > 0) {
		/* the seed's flat list {name, value, ...} */
		for (lua_Integer i = 1; r == 0 && i <= len; i += 2, count++) {
			lua_rawgeti(L, idx, i);
			lua_rawgeti(L, idx, i + 1);
			r = add_one(L, copy, path, &why);
			lua_pop(L, 2);
		}
	} else {
		/* a Lua map {name = value, ...} */
		lua_pushnil(L);
		while (r == 0 && lua_next(L, idx) != 0) {
			r = add_one(L, copy, path, &why);
			lua_pop(L, 1);
			count++;
		}
		if (r != 0)
			lua_pop(L, 1);
	}
	if (r == 0 && count == 0) {
		ms_buf_setf(&why,
		            "%s: the option list is empty (a group exists only through its "
		            "options)",
		            path);
		r = -1;
	}
	if (r != 0) {
		mc_config_free(&copy);
		mc_recipe_raise(L, &why);
	}
	mc_recipe_edit_commit(L, &copy);
	ms_buf_deinit(&why);
}

/* Push the group's options as a flat list {name, value, ...} (effective values). */
static void push_group(lua_State *L, const struct mc_config *cfg, struct group_ref *g)
{
	struct ms_buf rel;
	lua_Integer k = 1;
	struct mc_config *sorted = mc_config_clone(cfg);

	mc_config_sort(sorted);
	ms_buf_init(&rel);
	lua_newtable(L);
	for (size_t i = 0; i < sorted->n; i++) {
		const struct mc_entry *e = &sorted->entries[i];
		if (!in_group(e, g))
			continue;
		/* An instance value hides the role's. */
		if (g->scope == MS_SCOPE_NONE && e->name.scope == MS_SCOPE_ROLE &&
		    mc_config_find(sorted, MS_SCOPE_INSTANCE, e->key) >= 0)
			continue;
		ms_buf_reset(&rel);
		relative_name(e, g, &rel);
		lua_pushstring(L, rel.data);
		lua_seti(L, -2, k++);
		lua_pushstring(L, e->value);
		lua_seti(L, -2, k++);
	}
	ms_buf_deinit(&rel);
	mc_config_free(&sorted);
}

/* ---- channels and groups ---- */

static int channel_call(lua_State *L, int (*fn)(lua_State *L))
{
	char *path = channel_path(L, 1);
	lua_pushstring(L, path);
	free(path);
	lua_replace(L, 1);
	return fn(L);
}

int mc_recipe_edit_add_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	group_deinit(&g);
	add_optlist(L, lua_tostring(L, 1), 2);
	return 0;
}

int mc_recipe_edit_delete_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	size_t removed = group_delete(cfg_of(L), &g);
	group_deinit(&g);
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

int mc_recipe_edit_exists_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	bool found = group_exists(cfg_of(L), &g);
	group_deinit(&g);
	lua_pushboolean(L, found);
	return 1;
}

int mc_recipe_edit_get_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	push_group(L, cfg_of(L), &g);
	group_deinit(&g);
	return 1;
}

int mc_recipe_edit_add_channel(lua_State *L)
{
	return channel_call(L, mc_recipe_edit_add_group);
}

int mc_recipe_edit_delete_channel(lua_State *L)
{
	return channel_call(L, mc_recipe_edit_delete_group);
}

int mc_recipe_edit_exists_channel(lua_State *L)
{
	return channel_call(L, mc_recipe_edit_exists_group);
}

int mc_recipe_edit_get_channel(lua_State *L)
{
	return channel_call(L, mc_recipe_edit_get_group);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Push the sorted, unique names of the instances of a named group type. */
static void push_group_names(lua_State *L, const char *type)
{
	const struct mc_config *cfg = cfg_of(L);
	struct ms_buf tmpl;

	ms_buf_init(&tmpl);
	for (size_t i = 0; i < ms_optaliases_count; i++)
		if (strcasecmp(type, ms_optaliases[i].alias) == 0)
			type = ms_optaliases[i].canonical;
	ms_buf_printf(&tmpl, "%s:*.", type);
	bool known = false;
	for (size_t i = 0; i < ms_optdefs_count && !known; i++)
		known = strncasecmp(ms_optdefs[i].name, tmpl.data, tmpl.len) == 0;
	if (!known) {
		ms_buf_setf(&tmpl, "'%s' is not a type of named group (such as channel)", type);
		mc_recipe_raise(L, &tmpl);
	}
	/* The names point into cfg, which nothing changes while they are pushed. */
	const char **names = ms_xcalloc(cfg->n + 1, sizeof(*names));
	size_t n = 0;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (strncasecmp(e->name.def->name, tmpl.data, tmpl.len) != 0 || e->name.nnames == 0)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcmp(names[k], e->name.names[0]) == 0;
		if (!dup)
			names[n++] = e->name.names[0];
	}
	qsort(names, n, sizeof(*names), cmp_str);
	ms_buf_deinit(&tmpl);
	lua_createtable(L, (int)n, 0);
	for (size_t k = 0; k < n; k++) {
		lua_pushstring(L, names[k]);
		lua_seti(L, -2, (lua_Integer)k + 1);
	}
	free(names);
}

int mc_recipe_edit_list_channels(lua_State *L)
{
	const char *t = ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME].name;
	char *type = ms_xstrndup(t, (size_t)(strchr(t, ':') - t));
	lua_pushstring(L, type);
	free(type);
	push_group_names(L, lua_tostring(L, -1));
	return 1;
}

int mc_recipe_edit_list_groups(lua_State *L)
{
	push_group_names(L, luaL_checkstring(L, 1));
	return 1;
}

/* ---- rule lists: rewrite rules and mapping tables ---- */

/* The option that holds the rules: mapping:NAME.rule, or rewrite.rule. */
static void rule_name(struct ms_optname *n, const char *mapping)
{
	if (mapping != NULL)
		mc_recipe_make_name(n, MS_OPT_MAPPING_RULE, mapping);
	else
		mc_recipe_make_name(n, MS_OPT_REWRITE_RULE, NULL);
}

static const char *check_mapping(lua_State *L, int idx)
{
	const char *name = luaL_checkstring(L, idx);
	if (*name == '\0' || strpbrk(name, " \t\r\n") != NULL)
		luaL_error(L, "'%s' is not a mapping table name", name);
	return name;
}

/* A pattern may hold a blank only as "$ " (the mapping-file escape). */
static bool pattern_ok(const char *p)
{
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		if (*p == '$' && p[1] != '\0')
			p++;
		else if (*p == ' ' || *p == '\t')
			return false;
	}
	return true;
}

/*
 * The rules of the list at idx as "PATTERN TEMPLATE" strings: the seed's
 * flat {pattern, template, ...}, or a list of pairs {{pattern, template},
 * ...}.  NULL with why when the list is malformed.  Caller frees.
 */
static char **rule_values(lua_State *L, int idx, size_t *n_r, struct ms_buf *why)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
	bool pairs = len > 0 && lua_rawgeti(L, idx, 1) == LUA_TTABLE;
	lua_pop(L, 1);
	size_t count = pairs ? (size_t)len : (size_t)len / 2;
	char **v = ms_xcalloc(count + 1, sizeof(*v));

	if (len == 0 || (!pairs && len % 2 != 0)) {
		ms_buf_setf(why, "a rule list is {pattern, template, ...}; got %lld element%s",
		            (long long)len, len == 1 ? "" : "s");
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		if (pairs) {
			if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TTABLE) {
				lua_pop(L, 1);
				ms_buf_setf(why, "rule %zu is not a {pattern, template} pair",
				            i + 1);
				goto fail;
			}
			lua_rawgeti(L, -1, 1);
			lua_rawgeti(L, -2, 2);
			lua_remove(L, -3);
		} else {
			lua_rawgeti(L, idx, (lua_Integer)(2 * i + 1));
			lua_rawgeti(L, idx, (lua_Integer)(2 * i + 2));
		}
		const char *p = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		if (p == NULL || t == NULL || !pattern_ok(p) || t[strspn(t, " \t")] == '\0' ||
		    !mc_recipe_utf8_ok(p) || !mc_recipe_utf8_ok(t)) {
			ms_buf_setf(why,
			            "rule %zu: the pattern and the template must be non-empty "
			            "UTF-8 strings, and a blank in a pattern is written \"$ \"",
			            i + 1);
			lua_pop(L, 2);
			goto fail;
		}
		v[i] = ms_xasprintf("%s %s", p, t);
		lua_pop(L, 2);
	}
	*n_r = count;
	return v;
fail:
	for (size_t i = 0; i < count; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_values(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Move entry i to position pos among the values of its option (renumbers ord). */
static void move_to(struct mc_config *cfg, size_t i, size_t pos)
{
	size_t *idx;
	size_t n = mc_recipe_values_key(cfg, cfg->entries[i].key, cfg->entries[i].name.scope, &idx);
	size_t at = 0;

	while (at < n && idx[at] != i)
		at++;
	for (; at > pos; at--)
		idx[at] = idx[at - 1];
	idx[pos] = i;
	for (size_t k = 0; k < n; k++)
		cfg->entries[idx[k]].ord = cfg->next_ord++;
	free(idx);
}

static void rules_add(lua_State *L, const char *mapping, int idx, bool prepend)
{
	struct ms_buf why;
	size_t n = 0, pos = 0;
	struct ms_optname name;

	ms_buf_init(&why);
	char **values = rule_values(L, idx, &n, &why);
	if (values == NULL)
		mc_recipe_raise(L, &why);
	struct mc_config *copy = mc_recipe_edit_begin(L);
	rule_name(&name, mapping);
	for (size_t i = 0; i < n; i++) {
		size_t before = copy->n;
		if (mc_config_set(copy, &name, values[i], 0, mc_user_name(), NULL, &why) < 0) {
			ms_optname_deinit(&name);
			free_values(values, n);
			mc_config_free(&copy);
			mc_recipe_raise(L, &why);
		}
		/* A rule already in the list stays where it is (no duplicates). */
		if (prepend && copy->n > before)
			move_to(copy, copy->n - 1, pos++);
	}
	ms_optname_deinit(&name);
	free_values(values, n);
	mc_recipe_edit_commit(L, &copy);
	ms_buf_deinit(&why);
}

/* Push the rules as the seed's flat optlist {pattern, template, ...}. */
static int rules_push(lua_State *L, const char *mapping)
{
	struct ms_optname name;
	size_t *idx;
	const struct mc_config *cfg = cfg_of(L);

	rule_name(&name, mapping);
	size_t n = mc_recipe_values(cfg, &name, &idx);
	ms_optname_deinit(&name);
	char **pt = ms_xcalloc(2 * n + 1, sizeof(*pt));
	for (size_t i = 0; i < n; i++)
		mc_rule_split(cfg->entries[idx[i]].value, &pt[2 * i], &pt[2 * i + 1]);
	free(idx);
	lua_createtable(L, (int)(2 * n), 0);
	for (size_t i = 0; i < 2 * n; i++) {
		lua_pushstring(L, pt[i]);
		lua_seti(L, -2, (lua_Integer)i + 1);
	}
	free_values(pt, 2 * n);
	return 1;
}

/* Remove the listed rules, or every rule when the list is absent. */
static int rules_delete(lua_State *L, const char *mapping, int idx)
{
	struct ms_optname name;
	struct ms_buf why;
	size_t removed = 0, n = 0;
	char **values = NULL;

	ms_buf_init(&why);
	if (!lua_isnoneornil(L, idx) && (values = rule_values(L, idx, &n, &why)) == NULL)
		mc_recipe_raise(L, &why);
	ms_buf_deinit(&why);
	rule_name(&name, mapping);
	if (values == NULL)
		removed = mc_config_unset(cfg_of(L), &name, NULL);
	for (size_t i = 0; i < n; i++)
		removed += mc_config_unset(cfg_of(L), &name, values[i]);
	ms_optname_deinit(&name);
	free_values(values, n);
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

int mc_recipe_edit_get_mapping(lua_State *L)
{
	return rules_push(L, check_mapping(L, 1));
}

int mc_recipe_edit_exists_mapping(lua_State *L)
{
	rules_push(L, check_mapping(L, 1));
	lua_pushboolean(L, lua_rawlen(L, -1) > 0);
	return 1;
}

int mc_recipe_edit_prepend_mapping(lua_State *L)
{
	rules_add(L, check_mapping(L, 1), 2, true);
	return 0;
}

int mc_recipe_edit_append_mapping(lua_State *L)
{
	rules_add(L, check_mapping(L, 1), 2, false);
	return 0;
}

int mc_recipe_edit_delete_mapping(lua_State *L)
{
	return rules_delete(L, check_mapping(L, 1), 2);
}

int mc_recipe_edit_get_rewrites(lua_State *L)
{
	return rules_push(L, NULL);
}

int mc_recipe_edit_append_rewrites(lua_State *L)
{
	rules_add(L, NULL, 1, false);
	return 0;
}

int mc_recipe_edit_prepend_rewrites(lua_State *L)
{
	rules_add(L, NULL, 1, true);
	return 0;
}

int mc_recipe_edit_delete_rewrites(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	return rules_delete(L, NULL, 1);
}

/* ---- aliases ---- */

static const char *check_alias(lua_State *L, int idx)
{
	const char *name = luaL_checkstring(L, idx);
	if (*name == '\0' || strpbrk(name, " \t\r\n") != NULL)
		luaL_error(L, "'%s' is not an alias name", name);
	return name;
}

int mc_recipe_edit_add_alias(lua_State *L)
{
	const char *alias = check_alias(L, 1);
	struct ms_optname name;
	struct ms_buf why;

	if (lua_type(L, 2) == LUA_TSTRING) {
		lua_createtable(L, 1, 0);
		lua_pushvalue(L, 2);
		lua_seti(L, -2, 1);
		lua_replace(L, 2);
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_Integer len = (lua_Integer)lua_rawlen(L, 2);
	if (len == 0)
		luaL_error(L, "alias %s needs at least one address", alias);
	for (lua_Integer i = 1; i <= len; i++)
		if (lua_rawgeti(L, 2, i) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
		    !mc_recipe_utf8_ok(lua_tostring(L, -1)))
			luaL_error(L, "alias %s: address %d is not a non-empty UTF-8 string", alias,
			           (int)i);
	lua_settop(L, 2);
	ms_buf_init(&why);
	mc_recipe_make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, alias);
	struct mc_config *copy = mc_recipe_edit_begin(L);
	for (lua_Integer i = 1; i <= len; i++) {
		lua_rawgeti(L, 2, i);
		int r =
		    mc_config_set(copy, &name, lua_tostring(L, -1), 0, mc_user_name(), NULL, &why);
		lua_pop(L, 1);
		if (r < 0) {
			ms_optname_deinit(&name);
			mc_config_free(&copy);
			mc_recipe_raise(L, &why);
		}
	}
	ms_optname_deinit(&name);
	mc_recipe_edit_commit(L, &copy);
	ms_buf_deinit(&why);
	return 0;
}

int mc_recipe_edit_get_alias(lua_State *L)
{
	struct ms_optname name;
	size_t *idx;
	const struct mc_config *cfg = cfg_of(L);

	mc_recipe_make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, check_alias(L, 1));
	size_t n = mc_recipe_values(cfg, &name, &idx);
	ms_optname_deinit(&name);
	/* lua_createtable may fail for memory: idx would leak; push strings first. */
	for (size_t i = 0; i < n; i++)
		lua_pushstring(L, cfg->entries[idx[i]].value);
	free(idx);
	lua_createtable(L, (int)n, 0);
	for (size_t i = n; i > 0; i--) {
		lua_insert(L, -2);
		lua_seti(L, -2, (lua_Integer)i);
	}
	return 1;
}

int mc_recipe_edit_delete_alias(lua_State *L)
{
	const char *alias = check_alias(L, 1);
	size_t removed;

	if (!lua_isnoneornil(L, 2)) {
		struct ms_optname name;
		mc_recipe_make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, alias);
		removed = mc_config_unset(cfg_of(L), &name, luaL_checkstring(L, 2));
		ms_optname_deinit(&name);
	} else {
		struct group_ref g;
		struct ms_buf why;
		char *path = named_group_path(MS_OPT_ALIAS_ALIAS_ENTRY, alias);
		ms_buf_init(&why);
		int r = group_parse(path, &g, &why);
		free(path);
		if (r < 0)
			mc_recipe_raise(L, &why);
		ms_buf_deinit(&why);
		removed = group_delete(cfg_of(L), &g);
		group_deinit(&g);
	}
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

int mc_recipe_edit_exists_alias(lua_State *L)
{
	mc_recipe_edit_get_alias(L);
	lua_pushboolean(L, lua_rawlen(L, -1) > 0);
	return 1;
}
