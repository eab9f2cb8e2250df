/*
 * mta_mapping: the MTA's mapping tables (PORT_ACCESS, ORIG_SEND_ACCESS,
 * INTERNAL_IP, FORWARD, site tables ...).
 *
 * A mapping set holds named tables; each table is an ordered list of
 * entries "PATTERN TEMPLATE".  Applying a table to a probe string scans the
 * entries in order; the first entry whose pattern matches (mta_pattern.h)
 * and whose template succeeds produces an output string and output flags.
 * The template decides what happens next:
 *
 *   (nothing), $E   end: the output is the result
 *   $C              continue with the next entry, the output as new input
 *   $L              like $C, and one more pass from the first entry at the end
 *   $R              restart at the first entry with the output as new input
 *
 * (the last of these in a template wins).  Other template sequences:
 *
 *   $0..$9          a saved wildcard of the pattern
 *   $$ "$ " $|..    literal '$', blank ...: "$c" is c for any other character
 *                   that is not listed here
 *   $\ $^ $_        lower case, upper case, original case for what follows
 *                   ($_ also ends $=)
 *   $=              LDAP filter quoting (RFC 4515) of substituted text after it
 *   $|TABLE;ARG|    apply another table to ARG (expanded); the entry fails
 *                   unless that table sets $Y, $y, $T or $t; its output is
 *                   substituted
 *   $[IMAGE,ROUTINE,ARG]   site routine (hooks->routine); fails the entry on
 *                   failure, else its result is substituted
 *   $]URL[          LDAP URL lookup (hooks->ldap); fails the entry when empty
 *   ${KEY}          general database lookup (hooks->general)
 *   $}DOMAIN,ATTR{  domain attribute lookup (hooks->domain_attr)
 *   $:x / $;x       the entry applies only if input flag x is set / clear
 *   $?N?            the entry applies N percent of the time (hooks->random)
 *   $x (any other letter, '<' or '>')   sets output flag x: $Y $N $F $X $T
 *                   $D $H $B $A $J $K $I $S $G $U ... (meaning is the
 *                   caller's: see mta_access.h for the access tables)
 *
 * Flags are bits of a uint64_t: 'A'..'Z' bits 0-25, 'a'..'z' 26-51, '<'
 * 52, '>' 53 (mta_mapping_flag).  Output flags of the entries that led to
 * the result accumulate (an entry with $C passes its flags on).
 *
 * Limits: a probe or output string is at most MTA_MAPPING_MAXSTR octets;
 * one application evaluates at most MTA_MAPPING_MAXSTEPS entries
 * (so $R loops end), looks at MTA_MAPPING_MAXWORK octets and takes
 * MTA_MAPPING_BUDGET matching steps in all (so growing $R loops and
 * costly patterns end too), and nests table calls MTA_MAPPING_MAXDEPTH
 * deep; past a limit the application fails with why.  Everything is compiled when a
 * table is added, so a syntax error is reported at load, with the table
 * name and entry number.
 */
#ifndef MTA_MAPPING_H
#define MTA_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct ms_conf;
struct mta_mapping_set;

#define MTA_MAPPING_MAXSTR   65536
#define MTA_MAPPING_MAXSTEPS 10000
#define MTA_MAPPING_MAXDEPTH 16
/* Octets of input the entries of one application may look at in all. */
#define MTA_MAPPING_MAXWORK (4L << 20)
/* Pattern-matching steps of one application in all (mta_pattern.h). */
#define MTA_MAPPING_BUDGET 1000000L

/* The bit of flag character c ('A'-'Z', 'a'-'z', '<', '>'), or 0 for others. */
uint64_t mta_mapping_flag(char c);
/* Bits of every character of letters ("YN" -> $Y|$N). */
uint64_t mta_mapping_flags(const char *letters);

/*
 * What the engine asks its caller for.  Every hook may be NULL (then the
 * sequence fails the entry, except random, which then uses random(3)).
 * A lookup returns 1 with the text in out, 0 when there is nothing (the
 * entry fails), -1 on an error (the application fails with why).
 */
struct mta_mapping_hooks {
	void *ctx;
	int (*routine)(void *ctx, const char *image, const char *routine, const char *arg,
	               struct ms_buf *out, struct ms_buf *why);
	int (*ldap)(void *ctx, const char *url, struct ms_buf *out, struct ms_buf *why);
	int (*general)(void *ctx, const char *key, struct ms_buf *out, struct ms_buf *why);
	int (*domain_attr)(void *ctx, const char *domain, const char *attr, struct ms_buf *out,
	                   struct ms_buf *why);
	/* 0..99 */
	unsigned (*random)(void *ctx);
};

struct mta_mapping_result {
	bool matched;        /* some entry produced the result */
	struct ms_buf out;   /* the output string (the probe when !matched) */
	uint64_t flags;      /* output flags */
	unsigned long steps; /* entries evaluated (for test output) */
};

void mta_mapping_result_init(struct mta_mapping_result *r);
void mta_mapping_result_deinit(struct mta_mapping_result *r);

struct mta_mapping_set *mta_mapping_set_new(void);
void mta_mapping_set_free(struct mta_mapping_set **set);

/*
 * Append one entry to table name (created on first use; names compare
 * without case).  pattern and template are in the product's text form.
 * 0, or -1 with why ("mapping NAME entry N: ...").
 */
int mta_mapping_set_add(struct mta_mapping_set *set, const char *name, const char *pattern,
                        const char *tmpl, struct ms_buf *why);

/*
 * Add an entry given as one compiled-configuration value "PATTERN TEMPLATE":
 * the pattern ends at the first blank not escaped as "$ ".
 */
int mta_mapping_set_add_rule(struct mta_mapping_set *set, const char *name, const char *rule,
                             struct ms_buf *why);

/*
 * Load every mapping:NAME.rule of the compiled configuration into a new
 * set.  0, or -1 with why (and *set_r NULL).
 */
int mta_mapping_set_load(const struct ms_conf *conf, struct mta_mapping_set **set_r,
                         struct ms_buf *why);

/*
 * Parse the legacy mappings text (the `msconfig edit mappings` form: a
 * table name in column 1, its entries indented below it, '!' comments in
 * column 1, blank lines free, a trailing '\' joins the next line with its
 * leading blanks removed) into set.  0, or -1 with why "line N: ...".
 */
int mta_mapping_set_parse_text(struct mta_mapping_set *set, const char *text, size_t len,
                               struct ms_buf *why);

bool mta_mapping_set_has(const struct mta_mapping_set *set, const char *name);
size_t mta_mapping_set_count(const struct mta_mapping_set *set);
/* The name of table i (0 <= i < count), in the order tables were added. */
const char *mta_mapping_set_name(const struct mta_mapping_set *set, size_t i);

/*
 * Apply table name to probe with input flags in_flags.  Returns 0 with *r
 * filled (r->matched false when no entry applied or the table does not
 * exist; r->out then holds the probe), or -1 with why on a limit or hook
 * error.  r must have been initialised with mta_mapping_result_init.
 */
int mta_mapping_apply(const struct mta_mapping_set *set, const char *name, const char *probe,
                      uint64_t in_flags, const struct mta_mapping_hooks *hooks,
                      struct mta_mapping_result *r, struct ms_buf *why);

/*
 * Append the flags as the seed's `imsimta test -mapping` prints them: the
 * character codes of the set flags in increasing order, "[89]" for $Y.
 */
void mta_mapping_flags_format(uint64_t flags, struct ms_buf *out);

#endif
