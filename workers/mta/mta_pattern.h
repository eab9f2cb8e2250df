/*
 * mta_pattern: the left-hand side of mapping table entries.
 *
 * A pattern is compiled once (mta_pattern_compile) and matched against
 * probe strings many times.  Matching is case-insensitive (ASCII) and
 * anchored at both ends.  The syntax is the product's mapping pattern
 * syntax (docs/mta.md, "Mapping patterns"):
 *
 *   *          zero or more characters, greedy          (a wildcard)
 *   %          exactly one character                    (a wildcard)
 *   $_         the next wildcard or glob is lazy (minimal)
 *   $@         the next wildcard or glob is not saved
 *   $^         the next wildcard or glob is saved (the default)
 *   $n*        back match: the text saved by wildcard n (0-9)
 *   $A% $A*    one / any number of letters; likewise $B binary digits,
 *              $D decimal digits, $H and $X hexadecimal digits, $O octal
 *              digits, $S symbol characters (letters, digits, _ and $),
 *              $T blanks (space, tab, vertical tab)
 *   $[set]%    one character of the set; $[set]* any number of them; the
 *              set holds characters and ranges a-z; \c and $c quote c
 *              (\- \] \\, and "$ " for a blank, which must be escaped)
 *   $(a.b.c.d/n)  an IPv4 address inside that network ($<...> the same)
 *   ${v6addr/n}   an IPv6 address inside that network
 *   $c         any other character c literally: $$ $* $% $| and "$ " (a blank)
 *
 * Every wildcard, glob and address match is saved, in order, as $0..$9 for
 * the template, unless $@ precedes it; at most ten are saved (the others
 * match but are not saved).
 *
 * Matching backtracks; the work per call is bounded (MTA_PATTERN_BUDGET
 * steps) so that a hostile probe cannot hang a server: when the bound is
 * hit the match fails and *overflow_r is set.
 */
#ifndef MTA_PATTERN_H
#define MTA_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct mta_pattern;

#define MTA_PATTERN_MAXSAVE 10
#define MTA_PATTERN_BUDGET  200000L
/* Most parts (wildcards, globs, literal runs) one pattern may have. */
#define MTA_PATTERN_MAXNODES 512

/* A saved wildcard: offset and length into the probe. */
struct mta_pattern_capture {
	size_t off, len;
};

struct mta_pattern_captures {
	size_t n; /* how many were saved by the successful match */
	struct mta_pattern_capture v[MTA_PATTERN_MAXSAVE];
};

/*
 * Compile len octets of text.  Returns 0 and a new pattern in *p_r (free
 * with mta_pattern_free), or -1 with why naming the problem.
 */
int mta_pattern_compile(const char *text, size_t len, struct mta_pattern **p_r, struct ms_buf *why);
void mta_pattern_free(struct mta_pattern **p);

/*
 * Match s[0..len).  True on a match, with the saved wildcards in *caps.
 * False when it does not match; *overflow_r (may be NULL) is set when the
 * step budget ran out before an answer.  budget (may be NULL: a fresh
 * MTA_PATTERN_BUDGET) is decremented by the steps taken, so that a caller
 * can bound the work of many matches together.
 */
bool mta_pattern_match(const struct mta_pattern *p, const char *s, size_t len,
                       struct mta_pattern_captures *caps, long *budget, bool *overflow_r);

/* How many wildcards the pattern saves (0..10). */
size_t mta_pattern_saves(const struct mta_pattern *p);

#endif
