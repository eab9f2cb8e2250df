/*
 * store_uidset: sets of UIDs as IMAP writes them ("1:3,5,7:*"), kept as
 * sorted, merged ranges.
 */
#ifndef MS_STORE_UIDSET_H
#define MS_STORE_UIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;

struct store_uidrange {
	uint32_t lo, hi; /* inclusive, lo <= hi */
};

struct store_uidset {
	size_t n, cap;
	struct store_uidrange *r; /* sorted, disjoint, not adjacent */
};

void store_uidset_init(struct store_uidset *set);
void store_uidset_deinit(struct store_uidset *set);
void store_uidset_clear(struct store_uidset *set);

/* Add lo..hi (in either order); ranges are merged. */
void store_uidset_add(struct store_uidset *set, uint32_t lo, uint32_t hi);

/*
 * Parse an IMAP sequence set of UIDs; '*' stands for star (the largest UID
 * in use, or uidnext - 1).  The set is cleared first.  0, or -1 with why on
 * a syntax error or a zero.
 */
int store_uidset_parse(const char *s, uint32_t star, struct store_uidset *set,
		       struct ms_buf *why);

bool store_uidset_contains(const struct store_uidset *set, uint32_t uid);
/* Number of UIDs in the set. */
uint64_t store_uidset_count(const struct store_uidset *set);
/* Append the IMAP form ("1:3,5") to out. */
void store_uidset_format(const struct store_uidset *set, struct ms_buf *out);

#endif
