/*
 * mmp_certmap: the mapping of a client certificate's subject to a
 * directory search (docs/mmp.md "Client certificates"); pure functions,
 * used by mmp_external.c and tests/unit/test_mmp_certmap.c.
 *
 *
 * The group base.certmap:ISSUER (the issuer's DN) or base.certmap:default
 * holds two lists of "fromattr=toattr" pairs:
 *   dncomps      each subject component named by a fromattr becomes
 *                "toattr=value" of the search base, in the subject's
 *                order; empty or unset: the whole user tree
 *   filtercomps  each subject component named by a fromattr becomes a
 *                filter element (toattr=value), all ANDed
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "mmp.h"

/* Attributes a filter element may name: what a directory result holds. */
static const char *const checkable[] = {
    "uid", "cn", "mail", "mailalternateaddress", "mailequivalentaddress",
};

static char *lower_dup(const char *s, size_t len)
{
	char *d = ms_xstrndup(s, len);

	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	/* the e-mail attribute of a subject has several names */
	if (strcmp(d, "email") == 0 || strcmp(d, "emailaddress") == 0) {
		free(d);
		d = ms_xstrdup("e");
	}
	return d;
}

/*
 * Parse "from=to from2=to2" (blanks or commas between elements; a bare
 * "attr" is attr=attr) into pairs.  Returns the count, or -1 with why.
 */
static long parse_comps(const char *spec, const char *what, char ***from_r, char ***to_r,
                        struct ms_buf *why)
{
	size_t n = 0, cap = 0;
	char **from = NULL, **to = NULL;
	const char *p = spec != NULL ? spec : "";

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		const char *eq = memchr(start, '=', (size_t)(p - start));
		if (eq == start || eq == p - 1 ||
		    (eq != NULL && memchr(eq + 1, '=', (size_t)(p - eq - 1)) != NULL)) {
			ms_buf_printf(why, "%s: malformed element '%.*s' (want fromattr=toattr)",
			              what, (int)(p - start), start);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			from = ms_xrealloc(from, cap * sizeof(*from));
			to = ms_xrealloc(to, cap * sizeof(*to));
		}
		from[n] = lower_dup(start, (size_t)((eq != NULL ? eq : p) - start));
		to[n] = eq != NULL ? lower_dup(eq + 1, (size_t)(p - eq - 1))
		                   : lower_dup(start, (size_t)(p - start));
		n++;
	}
	*from_r = from;
	*to_r = to;
	return (long)n;
fail:
	for (size_t i = 0; i < n; i++) {
		free(from[i]);
		free(to[i]);
	}
	free(from);
	free(to);
	return -1;
}

static void free_pairs(char **from, char **to, long n)
{
	for (long i = 0; i < n; i++) {
		free(from[i]);
		free(to[i]);
	}
	free(from);
	free(to);
}

/* The target of attr in the pairs, or NULL. */
static const char *target(char *const *from, char *const *to, long n, const char *attr)
{
	for (long i = 0; i < n; i++)
		if (strcmp(from[i], attr) == 0)
			return to[i];
	return NULL;
}

static bool is_checkable(const char *attr)
{
	for (size_t i = 0; i < sizeof(checkable) / sizeof(checkable[0]); i++)
		if (strcmp(checkable[i], attr) == 0)
			return true;
	return false;
}

void mmp_certmap_deinit(struct mmp_certmap *map)
{
	for (size_t i = 0; i < map->n; i++) {
		free(map->attrs[i]);
		free(map->values[i]);
	}
	free(map->attrs);
	free(map->values);
	free(map->base);
	free(map->filter);
	memset(map, 0, sizeof(*map));
}

static void add_element(struct mmp_certmap *map, const char *attr, const char *value)
{
	map->attrs = ms_xrealloc(map->attrs, (map->n + 1) * sizeof(char *));
	map->values = ms_xrealloc(map->values, (map->n + 1) * sizeof(char *));
	map->attrs[map->n] = ms_xstrdup(attr);
	map->values[map->n] = ms_xstrdup(value);
	map->n++;
}

/* The filter text of the elements: "(a=x)" or "(&(a=x)(b=y))". */
static char *filter_text(const struct mmp_certmap *map)
{
	struct ms_buf f;

	ms_buf_init(&f);
	if (map->n > 1)
		ms_buf_puts(&f, "(&");
	for (size_t i = 0; i < map->n; i++) {
		ms_buf_printf(&f, "(%s=", map->attrs[i]);
		ms_directory_filter_escape(&f, map->values[i]);
		ms_buf_putc(&f, ')');
	}
	if (map->n > 1)
		ms_buf_putc(&f, ')');
	return ms_buf_steal(&f);
}

int mmp_certmap_apply(const char *dncomps, const char *filtercomps, size_t n, char *const *attrs,
                      char *const *values, struct mmp_certmap *map, struct ms_buf *why)
{
	char **dfrom = NULL, **dto = NULL, **ffrom = NULL, **fto = NULL;
	long nd, nf;
	struct ms_buf base;
	int rc = -1;

	memset(map, 0, sizeof(*map));
	ms_buf_init(&base);
	nd = parse_comps(dncomps, "dncomps", &dfrom, &dto, why);
	nf = nd < 0 ? -1 : parse_comps(filtercomps, "filtercomps", &ffrom, &fto, why);
	if (nd < 0 || nf < 0)
		goto out;
	if (nf == 0) {
		ms_buf_puts(why, "filtercomps is empty: nothing identifies the user");
		goto out;
	}
	for (long i = 0; i < nf; i++) {
		if (!is_checkable(fto[i])) {
			ms_buf_printf(
			    why,
			    "filtercomps: the MMP cannot search by %s (use uid, cn, mail, "
			    "mailAlternateAddress or mailEquivalentAddress)",
			    fto[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *d = target(dfrom, dto, nd, attrs[i]);
		const char *f = target(ffrom, fto, nf, attrs[i]);
		if (d != NULL) {
			ms_buf_printf(&base, "%s%s=", base.len > 0 ? "," : "", d);
			ms_directory_dn_escape(&base, values[i]);
		}
		if (f != NULL)
			add_element(map, f, values[i]);
	}
	if (nd > 0 && base.len == 0) {
		ms_buf_puts(why, "the subject has none of the attributes of dncomps");
		goto out;
	}
	if (map->n == 0) {
		ms_buf_puts(why, "the subject has none of the attributes of filtercomps");
		goto out;
	}
	map->base = ms_buf_steal(&base);
	map->filter = filter_text(map);
	rc = 0;
out:
	if (rc < 0)
		mmp_certmap_deinit(map);
	free_pairs(dfrom, dto, nd);
	free_pairs(ffrom, fto, nf);
	ms_buf_deinit(&base);
	return rc;
}

/* A DN for comparison: lower case, no blanks around ',' and '='. */
static char *dn_norm(const char *dn)
{
	struct ms_buf b;

	ms_buf_init(&b);
	for (const char *p = dn; *p != '\0'; p++) {
		if (*p == ' ' &&
		    (b.len == 0 || b.data[b.len - 1] == ',' || b.data[b.len - 1] == '=' ||
		     p[1] == ',' || p[1] == '=' || p[1] == ' ' || p[1] == '\0'))
			continue;
		ms_buf_putc(&b, (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p);
	}
	return ms_buf_steal(&b);
}

bool mmp_certmap_dn_same(const char *a, const char *b)
{
	char *x = dn_norm(a), *y = dn_norm(b);
	bool same = strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

bool mmp_certmap_dn_under(const char *dn, const char *base)
{
	char *d = dn_norm(dn), *b = dn_norm(base);
	size_t dl = strlen(d), bl = strlen(b);
	bool under = bl == 0 || (dl >= bl && strcmp(d + dl - bl, b) == 0 &&
	                         (dl == bl || d[dl - bl - 1] == ','));

	free(d);
	free(b);
	return under;
}

static bool in_list(char *const *list, const char *value)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcasecmp(list[i], value) == 0)
			return true;
	return false;
}

static bool eq(const char *a, const char *b)
{
	return a != NULL && strcasecmp(a, b) == 0;
}

bool mmp_certmap_matches(const struct mmp_certmap *map, const struct ms_directory_user *u,
                         struct ms_buf *why)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *a = map->attrs[i], *v = map->values[i];
		bool ok = (strcmp(a, "uid") == 0 && eq(u->uid, v)) ||
		          (strcmp(a, "cn") == 0 && eq(u->cn, v)) ||
		          (strcmp(a, "mail") == 0 && eq(u->mail, v)) ||
		          (strcmp(a, "mailalternateaddress") == 0 && in_list(u->alternate, v)) ||
		          (strcmp(a, "mailequivalentaddress") == 0 && in_list(u->equivalent, v));
		if (!ok) {
			ms_buf_printf(why, "%s does not have %s=%s", u->dn, a, v);
			return false;
		}
	}
	if (!mmp_certmap_dn_under(u->dn, map->base)) {
		ms_buf_printf(why, "%s is not under %s", u->dn, map->base);
		return false;
	}
	return true;
}

void mmp_certmap_free(struct mmp_certmap **map)
{
	if (map == NULL || *map == NULL)
		return;
	mmp_certmap_deinit(*map);
	free(*map);
	*map = NULL;
}
