/*
 * instance_defaults: what init-config writes into a new instance, as data.
 *
 * The schema (schema/config.xsd) holds every default that does not depend
 * on the instance.  This table holds the rest: the options the seed's new
 * instance shows explicitly (`msconfig show *enable`, the MMP listeners,
 * 002:1427-1442 and 1987-2001), the named-group instances whose values
 * depend on the group name (docs/seed-decisions.md, "Per-name defaults"),
 * and the client-side ports that point back at this instance and so must
 * move with `--port-offset`.  Options are named only by enum ms_opt and
 * group names, never by string (STYLE 3).
 *
 * Values that depend on the administrator's answers (host name, domain,
 * postmaster, directory, partition path) are set by init_config.c itself;
 * the checks and derived defaults of those answers are at the end of this
 * header.  The module never prints; functions that fail fill why.
 */
#ifndef MC_INSTANCE_DEFAULTS_H
#define MC_INSTANCE_DEFAULTS_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/options.h>

/* One option of a new instance: opt with its named groups filled by names. */
struct mc_instance_default {
	enum ms_opt opt;
	const char *names[2]; /* group names for the template's '*', in order */
	const char *value;
};

extern const struct mc_instance_default mc_instance_defaults[];
extern const size_t mc_instance_defaults_count;

/*
 * A client-side port that points back at this instance (not MS_OPTF_LISTEN,
 * because the instance does not listen on it).  Under --port-offset it is
 * written with the first port of the listening option it follows, after
 * that option was shifted.  A template option (a '*' in its name) instead
 * has each of its configured instances shifted by the offset; follows is
 * then unused (its opt is MS_OPT_COUNT).
 */
struct mc_client_port {
	enum ms_opt opt;
	enum ms_opt follows;
	const char *follows_names[2];
};

extern const struct mc_client_port mc_client_ports[];
extern const size_t mc_client_ports_count;

struct ms_buf;
struct mc_config;
struct mc_entry;

/*
 * Set opt (named groups from names, NULL when it has none) to value in cfg
 * through mc_config_set, so the value is checked against the schema.
 * 0, or -1 with why.
 */
int mc_instance_set(struct mc_config *cfg, enum ms_opt opt, const char *const *names,
                    const char *value, struct ms_buf *why);

/* Add every option of mc_instance_defaults to cfg.  0, or -1 with why. */
int mc_instance_defaults_apply(struct mc_config *cfg, struct ms_buf *why);

/*
 * Add the MTA of a new instance: the default channels, rewrite rules and
 * mapping tables (docs/mta.md), naming this host and default domain.
 * 0, or -1 with why.
 */
int mc_instance_mta_defaults_apply(struct mc_config *cfg, const char *hostname,
                                   const char *domain, struct ms_buf *why);

/*
 * Check that adding offset to every listening port of cfg (and to the
 * client ports above) keeps each one <= 65535.  0, or -1 with why naming
 * the port that would overflow and the largest usable offset.
 */
int mc_instance_offset_check(const struct mc_config *cfg, long offset, struct ms_buf *why);

/*
 * Shift the ports by offset and write each one explicitly: every option
 * of cfg with MS_OPTF_LISTEN, every listening option with a schema default
 * that cfg leaves unset, and the client ports (which take the shifted port
 * they follow).  A port 0 ("not listening") stays 0.  An offset of 0
 * writes the ports unchanged, which pins them explicitly.  Call
 * mc_instance_offset_check first.  0, or -1 with why.
 */
int mc_instance_offset_apply(struct mc_config *cfg, long offset, struct ms_buf *why);

/* True for the entries mc_instance_offset_apply writes (ports). */
bool mc_instance_is_port(const struct mc_entry *e);

/* ---- the administrator's answers ---- */

/* Letters, digits, '-', '_' and dots; labels of 1-63, 253 in all. */
bool mc_instance_valid_hostname(const char *s);
/* local@domain, no blanks or angle brackets in the local part. */
bool mc_instance_valid_address(const char *s);
/* "" (anonymous bind) or text holding attr=value. */
bool mc_instance_valid_dn(const char *s);

/* A directory given as LDAP URLs, in the schema's terms. */
struct mc_instance_ldap {
	char *hosts;  /* base.ugldaphost: "host:port host2:port2" */
	char *port;   /* base.ugldapport: port of the first server */
	bool ssl;     /* base.ugldapusessl: ldaps:// */
	char *url_dn; /* base DN from the first URL's path (%XX decoded), or NULL */
};

/*
 * Parse blank-separated "ldap://HOST[:PORT][/DN]" or ldaps:// URLs (one
 * scheme for all: usessl is a single switch; ports default to 389 and 636;
 * [v6] hosts are kept with brackets).  0 and l filled (release with
 * mc_instance_ldap_free), or -1 with why and l empty.
 */
int mc_instance_ldap_parse(const char *text, struct mc_instance_ldap *l, struct ms_buf *why);
void mc_instance_ldap_free(struct mc_instance_ldap *l);

/* "example.com" -> "dc=example,dc=com"; caller frees. */
char *mc_instance_dn_from_domain(const char *domain);
/*
 * This host's name, lower case: gethostname(), or its canonical name from
 * getaddrinfo() when that is fully qualified and the plain name is not.
 * May block on DNS.  Caller frees.
 */
char *mc_instance_default_hostname(void);
/* The part of host after its first dot, or NULL; caller frees. */
char *mc_instance_domain_of(const char *host);

#endif
