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
 * before it raises one (mc_recipe_raise()).  Values cross into Lua as strings,
 * the seed's types: "0"/"1" for booleans, "" for a flag that is set.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>

#include "model.h"
#include "recipe.h"

/* ---- errors ---- */

/* Raise "chunk:line: msg" and free msg first (msg is deinitialised). */
int mc_recipe_raise(lua_State *L, struct ms_buf *msg)
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

struct mc_config *mc_recipe_edit_begin(lua_State *L)
{
	return mc_config_clone(cfg_of(L));
}

void mc_recipe_edit_commit(lua_State *L, struct mc_config **copy)
{
	struct mc_config *cfg = cfg_of(L), tmp = *cfg;
	*cfg = **copy;
	**copy = tmp;
	mc_config_free(copy);
}

/* ---- option names ---- */

/* A name for option id with one group name (or none). */
void mc_recipe_make_name(struct ms_optname *n, enum ms_opt id, const char *name0)
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
		mc_recipe_raise(L, &why);
	ms_buf_deinit(&why);
}

/* Indexes of the values of key, ordered, where they take effect: the named
 * scope, else instance when set there, else role.  Caller frees. */
size_t mc_recipe_values_key(const struct mc_config *cfg, const char *key, enum ms_scope scope,
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

size_t mc_recipe_values(const struct mc_config *cfg, const struct ms_optname *n, size_t **idx_r)
{
	struct ms_buf key;
	ms_buf_init(&key);
	ms_optname_key(n, &key);
	size_t count = mc_recipe_values_key(cfg, key.data, n->scope, idx_r);
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

bool mc_recipe_utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = *p < 0x80             ? 0
		           : (*p & 0xE0) == 0xC0 ? 1
		           : (*p & 0xF0) == 0xE0 ? 2
		           : (*p & 0xF8) == 0xF0 ? 3
		                                 : 4;
		if (n == 4 || (n == 1 && *p < 0xC2))
			return false;
		unsigned long c = n == 0 ? *p : *p & (0x3F >> n);
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3F);
		}
		if ((n == 2 && c < 0x800) || (n == 3 && (c < 0x10000 || c > 0x10FFFF)) ||
		    (c >= 0xD800 && c <= 0xDFFF))
			return false;
		p += n + 1;
	}
	return true;
}

/* Set n = value idx in cfg; 0, or -1 with why.  Notes go to the run's err. */
int mc_recipe_set_value(lua_State *L, struct mc_config *cfg, const struct ms_optname *n, int idx,
                        struct ms_buf *why)
{
	struct ms_buf disp, notes;
	int ret = -1;

	ms_buf_init(&disp);
	ms_buf_init(&notes);
	ms_optname_display(n, false, &disp);
	char *value = value_of(L, idx, n->def, disp.data, why);
	if (value != NULL && !mc_recipe_utf8_ok(value)) {
		ms_buf_setf(why, "%s: the value is not valid UTF-8", disp.data);
		free(value);
		value = NULL;
	}
	if (value != NULL && mc_config_set(cfg, n, value, 0, mc_user_name(), &notes, why) == 0) {
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

/* ---- options ---- */

static int bi_set_option(lua_State *L)
{
	struct ms_optname n;
	struct ms_buf why;

	check_name(L, 1, &n);
	ms_buf_init(&why);
	int r = mc_recipe_set_value(L, cfg_of(L), &n, 2, &why);
	ms_optname_deinit(&n);
	if (r < 0)
		return mc_recipe_raise(L, &why);
	ms_buf_deinit(&why);
	return 0;
}

static int bi_get_option(lua_State *L)
{
	struct ms_optname n;
	size_t *idx;

	check_name(L, 1, &n);
	const struct mc_config *cfg = cfg_of(L);
	size_t count = mc_recipe_values(cfg, &n, &idx);
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
	size_t count = mc_recipe_values(cfg_of(L), &n, &idx);
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
		return mc_recipe_raise(L, &why);
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
			return mc_recipe_raise(L, &why);
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

	mc_recipe_make_name(&name, id, NULL);
	size_t n = mc_recipe_values(cfg, &name, &idx);
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
    {"add_channel", mc_recipe_edit_add_channel, "add_channel(name, optlist)", MC_RECIPE_SEED,
     "Create channel:NAME with the options of optlist, the seed's flat list "
     "{\"flagtransfer\", \"\", \"official_host_name\", \"x-daemon\", ...} (\"\" for a "
     "flag) or a Lua table {official_host_name = \"x-daemon\"}; an existing channel "
     "keeps its other options.  All or nothing."},
    {"delete_channel", mc_recipe_edit_delete_channel, "delete_channel(name)", MC_RECIPE_SEED,
     "Remove the channel and every option of it; returns how many were removed."},
    {"exists_channel", mc_recipe_edit_exists_channel, "exists_channel(name)", MC_RECIPE_SEED,
     "True when the channel has at least one option."},
    {"get_channel", mc_recipe_edit_get_channel, "get_channel(name)", MC_RECIPE_ADDED,
     "The channel's options as a flat list {name, value, ...}."},
    {"list_channels", mc_recipe_edit_list_channels, "list_channels()", MC_RECIPE_ADDED,
     "The names of the channels, sorted."},
    {"add_group", mc_recipe_edit_add_group, "add_group(path, optlist)", MC_RECIPE_SEED,
     "Set the options of optlist under a group path such as "
     "\"dispatcher.service:LMTPSS\"; the same list forms as add_channel.  All or "
     "nothing."},
    {"delete_group", mc_recipe_edit_delete_group, "delete_group(path)", MC_RECIPE_SEED,
     "Remove every option under the group path; returns how many were removed."},
    {"exists_group", mc_recipe_edit_exists_group, "exists_group(path)", MC_RECIPE_SEED,
     "True when an option is set under the group path."},
    {"get_group", mc_recipe_edit_get_group, "get_group(path)", MC_RECIPE_ADDED,
     "The options under the group path as a flat list {name, value, ...}."},
    {"list_groups", mc_recipe_edit_list_groups, "list_groups(type)", MC_RECIPE_ADDED,
     "The names of the named groups of a type, such as \"dispatcher.service\" or "
     "\"partition\", sorted."},
    /* mapping tables */
    {"get_mapping", mc_recipe_edit_get_mapping, "get_mapping(name)", MC_RECIPE_SEED,
     "The entries of a mapping table as the seed's flat optlist {pattern1, "
     "template1, pattern2, template2, ...}, in order; {} when there is none."},
    {"exists_optlist", bi_exists_optlist, "exists_optlist(list, key)", MC_RECIPE_SEED,
     "True when key is one of the names (odd positions) of a flat optlist, or the "
     "first element of one of its pairs."},
    {"prepend_mapping", mc_recipe_edit_prepend_mapping,
     "prepend_mapping(name, {pattern, template})", MC_RECIPE_SEED,
     "Put entries at the front of a mapping table, creating it if needed; several "
     "pairs keep their order.  An entry already in the table stays where it is."},
    {"append_mapping", mc_recipe_edit_append_mapping, "append_mapping(name, {pattern, template})",
     MC_RECIPE_ADDED, "Put entries at the end of a mapping table (no duplicates)."},
    {"delete_mapping", mc_recipe_edit_delete_mapping, "delete_mapping(name[, {pattern, template}])",
     MC_RECIPE_ADDED,
     "Remove the listed entries, or the whole table; returns how many were removed."},
    {"exists_mapping", mc_recipe_edit_exists_mapping, "exists_mapping(name)", MC_RECIPE_ADDED,
     "True when the mapping table has an entry."},
    /* rewrite rules */
    {"append_rewrites", mc_recipe_edit_append_rewrites, "append_rewrites({pattern, template})",
     MC_RECIPE_SEED,
     "Add rewrite rules at the end of the list.  A rule that is already there is "
     "not added again, so a recipe can run twice (the seed appended blindly)."},
    {"prepend_rewrites", mc_recipe_edit_prepend_rewrites, "prepend_rewrites({pattern, template})",
     MC_RECIPE_ADDED, "Add rewrite rules at the front of the list (no duplicates)."},
    {"get_rewrites", mc_recipe_edit_get_rewrites, "get_rewrites()", MC_RECIPE_ADDED,
     "The rewrite rules as a flat list {pattern, template, ...}, in order; find one "
     "with exists_optlist(get_rewrites(), pattern)."},
    {"delete_rewrites", mc_recipe_edit_delete_rewrites, "delete_rewrites({pattern, template})",
     MC_RECIPE_ADDED, "Remove the listed rewrite rules; returns how many were removed."},
    /* aliases */
    {"add_alias", mc_recipe_edit_add_alias, "add_alias(name, address or {address, ...})",
     MC_RECIPE_ADDED, "Add addresses to alias:NAME (no duplicates)."},
    {"get_alias", mc_recipe_edit_get_alias, "get_alias(name)", MC_RECIPE_ADDED,
     "The addresses of an alias, a list ({} when there is none)."},
    {"delete_alias", mc_recipe_edit_delete_alias, "delete_alias(name[, address])", MC_RECIPE_ADDED,
     "Remove one address, or the whole alias; returns how many were removed."},
    {"exists_alias", mc_recipe_edit_exists_alias, "exists_alias(name)", MC_RECIPE_ADDED,
     "True when the alias has an address."},
    /* questions and output */
    {"read", bi_read, "read(prompt[, name])", MC_RECIPE_SEED,
     "Ask for one line and return it without the newline (\"\" for an empty line). "
     "Answered by -D NAME=VALUE when given; unnamed reads are READ1, READ2, ... in "
     "the order asked.  -y answers \"\".  Without a terminal and an answer the "
     "recipe fails and names the -D to give.  The name argument is ours."},
    {"prompt", bi_prompt, "prompt(name, question[, default[, validator]])", MC_RECIPE_ADDED,
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
