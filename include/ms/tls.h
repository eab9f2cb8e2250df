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

#endif
