/*
 * legacy: the legacy text forms of channels, rewrite rules, mapping tables
 * and aliases, for `msconfig edit`.
 *
 * The product kept these in imta.cnf, the mappings file and the aliases
 * file; Unified Configuration keeps them as options.  This module turns
 * the options of one kind into that text and parses edited text back.  It
 * is pure: no files, no terminal, no allocation failure (ms_xmalloc), so
 * it can be unit-tested and fuzzed; the verb that runs the editor is in
 * edit.c.
 *
 * Shared rules of the four formats
 *   - a line whose first character is '!' is a comment (column 1 only, as
 *     in the product's files: an indented '!' is data);
 *   - a trailing "\r" is ignored; a NUL byte is an error;
 *   - where a token may be quoted (channel names, keywords' values, host
 *     names, table names, alias names and addresses), "..." groups blanks
 *     and \" and \\ are the only escapes.  Export quotes a token only when
 *     it must: empty, blanks, '"', '\\', a leading '!', or (aliases) ','
 *     and ':'.
 *
 * channels (imta.cnf channel blocks; channel:NAME.*)
 *     ! comment
 *     tcp_local smtp mx maxjobs 7 backoff "pt5m pt10m"
 *     tcp-daemon
 *   Blocks are separated by blank lines.  The first line is the channel
 *   name and its keywords: a flag option is its bare name, a valued option
 *   is its name and one value token.  The optional second line is the
 *   official host name.  A line ending in '\' continues on the next one.
 *   Keywords are case-insensitive.  Unknown keywords (with the closest one
 *   suggested), a repeated keyword, two members of one exclusive family,
 *   a third line and a repeated channel are errors.  The option-file
 *   options (channel:NAME.options.*, or any other sub-group) are not part
 *   of the text and are kept as they are, even when the block goes.  A
 *   channel made only of such options is not exported; a block with only
 *   a name is an error (a channel exists only through its options).
 *
 * rewrite (rewrite.rule, in order)
 *     PATTERN    TEMPLATE
 *   One rule per line; blank lines are ignored.  The pattern ends at the
 *   first blank that is not escaped as "$ ", the template is the rest
 *   (trailing blanks dropped): mc_rule_split.
 *
 * mappings (mapping:NAME.rule, in order)
 *     PORT_ACCESS
 *
 *       TCP|*|25|*|*    $Y
 *       *               $N
 *   A table name is one token in column 1; each entry below it is
 *   indented by at least one blank and split like a rewrite rule.  Blank
 *   lines are free.  An entry before any table, a table with no entries
 *   (a table exists only through its entries) and a table given twice are
 *   errors.
 *
 * aliases (alias:NAME.alias_entry, in order, and alias:NAME.alias_comment)
 *     ! kept as the comment of postmaster
 *     postmaster: root@example.com, "odd,name@example.com"
 *   NAME, a colon, then the addresses separated by commas (an address is
 *   trimmed; quote it to keep a comma or outer blanks).  A line ending in
 *   '\' continues.  The comment lines directly above an alias line (no
 *   blank line between) become its comment, joined with one blank; other
 *   comments are dropped.  A name given twice, an empty address and an
 *   address given twice are errors; "NAME:" with no address is allowed
 *   (an alias that has only a comment).
 *
 * Scopes: the text shows what is in effect.  For each option, the
 * instance values replace the role values (as the compiler merges them).
 * On import an option goes back to instance if it was there, else where
 * the schema places it; role values hidden by an instance value are not
 * shown and are kept.  Unchanged values keep their author, time and
 * annotation; new values are stamped with mc_user_name() and the time.
 *
 * Round trip: mc_legacy_import(cfg, k, export(cfg, k)) leaves every entry
 * of cfg as it was (values, order of multi-values, scopes, provenance).
 */
#ifndef MC_LEGACY_H
#define MC_LEGACY_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct mc_config;
struct mc_entry;

/* Largest text mc_legacy_import accepts (and `edit` reads back), in bytes. */
#define MC_LEGACY_MAX_TEXT (16u << 20)

enum mc_legacy_kind {
	MC_LEGACY_CHANNELS,
	MC_LEGACY_REWRITE,
	MC_LEGACY_MAPPINGS,
	MC_LEGACY_ALIASES,
};

/*
 * "channels", "rewrite" or "rewrites", "mappings", "aliases" (any case)
 * into *r.  Returns 0, or -1 with *r untouched.
 */
int mc_legacy_kind_parse(const char *word, enum mc_legacy_kind *r);
/* The canonical word of a kind ("channels", "rewrite", ...); static. */
const char *mc_legacy_kind_name(enum mc_legacy_kind kind);

/*
 * Is e one of the options the text of that kind shows?  (For channels:
 * the channel's own options, not those of its sub-groups.)
 */
bool mc_legacy_entry_in_kind(const struct mc_entry *e, enum mc_legacy_kind kind);

/*
 * Append the text form of every option of that kind in cfg to out,
 * starting with a few comment lines that describe the format.
 */
void mc_legacy_export(const struct mc_config *cfg, enum mc_legacy_kind kind,
		      struct ms_buf *out);

/*
 * Replace every option of that kind in cfg by what text (len bytes, need
 * not be NUL-terminated) describes, each value checked as `set` checks
 * it (mc_config_set).  Returns 0, or -1 with why set to "line N: message"
 * (or a message without a line when the text as a whole is wrong) and cfg
 * unchanged.  The work is done on a clone that is swapped in at the end.
 */
int mc_legacy_import(struct mc_config *cfg, enum mc_legacy_kind kind, const char *text,
		     size_t len, struct ms_buf *why);

/*
 * What an import did that mc_config_diff does not show, appended to out:
 * for channels, one note for each option-file option (options.*) kept
 * although its channel's block is gone from the text.  Returns the number
 * of lines.
 */
size_t mc_legacy_report(const struct mc_config *before, const struct mc_config *after,
			enum mc_legacy_kind kind, struct ms_buf *out);

#endif
