/*
 * recipe: finding and running a recipe, its answers, and the reference
 * text of `help Recipe_language` (see recipe.h).  The sandbox is in
 * recipe_sandbox.c, the built-ins in recipe_api.c and recipe_edit.c, the
 * verb and its transaction in recipe_verb.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/path.h>

#include "recipe.h"

void mc_recipe_init(struct mc_recipe *r)
{
	memset(r, 0, sizeof(*r));
	r->in = stdin;
	r->out = stdout;
	r->err = stderr;
}

void mc_recipe_deinit(struct mc_recipe *r)
{
	free(r->name);
	free(r->path);
	for (size_t i = 0; i < r->ndefines; i++) {
		free(r->defines[i].name);
		free(r->defines[i].value);
	}
	free(r->defines);
	free(r->description);
	for (size_t i = 0; i < r->nkeywords; i++)
		free(r->keywords[i]);
	free(r->keywords);
	memset(r, 0, sizeof(*r));
}

static bool valid_answer_name(const char *s, size_t len)
{
	if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

int mc_recipe_define(struct mc_recipe *r, const char *assignment, struct ms_buf *why)
{
	const char *eq = strchr(assignment, '=');

	if (eq == NULL || !valid_answer_name(assignment, (size_t)(eq - assignment))) {
		ms_buf_setf(why,
		            "-D takes NAME=VALUE with NAME made of letters, digits and _, "
		            "not '%s'",
		            assignment);
		return -1;
	}
	char *name = ms_xstrndup(assignment, (size_t)(eq - assignment));
	for (size_t i = 0; i < r->ndefines; i++) {
		if (strcmp(r->defines[i].name, name) == 0) {
			free(r->defines[i].value);
			r->defines[i].value = ms_xstrdup(eq + 1);
			free(name);
			return 0;
		}
	}
	r->defines = ms_xrealloc(r->defines, (r->ndefines + 1) * sizeof(*r->defines));
	r->defines[r->ndefines].name = name;
	r->defines[r->ndefines].value = ms_xstrdup(eq + 1);
	r->defines[r->ndefines].used = false;
	r->ndefines++;
	return 0;
}

/* ---- finding a recipe ---- */

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_lua_suffix(const char *name)
{
	size_t len = strlen(name);
	return len > 4 && strcmp(name + len - 4, ".lua") == 0;
}

/* dir/name, then dir/name.lua (dir NULL: name itself). */
static char *try_in(const char *dir, const char *name, struct ms_buf *looked)
{
	char *path = dir ? ms_xasprintf("%s/%s", dir, name) : ms_xstrdup(name);

	if (is_file(path))
		return path;
	ms_buf_printf(looked, "  %s\n", path);
	if (!has_lua_suffix(name)) {
		char *lua = ms_xasprintf("%s.lua", path);
		free(path);
		if (is_file(lua))
			return lua;
		ms_buf_printf(looked, "  %s\n", lua);
		free(lua);
	} else {
		free(path);
	}
	return NULL;
}

char *mc_recipe_find(const char *serverroot, const char *name, struct ms_buf *why)
{
	struct ms_buf looked;
	char *path;

	if (name == NULL || *name == '\0') {
		ms_buf_setf(why, "no recipe named");
		return NULL;
	}
	ms_buf_init(&looked);
	path = try_in(NULL, name, &looked);
	if (path == NULL && strchr(name, '/') == NULL) {
		char *site = ms_xasprintf("%s/config/recipes", serverroot);
		char *shipped = ms_data_path("recipes");
		path = try_in(site, name, &looked);
		if (path == NULL)
			path = try_in(shipped, name, &looked);
		free(site);
		free(shipped);
	}
	if (path == NULL)
		ms_buf_setf(why, "recipe %s not found; looked for:\n%s", name, looked.data);
	ms_buf_deinit(&looked);
	return path;
}

char *mc_recipe_display_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t len = strlen(base);
	if (has_lua_suffix(base))
		len -= 4;
	return ms_xstrndup(base, len);
}

/* ---- answers ---- */

char *mc_recipe_answer(struct mc_recipe *r, const char *name, const char *question, const char *def,
                       bool *asked_r, struct ms_buf *why)
{
	*asked_r = false;
	for (size_t i = 0; i < r->ndefines; i++) {
		if (strcmp(r->defines[i].name, name) == 0) {
			r->defines[i].used = true;
			return ms_xstrdup(r->defines[i].value);
		}
	}
	if (r->yes && def != NULL)
		return ms_xstrdup(def);
	if (!r->tty) {
		ms_buf_setf(why,
		            "the recipe asks \"%s\" and there is no terminal to ask on: give the "
		            "answer with -D %s=VALUE",
		            question, name);
		if (def != NULL)
			ms_buf_printf(why, " (or -y to take the default '%s')", def);
		return NULL;
	}

	size_t qlen = strlen(question);
	fputs(question, r->out);
	if (def != NULL && *def != '\0')
		fprintf(r->out, "%s[%s] ",
		        qlen && isspace((unsigned char)question[qlen - 1]) ? "" : " ", def);
	else if (qlen > 0 && !isspace((unsigned char)question[qlen - 1]))
		fputc(' ', r->out);
	fflush(r->out);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len = getline(&line, &cap, r->in);
	if (len < 0) {
		free(line);
		fputc('\n', r->out);
		if (def != NULL)
			return ms_xstrdup(def);
		ms_buf_setf(why, "end of input while asking \"%s\" (-D %s=VALUE answers it)",
		            question, name);
		return NULL;
	}
	if (len > 65536) {
		free(line);
		ms_buf_setf(why, "the answer to \"%s\" is longer than 65536 bytes", question);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	*asked_r = true;
	if (*line == '\0' && def != NULL) {
		free(line);
		return ms_xstrdup(def);
	}
	return line;
}

/* ---- running ---- */

static void limit_message(struct mc_recipe *r, struct ms_buf *why)
{
	if (r->mem_hit) {
		size_t limit = r->max_memory ? r->max_memory : MC_RECIPE_MAX_MEMORY;
		if (limit % (1024 * 1024) == 0)
			ms_buf_setf(why, "recipe %s stopped: memory limit of %zu MB reached",
			            r->name ? r->name : "", limit / (1024 * 1024));
		else
			ms_buf_setf(why, "recipe %s stopped: memory limit of %zu bytes reached",
			            r->name ? r->name : "", limit);
	} else {
		unsigned long limit =
		    r->max_instructions ? r->max_instructions : MC_RECIPE_MAX_INSTRUCTIONS;
		ms_buf_setf(why,
		            "recipe %s stopped: instruction limit reached (infinite loop?) "
		            "after %lu Lua instructions",
		            r->name ? r->name : "", limit);
	}
}

/* The error object on top of L as text, without calling any metamethod. */
static void error_text(lua_State *L, struct ms_buf *out)
{
	int t = lua_type(L, -1);
	if (t == LUA_TSTRING || t == LUA_TNUMBER)
		ms_buf_puts(out, lua_tostring(L, -1));
	else
		ms_buf_printf(out, "error(%s)", lua_typename(L, t));
}

int mc_recipe_exec_string(struct mc_recipe *r, const char *source, size_t len,
                          const char *chunkname, struct ms_buf *why)
{
	int ret = -1;

	r->instructions = 0;
	r->instr_hit = r->mem_hit = false;
	r->mem_used = 0;
	r->L = mc_recipe_sandbox_new(r, why);
	if (r->L == NULL)
		return -1;
	lua_State *L = r->L;
	/* A first line starting with '#' is skipped, as lua(1) does (#!): keep its newline. */
	if (len > 0 && source[0] == '#') {
		const char *nl = memchr(source, '\n', len);
		size_t skip = nl ? (size_t)(nl - source) : len;
		source += skip;
		len -= skip;
	}
	int status = luaL_loadbufferx(L, source, len, chunkname, "t");
	if (status == LUA_OK)
		status = lua_pcall(L, 0, 0, 0);
	if (r->instr_hit || r->mem_hit) {
		limit_message(r, why);
	} else if (status == LUA_ERRSYNTAX) {
		ms_buf_setf(why, "syntax error: ");
		error_text(L, why);
	} else if (status != LUA_OK) {
		ms_buf_reset(why);
		error_text(L, why);
	} else {
		ret = 0;
	}
	/* Finalizers run here, still under the limits. */
	lua_close(L);
	r->L = NULL;
	if (ret == 0 && (r->instr_hit || r->mem_hit)) {
		limit_message(r, why);
		ret = -1;
	}
	return ret;
}

int mc_recipe_exec(struct mc_recipe *r, struct ms_buf *why)
{
	struct ms_buf src;
	struct stat st;

	if (stat(r->path, &st) < 0) {
		ms_buf_setf(why, "cannot read %s: %s", r->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MC_RECIPE_MAX_SIZE) {
		ms_buf_setf(why, "%s is not a recipe: %s", r->path,
		            S_ISREG(st.st_mode) ? "larger than 1 MB" : "not a regular file");
		return -1;
	}
	ms_buf_init(&src);
	if (ms_file_read(r->path, &src, why) < 0) {
		ms_buf_deinit(&src);
		return -1;
	}
	char *chunk = ms_xasprintf("@%s", r->path);
	int ret = mc_recipe_exec_string(r, src.data, src.len, chunk, why);
	free(chunk);
	ms_buf_deinit(&src);
	return ret;
}

/* ---- help Recipe_language ---- */

static const char help_intro[] =
    "Recipes are Lua 5.4 programs that change the configuration:\n"
    "\n"
    "  msconfig run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]\n"
    "\n"
    "RECIPE is a file, or a name looked up in $SERVERROOT/config/recipes/ and then\n"
    "in the recipes shipped with the product (\".lua\" may be left out).\n"
    "\n"
    "Transactions.  A recipe edits a copy of the configuration.  When it ends, the\n"
    "whole result is checked against the schema.  From the command line the result\n"
    "is written as one configuration with the comment \"recipe NAME\" (nothing when\n"
    "it changed nothing); in the msconfig shell it stays pending for `write`, as in\n"
    "the seed.  A syntax error (FILE:LINE), a runtime error, error(...), a value\n"
    "msconfig refuses, a result the schema refuses or a limit writes nothing and\n"
    "leaves pending changes as they were.  --dry-run prints the differences and\n"
    "writes nothing.\n"
    "\n"
    "Questions.  read() and prompt() take the answer from -D NAME=VALUE, else the\n"
    "default when -y is given, else ask on the terminal.  Without a terminal and an\n"
    "answer the recipe fails and names the -D to give.\n"
    "\n"
    "Sandbox.  Only the base, string, table, math and utf8 libraries: no io, os,\n"
    "require, debug, dofile or loadfile; load() takes text only.  A recipe is\n"
    "stopped after 50 million Lua instructions or 64 MB of memory.\n"
    "\n"
    "The language is Lua: lists are tables and 1-based, as in the seed; `..`\n"
    "concatenates; `while true do ... if c then break end ... end` is the seed's\n"
    "loop/exitif.  Values are strings (\"0\"/\"1\" for booleans, \"\" for a flag).\n"
    "error(message) stops the recipe.\n"
    "\n"
    "Built-in functions ([seed] as in the seed's recipe language, [added] ours):\n";

/* Print text indented, wrapped before column 79. */
static void wrap(FILE *out, const char *text, int indent)
{
	const char *p = text;
	while (*p != '\0') {
		int width = 78 - indent;
		size_t len = strlen(p);
		size_t cut = len;
		if ((int)len > width) {
			cut = (size_t)width;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = (size_t)width;
		}
		fprintf(out, "%*s%.*s\n", indent, "", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

void mc_recipe_help(FILE *out)
{
	fputs(help_intro, out);
	for (const struct mc_recipe_builtin *b = mc_recipe_builtins; b->name != NULL; b++) {
		fprintf(out, "\n  %s  [%s]\n", b->shape,
		        b->origin == MC_RECIPE_SEED ? "seed" : "added");
		wrap(out, b->help, 6);
	}
	fputs("\nSee also docs/recipes.md and the recipes shipped in recipes/.\n", out);
}
