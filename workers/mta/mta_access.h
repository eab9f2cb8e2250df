/*
 * mta_access: the access-control mapping tables (PORT_ACCESS, SEND_ACCESS,
 * ORIG_SEND_ACCESS, MAIL_ACCESS, ORIG_MAIL_ACCESS, FROM_ACCESS): how their
 * probe strings are built and how a result is read.
 *
 * Probe strings are fields joined by '|' (docs/mta.md, "Access tables"):
 *
 *   PORT_ACCESS       TCP|server-ip|server-port|client-ip|client-port
 *   SEND_ACCESS,      src-channel|from-address|dst-channel|to-address
 *   ORIG_SEND_ACCESS
 *   MAIL_ACCESS,      TCP|server-ip|server-port|client-ip|client-port|
 *   ORIG_MAIL_ACCESS  app-info|MAIL|src-channel|from-address|dst-channel|to-address
 *   FROM_ACCESS       TCP|server-ip|server-port|client-ip|client-port|
 *                     app-info|MAIL|src-channel|from-address|auth-sender
 *
 * The ORIG_ tables see the recipient as given (before aliases and
 * forwarding), the others the recipient after expansion.  app-info is
 * "SMTP" (the caller may pass more: "SMTP/EXTERNAL").  Extra fields
 * (INCLUDE_SPARES, MT-PRIORITY and size) are appended by the caller.
 *
 * Reading a result: $Y allows, $N or $F rejects, $B discards (bitbucket),
 * $H holds.  Flags that take an argument read their arguments from the
 * output string, split at '|', in this fixed order:
 *
 *   $J address   replace the envelope From
 *   $K address   replace the Sender
 *   $I user|id   check the user for a group id (two fields)
 *   $< text      send text to syslog
 *   $> text      send text to syslog
 *   $D delay     delay the reply (hundredths of a second)
 *   $T tag       prefix with a tag
 *   $A header    add a header line
 *   $S x,y,z     size limits
 *   $X code      enhanced status code of the rejection ("4.5.1")
 *   $N/$F text   rejection text
 *
 * so "$X4.5.1|$NHost$ blocked" gives X = "4.5.1" and N = "Host blocked",
 * and "$N421$ Connection$ declined" gives N = "421 Connection declined".
 * The last argument takes the rest of the string, '|' included.
 */
#ifndef MTA_ACCESS_H
#define MTA_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

struct ms_buf;
struct mta_mapping_result;

/* The transport part shared by PORT_ACCESS, MAIL_ACCESS and FROM_ACCESS. */
struct mta_access_conn {
	const char *server_ip;
	const char *server_port;
	const char *client_ip;
	const char *client_port;
};

/* Each function replaces out's contents with the probe.  NULL fields are empty. */
void mta_access_probe_port(const struct mta_access_conn *c, struct ms_buf *out);
void mta_access_probe_send(const char *src_channel, const char *from, const char *dst_channel,
                           const char *to, struct ms_buf *out);
void mta_access_probe_mail(const struct mta_access_conn *c, const char *app_info,
                           const char *src_channel, const char *from, const char *dst_channel,
                           const char *to, struct ms_buf *out);
void mta_access_probe_from(const struct mta_access_conn *c, const char *app_info,
                           const char *src_channel, const char *from, const char *auth_sender,
                           struct ms_buf *out);

enum mta_access_decision {
	MTA_ACCESS_NOMATCH = 0, /* no entry applied: the default (allow) applies */
	MTA_ACCESS_ALLOW,
	MTA_ACCESS_REJECT,
};

/* The argument flags, in reading order (see above). */
#define MTA_ACCESS_ARG_FLAGS "JKI<>DTASXN"
#define MTA_ACCESS_NARGS     11

struct mta_access_verdict {
	enum mta_access_decision decision;
	bool discard;                 /* $B */
	bool hold;                    /* $H */
	uint64_t flags;               /* all output flags */
	char *args[MTA_ACCESS_NARGS]; /* by position in MTA_ACCESS_ARG_FLAGS; NULL when unset */
	char *string;                 /* the whole output string */
};

/*
 * Read a mapping result as an access verdict (release with
 * mta_access_verdict_deinit).  $N and $F are one argument (N).
 */
void mta_access_verdict_read(const struct mta_mapping_result *r, struct mta_access_verdict *v);
void mta_access_verdict_deinit(struct mta_access_verdict *v);

/* The argument of flag c ('X', 'N', 'F', ...) or NULL. */
const char *mta_access_arg(const struct mta_access_verdict *v, char c);

#endif
