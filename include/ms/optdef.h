/*
 * optdef: the shape of one option of the catalogue.
 *
 * The catalogue itself lives only in schema/config.xsd.  At build time an
 * XSLT stylesheet turns it into the generated header <ms/options.h>
 * (enum ms_opt, one value per option) and the table ms_optdefs[] (in the
 * generated options_table.c), indexed by enum ms_opt.  No option name is
 * written anywhere else in C.
 *
 * Option names are templates: a named group appears as "group:*", so
 * "channel:*.maxjobs" covers channel:tcp_local.maxjobs and every other
 * channel.  Segments are separated by '.'; a template never holds a literal
 * dot inside a segment.
 */
#ifndef MS_OPTDEF_H
#define MS_OPTDEF_H

#include <stddef.h>

enum ms_opt_type {
	MS_OPT_TYPE_STRING = 0, /* any UTF-8 text */
	MS_OPT_TYPE_INTEGER,    /* signed decimal, within [min, max] */
	MS_OPT_TYPE_BOOLEAN,    /* 0 or 1 */
	MS_OPT_TYPE_ENUM,       /* one of enumvals */
	MS_OPT_TYPE_FLAG,       /* present or absent; no value */
	MS_OPT_TYPE_PORT,       /* TCP port list "143" or "143 1143", each 0..65535 */
	MS_OPT_TYPE_PATH,       /* file system path (may use IMTA_ROOT: etc.) */
	MS_OPT_TYPE_RULE,       /* "PATTERN TEMPLATE" pair (mappings, rewrites) */
	MS_OPT_TYPE_PASSWORD,   /* stored only in xpass.xml, never shown */
	MS_OPT_TYPE_CRONTAB,    /* "m h dom mon dow command [args]" */
	MS_OPT_TYPE_COUNT
};

/* Flags of an option (bit set). */
enum ms_opt_flag {
	MS_OPTF_INSTANCE = 1u << 0,   /* placed under instance (else role) */
	MS_OPTF_RESTART = 1u << 1,    /* a change needs a restart (else refresh) */
	MS_OPTF_RESTRICTED = 1u << 2, /* needs explicit confirmation to set */
	MS_OPTF_OBSOLETE = 1u << 3,   /* can only be deleted */
	MS_OPTF_MULTI = 1u << 4,      /* multi-valued (repeated elements) */
	MS_OPTF_LISTEN = 1u << 5,     /* a listening port: init-config --port-offset shifts it */
};

struct ms_optdef {
	const char *name;        /* template, e.g. "channel:*.maxjobs" */
	enum ms_opt_type type;
	long long min, max;      /* INTEGER/PORT range (inclusive) */
	const char *enumvals;    /* ENUM: space-separated values, else NULL */
	const char *defval;      /* schema default, NULL when none */
	const char *defaultfrom; /* take the default from this option, or NULL */
	unsigned flags;          /* enum ms_opt_flag */
	const char *readers;     /* space-separated services that read it ("imap pop") */
	const char *exclusive;   /* exclusive-group name, or NULL */
	const char *legacy;      /* legacy configutil name, or NULL */
	const char *since;       /* release that introduced it, or NULL */
	const char *help;        /* one paragraph of help text */
};

/* A group alias from the schema: "imaproxy" is read as "imapproxy". */
struct ms_optalias {
	const char *alias;
	const char *canonical;
};

extern const struct ms_optdef ms_optdefs[];
extern const size_t ms_optdefs_count;
extern const struct ms_optalias ms_optaliases[];
extern const size_t ms_optaliases_count;

const char *ms_opt_type_name(enum ms_opt_type type);

#endif
