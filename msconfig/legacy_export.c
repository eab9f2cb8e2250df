/*
 * legacy_export: the options of one kind as legacy text (mc_legacy_export;
 * the formats are in legacy.h).  It gathers the entries in effect
 * (instance values hide the role values of the same option), orders them
 * by group, schema order and multi-value order, and writes each format
 * with a few comment lines that describe it, quoting a token only when it
 * must be quoted so that import reads back exactly what was written.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "legacy.h"
#include "legacy_int.h"
#include "model.h"

/* Longest line export writes before it continues with '\' (channels). */
#define WRAP_COLUMN 78
/* Widest pattern column export pads to (rewrite rules, mapping entries). */
#define PATTERN_COLUMN 32

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
	struct mc_legacy_keyset inst;
	size_t n = 0;

	mc_legacy_keyset_init(&inst, cfg);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (!mc_legacy_entry_in_kind(e, kind))
			continue;
		if (e->name.scope == MS_SCOPE_ROLE && mc_legacy_keyset_has(&inst, e->key))
			continue; /* hidden by the instance value */
		v[n++] = e;
	}
	mc_legacy_keyset_deinit(&inst);
	qsort(v, n, sizeof(*v), effective_cmp);
	*v_r = v;
	return n;
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
		while (end < n && mc_legacy_same_group(v[i], v[end]))
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
			ms_buf_puts(&unit, mc_legacy_leaf(e->name.def));
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
		while (end < n && mc_legacy_same_group(v[i], v[end]))
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
		while (end < n && mc_legacy_same_group(v[i], v[end]))
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
