/*
 * session: one msconfig run (one-shot command or interactive shell).
 *
 * The session holds the configuration as loaded (base) and as edited
 * (work).  In the shell, edits stay in work until `write`; a one-shot
 * `set` or `unset` commits at once.  Verbs live in one table (verbs.c);
 * each returns 0 on success and a nonzero exit status on failure, having
 * printed its error.
 */
#ifndef MC_SESSION_H
#define MC_SESSION_H

#include <stdbool.h>
#include <stdio.h>

#include <ms/buf.h>

struct mc_repo;
struct mc_config;

struct mc_session {
	struct mc_repo *repo;
	struct mc_config *base; /* as loaded; NULL when config.xml is broken */
	struct mc_config *work; /* base plus pending changes */
	bool interactive;       /* the shell: changes wait for write */
	bool tty;               /* a terminal is attached (prompts allowed) */
	bool quit;              /* the shell should end */
	bool retry_conflict;    /* one-shot: a conflicting commit is retried, not reported */
	struct ms_buf load_error; /* why base could not be loaded */
	struct ms_buf last_comment; /* summary of the pending changes */
	FILE *out;
	FILE *err;
};

typedef int mc_verb_fn(struct mc_session *s, int argc, char **argv);

struct mc_verb {
	const char *name;
	mc_verb_fn *fn;
	const char *usage;
	const char *help;
	unsigned flags; /* MC_VERB_* */
};

enum mc_verb_flag {
	MC_VERB_NEEDS_CONFIG = 1u << 0, /* refuses to run on a broken config.xml */
	MC_VERB_SHELL_ONLY = 1u << 1,
	MC_VERB_RETRY = 1u << 2, /* one-shot: on a concurrent write, reload and redo */
};

/* What a verb returns when its commit lost a race and retry_conflict is set. */
#define MC_EXIT_CONFLICT 75

extern const struct mc_verb mc_verbs[];
const struct mc_verb *mc_verb_find(const char *name);

/* Load (or reload) the active configuration into base and work. */
int mc_session_load(struct mc_session *s);
bool mc_session_dirty(const struct mc_session *s);
/* Commit work with comment; prints the report.  0, or 1 after printing why. */
int mc_session_write(struct mc_session *s, const char *comment);
/* Run one command line (already split into words). */
int mc_session_run(struct mc_session *s, int argc, char **argv);
/* Split a shell line into words (quotes group; backslashes are kept). */
int mc_split_line(const char *line, char ***argv_r, struct ms_buf *why);
void mc_free_argv(char **argv);

/* The interactive shell (shell.c). */
int mc_shell(struct mc_session *s);
/* Ask a yes/no question on the terminal; false without one. */
bool mc_confirm(struct mc_session *s, const char *question);
/* Read a line without echo (passwords); NULL at end of input. */
char *mc_read_secret(const char *prompt);

/* The edit verb (edit.c; the legacy text forms are in legacy.c). */
int mc_verb_edit(struct mc_session *s, int argc, char **argv);

#endif
