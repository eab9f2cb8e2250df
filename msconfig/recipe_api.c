/*
 * recipe_api: the built-in functions of the recipe language (see recipe.h),
 * all in one table, mc_recipe_builtins[] (STYLE 3).  `help Recipe_language`
 * and docs/recipes.md are written from that table.
 *
 * Every built-in edits the run's configuration only through the model
 * (mc_config_set / mc_config_unset), so values are checked, options are
 * placed in role or instance, exclusive families and multi-values behave
 * exactly as they do for `msconfig set`.  A built-in that changes several
 * options (add_channel, append_rewrites with several rules...) works on a
 * copy and swaps it in only when every change was accepted, so even a
 * recipe that catches the error with pcall never sees half of one.
 *
 * Lua errors unwind with longjmp: every function here frees its C memory
 * before it raises one (raise_buf()).  Values cross into Lua as strings,
 * the seed's types: "0"/"1" for booleans, "" for a flag that is set.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>

#include "model.h"
#include "recipe.h"

/* ---- errors ---- */

/* Raise "chunk:line: msg" and free msg first (msg is deinitialised). */
static int raise_buf(lua_State *L, struct ms_buf *msg)
{
	luaL_where(L, 1);
	lua_pushlstring(L, msg->data, msg->len);
	ms_buf_deinit(msg);
	lua_concat(L, 2);
	return lua_error(L);
}

static struct mc_config *cfg_of(lua_State *L)
{
	return mc_recipe_of(L)->cfg;
}

/* ---- a copy to edit, swapped in whole (atomic built-ins) ---- */

static struct mc_config *edit_begin(lua_State *L)
{
	return mc_config_clone(cfg_of(L));
}

static void edit_commit(lua_State *L, struct mc_config **copy)
{
	struct mc_config *cfg = cfg_of(L), tmp = *cfg;
	*cfg = **copy;
	**copy = tmp;
	mc_config_free(copy);
}

/* ---- option names ---- */

/* A name for option id with one group name (or none). */
static void make_name(struct ms_optname *n, enum ms_opt id, const char *name0)
{
	memset(n, 0, sizeof(*n));
	n->scope = MS_SCOPE_NONE;
	n->id = id;
	n->def = &ms_optdefs[id];
	if (name0 != NULL) {
		n->nnames = 1;
		n->names[0] = ms_xstrdup(name0);
	}
}

/* Parse arg idx as an option name, or raise. */
static void check_name(lua_State *L, int idx, struct ms_optname *n)
{
	const char *text = luaL_checkstring(L, idx);
	struct ms_buf why;

	ms_buf_init(&why);
	if (ms_optname_parse(text, n, &why) < 0)
		raise_buf(L, &why);
	ms_buf_deinit(&why);
}

/* Indexes of the values of key, ordered, where they take effect: the named
 * scope, else instance when set there, else role.  Caller frees. */
static size_t effective(const struct mc_config *cfg, const char *key, enum ms_scope scope,
			size_t **idx_r)
{
	size_t *idx = ms_xcalloc(cfg->n + 1, sizeof(*idx)), n = 0;

	if (scope == MS_SCOPE_NONE)
		scope = mc_config_find(cfg, MS_SCOPE_INSTANCE, key) >= 0 ? MS_SCOPE_INSTANCE
									   : MS_SCOPE_ROLE;
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->entries[i].name.scope == scope && strcmp(cfg->entries[i].key, key) == 0)
			idx[n++] = i;
	/* insertion sort by ord: lists are short */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && cfg->entries[idx[j]].ord < cfg->entries[idx[j - 1]].ord;
		     j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	*idx_r = idx;
	return n;
}

static size_t effective_of(const struct mc_config *cfg, const struct ms_optname *n,
			   size_t **idx_r)
{
	struct ms_buf key;
	ms_buf_init(&key);
	ms_optname_key(n, &key);
	size_t count = effective(cfg, key.data, n->scope, idx_r);
	ms_buf_deinit(&key);
	return count;
}

/*
 * The option value of Lua value idx for def, as a string in *value_r
 * (NULL: a Lua error message is in why).  nil means "on" for flags and
 * booleans, as `set NAME` does.
 */
static char *value_of(lua_State *L, int idx, const struct ms_optdef *def, const char *display,
		      struct ms_buf *why)
{
	switch (lua_type(L, idx)) {
	case LUA_TNONE:
	case LUA_TNIL:
		if (def->type == MS_OPT_TYPE_FLAG)
			return ms_xstrdup("");
		if (def->type == MS_OPT_TYPE_BOOLEAN)
			return ms_xstrdup("1");
		ms_buf_setf(why, "%s needs a value (msconfig help %s)", display, display);
		return NULL;
	case LUA_TBOOLEAN:
		if (def->type == MS_OPT_TYPE_FLAG && lua_toboolean(L, idx))
			return ms_xstrdup("");
		if (def->type == MS_OPT_TYPE_FLAG) {
			ms_buf_setf(why, "%s is a flag: remove it with delete_option", display);
			return NULL;
		}
		return ms_xstrdup(lua_toboolean(L, idx) ? "1" : "0");
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return ms_xasprintf("%lld", (long long)lua_tointeger(L, idx));
		{
			lua_Number d = lua_tonumber(L, idx);
			if (d == (lua_Number)(long long)d)
				return ms_xasprintf("%lld", (long long)d);
			return ms_xasprintf("%.14g", (double)d);
		}
	case LUA_TSTRING:
		return ms_xstrdup(lua_tostring(L, idx));
	default:
		ms_buf_setf(why, "%s takes a string value, not a %s", display,
			    luaL_typename(L, idx));
		return NULL;
	}
}

/* Set n = value idx in cfg; 0, or -1 with why.  Notes go to the run's err. */
static int set_value(lua_State *L, struct mc_config *cfg, const struct ms_optname *n, int idx,
		     struct ms_buf *why)
{
	struct ms_buf disp, notes;
	int ret = -1;

	ms_buf_init(&disp);
	ms_buf_init(&notes);
	ms_optname_display(n, false, &disp);
	char *value = value_of(L, idx, n->def, disp.data, why);
	if (value != NULL &&
	    mc_config_set(cfg, n, value, 0, mc_user_name(), &notes, why) == 0) {
		struct mc_recipe *r = mc_recipe_of(L);
		fflush(r->out);
		fputs(notes.data, r->err);
		ret = 0;
	}
	free(value);
	ms_buf_deinit(&disp);
	ms_buf_deinit(&notes);
	return ret;
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
		ms_buf_setf(why, "'%s' is not a group of options (msconfig help options lists them)",
			    text);
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
		raise_buf(L, &why);
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
			r = set_value(L, copy, &n, -1, why);
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
	lua_Integer len = luaL_len(L, idx);
	if (len % 2 != 0)
		luaL_error(L, "the option list must alternate names and values (%d elements)",
			   (int)len);
	ms_buf_init(&why);
	struct mc_config *copy = edit_begin(L);
	if (len > 0) {
		/* the seed's flat list {name, value, ...} */
		for (lua_Integer i = 1; r == 0 && i <= len; i += 2, count++) {
			lua_geti(L, idx, i);
			lua_geti(L, idx, i + 1);
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
		ms_buf_setf(&why, "%s: the option list is empty (a group exists only through its "
				  "options)",
			    path);
		r = -1;
	}
	if (r != 0) {
		mc_config_free(&copy);
		raise_buf(L, &why);
	}
	edit_commit(L, &copy);
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

/* ---- options ---- */

static int bi_set_option(lua_State *L)
{
	struct ms_optname n;
	struct ms_buf why;

	check_name(L, 1, &n);
	ms_buf_init(&why);
	int r = set_value(L, cfg_of(L), &n, 2, &why);
	ms_optname_deinit(&n);
	if (r < 0)
		return raise_buf(L, &why);
	ms_buf_deinit(&why);
	return 0;
}

static int bi_get_option(lua_State *L)
{
	struct ms_optname n;
	size_t *idx;

	check_name(L, 1, &n);
	const struct mc_config *cfg = cfg_of(L);
	size_t count = effective_of(cfg, &n, &idx);
	bool multi = (n.def->flags & MS_OPTF_MULTI) != 0;
	const char *defval = n.def->defval;
	ms_optname_deinit(&n);
	if (count > 0 && multi) {
		lua_createtable(L, (int)count, 0);
		for (size_t i = 0; i < count; i++) {
			lua_pushstring(L, cfg->entries[idx[i]].value);
			lua_seti(L, -2, (lua_Integer)i + 1);
		}
	} else if (count > 0) {
		lua_pushstring(L, cfg->entries[idx[0]].value);
	} else if (!lua_isnoneornil(L, 2)) {
		lua_pushvalue(L, 2);
	} else if (defval != NULL) {
		lua_pushstring(L, defval);
	} else {
		lua_pushnil(L);
	}
	free(idx);
	return 1;
}

static int bi_delete_option(lua_State *L)
{
	struct ms_optname n;

	check_name(L, 1, &n);
	const char *value = luaL_optstring(L, 2, NULL);
	size_t removed = mc_config_unset(cfg_of(L), &n, value);
	ms_optname_deinit(&n);
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

static int bi_exists_option(lua_State *L)
{
	struct ms_optname n;
	size_t *idx;

	check_name(L, 1, &n);
	size_t count = effective_of(cfg_of(L), &n, &idx);
	ms_optname_deinit(&n);
	free(idx);
	lua_pushboolean(L, count > 0);
	return 1;
}

static bool option_matches(const char *pattern, const struct mc_entry *e)
{
	struct ms_buf b;
	bool m;

	ms_buf_init(&b);
	ms_optname_display(&e->name, true, &b);
	m = fnmatch(pattern, b.data, FNM_CASEFOLD) == 0;
	if (!m) {
		ms_buf_reset(&b);
		ms_optname_display(&e->name, false, &b);
		m = fnmatch(pattern, b.data, FNM_CASEFOLD) == 0;
	}
	if (!m) {
		ms_buf_reset(&b);
		ms_optname_key(&e->name, &b);
		m = fnmatch(pattern, b.data, FNM_CASEFOLD) == 0;
	}
	ms_buf_deinit(&b);
	return m;
}

static int bi_list_options(lua_State *L)
{
	const char *pattern = luaL_optstring(L, 1, "*");
	struct mc_config *sorted = mc_config_clone(cfg_of(L));
	struct ms_buf b;
	lua_Integer k = 1;

	mc_config_sort(sorted);
	ms_buf_init(&b);
	lua_newtable(L);
	for (size_t i = 0; i < sorted->n; i++) {
		const struct mc_entry *e = &sorted->entries[i];
		if (!option_matches(pattern, e))
			continue;
		/* one name per option, not per value of a multi-valued one */
		if (i > 0 && sorted->entries[i - 1].name.scope == e->name.scope &&
		    strcmp(sorted->entries[i - 1].key, e->key) == 0)
			continue;
		ms_buf_reset(&b);
		ms_optname_display(&e->name, true, &b);
		lua_pushstring(L, b.data);
		lua_seti(L, -2, k++);
	}
	ms_buf_deinit(&b);
	mc_config_free(&sorted);
	return 1;
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

static int bi_add_group(lua_State *L)
{
	struct group_ref g;
	struct ms_buf why;

	check_group(L, 1, &g);
	group_deinit(&g);
	ms_buf_init(&why);
	add_optlist(L, lua_tostring(L, 1), 2);
	ms_buf_deinit(&why);
	return 0;
}

static int bi_delete_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	size_t removed = group_delete(cfg_of(L), &g);
	group_deinit(&g);
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

static int bi_exists_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	bool found = group_exists(cfg_of(L), &g);
	group_deinit(&g);
	lua_pushboolean(L, found);
	return 1;
}

static int bi_get_group(lua_State *L)
{
	struct group_ref g;

	check_group(L, 1, &g);
	push_group(L, cfg_of(L), &g);
	group_deinit(&g);
	return 1;
}

static int bi_add_channel(lua_State *L)
{
	return channel_call(L, bi_add_group);
}

static int bi_delete_channel(lua_State *L)
{
	return channel_call(L, bi_delete_group);
}

static int bi_exists_channel(lua_State *L)
{
	return channel_call(L, bi_exists_group);
}

static int bi_get_channel(lua_State *L)
{
	return channel_call(L, bi_get_group);
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
		raise_buf(L, &tmpl);
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

static int bi_list_channels(lua_State *L)
{
	const char *t = ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME].name;
	char *type = ms_xstrndup(t, (size_t)(strchr(t, ':') - t));
	lua_pushstring(L, type);
	free(type);
	push_group_names(L, lua_tostring(L, -1));
	return 1;
}

static int bi_list_groups(lua_State *L)
{
	push_group_names(L, luaL_checkstring(L, 1));
	return 1;
}

/* ---- rule lists: rewrite rules and mapping tables ---- */

/* The option that holds the rules: mapping:NAME.rule, or rewrite.rule. */
static void rule_name(struct ms_optname *n, const char *mapping)
{
	if (mapping != NULL)
		make_name(n, MS_OPT_MAPPING_RULE, mapping);
	else
		make_name(n, MS_OPT_REWRITE_RULE, NULL);
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
	lua_Integer len = luaL_len(L, idx);
	bool pairs = len > 0 && lua_geti(L, idx, 1) == LUA_TTABLE;
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
			if (lua_geti(L, idx, (lua_Integer)i + 1) != LUA_TTABLE) {
				lua_pop(L, 1);
				ms_buf_setf(why, "rule %zu is not a {pattern, template} pair", i + 1);
				goto fail;
			}
			lua_geti(L, -1, 1);
			lua_geti(L, -2, 2);
			lua_remove(L, -3);
		} else {
			lua_geti(L, idx, (lua_Integer)(2 * i + 1));
			lua_geti(L, idx, (lua_Integer)(2 * i + 2));
		}
		const char *p = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		if (p == NULL || t == NULL || !pattern_ok(p) || t[strspn(t, " \t")] == '\0') {
			ms_buf_setf(why,
				    "rule %zu: the pattern and the template must be non-empty "
				    "strings, and a blank in a pattern is written \"$ \"",
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
	size_t n = effective(cfg, cfg->entries[i].key, cfg->entries[i].name.scope, &idx);
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
		raise_buf(L, &why);
	struct mc_config *copy = edit_begin(L);
	rule_name(&name, mapping);
	for (size_t i = 0; i < n; i++) {
		size_t before = copy->n;
		if (mc_config_set(copy, &name, values[i], 0, mc_user_name(), NULL, &why) < 0) {
			ms_optname_deinit(&name);
			free_values(values, n);
			mc_config_free(&copy);
			raise_buf(L, &why);
		}
		/* A rule already in the list stays where it is (no duplicates). */
		if (prepend && copy->n > before)
			move_to(copy, copy->n - 1, pos++);
	}
	ms_optname_deinit(&name);
	free_values(values, n);
	edit_commit(L, &copy);
	ms_buf_deinit(&why);
}

/* Push the rules as the seed's flat optlist {pattern, template, ...}. */
static int rules_push(lua_State *L, const char *mapping)
{
	struct ms_optname name;
	size_t *idx;
	const struct mc_config *cfg = cfg_of(L);

	rule_name(&name, mapping);
	size_t n = effective_of(cfg, &name, &idx);
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
		raise_buf(L, &why);
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

static int bi_get_mapping(lua_State *L)
{
	return rules_push(L, check_mapping(L, 1));
}

static int bi_exists_mapping(lua_State *L)
{
	rules_push(L, check_mapping(L, 1));
	lua_pushboolean(L, lua_rawlen(L, -1) > 0);
	return 1;
}

static int bi_prepend_mapping(lua_State *L)
{
	rules_add(L, check_mapping(L, 1), 2, true);
	return 0;
}

static int bi_append_mapping(lua_State *L)
{
	rules_add(L, check_mapping(L, 1), 2, false);
	return 0;
}

static int bi_delete_mapping(lua_State *L)
{
	return rules_delete(L, check_mapping(L, 1), 2);
}

static int bi_get_rewrites(lua_State *L)
{
	return rules_push(L, NULL);
}

static int bi_append_rewrites(lua_State *L)
{
	rules_add(L, NULL, 1, false);
	return 0;
}

static int bi_prepend_rewrites(lua_State *L)
{
	rules_add(L, NULL, 1, true);
	return 0;
}

static int bi_delete_rewrites(lua_State *L)
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

static int bi_add_alias(lua_State *L)
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
	lua_Integer len = luaL_len(L, 2);
	if (len == 0)
		luaL_error(L, "alias %s needs at least one address", alias);
	for (lua_Integer i = 1; i <= len; i++)
		if (lua_geti(L, 2, i) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
			luaL_error(L, "alias %s: address %d is not a non-empty string", alias,
				   (int)i);
	lua_settop(L, 2);
	ms_buf_init(&why);
	make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, alias);
	struct mc_config *copy = edit_begin(L);
	for (lua_Integer i = 1; i <= len; i++) {
		lua_geti(L, 2, i);
		int r = mc_config_set(copy, &name, lua_tostring(L, -1), 0, mc_user_name(), NULL,
				      &why);
		lua_pop(L, 1);
		if (r < 0) {
			ms_optname_deinit(&name);
			mc_config_free(&copy);
			raise_buf(L, &why);
		}
	}
	ms_optname_deinit(&name);
	edit_commit(L, &copy);
	ms_buf_deinit(&why);
	return 0;
}

static int bi_get_alias(lua_State *L)
{
	struct ms_optname name;
	size_t *idx;
	const struct mc_config *cfg = cfg_of(L);

	make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, check_alias(L, 1));
	size_t n = effective_of(cfg, &name, &idx);
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

static int bi_delete_alias(lua_State *L)
{
	const char *alias = check_alias(L, 1);
	size_t removed;

	if (!lua_isnoneornil(L, 2)) {
		struct ms_optname name;
		make_name(&name, MS_OPT_ALIAS_ALIAS_ENTRY, alias);
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
			raise_buf(L, &why);
		ms_buf_deinit(&why);
		removed = group_delete(cfg_of(L), &g);
		group_deinit(&g);
	}
	lua_pushinteger(L, (lua_Integer)removed);
	return 1;
}

static int bi_exists_alias(lua_State *L)
{
	bi_get_alias(L);
	lua_pushboolean(L, lua_rawlen(L, -1) > 0);
	return 1;
}

/* ---- questions ---- */

static int bi_read(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);
	const char *question = luaL_optstring(L, 1, "");
	const char *name = luaL_optstring(L, 2, NULL);
	char autoname[32];
	struct ms_buf why;
	bool asked;

	if (name == NULL) {
		/* Unnamed reads are answered by -D READ1=..., READ2=..., in order. */
		snprintf(autoname, sizeof(autoname), "READ%u", ++r->nreads);
		name = autoname;
	}
	ms_buf_init(&why);
	char *a = mc_recipe_answer(r, name, question, "", &asked, &why);
	if (a == NULL)
		return raise_buf(L, &why);
	ms_buf_deinit(&why);
	lua_pushstring(L, a);
	free(a);
	return 1;
}

/* Check the answer on top with the validator at vidx: true, or false and a reason on top. */
static bool validate(lua_State *L, int vidx)
{
	int answer = lua_gettop(L);

	if (lua_type(L, vidx) == LUA_TSTRING) {
		lua_getglobal(L, LUA_STRLIBNAME);
		lua_getfield(L, -1, "find");
		lua_remove(L, -2);
		lua_pushvalue(L, answer);
		lua_pushfstring(L, "^%s$", lua_tostring(L, vidx));
		lua_call(L, 2, 1);
		bool ok = !lua_isnil(L, -1);
		lua_pop(L, 1);
		if (!ok)
			lua_pushfstring(L, "it must match the pattern %s", lua_tostring(L, vidx));
		return ok;
	}
	lua_pushvalue(L, vidx);
	lua_pushvalue(L, answer);
	lua_call(L, 1, 2);
	bool ok = lua_toboolean(L, -2);
	if (ok) {
		lua_pop(L, 2);
		return true;
	}
	if (!lua_isstring(L, -1)) {
		lua_pop(L, 1);
		lua_pushliteral(L, "the recipe does not accept it");
	}
	lua_remove(L, -2);
	return false;
}

static int bi_prompt(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);
	const char *name = luaL_checkstring(L, 1);
	const char *question = luaL_checkstring(L, 2);
	const char *def = luaL_optstring(L, 3, NULL);
	int vt = lua_type(L, 4);
	struct ms_buf why;
	bool asked;

	if (vt != LUA_TNONE && vt != LUA_TNIL && vt != LUA_TFUNCTION && vt != LUA_TSTRING)
		luaL_typeerror(L, 4, "function or pattern");
	lua_settop(L, 4);
	for (int attempt = 0; attempt < 5; attempt++) {
		ms_buf_init(&why);
		char *a = mc_recipe_answer(r, name, question, def, &asked, &why);
		if (a == NULL)
			return raise_buf(L, &why);
		ms_buf_deinit(&why);
		lua_pushstring(L, a);
		free(a);
		if (vt == LUA_TNIL || vt == LUA_TNONE || validate(L, 4))
			return 1;
		if (!asked)
			return luaL_error(L, "the answer '%s' to %s is not valid: %s",
					  lua_tostring(L, -2), name, lua_tostring(L, -1));
		fflush(r->out);
		fprintf(r->err, "'%s' is not valid: %s\n", lua_tostring(L, -2),
			lua_tostring(L, -1));
		lua_settop(L, 4);
	}
	return luaL_error(L, "no valid answer to %s after 5 tries", name);
}

/* ---- output ---- */

static void put_args(lua_State *L, FILE *f)
{
	int n = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		fwrite(s, 1, len, f);
		lua_pop(L, 1);
	}
}

static int bi_print(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);
	put_args(L, r->out);
	fflush(r->out);
	return 0;
}

static int bi_warn(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);
	int n = lua_gettop(L);

	fflush(r->out);
	put_args(L, r->err);
	size_t len = 0;
	const char *last = n > 0 ? luaL_tolstring(L, n, &len) : "";
	if (len == 0 || last[len - 1] != '\n')
		fputc('\n', r->err);
	fflush(r->err);
	return 0;
}

/* ---- lists and metadata ---- */

static int bi_length(lua_State *L)
{
	switch (lua_type(L, 1)) {
	case LUA_TNIL:
	case LUA_TNONE:
		lua_pushinteger(L, 0);
		return 1;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, 1, &len);
		/* characters when the string is UTF-8, else bytes */
		lua_Integer chars = 0;
		for (size_t i = 0; i < len; i++)
			chars += ((unsigned char)s[i] & 0xC0) != 0x80;
		lua_pushinteger(L, chars);
		return 1;
	}
	case LUA_TTABLE:
		lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
		return 1;
	default:
		return luaL_typeerror(L, 1, "string or list");
	}
}

static int bi_push(lua_State *L)
{
	int n = lua_gettop(L);

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer len = (lua_Integer)lua_rawlen(L, 1);
	for (int i = 2; i <= n; i++) {
		lua_pushvalue(L, i);
		lua_rawseti(L, 1, ++len);
	}
	lua_settop(L, 1);
	return 1;
}

static int bi_exists_optlist(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	lua_Integer len = (lua_Integer)lua_rawlen(L, 1);
	for (lua_Integer i = 1; i <= len; i++) {
		int t = lua_rawgeti(L, 1, i);
		if (t == LUA_TTABLE) {
			lua_rawgeti(L, -1, 1); /* a {name, value} pair */
			lua_remove(L, -2);
		} else if (i % 2 == 0) {
			lua_pop(L, 1); /* a value of the flat list */
			continue;
		}
		bool eq = lua_rawequal(L, -1, 2);
		lua_pop(L, 1);
		if (eq) {
			lua_pushboolean(L, 1);
			return 1;
		}
	}
	lua_pushboolean(L, 0);
	return 1;
}

static int bi_description(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);
	const char *d = luaL_checkstring(L, 1);
	free(r->description);
	r->description = ms_xstrdup(d);
	return 0;
}

static int bi_keywords(lua_State *L)
{
	struct mc_recipe *r = mc_recipe_of(L);

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer len = (lua_Integer)lua_rawlen(L, 1);
	for (lua_Integer i = 1; i <= len; i++) {
		if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
			luaL_error(L, "keywords must be strings (element %d)", (int)i);
		lua_pop(L, 1);
	}
	for (size_t i = 0; i < r->nkeywords; i++)
		free(r->keywords[i]);
	free(r->keywords);
	r->keywords = ms_xcalloc((size_t)len + 1, sizeof(*r->keywords));
	r->nkeywords = 0;
	for (lua_Integer i = 1; i <= len; i++) {
		lua_rawgeti(L, 1, i);
		r->keywords[r->nkeywords++] = ms_xstrdup(lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return 0;
}

/* ---- host facts ---- */

/* Push the effective value of a plain option, or nothing; returns whether it pushed. */
static bool push_plain(lua_State *L, enum ms_opt id)
{
	struct ms_optname name;
	size_t *idx;
	const struct mc_config *cfg = cfg_of(L);

	make_name(&name, id, NULL);
	size_t n = effective_of(cfg, &name, &idx);
	ms_optname_deinit(&name);
	const char *v = n > 0 ? cfg->entries[idx[0]].value : NULL;
	free(idx);
	if (v == NULL || *v == '\0')
		return false;
	lua_pushstring(L, v);
	return true;
}

static int bi_hostname(lua_State *L)
{
	char host[256];

	if (push_plain(L, MS_OPT_BASE_HOSTNAME))
		return 1;
	if (gethostname(host, sizeof(host)) < 0)
		return luaL_error(L, "the host name is not known (set base.hostname)");
	host[sizeof(host) - 1] = '\0';
	lua_pushstring(L, host);
	return 1;
}

static int bi_defaultdomain(lua_State *L)
{
	if (push_plain(L, MS_OPT_BASE_DEFAULTDOMAIN))
		return 1;
	bi_hostname(L);
	const char *dot = strchr(lua_tostring(L, -1), '.');
	if (dot != NULL && dot[1] != '\0')
		lua_pushstring(L, dot + 1);
	else
		lua_pushnil(L);
	return 1;
}

static int bi_version(lua_State *L)
{
	lua_pushstring(L, MS_VERSION);
	return 1;
}

/* ---- the table ---- */

const struct mc_recipe_builtin mc_recipe_builtins[] = {
	/* options */
	{"set_option", bi_set_option, "set_option(name[, value])", MC_RECIPE_SEED,
	 "Set an option, as msconfig set does: role./instance. placement, value "
	 "checks, exclusive families; a multi-valued option gets the value appended "
	 "unless it is already there.  With one argument a flag is set and a boolean "
	 "turned on.  Values are strings; numbers and true/false are converted."},
	{"get_option", bi_get_option, "get_option(name[, default])", MC_RECIPE_ADDED,
	 "The value in effect (instance before role): a string, or a list for a "
	 "multi-valued option; \"\" for a flag that is set.  When unset: default "
	 "if given, else the schema default, else nil."},
	{"delete_option", bi_delete_option, "delete_option(name[, value])", MC_RECIPE_ADDED,
	 "Remove an option (only that value of a multi-valued one); without role. "
	 "or instance. from both.  Returns the number of values removed."},
	{"exists_option", bi_exists_option, "exists_option(name)", MC_RECIPE_ADDED,
	 "True when the option is set (in role or instance, or where the name says)."},
	{"list_options", bi_list_options, "list_options([pattern])", MC_RECIPE_ADDED,
	 "The names (with role./instance.) of the options set that match the glob "
	 "pattern, as msconfig show matches them; default \"*\"."},
	/* channels and groups */
	{"add_channel", bi_add_channel, "add_channel(name, optlist)", MC_RECIPE_SEED,
	 "Create channel:NAME with the options of optlist, the seed's flat list "
	 "{\"flagtransfer\", \"\", \"official_host_name\", \"x-daemon\", ...} (\"\" for a "
	 "flag) or a Lua table {official_host_name = \"x-daemon\"}; an existing channel "
	 "keeps its other options.  All or nothing."},
	{"delete_channel", bi_delete_channel, "delete_channel(name)", MC_RECIPE_SEED,
	 "Remove the channel and every option of it; returns how many were removed."},
	{"exists_channel", bi_exists_channel, "exists_channel(name)", MC_RECIPE_SEED,
	 "True when the channel has at least one option."},
	{"get_channel", bi_get_channel, "get_channel(name)", MC_RECIPE_ADDED,
	 "The channel's options as a flat list {name, value, ...}."},
	{"list_channels", bi_list_channels, "list_channels()", MC_RECIPE_ADDED,
	 "The names of the channels, sorted."},
	{"add_group", bi_add_group, "add_group(path, optlist)", MC_RECIPE_SEED,
	 "Set the options of optlist under a group path such as "
	 "\"dispatcher.service:LMTPSS\"; the same list forms as add_channel.  All or "
	 "nothing."},
	{"delete_group", bi_delete_group, "delete_group(path)", MC_RECIPE_SEED,
	 "Remove every option under the group path; returns how many were removed."},
	{"exists_group", bi_exists_group, "exists_group(path)", MC_RECIPE_SEED,
	 "True when an option is set under the group path."},
	{"get_group", bi_get_group, "get_group(path)", MC_RECIPE_ADDED,
	 "The options under the group path as a flat list {name, value, ...}."},
	{"list_groups", bi_list_groups, "list_groups(type)", MC_RECIPE_ADDED,
	 "The names of the named groups of a type, such as \"dispatcher.service\" or "
	 "\"partition\", sorted."},
	/* mapping tables */
	{"get_mapping", bi_get_mapping, "get_mapping(name)", MC_RECIPE_SEED,
	 "The entries of a mapping table as the seed's flat optlist {pattern1, "
	 "template1, pattern2, template2, ...}, in order; {} when there is none."},
	{"exists_optlist", bi_exists_optlist, "exists_optlist(list, key)", MC_RECIPE_SEED,
	 "True when key is one of the names (odd positions) of a flat optlist, or the "
	 "first element of one of its pairs."},
	{"prepend_mapping", bi_prepend_mapping, "prepend_mapping(name, {pattern, template})",
	 MC_RECIPE_SEED,
	 "Put entries at the front of a mapping table, creating it if needed; several "
	 "pairs keep their order.  An entry already in the table stays where it is."},
	{"append_mapping", bi_append_mapping, "append_mapping(name, {pattern, template})",
	 MC_RECIPE_ADDED, "Put entries at the end of a mapping table (no duplicates)."},
	{"delete_mapping", bi_delete_mapping, "delete_mapping(name[, {pattern, template}])",
	 MC_RECIPE_ADDED,
	 "Remove the listed entries, or the whole table; returns how many were removed."},
	{"exists_mapping", bi_exists_mapping, "exists_mapping(name)", MC_RECIPE_ADDED,
	 "True when the mapping table has an entry."},
	/* rewrite rules */
	{"append_rewrites", bi_append_rewrites, "append_rewrites({pattern, template})",
	 MC_RECIPE_SEED,
	 "Add rewrite rules at the end of the list.  A rule that is already there is "
	 "not added again, so a recipe can run twice (the seed appended blindly)."},
	{"prepend_rewrites", bi_prepend_rewrites, "prepend_rewrites({pattern, template})",
	 MC_RECIPE_ADDED, "Add rewrite rules at the front of the list (no duplicates)."},
	{"get_rewrites", bi_get_rewrites, "get_rewrites()", MC_RECIPE_ADDED,
	 "The rewrite rules as a flat list {pattern, template, ...}, in order; find one "
	 "with exists_optlist(get_rewrites(), pattern)."},
	{"delete_rewrites", bi_delete_rewrites, "delete_rewrites({pattern, template})",
	 MC_RECIPE_ADDED, "Remove the listed rewrite rules; returns how many were removed."},
	/* aliases */
	{"add_alias", bi_add_alias, "add_alias(name, address or {address, ...})",
	 MC_RECIPE_ADDED, "Add addresses to alias:NAME (no duplicates)."},
	{"get_alias", bi_get_alias, "get_alias(name)", MC_RECIPE_ADDED,
	 "The addresses of an alias, a list ({} when there is none)."},
	{"delete_alias", bi_delete_alias, "delete_alias(name[, address])", MC_RECIPE_ADDED,
	 "Remove one address, or the whole alias; returns how many were removed."},
	{"exists_alias", bi_exists_alias, "exists_alias(name)", MC_RECIPE_ADDED,
	 "True when the alias has an address."},
	/* questions and output */
	{"read", bi_read, "read(prompt[, name])", MC_RECIPE_SEED,
	 "Ask for one line and return it without the newline (\"\" for an empty line). "
	 "Answered by -D NAME=VALUE when given; unnamed reads are READ1, READ2, ... in "
	 "the order asked.  -y answers \"\".  Without a terminal and an answer the "
	 "recipe fails and names the -D to give.  The name argument is ours."},
	{"prompt", bi_prompt, "prompt(name, question[, default[, validator]])",
	 MC_RECIPE_ADDED,
	 "Ask a question answered by -D NAME=VALUE, else the default under -y, else "
	 "on the terminal (an empty line takes the default).  validator is a function "
	 "returning true, or false and a reason; or a Lua pattern the whole answer must "
	 "match.  A terminal answer that fails is asked again; any other fails the recipe."},
	{"print", bi_print, "print(...)", MC_RECIPE_SEED,
	 "Write the arguments to standard output exactly, with no separator and no "
	 "newline added (the seed's print: give \"\\n\" yourself)."},
	{"write", bi_print, "write(...)", MC_RECIPE_SEED,
	 "The same as print.  It does not commit anything: see the transaction rule."},
	{"warn", bi_warn, "warn(...)", MC_RECIPE_SEED,
	 "Write the arguments to standard error, with a newline added when missing."},
	{"length", bi_length, "length(x)", MC_RECIPE_SEED,
	 "Characters of a string, elements of a list; 0 for nil."},
	{"push", bi_push, "push(list, value, ...)", MC_RECIPE_SEED,
	 "Append values to a list in place and return it (Icon's push prepends; the "
	 "samples need only \"add\")."},
	{"description", bi_description, "description(text)", MC_RECIPE_SEED,
	 "Record the recipe's one-line description."},
	{"keywords", bi_keywords, "keywords({word, ...})", MC_RECIPE_SEED,
	 "Record the recipe's keywords."},
	/* host facts */
	{"hostname", bi_hostname, "hostname()", MC_RECIPE_ADDED,
	 "base.hostname, else the system's host name."},
	{"defaultdomain", bi_defaultdomain, "defaultdomain()", MC_RECIPE_ADDED,
	 "base.defaultdomain, else the domain part of hostname(), else nil."},
	{"version", bi_version, "version()", MC_RECIPE_ADDED, "The product version."},
	{NULL, NULL, NULL, 0, NULL},
};

void mc_recipe_register(lua_State *L)
{
	for (const struct mc_recipe_builtin *b = mc_recipe_builtins; b->name != NULL; b++) {
		lua_pushcfunction(L, b->fn);
		lua_setglobal(L, b->name);
	}
}
