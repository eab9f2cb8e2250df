/*
 * legacy: the legacy text forms of channels, rewrite rules, mapping tables
 * and aliases.  See legacy.h for the formats and the contract.
 *
 * This file holds what export and import share: the kind words, which
 * options belong to a kind, the set of keys a configuration holds in
 * instance, and the report of what an import did that mc_config_diff does
 * not show.  Export is legacy_export.c; import is legacy_import.c (the
 * transaction) and legacy_parse.c (the four grammars); legacy_int.h is
 * their private interface.
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
#include <ms/optdef.h>

#include "legacy.h"
#include "legacy_int.h"
#include "model.h"

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
bool mc_legacy_direct_member(const struct ms_optdef *def, enum ms_opt anchor)
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

const char *mc_legacy_leaf(const struct ms_optdef *def)
{
	return def->name + group_len(def->name);
}

bool mc_legacy_entry_in_kind(const struct mc_entry *e, enum mc_legacy_kind kind)
{
	switch (kind) {
	case MC_LEGACY_CHANNELS:
		return mc_legacy_direct_member(e->name.def, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME);
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

/* ---- the keys a configuration holds in instance, for quick lookups ---- */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void mc_legacy_keyset_init(struct mc_legacy_keyset *ks, const struct mc_config *cfg)
{
	ks->keys = ms_xcalloc(cfg->n + 1, sizeof(*ks->keys));
	ks->n = 0;
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->entries[i].name.scope == MS_SCOPE_INSTANCE)
			ks->keys[ks->n++] = cfg->entries[i].key;
	qsort(ks->keys, ks->n, sizeof(*ks->keys), str_cmp);
}

bool mc_legacy_keyset_has(const struct mc_legacy_keyset *ks, const char *key)
{
	return ks->n > 0 && bsearch(&key, ks->keys, ks->n, sizeof(*ks->keys), str_cmp) != NULL;
}

void mc_legacy_keyset_deinit(struct mc_legacy_keyset *ks)
{
	free(ks->keys);
	ks->keys = NULL;
	ks->n = 0;
}

/* ---- grouping ---- */

bool mc_legacy_same_group(const struct mc_entry *a, const struct mc_entry *b)
{
	return a->name.nnames > 0 && b->name.nnames > 0 &&
	       strcmp(a->name.names[0], b->name.names[0]) == 0;
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
				      mc_legacy_same_group(&before->entries[j], e);
			for (size_t j = 0; j < after->n && !has; j++)
				has = mc_legacy_entry_in_kind(&after->entries[j], kind) &&
				      mc_legacy_same_group(&after->entries[j], e);
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
