/*
 * mta_expand: what a local recipient becomes: aliases, the directory's
 * delivery options (mta.delivery_options), status and group members.
 *
 * A recipient that the rewrite rules give to the local channel l is looked
 * up (first in the alias table alias:NAME.alias_entry, then in the
 * directory by the caller); this module turns the result into delivery
 * addresses, which the caller rewrites again to find their channels
 * (user+folder@ims-ms-daemon goes to ims-ms, @hold-daemon:user@domain to
 * hold, a forwarding address to wherever it points).  It does no I/O.
 *
 * mta.delivery_options is a comma-separated list of PREFIXoption=template.
 * Prefixes: '#' the pair applies on relays too (front ends), '*' users
 * only (not groups), '&' groups only, '^' only while the vacation dates
 * say so, '!' the autoreply script is wanted, '@' preferred language from
 * the headers (accepted, no effect), '/' the pair is the status hold pair.
 * Templates: "**" the forwarding addresses, "*" the group's members, or
 * text with $M (uid), $D (domain of the recipient), $A (the recipient),
 * $X (mailHost), $2S (the subaddress, i.e. the folder after '+'; a '+'
 * right before it goes away when there is none), $\$2I (the user's domain
 * when it is a hosted one; the '%' right before it goes away for the
 * default domain), $_ (nothing), $$ ('$').  $P and $F (program and file
 * delivery) are not supported: such an option yields no address and a
 * warning.
 */
#ifndef MTA_EXPAND_H
#define MTA_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct ms_conf;
struct ms_directory_user;

enum {
	MTA_DOPT_RELAY = 1 << 0,    /* # */
	MTA_DOPT_USERS = 1 << 1,    /* * */
	MTA_DOPT_GROUPS = 1 << 2,   /* & */
	MTA_DOPT_VACATION = 1 << 3, /* ^ */
	MTA_DOPT_SIEVE = 1 << 4,    /* ! */
	MTA_DOPT_LANG = 1 << 5,     /* @ */
	MTA_DOPT_HOLD = 1 << 6,     /* / */
};

struct mta_dopt {
	char *name; /* lower case */
	unsigned flags;
	char *tmpl;
};

struct mta_dopts {
	struct mta_dopt *v;
	size_t n;
};

/* Parse mta.delivery_options.  0, or -1 with why (nothing is kept). */
int mta_dopts_parse(const char *text, struct mta_dopts *d, struct ms_buf *why);
void mta_dopts_free(struct mta_dopts *d);
const struct mta_dopt *mta_dopts_find(const struct mta_dopts *d, const char *name);

enum mta_expand_status {
	MTA_EXPAND_OK = 0,
	MTA_EXPAND_TEMP, /* try later: status inactive, overquota */
	MTA_EXPAND_PERM, /* refuse: removed, nothing to deliver to */
};

struct mta_expand_in {
	const struct ms_directory_user *user;
	const char *local;          /* local part as addressed, without +subaddress */
	const char *subaddress;     /* folder after '+', or NULL */
	const char *domain;         /* domain as addressed */
	const char *default_domain; /* the installation's default domain */
	bool relay;                 /* a front end: only '#' pairs apply */
	long long now;              /* seconds since 1970, for the vacation dates */
};

struct mta_expand_out {
	enum mta_expand_status status;
	const char *dsn;    /* "5.1.1", "4.2.1", ... when status is not OK */
	char **addrs;       /* delivery addresses, to rewrite again */
	size_t naddrs;
	char **member_dns;  /* groups: member DNs the caller looks up and expands */
	size_t nmember_dns;
	bool autoreply;     /* an autoreply (vacation) option applied */
	struct ms_buf *why; /* reason or warnings, one per line */
};

void mta_expand_out_init(struct mta_expand_out *o);
void mta_expand_out_deinit(struct mta_expand_out *o);

/* Expand a directory entry.  Returns o->status. */
enum mta_expand_status mta_expand_user(const struct mta_dopts *d, const struct mta_expand_in *in,
                                       struct mta_expand_out *o);

/* A generalized time "YYYYMMDDHHMM[SS]Z" (vacationStartDate) as seconds, or -1. */
long long mta_expand_gentime(const char *s);

/*
 * The alias table: the values of alias:NAME.alias_entry for local part
 * name (without case), into o->addrs.  1 when name is an alias, 0 when not.
 */
int mta_expand_alias(const struct ms_conf *conf, const char *name, struct mta_expand_out *o);

#endif
