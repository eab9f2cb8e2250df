/*
 * mta_rewrite_int: what mta_rewrite.c (rules, lookups, the rewrite loop)
 * and mta_rewrite_tmpl.c (templates: compiling and expanding them) share.
 * Not part of the library's interface; see mta_rewrite.h.
 */
#ifndef MTA_REWRITE_INT_H
#define MTA_REWRITE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/buf.h>

#include "mta_rewrite.h"

struct mta_channel;
struct mta_rewrite_tmpl; /* a compiled template (mta_rewrite_tmpl.c) */

struct mta_rewrite_rule {
	char *pattern;
	char *tmpl_text;
	struct mta_rewrite_tmpl *tmpl;
	size_t index; /* 1-based position */
};

struct mta_rewrite {
	const struct mta_channel_table *channels;
	const struct mta_mapping_set *maps;
	size_t n, cap;
	struct mta_rewrite_rule *v;
	size_t *order; /* indexes into v sorted by (lower-case pattern, index) */
	bool sorted;
};

/* What the address looks like to the rules, for one probe. */
struct mta_rewrite_match {
	const char *U; /* formatted local part, or the route remainder */
	char loc;      /* 'A' (after '@') or 'S' (source route) */
	const char *H, *D, *L;
};

enum mta_rewrite_outcome_kind {
	MTA_REWRITE_O_ROUTE,
	MTA_REWRITE_O_REPEAT,
	MTA_REWRITE_O_REFUSE,
	MTA_REWRITE_O_NOROUTE
};

struct mta_rewrite_outcome {
	enum mta_rewrite_outcome_kind kind;
	struct ms_buf user, host, route, routing;
	char *message;
	const struct mta_channel *channel;
	const char *rule_pattern;
	const char *rule_tmpl;
};

struct mta_rewrite_state {
	const struct mta_rewrite *rw;
	const struct mta_rewrite_ctx *ctx;
	struct ms_buf *why;
	const char *fail; /* why the last rule did not apply (trace) */
};

/*
 * Compile s[0..len) into *t_r.  arg_mode: an argument of a callout, where
 * '%' and '@' are plain characters and controls are not allowed; depth
 * counts nested callouts.  The shape of a rule template (which of '%' and
 * '@' separate its fields) is checked here.  0, or -1 with why.
 */
int mta_rewrite_tmpl_compile(const char *s, size_t len, bool arg_mode, int depth,
                             struct mta_rewrite_tmpl **t_r, struct ms_buf *why);
void mta_rewrite_tmpl_free(struct mta_rewrite_tmpl **t);

/*
 * Apply template t (text is its source, recompiled when it holds $(...))
 * to the match.  1: the rule applied and o is filled; 0: it does not apply
 * (st->fail says why); -1: an error in st->why.
 */
int mta_rewrite_tmpl_apply(struct mta_rewrite_state *st, const struct mta_rewrite_tmpl *t,
                           const char *text, const struct mta_rewrite_match *m,
                           struct mta_rewrite_outcome *o);

void mta_rewrite_outcome_init(struct mta_rewrite_outcome *o);
void mta_rewrite_outcome_deinit(struct mta_rewrite_outcome *o);

/* Append one line to the trace of st's context, when it has one. */
void mta_rewrite_trace(const struct mta_rewrite_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
