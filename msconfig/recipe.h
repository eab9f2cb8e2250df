/*
 * recipe: the Lua 5.4 recipe engine behind `msconfig run`.
 *
 * A recipe is a Lua program that edits one struct mc_config through the
 * built-ins listed in recipe_api.c (the seed's recipe functions under their
 * seed names and argument shapes, plus our additions; those that edit
 * groups, mappings, rewrite rules and aliases are in recipe_edit.c).  The
 * engine owns:
 *
 *   - finding a recipe: a path, else $SERVERROOT/config/recipes/NAME, else
 *     the shipped DATADIR/recipes/NAME, each with and without ".lua";
 *   - the sandbox (recipe_sandbox.c): only the base, string, table, math and
 *     utf8 libraries; no io, os, package/require, debug, dofile, loadfile or
 *     string.dump; load() accepts text only; no __gc metamethods (Lua runs
 *     finalizers with hooks off).  An instruction limit (count hook) and a
 *     memory limit (the state's allocator) stop a runaway recipe;
 *   - answers to questions: read() and prompt() take -D NAME=VALUE first,
 *     then the default under -y, then the terminal; with no terminal and no
 *     answer the recipe fails with a message naming the -D flag to give;
 *   - the transaction rule (mc_verb_run, in recipe_verb.c, which is part of
 *     the msconfig program because it commits through the session; the rest
 *     is in libmsconfig): the recipe edits a clone of the
 *     session's work configuration.  Any failure (Lua syntax error, runtime
 *     error, error(), a value the model refuses, a result the schema
 *     refuses, a limit) discards the clone: nothing is written and the
 *     session is untouched.  On success the clone replaces the work
 *     configuration: the shell leaves it pending for `write` (the seed's
 *     behaviour); a one-shot `msconfig run` commits it as one graveyard
 *     entry with the comment "recipe NAME"; --dry-run prints the
 *     differences and keeps nothing.
 *
 * The engine never exits and never writes a file itself; it prints only
 * through the FILE pointers it is given (the recipe's print/warn/write and
 * the questions).  Nothing here is shared between runs: each run has its
 * own lua_State, closed before mc_recipe_exec returns.
 */
#ifndef MC_RECIPE_H
#define MC_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ms/buf.h>
#include <ms/optname.h>

struct lua_State;
struct mc_config;
struct mc_session;

/* Limits of one run (defaults; the unit test uses smaller ones). */
#define MC_RECIPE_MAX_INSTRUCTIONS 50000000UL           /* Lua VM instructions */
#define MC_RECIPE_MAX_MEMORY       (64UL * 1024 * 1024) /* bytes held by the state */
#define MC_RECIPE_MAX_SIZE         (1024 * 1024)        /* bytes of recipe source */
/* Instructions between two checks of the count hook. */
#define MC_RECIPE_HOOK_PERIOD 1000

/* One -D NAME=VALUE answer. */
struct mc_recipe_define {
	char *name;
	char *value;
	bool used; /* a question asked for it (unused ones are reported) */
};

/*
 * The state of one run.  Filled by mc_recipe_init and the caller; read and
 * updated by the built-ins (recipe_api.c) and the sandbox.
 */
struct mc_recipe {
	/* set by the caller */
	char *name;            /* display name: file name without ".lua" */
	char *path;            /* the file run (chunk name for messages) */
	struct mc_config *cfg; /* the configuration the recipe edits */
	FILE *in;              /* answers when tty (stdin) */
	FILE *out;             /* print, write, questions */
	FILE *err;             /* warn, notes */
	bool tty;              /* questions may be asked on in/out */
	bool yes;              /* -y: take every default */
	struct mc_recipe_define *defines;
	size_t ndefines;
	unsigned long max_instructions; /* 0: MC_RECIPE_MAX_INSTRUCTIONS */
	size_t max_memory;              /* 0: MC_RECIPE_MAX_MEMORY */

	/* kept by the engine */
	struct lua_State *L;
	unsigned long instructions; /* counted by the hook, in periods */
	size_t mem_used;
	bool instr_hit;    /* the instruction limit stopped the recipe */
	bool mem_hit;      /* an allocation was refused */
	unsigned nreads;   /* unnamed read() calls so far (READn) */
	char *description; /* description("...") */
	char **keywords;   /* keywords({...}) */
	size_t nkeywords;
};

/* Zero r and set the defaults (streams stdin/stdout/stderr, no defines). */
void mc_recipe_init(struct mc_recipe *r);
/* Free what r owns (not cfg, not the streams).  r can be initialised again. */
void mc_recipe_deinit(struct mc_recipe *r);
/*
 * Add an answer from "NAME=VALUE" (VALUE may be empty).  0, or -1 with why
 * when NAME is missing or not a name ([A-Za-z_][A-Za-z0-9_]*).  A later
 * answer for the same NAME replaces the earlier one.
 */
int mc_recipe_define(struct mc_recipe *r, const char *assignment, struct ms_buf *why);

/*
 * Find a recipe.  name is a path if such a file exists; else it is looked
 * up in $SERVERROOT/config/recipes (serverroot) and then in the shipped
 * recipes (ms_data_path("recipes")), as given and with ".lua" added.
 * Returns the path (caller frees), or NULL with why listing where it looked.
 */
char *mc_recipe_find(const char *serverroot, const char *name, struct ms_buf *why);
/* The display name of a recipe path: its file name without ".lua" (caller frees). */
char *mc_recipe_display_name(const char *path);

/*
 * Run the recipe r->path against r->cfg, which it edits in place.  Returns
 * 0, or -1 with why ("FILE:LINE: message" for syntax and runtime errors,
 * or the limit that stopped it).  After -1, r->cfg holds whatever the
 * recipe changed before it failed: the caller runs recipes on a clone and
 * drops it (mc_verb_run does).
 */
int mc_recipe_exec(struct mc_recipe *r, struct ms_buf *why);
/* The same with the source given as text (tests); chunkname names it in messages. */
int mc_recipe_exec_string(struct mc_recipe *r, const char *source, size_t len,
                          const char *chunkname, struct ms_buf *why);

/* `run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]`: the verb of mc_verbs[]. */
int mc_verb_run(struct mc_session *s, int argc, char **argv);
/* The reference printed by `help Recipe_language` (built from the built-ins table). */
void mc_recipe_help(FILE *out);

/* ---- shared by recipe.c, recipe_api.c, recipe_edit.c and recipe_sandbox.c ---- */

/* Where a built-in comes from. */
enum mc_recipe_origin {
	MC_RECIPE_SEED = 0, /* the seed's recipe language, same name and shape */
	MC_RECIPE_ADDED,    /* ours: beyond the seed */
};

/* One built-in function of the recipe language. */
struct mc_recipe_builtin {
	const char *name;
	int (*fn)(struct lua_State *L);
	const char *shape; /* "set_option(name[, value])" */
	enum mc_recipe_origin origin;
	const char *help; /* one paragraph */
};

/* The built-ins table (recipe_api.c), ended by a NULL name. */
extern const struct mc_recipe_builtin mc_recipe_builtins[];

/*
 * A new sandboxed state for r (recipe_sandbox.c): limits installed, the
 * allowed libraries open, the built-ins registered.  NULL with why when
 * even that does not fit in the memory limit.
 */
struct lua_State *mc_recipe_sandbox_new(struct mc_recipe *r, struct ms_buf *why);
/* The run of r the state belongs to. */
struct mc_recipe *mc_recipe_of(struct lua_State *L);
/* Register the built-ins into the globals of L (recipe_api.c). */
void mc_recipe_register(struct lua_State *L);

/*
 * Answer a question (recipe.c): the -D answer for name, else under -y the
 * default (def may be NULL: no default), else the terminal.  Returns a
 * string the caller frees, or NULL with why (no terminal and no answer:
 * the message names the -D flag to give).  An empty line on the terminal
 * takes the default.  *asked_r tells whether the terminal answered (a bad
 * answer can then be asked again).  Validation is the caller's.
 */
char *mc_recipe_answer(struct mc_recipe *r, const char *name, const char *question, const char *def,
                       bool *asked_r, struct ms_buf *why);

/* ---- internal to the built-ins (recipe_api.c and recipe_edit.c) ---- */

/* Raise "chunk:line: msg" as a Lua error; msg is freed first.  Never returns. */
int mc_recipe_raise(struct lua_State *L, struct ms_buf *msg);
/* A copy of the run's configuration to edit, then swapped in whole: built-ins
 * that make several changes are all or nothing even under pcall. */
struct mc_config *mc_recipe_edit_begin(struct lua_State *L);
void mc_recipe_edit_commit(struct lua_State *L, struct mc_config **copy);
/* n = option id with one group name (or none); release with ms_optname_deinit. */
void mc_recipe_make_name(struct ms_optname *n, enum ms_opt id, const char *name0);
/*
 * Indexes (caller frees) of the values of an option, in order, where they
 * take effect: the named scope, else instance when set there, else role.
 * Returns their count.
 */
size_t mc_recipe_values_key(const struct mc_config *cfg, const char *key, enum ms_scope scope,
                            size_t **idx_r);
size_t mc_recipe_values(const struct mc_config *cfg, const struct ms_optname *n, size_t **idx_r);
/* Set n to the Lua value at idx in cfg, as set_option does.  0, or -1 with why. */
int mc_recipe_set_value(struct lua_State *L, struct mc_config *cfg, const struct ms_optname *n,
                        int idx, struct ms_buf *why);

/* True when s is valid UTF-8 (values must be: config.xml is UTF-8). */
bool mc_recipe_utf8_ok(const char *s);

/* The built-ins of recipe_edit.c: channels, groups, mappings, rewrites, aliases. */
int mc_recipe_edit_add_alias(struct lua_State *L);
int mc_recipe_edit_add_channel(struct lua_State *L);
int mc_recipe_edit_add_group(struct lua_State *L);
int mc_recipe_edit_append_mapping(struct lua_State *L);
int mc_recipe_edit_append_rewrites(struct lua_State *L);
int mc_recipe_edit_delete_alias(struct lua_State *L);
int mc_recipe_edit_delete_channel(struct lua_State *L);
int mc_recipe_edit_delete_group(struct lua_State *L);
int mc_recipe_edit_delete_mapping(struct lua_State *L);
int mc_recipe_edit_delete_rewrites(struct lua_State *L);
int mc_recipe_edit_exists_alias(struct lua_State *L);
int mc_recipe_edit_exists_channel(struct lua_State *L);
int mc_recipe_edit_exists_group(struct lua_State *L);
int mc_recipe_edit_exists_mapping(struct lua_State *L);
int mc_recipe_edit_get_alias(struct lua_State *L);
int mc_recipe_edit_get_channel(struct lua_State *L);
int mc_recipe_edit_get_group(struct lua_State *L);
int mc_recipe_edit_get_mapping(struct lua_State *L);
int mc_recipe_edit_get_rewrites(struct lua_State *L);
int mc_recipe_edit_list_channels(struct lua_State *L);
int mc_recipe_edit_list_groups(struct lua_State *L);
int mc_recipe_edit_prepend_mapping(struct lua_State *L);
int mc_recipe_edit_prepend_rewrites(struct lua_State *L);

#endif
