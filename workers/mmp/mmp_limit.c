/*
 * mmp_limit: connections per client address, the connlimits rule and
 * the tcpaccess rule (mmp.h).  The count is a small chained hash table keyed by the address
 * text; an entry goes when its count falls to zero, so the table holds
 * only the addresses connected now.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "mmp.h"

struct count {
	struct count *next;
	unsigned n;
	char addr[];
};

struct mmp_counts {
	struct count **slots;
	size_t nslots, n;
};

struct mmp_counts *mmp_counts_new(void)
{
	struct mmp_counts *c = ms_xcalloc(1, sizeof(*c));

	c->nslots = 256;
	c->slots = ms_xcalloc(c->nslots, sizeof(*c->slots));
	return c;
}

void mmp_counts_free(struct mmp_counts **cp)
{
	struct mmp_counts *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	for (size_t i = 0; i < c->nslots; i++) {
		while (c->slots[i] != NULL) {
			struct count *e = c->slots[i];
			c->slots[i] = e->next;
			free(e);
		}
	}
	free(c->slots);
	free(c);
}

static size_t hash(const char *s, size_t nslots)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % nslots;
}

static void grow(struct mmp_counts *c)
{
	size_t n = c->nslots * 4;
	struct count **slots = ms_xcalloc(n, sizeof(*slots));

	for (size_t i = 0; i < c->nslots; i++) {
		while (c->slots[i] != NULL) {
			struct count *e = c->slots[i];
			size_t h = hash(e->addr, n);
			c->slots[i] = e->next;
			e->next = slots[h];
			slots[h] = e;
		}
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = n;
}

unsigned mmp_counts_add(struct mmp_counts *c, const char *addr, int delta)
{
	size_t h = hash(addr, c->nslots);
	struct count **pp, *e;

	for (pp = &c->slots[h]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (e == NULL) {
		if (delta <= 0)
			return 0;
		size_t len = strlen(addr);
		e = ms_xcalloc(1, sizeof(*e) + len + 1);
		memcpy(e->addr, addr, len + 1);
		e->next = c->slots[h];
		c->slots[h] = e;
		pp = &c->slots[h];
		c->n++;
	}
	if (delta < 0 && e->n <= (unsigned)-delta)
		e->n = 0;
	else
		e->n = (unsigned)((int)e->n + delta);
	if (e->n == 0) {
		unsigned n = 0;
		*pp = e->next;
		free(e);
		c->n--;
		return n;
	}
	if (c->n > c->nslots * 2)
		grow(c);
	return e->n;
}

/* An address in binary, for CIDR matching: family and 16 bytes. */
struct addr {
	int family;
	unsigned char b[16];
};

static int parse_addr(const char *text, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->b) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a->b) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Does the pattern "ADDR" or "ADDR/BITS" (len bytes) hold client? 1, 0, or -1 malformed. */
static int match_one(const char *pat, size_t len, const struct addr *client)
{
	char text[80];
	const char *slash;
	struct addr net;
	long bits;
	size_t max;

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, pat, len);
	text[len] = '\0';
	slash = strchr(text, '/');
	if (slash != NULL)
		text[slash - text] = '\0';
	if (parse_addr(text, &net) < 0)
		return -1;
	max = net.family == AF_INET ? 32 : 128;
	bits = (long)max;
	if (slash != NULL) {
		char *end;
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == slash + 1 || bits < 0 || bits > (long)max)
			return -1;
	}
	if (net.family != client->family)
		return 0;
	for (long i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));
		if ((net.b[i / 8] & m) != (client->b[i / 8] & m))
			return 0;
	}
	return 1;
}

/* Does the comma-separated list (len bytes; empty: everyone) hold client? */
static int match_list(const char *list, size_t len, const struct addr *client)
{
	size_t i = 0;
	int any = 0;

	if (len == 0)
		return 1;
	while (i < len) {
		size_t n = 0;
		while (i + n < len && list[i + n] != ',')
			n++;
		int r = match_one(list + i, n, client);
		if (r < 0)
			return -1;
		any |= r;
		i += n + 1;
	}
	return any;
}

long mmp_connlimit(const char *spec, const char *addr, struct ms_buf *why)
{
	struct addr client;
	const char *p = spec != NULL ? spec : "";

	if (parse_addr(addr, &client) < 0)
		memset(&client, 0, sizeof(client)); /* matches only the empty list */
	while (*p != '\0') {
		size_t n;
		const char *colon;
		char *end;
		long max;
		int m;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		/* the last colon: IPv6 addresses hold colons too */
		colon = NULL;
		for (size_t i = 0; i < n; i++)
			if (p[i] == ':')
				colon = p + i;
		if (colon == NULL) {
			ms_buf_printf(why, "connlimits entry \"%.*s\" has no \":MAX\"", (int)n, p);
			return -2;
		}
		errno = 0;
		max = strtol(colon + 1, &end, 10);
		if (errno != 0 || end != p + n || end == colon + 1 || max < 0) {
			ms_buf_printf(why, "connlimits entry \"%.*s\": MAX is not a number", (int)n,
			              p);
			return -2;
		}
		m = match_list(p, (size_t)(colon - p), &client);
		if (m < 0) {
			ms_buf_printf(why, "connlimits entry \"%.*s\": not an address list", (int)n,
			              p);
			return -2;
		}
		if (m > 0)
			return max;
		p += n;
	}
	return -1;
}

bool mmp_tcpaccess_allowed(const char *spec, const char *service, const char *addr)
{
	/* the rules of a user entry without the user: the same parser */
	struct ms_directory_user rules;
	bool ok;

	if (spec == NULL || *spec == '\0')
		return true;
	memset(&rules, 0, sizeof(rules));
	rules.allowed_services = ms_xstrdup(spec);
	ok = ms_directory_service_allowed(&rules, service, addr);
	free(rules.allowed_services);
	return ok;
}
