/*
 * recipe_sandbox: the lua_State a recipe runs in (see recipe.h).
 *
 * What a recipe can reach is decided here and nowhere else:
 *   - libraries: base, string, table, math and utf8, each opened with
 *     luaL_requiref; never io, os, package (require), coroutine or debug;
 *   - removed from base: dofile and loadfile (files), and string.dump
 *     (bytecode out); load() is replaced by a wrapper that forces mode "t",
 *     so no bytecode comes in; setmetatable() refuses a metatable with
 *     __gc (finalizers run with hooks off: the limits could not stop one);
 *     print and warn are replaced by the recipe built-ins;
 *   - limits: the state's allocator refuses to grow past max_memory, and a
 *     count hook stops the recipe after max_instructions VM instructions.
 *     Once a limit is hit the hook fires on every instruction, so a recipe
 *     that catches the error with pcall is stopped again at its next
 *     instruction outside the pcall; the engine reports the limit even if
 *     the recipe swallowed every error.
 * A long call inside one C function (a pathological string.find pattern)
 * runs no VM instructions and is not interrupted; docs/recipes.md says so.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <ms/buf.h>

#include "recipe.h"

/* lua_Alloc: the memory limit.  ud is the run. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct mc_recipe *r = ud;
	size_t limit = r->max_memory ? r->max_memory : MC_RECIPE_MAX_MEMORY;

	if (ptr == NULL)
		osize = 0; /* osize then encodes the object type, not a size */
	if (nsize == 0) {
		free(ptr);
		r->mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && r->mem_used + (nsize - osize) > limit) {
		r->mem_hit = true;
		return NULL; /* Lua raises "not enough memory" */
	}
	void *p = realloc(ptr, nsize);
	if (p == NULL) {
		if (nsize <= osize)
			return ptr; /* Lua assumes a shrink never fails */
		r->mem_hit = true;
		return NULL;
	}
	r->mem_used = r->mem_used - osize + nsize;
	return p;
}

struct mc_recipe *mc_recipe_of(lua_State *L)
{
	void *ud = NULL;
	lua_getallocf(L, &ud);
	return ud;
}

/* The count hook: the instruction limit. */
static void sandbox_hook(lua_State *L, lua_Debug *ar)
{
	struct mc_recipe *r = mc_recipe_of(L);
	unsigned long limit =
	    r->max_instructions ? r->max_instructions : MC_RECIPE_MAX_INSTRUCTIONS;

	(void)ar;
	if (!r->instr_hit) {
		r->instructions += MC_RECIPE_HOOK_PERIOD;
		if (r->instructions < limit)
			return;
		r->instr_hit = true;
		/* From now on every instruction fails: pcall cannot hold it off. */
		lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	}
	luaL_error(L, "instruction limit reached");
}

/* load() with the mode forced to text: no precompiled chunks. */
static int sandbox_load(lua_State *L)
{
	int n = lua_gettop(L);

	if (n < 3)
		lua_settop(L, 3);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1)); /* the original load */
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/*
 * setmetatable() without __gc: Lua runs finalizers with hooks off, so a
 * loop in one could never be stopped.  An object is marked for
 * finalization only if its metatable has __gc when it is set, so refusing
 * such a metatable here closes that door.
 */
static int sandbox_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not allowed in recipes");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1)); /* the original setmetatable */
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static const luaL_Reg sandbox_libs[] = {
    {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL},
};

/* Globals of the base library a recipe must not have. */
static const char *const sandbox_removed[] = {"dofile", "loadfile", NULL};

/* Runs protected: a memory error while opening the libraries is reported, not a panic. */
static int sandbox_setup(lua_State *L)
{
	for (const luaL_Reg *lib = sandbox_libs; lib->name != NULL; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	for (const char *const *name = sandbox_removed; *name != NULL; name++) {
		lua_pushnil(L);
		lua_setglobal(L, *name);
	}
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
	lua_getglobal(L, "load");
	lua_pushcclosure(L, sandbox_load, 1);
	lua_setglobal(L, "load");
	lua_getglobal(L, "setmetatable");
	lua_pushcclosure(L, sandbox_setmetatable, 1);
	lua_setglobal(L, "setmetatable");
	/* package.loaded would hand out the libraries by name: not needed. */
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	mc_recipe_register(L);
	return 0;
}

lua_State *mc_recipe_sandbox_new(struct mc_recipe *r, struct ms_buf *why)
{
	lua_State *L = lua_newstate(sandbox_alloc, r);

	if (L == NULL) {
		ms_buf_setf(why, "cannot create the Lua state within the memory limit");
		return NULL;
	}
	lua_pushcfunction(L, sandbox_setup);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		ms_buf_setf(why, "cannot set up the recipe sandbox: %s",
		            lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
		lua_close(L);
		return NULL;
	}
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, MC_RECIPE_HOOK_PERIOD);
	return L;
}
