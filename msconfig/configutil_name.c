/*
 * configutil_name: how configutil reads and prints option names.  A name
 * is a configutil (legacy) name where the schema records one
 * (ms_optdefs[].legacy, '*' standing for a named group's name), a unified
 * name, or a whole template (a family: store.partition.*.path).  It
 * resolves what the user typed, suggests the closest name when nothing
 * matches, and prints the name configutil shows for an option: the
 * legacy one when there is one, else the unified one.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "configutil_int.h"

static size_t count_stars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s == '*';
	return n;
}

/*
 * Match text against a legacy template: literal parts case-insensitively,
 * each '*' against a name (no dots) or against a literal '*'.  Fills
 * names (owned by the caller) and *family when every '*' was literal.
 */
static bool match_legacy(const char *tmpl, const char *text, char **names, size_t *nnames,
                         bool *family)
{
	size_t n = 0, literal = 0;
	const char *t = tmpl, *s = text;

	while (*t != '\0') {
		if (*t == '*') {
			const char *e = s;
			if (*s == '*') {
				e = s + 1;
				literal++;
			} else {
				while (*e != '\0' && *e != '.')
					e++;
			}
			if (e == s || n >= MS_OPTNAME_MAXNAMES)
				goto no;
			names[n++] = *s == '*' ? NULL : ms_xstrndup(s, (size_t)(e - s));
			s = e;
			t++;
			continue;
		}
		if (tolower((unsigned char)*t) != tolower((unsigned char)*s))
			goto no;
		t++;
		s++;
	}
	if (*s != '\0' || (literal > 0 && literal != n))
		goto no;
	*nnames = n;
	*family = n > 0 && literal == n;
	return true;
no:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return false;
}

/* The closest legacy or unified name to text, or NULL when nothing is close. */
static const char *suggest(const char *text)
{
	const char *u = ms_optname_suggest(text), *best = NULL;
	size_t ud = u ? ms_edit_distance(text, u) : (size_t)-1, best_d = (size_t)-1;

	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *l = ms_optdefs[i].legacy;
		size_t d = l ? ms_edit_distance(text, l) : (size_t)-1;
		if (d < best_d) {
			best_d = d;
			best = l;
		}
	}
	/* Far-off legacy names are noise (the same rule as ms_optname_suggest). */
	if (best != NULL && best_d < ud && (best_d <= 3 || best_d * 3 <= strlen(text)))
		return best;
	/* So is a unified name whose leaf shares nothing with the text's ("b" -> mx). */
	if (u != NULL && ud > 3) {
		const char *tl = strrchr(text, '.'), *ul = strrchr(u, '.');
		tl = tl ? tl + 1 : text;
		ul = ul ? ul + 1 : u;
		if (ms_edit_distance(tl, ul) >= strlen(tl))
			return NULL;
	}
	return u;
}

/* Resolve text to an option or a family.  0, or -1 with why. */
int configutil_name_resolve(const char *text, struct cu_name *r, struct ms_buf *why)
{
	memset(r, 0, sizeof(*r));
	if (strstr(text, ";lang-") == NULL) {
		for (size_t i = 0; i < ms_optdefs_count; i++) {
			const struct ms_optdef *d = &ms_optdefs[i];
			char *names[MS_OPTNAME_MAXNAMES];
			size_t nn;
			bool family;
			if (d->legacy == NULL || count_stars(d->legacy) != count_stars(d->name) ||
			    !match_legacy(d->legacy, text, names, &nn, &family))
				continue;
			r->id = (enum ms_opt)i;
			r->family = family;
			r->n.id = r->id;
			r->n.def = d;
			r->n.nnames = family ? 0 : nn;
			for (size_t k = 0; k < nn; k++)
				if (family)
					free(names[k]);
				else
					r->n.names[k] = names[k];
			return 0;
		}
	}
	if (strchr(text, '*') != NULL) {
		for (size_t i = 0; i < ms_optdefs_count; i++) {
			if (strcasecmp(ms_optdefs[i].name, text) == 0) {
				r->id = (enum ms_opt)i;
				r->family = true;
				r->n.def = &ms_optdefs[i];
				r->n.id = r->id;
				return 0;
			}
		}
	}
	if (ms_optname_parse(text, &r->n, why) == 0) {
		r->id = r->n.id;
		return 0;
	}
	if (strstr(why->data, "ambiguous") != NULL)
		return -1;
	const char *s = suggest(text);
	if (s != NULL)
		ms_buf_setf(why, "no such option '%s'; did you mean '%s'?", text, s);
	else
		ms_buf_setf(why, "no such option '%s' (configutil -H lists every option)", text);
	return -1;
}

void configutil_name_free(struct cu_name *r)
{
	if (!r->family)
		ms_optname_deinit(&r->n);
}

/* The name configutil prints: the legacy name when there is one, else unified. */
void configutil_name_print(const struct ms_optname *n, struct ms_buf *out)
{
	const char *l = n->def->legacy;

	if (l != NULL && count_stars(l) == n->nnames) {
		size_t k = 0;
		for (; *l != '\0'; l++) {
			if (*l == '*')
				ms_buf_puts(out, n->names[k++]);
			else
				ms_buf_putc(out, *l);
		}
		return;
	}
	ms_optname_display(n, false, out);
}

const char *configutil_name_template(const struct ms_optdef *d)
{
	return d->legacy && count_stars(d->legacy) == count_stars(d->name) ? d->legacy : d->name;
}
