/*
 * xmlio: config.xml and xpass.xml to and from struct mc_config.
 *
 * config.xml (the seed's format): <xconfig seq=...> with <role name=...>
 * and <instance name=... roleref=...>; groups nest as elements, named
 * groups carry name="...", options are elements whose value is the
 * attribute v (flags have none; rules have pattern and template).
 * xpass.xml holds the password options only:
 *   <xpass seq="N"><option name="role.base.ugldapbindcred" v="BASE64"/></xpass>
 * Parsing never fetches anything from the network and never expands
 * external entities.  Errors name FILE:LINE:COLUMN.
 */
#ifndef MC_XMLIO_H
#define MC_XMLIO_H

#include <stddef.h>

struct ms_buf;
struct mc_config;

/* Parse config.xml; 0 and a new config in cfg_r, or -1 with why. */
int mc_xml_parse_config(const char *data, size_t len, const char *filename,
			struct mc_config **cfg_r, struct ms_buf *why);
/*
 * Parse xpass.xml into cfg (adds the password entries).  seq_r receives
 * the sequence number the file was written with (0 when absent).
 */
int mc_xml_parse_xpass(const char *data, size_t len, const char *filename,
		       struct mc_config *cfg, unsigned long *seq_r, struct ms_buf *why);
/*
 * Serialise cfg as config.xml (no passwords), validating it against the
 * schema first.  0, or -1 with why listing the validation errors.
 */
int mc_xml_build_config(const struct mc_config *cfg, struct ms_buf *out, struct ms_buf *why);
/* Serialise the password entries of cfg as xpass.xml. */
void mc_xml_build_xpass(const struct mc_config *cfg, struct ms_buf *out);
/* Validate config.xml bytes against the schema (file:line in why). */
int mc_xml_validate(const char *data, size_t len, const char *filename, struct ms_buf *why);

#endif
