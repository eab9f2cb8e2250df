/*
 * legacy_parse: the four legacy text grammars (legacy.h), read into the
 * clone an import builds.  It splits the text into lines, joins the lines
 * continued with '\\', reads tokens (quoted or not), checks group names,
 * channel keywords (suggesting the closest one for a typo), repeated
 * names and the shape of each block, and hands every value to
 * mc_legacy_import_put, which places and checks it.  Every error is set
 * through mc_legacy_import_fail, so it names its line.
 *
 * Option names come only from the generated table: the groups are found
 * through the enum values of one of their options (MS_OPT_CHANNEL_*,
 * MS_OPT_ALIAS_*), never by spelling a name here.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/optname.h>
#include <ms/optdef.h>

#include "legacy.h"
#include "legacy_int.h"
#include "model.h"

/* ---- channel keywords ---- */

/* The channel keyword spelled word (any case), or NULL. */
static const struct ms_optdef *channel_keyword(const char *word)
{
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const struct ms_optdef *d = &ms_optdefs[i];
		if (mc_legacy_direct_member(d, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME) &&
		    strcasecmp(mc_legacy_leaf(d), word) == 0)
			return d;
	}
	return NULL;
}

/* The channel keyword closest to word, or NULL when none is close. */
static const char *closest_keyword(const char *word)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;

	if (strlen(word) > 64)
		return NULL; /* not a mistyped keyword; spare the quadratic work */
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const struct ms_optdef *d = &ms_optdefs[i];
		if (!mc_legacy_direct_member(d, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME))
			continue;
		size_t dist = ms_edit_distance(word, mc_legacy_leaf(d));
		if (dist < best_d) {
			best_d = dist;
			best = mc_legacy_leaf(d);
		}
	}
	size_t len = strlen(word);
	return best_d <= (len > 6 ? len / 3 : 2) ? best : NULL;
}

/* ---- lines ---- */

struct line {
	char *s; /* NUL-terminated, without "\n" and a trailing "\r" */
	long no; /* 1-based */
};

/* Split text (already a NUL-terminated copy) into lines, in place. */
static size_t split_lines(char *text, size_t len, struct line **lines_r)
{
	size_t cap = 16, n = 0;
	struct line *lines = ms_xcalloc(cap, sizeof(*lines));
	char *p = text, *end = text + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		if (stop > p && stop[-1] == '\r')
			stop[-1] = '\0';
		*stop = '\0';
		if (n == cap) {
			cap *= 2;
			lines = ms_xrealloc(lines, cap * sizeof(*lines));
		}
		lines[n].s = p;
		lines[n].no = (long)n + 1;
		n++;
		p = stop + 1;
	}
	*lines_r = lines;
	return n;
}

static bool is_blank_line(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

static bool is_comment(const char *s)
{
	return s[0] == '!';
}

/*
 * The logical line that starts at lines[*i]: a physical line that ends in
 * '\' is joined with the next one by a blank, skipping comment lines; a
 * blank line or the end of the text ends it (the '\' is then dropped).
 * *i is left on the last line used.
 */
static void logical_line(const struct line *lines, size_t n, size_t *i, struct ms_buf *out)
{
	size_t k = *i;

	ms_buf_reset(out);
	for (;;) {
		const char *s = lines[k].s;
		size_t len = strlen(s);
		bool cont = len > 0 && s[len - 1] == '\\';
		ms_buf_append(out, s, cont ? len - 1 : len);
		if (!cont)
			break;
		size_t next = k + 1;
		while (next < n && is_comment(lines[next].s))
			next++;
		if (next >= n || is_blank_line(lines[next].s))
			break;
		ms_buf_putc(out, ' ');
		k = next;
	}
	*i = k;
}

/* ---- tokens and names ---- */

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			return true;
	return false;
}

/* A group name (channel, table, alias) the configuration can hold. */
static int check_name(struct mc_legacy_import *im, long line, const char *what, const char *name)
{
	if (*name == '\0')
		return mc_legacy_import_fail(im, line, "empty %s name", what);
	if (has_control(name))
		return mc_legacy_import_fail(
		    im, line, "control characters are not allowed in a %s name", what);
	return 0;
}

/*
 * A quoted string that starts at *pp (on its '"') into out, without the
 * quotes and with \" and \\ undone; *pp is left after the closing quote.
 * 0, or -1 when the quote is not closed.
 */
static int read_quoted(const char **pp, struct ms_buf *out)
{
	const char *p = *pp + 1;

	ms_buf_reset(out);
	for (;;) {
		if (*p == '\0')
			return -1;
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
			ms_buf_putc(out, p[1]);
			p += 2;
			continue;
		}
		if (*p == '"')
			break;
		ms_buf_putc(out, *p++);
	}
	*pp = p + 1;
	return 0;
}

/*
 * The next blank-separated token of a line into im->tok: 1, 0 at the end
 * of the line, or -1 (an unterminated quote, or text glued to a closing
 * quote) with why set.
 */
static int next_token(struct mc_legacy_import *im, long line, const char **pp)
{
	const char *p = *pp;

	ms_buf_reset(&im->tok);
	p += strspn(p, " \t");
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	if (*p == '"') {
		if (read_quoted(&p, &im->tok) < 0)
			return mc_legacy_import_fail(im, line, "a quoted string is not closed");
		if (*p != '\0' && *p != ' ' && *p != '\t')
			return mc_legacy_import_fail(
			    im, line, "a blank must follow the closing quote (at '%.20s')", p);
	} else {
		while (*p != '\0' && *p != ' ' && *p != '\t')
			ms_buf_putc(&im->tok, *p++);
	}
	*pp = p;
	return 1;
}

/* ---- names given twice ---- */

struct seen_name {
	char *name;
	long line;
};

struct seen {
	struct seen_name *v;
	size_t n, cap;
};

/* The line where name was seen, or 0 (and then it is recorded). */
static long seen_add(struct seen *s, const char *name, long line)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return s->v[i].line;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->v = ms_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n].name = ms_xstrdup(name);
	s->v[s->n].line = line;
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
}

/* ---- channels ---- */

/*
 * The first line of a channel block: its name (not seen before) and its
 * keywords.  0, 1 when the line holds only the name, or -1 with why set.
 */
static int channel_keywords(struct mc_legacy_import *im, long line, const char *text,
			    struct seen *seen, char **name_r)
{
	const struct ms_optdef *given[256];
	size_t ngiven = 0;
	const char *p = text;
	char *name;
	int r;

	if ((r = next_token(im, line, &p)) < 0)
		return -1;
	if (r == 0) /* the caller passes only lines that hold something */
		return mc_legacy_import_fail(im, line,
		                             "a channel block starts with the channel name");
	name = ms_xstrdup(im->tok.data);
	*name_r = name;
	if (check_name(im, line, "channel", name) < 0)
		return -1;
	long prev = seen_add(seen, name, line);
	if (prev != 0)
		return mc_legacy_import_fail(im, line, "channel %s is already defined on line %ld",
		                             name, prev);
	while ((r = next_token(im, line, &p)) > 0) {
		const struct ms_optdef *d = channel_keyword(im->tok.data);
		if (d == NULL) {
			const char *near = closest_keyword(im->tok.data);
			if (near != NULL)
				return mc_legacy_import_fail(
				    im, line, "unknown channel keyword '%s' (did you mean %s?)",
				    im->tok.data, near);
			return mc_legacy_import_fail(im, line, "unknown channel keyword '%s'",
			                             im->tok.data);
		}
		if (d == &ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME])
			return mc_legacy_import_fail(
			    im, line,
			    "%s is not a keyword: the official host name is the second "
			    "line of the block",
			    mc_legacy_leaf(d));
		for (size_t k = 0; k < ngiven; k++) {
			if (given[k] == d)
				return mc_legacy_import_fail(im, line,
				                             "channel %s: %s is given twice", name,
				                             mc_legacy_leaf(d));
			if (d->exclusive != NULL && given[k]->exclusive != NULL &&
			    strcmp(d->exclusive, given[k]->exclusive) == 0)
				return mc_legacy_import_fail(
				    im, line, "channel %s: %s and %s exclude each other", name,
				    mc_legacy_leaf(given[k]), mc_legacy_leaf(d));
		}
		if (ngiven == sizeof(given) / sizeof(given[0]))
			return mc_legacy_import_fail(im, line, "channel %s: too many keywords",
			                             name);
		given[ngiven++] = d;
		const char *value = "";
		char *copy = NULL;
		if (d->type != MS_OPT_TYPE_FLAG) {
			if ((r = next_token(im, line, &p)) < 0)
				return -1;
			if (r == 0)
				return mc_legacy_import_fail(im, line,
				                             "channel %s: %s needs a value", name,
				                             mc_legacy_leaf(d));
			value = copy = ms_xstrdup(im->tok.data);
		}
		r = mc_legacy_import_put(im, line, (enum ms_opt)(d - ms_optdefs), name, value);
		free(copy);
		if (r < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (ngiven == 0)
		return 1; /* only a name: the caller needs a host line */
	return 0;
}

static int parse_channels(struct mc_legacy_import *im, const struct line *lines, size_t n)
{
	struct ms_buf text;
	struct seen seen = {NULL, 0, 0};
	char *name = NULL;
	size_t block_lines = 0; /* logical lines in the current block */
	long block_start = 0;
	bool bare = false; /* the block's first line had no keyword */
	int ret = -1;

	ms_buf_init(&text);
	for (size_t i = 0; i <= n; i++) {
		long line = 0;
		if (i < n && is_comment(lines[i].s))
			continue;
		ms_buf_reset(&text);
		if (i < n && !is_blank_line(lines[i].s)) {
			line = lines[i].no;
			logical_line(lines, n, &i, &text);
		}
		/* A lone '\' joined to nothing is blank too. */
		if (is_blank_line(text.data)) {
			if (block_lines == 1 && bare) {
				mc_legacy_import_fail(
				    im, block_start,
				    "channel %s has no keyword and no official host name", name);
				goto out;
			}
			block_lines = 0;
			continue;
		}
		if (block_lines == 0) {
			free(name);
			name = NULL;
			int r = channel_keywords(im, line, text.data, &seen, &name);
			if (r < 0)
				goto out;
			bare = r == 1;
			block_start = line;
		} else if (block_lines == 1) {
			const char *p = text.data;
			if (next_token(im, line, &p) < 0)
				goto out;
			char *host = ms_xstrdup(im->tok.data);
			int r = next_token(im, line, &p);
			if (r > 0)
				mc_legacy_import_fail(
				    im, line,
				    "the second line of a channel block holds only the official "
				    "host name of channel %s (a keyword line is the first line)",
				    name);
			if (r == 0 &&
			    mc_legacy_import_put(im, line, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, name,
			                         host) < 0)
				r = -1;
			free(host);
			if (r != 0)
				goto out;
		} else {
			mc_legacy_import_fail(
			    im, line,
			    "a channel block has at most two lines (keywords, official host "
			    "name); put a blank line before the next channel");
			goto out;
		}
		block_lines++;
	}
	ret = 0;
out:
	free(name);
	seen_free(&seen);
	ms_buf_deinit(&text);
	return ret;
}

/* ---- rewrite rules and mapping tables ---- */

/* One "PATTERN TEMPLATE" line into the option id of group name. */
static int rule_line(struct mc_legacy_import *im, long line, enum ms_opt id, const char *name,
		     const char *s)
{
	char *pat, *tpl, *value;
	int r;

	mc_rule_split(s, &pat, &tpl);
	if (*tpl == '\0') {
		r = mc_legacy_import_fail(im, line,
		                          "'%s' has no template (a rule is PATTERN TEMPLATE)", pat);
	} else {
		value = ms_xasprintf("%s %s", pat, tpl);
		r = mc_legacy_import_put(im, line, id, name, value);
		free(value);
	}
	free(pat);
	free(tpl);
	return r;
}

static int parse_rewrite(struct mc_legacy_import *im, const struct line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (is_comment(lines[i].s) || is_blank_line(lines[i].s))
			continue;
		if (rule_line(im, lines[i].no, MS_OPT_REWRITE_RULE, NULL, lines[i].s) < 0)
			return -1;
	}
	return 0;
}

static int parse_mappings(struct mc_legacy_import *im, const struct line *lines, size_t n)
{
	struct seen seen = {NULL, 0, 0};
	char *table = NULL;
	long table_line = 0;
	size_t entries = 0;
	int ret = -1;

	for (size_t i = 0; i <= n; i++) {
		const char *s = i < n ? lines[i].s : NULL;
		if (s != NULL && (is_comment(s) || is_blank_line(s)))
			continue;
		if (s == NULL || (s[0] != ' ' && s[0] != '\t')) {
			/* A new table, or the end: the last one needs entries. */
			if (table != NULL && entries == 0) {
				mc_legacy_import_fail(
				    im, table_line,
				    "mapping table %s has no entries (a table exists only "
				    "through its entries; delete its name to remove it)",
				    table);
				goto out;
			}
			if (s == NULL)
				break;
			const char *p = s;
			if (next_token(im, lines[i].no, &p) < 0)
				goto out;
			free(table);
			table = ms_xstrdup(im->tok.data);
			int r = next_token(im, lines[i].no, &p);
			if (r < 0)
				goto out;
			if (r > 0) {
				mc_legacy_import_fail(
				    im, lines[i].no,
				    "a table name is one word in column 1; entries are indented "
				    "(got '%.60s')",
				    s);
				goto out;
			}
			if (check_name(im, lines[i].no, "table", table) < 0)
				goto out;
			long prev = seen_add(&seen, table, lines[i].no);
			if (prev != 0) {
				mc_legacy_import_fail(
				    im, lines[i].no,
				    "mapping table %s is already given on line %ld", table, prev);
				goto out;
			}
			table_line = lines[i].no;
			entries = 0;
			continue;
		}
		if (table == NULL) {
			mc_legacy_import_fail(
			    im, lines[i].no,
			    "an entry before any table name (a table starts with its name in "
			    "column 1)");
			goto out;
		}
		if (rule_line(im, lines[i].no, MS_OPT_MAPPING_RULE, table, s) < 0)
			goto out;
		entries++;
	}
	ret = 0;
out:
	free(table);
	seen_free(&seen);
	return ret;
}

/* ---- aliases ---- */

/* NAME: or "NAME": at the start of s; the rest after the colon in *rest_r. */
static int alias_name(struct mc_legacy_import *im, long line, const char *s, char **name_r,
		      const char **rest_r)
{
	const char *p = s + strspn(s, " \t");

	if (*p == '"') {
		if (read_quoted(&p, &im->tok) < 0)
			return mc_legacy_import_fail(im, line, "a quoted string is not closed");
		p += strspn(p, " \t");
		if (*p != ':')
			return mc_legacy_import_fail(im, line, "a ':' must follow the alias name");
		*name_r = ms_xstrdup(im->tok.data);
	} else {
		const char *colon = strchr(p, ':');
		if (colon == NULL)
			return mc_legacy_import_fail(
			    im, line,
			    "an alias line is NAME: ADDRESS[, ADDRESS...] (no ':' in "
			    "'%.40s')",
			    s);
		size_t len = (size_t)(colon - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		*name_r = ms_xstrndup(p, len);
		p = colon;
	}
	*rest_r = p + 1;
	return check_name(im, line, "alias", *name_r);
}

static int alias_addresses(struct mc_legacy_import *im, long line, const char *name, const char *p)
{
	struct ms_buf addr;
	int ret = -1;

	ms_buf_init(&addr);
	p += strspn(p, " \t");
	while (*p != '\0') {
		ms_buf_reset(&addr);
		p += strspn(p, " \t");
		if (*p == '"') {
			if (read_quoted(&p, &im->tok) < 0) {
				mc_legacy_import_fail(im, line, "a quoted string is not closed");
				goto out;
			}
			ms_buf_append(&addr, im->tok.data, im->tok.len);
			p += strspn(p, " \t");
			if (*p != '\0' && *p != ',') {
				mc_legacy_import_fail(
				    im, line,
				    "alias %s: a ',' or the end of the line must follow a "
				    "quoted address",
				    name);
				goto out;
			}
		} else {
			const char *start = p;
			while (*p != '\0' && *p != ',')
				p++;
			size_t len = (size_t)(p - start);
			while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
				len--;
			if (len == 0) {
				mc_legacy_import_fail(im, line, "alias %s: an empty address", name);
				goto out;
			}
			ms_buf_append(&addr, start, len);
		}
		if (mc_legacy_import_put(im, line, MS_OPT_ALIAS_ALIAS_ENTRY, name, addr.data) < 0)
			goto out;
		if (*p == ',') {
			p++;
			if (p[strspn(p, " \t")] == '\0') {
				mc_legacy_import_fail(
				    im, line, "alias %s: an empty address after the last ','",
				    name);
				goto out;
			}
		}
	}
	ret = 0;
out:
	ms_buf_deinit(&addr);
	return ret;
}

static int parse_aliases(struct mc_legacy_import *im, const struct line *lines, size_t n)
{
	struct ms_buf text, comment;
	struct seen seen = {NULL, 0, 0};
	bool has_comment = false;
	char *name = NULL;
	int ret = -1;

	ms_buf_init(&text);
	ms_buf_init(&comment);
	for (size_t i = 0; i < n; i++) {
		const char *s = lines[i].s;
		if (is_blank_line(s)) {
			has_comment = false;
			continue;
		}
		if (is_comment(s)) {
			s++;
			if (*s == ' ')
				s++;
			if (!has_comment)
				ms_buf_reset(&comment);
			else
				ms_buf_putc(&comment, ' ');
			ms_buf_puts(&comment, s);
			has_comment = true;
			continue;
		}
		long line = lines[i].no;
		const char *rest = "";
		logical_line(lines, n, &i, &text);
		if (is_blank_line(text.data)) {
			has_comment = false;
			continue;
		}
		free(name);
		name = NULL;
		if (alias_name(im, line, text.data, &name, &rest) < 0)
			goto out;
		long prev = seen_add(&seen, name, line);
		if (prev != 0) {
			mc_legacy_import_fail(im, line, "alias %s is already defined on line %ld",
			                      name, prev);
			goto out;
		}
		if (rest[strspn(rest, " \t")] == '\0' && !has_comment) {
			mc_legacy_import_fail(
			    im, line, "alias %s has no address (and no comment line above it)",
			    name);
			goto out;
		}
		if (has_comment && mc_legacy_import_put(im, line, MS_OPT_ALIAS_ALIAS_COMMENT, name,
		                                        comment.data) < 0)
			goto out;
		has_comment = false;
		if (alias_addresses(im, line, name, rest) < 0)
			goto out;
	}
	ret = 0;
out:
	free(name);
	seen_free(&seen);
	ms_buf_deinit(&text);
	ms_buf_deinit(&comment);
	return ret;
}


/* ---- the text ---- */

int mc_legacy_parse(struct mc_legacy_import *im, enum mc_legacy_kind kind, const char *text,
		    size_t len)
{
	struct line *lines;
	char *copy = ms_xstrndup(text, len);
	size_t n = split_lines(copy, len, &lines);
	int r = -1;

	switch (kind) {
	case MC_LEGACY_CHANNELS:
		r = parse_channels(im, lines, n);
		break;
	case MC_LEGACY_REWRITE:
		r = parse_rewrite(im, lines, n);
		break;
	case MC_LEGACY_MAPPINGS:
		r = parse_mappings(im, lines, n);
		break;
	case MC_LEGACY_ALIASES:
		r = parse_aliases(im, lines, n);
		break;
	}
	free(lines);
	free(copy);
	return r;
}
