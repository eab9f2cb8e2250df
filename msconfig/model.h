/*
 * model: the in-memory configuration that msconfig edits.
 *
 * A struct mc_config is the content of config.xml plus xpass.xml: a list of
 * option entries, each under role or instance, with the provenance the
 * seed's config.xml carries (xauthor, xmtime, xannotation).  The model
 * owns the rules of the seed's Unified Configuration: value checking
 * against the schema table, placement in role or instance, exclusive
 * option families, multi-valued options, restricted and obsolete options.
 * It knows nothing about files; repo.c reads and writes them.
 */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/optname.h>

struct ms_buf;

struct mc_entry {
	struct ms_optname name; /* scope is ROLE or INSTANCE */
	char *key;              /* canonical key, names escaped */
	char *value;            /* "" for flags; "PATTERN TEMPLATE" for rules */
	char *annotation;       /* xannotation, or NULL */
	char *author;           /* xauthor, or NULL */
	char *mtime;            /* xmtime, or NULL */
	size_t ord;             /* insertion order: keeps multi-values in order */
};

struct mc_config {
	unsigned long seq; /* graveyard sequence number of this configuration */
	char *author, *mtime, *comment;
	char *role_name, *instance_name;
	struct mc_entry *entries;
	size_t n, cap;
	size_t next_ord;
	/* Fingerprint of the config.xml bytes this was loaded from (repo.c), or 0. */
	unsigned long long loaded_digest;
};

struct mc_config *mc_config_new(void);
void mc_config_free(struct mc_config **cfg);
struct mc_config *mc_config_clone(const struct mc_config *cfg);

/* Sort entries into schema order (then names, then insertion order). */
void mc_config_sort(struct mc_config *cfg);

/*
 * Check a value against an option's type, range or enumeration.  0, or -1
 * with why stating the type and range ("imap.port takes a port number
 * 0-65535, not 'abc'").
 */
int mc_value_check(const struct ms_optdef *def, const char *display, const char *value,
		   struct ms_buf *why);

enum mc_set_flags {
	MC_SET_RESTRICTED_OK = 1u << 0, /* the administrator confirmed a restricted option */
	MC_SET_LOADING = 1u << 1,       /* reading files: no placement or family rules */
};

/*
 * Set an option.  Placement: the scope named in name, else where the option
 * already is, else the schema's placement.  A multi-valued option gets the
 * value appended (a value already present is left alone).  Setting one
 * member of an exclusive family removes the others under the same group.
 * notes receives one line per side effect for the administrator.
 * Returns 0, or -1 with why (bad value, obsolete, restricted without
 * confirmation) and cfg unchanged.
 */
int mc_config_set(struct mc_config *cfg, const struct ms_optname *name, const char *value,
		  unsigned flags, const char *author, struct ms_buf *notes,
		  struct ms_buf *why);

/*
 * Remove an option (value NULL: every value; else only that value of a
 * multi-valued option).  Without a scope in name, removes it from both.
 * Returns the number of entries removed (0 is not an error).
 */
size_t mc_config_unset(struct mc_config *cfg, const struct ms_optname *name,
		       const char *value);

/* Index of the first entry with that scope and key, or -1. */
long mc_config_find(const struct mc_config *cfg, enum ms_scope scope, const char *key);

/*
 * Option-level differences from a to b, one line each, appended to out:
 *   "added    role.imap.port = 1143"
 *   "removed  role.pop.enable = 1"
 *   "changed  role.imap.numprocesses: 1 -> 2"
 * Password values print as "(hidden)".  Returns the number of lines.
 */
size_t mc_config_diff(const struct mc_config *a, const struct mc_config *b,
		      struct ms_buf *out);

/* "role.imap.port = 143" (or the bare name for flags), appended to out. */
void mc_entry_format(const struct mc_entry *e, bool show_password, struct ms_buf *out);

/* Split a rule value "PATTERN TEMPLATE" at the first unescaped blank. */
void mc_rule_split(const char *value, char **pattern_r, char **template_r);

/* Current time as the seed's xmtime ("2010-05-12T17:42:19-08:00"). */
char *mc_now_xmtime(void);
/* Login name of the caller (for xauthor). */
const char *mc_user_name(void);

#endif
