/*
 * optname: the option-name grammar.
 *
 *   [role.|instance.]group[:NAME][.sub-group[:NAME]...].option
 *
 * Named-group names may hold dots, spaces and parentheses
 * ("vdomain:192.0.2.0.defaultdomain", "sectoken:Internal (Software)
 * Token.tokenpass"); "\." is a literal dot anywhere in a name.  Without
 * escapes the parser lets the schema decide: a name runs to the first dot
 * after which the rest of the text parses as a sub-group or option of that
 * group.  Group aliases from the schema (imaproxy, smtpproxy) are accepted,
 * "OPTION;lang-XX" is read as message_language:XX.OPTION, and a bare option
 * name ("mm_debug") resolves to the one option with that leaf name (base.
 * wins a tie).  The parser only reads the generated table ms_optdefs.
 */
#ifndef MS_OPTNAME_H
#define MS_OPTNAME_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/options.h>

struct ms_buf;

enum ms_scope {
	MS_SCOPE_NONE = 0, /* not given: the schema's placement decides */
	MS_SCOPE_ROLE,
	MS_SCOPE_INSTANCE,
};

#define MS_OPTNAME_MAXNAMES 4

struct ms_optname {
	enum ms_scope scope;
	enum ms_opt id;
	const struct ms_optdef *def;
	size_t nnames;
	char *names[MS_OPTNAME_MAXNAMES]; /* unescaped, owned */
};

/*
 * Parse text into r.  Returns 0, or -1 with why holding a message that
 * names the closest real option when there is one.  r must be released
 * with ms_optname_deinit after success (it is untouched on failure).
 */
int ms_optname_parse(const char *text, struct ms_optname *r, struct ms_buf *why);
void ms_optname_deinit(struct ms_optname *n);
/* Copy src into dst (deep). */
void ms_optname_copy(struct ms_optname *dst, const struct ms_optname *src);

/* Canonical compiled key: names escaped ("vdomain:192\.0\.2\.0.defaultdomain"). */
void ms_optname_key(const struct ms_optname *n, struct ms_buf *out);
/*
 * Display form, appended to out: "role."/"instance." prefix when
 * with_scope and a scope is set, names unescaped unless the unescaped text
 * would read back differently.
 */
void ms_optname_display(const struct ms_optname *n, bool with_scope, struct ms_buf *out);
/* Parse a canonical key (no scope, no aliases); 0 or -1. */
int ms_optname_from_key(const char *key, struct ms_optname *r);

/* Levenshtein distance between a and b, ignoring ASCII case. */
size_t ms_edit_distance(const char *a, const char *b);

/* The closest template to text (edit distance), or NULL. */
const char *ms_optname_suggest(const char *text);

#endif
