/*
 * store_uidset: UID sets as sorted, merged ranges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "store_uidset.h"

void store_uidset_init(struct store_uidset *set)
{
	set->n = set->cap = 0;
	set->r = NULL;
}

void store_uidset_deinit(struct store_uidset *set)
{
	free(set->r);
	store_uidset_init(set);
}

void store_uidset_clear(struct store_uidset *set)
{
	set->n = 0;
}

void store_uidset_add(struct store_uidset *set, uint32_t lo, uint32_t hi)
{
	size_t i, j;

	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	/* First range that ends at or after lo - 1 (may merge with it). */
	for (i = 0; i < set->n; i++)
		if ((uint64_t)set->r[i].hi + 1 >= lo)
			break;
	/* Ranges i..j-1 touch [lo, hi]. */
	for (j = i; j < set->n; j++) {
		if (set->r[j].lo > (uint64_t)hi + 1)
			break;
		if (set->r[j].lo < lo)
			lo = set->r[j].lo;
		if (set->r[j].hi > hi)
			hi = set->r[j].hi;
	}
	if (j == i) {
		if (set->n == set->cap) {
			set->cap = set->cap == 0 ? 8 : set->cap * 2;
			set->r = ms_xrealloc(set->r, set->cap * sizeof(*set->r));
		}
		memmove(&set->r[i + 1], &set->r[i], (set->n - i) * sizeof(*set->r));
		set->n++;
	} else if (j > i + 1) {
		memmove(&set->r[i + 1], &set->r[j], (set->n - j) * sizeof(*set->r));
		set->n -= j - i - 1;
	}
	set->r[i].lo = lo;
	set->r[i].hi = hi;
}

static int parse_num(const char **s, uint32_t star, uint32_t *v)
{
	const char *p = *s;
	unsigned long long n = 0;

	if (*p == '*') {
		*v = star;
		*s = p + 1;
		return 0;
	}
	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (unsigned)(*p - '0');
		if (n > UINT32_MAX)
			return -1;
		p++;
	}
	*v = (uint32_t)n;
	*s = p;
	return 0;
}

int store_uidset_parse(const char *s, uint32_t star, struct store_uidset *set,
		       struct ms_buf *why)
{
	const char *p = s;

	store_uidset_clear(set);
	for (;;) {
		uint32_t lo, hi;

		if (parse_num(&p, star, &lo) < 0)
			goto bad;
		hi = lo;
		if (*p == ':') {
			p++;
			if (parse_num(&p, star, &hi) < 0)
				goto bad;
		}
		if (lo != 0 || hi != 0) /* "*" on an empty mailbox is 0: nothing */
			store_uidset_add(set, lo == 0 ? 1 : lo, hi == 0 ? 1 : hi);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	ms_buf_setf(why, "bad UID set \"%s\"", s);
	return -1;
}

bool store_uidset_contains(const struct store_uidset *set, uint32_t uid)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (uid < set->r[mid].lo)
			hi = mid;
		else if (uid > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t store_uidset_count(const struct store_uidset *set)
{
	uint64_t n = 0;

	for (size_t i = 0; i < set->n; i++)
		n += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return n;
}

void store_uidset_format(const struct store_uidset *set, struct ms_buf *out)
{
	for (size_t i = 0; i < set->n; i++) {
		if (i > 0)
			ms_buf_putc(out, ',');
		if (set->r[i].lo == set->r[i].hi)
			ms_buf_printf(out, "%u", set->r[i].lo);
		else
			ms_buf_printf(out, "%u:%u", set->r[i].lo, set->r[i].hi);
	}
}
