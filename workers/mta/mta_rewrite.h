/*
 * mta_rewrite: the MTA's rewrite rules (rewrite.rule): which channel an
 * address goes to, and how the address is rewritten.
 *
 * A rule is "PATTERN TEMPLATE".  To rewrite an address the engine takes
 * its first host (the first source-route host, else the domain; an
 * address without a domain gets the local channel's official host name)
 * and looks for rules from the most specific pattern to the least
 * (docs/mta.md, "Rewrite rules"); for user@a.b.c:
 *
 *   $*                      rules that apply to every address, first
 *   a.b.c                   the host itself; then the directory's hosted
 *                           domains (hooks->domain); then a channel whose
 *                           official host name is a.b.c (implicit rule)
 *   *.b.c  .b.c             one label replaced by '*', then dropped
 *   *.*.c  .c               (and the hosted-domain hook for .b.c, .c)
 *   *.*.*                   every label replaced
 *   .                       the catch-all
 *
 * and for a domain literal [1.2.3.4]: [1.2.3.4] [1.2.3.] [1.2.] [1.] [].
 * Rules with the same pattern are tried in configuration order; a rule
 * whose template fails (a control sequence, a mapping callout) passes the
 * turn to the next one.  The template's forms:
 *
 *   A%B@C     user A, host B, routed to the channel whose official host
 *             name is C (the "channel tag")
 *   A@C       the same as A%C@C
 *   A%B       rewrite A@B again from the start (at most 10 times)
 *   A@B@C@D   user A, host B, source route @C:, routed to D (A@B@C = A@B@C@C;
 *             A%B@C@D is the same)
 *   $?TEXT    refuse the address with TEXT
 *
 * Substitutions: $U $0U (without +subaddress) $1U (the +subaddress), $D
 * $nD, $H $nH, $L, $&n $!n $*n $#n, $$ $% $@, $\ $^ $_, $W, ${TABLE,ARG}
 * (a mapping table: the rule fails unless it sets $Y), $(KEY) (general
 * database: a template), $]URL[, $[IMAGE,ROUTINE,ARG].  Controls: $E $B
 * (envelope / header only), $F $R (forward / backward only), $A $S (host
 * after '@' / in a source route; $P $X never apply), $Mch $Nch (source
 * channel is / is not ch), $Qch $Cch (destination channel is / is not ch,
 * ignored while the destination is being chosen and on norules channels),
 * $+n<P ... $-n>=B (MT-PRIORITY and size tests: < <= > >= = <> against P,
 * the current priority, or B, the expected size in blocks), $?TEXT.
 * $T (tags) and $%/$! rules (percent hack, bang paths) are not
 * implemented; a rule using $T is refused at load.
 *
 * The engine borrows its channel table and mapping set; it never prints,
 * never blocks except in the hooks it is given.
 */
#ifndef MTA_REWRITE_H
#define MTA_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "mta_mapping.h"

struct ms_buf;
struct ms_conf;
struct mta_channel;
struct mta_channel_table;
struct mta_rewrite;

/* Repeated rewrites (A%B templates) allowed for one address. */
#define MTA_REWRITE_MAXLOOPS 10

struct mta_rewrite_hooks {
	/* the hooks of mapping callouts, $(...), $]...[ and $[...] */
	struct mta_mapping_hooks map;
	/*
	 * The directory's hosted domains: for spec ("example.org" or
	 * ".example.org") return 1 with the rule template to use in out, 0
	 * when the directory does not know it, -1 on error (with why).
	 */
	int (*domain)(void *ctx, const char *spec, struct ms_buf *out, struct ms_buf *why);
};

struct mta_rewrite_ctx {
	bool header;                /* a header address (else envelope) */
	bool backward;              /* From-like (else To-like) */
	const char *source_channel; /* $M/$N; NULL means the local channel l */
	const char *dest_channel;   /* $C/$Q; NULL while choosing it */
	int mtpriority;             /* -9..9, default 0 */
	long size_blocks;           /* expected size in blocks; < 0 unknown (0) */
	const struct mta_rewrite_hooks *hooks;
	struct ms_buf *trace; /* not NULL: one line per probe and rule tried */
};

enum mta_rewrite_status {
	MTA_REWRITE_OK = 0,
	MTA_REWRITE_SYNTAX,  /* the address does not parse */
	MTA_REWRITE_NOROUTE, /* no rule applies: "illegal host/domain" */
	MTA_REWRITE_REFUSED, /* a $? rule refused it */
	MTA_REWRITE_ERROR,   /* limits, hooks, configuration: try again later */
};

struct mta_rewrite_result {
	enum mta_rewrite_status status;
	char *address;                     /* the rewritten address */
	const struct mta_channel *channel; /* where it goes */
	char *route_host;                  /* the routing system (channel tag) */
	char *host;                        /* host part of the rewritten address */
	char *rule;                        /* "PATTERN TEMPLATE" of the rule that routed it */
};

void mta_rewrite_result_deinit(struct mta_rewrite_result *r);

/* An empty rule list over channels and maps (maps may be NULL). */
struct mta_rewrite *mta_rewrite_new(const struct mta_channel_table *channels,
                                    const struct mta_mapping_set *maps);
void mta_rewrite_free(struct mta_rewrite **rw);

/* Append one rule; 0, or -1 with why ("rewrite rule N (P T): ..."). */
int mta_rewrite_add(struct mta_rewrite *rw, const char *pattern, const char *tmpl,
                    struct ms_buf *why);
/* Append one "PATTERN TEMPLATE" value (the compiled form). */
int mta_rewrite_add_rule(struct mta_rewrite *rw, const char *rule, struct ms_buf *why);

/* Every rewrite.rule of conf, in order, on top of channels and maps. */
int mta_rewrite_load(const struct ms_conf *conf, const struct mta_channel_table *channels,
                     const struct mta_mapping_set *maps, struct mta_rewrite **rw_r,
                     struct ms_buf *why);

size_t mta_rewrite_count(const struct mta_rewrite *rw);

/*
 * Rewrite address (as text: "user@host", "<user@host>", "@a,@b:u@d",
 * "postmaster").  Returns 0 with *r filled, or -1 with r->status saying
 * why and why holding the message ("Illegal host/domain name found",
 * the $? text, ...).  Release r with mta_rewrite_result_deinit either way.
 */
int mta_rewrite_address(const struct mta_rewrite *rw, const char *address,
                        const struct mta_rewrite_ctx *ctx, struct mta_rewrite_result *r,
                        struct ms_buf *why);

#endif
