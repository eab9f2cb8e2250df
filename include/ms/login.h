/*
 * login: what the servers of the login protocols (imapd, popd, the MMP)
 * share between a client's connect and its login: the greeting banner's
 * expansion, base64 (RFC 4648 section 4), and the SASL PLAIN message
 * (RFC 4616) in both directions.  Pure functions over struct ms_buf: no
 * I/O, no configuration, no logging.
 */
#ifndef MS_LOGIN_H
#define MS_LOGIN_H

#include <stddef.h>

struct ms_buf;

/*
 * Append banner to out with %h (the host name), %p (title, such as
 * "POP3"), %P (the product) and %V (the version) expanded, %% a percent
 * sign; CR and LF are dropped, so a banner can never end a reply early.
 */
void ms_login_banner(const char *banner, const char *title, struct ms_buf *out);

/* Append the base64 encoding of data[0..len) to out (with padding). */
void ms_base64_encode(const void *data, size_t len, struct ms_buf *out);
/*
 * Append the decoding of the NUL-terminated base64 text in to out.
 * Returns 0, or -1 when in is not canonical padded base64 (length not a
 * multiple of 4, a character outside the alphabet, misplaced '=');
 * out may then hold part of the decoding.
 */
int ms_base64_decode(const char *in, struct ms_buf *out);

/* The outcome of decoding a SASL PLAIN response. */
enum ms_login_plain {
	MS_LOGIN_PLAIN_OK = 0,
	MS_LOGIN_PLAIN_CANCELLED, /* "*": the client gave up (RFC 4422 section 3.5) */
	MS_LOGIN_PLAIN_BASE64,    /* not base64 */
	MS_LOGIN_PLAIN_MALFORMED, /* not authzid NUL authcid NUL password */
};

/*
 * Decode a SASL PLAIN response as sent (base64, "=" for an empty one, or
 * "*") into dec, which the caller initialised and later wipes and frees.
 * On MS_LOGIN_PLAIN_OK the three pointers point into dec: *authz_r is
 * NULL when the authorization identity is empty or equals the
 * authentication identity (no proxy authorization asked), else that
 * identity; *authc_r and *pass_r are never NULL.
 */
enum ms_login_plain ms_login_plain_decode(const char *line, struct ms_buf *dec,
                                          const char **authz_r, const char **authc_r,
                                          const char **pass_r);
/*
 * Append the base64 PLAIN message for authz (NULL or "" for none), authc
 * and password to out.  The caller wipes out after sending it.
 */
void ms_login_plain_encode(const char *authz, const char *authc, const char *password,
                           struct ms_buf *out);

#endif
