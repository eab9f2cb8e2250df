/*
 * legacy_int: the private interface of the legacy text forms, shared by
 * legacy.c (kinds, membership, key sets, the report), legacy_export.c,
 * legacy_import.c (the transaction) and legacy_parse.c (the grammars).
 * Nothing outside those four files includes it; the contract of the
 * module is legacy.h.
 *
 * Invariants: everything here is pure like the module (no files, no
 * terminal, allocation failure aborts in ms_x*).  Entries and keys handed
 * out are borrowed from the configuration they came from and are valid
 * until it changes.
 */
#ifndef MC_LEGACY_INT_H
#define MC_LEGACY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/options.h>

#include "legacy.h"

struct mc_config;
struct mc_entry;

/* ---- legacy.c ---- */

/* def is an option (not a sub-group's) of the group that holds anchor. */
bool mc_legacy_direct_member(const struct ms_optdef *def, enum ms_opt anchor);
/* The last part of def's name, "mx" of "channel:*.mx"; points into def. */
const char *mc_legacy_leaf(const struct ms_optdef *def);
/* a and b are options of the same named group (same first group name). */
bool mc_legacy_same_group(const struct mc_entry *a, const struct mc_entry *b);

/* The keys a configuration holds in instance, for quick lookups. */
struct mc_legacy_keyset {
	const char **keys; /* sorted, borrowed from the configuration */
	size_t n;
};

/* Fill ks from cfg, which must outlive ks and not change meanwhile. */
void mc_legacy_keyset_init(struct mc_legacy_keyset *ks, const struct mc_config *cfg);
/* Does cfg hold key in instance? */
bool mc_legacy_keyset_has(const struct mc_legacy_keyset *ks, const char *key);
void mc_legacy_keyset_deinit(struct mc_legacy_keyset *ks);

/* ---- legacy_import.c ---- */

struct mc_legacy_origin;

/* One import under way: the old configuration and the clone being built. */
struct mc_legacy_import {
	const struct mc_config *old;
	struct mc_legacy_keyset old_instance; /* keys old holds in instance */
	const struct mc_entry **old_kind; /* old's entries of the kind, by scope, key, value */
	size_t nold_kind;
	struct mc_config *cfg; /* the clone being built */
	struct ms_buf *why;
	const char *author;
	struct mc_legacy_origin *origins; /* line of each value set, for "repeats line M" */
	size_t norigins, corigins;
	struct ms_buf tok; /* the last token legacy_parse.c read */
};

/* Set im->why to "line N: " and the message.  Returns -1, always. */
int mc_legacy_import_fail(struct mc_legacy_import *im, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Set option id of group name (NULL: an option of no group) to value in
 * the clone, as legacy_import.c describes.  0, or -1 with why set (the
 * value is refused, or the text gives it twice).
 */
int mc_legacy_import_put(struct mc_legacy_import *im, long line, enum ms_opt id,
			 const char *name, const char *value);

/* ---- legacy_parse.c ---- */

/*
 * Read text (len bytes, no NUL byte, need not be NUL-terminated) in the
 * format of kind into im's clone.  0, or -1 with im->why set to
 * "line N: message".  The clone may be half-built on failure.
 */
int mc_legacy_parse(struct mc_legacy_import *im, enum mc_legacy_kind kind, const char *text,
		    size_t len);

#endif
