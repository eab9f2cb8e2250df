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
 * postmaster, directory, partition path) are set by init_config.c itself.
 */
#ifndef MC_INSTANCE_DEFAULTS_H
#define MC_INSTANCE_DEFAULTS_H

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

#endif
