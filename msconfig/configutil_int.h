/*
 * configutil_int: the private interface of the configutil program, shared
 * by configutil.c (main, the arguments, set, delete, import, -V),
 * configutil_name.c (reading and printing option names) and
 * configutil_show.c (the listing, one value, the -H help blocks).  The
 * program's contract (flags, output, exit status) is at the top of
 * configutil.c.
 *
 * The show functions print to stdout and stderr and return the exit
 * status; nothing here exits.
 */
#ifndef CONFIGUTIL_INT_H
#define CONFIGUTIL_INT_H

#include <stdbool.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>
#include <ms/options.h>

struct mc_config;

#define PROG     "configutil"
#define EX_UNSET 1
#define EX_FAIL  2
#define EX_USAGE 64

/* ---- configutil_name.c ---- */

/* An option as the user named it: one option, or a whole template. */
struct cu_name {
	struct ms_optname n; /* valid when !family */
	bool family;         /* a template such as store.partition.*.path */
	enum ms_opt id;      /* always set */
};

/*
 * Resolve text (a legacy name, a unified name, or a template) to an
 * option or a family.  0 with *r filled (release it with
 * configutil_name_free), or -1 with why (naming the closest option when
 * one is close) and nothing to release.
 */
int configutil_name_resolve(const char *text, struct cu_name *r, struct ms_buf *why);
void configutil_name_free(struct cu_name *r);
/* Append the name configutil prints for n: legacy when there is one, else unified. */
void configutil_name_print(const struct ms_optname *n, struct ms_buf *out);
/* The template configutil shows for d: its legacy name when that has the
 * same groups as the unified template, else the unified template; static. */
const char *configutil_name_template(const struct ms_optdef *d);

/* ---- configutil_show.c ---- */

/*
 * Print every set option as NAME = VALUE, sorted by name (pattern: only
 * those matching it, a case-insensitive glob with a trailing '*' implied
 * when it has none; NULL: all), with [REFRESHABLE] marks when meta.
 * Returns 0.
 */
int configutil_show_list(const struct mc_config *cfg, const char *pattern, bool meta);
/*
 * Print the help block of every option or family matching pattern (as
 * above; NULL: all).  0, or EX_FAIL when nothing matches.
 */
int configutil_show_help_matching(const struct mc_config *cfg, const char *pattern);
/*
 * Print the values of the option text names (-o NAME).  0; EX_UNSET when
 * it is unset; EX_FAIL when there is no such option; EX_USAGE when text
 * names a family.  Passwords are never printed.
 */
int configutil_show_value(const struct mc_config *cfg, const char *text);
/* Print the help block of the option or family text names (-H -o NAME).
 * 0, or EX_FAIL when there is no such option. */
int configutil_show_help(const struct mc_config *cfg, const char *text);

#endif
