/*
 * legacy: the legacy text forms of channels, rewrite rules, mapping tables
 * and aliases.  See legacy.h for the formats and the contract.
 *
 * Option names come only from the generated table: the groups are found
 * through the enum values of one of their options (MS_OPT_CHANNEL_*,
 * MS_OPT_ALIAS_*), never by spelling a name here.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/log.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "legacy.h"
#include "model.h"

/* Longest line export writes before it continues with '\' (channels). */
#define WRAP_COLUMN 78
/* Widest pattern column export pads to (rewrite rules, mapping entries). */
#define PATTERN_COLUMN 32

/* ---- kinds ---- */

static const struct {
	const char *word;
	enum mc_legacy_kind kind;
} kind_words[] = {
	{"channels", MC_LEGACY_CHANNELS}, {"rewrite", MC_LEGACY_REWRITE},
	{"rewrites", MC_LEGACY_REWRITE},  {"mappings", MC_LEGACY_MAPPINGS},
	{"aliases", MC_LEGACY_ALIASES},
};

int mc_legacy_kind_parse(const char *word, enum mc_legacy_kind *r)
{
	for (size_t i = 0; i < sizeof(kind_words) / sizeof(kind_words[0]); i++) {
		if (strcasecmp(word, kind_words[i].word) == 0) {
			*r = kind_words[i].kind;
			return 0;
		}
	}
	return -1;
}

const char *mc_legacy_kind_name(enum mc_legacy_kind kind)
{
	for (size_t i = 0; i < sizeof(kind_words) / sizeof(kind_words[0]); i++)
		if (kind_words[i].kind == kind)
			return kind_words[i].word;
	return "?";
}

/* ---- which options belong to a kind ---- */

/* Length of the group part of a template, "channel:*." of "channel:*.mx". */
static size_t group_len(const char *template)
{
	const char *dot = strrchr(template, '.');
	return dot ? (size_t)(dot - template) + 1 : 0;
}

/* def is an option (not a sub-group's) of the group that holds anchor. */
static bool direct_member(const struct ms_optdef *def, enum ms_opt anchor)
{
	const char *a = ms_optdefs[anchor].name;
	size_t len = group_len(a);

	return strncmp(def->name, a, len) == 0 && strchr(def->name + len, '.') == NULL;
}

/* def is an option of the group of anchor or of one of its sub-groups. */
static bool any_member(const struct ms_optdef *def, enum ms_opt anchor)
{
	const char *a = ms_optdefs[anchor].name;

	return strncmp(def->name, a, group_len(a)) == 0;
}

static const char *leaf(const struct ms_optdef *def)
{
	return def->name + group_len(def->name);
}

bool mc_legacy_entry_in_kind(const struct mc_entry *e, enum mc_legacy_kind kind)
{
	switch (kind) {
	case MC_LEGACY_CHANNELS:
		return direct_member(e->name.def, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME);
	case MC_LEGACY_REWRITE:
		return e->name.id == MS_OPT_REWRITE_RULE;
	case MC_LEGACY_MAPPINGS:
		return e->name.id == MS_OPT_MAPPING_RULE;
	case MC_LEGACY_ALIASES:
		return e->name.id == MS_OPT_ALIAS_ALIAS_ENTRY ||
		       e->name.id == MS_OPT_ALIAS_ALIAS_COMMENT;
	}
	return false;
}

/* The channel keyword spelled word (any case), or NULL. */
static const struct ms_optdef *channel_keyword(const char *word)
{
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const struct ms_optdef *d = &ms_optdefs[i];
		if (direct_member(d, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME) &&
		    strcasecmp(leaf(d), word) == 0)
			return d;
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = ms_xcalloc(lb + 1, sizeof(*row));

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
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
		if (!direct_member(d, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME))
			continue;
		size_t dist = edit_distance(word, leaf(d));
		if (dist < best_d) {
			best_d = dist;
			best = leaf(d);
		}
	}
	size_t len = strlen(word);
	return best_d <= (len > 6 ? len / 3 : 2) ? best : NULL;
}

/* ---- export ---- */

/*
 * The entries of a kind that are in effect (instance values replace role
 * values of the same option), ordered by group names, then schema order,
 * then the order of multi-values.  Returns the count; free *v_r.
 */
static int effective_cmp(const void *pa, const void *pb)
{
	const struct mc_entry *a = *(const struct mc_entry *const *)pa;
	const struct mc_entry *b = *(const struct mc_entry *const *)pb;

	for (size_t i = 0; i < a->name.nnames && i < b->name.nnames; i++) {
		int c = strcmp(a->name.names[i], b->name.names[i]);
		if (c != 0)
			return c;
	}
	if (a->name.nnames != b->name.nnames)
		return a->name.nnames < b->name.nnames ? -1 : 1;
	if (a->name.id != b->name.id)
		return a->name.id < b->name.id ? -1 : 1;
	if (a->ord != b->ord)
		return a->ord < b->ord ? -1 : 1;
	return 0;
}

static size_t effective(const struct mc_config *cfg, enum mc_legacy_kind kind,
			const struct mc_entry ***v_r)
{
	const struct mc_entry **v = ms_xcalloc(cfg->n + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (!mc_legacy_entry_in_kind(e, kind))
			continue;
		if (e->name.scope == MS_SCOPE_ROLE &&
		    mc_config_find(cfg, MS_SCOPE_INSTANCE, e->key) >= 0)
			continue; /* hidden by the instance value */
		v[n++] = e;
	}
	qsort(v, n, sizeof(*v), effective_cmp);
	*v_r = v;
	return n;
}

static bool same_group(const struct mc_entry *a, const struct mc_entry *b)
{
	return a->name.nnames > 0 && b->name.nnames > 0 &&
	       strcmp(a->name.names[0], b->name.names[0]) == 0;
}

/*
 * Must s be quoted?  Always when it is empty, holds '"' or '\\' or a
 * control character, or starts with '!' or a blank; blanks inside only
 * when !inner_blanks_ok; and any character of specials.
 */
static bool needs_quotes(const char *s, bool inner_blanks_ok, const char *specials)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == '!' || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
	    s[len - 1] == '\t')
		return true;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    strchr(specials, *p) != NULL)
			return true;
		if (!inner_blanks_ok && (*p == ' ' || *p == '\t'))
			return true;
	}
	return false;
}

static void put_quoted(struct ms_buf *out, const char *s)
{
	ms_buf_putc(out, '"');
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			ms_buf_putc(out, '\\');
		ms_buf_putc(out, *p);
	}
	ms_buf_putc(out, '"');
}

static void put_token(struct ms_buf *out, const char *s, bool inner_blanks_ok,
		      const char *specials)
{
	if (needs_quotes(s, inner_blanks_ok, specials))
		put_quoted(out, s);
	else
		ms_buf_puts(out, s);
}

static const char channels_head[] =
	"! Channels, one block per channel; blocks are separated by blank lines.\n"
	"! First line: the channel name and its keywords (a keyword that takes a\n"
	"! value is followed by it; quote values that hold blanks).  Second line,\n"
	"! if any: the official host name.  A line ending in \\ continues on the\n"
	"! next.  Lines starting with ! are comments.  The channel option files\n"
	"! (options.*) are not shown here and are kept as they are.\n";

static void export_channels(const struct mc_entry **v, size_t n, struct ms_buf *out)
{
	struct ms_buf unit, line;

	ms_buf_init(&unit);
	ms_buf_init(&line);
	ms_buf_puts(out, channels_head);
	for (size_t i = 0; i < n;) {
		size_t end = i;
		const char *host = NULL;
		while (end < n && same_group(v[i], v[end]))
			end++;
		ms_buf_reset(&line);
		put_token(&line, v[i]->name.names[0], false, "");
		size_t line_start = 0;
		for (size_t k = i; k < end; k++) {
			const struct mc_entry *e = v[k];
			if (e->name.id == MS_OPT_CHANNEL_OFFICIAL_HOST_NAME) {
				host = e->value;
				continue;
			}
			ms_buf_reset(&unit);
			ms_buf_puts(&unit, leaf(e->name.def));
			if (e->name.def->type != MS_OPT_TYPE_FLAG) {
				ms_buf_putc(&unit, ' ');
				put_token(&unit, e->value, false, "");
			}
			/* A keyword and its value stay on one physical line. */
			if (line.len - line_start + 1 + unit.len > WRAP_COLUMN) {
				ms_buf_puts(&line, " \\\n   ");
				line_start = line.len - 3;
			}
			ms_buf_putc(&line, ' ');
			ms_buf_append(&line, unit.data, unit.len);
		}
		ms_buf_printf(out, "\n%s\n", line.data);
		if (host != NULL) {
			put_token(out, host, false, "");
			ms_buf_putc(out, '\n');
		}
		i = end;
	}
	ms_buf_deinit(&unit);
	ms_buf_deinit(&line);
}

/* lead, pattern, blanks up to the template column (at least two), template. */
static void put_rule(struct ms_buf *out, const char *lead, const char *value, size_t width)
{
	char *pat, *tpl;
	size_t len;

	mc_rule_split(value, &pat, &tpl);
	ms_buf_puts(out, lead);
	ms_buf_puts(out, pat);
	len = strlen(lead) + strlen(pat);
	do
		ms_buf_putc(out, ' ');
	while (++len < width + 2 || len < strlen(lead) + strlen(pat) + 2);
	ms_buf_puts(out, tpl);
	ms_buf_putc(out, '\n');
	free(pat);
	free(tpl);
}

static size_t pattern_width(const struct mc_entry **v, size_t from, size_t to)
{
	size_t w = 0;

	for (size_t k = from; k < to; k++) {
		char *pat, *tpl;
		mc_rule_split(v[k]->value, &pat, &tpl);
		if (strlen(pat) > w)
			w = strlen(pat);
		free(pat);
		free(tpl);
	}
	return w > PATTERN_COLUMN ? PATTERN_COLUMN : w;
}

static const char rewrite_head[] =
	"! Rewrite rules, one per line, tried in order: PATTERN TEMPLATE.\n"
	"! The pattern ends at the first blank (write $ followed by a blank for a\n"
	"! blank inside it).  Lines starting with ! are comments.\n";

static void export_rewrite(const struct mc_entry **v, size_t n, struct ms_buf *out)
{
	size_t width = pattern_width(v, 0, n);

	ms_buf_puts(out, rewrite_head);
	ms_buf_putc(out, '\n');
	for (size_t k = 0; k < n; k++) {
		/* In column 1 a '!' would start a comment; a blank keeps it data. */
		put_rule(out, v[k]->value[0] == '!' ? " " : "", v[k]->value, width);
	}
}

static const char mappings_head[] =
	"! Mapping tables: the table name in column 1, then its entries, each\n"
	"! indented by at least one blank: PATTERN TEMPLATE, tried in order.\n"
	"! Tables are separated by blank lines.  Lines starting with ! are\n"
	"! comments.\n";

static void export_mappings(const struct mc_entry **v, size_t n, struct ms_buf *out)
{
	ms_buf_puts(out, mappings_head);
	for (size_t i = 0; i < n;) {
		size_t end = i;
		while (end < n && same_group(v[i], v[end]))
			end++;
		size_t width = pattern_width(v, i, end);
		ms_buf_putc(out, '\n');
		put_token(out, v[i]->name.names[0], false, "");
		ms_buf_puts(out, "\n\n");
		for (size_t k = i; k < end; k++) {
			put_rule(out, "  ", v[k]->value, width + 2);
		}
		i = end;
	}
}

static const char aliases_head[] =
	"! Aliases, one per line: NAME: ADDRESS, ADDRESS, ...  Quote an address\n"
	"! that holds a comma.  A line ending in \\ continues on the next.  Lines\n"
	"! starting with ! are comments; those directly above an alias (no blank\n"
	"! line between) are kept as the alias's comment.\n";

static void export_aliases(const struct mc_entry **v, size_t n, struct ms_buf *out)
{
	ms_buf_puts(out, aliases_head);
	ms_buf_putc(out, '\n');
	for (size_t i = 0; i < n;) {
		size_t end = i;
		bool first = true;
		while (end < n && same_group(v[i], v[end]))
			end++;
		for (size_t k = i; k < end; k++) {
			if (v[k]->name.id != MS_OPT_ALIAS_ALIAS_COMMENT)
				continue;
			if (i > 0)
				ms_buf_putc(out, '\n');
			ms_buf_printf(out, "!%s%s\n", *v[k]->value ? " " : "", v[k]->value);
		}
		put_token(out, v[i]->name.names[0], true, ":");
		ms_buf_putc(out, ':');
		for (size_t k = i; k < end; k++) {
			if (v[k]->name.id != MS_OPT_ALIAS_ALIAS_ENTRY)
				continue;
			ms_buf_puts(out, first ? " " : ", ");
			put_token(out, v[k]->value, true, ",");
			first = false;
		}
		ms_buf_putc(out, '\n');
		i = end;
	}
}

void mc_legacy_export(const struct mc_config *cfg, enum mc_legacy_kind kind,
		      struct ms_buf *out)
{
	const struct mc_entry **v;
	size_t n = effective(cfg, kind, &v);

	switch (kind) {
	case MC_LEGACY_CHANNELS:
		export_channels(v, n, out);
		break;
	case MC_LEGACY_REWRITE:
		export_rewrite(v, n, out);
		break;
	case MC_LEGACY_MAPPINGS:
		export_mappings(v, n, out);
		break;
	case MC_LEGACY_ALIASES:
		export_aliases(v, n, out);
		break;
	}
	free(v);
}

/* ---- import: lines ---- */

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

/* ---- import: state and errors ---- */

struct origin {
	size_t ord;
	long line;
};

struct import {
	const struct mc_config *old;
	struct mc_config *cfg; /* the clone being built */
	struct ms_buf *why;
	const char *author;
	struct origin *origins; /* line of each value set, for "repeats line M" */
	size_t norigins, corigins;
	struct ms_buf tok;
};

static int fail(struct import *im, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct import *im, long line, const char *fmt, ...)
{
	va_list ap;

	ms_buf_setf(im->why, "line %ld: ", line);
	va_start(ap, fmt);
	ms_buf_vprintf(im->why, fmt, ap);
	va_end(ap);
	return -1;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20)
			return true;
	return false;
}

/* A group name (channel, table, alias) the configuration can hold. */
static int check_name(struct import *im, long line, const char *what, const char *name)
{
	if (*name == '\0')
		return fail(im, line, "empty %s name", what);
	if (has_control(name))
		return fail(im, line, "control characters are not allowed in a %s name", what);
	return 0;
}

static long origin_line(const struct import *im, size_t ord)
{
	for (size_t i = 0; i < im->norigins; i++)
		if (im->origins[i].ord == ord)
			return im->origins[i].line;
	return 0;
}

/*
 * Set option id of group name to value in the clone, placed where the old
 * configuration had it (else where the schema says).  A value the old
 * configuration already held keeps its provenance (and may be an obsolete
 * or restricted option); a new one is checked as `set` checks it.
 */
static int put(struct import *im, long line, enum ms_opt id, const char *name,
	       const char *value)
{
	struct ms_optname n;
	struct ms_buf key, disp;
	int ret = -1;

	memset(&n, 0, sizeof(n));
	n.id = id;
	n.def = &ms_optdefs[id];
	if (name != NULL) {
		n.nnames = 1;
		n.names[0] = (char *)name; /* borrowed: mc_config_set copies it */
	}
	ms_buf_init(&key);
	ms_buf_init(&disp);
	ms_optname_key(&n, &key);
	if (mc_config_find(im->old, MS_SCOPE_INSTANCE, key.data) >= 0 ||
	    (n.def->flags & MS_OPTF_INSTANCE) != 0)
		n.scope = MS_SCOPE_INSTANCE;
	else
		n.scope = MS_SCOPE_ROLE;

	const struct mc_entry *was = NULL;
	for (size_t i = 0; i < im->old->n && was == NULL; i++) {
		const struct mc_entry *e = &im->old->entries[i];
		if (e->name.scope == n.scope && strcmp(e->key, key.data) == 0 &&
		    strcmp(e->value, n.def->type == MS_OPT_TYPE_FLAG ? "" : value) == 0)
			was = e;
	}
	size_t before = im->cfg->n;
	unsigned flags = was ? MC_SET_LOADING | MC_SET_RESTRICTED_OK : 0;
	if (mc_config_set(im->cfg, &n, value, flags, im->author, NULL, &disp) < 0) {
		fail(im, line, "%s", disp.data);
		goto out;
	}
	bool multi = (n.def->flags & MS_OPTF_MULTI) != 0;
	if (multi && im->cfg->n == before) {
		/* A value already there: the text repeats itself. */
		ms_buf_reset(&disp);
		ms_optname_display(&n, false, &disp);
		for (size_t i = 0; i < im->cfg->n; i++) {
			const struct mc_entry *e = &im->cfg->entries[i];
			if (e->name.scope == n.scope && strcmp(e->key, key.data) == 0 &&
			    strcmp(e->value, value) == 0) {
				fail(im, line, "%s: '%s' repeats line %ld", disp.data, value,
				     origin_line(im, e->ord));
				goto out;
			}
		}
		fail(im, line, "%s: '%s' is given twice", disp.data, value);
		goto out;
	}
	/* A new multi-value is appended; a single value may be replaced in place. */
	long at = multi ? (long)im->cfg->n - 1 : mc_config_find(im->cfg, n.scope, key.data);
	MS_ASSERT(at >= 0 && (size_t)at < im->cfg->n);
	struct mc_entry *e = &im->cfg->entries[at];
	if (was != NULL) {
		free(e->author);
		free(e->mtime);
		free(e->annotation);
		e->author = was->author ? ms_xstrdup(was->author) : NULL;
		e->mtime = was->mtime ? ms_xstrdup(was->mtime) : NULL;
		e->annotation = was->annotation ? ms_xstrdup(was->annotation) : NULL;
	}
	if (im->norigins == im->corigins) {
		im->corigins = im->corigins ? im->corigins * 2 : 64;
		im->origins = ms_xrealloc(im->origins, im->corigins * sizeof(*im->origins));
	}
	im->origins[im->norigins].ord = e->ord;
	im->origins[im->norigins].line = line;
	im->norigins++;
	ret = 0;
out:
	ms_buf_deinit(&key);
	ms_buf_deinit(&disp);
	return ret;
}

/*
 * Remove every entry of kind from the clone, except role values hidden by
 * an instance value of the same option (the text never showed them).
 */
static void remove_kind(struct import *im, enum mc_legacy_kind kind)
{
	struct mc_config *cfg = im->cfg;

	for (size_t i = 0; i < cfg->n;) {
		const struct mc_entry *e = &cfg->entries[i];
		if (!mc_legacy_entry_in_kind(e, kind) ||
		    (e->name.scope == MS_SCOPE_ROLE &&
		     mc_config_find(im->old, MS_SCOPE_INSTANCE, e->key) >= 0)) {
			i++;
			continue;
		}
		/* Every value of that option in that scope; later ones shift down to i. */
		struct ms_optname n;
		ms_optname_copy(&n, &e->name);
		mc_config_unset(cfg, &n, NULL);
		ms_optname_deinit(&n);
	}
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
static int next_token(struct import *im, long line, const char **pp)
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
			return fail(im, line, "a quoted string is not closed");
		if (*p != '\0' && *p != ' ' && *p != '\t')
			return fail(im, line, "a blank must follow the closing quote (at '%.20s')",
				    p);
	} else {
		while (*p != '\0' && *p != ' ' && *p != '\t')
			ms_buf_putc(&im->tok, *p++);
	}
	*pp = p;
	return 1;
}

/* ---- import: channels ---- */

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

/* The keyword line of a channel block. */
static int channel_keywords(struct import *im, long line, const char *text, char **name_r)
{
	const struct ms_optdef *given[256];
	size_t ngiven = 0;
	const char *p = text;
	char *name;
	int r;

	if ((r = next_token(im, line, &p)) < 0)
		return -1;
	if (r == 0) /* the caller passes only lines that hold something */
		return fail(im, line, "a channel block starts with the channel name");
	name = ms_xstrdup(im->tok.data);
	*name_r = name;
	if (check_name(im, line, "channel", name) < 0)
		return -1;
	while ((r = next_token(im, line, &p)) > 0) {
		const struct ms_optdef *d = channel_keyword(im->tok.data);
		if (d == NULL) {
			const char *near = closest_keyword(im->tok.data);
			if (near != NULL)
				return fail(im, line, "unknown channel keyword '%s' (did you mean %s?)",
					    im->tok.data, near);
			return fail(im, line, "unknown channel keyword '%s'", im->tok.data);
		}
		if (d == &ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME])
			return fail(im, line,
				    "%s is not a keyword: the official host name is the second "
				    "line of the block",
				    leaf(d));
		for (size_t k = 0; k < ngiven; k++) {
			if (given[k] == d)
				return fail(im, line, "channel %s: %s is given twice", name,
					    leaf(d));
			if (d->exclusive != NULL && given[k]->exclusive != NULL &&
			    strcmp(d->exclusive, given[k]->exclusive) == 0)
				return fail(im, line, "channel %s: %s and %s exclude each other",
					    name, leaf(given[k]), leaf(d));
		}
		if (ngiven == sizeof(given) / sizeof(given[0]))
			return fail(im, line, "channel %s: too many keywords", name);
		given[ngiven++] = d;
		const char *value = "";
		char *copy = NULL;
		if (d->type != MS_OPT_TYPE_FLAG) {
			if ((r = next_token(im, line, &p)) < 0)
				return -1;
			if (r == 0)
				return fail(im, line, "channel %s: %s needs a value", name, leaf(d));
			value = copy = ms_xstrdup(im->tok.data);
		}
		r = put(im, line, (enum ms_opt)(d - ms_optdefs), name, value);
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

static int import_channels(struct import *im, const struct line *lines, size_t n)
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
				fail(im, block_start,
				     "channel %s has no keyword and no official host name", name);
				goto out;
			}
			block_lines = 0;
			continue;
		}
		if (block_lines == 0) {
			free(name);
			name = NULL;
			int r = channel_keywords(im, line, text.data, &name);
			if (r < 0)
				goto out;
			bare = r == 1;
			long prev = seen_add(&seen, name, line);
			if (prev != 0) {
				fail(im, line, "channel %s is already defined on line %ld", name, prev);
				goto out;
			}
			block_start = line;
		} else if (block_lines == 1) {
			const char *p = text.data;
			if (next_token(im, line, &p) < 0)
				goto out;
			char *host = ms_xstrdup(im->tok.data);
			int r = next_token(im, line, &p);
			if (r > 0)
				fail(im, line,
				     "the second line of a channel block holds only the official "
				     "host name of channel %s (a keyword line is the first line)",
				     name);
			if (r == 0 && put(im, line, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, name, host) < 0)
				r = -1;
			free(host);
			if (r != 0)
				goto out;
		} else {
			fail(im, line,
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

/* ---- import: rewrite rules and mapping tables ---- */

/* One "PATTERN TEMPLATE" line into the option id of group name. */
static int rule_line(struct import *im, long line, enum ms_opt id, const char *name,
		     const char *s)
{
	char *pat, *tpl, *value;
	int r;

	mc_rule_split(s, &pat, &tpl);
	if (*tpl == '\0') {
		r = fail(im, line, "'%s' has no template (a rule is PATTERN TEMPLATE)", pat);
	} else {
		value = ms_xasprintf("%s %s", pat, tpl);
		r = put(im, line, id, name, value);
		free(value);
	}
	free(pat);
	free(tpl);
	return r;
}

static int import_rewrite(struct import *im, const struct line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (is_comment(lines[i].s) || is_blank_line(lines[i].s))
			continue;
		if (rule_line(im, lines[i].no, MS_OPT_REWRITE_RULE, NULL, lines[i].s) < 0)
			return -1;
	}
	return 0;
}

static int import_mappings(struct import *im, const struct line *lines, size_t n)
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
				fail(im, table_line,
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
				fail(im, lines[i].no,
				     "a table name is one word in column 1; entries are indented "
				     "(got '%s')",
				     s);
				goto out;
			}
			if (check_name(im, lines[i].no, "table", table) < 0)
				goto out;
			long prev = seen_add(&seen, table, lines[i].no);
			if (prev != 0) {
				fail(im, lines[i].no, "mapping table %s is already given on line %ld",
				     table, prev);
				goto out;
			}
			table_line = lines[i].no;
			entries = 0;
			continue;
		}
		if (table == NULL) {
			fail(im, lines[i].no,
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

/* ---- import: aliases ---- */

/* NAME: or "NAME": at the start of s; the rest after the colon in *rest_r. */
static int alias_name(struct import *im, long line, const char *s, char **name_r,
		      const char **rest_r)
{
	const char *p = s + strspn(s, " \t");

	if (*p == '"') {
		if (read_quoted(&p, &im->tok) < 0)
			return fail(im, line, "a quoted string is not closed");
		p += strspn(p, " \t");
		if (*p != ':')
			return fail(im, line, "a ':' must follow the alias name");
		*name_r = ms_xstrdup(im->tok.data);
	} else {
		const char *colon = strchr(p, ':');
		if (colon == NULL)
			return fail(im, line,
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

static int alias_addresses(struct import *im, long line, const char *name, const char *p)
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
				fail(im, line, "a quoted string is not closed");
				goto out;
			}
			ms_buf_append(&addr, im->tok.data, im->tok.len);
			p += strspn(p, " \t");
			if (*p != '\0' && *p != ',') {
				fail(im, line,
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
				fail(im, line, "alias %s: an empty address", name);
				goto out;
			}
			ms_buf_append(&addr, start, len);
		}
		if (put(im, line, MS_OPT_ALIAS_ALIAS_ENTRY, name, addr.data) < 0)
			goto out;
		if (*p == ',') {
			p++;
			if (p[strspn(p, " \t")] == '\0') {
				fail(im, line, "alias %s: an empty address after the last ','",
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

static int import_aliases(struct import *im, const struct line *lines, size_t n)
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
			fail(im, line, "alias %s is already defined on line %ld", name, prev);
			goto out;
		}
		if (rest[strspn(rest, " \t")] == '\0' && !has_comment) {
			fail(im, line, "alias %s has no address (and no comment line above it)",
			     name);
			goto out;
		}
		if (has_comment &&
		    put(im, line, MS_OPT_ALIAS_ALIAS_COMMENT, name, comment.data) < 0)
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

/* ---- import ---- */

int mc_legacy_import(struct mc_config *cfg, enum mc_legacy_kind kind, const char *text,
		     size_t len, struct ms_buf *why)
{
	struct import im;
	struct line *lines;
	char *copy;
	size_t n;
	int r = -1;

	if (len > MC_LEGACY_MAX_TEXT) {
		ms_buf_setf(why, "the text is larger than %u bytes", MC_LEGACY_MAX_TEXT);
		return -1;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul != NULL) {
		long line = 1;
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		ms_buf_setf(why, "line %ld: the text holds a NUL byte", line);
		return -1;
	}
	memset(&im, 0, sizeof(im));
	im.old = cfg;
	im.cfg = mc_config_clone(cfg);
	im.why = why;
	im.author = mc_user_name();
	ms_buf_init(&im.tok);
	copy = ms_xstrndup(text, len);
	n = split_lines(copy, len, &lines);
	remove_kind(&im, kind);
	switch (kind) {
	case MC_LEGACY_CHANNELS:
		r = import_channels(&im, lines, n);
		break;
	case MC_LEGACY_REWRITE:
		r = import_rewrite(&im, lines, n);
		break;
	case MC_LEGACY_MAPPINGS:
		r = import_mappings(&im, lines, n);
		break;
	case MC_LEGACY_ALIASES:
		r = import_aliases(&im, lines, n);
		break;
	}
	if (r == 0) {
		/* Swap the contents so that the caller's pointer stays valid. */
		struct mc_config tmp = *cfg;
		*cfg = *im.cfg;
		*im.cfg = tmp;
	}
	mc_config_free(&im.cfg);
	free(im.origins);
	ms_buf_deinit(&im.tok);
	free(lines);
	free(copy);
	return r;
}

/* ---- what mc_config_diff does not say ---- */

size_t mc_legacy_report(const struct mc_config *before, const struct mc_config *after,
			enum mc_legacy_kind kind, struct ms_buf *out)
{
	size_t lines = 0;

	if (kind == MC_LEGACY_CHANNELS) {
		/* Option-file options outlive their channel's block: say so. */
		for (size_t i = 0; i < after->n; i++) {
			const struct mc_entry *e = &after->entries[i];
			if (!any_member(e->name.def, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME) ||
			    mc_legacy_entry_in_kind(e, kind))
				continue;
			bool had = false, has = false;
			for (size_t j = 0; j < before->n && !had; j++)
				had = mc_legacy_entry_in_kind(&before->entries[j], kind) &&
				      same_group(&before->entries[j], e);
			for (size_t j = 0; j < after->n && !has; j++)
				has = mc_legacy_entry_in_kind(&after->entries[j], kind) &&
				      same_group(&after->entries[j], e);
			if (!had || has)
				continue;
			ms_buf_puts(out, "note: kept ");
			mc_entry_format(e, false, out);
			ms_buf_puts(out, " (not part of the text; msconfig unset removes it)\n");
			lines++;
		}
	}
	return lines;
}
