/*
 * tls: OpenSSL contexts for the servers and clients of the project.
 *
 * A struct ms_tls_ctx wraps one SSL_CTX.  Servers build theirs from the
 * compiled configuration (base.sslcertfile and base.sslkeyfile, PEM) with
 * ms_tls_server_from_conf(); connections take it to ms_conn_start_tls()
 * (<ms/io.h>).  The context is reference counted by OpenSSL, so a refresh
 * may build a new one and free the old while connections made with the old
 * one go on.  Only TLS 1.2 and later are offered.
 */
#ifndef MS_TLS_H
#define MS_TLS_H

#include <stdbool.h>

struct ms_buf;
struct ms_conf;
struct ms_tls_ctx;

/*
 * A server context from a PEM certificate chain file and a PEM private key
 * file.  Returns it, or NULL with why naming the file and the OpenSSL
 * reason (missing file, key does not match the certificate, ...).
 */
struct ms_tls_ctx *ms_tls_server_new(const char *certfile, const char *keyfile,
				     struct ms_buf *why);
/* The same from the options base.sslcertfile and base.sslkeyfile. */
struct ms_tls_ctx *ms_tls_server_from_conf(const struct ms_conf *conf, struct ms_buf *why);
/*
 * A client context.  verify: check the peer's certificate against cafile
 * (PEM; NULL for the system's store) and the name given to
 * ms_conn_start_tls.  Returns it, or NULL with why.
 */
struct ms_tls_ctx *ms_tls_client_new(bool verify, const char *cafile, struct ms_buf *why);
void ms_tls_ctx_free(struct ms_tls_ctx **ctx);

/* The SSL_CTX (a void * so that this header does not pull in OpenSSL). */
void *ms_tls_ctx_ssl_ctx(struct ms_tls_ctx *ctx);

/* Append OpenSSL's queued error reasons to why ("; "-separated) and clear them. */
void ms_tls_errors(struct ms_buf *why);

/* ---- client certificates (the MMP's certificate login) ---- */

/*
 * Make a server context ask every client for a certificate, optionally:
 * a client without one, or with one that fails verification against the
 * CA certificates of cafile (PEM), still completes the handshake; the
 * result is read with ms_tls_peer_verified().  The names of cafile's
 * certificates are sent as the acceptable issuers.  0, or -1 with why.
 */
int ms_tls_server_verify_clients(struct ms_tls_ctx *ctx, const char *cafile, struct ms_buf *why);

/* The peer's certificate, as far as certificate logins need it. */
struct ms_tls_peer {
	char *subject; /* RFC 4514 text, for logs: "CN=alice,OU=People,O=example.com" */
	char *issuer;  /* the same for the issuer */
	size_t n;      /* subject components, most specific first (as in the text) */
	char **attrs;  /* their short names in lower case: "cn", "ou", "uid"; the
	                * e-mail address attribute is "e", as in the seed's certmap */
	char **values; /* their values in UTF-8 */
};

/*
 * ssl: the SSL object of a connection (ms_conn_tls_ssl()).  true when the
 * peer presented a certificate and it verified; otherwise false and, when
 * why is not NULL, the reason ("no client certificate", OpenSSL's text
 * of the verification error).
 */
bool ms_tls_peer_verified(void *ssl, struct ms_buf *why);
/* Fill peer from the verified certificate of ssl: 0, or -1 with why (no
 * verified certificate, a value that is not text).  Release with
 * ms_tls_peer_deinit (also after -1). */
int ms_tls_peer_get(void *ssl, struct ms_tls_peer *peer, struct ms_buf *why);
void ms_tls_peer_deinit(struct ms_tls_peer *peer);

#endif
